#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tls_server.sh: crypto/tls server side against real peers (openssl s_client -starttls smtp,
# swaks --tls, python ssl) through tests/tools/tls_smtp_server on 127.0.0.1 (ephemeral port): TLS 1.2 and
# 1.3, ECDSA and RSA picked by the client's offer, SNI, resumption, ticket-key rotation, failed
# handshakes counted by reason (garbage, aborted, version, alert, timeout), a broken record and
# a close_notify in the middle of DATA, and STARTTLS command injection (CVE-2011-0411).
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/tls_pki.sh"
SRV=$BUILD/tests/tools/tls_smtp_server
PY=/usr/bin/python3
PEER=$(dirname "$0")/tls_peer.py
[ -x "$SRV" ] || t_skip "tls_smtp_server not built"
command -v openssl >/dev/null || t_skip "no openssl"

t_tmpdir D
D2=$(mktemp -d /tmp/dpmail-tls.XXXXXX); T_TMPS+=("$D2")
tls_pki "$D" || { t_fail "make test PKI"; exit 1; }
t_bg SPID "$SRV" -p 0 -d "$D" -s "$D/stats" -t 1500 2>"$D/srv.log"
t_wait_for 5 grep -q event=listening "$D/srv.log" || { t_fail "server starts"; cat "$D/srv.log"; exit 1; }
PORT=$(tls_server_port "$D/srv.log")

# sc ARGS...: one s_client STARTTLS session that says QUIT; output in $D/sc.out
sc() {
  printf 'QUIT\r\n' | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$PORT \
    -CAfile "$D/ca.pem" -verify_return_error -ign_eof "$@" >"$D/sc.out" 2>&1
}
has() { grep -q -- "$1" "$D/sc.out"; }
stat_is() { local v; v=$(sed -n "s/^tls.server.$1=//p" "$D/stats"); [ "${v:-0}" = "$2" ]; }
stat_ge() { local v; v=$(sed -n "s/^tls.server.$1=//p" "$D/stats"); [ "${v:-0}" -ge "$2" ]; }

sc -servername mx.test
t_check "tls1.3 ecdsa: handshake, chain verified" has "Verify return code: 0 (ok)"
t_check "tls1.3 ecdsa: TLSv1.3 AES-128-GCM" grep -q "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256" "$D/sc.out"
t_check "tls1.3 ecdsa: P-256 key" has "Server public key is 256 bit"
t_check "tls1.3 ecdsa: SMTP after TLS" has "221 2.0.0 Bye"

sc -servername mx.test -sigalgs rsa_pss_rsae_sha256
t_check "tls1.3 rsa (client offers RSA-PSS only): RSA-2048 chosen" has "Server public key is 2048 bit"

sc -servername mx.test -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
t_check "tls1.2 ecdsa" grep -q "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" "$D/sc.out"
sc -servername mx.test -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
t_check "tls1.2 rsa (client offers RSA suites only)" grep -q "New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384" "$D/sc.out"
t_check "tls1.2 rsa: RSA-2048 key" has "Server public key is 2048 bit"
sc -servername mx.test -tls1_2 -cipher AES128-SHA
t_check "no non-forward-secret / CBC suite accepted" has "handshake failure\|no cipher\|alert"

sc -servername other.test
t_check "SNI selects the second identity" has "subject=O = dpmail test, CN = other.test"

# resumption (TLS 1.3 tickets and TLS 1.2 tickets)
sc -servername mx.test -sess_out "$D/s13"
sc -servername mx.test -sess_in "$D/s13"
t_check "tls1.3 resumption: Reused" has "Reused, TLSv1.3"
sc -servername mx.test -tls1_2 -sess_out "$D/s12"
sc -servername mx.test -tls1_2 -sess_in "$D/s12"
t_check "tls1.2 resumption: Reused" has "Reused, TLSv1.2"
sc -servername mx.test -tls1_2 -sess_out "$D/s12b"
# rotation: ring [new, old] still opens the old ticket; after a second rotation it is retired
kill -USR1 "$SPID"
t_wait_for 5 grep -q event=ticket_key_rotated "$D/srv.log"
sc -servername mx.test -tls1_2 -sess_in "$D/s12b"
t_check "after one rotation the previous key still resumes" has "Reused, TLSv1.2"
kill -USR1 "$SPID"
t_wait_for 5 bash -c "[ \$(grep -c event=ticket_key_rotated '$D/srv.log') -ge 2 ]"
sc -servername mx.test -tls1_2 -sess_in "$D/s12b"
t_check "after two rotations the retired key gives a full handshake" has "New, TLSv1.2"
t_wait_for 5 stat_ge handshakes_resumed 3
t_check "counters: resumed handshakes counted" stat_ge handshakes_resumed 3

# swaks delivers a message over TLS
if timeout 20 swaks --to a@mx.test --from b@client.test --server 127.0.0.1:$PORT --tls \
     --tls-verify --tls-ca-path "$D/ca.pem" --tls-sni mx.test >"$D/swaks.out" 2>&1; then
  t_ok "swaks --tls delivers"
else
  t_fail "swaks --tls delivers"; tail -20 "$D/swaks.out"
fi
t_check "message received over TLS" grep -q "event=message tls=1" "$D/srv.log"

# failures by reason
$PY "$PEER" client $PORT "$D/ca.pem" garbage >"$D/g.out" 2>&1
t_check "garbage after STARTTLS: alert/close, no SMTP reply" test $? -eq 0
t_wait_for 5 stat_is fail.garbage 1
t_check "counted: fail.garbage" stat_is fail.garbage 1
$PY "$PEER" client $PORT "$D/ca.pem" aborted >"$D/a.out" 2>&1
t_wait_for 5 stat_is fail.aborted 1
t_check "counted: fail.aborted" stat_is fail.aborted 1
sc -servername mx.test -tls1_1 -cipher 'DEFAULT@SECLEVEL=0'
t_wait_for 5 stat_is fail.version 1
t_check "counted: fail.version (TLS 1.1 client)" stat_is fail.version 1
printf 'QUIT\r\n' | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$PORT \
  -CAfile "$D/rogue.pem" -verify_return_error -servername mx.test >"$D/sc.out" 2>&1
t_wait_for 5 stat_is fail.alert 1
t_check "counted: fail.alert (client rejects our chain)" stat_is fail.alert 1
$PY "$PEER" client $PORT "$D/ca.pem" silent >"$D/t.out" 2>&1
t_wait_for 5 stat_is fail.timeout 1
t_check "counted: fail.timeout (silent client, 1.5 s deadline)" stat_is fail.timeout 1

# in the middle of DATA: a broken record, then a close_notify
n0=$(grep -c "event=message" "$D/srv.log")
$PY "$PEER" client $PORT "$D/ca.pem" tamper >"$D/tamper.out" 2>&1; cat "$D/tamper.out"
# TLS 1.3 hides the alert in an application_data record of 2+1+16 bytes (0x13)
t_check "tampered record in DATA: server answers with an (encrypted) alert" grep -q "^after 1703030013" "$D/tamper.out"
t_wait_for 5 stat_is alerts_after_handshake 1
t_check "counted: alerts_after_handshake" stat_is alerts_after_handshake 1
$PY "$PEER" client $PORT "$D/ca.pem" notify >"$D/notify.out" 2>&1
t_wait_for 5 stat_ge close_notify_in 1
t_check "close_notify in DATA: counted, connection closed" stat_ge close_notify_in 1
t_check "no message accepted from either broken DATA" test "$(grep -c "event=message" "$D/srv.log")" -eq "$n0"

# STARTTLS injection: MAIL pipelined behind STARTTLS is discarded, never executed
$PY "$PEER" client $PORT "$D/ca.pem" inject >"$D/inject.out" 2>&1
t_check "STARTTLS injection: RCPT after TLS gets 503 (injected MAIL not run)" test $? -eq 0
t_check "STARTTLS injection: server discarded the pipelined bytes" grep -q "event=discarded" "$D/srv.log"

# still alive and clean
sc -servername mx.test
t_check "server still serves after all failures" has "221 2.0.0 Bye"
t_wait_for 5 stat_is active 0
t_check "no TLS connection left open" stat_is active 0
kill -TERM "$SPID"
wait "$SPID"; rc=$?
t_check "server exits cleanly" test "$rc" = 0
echo "--- server stats"; cat "$D/stats"
t_done
