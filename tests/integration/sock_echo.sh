#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The posix conn backend against kernel-socket clients: sock_echo (tests/tools) echoes 3 MB
# from each of 8 concurrent python clients byte for byte, and closes after their EOF.
source "$(dirname "$0")/../lib/testlib.sh"
ECHO=$BUILD/tests/tools/sock_echo
[ -x "$ECHO" ] || t_skip "sock_echo not built"
t_tmpdir D
t_bg PID "$ECHO" 127.0.0.1 0 >"$D/out"
t_check "sock_echo listening" t_wait_for 5 grep -q '^listening port=' "$D/out"
PORT=$(sed -n 's/^listening port=//p' "$D/out")
python3 - "$PORT" >"$D/res" 2>&1 <<'PY'
import os, socket, sys, threading
port = int(sys.argv[1])
def one(i, out):
    data = os.urandom(3_000_000)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    got = bytearray()
    def rd():
        while True:
            b = s.recv(65536)
            if not b:
                break
            got.extend(b)
    t = threading.Thread(target=rd); t.start()
    s.sendall(data); s.shutdown(socket.SHUT_WR); t.join()
    out[i] = bytes(got) == data
out = [False] * 8
ts = [threading.Thread(target=one, args=(i, out)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("ok" if all(out) else "mismatch %s" % out)
PY
t_check "8 x 3 MB echoed byte for byte" grep -qx ok "$D/res"
kill -TERM "$PID"
t_wait_exit "$PID" 5 >"$D/rc"   # not in $(...): wait needs the parent shell
t_check "sock_echo exits cleanly on SIGTERM" [ "$(cat "$D/rc")" = 0 ]
t_done
