#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delivery under a provider's connection limit and to a dead destination, dpmaild posix:
#  - the receiving side (dpmail-bench sink) takes at most 2 connections and answers 421 at the
#    greeting beyond that. A refused extra connection is concurrency feedback: the messages
#    stay queued for the connections that work (no deferral). The retry schedule here starts
#    at 5 minutes, so any message deferred would miss the test's deadline: all must arrive.
#  - a destination where nothing listens: the messages are deferred, and the next attempt
#    comes when the retry schedule says (1 s here), not after a fixed minute-long hold.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
BENCH=$BUILD/dpmail-bench
[ -x "$BENCH" ] || t_skip "dpmail-bench not built"
t_tmpdir D
cd "$D" || exit 1
# three ports in 27600-27659 that nothing listens on now
for _ in $(seq 1 20); do
  IN=$(( 27600 + (RANDOM % 20) * 3 ))
  ss -Hltn "sport >= :$IN and sport <= :$((IN + 2))" | grep -q . || break
done
P_K=$((IN + 1)) P_DEAD=$((IN + 2))

config() {   # config FIRST_RETRY_S
  cat >cfg.yaml <<EOF
$(t_posix_yaml dlvbusy$$ "$D" "$IN")
delivery:
  retry: {first: $1, cap: 600, jitter_pct: 0}
  routes:
    - {domain: bench.test, hosts: ["[127.0.0.1]:$P_K"]}
    - {domain: dead.test, hosts: ["[127.0.0.1]:$P_DEAD"]}
EOF
}

t_bg S_K "$BENCH" sink --listen 127.0.0.1:$P_K --max-conns 2 --delay-ms 20 --json k.json \
  --json-interval-ms 100 >sk.out 2>&1
t_wait_for 10 grep -q listening sk.out || t_fail "the sink did not start"
config 300
t_bg PID "$DPMAILD" -c cfg.yaml >>dpmaild.log 2>&1
t_check "dpmaild listens" t_wait_for 10 bash -c "grep -q 'event=started workers=' dpmaild.log && exec 3<>/dev/tcp/127.0.0.1/$IN"

"$BENCH" load --server 127.0.0.1:$IN --sessions 8 --messages-per-session 10 --count 80 \
  --rcpt-domain bench.test --json load.json >load.out 2>&1
t_check "80 messages accepted" grep -q '80 accepted' load.out
t_check "all 80 reach the sink that allows 2 connections" t_wait_for 30 /usr/bin/python3 -c \
  "import json,sys; d=json.load(open('k.json')); sys.exit(d['message_ids']['unique'] < 80)"
t_check "extra connections were refused (421) and counted as concurrency feedback" \
  grep -q 'event=conn_refused_busy' dpmaild.log
t_check "no message was deferred for it" bash -c "! grep -q 'event=deferred' dpmaild.log"
t_check "the destination was never declared failed" bash -c "! grep -q 'event=all_hops_failed' dpmaild.log"

kill -TERM "$PID"; t_wait_exit "$PID" 10 >/dev/null
config 1
t_bg PID "$DPMAILD" -c cfg.yaml >>dpmaild.log 2>&1
t_wait_for 10 bash -c "[ \$(grep -c 'event=started workers=' dpmaild.log) -ge 2 ] && exec 3<>/dev/tcp/127.0.0.1/$IN"
"$BENCH" load --server 127.0.0.1:$IN --sessions 1 --messages-per-session 2 --count 2 \
  --rcpt-domain dead.test --json dead.json >dead.out 2>&1
t_check "2 messages to the dead destination accepted" grep -q '2 accepted' dead.out
t_check "the dead destination fails and its messages are deferred" \
  t_wait_for 10 grep -q 'event=deferred attempts=1 ' dpmaild.log
t_check "the retry comes on schedule (seconds), not after a minute-long hold" \
  t_wait_for 15 grep -q 'event=deferred attempts=2 ' dpmaild.log
[ "$T_FAILS" -eq 0 ] || tail -40 dpmaild.log
t_done
