#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DANE (RFC 7672) on delivery: a DNSSEC-signed test zone (tests/tools/dlv_signzone.py) served by
# unbound's auth-zone in a namespace; dpmaild validates it with the zone's key as trust anchor
# (dns.trust_anchor) and fetches TLSA records through the control plane's resolver. The sinks
# present self-signed certificates (PKIX would refuse them all). Checks:
#   dane + TLSA 3 1 1 matching the sink's key        -> delivered, encrypted and verified
#   dane + TLSA 3 1 1 of another key                 -> deferred 4.7.5, nothing delivered
#   dane + the TLSA lookup fails (REFUSED: SERVFAIL) -> deferred 4.7.5, the sink is never contacted
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
command -v unbound >/dev/null || t_skip "unbound missing"
$PY -c 'import aiosmtpd, dns.dnssec, cryptography' 2>/dev/null || t_skip "aiosmtpd/dnspython missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dlvdane$$
IN=13160

selfcert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" \
    -days 2 -subj "/CN=$1" 2>/dev/null
}
spki256() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
selfcert dane
selfcert other
cat >in.zone <<EOF
ok MX 10 mxok
mxok A 127.0.0.61
_25._tcp.mxok TLSA 3 1 1 $(spki256 dane.crt)
bad MX 10 mxbad
mxbad A 127.0.0.62
_25._tcp.mxbad TLSA 3 1 1 $(spki256 other.crt)
fail MX 10 mxfail
mxfail A 127.0.0.63
probe A 127.0.0.1
EOF
$PY "$T_ROOT/tests/tools/dlv_signzone.py" dlvtest. in.zone dlvtest.zone anchor.key
t_check "test zone signed" [ -s dlvtest.zone ]

dlv_dns <<EOF
local-zone: "_25._tcp.mxfail.dlvtest." always_refuse
auth-zone:
  name: "dlvtest."
  zonefile: "$D/dlvtest.zone"
  for-downstream: yes
  for-upstream: no
EOF
dlv_sink S1 ok 127.0.0.61 --tls dane.crt dane.key
dlv_sink S2 bad 127.0.0.62 --tls dane.crt dane.key
dlv_sink S3 fail 127.0.0.63 --tls dane.crt dane.key

{ dlv_cfg dlvdane$$; cat <<EOF
dns: {forwarders: ["127.0.0.53@53"], trust_anchor: "$D/anchor.key", timeout_ms: 3000}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  tls_policy:
    - {destination: "*", mode: dane}
EOF
} >cfg.yaml
dlv_dpmaild PID cfg.yaml
for r in u@ok.dlvtest u@bad.dlvtest u@fail.dlvtest; do
  $X $PY - "$IN" "$r" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.sendmail("a@example.com", [sys.argv[2]], ("From: a@example.com\r\nSubject: %s\r\n\r\nhi\r\n" % sys.argv[2]).encode())
s.quit()
PY
done
t_check "TLSA matching the sink's key: delivered over TLS" t_wait_for 20 bash -c "grep -qx 'tls yes' ok/000001.env"
t_check "... and accounted as verified (DANE-EE authenticates a self-signed key)" \
  t_wait_for 5 grep -q 'event=delivered tls=verified' dpmaild.log
t_check "two deferrals with 4.7.5 (wrong TLSA, TLSA lookup failure)" \
  t_wait_for 20 bash -c "[ \$(grep -c 'event=deferred .*status=4.7.5' dpmaild.log) = 2 ]"
t_check "TLSA of another key: nothing delivered" bash -c "! ls bad/*.eml >/dev/null 2>&1 && [ ! -s bad/log ]"
t_check "TLSA lookup failure: the sink was never contacted" bash -c "! sed -n '/^ready/,\$p' fail/conns | grep -q ^open"
t_check "the TLSA failure is named in the deferral" grep -q 'reply="TLSA lookup of _25._tcp.mxfail.dlvtest failed' dpmaild.log
t_check "nothing bounced" bash -c "! grep -q 'event=bounced' dpmaild.log"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvdane-last; cp -a "$D" /tmp/dpmail-dlvdane-last; }
t_done
