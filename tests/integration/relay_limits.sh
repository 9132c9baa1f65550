#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The inbound session limit: with limits.max_sessions 2, two idle clients hold their sessions
# and a third connection is answered "421 4.3.2" and closed gracefully (not reset); once a
# session ends, new clients are served again.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
t_tmpdir D
cd "$D" || exit 1
IN=$(( 12430 + RANDOM % 20 ))
cat >cfg.yaml <<EOF2
$(t_posix_yaml rlylim$$ "$D" "$IN")
delivery: {routes: [{domain: "*", hosts: ["[127.0.0.1]:9"]}]}
limits: {max_sessions: 2}
EOF2
t_bg PID "$DPMAILD" -c cfg.yaml
t_wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IN" || t_fail "dpmaild listening"
$PY - "$IN" >lim.out 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def greet():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb").readline().decode().strip()
# the probe above may still hold a slot for a moment: wait until two sessions greet with 220
held = []
deadline = time.time() + 10
while len(held) < 2 and time.time() < deadline:
    s, g = greet()
    if g.startswith("220"):
        held.append(s)
    else:
        s.close(); time.sleep(0.05)
s, g = greet()
try:
    rest = s.recv(100)
    closed = "fin" if rest == b"" else "data"
except ConnectionResetError:
    closed = "reset"
print("third:", g, "|", closed)
held[0].sendall(b"QUIT\r\n"); held[0].makefile("rb").readline(); held[0].close()
time.sleep(0.2)
s, g = greet()
print("after:", g[:3])
PY
cat lim.out
t_check "a connection beyond max_sessions gets 421 4.3.2 and a graceful close" grep -q '^third: 421 4.3.2 .* | fin' lim.out
t_check "a freed session slot serves the next client" grep -qx 'after: 220' lim.out
t_check "dpmailctl stats counts the refusal" bash -c "'$BUILD/dpmailctl' -s '$D/admin.sock' stats | grep -q 'smtp_sessions_refused_total: [1-9]'"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild exits 0" [ "$T_RC" = 0 ]
t_done
