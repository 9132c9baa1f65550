#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel-free path: dpmaild (net_memif server, test echo/discard services) and
# dpmail-bench tcp (net_memif client, our TCP stack through the conn API) in two DPDK processes
# sharing one memif socket, no hugepages, no kernel networking at all. Checks: a few MB echoed
# byte-exact on several connections, a one-way transfer into discard with every connection
# closed cleanly, short connections (connect, 100-byte request, echo, close) without a failure,
# and the server's counters (no checksum error, no RST, no connection left). Then the same
# client on the posix backend against dpmaild's posix backend over loopback (ports 13601-13602).
. "$(dirname "$0")/../lib/testlib.sh"
t_tmpdir D
B=$BUILD/dpmail-bench

server_yaml() { # BACKEND
  local eal="eal: {file_prefix: tc2msrv$$, memory_mb: 256}" port="port: {device: none, ipv4: 127.0.0.1/8}"
  if [ "$1" = dpdk ]; then
    eal="eal:
  vdevs: [\"net_memif0,role=server,socket=$D/memif.sock,socket-abstract=no\"]
  file_prefix: tc2msrv$$
  memory_mb: 256"
    port="port: {device: net_memif0, ipv4: 198.18.5.1/24}"
  fi
  cat >"$D/srv-$1.yaml" <<EOC
$eal
$port
control: {admin_socket: $D/admin-$1.sock}
dataplane: {backend: $1, main_lcore: 0, workers: [1], mbufs: 4095, idle_sleep_us: 50}
tcp: {mbufs: 16383, max_conns: 1024, test_echo_port: 13601, test_discard_port: 13602, test_quiet: true}
EOC
}

cat >"$D/cli.yaml" <<EOC
eal:
  vdevs: ["net_memif0,role=client,socket=$D/memif.sock,socket-abstract=no"]
  file_prefix: tc2mcli$$
  memory_mb: 256
port: {device: net_memif0, ipv4: 198.18.5.2/24}
dataplane: {main_lcore: 0, workers: [1], mbufs: 4095, idle_sleep_us: 50}
tcp: {mbufs: 16383, max_conns: 1024, max_time_wait: 16384, time_wait_ms: 1000}
EOC

# client NAME BACKEND ARGS...: one dpmail-bench tcp run with a deadline; its output is kept.
client() {
  local name=$1 be=$2; shift 2
  local args=(--backend posix --server 127.0.0.1)
  [ "$be" = dpdk ] && args=(--backend dpdk --config "$D/cli.yaml" --server 198.18.5.1)
  timeout 60 "$B" tcp "${args[@]}" "$@" >"$D/$name.out" 2>"$D/$name.err"
  local rc=$?
  grep '^tcp ' "$D/$name.out"
  [ $rc = 0 ] || { tail -5 "$D/$name.err"; return 1; }
}

for be in dpdk posix; do
  server_yaml "$be"
  t_bg SRV bash -c "exec $BUILD/dpmaild -c $D/srv-$be.yaml >$D/srv-$be.log 2>&1"
  if ! t_wait_for 20 grep -q 'event=started' "$D/srv-$be.log"; then
    t_fail "$be: dpmaild starts"; cat "$D/srv-$be.log"; continue
  fi
  t_check "$be: 3 connections echo 4 MiB each, byte-exact" \
    client echo-$be $be --port 13601 --mode echo --conns 3 --bytes 4M
  t_check "$be: 2 connections push 8 MiB each into discard, closed cleanly" \
    client bulk-$be $be --port 13602 --mode bulk --conns 2 --bytes 8M
  t_check "$be: short connections (connect, 100 B request, echo, close) for 2 s, none fails" \
    client crr-$be $be --port 13601 --mode crr --conns 16 --seconds 2 --warmup 0.2
  t_check "$be: more than 500 short connections completed" \
    bash -c "[ \$(grep -o ' done=[0-9]*' '$D/crr-$be.out' | cut -d= -f2) -gt 500 ]"
  kill -TERM "$SRV"
  t_wait_exit "$SRV" 10 >/dev/null
  if [ "$be" = dpdk ]; then
    st=$(grep 'event=tcp_stats' "$D/srv-$be.log" | head -1)
    echo "$st" | cut -c1-400
    t_check "dpdk: server without checksum errors, RSTs or connections left" \
      bash -c "grep -q ' rx_bad_csum=0 ' <<<'$st' && grep -q ' tx_rst=0 ' <<<'$st' && grep -q ' conns=0 ' <<<'$st'"
    t_check "dpdk: the client's stack saw no checksum error either" \
      bash -c "! grep -h 'event=tcp_stats' $D/*-dpdk.err | grep -qv ' rx_bad_csum=0 '"
  fi
done
# DPDK leaves its runtime directory behind; the prefixes are unique to this run
rm -rf "/var/run/dpdk/tc2msrv$$" "/var/run/dpdk/tc2mcli$$"
t_done
