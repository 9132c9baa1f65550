#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Postfix on both sides of dpmaild (posix backend), all on loopback:
#   swaks -> postfix A (submitting MTA, relayhost = dpmaild, STARTTLS)
#         -> dpmaild (DKIM, spool, delivery) -> postfix B (receiving MX, STARTTLS)
#         -> mx_sink (where the test reads the result)
# Checks that every message arrives, that both hops into and out of dpmaild used TLS (from the
# Postfix logs), and that the DKIM signature dpmaild made still verifies after Postfix B.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
command -v postfix >/dev/null || t_skip "postfix missing"
command -v swaks >/dev/null || t_skip "swaks missing"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
t_tmpdir D
cd "$D" || exit 1
chmod 755 "$D"
B=$(( 13400 + (RANDOM % 40) * 5 ))
PA=$B; IN=$((B + 1)); PB=$((B + 2)); PS=$((B + 3))
openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj /CN=mx.test 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in dkim.pem -pubout -outform DER 2>/dev/null | base64 -w0)" >dkim.txt
chmod 644 tls.key tls.crt

# postfix_instance NAME PORT RELAYHOST: a private Postfix (own config and queue) on 127.0.0.1.
POSTFIXES=()
postfix_instance() {
  local n=$1 port=$2 relay=$3 d=$D/$1
  mkdir -p "$d/etc" "$d/queue" "$d/data"
  chown postfix "$d/data"
  cat >"$d/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $n.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = $relay
smtp_dns_support_level = disabled
smtp_host_lookup = native
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = $d/maillog
maillog_file_prefixes = /tmp
smtpd_tls_cert_file = $D/tls.crt
smtpd_tls_key_file = $D/tls.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_loglevel = 1
syslog_name = postfix-$n
CONF
  cat >"$d/etc/master.cf" <<CONF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
  postfix -c "$d/etc" start >"$d/start.log" 2>&1 || { cat "$d/start.log"; return 1; }
  POSTFIXES+=("$d/etc")
}
stop_postfixes() { for e in "${POSTFIXES[@]}"; do postfix -c "$e" stop >/dev/null 2>&1; done; }
trap 'stop_postfixes; t_cleanup' EXIT

cat >cfg.yaml <<EOF
eal: {file_prefix: rlypf$$, memory_mb: 128}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 100}
control: {admin_socket: $D/admin.sock}
smtp: {hostname: relay.test, listen: [{port: $IN, tls: starttls}]}
relay: {clients: [{network: 127.0.0.0/8}]}
tls: {certificates: [{cert: $D/tls.crt, key: $D/tls.key}]}
spool: {dir: $D/spool, min_free_mb: 1}
dns: {forwarders: ["127.0.0.1@9"]}
dkim: {keys: [{domain: example.com, selector: s1, key: $D/dkim.pem}]}
delivery: {routes: [{domain: "*", hosts: ["[127.0.0.1]:$PB"]}]}
EOF
t_bg SINK $PY "$T_ROOT/tests/tools/mx_sink.py" --port $PS --dir "$D/mx"
t_bg PID "$DPMAILD" -c cfg.yaml
t_check "postfix A (submitting MTA) starts" postfix_instance pfa $PA "[127.0.0.1]:$IN"
t_check "postfix B (receiving MX) starts" postfix_instance pfb $PB "[127.0.0.1]:$PS"
t_wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$IN" || t_fail "dpmaild listening"
for i in 1 2 3 4 5; do
  swaks --server 127.0.0.1:$PA --from a@example.com --h-From a@example.com --to "u$i@dest.test" \
    --body "via postfix $i" >s$i 2>&1
done
t_check "postfix A accepted 5 messages" bash -c "[ \$(grep -l '^<-  250 2.0.0 Ok: queued' s? | wc -l) -eq 5 ]"
t_check "all 5 reach the sink through dpmaild and postfix B" t_wait_for 60 bash -c "[ \$(ls mx/*.eml 2>/dev/null | wc -l) -ge 5 ]"
t_check "postfix A -> dpmaild used TLS" grep -q 'TLS connection established to 127.0.0.1' pfa/maillog
t_check "dpmaild -> postfix B used TLS" grep -q 'TLS connection established from' pfb/maillog
$PY "$T_ROOT/tests/tools/dkim_verify.py" --expect 1 --txt s1._domainkey.example.com=dkim.txt mx/*.eml >verify.out 2>&1
t_check "dpmaild's DKIM signature verifies after both Postfix hops" bash -c "[ \$(grep -c ' ok\$' verify.out) -eq 5 ]"
t_done
