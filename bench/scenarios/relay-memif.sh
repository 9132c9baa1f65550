#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel-free comparison in one run, back to back: the four relay scenarios (plain-relay,
# tls-both, tls-dkim-rsa, tls-dkim-ed25519) on dpmaild-memif (DPDK backend on net_memif, load
# and sink in one dpmail-bench process on the peer end), dpmaild-posix and Postfix; then
# dpmaild-memif again for each VARIANTS entry (default: the memif link with MTU 9000, and with
# TCP checksums off on both ends: TRUSTED_LINK=true). `openssl speed rsa2048 ed25519` and the
# load average are recorded at the start and the end. Results under OUT_ROOT (default
# /tmp/dpmail-bench-results/relay-memif/<scenario>[/<variant>]/), one combined report at the
# end. Knobs: TARGETS, VARIANTS, SESSIONS (16), COUNT (4000), SIZE; root (DPDK runtime dirs).
cd "$(dirname "$0")"
B=${B:-$(cd ../.. && pwd)/build/dpmail-bench}
OUT_ROOT=${OUT_ROOT:-/tmp/dpmail-bench-results/relay-memif}
export SESSIONS=${SESSIONS:-16} COUNT=${COUNT:-4000}
export SC_PREFIX=${SC_PREFIX:-bmem-sc$$}   # DPDK --file-prefix of every dpmaild target here
TARGETS=${TARGETS:-"dpmaild-memif dpmaild-posix postfix"}
VARIANTS=${VARIANTS-"MEMIF_MTU=9000 TRUSTED_LINK=true"}
SCENARIOS=${SCENARIOS:-"plain-relay tls-both tls-dkim-rsa tls-dkim-ed25519"}
mkdir -p "$OUT_ROOT"
stamp() {
  echo "$(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  openssl speed -seconds 2 rsa2048 ed25519 2>/dev/null | grep -E 'rsa 2048 bits|Ed25519\)'
}
stamp | tee "$OUT_ROOT/start.txt"
rc=0
for s in $SCENARIOS; do
  echo "######## $s"
  OUT=$OUT_ROOT/$s TARGETS=$TARGETS bash "./$s.sh" || rc=1
  for v in $VARIANTS; do
    echo "######## $s, dpmaild-memif with $v"
    env "$v" OUT="$OUT_ROOT/$s/${v%%=*}" TARGETS=dpmaild-memif bash "./$s.sh" || rc=1
  done
done
stamp | tee "$OUT_ROOT/end.txt"
# one table: per scenario and target, gross and net CPU per message, and the ratios in
# messages per CPU-second against dpmaild-posix and against Postfix (gross)
python3 - "$OUT_ROOT" $SCENARIOS <<'EOP' | tee "$OUT_ROOT/summary.md"
import glob, json, os, sys
root, scen = sys.argv[1], sys.argv[2:]
print("| scenario | target | msgs/s | e2e/s | eod p50 / p99 ms | SUT CPU ms/msg (gross / net) | msgs/CPU-s | vs posix | vs Postfix |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for s in scen:
    rows = {}
    for f in sorted(glob.glob(f"{root}/{s}/*.json") + glob.glob(f"{root}/{s}/*/*.json")):
        d = json.load(open(f))
        if d.get("mode") != "load" or "sut" not in d:
            continue
        rows[d["label"]] = d
    def gross(d): return d["sut"]["cpu_s_per_1000_msgs"]
    posix = next((gross(d) for l, d in rows.items() if l == "dpmaild-posix"), None)
    pfx = next((gross(d) for l, d in rows.items() if l.startswith("postfix")), None)
    for l in sorted(rows, key=lambda l: (not l.startswith("postfix"), l)):
        d = rows[l]; g = gross(d); n = d["sut"].get("net_cpu_s_per_1000_msgs")
        e = d["latency_us"]["eod"]; e2e = d.get("relay", {}).get("msgs_per_s", 0)
        vp = f"{posix / g:.2f}x" if posix and g else "-"
        vf = f"{pfx / g:.1f}x" if pfx and g else "-"
        net = f" / {n:.3f}" if n is not None else ""
        print(f"| {s} | {l} | {d['msgs_per_s']:,.0f} | {e2e:,.0f} | {e['p50']/1e3:.1f} / {e['p99']/1e3:.1f} "
              f"| {g:.3f}{net} | {1000 / g if g else 0:,.0f} | {vp} | {vf} |")
EOP
exit $rc
