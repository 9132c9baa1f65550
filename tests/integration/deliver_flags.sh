#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Message flags end to end (docs/deliver.md "Message flags"): messages submitted with SMTPUTF8,
# BODY=8BITMIME and REQUIRETLS (over STARTTLS to dpmaild) reach aiosmtpd sinks in a namespace
# with the same parameters, or bounce with the RFC's status when the next hop cannot honour them:
#   SMTPUTF8 + 8BITMIME, sink offers both          -> delivered with SMTPUTF8 BODY=8BITMIME
#   SMTPUTF8, sink without SMTPUTF8                -> DSN 5.6.7 (RFC 6531 3.4), not delivered
#   8BITMIME, sink without 8BITMIME                -> delivered as is, without BODY= (Postfix's way)
#   REQUIRETLS, verified TLS + REQUIRETLS offered  -> delivered with REQUIRETLS over TLS although
#                                                     the domain's policy is "may"
#   RET/ENVID/NOTIFY/ORCPT, sink offers DSN         -> passed on (xtext re-encoded)
#   REQUIRETLS, verified TLS, REQUIRETLS not offered / no STARTTLS / self-signed certificate
#                                                  -> DSN 5.7.30 (RFC 8689 5), never a deferral
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
command -v unbound >/dev/null || t_skip "unbound missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dl3flags$$
IN=13800

dlv_ca
dlv_cert rt mxrt.dlvtest
dlv_cert nort mxnort.dlvtest
dlv_cert self mxself.dlvtest self
dlv_cert relay relay.test

dlv_dns <<'EOF'
local-zone: "dlvtest." static
local-data: "snd.dlvtest. 60 IN MX 10 mxsnd.dlvtest."
local-data: "mxsnd.dlvtest. 60 IN A 127.0.0.80"
local-data: "utf8.dlvtest. 60 IN MX 10 mxutf8.dlvtest."
local-data: "mxutf8.dlvtest. 60 IN A 127.0.0.81"
local-data: "plain.dlvtest. 60 IN MX 10 mxplain.dlvtest."
local-data: "mxplain.dlvtest. 60 IN A 127.0.0.82"
local-data: "rt.dlvtest. 60 IN MX 10 mxrt.dlvtest."
local-data: "mxrt.dlvtest. 60 IN A 127.0.0.83"
local-data: "nort.dlvtest. 60 IN MX 10 mxnort.dlvtest."
local-data: "mxnort.dlvtest. 60 IN A 127.0.0.84"
local-data: "self.dlvtest. 60 IN MX 10 mxself.dlvtest."
local-data: "mxself.dlvtest. 60 IN A 127.0.0.85"
EOF
dlv_sink S0 snd 127.0.0.80
dlv_sink S1 utf8 127.0.0.81 --dsn
dlv_sink S2 plain 127.0.0.82 --no-smtputf8 --no-8bitmime
dlv_sink S3 rt 127.0.0.83 --tls rt.crt rt.key --requiretls
dlv_sink S4 nort 127.0.0.84 --tls nort.crt nort.key
dlv_sink S5 self 127.0.0.85 --tls self.crt self.key --requiretls

{ dlv_cfg dl3flags$$ | sed "s/tls: none/tls: starttls/"; cat <<EOF
tls: {certificates: [{cert: $D/relay.crt, key: $D/relay.key}]}
dns: {forwarders: ["127.0.0.53@53"], timeout_ms: 3000}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
EOF
} >cfg.yaml
DLV_ENV="SSL_CERT_FILE=$D/ca.crt" dlv_dpmaild PID cfg.yaml

send() { # rcpt subject options...
  $X $PY - "$IN" "$@" <<'PY'
import smtplib, ssl, sys
port, rcpt, subj, opts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
ropts = [o[2:] for o in opts if o.startswith("R:")]   # "R:" marks RCPT TO parameters
opts = [o for o in opts if not o.startswith("R:")]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.test")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx); s.ehlo("client.test")
body = ("From: s@snd.dlvtest\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@t>\r\n\r\n"
        "caf\u00e9 8-bit body\r\n" % (rcpt, subj, subj)).encode("utf-8")
s.sendmail("s@snd.dlvtest", [rcpt], body, mail_options=opts, rcpt_options=ropts)
s.quit()
PY
}
send u@utf8.dlvtest m1 SMTPUTF8 BODY=8BITMIME || t_fail "submit m1"
send u@plain.dlvtest m2 SMTPUTF8 || t_fail "submit m2"
send u2@utf8.dlvtest m8 RET=HDRS ENVID=abc+2Bdef R:NOTIFY=SUCCESS,FAILURE \
  "R:ORCPT=rfc822;orig+2Bx@utf8.dlvtest" || t_fail "submit m8"
send u@plain.dlvtest m3 BODY=8BITMIME || t_fail "submit m3"
send u@rt.dlvtest m4 REQUIRETLS || t_fail "submit m4"
send u@nort.dlvtest m5 REQUIRETLS || t_fail "submit m5"
send u@plain.dlvtest m6 REQUIRETLS || t_fail "submit m6"
send u@self.dlvtest m7 REQUIRETLS || t_fail "submit m7"

envof() { grep -l "Subject: $2" "$1"/*.eml 2>/dev/null | head -1 | sed 's/\.eml$/.env/'; }
t_check "m1 (SMTPUTF8 + 8BITMIME) delivered" t_wait_for 20 bash -c "ls utf8/*.eml >/dev/null 2>&1"
t_check "m1 went with SMTPUTF8 and BODY=8BITMIME" \
  bash -c "grep -q '^params.*SMTPUTF8' $(envof utf8 m1) && grep -q '^params.*BODY=8BITMIME' $(envof utf8 m1)"
t_check "m8: DSN parameters passed on (RET, ENVID re-encoded as xtext)" \
  t_wait_for 20 bash -c "grep -qx 'params.*RET=HDRS ENVID=abc+2Bdef.*' \$(grep -l 'Subject: m8' utf8/*.eml | sed 's/eml$/env/')"
t_check "m8: NOTIFY and ORCPT passed on" \
  grep -qx 'rcptparams NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx@utf8.dlvtest' "$(envof utf8 m8)"
# m3 follows m2 to the same host: m2 failed inside the client engine before anything was sent,
# and that connection must go on serving (regression: it stayed busy and m3 waited forever)
t_check "m3 (8BITMIME, next hop without it) delivered as is" \
  t_wait_for 20 bash -c "grep -l 'Subject: m3' plain/*.eml"
t_check "m3 went without BODY= (just send 8)" bash -c "! grep -q 'BODY=' $(envof plain m3)"
t_check "m3 body kept its 8-bit octets" bash -c "grep -q \$'caf\\xc3\\xa9' $(grep -l 'Subject: m3' plain/*.eml)"
t_check "m4 (REQUIRETLS) delivered" t_wait_for 20 bash -c "ls rt/*.eml >/dev/null 2>&1"
t_check "m4 went with REQUIRETLS over TLS" \
  bash -c "grep -q '^params.*REQUIRETLS' rt/*.env && grep -qx 'tls yes' rt/*.env"
t_check "four DSNs reach the sender" \
  t_wait_for 30 bash -c "[ \$(grep -l 'report-type=delivery-status' snd/*.eml 2>/dev/null | wc -l) -ge 4 ]"
dlv_dsns snd/*.eml >dsn.out
cat dsn.out
t_check "m2: SMTPUTF8 to a hop without it bounces 5.6.7" grep -qx 'u@plain.dlvtest failed 5.6.7' dsn.out
t_check "m5: REQUIRETLS not offered bounces 5.7.30" grep -qx 'u@nort.dlvtest failed 5.7.30' dsn.out
t_check "m6: REQUIRETLS to a hop without STARTTLS bounces 5.7.30" grep -qx 'u@plain.dlvtest failed 5.7.30' dsn.out
t_check "m7: REQUIRETLS with an unverifiable certificate bounces 5.7.30" grep -qx 'u@self.dlvtest failed 5.7.30' dsn.out
t_check "exactly four DSNs" bash -c "[ \$(wc -l <dsn.out) = 4 ]"
t_check "no REQUIRETLS message reached a hop in clear or unverified" \
  bash -c "! grep -l 'Subject: m[567]' plain/*.eml nort/*.eml self/*.eml 2>/dev/null | grep -q ."
t_check "m2 never reached the hop without SMTPUTF8" bash -c "! grep -l 'Subject: m2' plain/*.eml 2>/dev/null | grep -q ."
t_check "nothing deferred" bash -c "! grep -q 'event=deferred' dpmaild.log"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dl3flags-last; cp -a "$D" /tmp/dpmail-dl3flags-last; }
t_done
