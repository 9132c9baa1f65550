#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Our TCP against the Linux kernel's. dpmaild owns 198.18.0.2 on a DPDK TAP port in namespace
# tcpioPID, which routes to namespace tcpclPID (198.19.0.2) over a veth pair; dpmaild runs its
# test-only services (echo 7, discard 9, source 19, and an active open to a Linux listener on
# 198.19.0.2:9000) and tests/tools/tcp_peer.py in tcpcl checks every byte by SHA-256.
# Loss is dropped by nftables (numgen) in tcpio's forward chain, so it hits both directions
# and both stacks see real loss (a drop in the sender's own output path would only make the
# kernel retry). Variants: clean, 1% and 5% loss, and 1% loss with the kernel's SACK,
# timestamps and window scaling off. Then CONNS connections held open and closed cleanly.
# Sizes: TCP_MB (clean, default 20), TCP_LOSS_MB (lossy, 5), TCP_CONNS (200); the soak test
# runs this script with the issue's full sizes. dpmaild logs at debug level (TCP_LOG_LEVEL) so
# that every RST can be traced to the flow it answers (rst_check). TCP_VARIANTS picks variants (default: all, then
# "hold"); TCP_PCAP=DIR captures the TAP with tcpdump into DIR/NAME.pcap (debugging).
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
command -v nft >/dev/null || t_skip "nft missing"
NS=${TCP_NS:-tcpio$$}   # unique per run: several worktrees may run make test at once
CL=${TCP_CL:-tcpcl$$}
MB=${TCP_MB:-20}
LOSS_MB=${TCP_LOSS_MB:-5}
CONNS=${TCP_CONNS:-200}
PEER="python3 $T_ROOT/tests/tools/tcp_peer.py"
t_ns $NS
t_ns $CL
t_tmpdir D
ip link add tcpv0 netns $NS type veth peer name tcpv1 netns $CL
ip -n $NS addr add 198.19.0.1/24 dev tcpv0
ip -n $NS link set tcpv0 up
ip -n $CL addr add 198.19.0.2/24 dev tcpv1
ip -n $CL link set tcpv1 up
ip -n $CL link set tcpv1 gso_max_segs 1 2>/dev/null || true
ip -n $CL route add 198.18.0.0/24 via 198.19.0.1
ip netns exec $NS sysctl -qw net.ipv4.ip_forward=1

# start_dpmaild NAME BYTES: dpmaild with the test services; BYTES per source/active open.
start_dpmaild() {
  LOG=$D/$1.log
  cat >"$D/$1.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: $NS
  memory_mb: 256
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.18.0.1
log:
  level: ${TCP_LOG_LEVEL:-debug}
control: {admin_socket: $D/$1.sock}
dataplane:
  workers: [1]
  mbufs: 4095
  idle_sleep_us: 50
tcp:
  max_conns: $((CONNS + 64))
  mbufs: 16383
  test_echo_port: 7
  test_discard_port: 9
  test_source_port: 19
  test_source_bytes: $2
  test_connect_addr: 198.19.0.2
  test_connect_port: 9000
  test_connect_count: 1
EOC
  t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/$1.yaml >$LOG 2>&1"
  if ! t_wait_for 20 grep -q 'event=started' "$LOG"; then
    t_fail "$1: dpmaild starts"; cat "$LOG"; return 1
  fi
  ip -n $NS addr add 198.18.0.1/24 dev dtap0 2>/dev/null
  ip -n $NS link set dtap0 up
  if [ -n "${TCP_PCAP:-}" ]; then # debugging: capture what crosses the TAP
    t_bg CAP ip netns exec $NS tcpdump -q -s 96 -B 16384 -i dtap0 -w "$TCP_PCAP/$1.pcap" tcp
  fi
}

stop_dpmaild() {
  kill -TERM "$PID"
  t_wait_exit "$PID" 10 >/dev/null
  [ -n "${TCP_PCAP:-}" ] && kill -INT "$CAP" 2>/dev/null
  grep 'event=tcp_stats' "$LOG" | head -1
}

set_loss() { # PERCENT: random loss of forwarded TCP segments, both directions
  ip netns exec $NS nft list table inet tcploss 2>/dev/null | grep -o 'counter packets [0-9]*' |
    sed 's/counter packets/dropped/'
  ip netns exec $NS nft delete table inet tcploss 2>/dev/null
  [ "$1" = 0 ] && return 0
  ip netns exec $NS nft -f - <<EON
table inet tcploss {
  chain loss { type filter hook forward priority 0; meta l4proto tcp numgen random mod 100 < $1 counter drop; }
}
EON
}

set_opts() { # 1|0: the kernel's SACK, timestamps and window scaling
  for k in tcp_sack tcp_timestamps tcp_window_scaling; do
    ip netns exec $CL sysctl -qw net.ipv4.$k=$1
  done
}

# timed NAME CMD...: runs CMD with a deadline, reports PASS/FAIL and the rate.
timed() {
  local name=$1 bytes=$2; shift 2
  local t0 t1 out rc
  t0=$(date +%s%N)
  out=$(timeout 300 ip netns exec $CL "$@" 2>&1); rc=$?
  t1=$(date +%s%N)
  echo "$out"
  local ms=$(( (t1 - t0) / 1000000 ))
  [ $ms -gt 0 ] || ms=1
  if [ $rc -eq 0 ]; then
    t_ok "$name ($((bytes / 1048576)) MiB in ${ms} ms, $((bytes / 1024 * 1000 / ms / 1024)) MiB/s)"
  else
    t_fail "$name"
  fi
}

variant() { # NAME LOSS OPTS MB
  local name=$1 loss=$2 opts=$3 bytes=$(( $4 * 1048576 ))
  set_opts "$opts"
  set_loss 0
  t_bg SINK bash -c "exec ip netns exec $CL env TIMEOUT=200 $PEER sink 9000 1 $bytes >$D/$name.sink 2>&1"
  t_wait_for 10 grep -q listening "$D/$name.sink"
  start_dpmaild "$name" $bytes || return
  t_wait_for 10 ip netns exec $CL ping -c1 -W1 198.18.0.2 >/dev/null
  set_loss "$loss"
  timed "$name: echo each way, sha256" $bytes $PEER echo 198.18.0.2 7 $bytes
  timed "$name: source (dpmaild -> linux), sha256" $bytes $PEER source 198.18.0.2 19 $bytes
  timed "$name: discard takes everything, then closes" $bytes $PEER discard 198.18.0.2 9 $bytes
  local rc
  rc=$(t_wait_exit "$SINK" 240)
  cat "$D/$name.sink"
  t_check "$name: active open to a linux listener, sha256" [ "$rc" = 0 ]
  t_check "$name: dpmaild reports its active open done" \
    t_wait_for 30 grep -q 'event=tcp_test_connect_done ok=1 failed=0' "$LOG"
  set_loss 0
  # every connection over (the discard client's EOF can come before its last ACK reaches us)
  t_wait_for 30 bash -c "[ \$(grep -c 'event=tcp_test_closed' '$LOG') -ge 4 ]"
  local st; st=$(stop_dpmaild)
  echo "$st"
  t_check "$name: no checksum errors, no connection left" \
    bash -c "grep -q ' rx_bad_csum=0 ' <<<'$st' && grep -q ' conns=0 ' <<<'$st'"
  rst_check "$name" "$st"
}

# rst_check NAME STATS: our RSTs must all be correct ones (RFC 9293 3.10.7.1): replies to
# segments of a flow that no longer exists because WE closed it passively (LAST_ACK done: the
# peer in TIME_WAIT acknowledges one of our retransmissions that crossed its last ACK). A RST
# for a flow we closed actively (that is TIME_WAIT's job), an abort, or more than a handful of
# crossings (a retransmission storm: the bug of issue 3, 75-140 RSTs) fails.
rst_check() {
  local name=$1 st=$2 rst nf bad=0 k
  rst=$(grep -o ' tx_rst=[0-9]*' <<<"$st" | cut -d= -f2)
  nf=$(grep -o ' rx_no_flow=[0-9]*' <<<"$st" | cut -d= -f2)
  echo "$name: tx_rst=$rst rx_no_flow=$nf"
  for k in $(grep -o 'event=tcp_no_flow lport=[0-9]* rport=[0-9]*' "$LOG" | cut -d' ' -f2,3 |
             tr ' ' '_' | sort -u); do
    grep -q "event=tcp_release ${k/_/ } state=LAST_ACK" "$LOG" || {
      echo "$name: RST for ${k/_/ }, not a flow we closed passively"; bad=$((bad + 1)); }
  done
  t_check "$name: every RST answers a segment of a flow we closed passively (RFC 9293)" \
    [ "$bad" = 0 -a "$rst" = "$nf" ]
  t_check "$name: at most 8 such crossings (no retransmission storm)" [ "$rst" -le 8 ]
}

VARIANTS=${TCP_VARIANTS:-clean loss1 loss5 loss1_nosack_nots_nows hold}
has() { [[ " $VARIANTS " == *" $1 "* ]]; }
has clean && variant clean 0 1 "$MB"
has loss1 && variant loss1 1 1 "$LOSS_MB"
has loss5 && variant loss5 5 1 "$LOSS_MB"
has loss1_nosack_nots_nows && variant loss1_nosack_nots_nows 1 0 "$LOSS_MB"
set_opts 1
has hold || { t_done; exit; }

# many connections held open at once, then closed by the client; each must echo and see EOF
start_dpmaild hold 0 && {
  t_wait_for 10 ip netns exec $CL ping -c1 -W1 198.18.0.2 >/dev/null
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  out=$(timeout 300 ip netns exec $CL $PEER hold 198.18.0.2 7 "$CONNS" 1 2>&1); rc=$?
  echo "$out"
  t_check "$CONNS connections held open and closed cleanly" [ $rc = 0 ]
  t_wait_for 30 bash -c "[ \$(grep -c 'event=tcp_test_closed' '$LOG') -ge $CONNS ]"
  st=$(stop_dpmaild); echo "$st"
  t_check "hold: every connection accepted, none left" \
    bash -c "grep -q ' accepted=$CONNS ' <<<'$st' && grep -q ' conns=0 ' <<<'$st' && grep -q ' conn_resets=0 ' <<<'$st' && grep -q ' tx_rst=0 ' <<<'$st'"
}
t_done
