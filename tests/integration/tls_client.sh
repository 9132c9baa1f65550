#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tls_client.sh: crypto/tls client side (tls_conn_client_new + tls_policy) through
# tests/tools/tls_smtp_client against real SMTP servers on 127.0.0.1 (free ports of 12600-12699
# or ephemeral; copies of this test run concurrently in other work trees): aiosmtpd with
# STARTTLS (good certificate, rogue certificate, no STARTTLS), our own STARTTLS server (session
# reuse), and a hand-made server that injects replies after its 220 (CVE-2021-38371).
# Every policy: none, opportunistic, verify, dane (DANE-EE 3 1 1, DANE-TA 2 0 1, mismatch),
# mta-sts (enforce, testing, MX not in policy).
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/tls_pki.sh"
CLI=$BUILD/tests/tools/tls_smtp_client
SRV=$BUILD/tests/tools/tls_smtp_server
PY=/usr/bin/python3
PEER=$(dirname "$0")/tls_peer.py
[ -x "$CLI" ] || t_skip "tls_smtp_client not built"
$PY -c "import aiosmtpd" 2>/dev/null || t_skip "python3-aiosmtpd missing"

t_tmpdir D
tls_pki "$D" || { t_fail "make test PKI"; exit 1; }
# aiosmtpd peer NAME ARGS...: starts aiosmtpd on a free port of our range; sets $NAME.
aiosmtpd_peer() {
  local var=$1 port apid; shift   # (not "pid": t_bg has a local of that name)
  for _ in 1 2 3; do
    port=$(tls_port) || break
    t_bg apid $PY -m aiosmtpd -n -c aiosmtpd.handlers.Sink -l 127.0.0.1:$port "$@" 2>>"$D/a.log"
    if t_wait_for 10 tls_listening $port $apid; then printf -v "$var" %s "$port"; return 0; fi
    kill "$apid" 2>/dev/null
  done
  t_fail "aiosmtpd $* starts"; exit 1
}
aiosmtpd_peer GOOD --tlscert "$D/ecdsa.pem" --tlskey "$D/ecdsa.key"
aiosmtpd_peer ROGUE --tlscert "$D/rogue.pem" --tlskey "$D/rogue.key"
aiosmtpd_peer NOTLS
t_bg P4 "$SRV" -p 0 -d "$D" 2>"$D/own.log"
t_wait_for 5 grep -q event=listening "$D/own.log" || { t_fail "own server starts"; exit 1; }
OWN=$(tls_server_port "$D/own.log")

# run NAME EXPECTED_EXIT GREP_PATTERN ARGS...: one delivery attempt
run() {
  local name=$1 want=$2 pat=$3; shift 3
  "$CLI" "$@" >"$D/out" 2>&1
  local rc=$?
  if [ $rc -eq "$want" ] && grep -q -- "$pat" "$D/out"; then
    t_ok "$name"
  else
    t_fail "$name (exit $rc, want $want, pattern '$pat')"; grep -v '^S:' "$D/out" | head -5
  fi
}
CA=(-c "$D/ca.pem")
EE=$(openssl x509 -in "$D/ecdsa.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
TA=$(openssl x509 -in "$D/ca.pem" -outform DER | sha256sum | cut -d' ' -f1)

run "opportunistic (default): encrypted, verified against the CA" 0 "result=delivered tls=1 version=TLSv1.3 .* verified=1" \
  -p $GOOD -H mx.test "${CA[@]}"
run "opportunistic, unknown CA: encrypted, not verified" 0 "result=delivered tls=1 .* verified=0" \
  -p $ROGUE -H mx.test "${CA[@]}"
run "opportunistic, no STARTTLS offered: delivered in clear" 0 "result=delivered tls=0" \
  -p $NOTLS -H mx.test "${CA[@]}"
run "none: no STARTTLS even when offered" 0 "result=delivered tls=0" \
  -p $NOTLS -H mx.test -P none
run "verify: good chain and name" 0 "result=delivered tls=1 .* verified=1" \
  -p $GOOD -H mx.test -P verify "${CA[@]}"
run "verify: name mismatch defers" 75 "result=defer .*fail=verify" \
  -p $GOOD -H mail.elsewhere.test -P verify "${CA[@]}"
run "verify: untrusted chain defers" 75 "result=defer .*fail=verify" \
  -p $ROGUE -H mx.test -P verify "${CA[@]}"
run "verify: no STARTTLS defers" 75 "result=defer reason=\"STARTTLS not offered" \
  -p $NOTLS -H mx.test -P verify "${CA[@]}"
run "dane: DANE-EE 3 1 1 matches (no CA, any name)" 0 "result=delivered tls=1 .* verified=1 dane=1" \
  -p $GOOD -H any-name.example -P dane -a "3 1 1 $EE"
run "dane: DANE-TA 2 0 1 matches" 0 "result=delivered tls=1 .* verified=1 dane=1" \
  -p $GOOD -H mx.test -P dane -a "2 0 1 $TA"
run "dane: certificate does not match the TLSA record: defer" 75 "result=defer .*fail=dane" \
  -p $ROGUE -H mx.test -P dane -a "3 1 1 $EE"
run "dane: no STARTTLS defers" 75 "result=defer reason=\"STARTTLS not offered" \
  -p $NOTLS -H mx.test -P dane -a "3 1 1 $EE"
run "mta-sts enforce: MX matches, verified" 0 "result=delivered tls=1 .* verified=1" \
  -p $GOOD -H a.mx.test -P mta-sts -m enforce -x "*.mx.test" "${CA[@]}"
run "mta-sts enforce: MX not in policy: defer before connecting" 75 "mx not in policy" \
  -p $GOOD -H mx.test -P mta-sts -m enforce -x "mail.other.test" "${CA[@]}"
run "mta-sts enforce: bad chain defers" 75 "fail=verify" \
  -p $ROGUE -H mx.test -P mta-sts -m enforce -x "mx.test" "${CA[@]}"
run "mta-sts testing: bad chain reported, delivered" 0 "result=delivered tls=1 .* verified=0" \
  -p $ROGUE -H mx.test -P mta-sts -m testing -x "mx.test" "${CA[@]}"
run "session reuse per destination: second delivery resumed" 0 "resumed=1" \
  -p $OWN -H mx.test -P verify -n 3 "${CA[@]}"
t_check "session reuse: counted as resumed handshakes" grep -q "tls.client.handshakes_resumed=2" "$D/out"
t_check "session reuse: TLS 1.3 client records taken over by crypto/gcm (tickets kept)" \
  grep -q "tls.client.gcm_sessions=3" "$D/out"

# CVE-2021-38371: replies injected in clear after the 220 to STARTTLS are dropped
INJ=$(tls_port)
t_bg P5 $PY "$PEER" server $INJ "$D/ecdsa.pem" "$D/ecdsa.key" inject >"$D/inj.log" 2>&1
t_wait_for 10 tls_listening $INJ $P5 || t_fail "inject peer starts"
run "injected replies after 220 are discarded, delivery over TLS" 0 "result=delivered tls=1" \
  -p $INJ -H mx.test -P verify "${CA[@]}"
t_check "injected bytes were dropped, not parsed" grep -q "^discarded=" "$D/out"
t_done
