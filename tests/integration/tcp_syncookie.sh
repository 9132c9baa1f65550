#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SYN cookies against a real SYN flood. dpmaild owns 198.18.0.2 on a DPDK TAP port in namespace
# syckPID with the echo service and tcp.backlog 16; tests/tools/syck_synflood.py floods it
# with 200 SYNs from spoofed sources 198.19.0.x (their SYN-ACKs leave towards the namespace's
# kernel, which does not forward them: the half-open connections stay). Then 100 Linux
# clients in the namespace connect at once and must all get through on their first SYN
# (connected within 0.8 s, before the 1 s retransmission) and echo, with timestamps, window
# scaling and SACK negotiated; then one client with the kernel's timestamps off (neither
# window scaling nor SACK then). With tcp.syncookies: false the same flood makes the
# client's first SYN go unanswered (the behaviour cookies fix), proving the flood bites.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
NS=syck$$
t_ns $NS
t_tmpdir D
FLOOD="python3 $T_ROOT/tests/tools/syck_synflood.py"
cat >"$D/client.py" <<'EOF'
# client.py ts|nots N: N connections opened at once; each must connect within 0.8 s (before
# the kernel's 1 s SYN retransmission), negotiate the expected options, and echo.
import select, socket, sys, time
want = 7 if sys.argv[1] == "ts" else 0 # TCPI_OPT_TIMESTAMPS 1 | SACK 2 | WSCALE 4
n = int(sys.argv[2])
t = time.monotonic()
socks = []
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("198.18.0.2", 7))
    socks.append(s)
pending = set(socks)
while pending and time.monotonic() - t < 0.8:
    _, w, _ = select.select([], list(pending), [], 0.05)
    for s in w:
        pending.discard(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            print("connect error"); sys.exit(2)
took = time.monotonic() - t
if pending:
    print("%d of %d not connected after %.3f s" % (len(pending), n, took)); sys.exit(1)
bad = 0
for i, s in enumerate(socks):
    s.setblocking(True)
    s.settimeout(3)
    opts = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5] & 7
    msg = b"hello through the flood %d\n" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(100)
        if not d:
            break
        got += d
    s.close()
    bad += got != msg or opts != want
print("%d connections in %.3f s, %d bad (options or echo)" % (n, took, bad))
sys.exit(3 if bad else 0)
EOF

start_dpmaild() { # NAME SYNCOOKIES
  LOG=$D/$1.log
  cat >"$D/$1.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=syckt0"]
  file_prefix: $NS
  memory_mb: 256
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.18.0.1
log:
  level: info
control: {admin_socket: $D/$1.sock}
dataplane:
  workers: [1]
  mbufs: 4095
  idle_sleep_us: 50
tcp:
  max_conns: 512
  backlog: 16
  syncookies: $2
  test_echo_port: 7
EOC
  t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/$1.yaml >$LOG 2>&1"
  if ! t_wait_for 20 grep -q 'event=started' "$LOG"; then
    t_fail "$1: dpmaild starts"; cat "$LOG"; return 1
  fi
  ip -n $NS addr add 198.18.0.1/24 dev syckt0 2>/dev/null
  ip -n $NS link set syckt0 up
  t_wait_for 10 ip netns exec $NS ping -c1 -W1 198.18.0.2 >/dev/null
}

stop_dpmaild() {
  kill -TERM "$PID"
  t_wait_exit "$PID" 10 >/dev/null
  grep 'event=tcp_stats' "$LOG" | head -1
}

stat() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# cookies on (the default): the flood costs no state, clients get through at once
if start_dpmaild on true; then
  ip netns exec $NS $FLOOD 198.18.0.2 7 200 198.19.0.0/24
  out=$(ip netns exec $NS python3 "$D/client.py" ts 100 2>&1); rc=$?
  echo "$out"
  t_check "cookies: 100 clients at once connect through the flood on their first SYN, echo, keep timestamps, SACK and window scaling" [ $rc = 0 ]
  ip netns exec $NS sysctl -qw net.ipv4.tcp_timestamps=0
  out=$(ip netns exec $NS python3 "$D/client.py" nots 1 2>&1); rc=$?
  echo "$out"
  t_check "cookies: a client without timestamps too (then without SACK and window scaling)" [ $rc = 0 ]
  ip netns exec $NS sysctl -qw net.ipv4.tcp_timestamps=1
  st=$(stop_dpmaild); echo "$st"
  t_check "cookies: a cookie SYN-ACK for each SYN past the backlog, 101 connections from cookies, none dropped" \
    [ "$(stat "$st" syncookies_sent)" -ge 285 -a "$(stat "$st" syncookies_ok)" = 101 \
      -a "$(stat "$st" syn_dropped_full)" = 0 -a "$(stat "$st" accepted)" = 101 \
      -a "$(stat "$st" syncookies_failed)" = 0 ]
fi

# cookies off: the same flood leaves the client's first SYN unanswered
if start_dpmaild off false; then
  ip netns exec $NS $FLOOD 198.18.0.2 7 200 198.19.0.0/24
  out=$(ip netns exec $NS python3 "$D/client.py" ts 1 2>&1); rc=$?
  echo "$out"
  t_check "no cookies: the flood makes the client's first SYN go unanswered" [ $rc = 1 ]
  st=$(stop_dpmaild); echo "$st"
  t_check "no cookies: SYNs beyond the backlog dropped and counted" \
    [ "$(stat "$st" syn_dropped_full)" -ge 185 -a "$(stat "$st" syncookies_sent)" = 0 ]
fi
t_done
