#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rollups (docs/deliver.md "Destinations", "Sites"): domains that share an MX set share a
# destination only when they need the same treatment, and sites group MX hosts explicitly.
#   d1 (verify) and d2 (may) share mx.shared.dlvtest, whose certificate is self-signed:
#     d1 first, then d2       -> d1 deferred 4.7.5, d2 still delivered (does not inherit verify)
#   d4 (may) first, then d3 (verify) on the same MX
#                             -> d4 delivered, d3 deferred (does not inherit may)
#   s1 and s2 have different MX hosts (mx1/mx2.site.dlvtest) in the site "shared" (*.site.dlvtest)
#   limited to 1 connection: one destination site:shared (suspended and resumed by the name
#   "shared"); 12 messages to both never use more than 1 connection at the sink
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
command -v unbound >/dev/null || t_skip "unbound missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dl3roll$$
IN=13830
dlv_cert self mx.shared.dlvtest self

dlv_dns <<'EOF'
local-zone: "dlvtest." static
local-data: "d1.dlvtest. 60 IN MX 10 mx.shared.dlvtest."
local-data: "d2.dlvtest. 60 IN MX 10 mx.shared.dlvtest."
local-data: "d3.dlvtest. 60 IN MX 10 mx.shared.dlvtest."
local-data: "d4.dlvtest. 60 IN MX 10 mx.shared.dlvtest."
local-data: "mx.shared.dlvtest. 60 IN A 127.0.0.70"
local-data: "s1.dlvtest. 60 IN MX 10 mx1.site.dlvtest."
local-data: "s2.dlvtest. 60 IN MX 10 mx2.site.dlvtest."
local-data: "mx1.site.dlvtest. 60 IN A 127.0.0.71"
local-data: "mx2.site.dlvtest. 60 IN A 127.0.0.71"
EOF
dlv_sink S1 shared 127.0.0.70 --tls self.crt self.key
dlv_sink S2 site 127.0.0.71 --delay 0.2

{ dlv_cfg dl3roll$$; cat <<EOF
dns: {forwarders: ["127.0.0.53@53"], timeout_ms: 3000}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  tls_policy:
    - {destination: d1.dlvtest, mode: verify}
    - {destination: d3.dlvtest, mode: verify}
  sites: [{name: shared, mx: ["*.site.dlvtest"]}]
  shaping: [{destination: shared, connections: 1}]
EOF
} >cfg.yaml
dlv_dpmaild PID cfg.yaml

send() { # rcpt... (one message each, in this order)
  $X $PY - "$IN" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
for r in sys.argv[2:]:
    s.sendmail("s@snd.test", [r], ("From: s@snd.test\r\nSubject: to %s\r\n\r\nhi\r\n" % r).encode())
s.quit()
PY
}
send u@d1.dlvtest || t_fail "submit d1"
t_check "d1 (verify, self-signed MX) deferred 4.7.5" \
  t_wait_for 20 grep -q 'event=deferred .*status=4.7.5' dpmaild.log
send u@d2.dlvtest || t_fail "submit d2"
t_check "d2 (may) on the same MX delivered anyway" \
  t_wait_for 20 bash -c "grep -l 'Subject: to u@d2.dlvtest' shared/*.eml"
send u@d4.dlvtest || t_fail "submit d4"
t_check "d4 (may) delivered" t_wait_for 20 bash -c "grep -l 'Subject: to u@d4.dlvtest' shared/*.eml"
send u@d3.dlvtest || t_fail "submit d3"
# d3 joins d1's destination (same MX, same class), which waits after its TLS failure
t_check "d3 (verify) waits with d1 at the MX's verify destination (key mx.shared.dlvtest|tls=verify)" \
  t_wait_for 10 bash -c "$X $BUILD/dpmailctl -s $D/admin.sock --json queue summary | $PY -c \"import json,sys; d={x['destination']: x for x in json.load(sys.stdin)['destinations']}; v=d.get('mx.shared.dlvtest|tls=verify'); sys.exit(0 if v and v['queued'] + v['deferred'] == 2 else 1)\""
t_check "neither verify domain reached the sink" \
  bash -c "! grep -lE 'Subject: to u@d[13]' shared/*.eml 2>/dev/null | grep -q ."

CTL="$X $BUILD/dpmailctl -s $D/admin.sock"
$CTL suspend shared 1h >/dev/null || t_fail "suspend the site by its name"
$X $PY - "$IN" <<'PY' || t_fail "submit site load"
import smtplib, sys, threading
def run(dom):
    s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
    for i in range(6):
        s.sendmail("s@snd.test", ["u%d@%s" % (i, dom)], ("Subject: %s %d\r\n\r\nhi\r\n" % (dom, i)).encode())
    s.quit()
ts = [threading.Thread(target=run, args=(d,)) for d in ("s1.dlvtest", "s2.dlvtest")]
[t.start() for t in ts]; [t.join() for t in ts]
PY
t_check "the site is one destination (site:shared) holding both domains' 12 messages while suspended" \
  t_wait_for 10 bash -c "$CTL --json queue summary | $PY -c \"import json,sys; d=[x for x in json.load(sys.stdin)['destinations'] if x['destination'].startswith('site:shared')]; sys.exit(0 if len(d) == 1 and d[0]['suspended'] and d[0]['queued'] == 12 else 1)\""
$CTL resume shared >/dev/null || t_fail "resume the site"
t_check "12 messages reach the site's sink" t_wait_for 30 bash -c "[ \$(ls site/*.eml 2>/dev/null | wc -l) -ge 12 ]"
t_wait_for 10 bash -c "[ \$(grep -c '^close' site/conns) = \$(grep -c '^open' site/conns) ]"
$PY - <<'PY' >peak.out
ev = [l.split() for l in open("site/conns")]
ev = ev[[e[0] for e in ev].index("ready") + 1:]
cur = peak = 0
live = set()   # connections opened after the start-up probe
for what, t, c in sorted(ev, key=lambda e: (float(e[1]), e[0] == "open")):
    if what == "open":
        live.add(c); cur += 1; peak = max(peak, cur)
    elif what == "close" and c in live:
        live.discard(c); cur -= 1
print("peak", peak)
PY
cat peak.out
t_check "the site's 1-connection limit held across both domains' MX hosts" grep -qx 'peak 1' peak.out
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dl3roll-last; cp -a "$D" /tmp/dpmail-dl3roll-last; }
t_done
