#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gcm_drive.py: drives an interactive TLS client (openssl s_client, gnutls-cli) against
tests/tools/gcm_peer in server mode: writes lines on the client's stdin, waits (with a
deadline, no sleeps) until each comes back echoed on its stdout, sends 'K'/'k' lines as
s_client KeyUpdate commands, then closes stdin and waits for a clean exit.
   gcm_drive.py [--ku] -- CLIENT ARGS...        exit 0 when every echo came back."""
import os
import select
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    ku = False
    if args and args[0] == "--ku":
        ku, args = True, args[1:]
    if args and args[0] == "--":
        args = args[1:]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    buf = bytearray()

    def wait_for(needle, secs=15.0, count=1):
        end = time.monotonic() + secs
        while buf.count(needle) < count:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    return buf.count(needle) >= count
                buf.extend(chunk)
        return True

    lines = [b"hello-gcm", b"x" * 1000]
    if ku:
        lines += [b"K"]
    lines += [b"y" * 15000, b"after-key-update-" + b"z" * 60]
    if ku:
        lines += [b"k"]
    lines += [b"last-line"]
    ok = True
    for ln in lines:
        p.stdin.write(ln + b"\n")
        p.stdin.flush()
        if ln in (b"K", b"k"):
            # s_client takes a whole stdin read as the command: wait until it acted
            if not wait_for(b"KEYUPDATE", count=buf.count(b"KEYUPDATE") + 1):
                ok = False
                break
            continue
        # the echo arrives after the client's own copy of nothing: look for two copies
        # only where the client echoes input locally; s_client and gnutls-cli do not
        if not wait_for(ln + b"\n"):
            sys.stderr.write("no echo of a %d-byte line\n" % len(ln))
            ok = False
            break
    p.stdin.close()
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
