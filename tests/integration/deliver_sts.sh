#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# MTA-STS (RFC 8461) end to end, in one namespace: unbound serves the MX, A and _mta-sts TXT
# records (changed live with unbound-control), tests/tools/sts_https.py serves the policies on
# 127.0.0.60:443 with a certificate of a test CA (mta_sts.ca_file), aiosmtpd sinks stand in for
# the MX hosts (SSL_CERT_FILE = the test CA for dpmaild's MX verification). Checks:
#   enforce + MX in the policy + trusted certificate     -> delivered, verified, accounted
#                                                            tls.policy "mta-sts:enforce"
#   enforce + MX not in the policy                        -> deferred 4.7.5, never connected
#   enforce + self-signed certificate                     -> deferred 4.7.5, no MAIL
#   testing + MX not in the policy + self-signed cert     -> delivered, failures counted
#   no policy published (mta_sts.all_domains)             -> opportunistic (delivered in clear)
#   a new TXT id                                          -> the policy is fetched again and
#                                                            the new mx list is enforced
#   another new id while the policy server fails          -> cached policy stays in force
#   restart with the policy server gone                   -> the persisted policy enforces
#   dpmailctl sts show / list
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
CTL=$BUILD/dpmailctl
command -v unbound >/dev/null || t_skip "unbound missing"
command -v unbound-control >/dev/null || t_skip "unbound-control missing"
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net sts$$
IN=13700

dlv_ca
dlv_cert mx1 mx1.ststest
dlv_cert mxa mxa.ststest
dlv_cert mxb mxb.ststest
dlv_cert self mxself.ststest self
# the policy server: one certificate for every mta-sts.<domain> of the test
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -out web.csr \
  -subj "/CN=mta-sts.enf.ststest" 2>/dev/null
openssl x509 -req -in web.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out web.crt -days 2 \
  -extfile <(echo "subjectAltName=DNS:mta-sts.enf.ststest,DNS:mta-sts.enfbad.ststest,DNS:mta-sts.enfcert.ststest,DNS:mta-sts.tst.ststest,DNS:mta-sts.rot.ststest,DNS:mta-sts.red.ststest,DNS:mta-sts.html.ststest,DNS:mta-sts.big.ststest,DNS:mta-sts.badpol.ststest") 2>/dev/null

dlv_dns <<EOF
local-zone: "ststest." static
local-data: "enf.ststest. 60 IN MX 10 mx1.ststest."
local-data: '_mta-sts.enf.ststest. 60 IN TXT "v=STSv1; id=e1"'
local-data: "mx1.ststest. 60 IN A 127.0.0.61"
local-data: "enfbad.ststest. 60 IN MX 10 mxevil.ststest."
local-data: '_mta-sts.enfbad.ststest. 60 IN TXT "v=STSv1; id=b1"'
local-data: "mxevil.ststest. 60 IN A 127.0.0.62"
local-data: "enfcert.ststest. 60 IN MX 10 mxself.ststest."
local-data: '_mta-sts.enfcert.ststest. 60 IN TXT "v=STSv1; id=c1"'
local-data: "mxself.ststest. 60 IN A 127.0.0.63"
local-data: "tst.ststest. 60 IN MX 10 mxt.ststest."
local-data: '_mta-sts.tst.ststest. 60 IN TXT "v=STSv1; id=t1"'
local-data: "mxt.ststest. 60 IN A 127.0.0.64"
local-data: "nopol.ststest. 60 IN MX 10 mxclear.ststest."
local-data: "mxclear.ststest. 60 IN A 127.0.0.65"
local-data: "rot.ststest. 60 IN MX 10 mxa.ststest."
local-data: "rot.ststest. 60 IN MX 20 mxb.ststest."
local-data: '_mta-sts.rot.ststest. 1 IN TXT "v=STSv1; id=r1"'
local-data: "mxa.ststest. 60 IN A 127.0.0.66"
local-data: "mxb.ststest. 60 IN A 127.0.0.67"
local-data: "mta-sts.enf.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.enfbad.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.enfcert.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.tst.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.rot.ststest. 60 IN A 127.0.0.60"
local-data: '_mta-sts.red.ststest. 60 IN TXT "v=STSv1; id=x1"'
local-data: '_mta-sts.html.ststest. 60 IN TXT "v=STSv1; id=x1"'
local-data: '_mta-sts.big.ststest. 60 IN TXT "v=STSv1; id=x1"'
local-data: '_mta-sts.badpol.ststest. 60 IN TXT "v=STSv1; id=x1"'
local-data: "mta-sts.red.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.html.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.big.ststest. 60 IN A 127.0.0.60"
local-data: "mta-sts.badpol.ststest. 60 IN A 127.0.0.60"
remote-control:
control-enable: yes
control-interface: $D/ub.ctl
control-use-cert: no
EOF
uc() { $X unbound-control -c unbound.conf "$@" >/dev/null; }
txt() { # domain id: replace the _mta-sts TXT record
  uc local_data_remove "_mta-sts.$1." && uc local_data "_mta-sts.$1. 1 IN TXT \"v=STSv1; id=$2\""
}

mkdir -p web
pol() { # domain mode mx...
  local d=$1 m=$2; shift 2
  { printf 'version: STSv1\r\nmode: %s\r\n' "$m"; for x in "$@"; do printf 'mx: %s\r\n' "$x"; done
    printf 'max_age: 86400\r\n'; } >"web/$d.txt"
}
pol enf.ststest enforce mx1.ststest
pol enfbad.ststest enforce mxok.ststest
pol enfcert.ststest enforce mxself.ststest
pol tst.ststest testing mxother.ststest
pol rot.ststest enforce mxa.ststest
pol red.ststest enforce mx1.ststest; echo "https://mta-sts.enf.ststest/.well-known/mta-sts.txt" >web/red.ststest.redirect
pol html.ststest enforce mx1.ststest; touch web/html.ststest.html
{ printf 'version: STSv1\nmode: enforce\nmx: mx1.ststest\nmax_age: 86400\nx: '; head -c 70000 /dev/zero | tr '\0' a; printf '\n'; } >web/big.ststest.txt
printf 'version: STSv1\nmode: enforce\nmax_age: 86400\n' >web/badpol.ststest.txt
t_bg WEB $X $PY "$T_ROOT/tests/tools/sts_https.py" --host 127.0.0.60 --port 443 --cert web.crt \
  --key web.key --dir "$D/web" >web.out 2>&1
t_check "policy server starts" t_wait_for 10 grep -q listening web.out

dlv_sink S1 mx1 127.0.0.61 --tls mx1.crt mx1.key
dlv_sink S2 evil 127.0.0.62
dlv_sink S3 self 127.0.0.63 --tls self.crt self.key
dlv_sink S4 tst 127.0.0.64 --tls self.crt self.key
dlv_sink S5 clear 127.0.0.65
dlv_sink S6 mxa 127.0.0.66 --tls mxa.crt mxa.key
dlv_sink S7 mxb 127.0.0.67 --tls mxb.crt mxb.key

{ dlv_cfg sts$$; cat <<EOF
dns: {forwarders: ["127.0.0.53@53"], timeout_ms: 3000}
accounting: {dir: $D/acct}
mta_sts: {all_domains: true, ca_file: $D/ca.crt, refresh: 1, retry: 1, fetch_timeout_ms: 3000}
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  tls_policy:
    - {destination: enf.ststest, mode: mta-sts}
EOF
} >cfg.yaml
DLV_ENV="SSL_CERT_FILE=$D/ca.crt" dlv_dpmaild PID cfg.yaml

send() {
  $X $PY - "$IN" "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
for r in sys.argv[2:]:
    s.sendmail("a@example.com", [r], ("From: a@example.com\r\nSubject: %s\r\n\r\nhi\r\n" % r).encode())
s.quit()
PY
}
n() { ls "$1"/*.eml 2>/dev/null | wc -l; }
ctl() { $X "$CTL" -s "$D/admin.sock" "$@"; }

send u@enf.ststest u@enfbad.ststest u@enfcert.ststest u@tst.ststest u@nopol.ststest u@rot.ststest
t_check "enforce + MX in policy + trusted certificate: delivered over TLS" \
  t_wait_for 20 bash -c "grep -qx 'tls yes' mx1/000001.env"
t_check "testing + MX not in policy + self-signed: delivered anyway" t_wait_for 20 bash -c "[ -f tst/000001.env ]"
t_check "no policy published: delivered in clear (opportunistic fallback)" \
  t_wait_for 20 bash -c "grep -qx 'tls no' clear/000001.env"
t_check "rot: delivered to the MX its policy names (mxa)" t_wait_for 20 bash -c "[ -f mxa/000001.env ]"
t_check "enforce + MX not in policy: deferred 4.7.5 naming the policy" \
  t_wait_for 20 grep -q 'status=4.7.5 reply="MX host mxevil.ststest is not in the MTA-STS policy of enfbad.ststest"' dpmaild.log
echo "INFO: first-contact policy fetches (TXT + A + HTTPS, ms): $(grep -o 'event=policy .*took_ms=[0-9]*' dpmaild.log | sed 's/.*took_ms=//' | tr '\n' ' ')"
# (the sink's own start-up probe connects once before "ready")
t_check "enforce + MX not in policy: the MX was never contacted" \
  bash -c "awk '/^ready/{r=1} r && /^open/{exit 1}' evil/conns && [ $(n evil) = 0 ]"
t_check "enforce + self-signed certificate: deferred 4.7.5" \
  t_wait_for 20 grep -q 'status=4.7.5 reply="TLS with mxself.ststest failed' dpmaild.log
t_check "enforce + self-signed certificate: no MAIL reached the sink" bash -c "[ ! -s self/log ] && [ $(n self) = 0 ]"
t_check "testing failures logged (mx not in policy, certificate not verified)" \
  bash -c "grep -q 'event=mta_sts_testing_failure reason=\"mx not in policy\"' dpmaild.log && grep -q 'event=mta_sts_testing_failure reason=\"certificate not verified\"' dpmaild.log"
stat() { # name: the counter's value summed over the cores
  ctl --json stats | $PY -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == sys.argv[1] and isinstance(v, int):
                yield v
            else:
                yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)
print(max(list(walk(json.load(sys.stdin))) or [0]))' "$1"
}
ge() { [ "$(stat "$1")" -ge "$2" ]; }
t_check "testing failures counted (delivery_mta_sts_testing_failed_total >= 2)" ge delivery_mta_sts_testing_failed_total 2
t_check "MX refusals counted" ge delivery_mta_sts_mx_refused_total 1
t_check "verified sessions under enforce counted" ge delivery_mta_sts_enforced_total 1
cat >acct.py <<'PY'
import json, sys
want = sys.argv[2]
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("event") == "delivered" and r.get("recipient") == want:
        t = r.get("tls") or {}
        print(t.get("policy"), t.get("verified"))
PY
acct_is() { $PY acct.py acct/acct.jsonl "$1" | grep -qx "$2"; }
t_check "accounting: enforce delivery says tls.policy mta-sts:enforce, verified" \
  t_wait_for 10 acct_is u@enf.ststest 'mta-sts:enforce True'
t_check "accounting: testing delivery says mta-sts:testing, not verified" \
  t_wait_for 10 acct_is u@tst.ststest 'mta-sts:testing False'
showf() { # domain field: policy.<field> from sts show --json
  ctl --json sts show "$1" | $PY -c '
import json, sys
r = json.load(sys.stdin); r = r.get("result", r)
p = r.get("policy") or {}
v = p.get(sys.argv[1]) if sys.argv[1] != "last_error" else r.get("last_error")
print(",".join(v) if isinstance(v, list) else v)' "$2"
}
t_check "sts show: enforce policy of enf.ststest, id e1, its mx pattern" \
  bash -c "[ '$(showf enf.ststest mode)/$(showf enf.ststest id)/$(showf enf.ststest mx)' = enforce/e1/mx1.ststest ]"
t_check "sts show: human output names the mode" bash -c "$X $CTL -s $D/admin.sock sts show tst.ststest | grep -q testing"
t_check "sts list: the five policy domains and the one without" \
  bash -c "[ \$($X $CTL -s $D/admin.sock --json sts list | grep -o '\"domain\"' | wc -l) -ge 6 ]"

# fetches that must fail (RFC 8461 3.3): no policy results, the reason is shown
fails_with() { ctl sts refresh "$1" >/dev/null; showf "$1" last_error | grep -q "$2"; }
t_check "a redirect is not followed" t_wait_for 10 fails_with red.ststest 'HTTP status is not 200'
t_check "a policy served as text/html is refused" t_wait_for 10 fails_with html.ststest 'Content-Type is not text/plain'
t_check "a policy above 64 KiB is refused" t_wait_for 10 fails_with big.ststest 'larger than 64 KiB'
t_check "an invalid policy (enforce without mx) is refused" t_wait_for 10 fails_with badpol.ststest 'invalid policy: no mx pattern'
t_check "none of them left a policy in the cache" \
  bash -c "[ '$(showf red.ststest mode)$(showf html.ststest mode)$(showf big.ststest mode)$(showf badpol.ststest mode)' = NoneNoneNoneNone ]"

# id change: policy r2 names mxb only -> mxa is refused, mxb gets the mail. A message just
# before the change leaves an idle connection to mxa (closed after 2 s idle): it must not
# carry the next message once the policy changed.
send u1@rot.ststest
t_check "rot: a second message to mxa before the policy changes" t_wait_for 20 bash -c "[ \$(ls mxa/*.eml | wc -l) = 2 ]"
pol rot.ststest enforce mxb.ststest
txt rot.ststest r2
refresh_until() { # domain field value
  ctl sts refresh "$1" >/dev/null; [ "$(showf "$1" "$2")" = "$3" ]
}
t_check "a new TXT id triggers a fetch of the new policy" t_wait_for 15 refresh_until rot.ststest id r2
send u2@rot.ststest
t_check "after the id change the new mx list is enforced: delivered to mxb" t_wait_for 20 bash -c "[ -f mxb/000001.env ]"
t_check "mxa (no longer in the policy) got nothing more" [ "$(n mxa)" = 2 ]
echo "INFO: idle connections to mxa closed on the policy change: $(grep -c 'event=mta_sts_policy_changed' dpmaild.log)"

# another id while the policy server fails: the cached policy (r2) stays in force
touch web/rot.ststest.fail
txt rot.ststest r3
reqs() { grep -c '^mta-sts.rot.ststest' web/requests; }
r0=$(reqs)
failed_refresh() { ctl sts refresh rot.ststest >/dev/null; showf rot.ststest last_error | grep -q 'policy fetch failed'; }
t_check "a failed refresh is reported and the cached policy kept" t_wait_for 15 failed_refresh
t_check "the failed refresh did reach the policy server" [ "$(reqs)" -gt "$r0" ]
t_check "the cached policy id is still r2" [ "$(showf rot.ststest id)" = r2 ]
send u3@rot.ststest
t_check "with the fetch failing, the cached policy still enforces (mxb again)" t_wait_for 20 bash -c "[ \$(ls mxb/*.eml | wc -l) = 2 ]"
t_check "and mxa still gets nothing" [ "$(n mxa)" = 2 ]
t_check "the policy cache is persisted under the spool dir" grep -q '^rot.ststest r2 ' spool/mta-sts.cache

# restart with the policy server gone: the persisted policy keeps enforcing
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
kill -TERM "$WEB"; t_wait_exit "$WEB" 5 >/dev/null
DLV_ENV="SSL_CERT_FILE=$D/ca.crt" dlv_dpmaild PID cfg.yaml
send u4@rot.ststest
t_check "after a restart without the policy server, mail still goes only to mxb" \
  t_wait_for 20 bash -c "[ \$(ls mxb/*.eml | wc -l) = 3 ]"
t_check "mxa never got mail outside the policy" [ "$(n mxa)" = 2 ]
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly after the restart" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-sts-last; cp -a "$D" /tmp/dpmail-sts-last; }
t_done
