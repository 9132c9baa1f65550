#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/spool_bench.sh: the spool benchmark (issue 5). In one run, on the spool's filesystem:
#   1. disk sequential write bandwidth with dd (1 MiB blocks, conv=fdatasync),
#   2. messages committed per second on one core at 1, 16, 64, 256 concurrent messages per turn
#      (4 KiB bodies), fdatasyncs per message,
#   3. spool write throughput with 64 KiB bodies at 64 concurrent (compared with dd),
#   4. the same with encryption at rest,
#   5. recovery time and memory of 1,000,000 queued messages, warm and cold page cache.
# Usage: bench/spool_bench.sh [DIR (default /tmp)] ; BUILD=build by default.
# Prints key=value lines and a Markdown table for docs/spool.md.
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
dd_line=$(dd if=/dev/zero of="$W/dd" bs=1M count=512 conv=fdatasync 2>&1 | tail -1)
rm -f "$W/dd"
dd_mbs=$(awk '{for(i=1;i<=NF;i++) if($i ~ /^[MG]B\/s$/){v=$(i-1); if($i=="GB/s") v*=1000; print v}}' <<<"$dd_line")
echo "mode=dd bs=1M count=512 conv=fdatasync MB_per_s=$dd_mbs"
run() { rm -rf "$W/s"; "$BIN" "$@" 2>/dev/null; }
for c in 1 16 64 256; do run commit "$W/s" --conc "$c" --size 4096 --secs "$SECS"; done
big=$(run commit "$W/s" --conc 64 --size 65536 --secs "$SECS"); echo "$big"
bige=$(run commit "$W/s" --conc 64 --size 65536 --secs "$SECS" --encrypt); echo "$bige"
run commit "$W/s" --conc 64 --size 4096 --secs "$SECS" --encrypt
sp_mbs=$(sed -E 's/.*MB_per_s=([0-9.]+).*/\1/' <<<"$big")
spe_mbs=$(sed -E 's/.*MB_per_s=([0-9.]+).*/\1/' <<<"$bige")
echo "ratio_spool_vs_dd=$(awk -v a="$sp_mbs" -v b="$dd_mbs" 'BEGIN{printf "%.2f", a/b}') ratio_encrypted_vs_dd=$(awk -v a="$spe_mbs" -v b="$dd_mbs" 'BEGIN{printf "%.2f", a/b}')"
rm -rf "$W/s"
"$BIN" recovery "$W/s" --n "$N" --size 256 --cold 2>/dev/null | sed 's/^mode=recover /mode=recover cache=cold /'
"$BIN" recover "$W/s" 2>/dev/null | sed 's/^mode=recover /mode=recover cache=warm /'
