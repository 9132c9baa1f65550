#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The inbound relay (SMTP engine + STARTTLS + DKIM + spool) on the posix backend, driven by real
# clients: swaks (plain, STARTTLS, pipelining), python smtplib, a raw BDAT client, postfix's
# smtp-source. Checks that every 250 is a message on disk (read back from the spool), that DKIM
# signatures verify with dkimpy, and that relay/sender/From policies and smuggling defences hold.
source "$(dirname "$0")/../lib/testlib.sh"
RELAY=$BUILD/tests/tools/relay_posix
[ -x "$RELAY" ] || t_skip "relay_posix not built"
command -v swaks >/dev/null || t_skip "swaks missing"
PY=/usr/bin/python3
t_tmpdir D
cd "$D" || exit 1

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in rsa.pem -pubout -outform DER 2>/dev/null | base64 -w0)" > rsa.txt
openssl genpkey -algorithm ED25519 -out ed.pem 2>/dev/null
echo "v=DKIM1; k=ed25519; p=$(openssl pkey -in ed.pem -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)" > ed.txt
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.crt \
  -days 2 -subj /CN=relay.test 2>/dev/null

# 127.0.0.1 relays for example.com only; 127.0.0.3 for any domain; 127.0.0.2 is not a client.
t_bg PID "$RELAY" serve --spool "$D/spool" --port 0 --hostname relay.test \
  --client 127.0.0.1/32=example.com,.example.com --client 127.0.0.3/32 \
  --dkim example.com:rsa1:rsa:"$D/rsa.pem" --dkim example.com:ed1:ed25519:"$D/ed.pem" \
  --cert "$D/tls.crt" --key "$D/tls.key" >out 2>err
t_check "relay listening" t_wait_for 5 grep -q '^listening port=' out
PORT=$(sed -n 's/^listening port=//p' out)
S="--server 127.0.0.1:$PORT --h-From a@example.com --from a@example.com"

swaks $S --to one@dest.test --body "plain body" >s1 2>&1
t_check "plain: 250 queued" grep -q '^<-  250 2.0.0 Ok: queued as' s1
swaks $S --to two@dest.test --tls --body "tls body" >s2 2>&1
t_check "STARTTLS: 220 then 250 queued" grep -q '^<-  220 2.0.0' s2
t_check "STARTTLS: message queued over TLS" grep -q '^<~  250 2.0.0 Ok: queued as' s2
swaks $S --to three@dest.test --pipeline --body "pipelined body" >s3 2>&1
t_check "pipelining: 250 queued" grep -q '250 2.0.0 Ok: queued as' s3

# Relay and sender policy.
swaks --server 127.0.0.1:$PORT --local-interface 127.0.0.2 --from a@example.com --to x@dest.test >s4 2>&1
t_check "non-client refused at RCPT (554 5.7.1)" grep -q '^<\*\* 554 5.7.1 Relay access denied' s4
swaks --server 127.0.0.1:$PORT --from a@evil.test --to x@dest.test >s5 2>&1
t_check "foreign sender domain refused (550 5.7.1)" grep -q '^<\*\* 550 5.7.1' s5
swaks --server 127.0.0.1:$PORT --from a@sub.example.com --h-From evil@other.test --to x@dest.test >s6 2>&1
t_check "foreign From: header refused at end of data" grep -q '^<\*\* 550 5.7.1 ' s6
swaks --server 127.0.0.1:$PORT --local-interface 127.0.0.3 --from a@any.test --to x@dest.test \
  --data $'Subject: no from\r\n\r\nbody\r\n' >s7 2>&1
t_check "message without From: refused (550 5.7.1)" grep -q '^<\*\* 550 5.7.1 Message must have exactly one' s7

# python smtplib, BDAT and smuggling through a raw socket.
$PY - "$PORT" >py.out 2>&1 <<'PY'
import smtplib, socket, sys
port = int(sys.argv[1])
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("client.test")
body = ("From: a@example.com\r\nTo: p@dest.test\r\nSubject: smtplib\r\n\r\n"
        ".leading dot line\r\n8bit: caf\xc3\xa9\r\n" + "x" * 990 + "\r\n").encode("latin-1")
r = s.sendmail("a@example.com", ["p1@dest.test", "p2@dest.test"], body)
print("smtplib", "ok" if r == {} else r)
s.quit()

def talk(lines):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = c.makefile("rb")
    out = [f.readline()]
    c.sendall(lines)
    c.shutdown(socket.SHUT_WR)
    out += f.readlines()
    c.close()
    return b"".join(out).decode()

msg = b"From: a@example.com\r\nSubject: bdat\r\n\r\nchunked body\r\n"
r = talk(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\n" +
         b"BDAT %d LAST\r\n" % len(msg) + msg + b"QUIT\r\n")
print("bdat", "ok" if "250 2.0.0 Ok: queued" in r else "bad " + r)
# Smuggling: a bare-LF end of data must never end the message or start a second one.
evil = (b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
        b"From: a@example.com\r\n\r\nfirst\n.\nMAIL FROM:<a@example.com>\r\n"
        b"RCPT TO:<smuggled@dest.test>\r\nDATA\r\nFrom: a@example.com\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
r = talk(evil)
print("smuggle", r.count("queued as"), "queued;", "refused" if "5.5.2" in r or "5.6.0" in r or "554" in r else "not refused")
PY
t_check "smtplib: dot-leading, 8-bit and 990-octet lines accepted" grep -q '^smtplib ok' py.out
t_check "BDAT LAST accepted" grep -q '^bdat ok' py.out
t_check "bare-LF smuggling: no message queued, refused" grep -q '^smuggle 0 queued; refused' py.out

if [ -x /usr/sbin/smtp-source ]; then
  before=$(grep -c '^QUEUED ' out)
  /usr/sbin/smtp-source -c -s 4 -m 20 -f a@example.com -t b@dest.test -S "Subject: x" \
    127.0.0.1:$PORT >ss 2>&1
  t_check "smtp-source: 20 messages from 4 sessions" t_wait_for 10 bash -c "[ \$(grep -c '^QUEUED ' out) -eq $((before + 20)) ]"
fi
cat py.out

kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "relay exits cleanly" [ "$T_RC" = 0 ]
queued=$(grep -c '^QUEUED ' out)

mkdir dump
"$RELAY" dump --spool "$D/spool" --out "$D/dump" >dump.out
t_check "every QUEUED message is in the spool ($queued)" grep -qx "LIVE $queued" dump.out
t_check "no smuggled recipient in the spool" bash -c '! grep -q smuggled dump/*.env'
f1=$(grep -l '^to one@dest.test' dump/*.env); f1=${f1%.env}.eml
t_check "plain message stored with its body" grep -q '^plain body' "$f1"
f2=$(grep -l '^to p1@dest.test' dump/*.env); f2=${f2%.env}.eml
t_check "smtplib: both recipients kept" grep -q '^to p2@dest.test' "${f2%.eml}.env"
t_check "dot-unstuffed on the way in" grep -q '^\.leading dot line' "$f2"
t_check "Received: header added" grep -qP '^\tby relay.test \(dpmail\) with ESMTP id [0-9a-f]{16};' "$f1"
f3=$(grep -l '^to two@dest.test' dump/*.env); f3=${f3%.env}.eml
t_check "Received: says ESMTPS after STARTTLS" grep -q 'with ESMTPS' "$f3"
# Every message carries an RSA and an Ed25519 signature that dkimpy verifies.
$PY "$T_ROOT/tests/tools/dkim_verify.py" --expect 2 --txt rsa1._domainkey.example.com=rsa.txt \
  --txt ed1._domainkey.example.com=ed.txt dump/*.eml >verify.out 2>&1
t_check "dkimpy verifies every signature (RSA + Ed25519) of every message" [ $? -eq 0 ]
t_check "dkimpy verified $((queued * 2)) signatures" [ "$(grep -c ' ok$' verify.out)" -eq $((queued * 2)) ]
t_done
