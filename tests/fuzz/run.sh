#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make fuzz: run every fuzz target for FUZZ_SECONDS each, growing its corpus in tests/fuzz/corpus.
set -u
cd "$(dirname "$0")/../.."
rc=0
for t in build/fuzz/*_fuzz; do
  [ -x "$t" ] || continue
  name=$(basename "$t"); corpus=tests/fuzz/corpus/${name%_fuzz}
  mkdir -p "$corpus"
  echo "== $name for ${FUZZ_SECONDS}s"
  "$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 "$corpus" || rc=1
done
exit $rc
