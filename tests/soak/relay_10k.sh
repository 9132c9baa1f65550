#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make soak: 10,000 messages from 64 concurrent sessions through dpmaild (posix backend, two
# workers) to a sink MX: every message delivered exactly once, byte-identical, DKIM-signed.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
t_tmpdir D
cd "$D" || exit 1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in rsa.pem -pubout -outform DER 2>/dev/null | base64 -w0)" > rsa.txt
IN=$(( 12600 + RANDOM % 50 )); MX=$((IN + 100))
cat >cfg.yaml <<EOF2
eal: {file_prefix: soak$$, memory_mb: 128, lcores: "0@0,1@1,2@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1, 2], idle_sleep_us: 50}
control: {admin_socket: $D/admin.sock}
smtp: {hostname: relay.test, listen: [{port: $IN, tls: none}]}
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $D/spool, min_free_mb: 1}
dns: {forwarders: ["127.0.0.1@9"]}   # no lookup ever leaves the machine
dkim: {keys: [{domain: example.com, selector: s1, key: $D/rsa.pem}]}
delivery: {routes: [{domain: "*", hosts: ["[127.0.0.1]:$MX"]}]}
EOF2
t_bg SINK $PY "$T_ROOT/tests/tools/mx_sink.py" --port $MX --dir "$D/mx"
t_bg PID "$DPMAILD" -c cfg.yaml
t_wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IN" || { t_fail "dpmaild up"; exit 1; }
start=$(date +%s)
$PY - "$IN" >load.out 2>&1 <<'PY'
import smtplib, sys, threading
port = int(sys.argv[1])
def run(t):
    s = smtplib.SMTP("127.0.0.1", port, timeout=120)
    for i in range(157):
        n = t * 157 + i
        body = ("From: a@example.com\r\nTo: r@dest.test\r\nMessage-ID: <s%d@example.com>\r\n\r\n"
                "..dot\r\ncaf\xc3\xa9 %d\r\n%s\r\n" % (n, n, "w" * 998)).encode("latin-1")
        s.sendmail("a@example.com", ["r%d@dest.test" % n], body)
    s.quit()
ts = [threading.Thread(target=run, args=(t,)) for t in range(64)]
[t.start() for t in ts]; [t.join() for t in ts]
print("sent", 64 * 157)
PY
t_check "10,048 messages accepted from 64 sessions" grep -qx 'sent 10048' load.out
t_check "all delivered" t_wait_for 600 bash -c "[ \$(ls mx | grep -c eml) -ge 10048 ]"
echo "elapsed $(( $(date +%s) - start ))s"
$PY - <<'PY' >check.out
import glob, re
seen = {}
for f in glob.glob("mx/*.eml"):
    b = open(f, "rb").read()
    m = re.search(rb"Message-ID: <s(\d+)@", b)
    n = int(m.group(1))
    want = ("..dot\ncaf\xc3\xa9 %d\n%s\n" % (n, "w" * 998)).encode("latin-1")
    ok = b.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1] == want
    seen[n] = seen.get(n, 0) + (1 if ok else 1000)
print("unique", len(seen), "dups", sum(1 for v in seen.values() if v == 2), "bad", sum(1 for v in seen.values() if v >= 1000))
PY
t_check "exactly once, byte-identical" grep -qx 'unique 10048 dups 0 bad 0' check.out
t_done
