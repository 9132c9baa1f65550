#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delivery against hostile MX hosts (tests/tools/dlv_hostile.py) and across a crash.
# Part 1: one message to each of: an over-long reply line, endless continuation lines, binary
# garbage, invalid reply codes, 421 in the middle of the transaction, a connection dropped after
# the message data, and a server that dribbles its replies byte by byte. dpmaild must survive
# every one; each hostile destination ends as a deferral (never a bounce, never a crash); the
# dribbling server gets its message.
# Part 2: 40 messages to a sink that answers the final dot after 150 ms; dpmaild is killed with
# SIGKILL in the middle and restarted: every message arrives, none more than twice (at most one
# duplicate per recipient: only transactions in flight at the crash can repeat).
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
IN=13180
MODES="longline endless garbage badcode mid421 dropdata dribble"
routes=""
p=13181
for m in $MODES; do
  routes+="    - {domain: $m.test, hosts: [\"[127.0.0.1]:$p\"]}"$'\n'
  t_bg H_$m $PY "$T_ROOT/tests/tools/dlv_hostile.py" --port $p --mode $m --log "$D/$m.log" >"$m.out" 2>&1
  p=$((p + 1))
done
P_SLOW=$p
t_bg S_SLOW $PY "$T_ROOT/tests/tools/mx_sink.py" --port $P_SLOW --dir "$D/slow" --delay 0.15 >slow.out 2>&1
for m in $MODES slow; do t_wait_for 10 grep -q listening $m.out || t_fail "$m server starts"; done

{ dlv_cfg dlvho$$; cat <<EOF
delivery:
  retry: {first: 1, cap: 1, jitter_pct: 0}
  shaping:
    - {destination: slow.test, connections: 4}
  routes:
$routes    - {domain: slow.test, hosts: ["[127.0.0.1]:$P_SLOW"]}
EOF
} >cfg.yaml
t_bg PID "$DPMAILD" -c cfg.yaml >dpmaild.log 2>&1
alive() { $PY -c "import smtplib; smtplib.SMTP('127.0.0.1', $IN, timeout=2).quit()"; }
t_check "dpmaild relays" t_wait_for 10 alive
send() { # n rcpt-domain
  $PY - "$IN" "$@" <<'PY'
import smtplib, sys
port, n, dom = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
for i in range(n):
    s.sendmail("a@example.com", ["u%d@%s" % (i, dom)],
               ("From: a@example.com\r\nMessage-ID: <%s.%d@x>\r\n\r\nhi\r\n" % (dom, i)).encode())
s.quit()
PY
}
for m in $MODES; do send 1 $m.test; done
for m in $MODES; do
  t_check "$m: the server was contacted" t_wait_for 20 grep -q '^conn' $m.log
done
t_check "dribble: a server answering byte by byte still gets its message" \
  t_wait_for 30 grep -q '^accepted' dribble.log
t_check "six hostile destinations deferred (each message: a deferral, no outcome)" \
  t_wait_for 30 bash -c "[ \$(grep 'event=deferred' dpmaild.log | grep -o 'qid=[0-9A-F]*' | sort -u | wc -l) = 6 ]"
t_check "a 421 or a dropped connection is retried on the schedule (1 s here)" \
  t_wait_for 10 bash -c "grep -q 'event=deferred attempts=3 .*status=4.3.2' dpmaild.log && grep -q 'event=deferred attempts=3 .*status=4.4.2' dpmaild.log"
t_check "malformed replies defer with 4.5.0" bash -c "[ \$(grep -c 'event=deferred .*status=4.5.0' dpmaild.log) -ge 4 ]"
t_check "dpmaild survived and still relays" alive
t_check "no bounce from hostile replies" bash -c "! grep -q 'event=bounced' dpmaild.log"

# Part 2: a crash in the middle of deliveries.
send 40 slow.test
t_wait_for 20 bash -c "[ \$(ls slow/*.eml 2>/dev/null | wc -l) -ge 8 ]"
kill -KILL "$PID"; wait "$PID" 2>/dev/null
before=$(ls slow/*.eml 2>/dev/null | wc -l)
t_bg PID2 "$DPMAILD" -c cfg.yaml >>dpmaild.log 2>&1
t_check "after SIGKILL and a restart every message arrives" \
  t_wait_for 60 bash -c "$PY - <<'PY'
import glob, re, sys
ids = set(re.search(rb'Message-ID: <([^>]+)>', open(f, 'rb').read()).group(1) for f in glob.glob('slow/*.eml'))
sys.exit(0 if len(ids) >= 40 else 1)
PY"
$PY - <<'PY' >dups.out
import collections, glob, re
c = collections.Counter(re.search(rb"Message-ID: <([^>]+)>", open(f, "rb").read()).group(1)
                        for f in glob.glob("slow/*.eml"))
print("unique", len(c), "max", max(c.values()), "dups", sum(v - 1 for v in c.values()))
PY
cat dups.out
echo "delivered before the crash: $before"
t_check "no message more than twice; duplicates only from the 4 connections in flight" \
  bash -c "grep -qE '^unique 40 max [12] dups [0-4]$' dups.out"
kill -TERM "$PID2"; T_RC=timeout; t_wait_exit "$PID2" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvho-last; cp -a "$D" /tmp/dpmail-dlvho-last; }
t_done
