#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spool_crash.sh: kill -9 of a process accepting mail through the spool, at random moments
# under load, SPOOL_CRASH_ITER times (default 24), each run restarting on the same spool and
# recovering it first. Then every message acknowledged (ACK printed only from the committed
# callback, after the fdatasync completion) must be present and byte-for-byte complete, unless
# it was since marked delivered; and every message present (acknowledged or not) must be
# complete: nothing is ever half-delivered. Records are sealed (encryption at rest on).
source "$(dirname "$0")/../lib/testlib.sh"
DRV=$BUILD/tests/tools/spool_driver
[ -x "$DRV" ] || t_skip "spool_driver not built"
W=$(mktemp -d /tmp/dpmail-spool-crash.XXXXXX); T_TMPS+=("$W")
ITER=${SPOOL_CRASH_ITER:-24}
acks() { grep -c '^ACK' "$1" 2>/dev/null || echo 0; }
acks_ge() { [ "$(acks "$1")" -ge "$2" ]; }

killed=0
# (stderr of each run holds the recovery summary: torn tails and quarantines are counted below)
for i in $(seq 1 "$ITER"); do
  out=$W/gen.$i
  # small segments and 75% delivered: rollover, spare creation, compaction (copying the last live
  # messages of old segments forward) and segment deletion all happen under the kills
  t_bg DPID "$DRV" gen "$W/spool" --n 0 --conc 48 --max 60000 --seed "$i" --deliver 75 \
    --segment 524288 --encrypt >"$out" 2>"$W/err.$i"
  # a random moment: after 0..299 acknowledgements (0 = during start-up and recovery)
  target=$((RANDOM % 300))
  if ! t_wait_for 30 acks_ge "$out" "$target"; then
    t_fail "run $i: no progress ($(acks "$out") acks)"; tail -5 "$W/err.$i"
  fi
  kill -9 "$DPID" 2>/dev/null && killed=$((killed + 1))
  wait "$DPID" 2>/dev/null
  if grep -q '^ERR' "$out"; then t_fail "run $i: unexpected commit errors"; grep -m3 '^ERR' "$out"; fi
done
t_check "killed $ITER times under load" [ "$killed" -eq "$ITER" ]

cat "$W"/gen.* >"$W/all"
echo "recoveries: torn tails truncated=$(cat "$W"/err.* | grep -c 'torn tail') quarantined=$(cat "$W"/err.* | grep -c "rest of the segment quarantined")"
"$DRV" verify "$W/spool" --encrypt --max 60000 >"$W/verify" 2>"$W/verify.err"
rc=$?
t_check "recovery and verification ran (exit $rc)" [ "$rc" -eq 0 ]
tail -1 "$W/verify"
t_check "no message present in part (BAD 0)" grep -q ' BAD 0$' "$W/verify"
grep '^ACK' "$W/all" | awk '{print $2}' | sort -u >"$W/acked"
grep '^DLV' "$W/all" | awk '{print $2}' | sort -u >"$W/delivered"
grep '^HAVE .* ok ' "$W/verify" | awk '{print $2}' | sort -u >"$W/have"
comm -23 "$W/acked" "$W/delivered" >"$W/must"
missing=$(comm -23 "$W/must" "$W/have" | wc -l)
echo "acknowledged=$(wc -l <"$W/acked") delivered=$(wc -l <"$W/delivered") present=$(wc -l <"$W/have") missing=$missing"
none_lost() { [ "$(wc -l <"$W/must")" -gt 100 ] && [ "$missing" -eq 0 ]; }
t_check "every acknowledged, undelivered message survived $ITER crashes ($(wc -l <"$W/must") checked, $(for f in "$W"/gen.*; do grep '^REL' "$f" | tail -1; done | awk '{s+=$2} END{print s+0}') copied forward by compaction)" none_lost
[ "$missing" -eq 0 ] || comm -23 "$W/must" "$W/have" | head -5
# recovery is repeatable: a second pass finds the same messages
"$DRV" verify "$W/spool" --encrypt --max 60000 >"$W/verify2" 2>/dev/null
t_check "second recovery finds the same queue" [ "$(tail -1 "$W/verify")" = "$(tail -1 "$W/verify2")" ]
t_done
