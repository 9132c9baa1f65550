#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gcm_interop.sh: the batched AES-GCM record layer (crypto/gcm) against real TLS stacks over
# 127.0.0.1:132xx, through tests/tools/gcm_peer (OpenSSL handshake, then every record sealed
# and opened by crypto/gcm):
#   gcm client -> openssl s_server -rev: TLS 1.2/1.3 x AES-128/256-GCM, lines of 1 B..16 KiB
#     reversed, a KeyUpdate we start (update_requested: OpenSSL answers), close_notify;
#   openssl s_client -> gcm server: echo, KeyUpdates started by the peer ('K' and 'k');
#   gnutls-cli -> gcm server: TLS 1.2 and 1.3 echo and close_notify.
# Everything twice: records per call (gcm_link) and across sessions (gcm_alink, with
# DPMAIL_GCM_BATCH_SESSIONS=1; ports 140xx).
. "$(dirname "$0")/../lib/testlib.sh"
PEER=$BUILD/tests/tools/gcm_peer
DRIVE=$(dirname "$0")/../tools/gcm_drive.py
[ -x "$PEER" ] || t_skip "gcm_peer not built"
command -v openssl >/dev/null || t_skip "no openssl"

t_tmpdir D
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mx.test \
  -keyout "$D/k.pem" -out "$D/c.pem" -days 2 >/dev/null 2>&1 || { t_fail "test cert"; exit 1; }
listening() { ss -ltnH "sport = :$1" | grep -q .; }
counter() { sed -n "s/^gcm.$2=//p" "$1"; }
kus() { [ "$(counter "$1" key_updates_in)" = "$2" ] && [ "$(counter "$1" key_updates_out)" = "$3" ]; }

for MODE in call across; do
if [ $MODE = across ]; then export DPMAIL_GCM_BATCH_SESSIONS=1; PORT=14020; else PORT=13210; fi

# gcm client against s_server -rev
for v in 13 12; do
  for suite in 128 256; do
    PORT=$((PORT + 1)); name="$MODE: gcm client tls$v aes$suite vs s_server"
    t_bg SP timeout 30 openssl s_server -accept 127.0.0.1:$PORT -cert "$D/c.pem" -key "$D/k.pem" \
      -rev -naccept 1 "-tls1_${v#1}" >"$D/ss.$PORT" 2>&1
    t_wait_for 5 listening $PORT || { t_fail "$name: s_server listens"; continue; }
    if timeout 30 "$PEER" client $PORT "$v" "$suite" "$D/c.pem" "$D/k.pem" >"$D/gc.$PORT" 2>&1; then
      t_ok "$name"
    else
      t_fail "$name"; cat "$D/gc.$PORT"
    fi
    if [ "$v" = 13 ]; then
      t_check "$name: our KeyUpdate answered by OpenSSL" \
        kus "$D/gc.$PORT" 1 1
      t_check "$name: NewSessionTickets consumed" [ "$(counter "$D/gc.$PORT" tickets_in)" -ge 1 ]
    fi
    t_wait_exit "$SP" 10 >/dev/null
  done
done

# gcm server against s_client (KeyUpdates started by the peer in 1.3) and gnutls-cli
for v in 13 12; do
  for suite in 128 256; do
    PORT=$((PORT + 1)); name="$MODE: s_client tls$v -> gcm server aes$suite"
    t_bg GP timeout 40 "$PEER" server $PORT "$v" "$suite" "$D/c.pem" "$D/k.pem" >"$D/gs.$PORT" 2>&1
    t_wait_for 5 listening $PORT || { t_fail "$name: listens"; continue; }
    ku=; [ "$v" = 13 ] && ku=--ku
    t_check "$name: echo${ku:+ across KeyUpdates}" python3 "$DRIVE" $ku -- \
      openssl s_client -connect 127.0.0.1:$PORT "-tls1_${v#1}"
    t_wait_exit "$GP" 10 >/dev/null
    t_check "$name: clean close" [ "${T_RC:-1}" = 0 ]
    if [ "$v" = 13 ]; then
      t_check "$name: peer KeyUpdates K and k applied, K answered" \
        kus "$D/gs.$PORT" 2 1
    fi
  done
done

if command -v gnutls-cli >/dev/null; then
  for v in 13 12; do
    PORT=$((PORT + 1)); name="$MODE: gnutls-cli tls$v -> gcm server"
    t_bg GP timeout 40 "$PEER" server $PORT "$v" 128 "$D/c.pem" "$D/k.pem" >"$D/gn.$PORT" 2>&1
    t_wait_for 5 listening $PORT || { t_fail "$name: listens"; continue; }
    t_check "$name: echo" python3 "$DRIVE" -- gnutls-cli --insecure --port=$PORT \
      --priority "NORMAL:-VERS-ALL:+VERS-TLS1.${v#1}" 127.0.0.1
    t_wait_exit "$GP" 10 >/dev/null
    t_check "$name: clean close" [ "${T_RC:-1}" = 0 ]
  done
fi
done
t_done
