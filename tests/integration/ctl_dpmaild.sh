#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The control plane inside dpmaild on a DPDK TAP port in a namespace: dpmailctl status and
# stats against the running daemon, reload through dpmailctl and SIGHUP (new snapshot seen by
# the worker; a new log level applied), an invalid file refused with file:line while the
# running snapshot stays, 50 reloads while 300 pings flow (none lost), Prometheus metrics
# scraped and parsed, accounting/audit rotation on SIGUSR1, orderly SIGTERM exit.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
CTL=$BUILD/dpmailctl
[ -x "$BUILD/dpmaild" ] && [ -x "$CTL" ] || t_skip "build first"
NS=ctldp$$   # unique: copies of this test may run at once; its loopback is private
t_ns $NS
t_tmpdir D
SOCK=$D/admin.sock
conf() { # $1 = log level
  cat <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: $NS
  memory_mb: 128
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.18.0.1
dataplane:
  workers: [1]
  mbufs: 2047
  idle_sleep_us: 100
log:
  level: $1
control:
  admin_socket: $SOCK
  audit_log: $D/audit.jsonl
  metrics_listen: 127.0.0.1
  metrics_port: 13020
accounting:
  dir: $D/acct
EOC
}
conf info >"$D/dpmaild.yaml"
LOG=$D/dpmaild.log
t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/dpmaild.yaml >$LOG 2>&1"
if ! t_wait_for 20 grep -q 'event=started' "$LOG"; then
  t_fail "dpmaild starts"; cat "$LOG"; exit 1
fi
t_ok "dpmaild starts"
ip -n $NS addr add 198.18.0.1/24 dev dtap0
ip -n $NS link set dtap0 up
ctl() { "$CTL" -s "$SOCK" "$@"; }

t_check "admin socket is 0600" test "$(stat -c %a "$SOCK")" = 600
ctl status >"$D/status.out"; cat "$D/status.out"
t_check "status: version, snapshot 1, worker lcore 1" bash -c "
grep -qx 'version: dpmail 0.1.0' '$D/status.out' && grep -qx 'snapshot_version: 1' '$D/status.out' &&
grep -qx 'lcores: 1' '$D/status.out'"
t_check "stats: the worker's loop counters" bash -c "'$CTL' -s '$SOCK' --json stats | python3 -c '
import json,sys; d=json.load(sys.stdin); assert d[\"cores\"][\"1\"][\"loop_turns_total\"]>0, d'"

conf debug >"$D/dpmaild.yaml"
t_check "dpmailctl reload publishes snapshot 2" bash -c "'$CTL' -s '$SOCK' reload | grep -qx 'snapshot_version: 2'"
t_check "the reloaded log level applies" bash -c "'$CTL' -s '$SOCK' log level | grep -qx 'level: debug'"

cp "$D/dpmaild.yaml" "$D/good.yaml"
sed -i 's/mtu: .*//; s/^  gateway: 198.18.0.1$/  gateway: 198.18.0.1\n  mtu: 99999/' "$D/dpmaild.yaml"
ctl reload >"$D/bad.out" 2>&1; rc=$?
cat "$D/bad.out"
t_check "invalid config refused with file:line and reason" \
  bash -c "[ $rc -eq 1 ] && grep -qE 'dpmaild.yaml:[0-9]+: key .port.mtu.' '$D/bad.out'"
t_check "running snapshot stays after the refusal" bash -c "'$CTL' -s '$SOCK' status | grep -qx 'snapshot_version: 2'"
cp "$D/good.yaml" "$D/dpmaild.yaml"
kill -HUP "$PID"
t_check "SIGHUP reloads (snapshot 3)" t_wait_for 5 bash -c "'$CTL' -s '$SOCK' status | grep -qx 'snapshot_version: 3'"

# reloads while traffic flows: the worker keeps answering, nothing is lost
ip netns exec $NS ping -c 300 -i 0.01 -W 2 -q 198.18.0.2 >"$D/ping.out" 2>&1 &
PING=$!
for i in $(seq 1 50); do ctl reload >/dev/null || break; done
wait $PING
tail -2 "$D/ping.out"
t_check "50 reloads during 300 pings: none lost" grep -q '300 packets transmitted, 300 received' "$D/ping.out"
t_check "status after 50 reloads: snapshot 53, old ones retired" bash -c "'$CTL' -s '$SOCK' --json status | python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d[\"snapshot_version\"]==53 and d[\"reloads\"]==52, d'"
t_check "retired snapshots are freed (grace periods end)" t_wait_for 5 bash -c "'$CTL' -s '$SOCK' --json status | python3 -c '
import json,sys; d=json.load(sys.stdin); assert d[\"snapshots_retired\"]==52, d'"

t_check "metrics scraped in the namespace parse" bash -c "ip netns exec $NS curl -sf http://127.0.0.1:13020/metrics | python3 '$T_ROOT/tests/tools/ctl_promcheck.py' dpmail_loop_turns_total dpmail_net_rx_packets_total"

# --- configuration changes through dpmailctl, published as snapshots, written back -------
snap() { "$CTL" -s "$SOCK" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_version"])'; }
v0=$(snap)
t_check "routes set publishes a new snapshot" bash -c "'$CTL' -s '$SOCK' routes set example.com '[198.18.0.5]:2525,mx2.example.com' | grep -qx 'snapshot_version: $((v0 + 1))'"
ctl routes list >"$D/routes.out"; cat "$D/routes.out"
t_check "routes list shows the route" grep -qE '^  example.com +\[198.18.0.5\]:2525,mx2.example.com +-$' "$D/routes.out"
ctl policy set example.com tls verify >/dev/null && ctl policy set example.com rate 50 >/dev/null
ctl policy show example.com >"$D/policy.out"; cat "$D/policy.out"
t_check "policy set/show" bash -c "grep -qx 'tls: verify' '$D/policy.out' && grep -qx 'rate: 50' '$D/policy.out'"
t_check "policy of another destination: defaults" bash -c "'$CTL' -s '$SOCK' policy show other.example | grep -qx 'tls: may'"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$D/dkim.pem" 2>/dev/null
t_check "keys add" ctl keys add example.org s1 "$D/dkim.pem"
t_check "keys list shows it" bash -c "'$CTL' -s '$SOCK' keys list | grep -q 'example.org  s1'"
v1=$(snap)
ctl keys add example.org s2 /nonexistent/key.pem >"$D/badkey.out" 2>&1; rc=$?
t_check "keys add with an unreadable file is refused, snapshot unchanged" \
  bash -c "[ $rc -eq 1 ] && grep -q 'not readable' '$D/badkey.out' && [ \"\$('$CTL' -s '$SOCK' --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"snapshot_version\"])')\" = $v1 ]"
t_check "routes del of an unknown route is refused" bash -c "! '$CTL' -s '$SOCK' routes del nosuch.example 2>/dev/null"
kill -HUP "$PID"
t_check "a reload keeps the admin changes" t_wait_for 5 bash -c "[ \$('$CTL' -s '$SOCK' --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"snapshot_version\"])') -gt $v1 ] && '$CTL' -s '$SOCK' routes list | grep -q example.com"
t_check "config write" ctl config write
t_check "written file holds the changes and validates" bash -c "grep -q 'mx2.example.com' '$D/dpmaild.yaml' && grep -q 'verify' '$D/dpmaild.yaml' && '$BUILD/dpmaild' -t -c '$D/dpmaild.yaml' && test -e '$D/dpmaild.yaml.bak'"
t_check "after write and reload the route comes from the file" bash -c "'$CTL' -s '$SOCK' reload >/dev/null && '$CTL' -s '$SOCK' routes list | grep -q example.com"

kill -USR1 "$PID"
t_check "SIGUSR1 rotates the audit log" t_wait_for 5 bash -c "ls '$D' | grep -q '^audit-.*\\.jsonl$'"
t_check "audit lines are JSON and name the reloads" python3 - "$D" <<'EOP'
import glob, json, sys
recs = [json.loads(l) for f in glob.glob(sys.argv[1] + '/audit*.jsonl') for l in open(f)]
assert sum(1 for r in recs if r['cmd'] == 'reload' and r['result'] == 'ok') == 52, len(recs)
assert any(r['cmd'] == 'reload' and r['result'] == 'error' for r in recs)
EOP
t_check "admin actions reach the accounting files" bash -c "cat '$D'/acct/acct*.jsonl | grep -q '\"event\":\"admin\"'"

kill -TERM "$PID"
# not in $(...): wait only works in the shell that started the process
t_wait_exit "$PID" 10 >"$D/rc"
rc=$(cat "$D/rc")
echo "exit status: $rc"; tail -3 "$LOG"
t_check "SIGTERM: exit 0" test "$rc" = 0
t_check "socket removed at exit" test ! -e "$SOCK"
t_done
