#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Operator actions on the delivery queues through dpmailctl (admin socket -> control thread ->
# the worker's command ring -> rows back): queue summary / list / show, flush (retry now instead
# of in 60 s), suspend (messages wait; summary says so) and resume, delete (no delivery, no DSN)
# and bounce (a DSN to the sender).
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
CTL=$BUILD/dpmailctl
PY=/usr/bin/python3
SINK=$T_ROOT/tests/tools/mx_sink.py
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
IN=13150; P_OK=13151; P_LATER=13152

{ dlv_cfg dlvops$$; cat <<EOF
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  routes:
    - {domain: ok.test, hosts: ["[127.0.0.1]:$P_OK"]}
    - {domain: example.com, hosts: ["[127.0.0.1]:$P_OK"]}
    - {domain: later.test, hosts: ["[127.0.0.1]:$P_LATER"]}
EOF
} >cfg.yaml
t_bg S_OK $PY "$SINK" --port $P_OK --dir "$D/ok" >ok.out 2>&1
t_bg S_LATER $PY "$SINK" --port $P_LATER --dir "$D/later" --reply 451 >later.out 2>&1
t_wait_for 10 grep -q listening ok.out && t_wait_for 10 grep -q listening later.out
t_bg PID "$DPMAILD" -c cfg.yaml >dpmaild.log 2>&1
ctl() { "$CTL" -s "$D/admin.sock" --json "$@"; }
t_check "dpmaild relays" t_wait_for 10 $PY -c "import smtplib; smtplib.SMTP('127.0.0.1', $IN, timeout=2).quit()"
send() { # rcpt...
  $PY - "$IN" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
for r in sys.argv[2:]:
    s.sendmail("a@example.com", [r], ("From: a@example.com\r\nMessage-ID: <%s>\r\n\r\nhi\r\n" % r).encode())
s.quit()
PY
}
jq_py() { $PY -c "import json,sys; d=json.load(sys.stdin); $1"; }

send l1@later.test l2@later.test l3@later.test l4@later.test l5@later.test
t_check "five messages deferred by the 451 sink" t_wait_for 20 bash -c "[ \$(grep -c 'event=deferred' dpmaild.log) -ge 5 ]"
ctl queue summary >sum.json
cat sum.json
t_check "queue summary: route:later.test with 5 deferred" jq_py \
  "r=[x for x in d['destinations'] if x['destination']=='route:later.test'][0]; sys.exit(0 if r['deferred']==5 and r['next_attempt_in_s']>30 else 1)" <sum.json
ctl queue list later.test >list.json
t_check "queue list later.test: 5 deferred messages" jq_py \
  "sys.exit(0 if len(d['messages'])==5 and all(m['state']=='deferred' for m in d['messages']) else 1)" <list.json
QIDS=($(jq_py "print(' '.join(m['qid'] for m in d['messages']))" <list.json))
ctl queue show "${QIDS[0]}" >show.json
t_check "queue show: sender, recipient and job state" jq_py \
  "sys.exit(0 if d['sender']=='a@example.com' and d['recipients'][0]['address'].endswith('@later.test') and d['jobs'][0]['state']=='deferred' else 1)" <show.json

ctl queue delete "${QIDS[0]}" >del.json
t_check "queue delete <qid>: one message removed" jq_py "sys.exit(0 if d['messages']==1 else 1)" <del.json
ctl queue bounce "${QIDS[1]}" >bnc.json
t_check "queue bounce <qid>: one message returned" jq_py "sys.exit(0 if d['messages']==1 else 1)" <bnc.json
t_check "the bounced message's DSN reaches the sender" \
  t_wait_for 20 bash -c "grep -l 'report-type=delivery-status' ok/*.eml 2>/dev/null | xargs grep -l 'returned to the sender by the operator'"

# The MX recovers; flush retries now rather than in 60 s.
kill -TERM "$S_LATER"; wait "$S_LATER" 2>/dev/null
t_bg S_LATER2 $PY "$SINK" --port $P_LATER --dir "$D/later" >later2.out 2>&1
t_wait_for 10 grep -q listening later2.out
ctl queue flush later.test >flush.json
t_check "queue flush later.test: 3 messages retried" jq_py "sys.exit(0 if d['messages']==3 else 1)" <flush.json
t_check "the 3 flushed messages are delivered at once" t_wait_for 10 bash -c "[ \$(ls later/*.eml 2>/dev/null | wc -l) = 3 ]"
t_check "the deleted message was never delivered and got no DSN" bash -c \
  "! grep -l '${QIDS[0]}' ok/*.eml 2>/dev/null | grep -q . && [ \$(grep -l 'report-type=delivery-status' ok/*.eml | wc -l) = 1 ]"

# Suspend: a new message waits; resume delivers it.
ctl suspend ok.test 1h >susp.json
send s1@ok.test
t_check "suspended destination: the message waits (summary: queued, suspended)" t_wait_for 10 bash -c \
  "$CTL -s $D/admin.sock --json queue summary | $PY -c \"import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(x['domain']=='ok.test' and x['suspended'] and x['queued']==1 and x['suspended_for_s']>3000 for x in d['destinations']) else 1)\""
t_check "nothing delivered while suspended" bash -c "! grep -l 's1@ok.test' ok/*.eml >/dev/null 2>&1"
ctl resume ok.test >res.json
t_check "resume: the message is delivered" t_wait_for 10 bash -c "grep -l 's1@ok.test' ok/*.eml"
t_check "queue show of an unknown id fails cleanly" bash -c "! $CTL -s $D/admin.sock queue show 00000000DEADBEEF >/dev/null 2>&1"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvops-last; cp -a "$D" /tmp/dpmail-dlvops-last; }
t_done
