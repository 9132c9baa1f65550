#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cluster-wide automatic backoff with three dpmaild nodes (posix backend, one worker each), a
# real redis-server and one python (aiosmtpd) sink, all on 127.0.0.1 (a free block of five
# ports in 14100-14199). The sink tells the nodes apart by their EHLO name and, while the file
# `fail` exists, answers 451 to every RCPT from node 1. Checks: node 1's AIMD cut (configured
# through delivery.backoff.*) reaches nodes 2 and 3 within a second, their rate measured at the
# sink drops with it although they see no failure themselves; `dpmailctl cluster show` shows the
# factor; when the sink accepts node 1 again the cluster-wide rate comes back, restored once:
# never above the cluster-wide limit (+10%). A destination under the `*` rule is one
# cluster-wide budget; a destination without any limit backs off from its observed rate, and
# node 1's cut of it slows nodes 2 and 3 too.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
CTL=$BUILD/dpmailctl
PY=/usr/bin/python3
command -v redis-server >/dev/null || t_skip "redis-server not installed"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
D=$(mktemp -d /tmp/dpmail-cl2.XXXXXX); T_TMPS+=("$D")
cd "$D" || exit 1
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
BASE=
for _ in $(seq 1 30); do
  b=$(( 14100 + 5 * (RANDOM % 20) ))
  if port_free $b && port_free $((b + 1)) && port_free $((b + 2)) && port_free $((b + 3)) && port_free $((b + 4)); then BASE=$b; break; fi
done
[ -n "$BASE" ] || t_skip "no free port block in 14100-14199"
RPORT=$BASE SPORT=$((BASE + 1)) RATE=30 CONNS=6 SRATE=6
t_bg RPID redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning

cat >sink.py <<'EOF'
import asyncio, os, sys, time
from aiosmtpd.controller import Controller
out = open(sys.argv[2], "a", buffering=1)
class H:
    async def handle_RCPT(self, server, session, env, address, options):
        if session.host_name == "n1.test" and os.path.exists("fail") and address.endswith("@dest.test"):
            out.write("%.3f %s F\n" % (time.time(), session.host_name))
            return "451 4.7.1 n1: slow down"
        if session.host_name == "n1.test" and address.endswith("@free.test"):
            out.write("%.3f %s X\n" % (time.time(), session.host_name))
            return "451 4.7.1 n1: slow down"
        env.rcpt_tos.append(address)
        return "250 2.1.5 Ok"
    async def handle_DATA(self, server, session, env):
        kind = {"star.test": "S", "free.test": "U"}.get(env.rcpt_tos[0].split("@")[1], "D")
        out.write("%.3f %s %s\n" % (time.time(), session.host_name, kind))
        return "250 2.0.0 Ok"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
try:
    asyncio.get_event_loop().run_forever()
finally:
    c.stop()
EOF
: >msgs
t_bg SINK $PY sink.py $SPORT msgs
t_check "sink listening" t_wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SPORT"
t_check "redis listening" t_wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RPORT"

# Backoff: windows of 0.5 s, a cut halves the rate when half of at least 3 outcomes failed;
# +50% every 2 s (so a cut is visible for a while and the restoration is measurable).
node_cfg() { # index
  local i=$1
  cat >n$i.yaml <<EOF
eal: {file_prefix: cl2b$i$$, memory_mb: 64, lcores: "0@0,1@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 500}
control: {admin_socket: $D/n$i.sock}
smtp: {hostname: n$i.test, listen: [{port: $((BASE + 1 + i)), tls: none}]}
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $D/spool$i, min_free_mb: 1}
dns: {forwarders: ["127.0.0.1@9"]}
delivery:
  routes: [{domain: dest.test, hosts: ["[127.0.0.1]:$SPORT"]}, {domain: star.test, hosts: ["[127.0.0.1]:$SPORT"]},
           {domain: free.test, hosts: ["[127.0.0.1]:$SPORT"]}, {domain: "*", hosts: ["[127.0.0.1]:9"]}]
  tls_policy: [{destination: "*", mode: none}]
  shaping: [{destination: dest.test, rate: $RATE, connections: $CONNS}, {destination: "*", rate: $SRATE, connections: 3},
            {destination: free.test, per_connection: 1000}]   # free.test: no rate, no connection limit
  retry: {first: 600, cap: 3600}
  backoff: {window_ms: 500, min_samples: 3, threshold_pct: 50, decrease_pct: 50, floor_pct: 10,
            increase_pct: 50, increase_interval_ms: 2000}
cluster: {enabled: true, node: n$i, redis_port: $RPORT, prefix: cl2$$, lease_ms: 1000, renew_ms: 100,
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
$PY - <<EOF || t_fail "submission"
import smtplib
for i in (1, 2, 3):
    s = smtplib.SMTP("127.0.0.1", $BASE + 1 + i)
    for k in range(400):
        s.sendmail("a@src.test", ["r%d@dest.test" % k], "Subject: m%d\r\n\r\nbody\r\n" % k)
        if k < 60:
            s.sendmail("a@src.test", ["s%d@star.test" % k], "Subject: s%d\r\n\r\nbody\r\n" % k)
    s.quit()
EOF

now() { date +%s.%N; }
plus() { awk -v t="$1" -v d="$2" 'BEGIN { printf "%.3f", t + d }'; }
# rate HOSTS KIND FROM TO: events/s from the sink log (hosts: a regex on the EHLO name)
rate() { awk -v h="$1" -v k="$2" -v a="$3" -v b="$4" '$1 >= a && $1 < b && $2 ~ h && $3 == k { n++ } END { printf "%.2f", n / (b - a) }' msgs; }

t_check "deliveries start on every node" t_wait_for 15 bash -c \
  "[ \$(grep -c 'n1.test D' msgs) -ge 3 ] && [ \$(grep -c 'n2.test D' msgs) -ge 3 ] && [ \$(grep -c 'n3.test D' msgs) -ge 3 ]"
sleep 3   # measurement window, not synchronisation
t1=$(now)
base23=$(rate 'n[23]' D "$(plus "$t1" -2.5)" "$t1")
all0=$(rate 'n[123]' D "$(plus "$t1" -2.5)" "$t1")
star=$(rate 'n[123]' S "$(plus "$t1" -2.5)" "$t1")
echo "INFO: before: nodes 2+3 $base23 msg/s, all $all0 msg/s (limit $RATE); star.test $star msg/s (\`*\` rule: $SRATE)"
t_check "a destination under the \`*\` rule is one cluster-wide budget ($star msg/s, limit $SRATE)" \
  awk -v r="$star" -v l=$SRATE 'BEGIN { exit !(r <= l * 1.1 + 0.4 && r >= l * 0.6) }'
ctl 1 --json cluster show >show1.json
t_check "cluster show lists the \`*\` destination, leased by 3 nodes" $PY -c "
import json,sys; r=json.load(open('show1.json')); r=r.get('result', r)
d=[x for x in r['destinations'] if x['destination'].endswith('star.test')][0]
sys.exit(not (d['mode']=='leased' and d['nodes']==3))"

touch fail
tf=$(now)
t_check "node 1 cuts its rate (log)" t_wait_for 5 grep -q "cluster backoff=cut dest=[^ ]*dest.test" n1.log
for i in 2 3; do
  t_check "node $i applies node 1's cut" t_wait_for 5 grep -q "cluster backoff=applied dest=[^ ]*dest.test factor_permille=[1-9]" n$i.log
done
# seconds of the day of the first log line matching a pattern (log lines start with ISO time)
tod() { awk -v p="$2" '$0 ~ p { split(substr($1, 12, 12), a, ":"); printf "%.3f", a[1] * 3600 + a[2] * 60 + a[3]; exit }' "$1"; }
c1=$(tod n1.log "dest=[^ ]*dest.test event=backoff")
lag=0
for i in 2 3; do
  a=$(tod n$i.log "cluster backoff=applied dest=[^ ]*dest.test")
  lag=$(awk -v a="$a" -v c="$c1" -v l="$lag" 'BEGIN { d = a - c; print (d > l ? d : l) }')
done
echo "INFO: node 1's lcore cut -> applied on nodes 2 and 3 after at most $lag s"
t_check "the cut reaches nodes 2 and 3 within a second of node 1's decision ($lag s)" \
  awk -v l="$lag" 'BEGIN { exit !(l >= 0 && l < 1.0) }'
sleep 3   # observation window for the rates below
cut23=$(rate 'n[23]' D "$(plus "$tf" 1.0)" "$(plus "$tf" 3.0)")
fail1=$(rate n1 F "$(plus "$tf" 1.0)" "$(plus "$tf" 3.0)")
echo "INFO: after node 1's failures began: nodes 2+3 $cut23 msg/s (was $base23), node 1 attempts $fail1/s"
t_check "nodes 2 and 3 cut within a second of node 1's failures ($cut23 <= 0.6 x $base23)" \
  awk -v c="$cut23" -v b="$base23" 'BEGIN { exit !(b > 5 && c <= 0.6 * b) }'
ctl 2 --json cluster show >show2.json
t_check "cluster show on node 2 reports the backoff factor" $PY -c "
import json,sys; r=json.load(open('show2.json')); r=r.get('result', r)
d=[x for x in r['destinations'] if x['destination']=='dest.test'][0]
sys.exit(not (0 < d.get('backoff_permille', 1000) < 1000))"

rm -f fail
tr=$(now)
sleep 9   # restoration: +50% every 2 s, measured below
max=0
for s in 0 1 2 3 4 5 6 7 8; do
  r=$(rate 'n[123]' D "$(plus "$tr" $s)" "$(plus "$tr" $((s + 1)))")
  max=$(awk -v a="$max" -v b="$r" 'BEGIN { print (b > a ? b : a) }')
done
back=$(rate 'n[123]' D "$(plus "$tr" 6)" "$(plus "$tr" 9)")
echo "INFO: restoration: all nodes $back msg/s 6-9 s after (n1 $(rate n1 D "$(plus "$tr" 6)" "$(plus "$tr" 9)"), n2 $(rate n2 D "$(plus "$tr" 6)" "$(plus "$tr" 9)"), n3 $(rate n3 D "$(plus "$tr" 6)" "$(plus "$tr" 9)")), highest 1 s rate $max (limit $RATE)"
t_check "rate restored after the failures stop ($back >= 0.7 x $RATE)" awk -v r="$back" -v l=$RATE 'BEGIN { exit !(r >= 0.7 * l) }'
t_check "restored once: never above the cluster-wide limit +10% (max 1 s rate $max, burst allowance 2)" \
  awk -v m="$max" -v l=$RATE 'BEGIN { exit !(m <= l * 1.1 + 2) }'
# A destination without any limit backs off too: from the rate it was seen to send at. Nodes 2
# and 3 get a steady trickle for free.test (submission-bound, about 2 x 12 msg/s); then node 1
# gets a batch that the sink refuses (451): node 1 cuts its observed rate, the cut is shared,
# and nodes 2 and 3 put a rate (their own observed rate, scaled) on the destination although
# they see no failure.
$PY - <<EOF >/dev/null 2>&1 &
import smtplib, time
ss = [smtplib.SMTP("127.0.0.1", $BASE + 1 + i) for i in (2, 3)]
end = time.time() + 9
k = 0
while time.time() < end:
    for s in ss:
        s.sendmail("a@src.test", ["u%d@free.test" % k], "Subject: u%d\r\n\r\nbody\r\n" % k)
    k += 1
    time.sleep(1 / 12)
EOF
TRICKLE=$!; T_PIDS+=("$TRICKLE")
sleep 3   # measurement window
tu=$(now)
free0=$(rate 'n[23]' U "$(plus "$tu" -2)" "$tu")
$PY - <<EOF || t_fail "submission to node 1"
import smtplib
s = smtplib.SMTP("127.0.0.1", $BASE + 2)
for k in range(20):
    s.sendmail("a@src.test", ["x%d@free.test" % k], "Subject: x%d\r\n\r\nbody\r\n" % k)
s.quit()
EOF
t_check "node 1 cuts the unlimited destination (log)" t_wait_for 5 grep -q "cluster backoff=cut dest=route:free.test" n1.log
t_check "node 3 applies it" t_wait_for 3 grep -q "dest=route:free.test[^ ]* event=backoff rate_factor_permille=[1-9][0-9]* cuts=0 rate_mps=[1-9]" n3.log
ctl 3 --json cluster show >show3.json
t_check "cluster show on node 3 lists the unlimited destination with its factor" $PY -c "
import json,sys; r=json.load(open('show3.json')); r=r.get('result', r)
d=[x for x in r['destinations'] if x['destination']=='route:free.test'][0]
sys.exit(not (0 < d.get('backoff_permille', 1000) < 1000))"
t_check "node 2 applies it" t_wait_for 3 grep -q "dest=route:free.test[^ ]* event=backoff rate_factor_permille=[1-9][0-9]* cuts=0 rate_mps=[1-9]" n2.log
c1=$(tod n1.log "dest=route:free.test[^ ]* event=backoff rate_factor_permille=[1-9][0-9]* cuts=1")
lag=0
for i in 2 3; do
  a=$(tod n$i.log "dest=route:free.test[^ ]* event=backoff rate_factor_permille=[1-9][0-9]* cuts=0 rate_mps=[1-9]")
  lag=$(awk -v a="$a" -v c="$c1" -v l="$lag" 'BEGIN { d = a - c; print (d > l ? d : l) }')
done
t_check "nodes 2 and 3 put a rate on the unlimited destination within a second of node 1's cut ($lag s)" \
  awk -v l="$lag" 'BEGIN { exit !(l >= 0 && l < 1.0) }'
tc=$(now)
sleep 1.5   # observation window (INFO only: the trickle's own rate varies with the machine's load)
free1=$(rate 'n[23]' U "$(plus "$tc" 0)" "$(plus "$tc" 1.5)")
echo "INFO: unlimited free.test: nodes 2+3 $free0 msg/s before, $free1 msg/s during node 1's cut (applied after $lag s); rates put on it:"
grep -h "dest=route:free.test[^ ]* event=backoff" n2.log n3.log | head -4 | sed 's/^/INFO:   /'
wait "$TRICKLE" 2>/dev/null
for i in 1 2 3; do kill -TERM "${PIDS[$i]}"; done
for i in 1 2 3; do T_RC=timeout; t_wait_exit "${PIDS[$i]}" 10 >/dev/null; t_check "node $i exits 0" [ "$T_RC" = 0 ]; done
t_done
