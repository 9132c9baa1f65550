#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delivery's next hops against a real DNS server. Everything runs inside a network namespace
# (its own loopback, so the sinks can listen on port 25 of several 127.0.0.x addresses): an
# unbound server with test zones, dpmaild on the posix backend with dns.forwarders pointing at
# it, and aiosmtpd sinks. Checks, per recipient domain:
#   multi.dlvtest   MX 10 (refuses connections) + MX 20 (sink): delivered through the second MX
#   equal.dlvtest   two MX of equal preference: all delivered exactly once, spread over both
#   amx.dlvtest     no MX, an A record: implicit MX (A fallback)
#   nullmx.dlvtest  MX 0 "." (RFC 7505): bounced at once with 5.1.10, never sent
#   nx.dlvtest      NXDOMAIN: bounced with 5.1.2
#   self.dlvtest    MX naming our own host name: bounced with 5.4.6
#   fail.dlvtest    the resolver answers SERVFAIL: deferred with 4.4.3, no bounce
# Bounces go to the sender a@example.com, whose domain has a static route to a sink; each
# DSN is parsed as an RFC 3464 report.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
command -v unbound >/dev/null || t_skip "unbound missing"
command -v swaks >/dev/null || t_skip "swaks missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dlvmx$$
IN=13100

dlv_dns <<'EOF'
local-zone: "dlvtest." static
local-data: "multi.dlvtest. 60 IN MX 10 mx1.multi.dlvtest."
local-data: "multi.dlvtest. 60 IN MX 20 mx2.multi.dlvtest."
local-data: "mx1.multi.dlvtest. 60 IN A 127.0.0.11"
local-data: "mx2.multi.dlvtest. 60 IN A 127.0.0.12"
local-data: "equal.dlvtest. 60 IN MX 10 e1.equal.dlvtest."
local-data: "equal.dlvtest. 60 IN MX 10 e2.equal.dlvtest."
local-data: "e1.equal.dlvtest. 60 IN A 127.0.0.21"
local-data: "e2.equal.dlvtest. 60 IN A 127.0.0.22"
local-data: "amx.dlvtest. 60 IN A 127.0.0.13"
local-data: "nullmx.dlvtest. 60 IN MX 0 ."
local-data: "self.dlvtest. 60 IN MX 10 relay.test."
local-data: "relay.test. 60 IN A 127.0.0.1"
local-zone: "fail.dlvtest." always_refuse
EOF
dlv_sink S_MX2 mx2 127.0.0.12
dlv_sink S_E1 e1 127.0.0.21
dlv_sink S_E2 e2 127.0.0.22
dlv_sink S_AMX amx 127.0.0.13
dlv_sink S_SND snd 127.0.0.30

{ dlv_cfg dlvmx$$; cat <<EOF
dns: {forwarders: ["127.0.0.53@53"], timeout_ms: 3000, failure_ttl: 1}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  shaping:
    - {destination: equal.dlvtest, connections: 2, per_connection: 3}
  routes:
    - {domain: example.com, hosts: ["[127.0.0.30]:25"]}
EOF
} >cfg.yaml
dlv_dpmaild PID cfg.yaml

send() { # rcpt [count]
  $X $PY - "$IN" "$@" <<'PY'
import smtplib, sys
port, rcpt, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
for i in range(n):
    s.sendmail("a@example.com", [rcpt], ("From: a@example.com\r\nTo: %s\r\nSubject: %s %d\r\n"
               "Message-ID: <%s.%d@example.com>\r\n\r\nhello\r\n" % (rcpt, rcpt, i, rcpt, i)).encode())
s.quit()
PY
}
send u@multi.dlvtest
send u@equal.dlvtest 20
send u@amx.dlvtest
send u@nullmx.dlvtest
send u@nx.dlvtest
send u@self.dlvtest
send u@fail.dlvtest

count() { ls "$D/$1"/*.eml 2>/dev/null | wc -l; }
t_check "multi.dlvtest: first MX refuses, delivered through the MX of preference 20" \
  t_wait_for 20 bash -c "[ \$(ls mx2/*.eml 2>/dev/null | wc -l) = 1 ]"
t_check "amx.dlvtest: no MX, delivered to the A record (implicit MX)" \
  t_wait_for 20 bash -c "[ \$(ls amx/*.eml 2>/dev/null | wc -l) = 1 ]"
t_check "equal.dlvtest: 20 messages delivered over the two equal-preference MX" \
  t_wait_for 30 bash -c "[ \$(( \$(ls e1/*.eml 2>/dev/null | wc -l) + \$(ls e2/*.eml 2>/dev/null | wc -l) )) -ge 20 ]"
$PY - <<'PY' >equal.out
import glob, re, collections
c = collections.Counter()
for f in glob.glob("e1/*.eml") + glob.glob("e2/*.eml"):
    c[re.search(rb"Message-ID: <([^>]+)>", open(f, "rb").read()).group(1)] += 1
print("unique", len(c), "dups", sum(1 for v in c.values() if v > 1))
PY
t_check "equal.dlvtest: each message exactly once" grep -qx 'unique 20 dups 0' equal.out
t_check "equal.dlvtest: both equal-preference MX hosts used" bash -c "[ $(count e1) -ge 1 ] && [ $(count e2) -ge 1 ]"
t_check "equal.dlvtest: at most 3 messages per connection (shaping per_connection)" \
  bash -c "[ \$(cat e1/log e2/log | sed 's/.* c=//' | sort | uniq -c | sort -rn | head -1 | awk '{print \$1}') -le 3 ]"
echo "equal.dlvtest spread: e1=$(count e1) e2=$(count e2)"

t_check "three DSNs reach the sender (null MX, NXDOMAIN, MX loop)" \
  t_wait_for 20 bash -c "[ \$(grep -l 'report-type=delivery-status' snd/*.eml 2>/dev/null | wc -l) -ge 3 ]"
dlv_dsns snd/*.eml >dsn.out
cat dsn.out
t_check "null MX bounces with 5.1.10" grep -qx 'u@nullmx.dlvtest failed 5.1.10' dsn.out
t_check "NXDOMAIN bounces with 5.1.2" grep -qx 'u@nx.dlvtest failed 5.1.2' dsn.out
t_check "an MX pointing at ourselves bounces with 5.4.6" grep -qx 'u@self.dlvtest failed 5.4.6' dsn.out
t_check "SERVFAIL defers with 4.4.3" t_wait_for 20 grep -q 'event=deferred .*status=4.4.3' dpmaild.log
t_check "SERVFAIL never bounces" bash -c "! grep -q 'fail.dlvtest' dsn.out"
t_check "no DSN for a delivered message" bash -c "[ \$(wc -l <dsn.out) = 3 ]"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvmx-last; cp -a "$D" /tmp/dpmail-dlvmx-last; }
t_done
