#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Control plane end to end through ctl_testd (the control loop with fake worker threads):
# dpmailctl against the admin socket (golden outputs, --json, errors, reload and SIGHUP,
# refusal of other users), the audit log, Prometheus metrics scraped with curl and checked by
# a parser, accounting lines and rotation on SIGUSR1, privacy erase, bash completion, and DNS
# answers reaching the workers through their rings from a real unbound on a free loopback port.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
CTL=$BUILD/dpmailctl
TESTD=$BUILD/tests/tools/ctl_testd
GOLD=$T_ROOT/tests/integration/ctl_golden
[ -x "$CTL" ] && [ -x "$TESTD" ] || t_skip "build dpmailctl and tests-build first"
command -v unbound >/dev/null || t_skip "unbound not installed"

# A port in 13040-13099 free on 127.0.0.1 for TCP and UDP now: copies of this test may run at
# once (several worktrees on one machine).
ctl_free_port() {
  python3 - "$@" <<'EOP'
import random, socket, sys
taken = {int(a) for a in sys.argv[1:]}
for port in random.sample(range(13040, 13100), 60):
    if port in taken:
        continue
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind); s.bind(('127.0.0.1', port)); s.close()
        print(port); break
    except OSError:
        pass
EOP
}
D=$(mktemp -d /tmp/dpmail-ctl-it.XXXXXX); T_TMPS+=("$D")
chmod 755 "$D"
SOCK=$D/admin.sock
UPORT=$(ctl_free_port)
ctl() { "$CTL" -s "$SOCK" "$@"; }

# a test DNS server for the worker DNS path
cat >"$D/unbound.conf" <<EOC
server:
  interface: 127.0.0.1@$UPORT
  port: $UPORT
  do-daemonize: no
  chroot: ""
  username: ""
  pidfile: ""
  directory: "$D"
  use-syslog: no
  logfile: ""
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "test." nodefault
  local-zone: "dpmail.test." static
  local-data: "mx.dpmail.test. 300 IN MX 10 mx1.dpmail.test."
EOC
printf 'server:\n  local-zone: "test." nodefault\n' >"$D/client.conf"
t_bg UNB unbound -d -c "$D/unbound.conf"

echo ok >"$D/reload.conf"
# metrics on port 0: ctl_testd prints the port it got
t_bg TESTD bash -c "exec '$TESTD' -s '$SOCK' -a '$D/audit.jsonl' -A '$D/acct' -m 127.0.0.1:0 \
  -d 127.0.0.1@$UPORT -U '$D/client.conf' -w 2 -r '$D/reload.conf' >'$D/testd.out'"
t_check "daemon answers status" t_wait_for 10 ctl status
MPORT=$(sed -n 's/^ready metrics_port=//p' "$D/testd.out")

# --- socket permissions -------------------------------------------------------------------
t_check "admin socket mode is 0600" test "$(stat -c %a "$SOCK")" = 600

# --- golden outputs -----------------------------------------------------------------------
norm() { sed -E 's/^(pid|uptime_s|dns_inflight): [0-9]+$/\1: N/'; }
ctl status | norm >"$D/status.out"
t_check "status matches golden output" diff -u "$GOLD/status.ref" "$D/status.out"
ctl log level >"$D/level.out"
t_check "log level matches golden output" diff -u "$GOLD/log_level.ref" "$D/level.out"
ctl queue list example.org >"$D/q.out" 2>&1; rc=$?
t_check "unserved command: exit 1 and golden message" \
  bash -c "[ $rc -eq 1 ] && diff -u '$GOLD/queue_list_unavailable.ref' '$D/q.out'"
ctl queue >"$D/u.out" 2>&1; rc=$?
t_check "unknown command: exit 2 and golden message" \
  bash -c "[ $rc -eq 2 ] && diff -u '$GOLD/queue_unknown.ref' '$D/u.out'"
ctl suspend 'bad domain!' 5m >/dev/null 2>&1; rc=$?
t_check "bad argument type: exit 2" test $rc -eq 2
ctl suspend example.org 5m 7 >/dev/null 2>&1; rc=$?
t_check "extra argument: exit 2" test $rc -eq 2

# --- --json ---------------------------------------------------------------------------------
t_check "--json status parses and has the fields" bash -c "'$CTL' -s '$SOCK' --json status | python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d[\"snapshot_version\"]==1 and d[\"lcores\"]==[1,2] and d[\"uptime_s\"]>=0, d'"
t_check "--json stats sums cores" bash -c "'$CTL' -s '$SOCK' --json stats | python3 -c '
import json,sys; d=json.load(sys.stdin)
t=d[\"total\"][\"test_loop_turns_total\"]; c=d[\"cores\"]
assert t>0 and set(c)=={\"1\",\"2\"}, d
assert d[\"histograms\"][\"test_accept_to_250_seconds\"][\"count\"]>=0'"

# --- a command answered by the workers (asynchronous reply) ---------------------------------
t_check "conns: every worker answers through its ring" bash -c "'$CTL' -s '$SOCK' --json conns | python3 -c '
import json,sys; d=json.load(sys.stdin)
assert d[\"complete\"] and sorted(w[\"lcore\"] for w in d[\"workers\"])==[1,2], d'"
ctl conns >"$D/conns.out"; cat "$D/conns.out"
t_check "conns: human output is a table" grep -qE '^  lcore +sessions$' "$D/conns.out"

# --- reload -----------------------------------------------------------------------------------
t_check "reload publishes snapshot 2" bash -c "'$CTL' -s '$SOCK' reload | grep -qx 'snapshot_version: 2'"
echo "bad: listeners[0].port 99999 out of range" >"$D/reload.conf"
ctl reload >"$D/bad.out" 2>&1; rc=$?
t_check "invalid reload refused with file:line, exit 1" \
  bash -c "[ $rc -eq 1 ] && grep -q 'reload.conf:1: bad: listeners' '$D/bad.out'"
t_check "running snapshot stays after a refused reload" \
  bash -c "'$CTL' -s '$SOCK' status | grep -qx 'snapshot_version: 2'"
echo ok >"$D/reload.conf"
kill -HUP "$TESTD"
t_check "SIGHUP reloads (snapshot 3)" t_wait_for 5 bash -c "'$CTL' -s '$SOCK' status | grep -qx 'snapshot_version: 3'"
t_check "workers read the new snapshot" t_wait_for 5 bash -c "'$CTL' -s '$SOCK' --json stats | python3 -c '
import json,sys; d=json.load(sys.stdin); assert all(c[\"test_snapshot_seen\"]==3 for c in d[\"cores\"].values())'"

# --- other users ------------------------------------------------------------------------------
t_check "mode 0600 keeps other users out" \
  bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups '$CTL' -s '$SOCK' status 2>/dev/null"
chmod 666 "$SOCK"
setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" -s "$SOCK" status >"$D/nobody.out" 2>&1; rc=$?
chmod 600 "$SOCK"
t_check "SO_PEERCRED refuses another uid even on an open socket" \
  bash -c "[ $rc -ne 0 ] && grep -q 'permission denied' '$D/nobody.out'"

# --- oversized request --------------------------------------------------------------------------
t_check "oversized request refused" python3 - "$SOCK" <<'EOP'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status","args":{"x":"' + b'a' * 70000)
data = b''
s.settimeout(5)
while not data.endswith(b'\n'):
    chunk = s.recv(4096)
    if not chunk: break
    data += chunk
assert b'request too long' in data, data
EOP

# --- audit --------------------------------------------------------------------------------------
t_check "every audit line is JSON with who/when/what/result" python3 - "$D/audit.jsonl" <<'EOP'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
for r in recs:
    assert {'ts', 'uid', 'pid', 'cmd', 'result'} <= set(r), r
cmds = [r['cmd'] for r in recs]
assert 'reload' in cmds and 'log level' in cmds and 'queue list' in cmds, cmds
assert any(r['cmd'] == 'connect' and r['uid'] == 65534 and r['result'] == 'error' for r in recs)
assert any(r['cmd'] == 'reload' and r['result'] == 'error' and 'reload.conf:1' in r['error'] for r in recs)
EOP

# --- metrics ------------------------------------------------------------------------------------
t_check "metrics scrape parses" bash -c "curl -sf http://127.0.0.1:$MPORT/metrics | python3 '$T_ROOT/tests/tools/ctl_promcheck.py' dpmail_test_loop_turns_total dpmail_test_accept_to_250_seconds"
t_check "metrics: unknown path is 404" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/nope)" = 404

# --- DNS through worker rings -----------------------------------------------------------------
t_check "DNS answer reaches both workers" t_wait_for 10 bash -c "'$CTL' -s '$SOCK' --json stats | python3 -c '
import json,sys; d=json.load(sys.stdin); assert d[\"total\"][\"test_dns_answers_total\"]==2'"

# --- accounting, rotation, erasure ----------------------------------------------------------
t_check "accounting lines are written" t_wait_for 10 bash -c "grep -q '\"event\":\"received\"' '$D/acct/acct.jsonl'"
t_check "early records carry the address to erase" t_wait_for 10 grep -q 'early-sender@example.org' "$D/acct/acct.jsonl"
# workers name that address only up to loop turn 400: erase once every core is past it
t_check "workers past the early records" t_wait_for 20 bash -c "'$CTL' -s '$SOCK' --json stats | python3 -c '
import json,sys; d=json.load(sys.stdin); assert all(c[\"test_loop_turns_total\"]>400 for c in d[\"cores\"].values())'"
kill -USR1 "$TESTD"
t_check "SIGUSR1 rotates accounting and audit" t_wait_for 5 bash -c "ls '$D/acct' | grep -q '^acct-.*\\.jsonl$' && ls '$D' | grep -q '^audit-.*\\.jsonl$'"
t_check "erase answers with a report" bash -c "'$CTL' -s '$SOCK' --json privacy erase early-sender@example.org | python3 -c '
import json,sys; d=json.load(sys.stdin); assert d[\"files_rewritten\"]>=1, d'"
kill -TERM "$TESTD"; t_wait_exit "$TESTD" 10 >"$D/rc"
t_check "ctl_testd stops cleanly on SIGTERM" test "$(cat "$D/rc")" = 0
t_check "every accounting and audit line parses as JSON" python3 - "$D" <<'EOP'
import glob, json, sys
files = glob.glob(sys.argv[1] + '/acct/*.jsonl') + glob.glob(sys.argv[1] + '/audit*.jsonl')
n = 0
for f in files:
    for l in open(f):
        json.loads(l); n += 1
assert n > 0
EOP
t_check "erasure leaves no trace of the address" bash -c "! grep -rqi 'early-sender@example.org' '$D/acct' '$D'/audit*.jsonl"
t_check "erase request itself is audited redacted" grep -q '"address":"\[redacted\]"},"cmd":"privacy erase"' "$D/audit.jsonl"

# --- completion -----------------------------------------------------------------------------------
t_check "bash completion offers queue subcommands" bash -c "
source <('$CTL' completion bash)
COMP_WORDS=(dpmailctl queue ''); COMP_CWORD=2; _dpmailctl
printf '%s\n' \"\${COMPREPLY[@]}\" | grep -qx list && printf '%s\n' \"\${COMPREPLY[@]}\" | grep -qx flush"
t_check "bash completion offers log levels" bash -c "
source <('$CTL' completion bash)
COMP_WORDS=(dpmailctl -s /x log level d); COMP_CWORD=5; _dpmailctl
[ \"\${COMPREPLY[*]}\" = debug ]"
t_check "--help lists the grammar" bash -c "'$CTL' --help | grep -q 'queue bounce <target>'"
t_done
