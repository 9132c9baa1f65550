#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tcp_peer.py: the Linux-side peer of the TCP interop tests (tests/integration/tcp_*.sh).

It moves dpmaild's test pattern (net/tcp_testsvc.c: a 65521-byte xorshift block repeated)
through the kernel's TCP and checks every byte by SHA-256:
  echo HOST PORT BYTES          send BYTES to the echo service, read them back, compare
  discard HOST PORT BYTES       send BYTES to the discard service, expect a clean close
  source HOST PORT BYTES        read to EOF from the source service, compare with the pattern
  sink PORT CONNS BYTES         accept CONNS connections, read each to EOF, compare each
  hold HOST PORT CONNS SECONDS  open CONNS echo connections, echo a line on each, keep them
                                open SECONDS, close them all, and check each got its EOF
Prints one result line and exits 0 on success, 1 on a mismatch or error. Every socket
operation has a deadline (TIMEOUT env, default 120 s)."""
import hashlib
import os
import selectors
import socket
import sys
import threading
import time

PERIOD = 65521
TIMEOUT = float(os.environ.get("TIMEOUT", "120"))


def block():
    x = 0x9E3779B97F4A7C15
    out = bytearray(PERIOD)
    m = (1 << 64) - 1
    for i in range(PERIOD):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        out[i] = x >> 56
    return bytes(out)


BLOCK = block()


def pattern_chunks(n, size=1 << 16):
    """Yields the first n bytes of the pattern in chunks."""
    off = 0
    while off < n:
        s = off % PERIOD
        k = min(size, n - off, PERIOD - s)
        yield BLOCK[s:s + k]
        off += k


def pattern_sha(n):
    h = hashlib.sha256()
    for c in pattern_chunks(n):
        h.update(c)
    return h.hexdigest()


def read_all(sock, limit=None):
    h = hashlib.sha256()
    n = 0
    while True:
        d = sock.recv(1 << 18)
        if not d:
            return n, h.hexdigest()
        h.update(d)
        n += len(d)


def echo(host, port, nbytes):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    err = []

    def writer():
        try:
            for c in pattern_chunks(nbytes):
                s.sendall(c)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer)
    t.start()
    n, got = read_all(s)
    t.join()
    s.close()
    want = pattern_sha(nbytes)
    ok = not err and n == nbytes and got == want
    print(f"echo bytes={n}/{nbytes} sha256_ok={got == want} err={err}")
    return ok


def discard(host, port, nbytes):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    for c in pattern_chunks(nbytes):
        s.sendall(c)
    s.shutdown(socket.SHUT_WR)
    n, _ = read_all(s)  # the service closes after our FIN: EOF, nothing echoed
    s.close()
    print(f"discard sent={nbytes} echoed={n}")
    return n == 0


def source(host, port, nbytes):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    n, got = read_all(s)
    s.close()
    ok = n == nbytes and got == pattern_sha(nbytes)
    print(f"source bytes={n}/{nbytes} sha256_ok={ok}")
    return ok


def sink(port, conns, nbytes):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1024)
    ls.settimeout(TIMEOUT)
    print(f"listening port={port}", flush=True)
    want = pattern_sha(nbytes)
    results = []
    threads = []

    def one(c):
        c.settimeout(TIMEOUT)
        try:
            results.append(read_all(c))
        except OSError as e:
            results.append((-1, str(e)))
        c.close()
    for _ in range(conns):
        c, _a = ls.accept()
        t = threading.Thread(target=one, args=(c,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    good = sum(1 for n, h in results if n == nbytes and h == want)
    print(f"sink conns={conns} good={good}")
    return good == conns


def hold(host, port, conns, seconds):
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(conns):
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.sendall(b"hello %d\n" % i)
        socks.append(s)
    deadline = time.time() + TIMEOUT
    got = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    while len(got) < conns and time.time() < deadline:
        for key, _ in sel.select(timeout=1):
            i = key.data
            d = key.fileobj.recv(100)
            got[i] = got.get(i, b"") + d
            if got[i].endswith(b"\n"):
                sel.unregister(key.fileobj)
    echoed = sum(1 for i in range(conns) if got.get(i) == b"hello %d\n" % i)
    print(f"hold open={conns} echoed={echoed}", flush=True)
    time.sleep(seconds)
    for s in socks:
        s.setblocking(True)
        s.settimeout(TIMEOUT)
        s.shutdown(socket.SHUT_WR)
    eofs = 0
    for s in socks:
        try:
            if s.recv(100) == b"":
                eofs += 1
        except OSError:
            pass
        s.close()
    print(f"hold closed={conns} eofs={eofs}")
    return echoed == conns and eofs == conns


def main(a):
    mode = a[0]
    if mode == "echo":
        return echo(a[1], int(a[2]), int(a[3]))
    if mode == "discard":
        return discard(a[1], int(a[2]), int(a[3]))
    if mode == "source":
        return source(a[1], int(a[2]), int(a[3]))
    if mode == "sink":
        return sink(int(a[1]), int(a[2]), int(a[3]))
    if mode == "hold":
        return hold(a[1], int(a[2]), int(a[3]), float(a[4]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    try:
        sys.exit(0 if main(sys.argv[1:]) else 1)
    except (OSError, ValueError, IndexError) as e:
        print(f"error: {e}")
        sys.exit(1)
