#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The relay end to end, the same checks on both backends (BACKENDS="dpdk posix" by default):
#   dpdk:  two worker lcores (software RSS over one TAP port), our TCP/IP stack both ways;
#   posix: two worker lcores over kernel sockets (SO_REUSEPORT), addresses on a veth link;
# STARTTLS in and out, DKIM, an encrypted spool, delivery to an MX sink in the namespace. Real clients: swaks, python smtplib (8 sessions x 25
# messages), postfix's smtp-source. Checks exactly-once delivery with byte-identical bodies and
# valid DKIM, the open-relay catalogue, SMTP smuggling endings and STARTTLS command injection.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
command -v swaks >/dev/null || t_skip "swaks missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
run_backend() {
local BK=$1 EXTRA_CLIENT=""
# posix: clients in the namespace reach 198.18.0.2 over the kernel's local route, so their source
# address is 198.18.0.2 itself unless they bind one; it is a client network like 198.18.0.1.
[ "$BK" = posix ] && EXTRA_CLIENT=", {network: 198.18.0.2/32, senders: [example.com]}"
NS=rly${BK:0:1}$$
t_tmpdir D
cd "$D" || return 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout relay.key -out relay.crt \
  -days 2 -subj /CN=relay.test 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mx.key -out mx.crt \
  -days 2 -subj /CN=mx.test 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in dkim.pem -pubout -outform DER 2>/dev/null | base64 -w0)" >dkim.txt
head -c 32 /dev/urandom >spool.key
cat >cfg.yaml <<EOF
eal: {vdevs: ["net_tap0,iface=dtap0"], memory_mb: 256, file_prefix: $NS, lcores: "0@0,1@1,2@1"}
port: {device: net_tap0, ipv4: 198.18.0.2/24, gateway: 198.18.0.1}
dataplane: {backend: $BK, main_lcore: 0, workers: [1, 2], idle_sleep_us: 100}
dns: {forwarders: ["127.0.0.1@9"]}
control: {admin_socket: $D/admin.sock}
smtp: {hostname: relay.test, listen: [{port: 25, tls: starttls}]}
relay: {clients: [{network: 198.18.0.1/32, senders: [example.com]}$EXTRA_CLIENT]}
tls: {certificates: [{cert: $D/relay.crt, key: $D/relay.key}]}
dkim: {keys: [{domain: example.com, selector: s1, key: $D/dkim.pem}]}
spool: {dir: $D/spool, encrypt: true, keys: [{id: 1, file: $D/spool.key}], min_free_mb: 1}
delivery: {routes: [{domain: "*", hosts: ["[198.18.0.1]:2525"]}]}
EOF
t_ns "$NS"
X="ip netns exec $NS"
if [ "$BK" = posix ]; then
  # the kernel holds every address: the relay's (198.18.0.2), the MX's and a non-client's
  # (a veth pair inside the namespace: this kernel has no dummy links)
  ip -n "$NS" link add dtap0 type veth peer name dtap1
  ip -n "$NS" addr add 198.18.0.2/24 dev dtap0
  ip -n "$NS" link set dtap0 up
  ip -n "$NS" link set dtap1 up
fi
t_bg PID $X "$DPMAILD" -c cfg.yaml
t_check "[$BK] dpmaild starts (2 workers)" t_wait_for 30 ip -n "$NS" link show dtap0
ip -n "$NS" addr add 198.18.0.1/24 dev dtap0
ip -n "$NS" addr add 198.18.0.3/24 dev dtap0
ip -n "$NS" link set dtap0 up
t_bg SINK $X $PY "$T_ROOT/tests/tools/mx_sink.py" --host 198.18.0.1 --port 2525 --dir "$D/mx" \
  --tls mx.crt mx.key
t_check "[$BK] SMTP answers on 198.18.0.2:25 (our TCP stack)" \
  t_wait_for 30 $X swaks --server 198.18.0.2:25 --quit-after EHLO

$X swaks --server 198.18.0.2:25 --tls --from a@example.com --h-From a@example.com --to one@dest.test \
  --body "over tls" >s1 2>&1
t_check "[$BK] swaks over STARTTLS: queued" grep -q '^<~  250 2.0.0 Ok: queued as' s1

$X $PY - >load.out 2>&1 <<'PY'
import smtplib, threading
def run(t, out):
    s = smtplib.SMTP("198.18.0.2", 25, timeout=30)
    s.starttls(); s.ehlo("c.test")
    for i in range(25):
        n = t * 25 + i
        body = ("From: a@example.com\r\nTo: r%d@dest.test\r\nSubject: m%d\r\nMessage-ID: <m%d@example.com>\r\n\r\n"
                "..dot\r\n.\r\ncaf\xc3\xa9 %d\r\n%s\r\n" % (n, n, n, n, "z" * 990)).encode("latin-1")
        s.sendmail("a@example.com", ["r%d@dest.test" % n], body)
        out[n] = body
    s.quit()
out = {}
ts = [threading.Thread(target=run, args=(t, out)) for t in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
for n, b in out.items():
    open("sent-%d.eml" % n, "wb").write(b)
print("sent", len(out))
PY
t_check "[$BK] smtplib: 200 messages over STARTTLS from 8 sessions accepted" grep -qx 'sent 200' load.out
t_check "[$BK] 201 messages delivered over our TCP to the MX" t_wait_for 90 bash -c "[ \$(ls mx/*.eml 2>/dev/null | wc -l) -ge 201 ]"
$PY "$T_ROOT/tests/tools/compare_bodies.py" 'sent-*.eml' 'mx/*.eml' >bodies.out 2>&1
t_check "[$BK] exactly once, byte-identical bodies (dots, 8-bit, 990-octet lines)" grep -qx 'unique 200 dups 0 bad 0' bodies.out
t_check "[$BK] delivered over TLS to the MX" bash -c "! grep -qx 'tls no' mx/*.env"
$PY "$T_ROOT/tests/tools/dkim_verify.py" --expect 1 --txt s1._domainkey.example.com=dkim.txt mx/*.eml >verify.out 2>&1
t_check "[$BK] dkimpy verifies all 201 messages at the sink" bash -c "[ \$(grep -c ' ok\$' verify.out) -eq 201 ]"

# Open-relay catalogue and sender policy.
$X swaks --server 198.18.0.2:25 --local-interface 198.18.0.3 --from a@example.com --to x@dest.test >r1 2>&1
t_check "[$BK] a host outside the client networks cannot relay (554 5.7.1)" grep -q '^<\*\* 554 5.7.1' r1
$X $PY - >relay.out 2>&1 <<'PY'
import socket
def talk(cmds, src="198.18.0.1"):
    c = socket.create_connection(("198.18.0.2", 25), timeout=10, source_address=(src, 0))
    f = c.makefile("rb")
    f.readline()
    c.sendall(cmds)
    c.shutdown(socket.SHUT_WR)
    r = f.read().decode(errors="replace")
    c.close()
    return r
for rcpt in ["user%host@dest.test", "@a.test:u@dest.test", '"u@dest.test"@relay.test', "u@[198.18.0.9]"]:
    r = talk(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<" + rcpt.encode() + b">\r\nQUIT\r\n", "198.18.0.3")
    print("trick", rcpt, "refused" if "554 5.7.1" in r or " 5" in r.split("\r\n")[-3] else "ACCEPTED")
r = talk(b"EHLO c\r\nMAIL FROM:<a@evil.test>\r\nQUIT\r\n")
print("foreign-sender", "refused" if "550 5.7.1" in r else "ACCEPTED")
evil = (b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@dest.test>\r\nDATA\r\n"
        b"From: a@example.com\r\n\r\nx\n.\nMAIL FROM:<a@example.com>\r\nRCPT TO:<smuggled@dest.test>\r\n"
        b"DATA\r\nFrom: a@example.com\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
r = talk(evil)
print("smuggle", r.count("queued as"))
PY
t_check "[$BK] relay tricks (%-hack, source route, quoted, IP literal) from a non-client: all refused" \
  bash -c "[ \$(grep -c '^trick .* refused' relay.out) -eq 4 ]"
t_check "[$BK] foreign sender domain refused" grep -qx 'foreign-sender refused' relay.out
t_check "[$BK] bare-LF smuggling ending never makes a message" grep -qx 'smuggle 0' relay.out
# STARTTLS injection: a command pipelined after STARTTLS must not run after the handshake.
$X $PY - >inject.out 2>&1 <<'PY'
import socket, ssl
c = socket.create_connection(("198.18.0.2", 25), timeout=10)
f = c.makefile("rb")
f.readline()
c.sendall(b"EHLO c\r\n")
while not f.readline().startswith(b"250 "):
    pass
c.sendall(b"STARTTLS\r\nMAIL FROM:<a@example.com>\r\n")
r = f.readline()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(c, server_hostname="relay.test")
tf = t.makefile("rb")
t.sendall(b"EHLO c\r\n")
while not tf.readline().startswith(b"250 "):
    pass
t.sendall(b"RCPT TO:<b@dest.test>\r\n")
print("starttls", r.decode().strip(), "| after:", tf.readline().decode().strip())
PY
t_check "[$BK] STARTTLS injection: the pipelined MAIL was discarded (RCPT gets 503)" grep -q '| after: 503 5.5.1' inject.out
cat inject.out

if [ -x /usr/sbin/smtp-source ]; then
  printf "From: a@example.com\nSubject: smtp-source\n\nbody\n" >msg.eml   # smtp-source adds the CR
  $X /usr/sbin/smtp-source -c -s 4 -m 40 -f a@example.com -t b@dest.test -S "Subject: x" \
    -F msg.eml 198.18.0.2:25 >ss.out 2>&1
  t_check "[$BK] smtp-source: 40 more messages delivered" t_wait_for 60 bash -c "[ \$(ls mx/*.eml | wc -l) -ge 241 ]"
fi
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 15 >/dev/null
t_check "[$BK] dpmaild exits 0 on SIGTERM" [ "$T_RC" = 0 ]
t_check "[$BK] the encrypted spool holds no plaintext of the messages" bash -c "! grep -rqa 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' spool/ && ! grep -rqa 'Message-ID: <m1' spool/"
}

for bk in ${BACKENDS:-dpdk posix}; do
  run_backend "$bk"
  kill -TERM "$SINK" 2>/dev/null
done
t_done
