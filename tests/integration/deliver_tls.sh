#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Outbound TLS policy per destination, against aiosmtpd sinks on 127.0.0.x:25 in a namespace
# with an unbound server (MX host names are needed for certificate name checks). A test CA is
# the trust store of dpmaild (SSL_CERT_FILE). Checks:
#   verify  + a CA-signed certificate for the MX name     -> delivered, encrypted and verified
#   verify  + a self-signed (untrusted) certificate       -> deferred; the sink sees no MAIL
#   verify  + a CA-signed certificate for another name    -> deferred; the sink sees no MAIL
#   encrypt + a sink without STARTTLS                      -> deferred 4.7.4; no message in clear
#   may     + a sink without STARTTLS                      -> delivered in clear
#   may     + a self-signed certificate                    -> delivered encrypted, unverified
# and the outcome log says tls=verified|encrypted|none for each delivery.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
command -v unbound >/dev/null || t_skip "unbound missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dlvtls$$
IN=13140

dlv_ca
dlv_cert good mxgood.dlvtest
dlv_cert self mxself.dlvtest self
dlv_cert wrong other.dlvtest

dlv_dns <<'EOF'
local-zone: "dlvtest." static
local-data: "vgood.dlvtest. 60 IN MX 10 mxgood.dlvtest."
local-data: "mxgood.dlvtest. 60 IN A 127.0.0.41"
local-data: "vself.dlvtest. 60 IN MX 10 mxself.dlvtest."
local-data: "mxself.dlvtest. 60 IN A 127.0.0.42"
local-data: "vwrong.dlvtest. 60 IN MX 10 mxwrong.dlvtest."
local-data: "mxwrong.dlvtest. 60 IN A 127.0.0.43"
local-data: "enc.dlvtest. 60 IN MX 10 mxclear.dlvtest."
local-data: "may.dlvtest. 60 IN MX 10 mxclear2.dlvtest."
local-data: "mxclear.dlvtest. 60 IN A 127.0.0.44"
local-data: "mxclear2.dlvtest. 60 IN A 127.0.0.45"
local-data: "mayself.dlvtest. 60 IN MX 10 mxmayself.dlvtest."
local-data: "mxmayself.dlvtest. 60 IN A 127.0.0.46"
EOF
dlv_sink S1 good 127.0.0.41 --tls good.crt good.key
dlv_sink S2 self 127.0.0.42 --tls self.crt self.key
dlv_sink S3 wrong 127.0.0.43 --tls wrong.crt wrong.key
dlv_sink S4 clear 127.0.0.44
dlv_sink S5 clear2 127.0.0.45
dlv_sink S6 mayself 127.0.0.46 --tls self.crt self.key

{ dlv_cfg dlvtls$$; cat <<EOF
dns: {forwarders: ["127.0.0.53@53"], timeout_ms: 3000}
accounting: {dir: $D/acct}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  tls_policy:
    - {destination: vgood.dlvtest, mode: verify}
    - {destination: vself.dlvtest, mode: verify}
    - {destination: vwrong.dlvtest, mode: verify}
    - {destination: enc.dlvtest, mode: encrypt}
EOF
} >cfg.yaml
DLV_ENV="SSL_CERT_FILE=$D/ca.crt" dlv_dpmaild PID cfg.yaml

for r in u@vgood.dlvtest u@vself.dlvtest u@vwrong.dlvtest u@enc.dlvtest u@may.dlvtest u@mayself.dlvtest; do
  $X $PY - "$IN" "$r" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.sendmail("a@example.com", [sys.argv[2]], ("From: a@example.com\r\nSubject: %s\r\n\r\nhi\r\n" % sys.argv[2]).encode())
s.quit()
PY
done

n() { ls "$1"/*.eml 2>/dev/null | wc -l; }
t_check "verify + trusted certificate for the MX name: delivered over TLS" \
  t_wait_for 20 bash -c "grep -qx 'tls yes' good/000001.env"
t_check "may + no STARTTLS: delivered in clear" t_wait_for 20 bash -c "grep -qx 'tls no' clear2/000001.env"
t_check "may + self-signed certificate: delivered over TLS" t_wait_for 20 bash -c "grep -qx 'tls yes' mayself/000001.env"
t_check "three deferrals logged (untrusted, wrong name, no STARTTLS)" \
  t_wait_for 20 bash -c "[ \$(grep -c 'event=deferred' dpmaild.log) -ge 3 ]"
t_check "verify + self-signed certificate: nothing delivered" [ "$(n self)" = 0 ]
t_check "verify + wrong name: nothing delivered" [ "$(n wrong)" = 0 ]
t_check "encrypt + no STARTTLS: nothing delivered" [ "$(n clear)" = 0 ]
t_check "verify failures never reached MAIL FROM (sink logs no transaction)" \
  bash -c "[ ! -s self/log ] && [ ! -s wrong/log ] && [ ! -s clear/log ]"
t_check "encrypt without STARTTLS defers with 4.7.4" grep -q 'event=deferred .*status=4.7.4' dpmaild.log
t_check "TLS verification failures defer with 4.7.5" \
  bash -c "[ \$(grep -c 'event=deferred .*status=4.7.5' dpmaild.log) = 2 ]"
t_check "one connection per queued message: no storm of attempts while the first connects" \
  bash -c "[ \$(grep -c 'all_hops_failed' dpmaild.log) = 3 ] && [ \$(grep -c 'event=tls_failed' dpmaild.log) = 2 ]"
t_check "the deferral names the TLS failure" grep -q 'status=4.7.5 reply="TLS with mxwrong.dlvtest failed: hostname mismatch"' dpmaild.log
t_check "TLS verification failures logged" bash -c "[ \$(grep -c 'event=tls_failed' dpmaild.log) -ge 2 ]"
t_check "no bounce for a TLS policy failure" bash -c "! grep -q 'event=bounced' dpmaild.log"
t_check "outcome logs: verified" grep -q 'event=delivered tls=verified' dpmaild.log
t_check "outcome logs: encrypted" grep -q 'event=delivered tls=encrypted' dpmaild.log
t_check "outcome logs: none" grep -q 'event=delivered tls=none' dpmaild.log
cat >acct.py <<'PY'
import json, sys
seen = set()
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("type") != "delivered" and r.get("event") != "delivered":
        continue
    t = r.get("tls")
    seen.add("none" if not t or "verified" not in t else "verified" if t["verified"] else "encrypted")
sys.exit(0 if seen == {"none", "verified", "encrypted"} else 1)
PY
t_check "accounting records say none / encrypted / verified for the three deliveries" \
  t_wait_for 10 $PY acct.py acct/acct.jsonl
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvtls-last; cp -a "$D" /tmp/dpmail-dlvtls-last; }
t_done
