#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make run: the relay demo. In a private network namespace it starts dpmaild on a DPDK TAP port
# (198.18.0.2) with a generated self-signed certificate, a generated DKIM key for example.com and
# an encrypted spool; a sink MTA on the kernel side (198.18.0.1:2525, STARTTLS) stands in for the
# remote MX. It sends a few messages through with swaks over STARTTLS, shows what happened
# (dpmailctl stats, the delivery log, DKIM verification of what the sink received), then leaves
# the relay running with the commands to send more, until Ctrl-C; everything is torn down at exit.
# The build is done by make beforehand. DPMAIL_RUN_NONINTERACTIVE=1 stops after the demo.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NS=${DPMAIL_RUN_NS:-dpmail-run}
DIR=$(mktemp -d /tmp/dpmail-run.XXXXXX)
LOG=$DIR/dpmaild.log
PY=/usr/bin/python3
pid=""; sink=""

[ "$(id -u)" = 0 ] || { echo "make run needs root (network namespaces, TAP devices)" >&2; exit 1; }

stop_pid() {
  local p=$1
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
}
cleanup() {
  trap - EXIT
  stop_pid "$pid"
  stop_pid "$sink"
  ip netns del "$NS" 2>/dev/null
  rm -rf "/etc/netns/$NS"
  echo "stopped; namespace $NS removed; files kept in $DIR"
}
trap 'exit 130' INT
trap 'exit 143' TERM
trap cleanup EXIT

# ---- keys and configuration ----
cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout relay.key \
  -out relay.crt -days 30 -subj /CN=relay.example.com 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mx.key \
  -out mx.crt -days 30 -subj /CN=mx.example.net 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem 2>/dev/null
echo "v=DKIM1; k=rsa; p=$(openssl rsa -in dkim.pem -pubout -outform DER 2>/dev/null | base64 -w0)" >dkim.txt
head -c 32 /dev/urandom >spool.key
chmod 600 dkim.pem relay.key spool.key
cat >dpmaild.yaml <<EOF
# make run: the embedded default (one DPDK TAP port, one worker) plus a relay configuration.
eal: {vdevs: ["net_tap0,iface=dtap0"], memory_mb: 256, file_prefix: dpmail-run}
port: {device: net_tap0, ipv4: 198.18.0.2/24, gateway: 198.18.0.1}
dataplane: {main_lcore: 0, workers: [1], idle_sleep_us: 100}
control: {admin_socket: $DIR/admin.sock}
smtp:
  hostname: relay.example.com
  listen: [{port: 25, tls: starttls}]
relay: {clients: [{network: 198.18.0.0/24, senders: [example.com], name: demo}]}
tls: {certificates: [{cert: $DIR/relay.crt, key: $DIR/relay.key}]}
dkim: {keys: [{domain: example.com, selector: demo, key: $DIR/dkim.pem}]}
spool: {dir: $DIR/spool, encrypt: true, keys: [{id: 1, file: $DIR/spool.key}], min_free_mb: 16}
delivery:
  routes: [{domain: "*", hosts: ["[198.18.0.1]:2525"], name: demo-mx}]
EOF

# ---- namespace, relay, sink ----
ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || exit 1
mkdir -p "/etc/netns/$NS" && : >"/etc/netns/$NS/resolv.conf"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$BUILD/dpmaild" -c dpmaild.yaml >"$LOG" 2>&1 &
pid=$!
deadline=$(( $(date +%s) + 30 ))
until grep -q 'event=started' "$LOG"; do
  if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
    echo "dpmaild did not start:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.1
done
ip -n "$NS" addr add 198.18.0.1/24 dev dtap0
ip -n "$NS" link set dtap0 up
ip netns exec "$NS" $PY "$ROOT/tests/tools/mx_sink.py" --host 198.18.0.1 --port 2525 \
  --dir "$DIR/mx" --tls mx.crt mx.key >sink.log 2>&1 &
sink=$!
until grep -q listening sink.log; do kill -0 "$sink" 2>/dev/null || { cat sink.log; exit 1; }; sleep 0.1; done

# ---- the demo ----
echo "== sending 3 messages with swaks over STARTTLS to 198.18.0.2:25"
for i in 1 2 3; do
  ip netns exec "$NS" swaks --server 198.18.0.2:25 --tls --helo client.example.com \
    --from news@example.com --h-From "News <news@example.com>" --to "user$i@example.net" \
    --h-Subject "dpmail demo $i" --body "Hello $i from the dpmail demo." 2>&1 | grep -E '^<~  250 2.0.0|\*\*\*'
done
echo "== waiting for the sink to receive them"
for _ in $(seq 1 100); do [ "$(ls "$DIR"/mx/*.eml 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
echo "== dpmailctl stats"
"$BUILD/dpmailctl" -s "$DIR/admin.sock" stats | head -40
echo "== delivery log"
grep -E 'event=(delivered|deferred|bounced)' "$LOG" | sed 's/^/  /'
echo "== at the sink (198.18.0.1:2525)"
for f in "$DIR"/mx/*.env; do echo "  $(basename "$f" .env): $(tr '\n' ' ' <"$f")"; done
echo "== DKIM verification at the sink (dkimpy)"
$PY "$ROOT/tests/tools/dkim_verify.py" --txt demo._domainkey.example.com=dkim.txt "$DIR"/mx/*.eml | sed 's/^/  /'

cat <<EOM

dpmaild is running (pid $pid) in network namespace $NS:
  relay   198.18.0.2:25   (DPDK TAP port, our TCP/IP stack; STARTTLS; relays for 198.18.0.0/24)
  MX      198.18.0.1:2525 (a sink MTA on the kernel side; messages land in $DIR/mx)
Send more:
  ip netns exec $NS swaks --server 198.18.0.2:25 --tls --from news@example.com \\
      --h-From news@example.com --to someone@example.net
  $BUILD/dpmailctl -s $DIR/admin.sock stats
  tail -f $LOG
Ctrl-C stops everything and removes the namespace.
EOM
[ -n "${DPMAIL_RUN_NONINTERACTIVE:-}" ] && exit 0
wait "$pid"
rc=$?
echo "dpmaild exited by itself with status $rc"
exit $rc
