#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Three dpmaild nodes (posix backend, one worker each, own SMTP port, spool, admin socket)
# share one destination's budget through a real redis-server (127.0.0.1, free port picked in
# 13310-13399) and relay to one counting sink (next port, timestamps per message, peak connections). Nothing leaves
# loopback: static routes only, DNS forwarder 127.0.0.1@9. Checks: the cluster-wide rate holds
# within 10% and the connection limit exactly; plain `dpmailctl suspend` on one node stops every node
# within a second and `resume` on another restarts them, `suspend --local` stops one node only; killing a node hands its share to the
# others; stopping Redis keeps delivery going within the fallback budget.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
CTL=$BUILD/dpmailctl
PY=/usr/bin/python3
command -v redis-server >/dev/null || t_skip "redis-server not installed"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
D=$(mktemp -d /tmp/dpmail-cl.XXXXXX); T_TMPS+=("$D")
cd "$D" || exit 1
# Ports: a free block of five in 13310-13399 picked at each run (copies of this test in other
# worktrees may run at once): Redis, sink, three SMTP listeners.
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
BASE=
for _ in $(seq 1 30); do
  b=$(( 13310 + 5 * (RANDOM % 18) ))
  if port_free $b && port_free $((b + 1)) && port_free $((b + 2)) && port_free $((b + 3)) && port_free $((b + 4)); then BASE=$b; break; fi
done
[ -n "$BASE" ] || t_skip "no free port block in 13310-13399"
RPORT=$BASE SPORT=$((BASE + 1)) RATE=12 CONNS=6
t_bg RPID redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning

cat >sink.py <<'EOF'
import asyncio, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
out = open(sys.argv[2], "a", buffering=1)
state = {"conns": 0, "peak": 0}
class S(SMTP):
    def connection_made(self, t):
        state["conns"] += 1
        state["peak"] = max(state["peak"], state["conns"])
        open(sys.argv[3], "w").write("%d\n" % state["peak"])
        super().connection_made(t)
    def connection_lost(self, e):
        state["conns"] -= 1
        super().connection_lost(e)
class H:
    async def handle_DATA(self, server, session, env):
        out.write("%.3f %s\n" % (time.time(), session.host_name))
        return "250 2.0.0 Ok"
class C(Controller):
    def factory(self):
        return S(self.handler)
c = C(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("listening", flush=True)
try:
    asyncio.get_event_loop().run_forever()
finally:
    c.stop()
EOF
: >msgs
t_bg SINK $PY sink.py $SPORT msgs peak
t_check "sink listening" t_wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SPORT"
t_check "redis listening" t_wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RPORT"

node_cfg() { # index
  local i=$1
  cat >n$i.yaml <<EOF
eal: {file_prefix: cl$i$$, memory_mb: 64, lcores: "0@0,1@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 500}
control: {admin_socket: $D/n$i.sock}
smtp: {hostname: n$i.test, listen: [{port: $((BASE + 1 + i)), tls: none}]}
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $D/spool$i, min_free_mb: 1}
dns: {forwarders: ["127.0.0.1@9"]}
delivery:
  routes: [{domain: dest.test, hosts: ["[127.0.0.1]:$SPORT"]}, {domain: "*", hosts: ["[127.0.0.1]:9"]}]
  tls_policy: [{destination: "*", mode: none}]
  shaping: [{destination: dest.test, rate: $RATE, connections: $CONNS}]
cluster: {enabled: true, node: n$i, redis_port: $RPORT, prefix: cl$$, lease_ms: 1000, renew_ms: 100,
          fallback_pct: 25, idle_return_ms: 2000}
EOF
}
PIDS=()
for i in 1 2 3; do
  node_cfg $i
  t_bg p "$DPMAILD" -c n$i.yaml 2>n$i.log
  PIDS[$i]=$p
done
ctl() { "$CTL" -s "$D/n$1.sock" "${@:2}"; }
for i in 1 2 3; do
  t_check "node $i up" t_wait_for 20 bash -c "$CTL -s $D/n$i.sock status >/dev/null 2>&1" || { cat n$i.log; exit 1; }
done
# Queue plenty of mail on every node (more than the test can send).
$PY - <<EOF || t_fail "submission"
import smtplib
for i in (1, 2, 3):
    s = smtplib.SMTP("127.0.0.1", $BASE + 1 + i)
    for k in range(150):
        s.sendmail("a@src.test", ["r%d@dest.test" % k], "Subject: m%d\r\n\r\nbody\r\n" % k)
    s.quit()
EOF

count_between() { awk -v a="$1" -v b="$2" '$1 >= a && $1 < b' msgs | wc -l; }
now() { date +%s.%N; }
rate_window() { # seconds -> msgs/s delivered during the next window
  local t0; t0=$(now); sleep "$1"; local t1; t1=$(now)
  awk -v a="$t0" -v b="$t1" '$1 >= a && $1 < b { n++ } END { printf "%.2f", n / (b - a) }' msgs
}
# The limit is an upper bound (within 10%); the lower bound is loose (70%) because a stall of
# the shared machine or of the python sink (seen: 0.6 s) costs throughput, not correctness.
within() { awk -v r="$1" -v l="$2" -v p="$3" 'BEGIN { exit !(r <= l * (1 + p / 100.0) && r >= l * 0.7) }'; }

t_check "deliveries start" t_wait_for 10 bash -c "[ \$(wc -l <msgs) -ge 5 ]"
sleep 1   # measurement window, not synchronisation: let the leases settle
r=$(rate_window 4)
echo "INFO: three nodes: $r msg/s (limit $RATE), peak connections $(cat peak) (limit $CONNS)"
t_check "three nodes: cluster-wide rate at most 10% above $RATE/s ($r)" within "$r" $RATE 10
t_check "connections never above $CONNS ($(cat peak))" [ "$(cat peak)" -le $CONNS ]
ctl 1 --json cluster show >show1.json
t_check "cluster show lists 3 nodes and a lease" $PY -c "
import json,sys; r=json.load(open('show1.json')); r=r.get('result', r)
d=[x for x in r['destinations'] if x['destination']=='dest.test'][0]
sys.exit(not (len(r['nodes'])==3 and d['mode']=='leased' and d['nodes']==3))"

# On a clustered node plain `suspend` is cluster-wide; `suspend --local` stops this node only.
ctl 2 suspend dest.test >/dev/null
ts=$(now)
sleep 2.5   # observation window: the bound under test is 1 s after the command
after=$(awk -v t="$ts" 'BEGIN { printf "%.3f", t + 1 }')
c=$(count_between "$after" 9999999999)
t_check "plain suspend on node 2: no node delivers 1 s after the command (got $c)" [ "$c" -eq 0 ]
ctl 3 resume dest.test >/dev/null
tr=$(now)
t_check "plain resume on node 3: delivery restarts" t_wait_for 3 bash -c "[ \$(awk -v a=$tr '\$1 >= a' msgs | wc -l) -ge 2 ]"
ctl 1 suspend --local dest.test >/dev/null
tl=$(now)
sleep 2.5   # observation window
after=$(awk -v t="$tl" 'BEGIN { printf "%.3f", t + 1 }')
c1=$(awk -v a="$after" '$1 >= a && $2 == "n1.test"' msgs | wc -l)
c23=$(awk -v a="$after" '$1 >= a && $2 != "n1.test"' msgs | wc -l)
t_check "suspend --local on node 1: node 1 stops ($c1), nodes 2 and 3 go on ($c23)" [ "$c1" -eq 0 -a "$c23" -ge 3 ]
ctl 1 resume --local dest.test >/dev/null
tr=$(now)
t_check "resume --local on node 1: node 1 delivers again" t_wait_for 4 bash -c "[ \$(awk -v a=$tr '\$1 >= a && \$2 == \"n1.test\"' msgs | wc -l) -ge 1 ]"

kill -KILL "${PIDS[3]}"
t_check "killed node's share goes to the others" t_wait_for 5 bash -c "$CTL -s $D/n1.sock --json cluster show | $PY -c 'import json,sys; r=json.load(sys.stdin); r=r.get(\"result\", r); d=[x for x in r[\"destinations\"] if x[\"destination\"]==\"dest.test\"][0]; sys.exit(not d[\"nodes\"]==2)'"
sleep 1
r=$(rate_window 4)
echo "INFO: two nodes: $r msg/s (limit $RATE)"
t_check "two nodes: cluster-wide rate at most 10% above $RATE/s ($r)" within "$r" $RATE 10

kill -KILL "$RPID"
t_check "Redis down: both nodes report fallback" t_wait_for 5 bash -c "$CTL -s $D/n1.sock --json cluster show | grep -q fallback && $CTL -s $D/n2.sock --json cluster show | grep -q fallback"
# Measurement window, not synchronisation: the lcores adopt the fallback rate at their next
# snapshot after the control thread reports it, so the window starts 1.5 s later; it is 6 s
# long and may hold one stored token per node (each destination bucket bursts 1 message) on
# top of the budget (the 5 s window right after the switch caught 34 messages for 33 once).
sleep 1.5
r=$(rate_window 6)
FB=$(awk -v r=$RATE 'BEGIN{printf "%.2f", 2 * r * 25 / 100}')
echo "INFO: Redis down: $r msg/s (fallback budget $FB)"
t_check "Redis down: delivery goes on within the fallback budget ($r <= $FB, + 1 burst per node)" \
  awk -v r="$r" -v f="$FB" 'BEGIN { exit !(r > 0 && r * 6 <= f * 6 * 1.1 + 2) }'
t_check "Redis down logged" grep -q "cluster redis=down" n1.log
for i in 1 2; do kill -TERM "${PIDS[$i]}"; done
for i in 1 2; do T_RC=timeout; t_wait_exit "${PIDS[$i]}" 10 >/dev/null; t_check "node $i exits 0" [ "$T_RC" = 0 ]; done
t_done
