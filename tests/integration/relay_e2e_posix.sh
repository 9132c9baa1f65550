#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole relay on the posix backend: clients -> dpmaild (SMTP in, DKIM, spool) -> delivery
# over a static route -> MX sinks (python aiosmtpd) on loopback. Checks: every message delivered
# exactly once with a byte-identical body and a DKIM signature dkimpy verifies; STARTTLS to a
# sink that offers it; a 451 sink defers and the retry delivers once it recovers, across a
# restart of dpmaild (spool recovery); a 550 recipient bounces with an RFC 3464 report to the
# sender; nothing is delivered twice.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
SINK=$T_ROOT/tests/tools/mx_sink.py
command -v swaks >/dev/null || t_skip "swaks missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in rsa.pem -pubout -outform DER 2>/dev/null | base64 -w0)" > rsa.txt
openssl req -x509 -newkey rsa:2048 -nodes -keyout mx.key -out mx.crt -days 2 -subj /CN=mx.test 2>/dev/null
B=$(( 12400 + (RANDOM % 25) * 2 ))   # two ports: the relay and a spare
IN=$B
P_OK=$((B + 300)); P_TLS=$((B + 301)); P_TMP=$((B + 302)); P_BNC=$((B + 303))

cat >cfg.yaml <<EOF
$(t_posix_yaml rlye2e$$ "$D" "$IN")
dkim: {keys: [{domain: example.com, selector: s1, key: $D/rsa.pem}]}
delivery:
  retry: {first: 1, cap: 2, jitter_pct: 0}
  routes:
    - {domain: ok.test, hosts: ["[127.0.0.1]:$P_OK"]}
    - {domain: tls.test, hosts: ["[127.0.0.1]:$P_TLS"]}
    - {domain: later.test, hosts: ["[127.0.0.1]:$P_TMP"]}
    - {domain: bounce.test, hosts: ["[127.0.0.1]:$P_BNC"]}
    - {domain: example.com, hosts: ["[127.0.0.1]:$P_OK"]}
EOF
t_bg S_OK $PY "$SINK" --port $P_OK --dir "$D/ok" >sok.out 2>&1
t_bg S_TLS $PY "$SINK" --port $P_TLS --dir "$D/tls" --tls "$D/mx.crt" "$D/mx.key" >stls.out 2>&1
t_bg S_TMP $PY "$SINK" --port $P_TMP --dir "$D/tmp" --reply 451 >stmp.out 2>&1
t_bg S_BNC $PY "$SINK" --port $P_BNC --dir "$D/bnc" --rcpt-reply nobody@bounce.test=550 >sbnc.out 2>&1
t_wait_for 10 grep -q listening sok.out && t_wait_for 10 grep -q listening stmp.out
t_bg PID "$DPMAILD" -c cfg.yaml
t_check "dpmaild relays on the posix backend" t_wait_for 10 bash -c "swaks --server 127.0.0.1:$IN --quit-after EHLO >/dev/null 2>&1"

# 200 messages from 8 concurrent sessions, with dot-leading, 8-bit and long lines.
$PY - "$IN" >load.out 2>&1 <<'PY'
import smtplib, sys, threading
port = int(sys.argv[1])
def run(t, out):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(25):
        n = t * 25 + i
        body = ("From: a@example.com\r\nTo: r%d@ok.test\r\nSubject: m%d\r\nMessage-ID: <m%d@example.com>\r\n\r\n"
                ".dot line\r\ncaf\xc3\xa9 %d\r\n%s\r\n" % (n, n, n, n, "y" * 900)).encode("latin-1")
        s.sendmail("a@example.com", ["r%d@ok.test" % n], body)
        out[n] = body
    s.quit()
out = {}
ts = [threading.Thread(target=run, args=(t, out)) for t in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
for n, b in out.items():
    open("sent-%d.eml" % n, "wb").write(b)
print("sent", len(out))
PY
t_check "200 messages accepted" grep -qx 'sent 200' load.out
t_check "200 messages delivered to the sink" t_wait_for 60 bash -c "[ \$(ls ok/*.eml 2>/dev/null | wc -l) -ge 200 ]"
$PY "$T_ROOT/tests/tools/compare_bodies.py" 'sent-*.eml' 'ok/*.eml' >bodies.out 2>&1
t_check "each message exactly once with a byte-identical body" grep -qx 'unique 200 dups 0 bad 0' bodies.out
$PY "$T_ROOT/tests/tools/dkim_verify.py" --expect 1 --txt s1._domainkey.example.com=rsa.txt ok/*.eml >verify.out 2>&1
t_check "dkimpy verifies every delivered message" bash -c "[ \$(grep -c ' ok\$' verify.out) -ge 200 ] && ! grep -q FAIL verify.out"

swaks --server 127.0.0.1:$IN --from a@example.com --h-From a@example.com --to x@tls.test >s_tls 2>&1
t_check "delivered over STARTTLS to a sink that offers it" t_wait_for 20 bash -c "grep -qx 'tls yes' tls/000001.env"

# A 451 destination: deferred, retried; dpmaild restarts in between (the spool recovers it).
swaks --server 127.0.0.1:$IN --from a@example.com --h-From a@example.com --to y@later.test >s_tmp 2>&1
t_check "451 answered by the sink (attempt seen)" t_wait_for 20 bash -c "grep -q '^451 ' tmp/log"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly with a deferred message queued" [ "$T_RC" = 0 ]
kill -TERM "$S_TMP"; wait "$S_TMP" 2>/dev/null
t_bg S_TMP2 $PY "$SINK" --port $P_TMP --dir "$D/tmp" >stmp2.out 2>&1
t_wait_for 10 grep -q listening stmp2.out
t_bg PID2 "$DPMAILD" -c cfg.yaml
t_check "after a restart the deferred message is delivered once the MX recovers" \
  t_wait_for 30 bash -c "ls tmp/*.eml >/dev/null 2>&1"

# A 550 recipient bounces: a DSN goes to the sender (example.com routes to the ok sink).
swaks --server 127.0.0.1:$IN --from a@example.com --h-From a@example.com --to nobody@bounce.test \
  --header "Message-ID: <bounceme@example.com>" >s_bnc 2>&1
t_check "a DSN reaches the sender" t_wait_for 20 bash -c "grep -l 'report-type=delivery-status' ok/*.eml >/dev/null 2>&1"
dsn=$(grep -l 'report-type=delivery-status' ok/*.eml | head -1)
$PY - "$dsn" "${dsn%.eml}.env" >dsn.out 2>&1 <<'PY'
import email, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read())
env = open(sys.argv[2]).read()
parts = [p.get_content_type() for p in m.walk()]
st = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
blocks = st.get_payload()
rcpt = blocks[1]
ok = (m.get_content_type() == "multipart/report" and m.get_param("report-type") == "delivery-status"
      and "text/plain" in parts and rcpt["Action"] == "failed" and rcpt["Status"].startswith("5.")
      and "nobody@bounce.test" in rcpt["Final-Recipient"] and "from <>" in env.replace("from \n", "from <>\n")
      and "to a@example.com" in env)
print("dsn", "ok" if ok else "bad %s %s %s" % (parts, dict(rcpt), env))
PY
t_check "the DSN is a valid RFC 3464 report, from <>, naming the failed recipient" grep -qx 'dsn ok' dsn.out
cat dsn.out
t_check "the 550 message was never delivered" bash -c "! ls bnc/*.eml >/dev/null 2>&1"
t_done
