#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/spool_bench.sh: the spool benchmark (issue 5). In one run, on the spool's filesystem:
#   1. disk sequential write bandwidth with dd (1 MiB blocks, conv=fdatasync), interleaved with
#      spool write throughput (64 KiB bodies, 64 concurrent, plain and encrypted): medians,
#   2. messages committed per second on one core at 1, 16, 64, 256 concurrent messages per turn
#      (4 KiB bodies), fdatasyncs per message, CPU per message, plain and encrypted,
#   3. recovery time and memory of 1,000,000 queued messages, cold and warm page cache, and
#      cold with encryption at rest,
#   4. (issue 11) the CPU per message of the spool at relay-like rates: open loop, 10 KiB
#      bodies read back after the acknowledgement (as delivery does), buffered writes
#      (direct_io=off) against direct I/O (on), interleaved REPS times; medians of the CPU split
#      (polling thread during work turns, io-wq workers, kworkers of the whole machine).
# SPOOL_BENCH_ONLY=paced runs part 4 alone.
# Usage: bench/spool_bench.sh [DIR (default /tmp)] ; BUILD=build by default.
# Prints key=value lines (docs/spool.md has them as a table).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/tests/tools/spool_bench
[ -x "$BIN" ] || { echo "build first: make DPMAIL_INNER=1 tests-build" >&2; exit 2; }
BASE=${1:-/tmp}
W=$(mktemp -d "$BASE/dpmail-spool-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
SECS=${SPOOL_BENCH_SECS:-3}
N=${SPOOL_BENCH_N:-1000000}

echo "# date=$(date -u +%FT%TZ) host=$(hostname) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\" cores=$(nproc) kernel=$(uname -r) fs=$(df -T "$W" | awk 'NR==2{print $2}')"
# The disk is shared (other VMs, other jobs): dd and the spool's bandwidth runs are interleaved
# REPS times and the medians compared.
REPS=${SPOOL_BENCH_REPS:-3}
run() { rm -rf "$W/s"; "$BIN" "$@" 2>/dev/null; }

# part 4: paced, direct I/O off vs on in the same run
paced() {
  echo "# paced A/B start load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  for rc in "2000 16" "8000 64"; do
    set -- $rc
    for r in $(seq 1 "$REPS"); do
      for d in off on; do
        run paced "$W/s" --rate "$1" --conc "$2" --size 10240 --secs "$SECS" --read --direct $d |
          sed "s/^/variant=$d /"
      done
    done | tee "$W/paced.$1"
    python3 - "$W/paced.$1" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    rows.setdefault(kv["variant"], []).append(kv)
keys = ["msgs_per_batch", "work_us_per_msg", "iowq_us_per_msg", "kworker_us_per_msg", "spool_us_per_msg"]
med = {v: {k: statistics.median(float(r[k]) for r in rs) for k in keys} for v, rs in rows.items()}
for v in ("off", "on"):
    if v in med:
        print("median direct=%s rate=%s %s" % (v, rows[v][0]["rate"], " ".join("%s=%.2f" % (k, med[v][k]) for k in keys)))
if "off" in med and "on" in med and med["on"]["spool_us_per_msg"]:
    print("ratio spool_us_per_msg off/on = %.2f" % (med["off"]["spool_us_per_msg"] / med["on"]["spool_us_per_msg"]))
PY
  done
  echo "# paced A/B end load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}
if [ "${SPOOL_BENCH_ONLY:-}" = paced ]; then paced; exit 0; fi
mbs() { sed -E 's/.*MB_per_s=([0-9.]+).*/\1/'; }
median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
: >"$W/dd.v"; : >"$W/sp.v"; : >"$W/spe.v"
for r in $(seq 1 "$REPS"); do
  dd_line=$(dd if=/dev/zero of="$W/dd" bs=1M count=512 conv=fdatasync 2>&1 | tail -1)
  rm -f "$W/dd"
  v=$(awk '{for(i=1;i<=NF;i++) if($i ~ /^[MG]B\/s$/){v=$(i-1); if($i=="GB/s") v*=1000; print v}}' <<<"$dd_line")
  echo "mode=dd rep=$r bs=1M count=512 conv=fdatasync MB_per_s=$v"; echo "$v" >>"$W/dd.v"
  big=$(run commit "$W/s" --conc 64 --size 65536 --secs "$SECS"); echo "$big"; mbs <<<"$big" >>"$W/sp.v"
  bige=$(run commit "$W/s" --conc 64 --size 65536 --secs "$SECS" --encrypt); echo "$bige"; mbs <<<"$bige" >>"$W/spe.v"
done
dd_mbs=$(median <"$W/dd.v"); sp_mbs=$(median <"$W/sp.v"); spe_mbs=$(median <"$W/spe.v")
echo "median_MB_per_s dd=$dd_mbs spool=$sp_mbs spool_encrypted=$spe_mbs ratio_spool_vs_dd=$(awk -v a="$sp_mbs" -v b="$dd_mbs" 'BEGIN{printf "%.2f", a/b}') ratio_encrypted_vs_dd=$(awk -v a="$spe_mbs" -v b="$dd_mbs" 'BEGIN{printf "%.2f", a/b}')"
for e in "" --encrypt; do
  for c in 1 16 64 256; do run commit "$W/s" --conc "$c" --size 4096 --secs "$SECS" $e; done
done
rm -rf "$W/s"
"$BIN" recovery "$W/s" --n "$N" --size 256 --cold 2>/dev/null | sed 's/^mode=recover /mode=recover cache=cold /'
"$BIN" recover "$W/s" 2>/dev/null | sed 's/^mode=recover /mode=recover cache=warm /'
rm -rf "$W/s"
"$BIN" recovery "$W/s" --n "$N" --size 256 --cold --encrypt 2>/dev/null | sed 's/^mode=recover /mode=recover cache=cold /'
rm -rf "$W/s"
paced
