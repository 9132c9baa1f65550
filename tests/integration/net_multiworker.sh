#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two workers on one TAP port (two queue pairs; lcores 1 and 2 share CPU 1 through an EAL
# --lcores map, since this machine has two CPUs): the kernel spreads flows over the queues,
# every flow is answered, both workers carry traffic, and ARP replies that land on the other
# worker's queue still resolve (neighbour sharing).
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
[ "$(nproc)" -ge 2 ] || t_skip "needs 2 CPUs"
NS=fndmw$$   # unique per run: concurrent test runs on one machine must not share it
t_ns $NS
t_tmpdir D
T_TMPS+=("/var/run/dpdk/$NS")   # EAL runtime dir of this test's --file-prefix
cat >"$D/dpmaild.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: $NS
  memory_mb: 192
  lcores: "0@0,1@1,2@1"
port: {device: net_tap0, ipv4: 198.18.0.2/24, gateway: 198.18.0.1}
dataplane: {workers: [1, 2], mbufs: 2047, idle_sleep_us: 100}
EOC
LOG=$D/dpmaild.log
t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/dpmaild.yaml >$LOG 2>&1"
if ! t_wait_for 20 grep -q 'event=started workers=2' "$LOG"; then
  t_fail "dpmaild starts with 2 workers"; cat "$LOG"; exit 1
fi
t_ok "dpmaild starts with 2 workers"
ip -n $NS addr add 198.18.0.1/24 dev dtap0
for i in $(seq 10 25); do ip -n $NS addr add 198.18.0.$i/24 dev dtap0; done
ip -n $NS link set dtap0 up

answered=0
for i in 1 $(seq 10 25); do
  ip netns exec $NS ping -c 5 -i 0.01 -W 2 -q -I 198.18.0.$i 198.18.0.2 | grep -q ' 5 received' &&
    answered=$((answered + 1))
done
t_check "17 flows from 17 addresses: all answered ($answered/17)" [ "$answered" -eq 17 ]

before=$(grep -c 'event=stats' "$LOG")
kill -USR2 "$PID"
t_wait_for 5 bash -c "[ \$(grep -c 'event=stats' '$LOG') -ge $((before + 2)) ]"
rx() { grep "event=stats lcore=$1 " "$LOG" | tail -1 | tr ' ' '\n' | sed -n 's/^rx=//p'; }
r1=$(rx 1); r2=$(rx 2)
echo "worker rx: lcore1=$r1 lcore2=$r2"
t_check "both workers received traffic" [ "${r1:-0}" -gt 0 -a "${r2:-0}" -gt 0 ]

t_wait_exit_to() { t_wait_exit "$PID" 2 >"$D/rc"; }
kill -TERM "$PID"
t_wait_exit_to
t_check "SIGTERM with 2 workers: exit 0 within 2 s" [ "$(cat "$D/rc")" = 0 ]
t_done
