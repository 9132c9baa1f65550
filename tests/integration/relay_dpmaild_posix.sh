#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# dpmaild itself (posix backend, two worker lcores) as the inbound relay: the snapshot builder
# loads TLS and DKIM from the config, every worker listens (SO_REUSEPORT), messages from swaks
# over STARTTLS are DKIM-signed and on disk when the 250 comes; a reload that names a broken
# DKIM key is refused and the running snapshot keeps signing.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
CTL=$BUILD/dpmailctl
RELAY=$BUILD/tests/tools/relay_posix
PY=/usr/bin/python3
command -v swaks >/dev/null || t_skip "swaks missing"
t_tmpdir D
cd "$D" || exit 1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in rsa.pem -pubout -outform DER 2>/dev/null | base64 -w0)" > rsa.txt
openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj /CN=relay.test 2>/dev/null
PORT=$(( 12470 + RANDOM % 20 ))
write_cfg() {
  cat >cfg.yaml <<EOF
eal: {file_prefix: rlyposix$$, memory_mb: 128, lcores: "0@0,1@1,2@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1, 2], idle_sleep_us: 100}
control: {admin_socket: $D/admin.sock}
smtp:
  hostname: relay.test
  listen: [{port: $PORT, tls: starttls}]
relay: {clients: [{network: 127.0.0.0/8}]}
tls: {certificates: [{cert: $D/tls.crt, key: $D/tls.key}]}
spool: {dir: $D/spool, min_free_mb: 1}
dkim: {keys: [{domain: example.com, selector: s1, key: $1}]}
# Delivery must not leave this machine: the only route is a closed local port (messages stay
# queued, which is what this test reads back) and DNS goes nowhere but loopback.
delivery: {routes: [{domain: "*", hosts: ["[127.0.0.1]:9"]}]}
dns: {forwarders: ["127.0.0.1@9"]}
EOF
}
write_cfg "$D/rsa.pem"
t_bg PID "$DPMAILD" -c cfg.yaml
t_check "dpmaild (posix) accepts SMTP" t_wait_for 10 bash -c "swaks --server 127.0.0.1:$PORT --quit-after EHLO >/dev/null 2>&1"
ok=0
for i in $(seq 1 12); do
  swaks --server 127.0.0.1:$PORT --tls --from a@example.com --h-From a@example.com --to r$i@dest.test \
    --body "message $i" >s$i 2>&1 && grep -q '^<~  250 2.0.0 Ok: queued as' s$i && ok=$((ok + 1))
done
t_check "12 messages over STARTTLS queued" [ $ok -eq 12 ]
# A reload naming a broken key is refused; the running snapshot stays and keeps signing.
printf 'not a key\n' > bad.pem
write_cfg "$D/bad.pem"
"$CTL" -s "$D/admin.sock" reload >reload.out 2>&1; rc=$?
t_check "reload with a broken DKIM key refused (exit 1, names the file)" bash -c "[ $rc -eq 1 ] && grep -q bad.pem reload.out"
swaks --server 127.0.0.1:$PORT --tls --from a@example.com --h-From a@example.com --to after@dest.test >s13 2>&1
t_check "still accepting and signing after the refused reload" grep -q '^<~  250 2.0.0 Ok: queued as' s13
# Busy-turn attribution: the spool's and the sockets' work counted, no turn left "runnable"
# after 13 messages (the loop would spin), the sources within the busy turns.
t_check "stats: busy turns attributed to their sources" bash -c "'$CTL' -s '$D/admin.sock' --json stats | $PY -c '
import json,sys; t=json.load(sys.stdin)[\"total\"]
busy=t[\"loop_turns_total\"]-t[\"loop_idle_turns_total\"]
assert t[\"loop_busy_spool_turns_total\"]>0 and t[\"loop_busy_sock_turns_total\"]>0, t
assert t[\"loop_busy_runnable_turns_total\"]<1000, t
assert max(t[\"loop_busy_\"+k+\"_turns_total\"] for k in (\"sock\",\"smtp\",\"delivery\",\"spool\",\"runnable\"))<=busy, t'"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild exits 0 on SIGTERM" [ "$T_RC" = 0 ]
# Each worker keeps its own segments: read both back; every acknowledged message is there.
mkdir dump
total=0
for core in 0 1; do
  "$RELAY" dump --spool "$D/spool" --core $core --out "$D/dump" >dump$core.out 2>&1
  total=$((total + $(sed -n 's/^LIVE //p' dump$core.out)))
done
t_check "all 13 acknowledged messages are in the two workers' spools" [ "$total" -eq 13 ]
$PY "$T_ROOT/tests/tools/dkim_verify.py" --expect 1 --txt s1._domainkey.example.com=rsa.txt dump/*.eml >verify.out 2>&1
t_check "dkimpy verifies all 13 messages" bash -c "[ $? -eq 0 ] && [ $(grep -c ' ok$' verify.out) -eq 13 ]"
t_done
