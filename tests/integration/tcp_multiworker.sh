#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Our TCP with two workers on one TAP port (lcores 1 and 2 share CPU 1 through an EAL --lcores
# map). The TAP PMD gives no RSS control, so the stack runs in software-RSS mode: each flow
# has an owner worker (tcp_rss_owner) and segments the kernel queued to the other worker are
# handed over on the owner's ring. 8 echo and 8 source connections from the kernel, and 8
# active opens from dpmaild to a kernel listener, all checked by SHA-256; both workers must
# own connections and hand-offs must have happened.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
[ "$(nproc)" -ge 2 ] || t_skip "needs 2 CPUs"
NS=tcpmw$$
N=8
BYTES=1048576
PEER="python3 $T_ROOT/tests/tools/tcp_peer.py"
t_ns $NS
t_tmpdir D
T_TMPS+=("/var/run/dpdk/$NS")
cat >"$D/dpmaild.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: $NS
  memory_mb: 256
  lcores: "0@0,1@1,2@1"
port: {device: net_tap0, ipv4: 198.18.0.2/24, gateway: 198.18.0.1}
dataplane: {workers: [1, 2], mbufs: 4095, idle_sleep_us: 50}
tcp:
  mbufs: 8191
  test_echo_port: 7
  test_source_port: 19
  test_source_bytes: $BYTES
  test_connect_addr: 198.18.0.1
  test_connect_port: 9000
  test_connect_count: $N
EOC
t_bg SINK bash -c "exec ip netns exec $NS env TIMEOUT=120 $PEER sink 9000 $N $BYTES >$D/sink 2>&1"
t_wait_for 10 grep -q listening "$D/sink"
LOG=$D/dpmaild.log
t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/dpmaild.yaml >$LOG 2>&1"
if ! t_wait_for 20 grep -q 'event=started workers=2' "$LOG"; then
  t_fail "dpmaild starts with 2 workers"; cat "$LOG"; exit 1
fi
t_ok "dpmaild starts with 2 workers"
ip -n $NS addr add 198.18.0.1/24 dev dtap0
ip -n $NS link set dtap0 up
t_wait_for 10 ip netns exec $NS ping -c1 -W1 198.18.0.2 >/dev/null

pids=()
for i in $(seq 1 $N); do
  ip netns exec $NS $PEER echo 198.18.0.2 7 $BYTES >"$D/echo$i" 2>&1 & pids+=($!)
  ip netns exec $NS $PEER source 198.18.0.2 19 $BYTES >"$D/source$i" 2>&1 & pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
cat "$D"/echo1 "$D"/source1
t_check "$N echo and $N source connections byte-exact over 2 workers ($bad failed)" [ $bad -eq 0 ]
rc=$(t_wait_exit "$SINK" 60)
cat "$D/sink"
t_check "$N active opens from worker 0 received byte-exact by the kernel" [ "$rc" = 0 ]
t_wait_for 20 grep -q "event=tcp_test_connect_done ok=$N failed=0" "$LOG"
t_check "dpmaild reports its active opens done" grep -q "event=tcp_test_connect_done ok=$N failed=0" "$LOG"
kill -TERM "$PID"
t_wait_exit "$PID" 10 >/dev/null
grep 'event=tcp_stats' "$LOG" | sed -E 's/(handoff_drops=[0-9]+).*(accepted=[0-9]+).*/\1 \2/'
acc() { grep "event=tcp_stats lcore=$1 " "$LOG" | tr ' ' '\n' | sed -n 's/^accepted=//p'; }
ho() { grep 'event=tcp_stats' "$LOG" | tr ' ' '\n' | sed -n 's/^handed_off=//p' | awk '{s+=$1} END {print s+0}'; }
t_check "both workers own connections (accepted: $(acc 1), $(acc 2))" [ "$(acc 1)" -gt 0 -a "$(acc 2)" -gt 0 ]
t_check "segments were handed to their owner ($(ho))" [ "$(ho)" -gt 0 ]
t_check "no hand-off drops, no connection left" \
  bash -c "! grep 'event=tcp_stats' '$LOG' | grep -qv ' handoff_drops=0 ' && ! grep 'event=tcp_stats' '$LOG' | grep -qv ' conns=0 '"
t_done
