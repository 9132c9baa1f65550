#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test and ends with one summary line that CI reads: "total: N passed, N failed".
#   unit:        build/tests/unit/*/*_test (Check suites; their own summary lines are printed)
#   integration: tests/integration/*.sh (each prints "PASS: name" / "FAIL: name" per check and
#                exits non-zero on failure; exit 77 = skipped)
#   fuzz:        each build/fuzz/*_fuzz for FUZZ_SECONDS (default 10) unless --no-fuzz
# Options: --no-fuzz, --only PATTERN (run only tests whose path matches the pattern).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
FUZZ=1
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-fuzz) FUZZ=0 ;;
    --only) ONLY=$2; shift ;;
  esac
  shift
done
pass=0; fail=0; skip=0; failed=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

want() { [ -z "$ONLY" ] || [[ "$1" == *$ONLY* ]]; }

echo "== unit tests"
for t in $(find "$BUILD/tests/unit" -type f -name '*_test' 2>/dev/null | sort); do
  want "$t" || continue
  log=$logdir/$(echo "${t#$BUILD/}" | tr / _).log
  CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60} timeout 600 "$t" >"$log" 2>&1
  rc=$?
  line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -1)
  if [ -n "$line" ]; then
    checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    fails=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    errs=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    bad=$((fails + errs))
    pass=$((pass + checks - bad)); fail=$((fail + bad))
    echo "$t: $line"
    [ $bad -eq 0 ] || { failed+=("$t"); grep -E ':[EF]:' "$log" | head -20; }
  else
    fail=$((fail + 1)); failed+=("$t"); echo "$t: no summary (exit $rc)"; tail -20 "$log"
  fi
done

echo "== integration tests"
for t in tests/integration/*.sh; do
  [ -e "$t" ] || continue
  want "$t" || continue
  log=$logdir/$(basename "$t" .sh).log
  start=$(date +%s)
  timeout 900 bash "$t" >"$log" 2>&1
  rc=$?
  p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log")
  if [ $rc -eq 77 ]; then
    skip=$((skip + 1)); echo "$t: skipped ($(grep -m1 '^SKIP' "$log"))"; continue
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  echo "$t: $p passed, $f failed ($(( $(date +%s) - start ))s)"
  if [ "$f" -ne 0 ]; then failed+=("$t"); grep -E '^FAIL: ' "$log"; tail -30 "$log"; fi
done

if [ $FUZZ -eq 1 ]; then
  echo "== fuzz targets (brief)"
  for t in build/fuzz/*_fuzz; do
    [ -x "$t" ] || continue
    want "$t" || continue
    name=$(basename "$t"); corpus=tests/fuzz/corpus/${name%_fuzz}
    mkdir -p "$corpus" build/fuzz/work/$name
    log=$logdir/$name.log
    if "$t" -max_total_time="${FUZZ_SECONDS:-10}" -rss_limit_mb=2048 -print_final_stats=0 \
        build/fuzz/work/$name "$corpus" >"$log" 2>&1; then
      pass=$((pass + 1)); echo "$t: ok ($(grep -Eo '^#[0-9]+' "$log" | tail -1) runs)"
    else
      fail=$((fail + 1)); failed+=("$t"); echo "$t: FAILED"; tail -40 "$log"
    fi
  done
fi

echo
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
[ $skip -eq 0 ] || echo "skipped: $skip"
echo "total: $pass passed, $fail failed"
[ $fail -eq 0 ]
