#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TCP: our stack over net_memif against the kernel over loopback, in one run, same client
# logic (dpmail-bench tcp, written against the conn API) and same server (dpmaild's test-only
# echo/discard services). Kernel-free path: dpmaild (memif server) <-> dpmail-bench (memif
# client), two DPDK processes sharing one memif socket, no hugepages. Kernel path: dpmaild
# with dataplane.backend: posix <-> dpmail-bench --backend posix on 127.0.0.1.
# Workloads: crr (connect, 100-byte request, echo, close; CONNS_CRR in flight), bulk (one way
# into discard; CONNS_LONG long connections) and echo (CONNS_LONG long connections).
# The server's worker runs on CPU 1, the client on CPU 0. Reported per workload: rate, CPU
# seconds of client + server, work per CPU-second, and the ratio ours/kernel. Results (JSON per
# run and a summary) go to OUT (default /tmp/dpmail-tc3-bench). No root needed: memif uses a
# socket file in OUT, the kernel path loopback ports ECHO_PORT and ECHO_PORT+1 (14201-14202);
# TC_PREFIX names the DPDK runtime dirs (tc3b): give both your own when runs may overlap.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
OUT=${OUT:-/tmp/dpmail-tc3-bench}
ECHO_PORT=${ECHO_PORT:-14201} DISCARD_PORT=$(( ${ECHO_PORT:-14201} + 1 ))
TC_PREFIX=${TC_PREFIX:-tc3b}
SECONDS_RUN=${SECONDS_RUN:-5}
CONNS_CRR=${CONNS_CRR:-64}
CONNS_LONG=${CONNS_LONG:-4}
IDLE_US=${IDLE_US:-50}
MODES=${MODES:-crr bulk echo}
TRUSTED_LINK=${TRUSTED_LINK:-false}  # true: no TCP checksums on the memif link (both ends)
MEMIF_MTU=${MEMIF_MTU:-9000}         # MTU of the memif link (both ends; the MSS follows it)
MEMIF_BUF=$(( MEMIF_MTU > 2034 ? (MEMIF_MTU + 14 + 127) / 128 * 128 : 2048 ))  # one descriptor a frame
KERNEL_MTU=${KERNEL_MTU:-}           # set: the kernel side runs in its own network namespace
                                     # whose loopback has this MTU (host lo: 65536)
NS=tc3bk$$
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/memif.sock
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$KERNEL_MTU" ] && ip netns del "$NS" 2>/dev/null
  rm -rf /var/run/dpdk/${TC_PREFIX}srv /var/run/dpdk/${TC_PREFIX}cli /var/run/dpdk/${TC_PREFIX}px  # DPDK runtime dirs
}
KX=()
if [ -n "$KERNEL_MTU" ]; then
  ip netns add "$NS" && ip -n "$NS" link set lo up mtu "$KERNEL_MTU" || exit 1
  KX=(ip netns exec "$NS")
fi
trap cleanup EXIT

# memif_cfg ROLE PREFIX IP: the eal and port sections of a memif end
memif_cfg() {
  cat <<EOC
eal:
  vdevs: ["net_memif0,role=$1,socket=$OUT/memif.sock,socket-abstract=no,bsize=$MEMIF_BUF"]
  file_prefix: $2
  memory_mb: 512
port: {device: net_memif0, ipv4: $3/24, mtu: $MEMIF_MTU}
EOC
}

# common_cfg BACKEND TCP_EXTRA: dataplane and tcp sections (worker on CPU 1; the bench client
# runs its loop on lcore 0, see bench_tcp_io.c)
common_cfg() {
  cat <<EOC
dataplane: {backend: $1, main_lcore: 0, workers: [1], mbufs: 8191, idle_sleep_us: $IDLE_US}
tcp: {mbufs: 32767, max_conns: 8192, trusted_link: $TRUSTED_LINK, $2}
EOC
}

server_cfg() { # BACKEND
  if [ "$1" = dpdk ]; then
    memif_cfg server ${TC_PREFIX}srv 198.18.5.1
  else
    echo "eal: {file_prefix: ${TC_PREFIX}px, memory_mb: 64}"
    echo "port: {device: none, ipv4: 127.0.0.1/8}"
  fi
  echo "control: {admin_socket: $OUT/admin-$1.sock}"
  common_cfg "$1" "test_echo_port: $ECHO_PORT, test_discard_port: $DISCARD_PORT, test_quiet: true"
}

client_cfg() {
  memif_cfg client ${TC_PREFIX}cli 198.18.5.2
  common_cfg dpdk "max_time_wait: 65536, time_wait_ms: 2000"
}

start_server() { # BACKEND
  server_cfg "$1" >"$OUT/server-$1.yaml"
  local x=()
  [ "$1" = posix ] && x=("${KX[@]}")
  "${x[@]}" "$B/dpmaild" -c "$OUT/server-$1.yaml" >"$OUT/server-$1.log" 2>&1 &
  SRV=$!
  PIDS+=("$SRV")
  for _ in $(seq 1 200); do
    grep -qs 'event=started' "$OUT/server-$1.log" && return 0
    kill -0 "$SRV" 2>/dev/null || break
    sleep 0.05
  done
  echo "server ($1) did not start:"; cat "$OUT/server-$1.log"; exit 1
}

stop_server() {
  kill -TERM "$SRV"; wait "$SRV" 2>/dev/null
}

run_client() { # BACKEND MODE
  local port=$ECHO_PORT conns=$CONNS_LONG args=() x=()
  [ "$2" = bulk ] && port=$DISCARD_PORT
  [ "$2" = crr ] && conns=$CONNS_CRR
  if [ "$1" = dpdk ]; then
    args=(--backend dpdk --config "$OUT/client.yaml" --server 198.18.5.1)
  else
    args=(--backend posix --server 127.0.0.1)
    x=("${KX[@]}")
  fi
  "${x[@]}" taskset -c 0 "$B/dpmail-bench" tcp "${args[@]}" --port $port --mode "$2" --conns "$conns" \
    --seconds "$SECONDS_RUN" --server-pid "$SRV" --label "$1-$2" --json "$OUT/$1-$2.json" \
    2>>"$OUT/client-$1.log" | tee -a "$OUT/summary.txt"
}

client_cfg >"$OUT/client.yaml"
: >"$OUT/summary.txt"
echo "trusted_link=$TRUSTED_LINK memif_mtu=$MEMIF_MTU kernel_lo_mtu=${KERNEL_MTU:-65536} idle_sleep_us=$IDLE_US"' '"seconds=$SECONDS_RUN" | tee -a "$OUT/summary.txt"
echo "date=$(date -u +%FT%TZ) host=$(hostname) cpus=$(nproc) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\" kernel=$(uname -r)" |
  tee -a "$OUT/summary.txt"
for be in dpdk posix; do
  start_server "$be"
  for m in $MODES; do run_client "$be" "$m"; done
  stop_server
done
python3 - "$OUT" $MODES <<'EOP' | tee -a "$OUT/summary.txt"
import json, sys
out, modes = sys.argv[1], sys.argv[2:]
print(f"{'mode':6} {'ours rate':>14} {'kernel rate':>14} {'ours /cpu-s':>13} {'kernel /cpu-s':>14} {'ratio':>6} {'ratio(+softirq)':>16}")
for m in modes:
    try:
        d = json.load(open(f"{out}/dpdk-{m}.json")); k = json.load(open(f"{out}/posix-{m}.json"))
    except OSError:
        continue
    def with_si(r):
        cpu = r["cpu_client_s"] + r["cpu_server_s"] + r["softirq_s"]
        work = r["done"] if m == "crr" else r["mb"]
        return work / cpu if cpu else 0
    u = d["unit"]
    ratio = d["per_cpu_s"] / k["per_cpu_s"] if k["per_cpu_s"] else 0
    ratio_si = with_si(d) / with_si(k) if with_si(k) else 0
    print(f"{m:6} {d['rate']:>10.0f} {u}/s {k['rate']:>10.0f} {u}/s {d['per_cpu_s']:>9.0f} {u} {k['per_cpu_s']:>10.0f} {u} {ratio:>6.2f} {ratio_si:>16.2f}")
EOP
