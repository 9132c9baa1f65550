#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# dpmail-bench load against dpmail-bench sink on loopback: 16 sessions x 20 messages, plain and
# with STARTTLS (self-signed certificate), the sink answering 10% of messages with 451. Checks:
# counts match on both sides, no loss, no duplicates, the JSON parses, the 4xx mix is seen by
# the load side exactly as the sink sent it; then the provider behaviours: a connection limit
# (421 at the banner) and slow end-of-data replies; sessions held idle beside a load
# (--idle-sessions); then report + SVG plots.
source "$(dirname "$0")/../lib/testlib.sh"
B=$BUILD/dpmail-bench
[ -x "$B" ] || t_skip "dpmail-bench not built"
t_tmpdir D
PORT=12921
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 2 \
  -subj /CN=sink.bench.test >/dev/null 2>&1 || t_fail "self-signed certificate"

t_bg SINK "$B" sink --listen 127.0.0.1:$PORT --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --mix 250:90,451:10 --json "$D/sink.json" --ids "$D/sink.ids" >"$D/sink.out" 2>&1
t_check "sink listening" t_wait_for 5 grep -q 'listening' "$D/sink.out"

"$B" load --server 127.0.0.1:$PORT --sessions 16 --messages-per-session 20 --pipelining \
  --json "$D/plain.json" --ids "$D/load.ids" --label plain >"$D/plain.out" 2>&1
t_check "load (plain) exits 0" [ $? -eq 0 ]
"$B" load --server 127.0.0.1:$PORT --sessions 16 --messages-per-session 20 --starttls \
  --size-mix 2k:10k:50k --json "$D/tls.json" --ids "$D/load-tls.ids" --label tls >"$D/tls.out" 2>&1
t_check "load (STARTTLS) exits 0" [ $? -eq 0 ]
kill -TERM "$SINK"
t_wait_exit "$SINK" 10 >"$D/sink.rc"   # not in $(...): wait needs the parent shell
t_check "sink exits 0 on SIGTERM" [ "$(cat "$D/sink.rc")" = 0 ]

for f in plain tls sink; do
  t_check "$f.json parses" python3 -m json.tool "$D/$f.json" >/dev/null
done
jq() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
for r in plain tls; do
  t_check "$r: 320 messages issued, no errors" \
    [ "$(jq "$D/$r.json" "d['messages']['issued'],d['messages']['errors']")" = "(320, 0)" ]
  t_check "$r: accepted + tempfail = 320" \
    [ "$(jq "$D/$r.json" "d['messages']['accepted']+d['messages']['tempfail']")" = 320 ]
  t_check "$r: 4xx from the sink's mix observed" [ "$(jq "$D/$r.json" "d['eod_codes'].get('451',0)>0")" = True ]
done
t_check "tls: 16+ handshakes" [ "$(jq "$D/tls.json" "d['sessions']['tls_ok']>=16")" = True ]
t_check "sink saw TLS sessions" [ "$(jq "$D/sink.json" "d['connections']['tls']>=16")" = True ]
ACC=$(( $(jq "$D/plain.json" "d['messages']['accepted']") + $(jq "$D/tls.json" "d['messages']['accepted']") ))
T451=$(( $(jq "$D/plain.json" "d['eod_codes'].get('451',0)") + $(jq "$D/tls.json" "d['eod_codes'].get('451',0)") ))
t_check "sink accepted = load accepted ($ACC)" [ "$(jq "$D/sink.json" "d['messages']['accepted']")" = "$ACC" ]
t_check "sink 451 count = load 451 count ($T451)" [ "$(jq "$D/sink.json" "d['messages']['by_code'].get('451',0)")" = "$T451" ]
t_check "sink: no duplicate Message-IDs" [ "$(jq "$D/sink.json" "d['message_ids']['duplicates']")" = 0 ]
cat "$D/load.ids" "$D/load-tls.ids" >"$D/sent.ids"
t_check "verify: no loss, no duplicates" "$B" verify "$D/sent.ids" "$D/sink.ids" --json "$D/verify.json"
t_check "verify: nothing unexpected" [ "$(jq "$D/verify.json" "d['unexpected']")" = 0 ]

# provider behaviours: a connection limit and slow replies
t_bg SINK2 "$B" sink --listen 127.0.0.1:$((PORT + 1)) --max-conns 4 --delay-ms 30 \
  --json "$D/sink2.json" >"$D/sink2.out" 2>&1
t_check "limited sink listening" t_wait_for 5 grep -q 'listening' "$D/sink2.out"
"$B" load --server 127.0.0.1:$((PORT + 1)) --sessions 8 --messages-per-session 3 \
  --json "$D/limit.json" >"$D/limit.out" 2>&1
t_check "limited: all 24 accepted in the end" [ "$(jq "$D/limit.json" "d['messages']['accepted']")" = 24 ]
t_check "limited: 421 at the banner seen" [ "$(jq "$D/limit.json" "d['sessions']['server_closed']>0")" = True ]
t_check "slow replies: eod p50 >= 30 ms" [ "$(jq "$D/limit.json" "d['latency_us']['eod']['p50']>=30000")" = True ]
# open loop against the slow sink: 150 msgs/s offered for 1 s to 4 sessions that can do ~130/s
"$B" load --server 127.0.0.1:$((PORT + 1)) --sessions 4 --messages-per-session 100 --rate 150 \
  --duration 1 --json "$D/open.json" >"$D/open.out" 2>&1
t_check "open loop: ~150 messages due, all accounted" \
  [ "$(jq "$D/open.json" "140 <= d['messages']['issued']+d['messages']['backlog'] <= 151")" = True ]
t_check "open loop: latency counted from the intended start (msg p99 > eod p99)" \
  [ "$(jq "$D/open.json" "d['latency_us']['msg']['p99'] > d['latency_us']['eod']['p99']")" = True ]
kill -TERM "$SINK2"
t_wait_exit "$SINK2" 10 >/dev/null
t_check "sink2 refused over the limit" [ "$(jq "$D/sink2.json" "d['connections']['refused_limit']>0")" = True ]

# --idle-sessions: 200 plain sessions greeted and held while 4 STARTTLS sessions send 40
# messages; the load's numbers are its own, the held sessions QUIT after it (paced)
t_bg SINK5 "$B" sink --listen 127.0.0.1:$((PORT + 4)) --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --json "$D/sink5.json" >"$D/sink5.out" 2>&1
t_check "held-sessions sink listening" t_wait_for 5 grep -q 'listening' "$D/sink5.out"
"$B" load --server 127.0.0.1:$((PORT + 4)) --sessions 4 --messages-per-session 10 --starttls \
  --idle-sessions 200 --connect-rate 2000 --json "$D/held.json" >"$D/held.out" 2>&1
t_check "held: load exits 0" [ $? -eq 0 ]
t_check "held: 99% greeted before the load started, all 200 at its end" \
  [ "$(jq "$D/held.json" "(d['idle_sessions']['greeted_at_start'] >= 198, d['idle_sessions']['greeted_at_end'])")" = "(True, 200)" ]
# (the load's own connections: 4, or 5 when a session that finished its 10 reconnects for a
# message still unissued; each says EHLO twice, before and after STARTTLS)
t_check "held: their banner and EHLO latencies are counted apart (200 each)" \
  [ "$(jq "$D/held.json" "(d['idle_sessions']['latency_us']['banner']['count'], d['idle_sessions']['latency_us']['ehlo']['count'], d['latency_us']['ehlo']['count'] == 2 * (d['sessions']['connects'] - 200))")" = "(200, 200, True)" ]
t_check "held: the load's 40 messages accepted, 4 of its sessions greeted, no timeouts" \
  [ "$(jq "$D/held.json" "(d['messages']['accepted'], d['sessions']['ready_peak'], d['sessions']['timeouts'])")" = "(40, 4, 0)" ]
t_check "held: the summary names them" grep -q 'idle sessions  200 held' "$D/held.out"
kill -TERM "$SINK5"
t_wait_exit "$SINK5" 10 >/dev/null
TLS_OK=$(jq "$D/held.json" "d['sessions']['tls_ok'] if d['sessions']['tls_ok'] == d['sessions']['connects'] - 200 else -1")
t_check "held: the sink saw 204+ connections at once, TLS only on the load's ($TLS_OK)" \
  [ "$(jq "$D/sink5.json" "(d['connections']['peak'] >= 204, d['connections']['tls'])")" = "(True, $TLS_OK)" ]
t_check "held: the sink got the 40 messages" [ "$(jq "$D/sink5.json" "d['messages']['accepted']")" = 40 ]

# --verify-dkim: a message signed by crypto/dkim's test signer passes, a tampered copy fails
SIGN=$BUILD/tests/tools/dkim_sign
if [ -x "$SIGN" ]; then
  openssl genrsa -out "$D/dk.pem" 2048 2>/dev/null
  printf 'bench._domainkey.bench.test v=DKIM1; k=rsa; p=%s\n' \
    "$(openssl rsa -in "$D/dk.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" >"$D/dkim-keys.txt"
  send_files() { # PORT FILE...: one SMTP session sending each file as a message
    python3 - "$@" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
for f in sys.argv[2:]:
    s.sendmail("a@bench.test", ["b@sink.test"], open(f, "rb").read())
s.quit()
PY
  }
  mkdir -p "$D/signed"
  printf 'From: a@bench.test\r\nTo: b@sink.test\r\nSubject: dkim\r\nMessage-ID: <dkim-1@bench.test>\r\n\r\nhello\r\n' >"$D/m.eml"
  "$SIGN" -k bench.test:bench:rsa:"$D/dk.pem" -O "$D/signed" "$D/m.eml" >/dev/null 2>&1
  sed 's/^hello/hellO/' "$D/signed/m.eml" | sed 's/dkim-1@/dkim-2@/' >"$D/tampered.eml"
  t_bg SINK3 "$B" sink --listen 127.0.0.1:$((PORT + 2)) --verify-dkim "$D/dkim-keys.txt" \
    --json "$D/sink3.json" >"$D/sink3.out" 2>&1
  t_check "verifying sink listening" t_wait_for 5 grep -q 'listening' "$D/sink3.out"
  send_files $((PORT + 2)) "$D/signed/m.eml" "$D/tampered.eml" >"$D/dkim.out" 2>&1
  kill -TERM "$SINK3"
  t_wait_exit "$SINK3" 10 >/dev/null
  t_check "verify-dkim: signed message passes, tampered one fails" \
    [ "$(jq "$D/sink3.json" "(d['dkim_verify']['pass'], d['dkim_verify']['fail'], d['messages']['dkim_signed'])")" = "(1, 1, 2)" ]
  # --verify-dkim-every 2: the 1st and 3rd messages are verified, the tampered 2nd is not
  t_bg SINK4 "$B" sink --listen 127.0.0.1:$((PORT + 3)) --verify-dkim "$D/dkim-keys.txt" \
    --verify-dkim-every 2 --json "$D/sink4.json" >"$D/sink4.out" 2>&1
  t_check "sampling sink listening" t_wait_for 5 grep -q 'listening' "$D/sink4.out"
  send_files $((PORT + 3)) "$D/signed/m.eml" "$D/tampered.eml" "$D/signed/m.eml" >"$D/dkim4.out" 2>&1
  kill -TERM "$SINK4"
  t_wait_exit "$SINK4" 10 >/dev/null
  t_check "verify-dkim-every 2: messages 1 and 3 verified (pass), the tampered 2nd not sampled" \
    [ "$(jq "$D/sink4.json" "(d['dkim_verify']['pass'], d['dkim_verify']['fail'], d['dkim_verify']['unsampled'], d['dkim_verify']['every'])")" = "(2, 0, 1, 2)" ]
else
  echo "SKIP: dkim_sign tool not built (verify-dkim check)"
fi

"$B" report "$D/plain.json" "$D/tls.json" "$D/sink.json" --svg-prefix "$D/plot" >"$D/report.out" 2>&1
t_check "report runs" [ $? -eq 0 ]
t_check "report lists both runs" grep -q '^tls ' "$D/report.out"
t_check "SVG plots are well-formed XML" python3 -c "import sys,xml.dom.minidom as m; [m.parse(f) for f in sys.argv[1:]]" \
  "$D/plot-throughput.svg" "$D/plot-latency.svg"
t_done
