# SPDX-License-Identifier: MIT
# Shared harness of the dpmail-bench scenarios (source it). A scenario measures one job on
# every target in $TARGETS, on this machine, over loopback only:
#   sink            dpmail-bench load -> dpmail-bench sink directly (the bench's own ceiling)
#   postfix         a private Postfix instance (own config/queue directories under a temp dir,
#                   default durability) relaying to the sink, with OpenDKIM as a milter when the
#                   scenario signs
#   dpmaild-posix   dpmaild on the posix backend relaying to the sink
#   dpmaild-dpdk    dpmaild on the DPDK backend (TAP port in a namespace) relaying to the sink
#   dpmaild-memif   dpmaild on the DPDK backend on a net_memif port; dpmail-bench load and sink
#                   in one process on the other end of the memif link (our TCP stack and
#                   crypto/tls on both sides): no kernel networking anywhere on the path
# Results: one JSON per run in $OUT (default /tmp/dpmail-bench-results/<scenario>), a report
# table on stdout and SVG plots. Ports 12930-12999 on 127.0.0.1; temp dirs /tmp/dpmail-bench*.
# Knobs (environment): TARGETS, SESSIONS ("1 16 64"), COUNT (messages per run), SIZE, OUT.
# DPMAILD_TLS_EXTRA: extra keys for dpmaild's tls: mapping (e.g. "batched_records: false").
set -u
SC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-$SC_ROOT/build/dpmail-bench}
DPMAILD=${DPMAILD:-$SC_ROOT/build/dpmaild}
TARGETS=${TARGETS:-"sink postfix dpmaild-posix dpmaild-dpdk dpmaild-memif"}
SESSIONS=${SESSIONS:-"1 16 64"}
COUNT=${COUNT:-2000}
SIZE=${SIZE:-10k}
SINK_PORT=${SINK_PORT:-12930}
RELAY_PORT=${RELAY_PORT:-12931}
MILTER_PORT=${MILTER_PORT:-12932}
SC_PREFIX=${SC_PREFIX:-dpmail-bench-sc}    # DPDK --file-prefix of the dpmaild targets
SC_NS=${SC_NS:-dpmb$$}                      # namespace of the dpmaild-dpdk target
SC_TAP=${SC_TAP:-dpmbtap0}                  # its TAP interface
# dpmaild-memif's link is configured like the kernel's loopback that the posix target uses
# (like for like): jumbo frames (loopback's MTU is 65536; 9000 is memif's usual jumbo size) and
# no TCP checksums on either end (the kernel neither computes nor checks them on loopback).
MEMIF_MTU=${MEMIF_MTU:-9000}                # dpmaild-memif: MTU of the memif link (both ends)
TRUSTED_LINK=${TRUSTED_LINK:-true}          # dpmaild-memif: true = no TCP checksums (both ends)
SC_MEMIF_NET=${SC_MEMIF_NET:-198.18.28}     # dpmaild-memif: dpmaild .1, dpmail-bench .2
VERIFY_EVERY=${VERIFY_EVERY:-1}             # DKIM scenarios: the sink verifies every Nth message
BENCH_IDLE_US=${BENCH_IDLE_US:-50}          # dpmaild-memif: dpmail-bench's idle back-off
RX_INTR=${RX_INTR:-auto}                    # dpmaild-memif: dataplane.rx_interrupts (both ends)
BENCH_RX_INTR=${BENCH_RX_INTR:-$RX_INTR}     # dpmaild-memif: the dpmail-bench end's alone
SC_PIDS=()
SC_TMP=$(mktemp -d /tmp/dpmail-bench-sc.XXXXXX)
chmod 755 "$SC_TMP"   # Postfix and OpenDKIM run as their own users
SC_POSTFIX_DIR=""
SC_NS_MADE=""

sc_log() { echo "== $*" >&2; }

sc_cleanup() {
  local p
  sc_perf_stop
  [ -n "$SC_POSTFIX_DIR" ] && postfix -c "$SC_POSTFIX_DIR/etc" stop >/dev/null 2>&1
  for p in "${SC_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${SC_PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
  done
  [ -n "$SC_NS_MADE" ] && { ip netns del "$SC_NS_MADE" 2>/dev/null; rm -rf "/etc/netns/$SC_NS_MADE"; }
  [ -n "${SC_KEEP:-}" ] || rm -rf "$SC_TMP"
}
trap sc_cleanup EXIT

# sc_wait SECONDS CMD...: poll until CMD succeeds.
sc_wait() {
  local end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.05; done
}

sc_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# sc_port_open_at HOST PORT: the same from where the peers run (SC_EXEC).
sc_port_open_at() { "${SC_EXEC[@]}" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

sc_need() { [ -x "$B" ] || { echo "build first: make" >&2; exit 2; }; }

sc_out() { OUT=${OUT:-/tmp/dpmail-bench-results/$1}; mkdir -p "$OUT"; }

# sc_cert: self-signed certificates in $SC_TMP: RSA-2048 (cert.pem, key.pem) and ECDSA P-256
# (eccert.pem, eckey.pem). The relays under test (dpmaild and Postfix alike) serve both, as a
# modern MX does: OpenSSL picks ECDSA for clients that offer it (the load generator does), so a
# full handshake costs the server one P-256 signature instead of one RSA-2048 signature. The
# sink serves RSA only (the relay's client verifies it, which RSA makes cheap).
sc_cert() {
  [ -f "$SC_TMP/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SC_TMP/key.pem" \
    -out "$SC_TMP/cert.pem" -days 2 -subj /CN=relay.bench.test >/dev/null 2>&1
  [ -f "$SC_TMP/eccert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout "$SC_TMP/eckey.pem" -out "$SC_TMP/eccert.pem" -days 2 \
    -subj /CN=relay.bench.test >/dev/null 2>&1
}

# Where the peers run. Loopback by default; the dpmaild-dpdk target runs the sink and the load
# generator inside its namespace (SC_EXEC="ip netns exec NS") on the TAP link's addresses.
SC_EXEC=()
SINK_HOST=127.0.0.1
TARGET_HOST=127.0.0.1

# sc_sink [sink args...]: starts the sink on $SINK_HOST:$SINK_PORT; sets SINK_PID.
sc_sink() {
  "${SC_EXEC[@]}" "$B" sink --listen $SINK_HOST:$SINK_PORT --json "$SC_TMP/sink.json" --ids "$SC_TMP/sink.ids" \
    --json-interval-ms 100 "$@" \
    >"$SC_TMP/sink.out" 2>&1 &
  SINK_PID=$!; SC_PIDS+=("$SINK_PID")
  sc_wait 5 grep -q listening "$SC_TMP/sink.out" || { cat "$SC_TMP/sink.out" >&2; return 1; }
}

sc_sink_stop() {
  kill -TERM "$SINK_PID" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.05; done
  wait "$SINK_PID" 2>/dev/null
}

# sc_sink_wait N SECONDS: until the sink has accepted N unique messages.
sc_sink_count() { python3 -c "import json;print(json.load(open('$SC_TMP/sink.json'))['message_ids']['unique'])" 2>/dev/null || echo 0; }
sc_sink_wait() {
  local end=$(( $(date +%s) + $2 ))
  while [ "$(sc_sink_count)" -lt "$1" ]; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.2; done
}

# sc_dkim_key rsa|ed25519: a signing key for bench.test, selector "bench", in $SC_TMP/opendkim:
# bench.private (PEM) and keys.txt (the public key as the sink's --verify-dkim reads it).
sc_dkim_key() {
  local kt=$1 d=$SC_TMP/opendkim
  mkdir -p "$d"
  if [ "$kt" = ed25519 ]; then
    openssl genpkey -algorithm ed25519 -out "$d/bench.private" 2>/dev/null
    openssl pkey -in "$d/bench.private" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0 \
      | sed 's/^/v=DKIM1; k=ed25519; p=/' >"$d/bench.txtval"
  else
    openssl genrsa -out "$d/bench.private" 2048 2>/dev/null
    openssl rsa -in "$d/bench.private" -pubout -outform DER 2>/dev/null | base64 -w0 \
      | sed 's/^/v=DKIM1; k=rsa; p=/' >"$d/bench.txtval"
  fi
  printf 'bench._domainkey.bench.test %s\n' "$(cat "$d/bench.txtval")" >"$d/keys.txt"
  chown -R opendkim "$d" 2>/dev/null
}

# sc_opendkim rsa|ed25519: OpenDKIM as a milter on $MILTER_PORT signing bench.test with the key
# of sc_dkim_key; sets DKIM_PID.
sc_opendkim() {
  local kt=$1 d=$SC_TMP/opendkim
  cat >"$d/opendkim.conf" <<CONF
Syslog no
Background no
Mode s
Socket inet:$MILTER_PORT@127.0.0.1
Domain bench.test
Selector bench
KeyFile $d/bench.private
Canonicalization ${DKIM_CANON:-relaxed/simple}
SignatureAlgorithm $( [ "$kt" = ed25519 ] && echo ed25519-sha256 || echo rsa-sha256 )
UserID opendkim
PidFile $d/opendkim.pid
RequireSafeKeys no
CONF
  opendkim -x "$d/opendkim.conf" -f >"$d/opendkim.log" 2>&1 &
  DKIM_PID=$!; SC_PIDS+=("$DKIM_PID")
  sc_wait 10 sc_port_open "$MILTER_PORT" || { cat "$d/opendkim.log" >&2; return 1; }
}

# sc_postfix TLS_IN(0|1) TLS_OUT(0|1) MILTER(0|1): a private Postfix on $RELAY_PORT relaying
# everything to the sink. Default durability (Postfix fsyncs its queue files). Sets POSTFIX_PIDS
# (the master; its children are found by dpmail-bench through /proc).
sc_postfix() {
  local tin=$1 tout=$2 milter=$3 d=$SC_TMP/postfix
  SC_POSTFIX_DIR=$d
  mkdir -p "$d/etc" "$d/queue" "$d/data"
  chown postfix "$d/data"
  sc_cert
  cat >"$d/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydomain = bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file = $d/maillog
maillog_file_prefixes = /tmp
smtpd_banner = \$myhostname ESMTP
default_process_limit = ${POSTFIX_PROCS:-100}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
smtp_destination_concurrency_limit = ${POSTFIX_OUT_CONC:-20}
$( [ "$tin" = 1 ] && printf 'smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\nsmtpd_tls_eccert_file = %s\nsmtpd_tls_eckey_file = %s\nsmtpd_tls_security_level = may\n' "$SC_TMP/cert.pem" "$SC_TMP/key.pem" "$SC_TMP/eccert.pem" "$SC_TMP/eckey.pem" )
$( [ "$tout" = 1 ] && printf 'smtp_tls_security_level = encrypt\nsmtp_tls_ciphers = high\n' || printf 'smtp_tls_security_level = none\n' )
$( [ "$milter" = 1 ] && printf 'smtpd_milters = inet:127.0.0.1:%s\nmilter_default_action = tempfail\nmilter_protocol = 6\n' "$MILTER_PORT" )
${POSTFIX_EXTRA:-}
CONF
  cat >"$d/etc/master.cf" <<CONF
127.0.0.1:$RELAY_PORT inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
  postfix -c "$d/etc" check >"$d/check.log" 2>&1
  postfix -c "$d/etc" start >"$d/start.log" 2>&1 || { cat "$d/start.log" >&2; return 1; }
  sc_wait 10 sc_port_open "$RELAY_PORT" || { cat "$d/start.log" "$d/maillog" >&2; return 1; }
  POSTFIX_PIDS=$(head -1 "$d/queue/pid/master.pid" | tr -d ' ')
}

# sc_postfix_drained: nothing left in the private queue.
sc_postfix_drained() { [ -z "$(find "$SC_POSTFIX_DIR/queue/incoming" "$SC_POSTFIX_DIR/queue/active" "$SC_POSTFIX_DIR/queue/deferred" -type f 2>/dev/null | head -1)" ]; }

# sc_load LABEL SESSIONS [load args...]: one load run into $OUT/LABEL-SESSIONS.json.
sc_load() {
  local label=$1 n=$2; shift 2
  local sut=()
  [ -n "${SUT_PIDS:-}" ] && sut=(--sut-pid "$SUT_PIDS")
  "${SC_EXEC[@]}" "$B" load --server $TARGET_HOST:$TARGET_PORT --sessions "$n" --label "$label" \
    --json "$OUT/$label-$n.json" --ids "$SC_TMP/sent-$label-$n.ids" "${sut[@]}" "$@"
}

# sc_machine: one line naming the machine for the results.
sc_machine() {
  echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
}

# ---- the matrix: one scenario on every target ----------------------------------------------
# A scenario sets these, then calls sc_matrix:
#   SC_NAME            results directory name
#   TLS_IN, TLS_OUT    1 = STARTTLS on the inbound (load -> relay) / outbound (relay -> sink) leg
#   DKIM               none | rsa | ed25519 (Postfix: OpenDKIM milter; dpmaild: its own signer)
#   RCPTS              recipients per message
#   LOAD_EXTRA         extra `dpmail-bench load` arguments (array)
#   SINK_EXTRA         extra `dpmail-bench sink` arguments (array)
#   POSTFIX_EXTRA      extra main.cf lines
TLS_IN=${TLS_IN:-0}; TLS_OUT=${TLS_OUT:-0}; DKIM=${DKIM:-none}; RCPTS=${RCPTS:-1}
MPS=${MPS:-100}
LOAD_EXTRA=(); SINK_EXTRA=()

sc_load_common() {
  local a=(--count "$COUNT" --size "$SIZE" --rcpts "$RCPTS" --messages-per-session "$MPS" --pipelining)
  [ "$TLS_IN" = 1 ] && a+=(--starttls)
  printf '%s\n' "${a[@]}" "${LOAD_EXTRA[@]}"
}

sc_target_sink() {
  local tls=()
  [ "$TLS_IN" = 1 ] && tls=(--starttls --cert "$SC_TMP/cert.pem" --key "$SC_TMP/key.pem")
  sc_sink "${tls[@]}" "${SINK_EXTRA[@]}" || return 1
  TARGET_PORT=$SINK_PORT SUT_PIDS=$SINK_PID
  mapfile -t args < <(sc_load_common)
  for n in $SESSIONS; do sc_load sink-direct "$n" "${args[@]}" || true; done
  sc_sink_stop
}

sc_target_postfix() {
  command -v postfix >/dev/null || { echo "SKIP postfix: not installed"; return 0; }
  local tls=() milter=0
  [ "$TLS_OUT" = 1 ] && tls=(--starttls --cert "$SC_TMP/cert.pem" --key "$SC_TMP/key.pem")
  DKIM_PID=""
  if [ "$DKIM" != none ]; then
    command -v opendkim >/dev/null || { echo "SKIP postfix: opendkim not installed"; return 0; }
    sc_dkim_key "$DKIM"
    tls+=(--verify-dkim "$SC_TMP/opendkim/keys.txt" --verify-dkim-every "$VERIFY_EVERY")
  fi
  sc_sink "${tls[@]}" "${SINK_EXTRA[@]}" || return 1
  if [ "$DKIM" != none ]; then
    sc_opendkim "$DKIM" || { sc_sink_stop; return 1; }
    milter=1
  fi
  sc_postfix "$TLS_IN" "$TLS_OUT" "$milter" || { sc_sink_stop; return 1; }
  TARGET_PORT=$RELAY_PORT SUT_PIDS=$POSTFIX_PIDS${DKIM_PID:+,$DKIM_PID}
  local label=postfix
  [ "$DKIM" != none ] && label=postfix+opendkim
  mapfile -t args < <(sc_load_common)
  for n in $SESSIONS; do
    sc_load "$label" "$n" "${args[@]}" --sink-json "$SC_TMP/sink.json" --drain-timeout "${DRAIN_S:-300}" || true
  done
  postfix -c "$SC_POSTFIX_DIR/etc" stop >/dev/null 2>&1
  SC_POSTFIX_DIR=""
  [ -n "$DKIM_PID" ] && kill -TERM "$DKIM_PID" 2>/dev/null
  sc_sink_stop
  sc_dkim_summary
}

# After a signing run: how many messages the sink saw signed, and verified.
sc_dkim_summary() {
  [ "$DKIM" = none ] || python3 -c "
import json; d=json.load(open('$SC_TMP/sink.json')); v=d.get('dkim_verify', {})
print('sink: %d of %d messages signed; DKIM verification pass=%s fail=%s none=%s (1 in %s verified)' % (d['messages']['dkim_signed'],
      d['messages']['accepted'], v.get('pass'), v.get('fail'), v.get('none'), v.get('every', 1)))"
}

# dpmaild targets. posix: built in (sc_dpmaild_start relay) once dpmaild can deliver. dpdk:
# built in when run as root (sc_dpmaild_dpdk_start: a TAP port in a namespace, the sink and the
# load generator inside it). Either can be overridden: DPMAILD_POSIX_START / DPMAILD_DPDK_START
# name an executable that starts dpmaild listening on 127.0.0.1:$RELAY_PORT, relaying to
# 127.0.0.1:$SINK_PORT (TLS_IN/TLS_OUT/DKIM in its environment, cert/key and DKIM key in
# $SC_TMP) and prints its PID on stdout.
sc_target_dpmaild() {
  local mode=$1 var hook pid
  var=DPMAILD_$(echo "$mode" | tr a-z A-Z)_START
  hook=${!var:-}
  if [ -z "$hook" ] && ! sc_dpmaild_delivers; then
    echo "SKIP dpmaild-$mode: this dpmaild cannot relay (set $var to a start hook)"
    return 0
  fi
  if [ -z "$hook" ] && [ "$mode" = dpdk ] && [ "$(id -u)" != 0 ]; then
    echo "SKIP dpmaild-dpdk: needs root (TAP port in a network namespace)"
    return 0
  fi
  local sargs=()
  [ "$TLS_OUT" = 1 ] && sargs=(--starttls --cert "$SC_TMP/cert.pem" --key "$SC_TMP/key.pem")
  if [ "$DKIM" != none ]; then
    sc_dkim_key "$DKIM"
    sargs+=(--verify-dkim "$SC_TMP/opendkim/keys.txt" --verify-dkim-every "$VERIFY_EVERY")
  fi
  if [ -n "$hook" ]; then
    sc_sink "${sargs[@]}" "${SINK_EXTRA[@]}" || return 1
    pid=$(SC_TMP=$SC_TMP RELAY_PORT=$RELAY_PORT SINK_PORT=$SINK_PORT TLS_IN=$TLS_IN TLS_OUT=$TLS_OUT \
          DKIM=$DKIM "$hook") || { echo "SKIP dpmaild-$mode: start hook failed"; sc_sink_stop; return 0; }
    SC_PIDS+=("$pid")
    sc_wait 20 sc_port_open "$RELAY_PORT" || { echo "SKIP dpmaild-$mode: not listening"; sc_sink_stop; return 0; }
  elif [ "$mode" = dpdk ]; then
    # dpmaild first: the sink's address is the kernel side of dpmaild's TAP port
    sc_dpmaild_dpdk_start relay || { echo "SKIP dpmaild-dpdk: did not start"; sc_peers_local; return 0; }
    pid=$DPMAILD_PID
    sc_sink "${sargs[@]}" "${SINK_EXTRA[@]}" || { sc_peers_local; return 1; }
  else
    sc_sink "${sargs[@]}" "${SINK_EXTRA[@]}" || return 1
    sc_dpmaild_start relay || { echo "SKIP dpmaild-$mode: did not start"; sc_sink_stop; return 0; }
    pid=$DPMAILD_PID
  fi
  TARGET_PORT=$RELAY_PORT SUT_PIDS=$pid
  mapfile -t args < <(sc_load_common)
  for n in $SESSIONS; do
    sc_perf_start "dpmaild-$mode-$n" "$pid"
    sc_load "dpmaild-$mode" "$n" "${args[@]}" --sut-idle 2 --sink-json "$SC_TMP/sink.json" \
      --drain-timeout "${DRAIN_S:-300}" || true
    sc_perf_stop
  done
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  sc_sink_stop
  sc_dkim_summary
  sc_peers_local
}

# ---- dpmaild-memif: no kernel networking on the whole path ----------------------------------
# dpmaild (DPDK backend, net_memif server at $SC_MEMIF_NET.1, worker on CPU 1) and one
# dpmail-bench process (net_memif client at $SC_MEMIF_NET.2, pinned to CPU 0) running the load
# and the sink on the same port and lcore (`load --backend dpdk ... -- SINK OPTIONS`): the load
# connects to dpmaild, dpmaild delivers to the sink through its own TCP stack (static route of
# sink.test to $SC_MEMIF_NET.2:$SINK_PORT). One memif link, one bench process: dpmaild has one
# port, and memif is point to point, so both legs share it (as they would share a NIC).
# MEMIF_MTU (9000: jumbo frames, one descriptor each; 1500), TRUSTED_LINK (true, the default:
# neither end computes or checks TCP checksums, as on loopback; false: both do), DPMAILD_IDLE_US / BENCH_IDLE_US (idle back-offs),
# BENCH_MEMIF_ZC=yes (the bench end, memif's client, in the PMD's zero-copy mode: its mempool
# is the link's buffer memory; needs --single-file-segments, which --no-huge memory has).
# DPMAILD_MEMIF_ZC=yes: dpmaild is memif's client, in the PMD's zero-copy mode (its own mbufs
# are the link's buffers: no PMD copy on dpmaild's side), the bench the server; dpmaild then
# starts first and waits for the bench's socket (dp_port.c retries a memif client's start).
sc_memif_role() {
  if [ "${DPMAILD_MEMIF_ZC:-}" = yes ]; then [ "$1" = bench ] && echo server || echo client
  else [ "$1" = bench ] && echo client || echo server; fi
}
sc_memif_bsize() { echo $(( MEMIF_MTU > 2034 ? (MEMIF_MTU + 14 + 127) / 128 * 128 : 2048 )); }

sc_memif_bench_cfg() {
  cat <<EOC
eal:
  vdevs: ["net_memif0,role=$(sc_memif_role bench),socket=$SC_TMP/memif.sock,socket-abstract=no,bsize=$(sc_memif_bsize)${BENCH_MEMIF_ZC:+,zero-copy=$BENCH_MEMIF_ZC}"]
  file_prefix: $SC_PREFIX-mcli
${BENCH_MEMIF_ZC:+  args: [--single-file-segments]
}  memory_mb: 512
port: {device: net_memif0, ipv4: $SINK_HOST/24, mtu: $MEMIF_MTU}
dataplane: {backend: dpdk, main_lcore: 0, idle_sleep_us: $BENCH_IDLE_US, rx_interrupts: $BENCH_RX_INTR}
tcp: {max_conns: 30000, trusted_link: $TRUSTED_LINK}
EOC
}

# sc_memif_up MODE (inbound | relay): dpmaild on its end of the memif link (sc_dpmaild_start)
# and the bench end's config in $SC_TMP/bench-memif.yaml; 1 (said, peers reset) if dpmaild did
# not start. sc_memif_down: stops it and removes both ends' DPDK runtime directories.
sc_memif_up() {
  SINK_HOST=$SC_MEMIF_NET.2 TARGET_HOST=$SC_MEMIF_NET.1
  sc_memif_bench_cfg >"$SC_TMP/bench-memif.yaml"
  rm -f "$SC_TMP/memif.sock"
  sc_dpmaild_start "$1" memif || { echo "SKIP dpmaild-memif: did not start"; sc_peers_local; return 1; }
}
sc_memif_down() {
  kill -TERM "$DPMAILD_PID" 2>/dev/null
  wait "$DPMAILD_PID" 2>/dev/null
  rm -rf "/var/run/dpdk/$SC_PREFIX-msrv" "/var/run/dpdk/$SC_PREFIX-mcli"
  sc_peers_local
}

# Inbound only on memif: dpmaild without a route (messages stay in its spool), the load alone
# in the dpmail-bench process on the peer end.
sc_inbound_memif() {
  sc_memif_up inbound || return 0
  local pid=$DPMAILD_PID n
  for n in $SESSIONS; do
    sc_perf_start "dpmaild-memif-$n" "$pid"
    taskset -c 0 "$B" load --backend dpdk --dpdk-config "$SC_TMP/bench-memif.yaml" \
      --server "$TARGET_HOST:$RELAY_PORT" --sessions "$n" --label dpmaild-memif --json "$OUT/dpmaild-memif-$n.json" \
      --sut-pid "$pid" --sut-idle 2 "${args[@]}" 2>"$SC_TMP/bench-memif-$n.log" || tail -5 "$SC_TMP/bench-memif-$n.log"
    sc_perf_stop
  done
  sc_memif_down
}

sc_target_memif() {
  if ! sc_dpmaild_delivers; then echo "SKIP dpmaild-memif: this dpmaild cannot relay"; return 0; fi
  SINK_HOST=$SC_MEMIF_NET.2 TARGET_HOST=$SC_MEMIF_NET.1
  local sargs=(--listen "$SINK_HOST:$SINK_PORT" --json "$SC_TMP/sink.json" --ids "$SC_TMP/sink.ids")
  [ "$TLS_OUT" = 1 ] && sargs+=(--starttls --cert "$SC_TMP/cert.pem" --key "$SC_TMP/key.pem")
  if [ "$DKIM" != none ]; then
    sc_dkim_key "$DKIM"
    sargs+=(--verify-dkim "$SC_TMP/opendkim/keys.txt" --verify-dkim-every "$VERIFY_EVERY")
  fi
  sc_memif_up relay || return 0
  local pid=$DPMAILD_PID label=dpmaild-memif
  [ "$MEMIF_MTU" != 9000 ] && label=$label-mtu$MEMIF_MTU   # suffixes: not the default link
  [ "$TRUSTED_LINK" != true ] && label=$label-cksum
  [ -n "${BENCH_MEMIF_ZC:-}" ] && label=$label-bzc$BENCH_MEMIF_ZC
  [ "${DPMAILD_MEMIF_ZC:-}" = yes ] && label=$label-zc
  [ -n "${DPMAILD_IDLE_US:-}" ] && label=$label-idle$DPMAILD_IDLE_US
  mapfile -t args < <(sc_load_common)
  for n in $SESSIONS; do
    sc_perf_start "$label-$n" "$pid"
    taskset -c 0 "$B" load --backend dpdk --dpdk-config "$SC_TMP/bench-memif.yaml" \
      --server "$TARGET_HOST:$RELAY_PORT" --sessions "$n" --label "$label" --json "$OUT/$label-$n.json" \
      --ids "$SC_TMP/sent-$label-$n.ids" --sut-pid "$pid" --sut-idle 2 --drain-timeout "${DRAIN_S:-300}" \
      "${args[@]}" -- "${sargs[@]}" "${SINK_EXTRA[@]}" 2>"$SC_TMP/bench-memif-$n.log" || tail -5 "$SC_TMP/bench-memif-$n.log"
    sc_perf_stop
    grep -h '^sink:' "$SC_TMP/bench-memif-$n.log"
    sc_dkim_summary
  done
  sc_memif_down
}

# Profiling (PERF_OUT=DIR): `perf record` (cpu-clock: VMs often lack hardware counters) on the
# SUT's PID for each load run, into DIR/LABEL.data; PERF_ARGS adds options (e.g. "--call-graph
# dwarf,16384 -F 400"). Read with `perf report -i DIR/LABEL.data --sort dso,symbol`.
SC_PERF_PID=""
sc_perf_start() {
  [ -n "${PERF_OUT:-}" ] || return 0
  mkdir -p "$PERF_OUT"
  # shellcheck disable=SC2086
  perf record -e cpu-clock -F "${PERF_FREQ:-999}" ${PERF_ARGS:-} -p "$2" -o "$PERF_OUT/$1.data" \
    >"$PERF_OUT/$1.log" 2>&1 &
  SC_PERF_PID=$!
}
sc_perf_stop() {
  [ -n "$SC_PERF_PID" ] || return 0
  kill -INT "$SC_PERF_PID" 2>/dev/null; wait "$SC_PERF_PID" 2>/dev/null; SC_PERF_PID=""
}

sc_matrix() {
  sc_need
  sc_out "$SC_NAME"
  sc_cert
  rm -f "$OUT"/*.json
  sc_machine | tee "$OUT/machine.txt"
  echo "scenario $SC_NAME: TLS in=$TLS_IN out=$TLS_OUT DKIM=$DKIM rcpts=$RCPTS size=$SIZE count=$COUNT sessions='$SESSIONS'" | tee -a "$OUT/machine.txt"
  local t
  for t in $TARGETS; do
    sc_log "$SC_NAME: $t"
    case $t in
      sink) sc_target_sink ;;
      postfix) sc_target_postfix ;;
      dpmaild-posix) sc_target_dpmaild posix ;;
      dpmaild-dpdk) sc_target_dpmaild dpdk ;;
      dpmaild-memif) sc_target_memif ;;
      *) echo "unknown target $t" >&2 ;;
    esac
  done
  ls "$OUT"/*.json >/dev/null 2>&1 || { echo "no results" >&2; return 1; }
  "$B" report "$OUT"/*.json --svg-prefix "$OUT/plot" | tee "$OUT/report.txt"
  "$B" report --markdown "$OUT"/*.json >"$OUT/report.md"
}

# ---- inbound only (what dpmaild does today): accept, sign, store durably, 250 ------------------
# Postfix: the same job with delivery held (every message goes to the hold queue after cleanup
# wrote and fsynced it; OpenDKIM signs before that). dpmaild: the posix backend with its spool.

# sc_dpmaild_start MODE: dpmaild on the posix backend on $RELAY_PORT with STARTTLS, relaying for
# 127.0.0.0/8, signing bench.test with the sc_dkim_key key when DKIM != none. MODE relay: static
# route of sink.test to the sink (STARTTLS required to it when TLS_OUT=1); MODE inbound: no route
# (messages stay in the spool: DNS goes to a dead local forwarder, nothing leaves). Sets
# DPMAILD_PID.
sc_dpmaild_start() {
  local mode=$1 backend=${2:-posix} d=$SC_TMP/dpmaild
  mkdir -p "$d/spool"
  sc_cert
  {
    if [ "$backend" = memif ]; then
      local zc="" zargs=""
      [ "${DPMAILD_MEMIF_ZC:-}" = yes ] && zc=",zero-copy=yes" zargs=", args: [--single-file-segments]"
      echo "eal: {vdevs: [\"net_memif0,role=$(sc_memif_role dpmaild),socket=$SC_TMP/memif.sock,socket-abstract=no,bsize=$(sc_memif_bsize)$zc\"]$zargs, file_prefix: $SC_PREFIX-msrv, memory_mb: 512}"
      echo "port: {device: net_memif0, ipv4: $TARGET_HOST/24, mtu: $MEMIF_MTU}"
      echo "dataplane: {backend: dpdk, main_lcore: 0, workers: [1], idle_sleep_us: ${DPMAILD_IDLE_US:-100}, rx_interrupts: $RX_INTR}"
      echo "tcp: {trusted_link: $TRUSTED_LINK, max_conns: ${DPMAILD_MAX_CONNS:-4096}}"   # idle-10k: 20000
      echo "smtp: {hostname: relay.bench.test, listen: [{port: $RELAY_PORT, tls: starttls}]}"
      echo "relay: {clients: [{network: ${SINK_HOST%.*}.0/24}]}"
    elif [ "$backend" = dpdk ]; then
      echo "eal: {vdevs: [\"net_tap0,iface=$SC_TAP\"], file_prefix: $SC_PREFIX-dpdk, memory_mb: 256}"
      echo "port: {device: net_tap0, ipv4: $TARGET_HOST/24, gateway: $SINK_HOST}"
      echo "dataplane: {backend: dpdk, workers: [1], idle_sleep_us: ${DPMAILD_IDLE_US:-100}}"
      echo "smtp: {hostname: relay.bench.test, listen: [{port: $RELAY_PORT, tls: starttls}]}"
      echo "relay: {clients: [{network: ${SINK_HOST%.*}.0/24}]}"
    else
      echo "eal: {file_prefix: $SC_PREFIX, memory_mb: 128}"
      echo "port: {device: none, ipv4: 127.0.0.1/8}"
      echo "dataplane: {backend: posix, workers: [1], idle_sleep_us: ${DPMAILD_IDLE_US:-100}}"
      echo "smtp: {hostname: relay.bench.test, listen: [{address: 127.0.0.1, port: $RELAY_PORT, tls: starttls}]}"
      echo "relay: {clients: [{network: 127.0.0.0/8}]}"
    fi
    echo "control: {admin_socket: $d/admin.sock}"
    echo "limits: {max_sessions: ${DPMAILD_MAX_SESSIONS:-20000}}"   # idle-10k holds 10,000 + 16
    echo "tls: {certificates: [{cert: $SC_TMP/eccert.pem, key: $SC_TMP/eckey.pem}, {cert: $SC_TMP/cert.pem, key: $SC_TMP/key.pem}]${DPMAILD_TLS_EXTRA:+, $DPMAILD_TLS_EXTRA}}"
    echo "dns: {forwarders: [\"127.0.0.1@9\"]}"
    # the same canonicalization as the OpenDKIM of the Postfix target (DKIM_CANON to change)
    local canon=${DKIM_CANON-relaxed/simple}
    [ "$DKIM" != none ] && echo "dkim: {${canon:+canonicalization: $canon, }keys: [{domain: bench.test, selector: bench, key: $SC_TMP/opendkim/bench.private}]}"
    echo "spool: {dir: $d/spool, min_free_mb: 0${DPMAILD_SPOOL_EXTRA:+, $DPMAILD_SPOOL_EXTRA}}"   # DPMAILD_SPOOL_EXTRA: more keys
    if [ "$mode" = relay ]; then
      echo "delivery:"
      echo "  retry: {first: 2, cap: 4, jitter_pct: 0}"
      echo "  routes: [{domain: sink.test, hosts: [\"[$SINK_HOST]:$SINK_PORT\"]}]"
      echo "  tls_policy: [{destination: sink.test, mode: $( [ "$TLS_OUT" = 1 ] && echo encrypt || echo none )}]"
      # the same outbound concurrency as the Postfix target (smtp_destination_concurrency_limit)
      echo "  shaping: [${DPMAILD_SHAPING:-{destination: sink.test, connections: ${POSTFIX_OUT_CONC:-20}\}}]"
    fi
  } >"$d/dpmaild.yaml"
  "$DPMAILD" -c "$d/dpmaild.yaml" -t >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; return 1; }
  "${SC_EXEC[@]}" "$DPMAILD" -c "$d/dpmaild.yaml" >"$d/dpmaild.log" 2>&1 &
  DPMAILD_PID=$!; SC_PIDS+=("$DPMAILD_PID")   # ip netns exec execs: the PID is dpmaild's
  if [ "$backend" = dpdk ]; then
    # the TAP port appears in the namespace once the EAL is up; its kernel side is the peers'
    sc_wait 30 ip -n "$SC_NS" link show "$SC_TAP" || { tail -20 "$d/dpmaild.log" >&2; return 1; }
    ip -n "$SC_NS" addr add "$SINK_HOST/24" dev "$SC_TAP" && ip -n "$SC_NS" link set "$SC_TAP" up || return 1
  fi
  if [ "$backend" = memif ] && [ "$(sc_memif_role dpmaild)" = client ]; then
    # the client waits for the bench's socket: the bench starts next (its link wait covers
    # the rest of dpmaild's start-up)
    sc_wait 30 grep -q 'event=port_waiting' "$d/dpmaild.log" || { tail -20 "$d/dpmaild.log" >&2; return 1; }
    return 0
  elif [ "$backend" = memif ]; then # no kernel path to probe: the worker is up once it says so
    sc_wait 30 grep -q 'event=started' "$d/dpmaild.log" || { tail -20 "$d/dpmaild.log" >&2; return 1; }
  else
    sc_wait 30 sc_port_open_at "$TARGET_HOST" "$RELAY_PORT" || { tail -20 "$d/dpmaild.log" >&2; return 1; }
  fi
  sc_wait 20 test -S "$d/admin.sock"   # the listeners open before the control plane's socket
}

# sc_dpmaild_dpdk_start MODE: dpmaild on the DPDK backend (our TCP/IP stack) on a net_tap port
# inside a private namespace ($SC_NS); from then on the sink and the load generator run in that
# namespace on the TAP link (dpmaild 198.18.0.2, peers 198.18.0.1) until sc_peers_local. The
# SUT's CPU is dpmaild's PID only: the kernel's work for the peers' side of the TAP link is the
# peers' (as far as the kernel charges it to them). Sets DPMAILD_PID.
sc_dpmaild_dpdk_start() {
  ip netns del "$SC_NS" 2>/dev/null
  ip netns add "$SC_NS" || return 1
  SC_NS_MADE=$SC_NS
  mkdir -p "/etc/netns/$SC_NS" && : >"/etc/netns/$SC_NS/resolv.conf"   # no DNS leaves it
  ip -n "$SC_NS" link set lo up
  SC_EXEC=(ip netns exec "$SC_NS") SINK_HOST=198.18.0.1 TARGET_HOST=198.18.0.2
  sc_dpmaild_start "$1" dpdk
}

# Back to loopback peers (after a dpdk target); removes the namespace.
sc_peers_local() {
  SC_EXEC=() SINK_HOST=127.0.0.1 TARGET_HOST=127.0.0.1
  [ -n "$SC_NS_MADE" ] && { ip netns del "$SC_NS_MADE" 2>/dev/null; rm -rf "/etc/netns/$SC_NS_MADE"; }
  SC_NS_MADE=""
}
sc_dpmaild_inbound() { sc_dpmaild_start inbound; }

# dpmaild can deliver when its configuration knows static routes.
sc_dpmaild_delivers() { [ -x "$DPMAILD" ] && "$DPMAILD" --dump-config-doc 2>/dev/null | grep -q 'delivery.routes'; }

sc_inbound_matrix() {
  sc_need
  sc_out "$SC_NAME"
  sc_cert
  rm -f "$OUT"/*.json
  sc_machine | tee "$OUT/machine.txt"
  echo "scenario $SC_NAME (inbound only): TLS in=$TLS_IN DKIM=$DKIM size=$SIZE count=$COUNT sessions='$SESSIONS'" | tee -a "$OUT/machine.txt"
  [ "$DKIM" != none ] && sc_dkim_key "$DKIM"
  mapfile -t args < <(sc_load_common)
  local t
  for t in $TARGETS; do
    sc_log "$SC_NAME: $t"
    case $t in
      postfix)
        local milter=0 label=postfix-hold
        if [ "$DKIM" != none ]; then sc_opendkim "$DKIM" || continue; milter=1; label=postfix+opendkim-hold; fi
        POSTFIX_EXTRA="smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject
${POSTFIX_EXTRA:-}" sc_postfix "$TLS_IN" 0 "$milter" || continue
        TARGET_PORT=$RELAY_PORT SUT_PIDS=$POSTFIX_PIDS${DKIM_PID:+,$DKIM_PID}
        for n in $SESSIONS; do sc_load "$label" "$n" "${args[@]}" --sut-idle 2 || true; done
        echo "postfix hold queue: $(find "$SC_POSTFIX_DIR/queue/hold" -type f | wc -l) messages"
        postfix -c "$SC_POSTFIX_DIR/etc" stop >/dev/null 2>&1; SC_POSTFIX_DIR=""
        [ -n "${DKIM_PID:-}" ] && kill -TERM "$DKIM_PID" 2>/dev/null; DKIM_PID="" ;;
      dpmaild-posix)
        [ -x "$DPMAILD" ] || { echo "SKIP dpmaild-posix: $DPMAILD not built"; continue; }
        sc_dpmaild_start inbound || { echo "SKIP dpmaild-posix: did not start"; continue; }
        TARGET_PORT=$RELAY_PORT SUT_PIDS=$DPMAILD_PID
        for n in $SESSIONS; do sc_load dpmaild-posix "$n" "${args[@]}" --sut-idle 2 || true; done
        kill -TERM "$DPMAILD_PID"; wait "$DPMAILD_PID" 2>/dev/null
        echo "dpmaild spool: $(cat "$SC_TMP"/dpmaild/spool/* 2>/dev/null | grep -ao 'Message-ID: <' | wc -l) messages, $(cat "$SC_TMP"/dpmaild/spool/* 2>/dev/null | grep -ao 'DKIM-Signature:' | wc -l) DKIM signatures" ;;
      dpmaild-dpdk)
        echo "SKIP dpmaild-dpdk: the inbound scenario runs the posix backend only for now (a DPDK run needs the load inside the TAP namespace)" ;;
      dpmaild-memif) sc_inbound_memif ;;
      *) echo "SKIP $t: not an inbound target" ;;
    esac
  done
  ls "$OUT"/*.json >/dev/null 2>&1 || { echo "no results" >&2; return 1; }
  "$B" report "$OUT"/*.json --svg-prefix "$OUT/plot" | tee "$OUT/report.txt"
  "$B" report --markdown "$OUT"/*.json >"$OUT/report.md"
}
