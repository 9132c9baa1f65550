#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# dpmail-bench on the kernel-free relay path: dpmaild (DPDK backend, net_memif server, our
# TCP/IP stack) relays what dpmail-bench load sends to the dpmail-bench sink running in the same
# bench process, on the same memif client port and lcore (--backend dpdk ... -- SINK OPTIONS).
# No kernel networking at all: both DPDK processes share one memif socket in the test's
# directory, addresses 198.18.27.1 (dpmaild) and 198.18.27.2 (bench), no hugepages.
# Checks: 4 sessions x 200 messages with STARTTLS on both legs (crypto/tls on both sides of
# the bench, dpmaild's own TLS) and DKIM Ed25519 signed by dpmaild and verified by the sink:
# every message arrived exactly once (the load's accepted Message-IDs against the sink's) and
# every signature verified; the sink's TLS and the load's TLS counts; dpmaild's TCP without
# checksum errors. Then 1,000 idle sessions held beside a load (--idle-sessions). Then the roles swapped: dpmaild as memif's zero-copy client, started before
# the bench's server (100 plain messages). Then the same bench code on the sock backend (conn API on kernel sockets,
# 127.0.0.1:27020), load and sink in one process, a size mix up to 200 KiB with STARTTLS.
. "$(dirname "$0")/../lib/testlib.sh"
D=$(mktemp -d /tmp/dpmail-bmem.XXXXXX); T_TMPS+=("$D")
B=$BUILD/dpmail-bench
PFX=bmem$$
T_TMPS+=("/var/run/dpdk/$PFX-srv" "/var/run/dpdk/$PFX-cli")   # DPDK runtime dirs, removed at exit
jq() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 2 \
  -subj /CN=relay.bench.test >/dev/null 2>&1 || t_skip "openssl cannot make a certificate"
openssl genpkey -algorithm ed25519 -out "$D/dkim.pem" 2>/dev/null
printf 'bench._domainkey.bench.test v=DKIM1; k=ed25519; p=%s\n' \
  "$(openssl pkey -in "$D/dkim.pem" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)" >"$D/keys.txt"

cat >"$D/dpmaild.yaml" <<EOC
eal:
  vdevs: ["net_memif0,role=server,socket=$D/memif.sock,socket-abstract=no,bsize=2048"]
  file_prefix: $PFX-srv
  memory_mb: 512
port: {device: net_memif0, ipv4: 198.18.27.1/24, mtu: 1500}
dataplane: {backend: dpdk, main_lcore: 0, workers: [1], idle_sleep_us: 100}
smtp: {hostname: relay.bench.test, listen: [{port: 27011, tls: starttls}]}
relay: {clients: [{network: 198.18.27.0/24}]}
control: {admin_socket: $D/admin.sock}
tls: {certificates: [{cert: $D/cert.pem, key: $D/key.pem}]}
dns: {forwarders: ["127.0.0.1@9"]}
dkim: {keys: [{domain: bench.test, selector: bench, key: $D/dkim.pem}]}
spool: {dir: $D/spool, min_free_mb: 0}
delivery:
  retry: {first: 2, cap: 4, jitter_pct: 0}
  routes: [{domain: sink.test, hosts: ["[198.18.27.2]:27010"]}]
  tls_policy: [{destination: sink.test, mode: encrypt}]
  shaping: [{destination: sink.test, connections: 8}]
EOC
cat >"$D/bench.yaml" <<EOC
eal:
  vdevs: ["net_memif0,role=client,socket=$D/memif.sock,socket-abstract=no,bsize=2048"]
  file_prefix: $PFX-cli
  memory_mb: 512
port: {device: net_memif0, ipv4: 198.18.27.2/24, mtu: 1500}
dataplane: {backend: dpdk, idle_sleep_us: 50}
tcp: {max_conns: 2048}
EOC
mkdir -p "$D/spool"

t_bg SRV bash -c "exec $BUILD/dpmaild -c $D/dpmaild.yaml >$D/dpmaild.log 2>&1"
if ! t_wait_for 20 grep -q 'event=started' "$D/dpmaild.log"; then
  t_fail "dpmaild starts on net_memif"; tail -20 "$D/dpmaild.log"; exit 1
fi

timeout 50 "$B" load --backend dpdk --dpdk-config "$D/bench.yaml" --server 198.18.27.1:27011 \
  --sessions 16 --count 200 --messages-per-session 13 --pipelining --starttls --size 10k \
  --ids "$D/sent.ids" --json "$D/load.json" --sut-pid "$SRV" --drain-timeout 30 \
  -- --listen 198.18.27.2:27010 --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --verify-dkim "$D/keys.txt" --json "$D/sink.json" --ids "$D/sink.ids" >"$D/load.out" 2>"$D/load.err"
rc=$?
grep -E '^(dpmail-bench|  (throughput|relay|end of data))' "$D/load.out"
t_check "memif: the load run ends well (every message at the sink)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -20 "$D/load.err"
t_check "memif: 200 messages accepted by dpmaild, no failure" \
  [ "$(jq "$D/load.json" "d['messages']['accepted'], d['messages']['errors'], d['messages']['tempfail']")" = "(200, 0, 0)" ]
t_check "memif: STARTTLS on every inbound session (crypto/tls client)" \
  [ "$(jq "$D/load.json" "d['sessions']['tls_ok'] >= 4 and d['sessions']['tls_failures'] == 0")" = True ]
t_check "memif: the load ran on the DPDK backend" [ "$(jq "$D/load.json" "d['config']['backend']")" = dpdk ]
# 16 sessions open at once through an unresolved next hop: none waits for a SYN retry (1 s)
# (the ARP hold queue keeps them, and the load's first session resolves the server alone)
t_check "memif: 16 sessions at once, every connect under 0.5 s" \
  [ "$(jq "$D/load.json" "d['latency_us']['connect']['count'] >= 16 and d['latency_us']['connect']['max'] < 500000")" = True ]
t_check "memif: the sink has 200 unique messages, no duplicate" \
  [ "$(jq "$D/sink.json" "d['message_ids']['unique'], d['message_ids']['duplicates'], d['messages']['accepted']")" = "(200, 0, 200)" ]
t_check "memif: every message arrived exactly once (verify sent vs received)" \
  "$B" verify "$D/sent.ids" "$D/sink.ids" --json "$D/verify.json"
t_check "memif: nothing unexpected at the sink" [ "$(jq "$D/verify.json" "d['unexpected']")" = 0 ]
t_check "memif: the outbound leg was TLS (crypto/tls server in the sink)" \
  [ "$(jq "$D/sink.json" "d['connections']['tls'] >= 1")" = True ]
t_check "memif: 200 DKIM Ed25519 signatures verified, none failed" \
  [ "$(jq "$D/sink.json" "d['dkim_verify']['pass'], d['dkim_verify']['fail'], d['messages']['dkim_signed']")" = "(200, 0, 200)" ]
t_check "memif: the SUT's CPU was measured" [ "$(jq "$D/load.json" "d['sut']['cpu_s'] > 0")" = True ]

# idle sessions over DPDK: one bench process greets 1,000 plain sessions on dpmaild and holds
# them while 4 STARTTLS sessions relay 100 messages beside them (load --idle-sessions); then
# they QUIT, paced, with nothing lost on the link
timeout 60 "$B" load --backend dpdk --dpdk-config "$D/bench.yaml" --server 198.18.27.1:27011 \
  --sessions 4 --count 100 --messages-per-session 25 --pipelining --starttls --size 10k \
  --idle-sessions 1000 --connect-rate 4000 --json "$D/held.json" --sut-pid "$SRV" --drain-timeout 30 \
  -- --listen 198.18.27.2:27010 --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --json "$D/held-sink.json" >"$D/held.out" 2>"$D/held.err"
rc=$?
grep -E '^  idle sessions' "$D/held.out"
t_check "memif held: the run ends well, 100 relayed beside the held sessions" \
  [ "$rc,$(jq "$D/held.json" "d['messages']['accepted'], d['sessions']['timeouts']")" = "0,(100, 0)" ]
[ "$rc" = 0 ] || tail -5 "$D/held.err"
t_check "memif held: 99% of 1,000 greeted before the load, all at its end" \
  [ "$(jq "$D/held.json" "(d['idle_sessions']['greeted_at_start'] >= 990, d['idle_sessions']['greeted_at_end'])")" = "(True, 1000)" ]
t_check "memif held: the sink got the 100 messages" \
  [ "$(jq "$D/held-sink.json" "d['message_ids']['unique'], d['message_ids']['duplicates']")" = "(100, 0)" ]

kill -TERM "$SRV"
t_wait_exit "$SRV" 15 >/dev/null
st=$(grep 'event=tcp_stats' "$D/dpmaild.log" | head -1)
t_check "memif: dpmaild's TCP saw no checksum error" grep -q ' rx_bad_csum=0 ' <<<"$st"

# roles swapped: dpmaild is memif's client in the PMD's zero-copy mode (its own mbufs are the
# link's buffers) and starts first: it waits for the server's socket (dp_port.c retries the
# start), then (after a refused handshake, below) the bench comes up as the server and the link
# forms
sed -e 's/role=server,\(.*\)bsize=2048/role=client,\1bsize=2048,zero-copy=yes/' \
  -e "s/file_prefix: $PFX-srv/file_prefix: $PFX-zsrv\n  args: [--single-file-segments]/" \
  -e "s|dir: $D/spool|dir: $D/spool2|" -e "s|$D/admin.sock|$D/admin2.sock|" "$D/dpmaild.yaml" >"$D/dpmaild2.yaml"
sed -e 's/role=client/role=server/' -e "s/$PFX-cli/$PFX-zcli/" "$D/bench.yaml" >"$D/bench2.yaml"
T_TMPS+=("/var/run/dpdk/$PFX-zsrv" "/var/run/dpdk/$PFX-zcli")
# DPDK 22.11's memif client never reconnects once its handshake failed; dpmaild restarts a
# client port whose link is not up within 2 s (dp_port.c). Proven here: a fake server that
# accepts on the socket (memif speaks SOCK_SEQPACKET) and hangs up at once stands in first,
# then the real one.
mkdir -p "$D/spool2"; rm -f "$D/memif.sock"
t_bg SRV2 bash -c "exec $BUILD/dpmaild -c $D/dpmaild2.yaml >$D/dpmaild2.log 2>&1"
t_check "memif client: dpmaild waits for the server's socket" \
  t_wait_for 20 grep -q 'event=port_waiting' "$D/dpmaild2.log"
t_bg FAKE python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(8)
while True:
    c, _ = s.accept(); c.close()' "$D/memif.sock"
t_check "memif client: a refused handshake restarts dpmaild's port" \
  t_wait_for 30 grep -q 'event=port_restart' "$D/dpmaild2.log"
kill -TERM "$FAKE"; t_wait_exit "$FAKE" 10 >/dev/null; rm -f "$D/memif.sock"
timeout 50 "$B" load --backend dpdk --dpdk-config "$D/bench2.yaml" --server 198.18.27.1:27011 \
  --sessions 4 --count 100 --messages-per-session 25 --pipelining --size 10k \
  --ids "$D/sent2z.ids" --json "$D/load2z.json" --sut-pid "$SRV2" --sut-idle 1 --drain-timeout 30 \
  -- --listen 198.18.27.2:27010 --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --json "$D/sink2z.json" --ids "$D/sink2z.ids" >"$D/load2z.out" 2>"$D/load2z.err"
rc=$?
t_check "memif client: zero-copy dpmaild relays every message exactly once" \
  [ "$rc,$(jq "$D/load2z.json" "d['messages']['accepted']"),$(jq "$D/sink2z.json" "d['message_ids']['unique'], d['message_ids']['duplicates']")" = "0,100,(100, 0)" ]
[ "$rc" = 0 ] || { tail -5 "$D/load2z.err"; tail -5 "$D/dpmaild2.log"; }
t_check "memif client: RX interrupts found the client's ring" grep -q 'event=rx_interrupts_memif .*ring=s2c' "$D/dpmaild2.log"
kill -TERM "$SRV2"
t_wait_exit "$SRV2" 15 >/dev/null

# the same conn-API code on kernel sockets (the sock backend): load and sink in one process
timeout 30 "$B" load --backend sock --server 127.0.0.1:27020 --sessions 4 --count 200 \
  --messages-per-session 25 --pipelining --starttls --size-mix 2k:10k:50k:200k \
  --ids "$D/sent2.ids" --json "$D/load2.json" \
  -- --listen 127.0.0.1:27020 --starttls --cert "$D/cert.pem" --key "$D/key.pem" \
  --json "$D/sink2.json" --ids "$D/sink2.ids" >"$D/load2.out" 2>"$D/load2.err"
rc=$?
t_check "sock: load and sink in one process, STARTTLS, size mix: run ends well" [ "$rc" = 0 ]
t_check "sock: 200 accepted, TLS on every connection, 200 unique at the sink" \
  [ "$(jq "$D/load2.json" "d['messages']['accepted'], d['sessions']['tls_ok'] == d['sessions']['connects']"),$(jq "$D/sink2.json" "d['message_ids']['unique'], d['message_ids']['duplicates']")" = "(200, True),(200, 0)" ]
t_check "sock: every message exactly once" "$B" verify "$D/sent2.ids" "$D/sink2.ids"

# a standalone sink on the conn API (sock backend, crypto/tls server) against the kernel path's
# load (OpenSSL client): the two TLS stacks talk to each other, and the sink's own loop exits on
# --expect
t_bg SINK3 "$B" sink --backend sock --listen 127.0.0.1:27021 --starttls --cert "$D/cert.pem" \
  --key "$D/key.pem" --expect 100 --timeout 30 --json "$D/sink3.json" >"$D/sink3.out" 2>&1
t_check "sock sink: listening" t_wait_for 10 grep -q 'listening on 127.0.0.1:27021 over posix' "$D/sink3.out"
# (no reconnects: the sink exits at --expect, a session reconnecting then would fail its TLS)
timeout 30 "$B" load --server 127.0.0.1:27021 --sessions 4 --count 100 --messages-per-session 100 \
  --pipelining --starttls --json "$D/load3.json" >/dev/null 2>"$D/load3.err"
t_check "sock sink: kernel load with OpenSSL delivered 100 over TLS" \
  [ "$(jq "$D/load3.json" "d['messages']['accepted'], d['sessions']['tls_failures']")" = "(100, 0)" ] ||
  { tail -5 "$D/load3.err"; tail -5 "$D/sink3.out"; }
t_wait_exit "$SINK3" 15 >/dev/null
t_check "sock sink: exits 0 after --expect 100, 100 unique" \
  [ "$T_RC,$(jq "$D/sink3.json" "d['message_ids']['unique']")" = "0,100" ]
t_done
