#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spool_full.sh: the spool on a 2 MiB tmpfs. The free-space guard must refuse new mail (the
# 452 4.3.1 case: FULL lines) before the filesystem is full, nothing acknowledged may be lost,
# and everything present must be complete.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
DRV=$BUILD/tests/tools/spool_driver
[ -x "$DRV" ] || t_skip "spool_driver not built"
W=$(mktemp -d /tmp/dpmail-spool-full.XXXXXX); T_TMPS+=("$W")
mkdir -p "$W/mnt"
mount -t tmpfs -o size=2m dpmail-spool-full "$W/mnt" || t_skip "cannot mount tmpfs"
trap 'umount "$W/mnt" 2>/dev/null; t_cleanup' EXIT

# ~1500 messages (bodies up to 20 KB, ~3 KB on average) need ~5 MB: the guard (keep 384 KiB free) must stop them
"$DRV" gen "$W/mnt/spool" --n 1500 --conc 8 --max 20000 --min-free 393216 --segment 262144 \
  >"$W/gen" 2>"$W/gen.err"
rc=$?
t_check "driver ran to the end (exit $rc)" [ "$rc" -eq 0 ]
t_check "tmpfs has no direct I/O: buffered writes, said at start-up" \
  grep -q 'direct_io=unsupported' "$W/gen.err"
full=$(grep -c '^FULL' "$W/gen"); ack=$(grep -c '^ACK' "$W/gen"); err=$(grep -c '^ERR' "$W/gen")
echo "acknowledged=$ack refused_452=$full failed_451=$err"
t_check "guard refused mail when space ran low (452 4.3.1)" [ "$full" -gt 0 ]
t_check "mail was accepted before that" [ "$ack" -gt 10 ]
t_check "the guard kept the filesystem from filling (no write failed)" [ "$err" -eq 0 ]
"$DRV" verify "$W/mnt/spool" --max 20000 >"$W/verify" 2>/dev/null
t_check "verification: nothing partial" grep -q ' BAD 0$' "$W/verify"
grep '^ACK' "$W/gen" | awk '{print $2}' | sort >"$W/acked"
grep '^HAVE .* ok ' "$W/verify" | awk '{print $2}' | sort >"$W/have"
t_check "every acknowledged message is on the full disk" [ "$(comm -23 "$W/acked" "$W/have" | wc -l)" -eq 0 ]

# with the guard off the filesystem fills up: writes fail (451) and still nothing is lost
"$DRV" gen "$W/mnt/spool" --n 300 --conc 8 --max 20000 --min-free 0 --seed 2 --segment 262144 \
  >"$W/gen2" 2>"$W/gen2.err"
ack2=$(grep -c '^ACK' "$W/gen2"); bad2=$(grep -c '^ERR\|^FULL' "$W/gen2")
echo "guard off: acknowledged=$ack2 refused_or_failed=$bad2"
t_check "a full filesystem fails commits instead of acknowledging them" [ "$bad2" -gt 0 ]
"$DRV" verify "$W/mnt/spool" --max 20000 >"$W/verify2" 2>/dev/null
cat "$W/gen" "$W/gen2" | grep '^ACK' | awk '{print $2}' | sort >"$W/acked2"
grep '^HAVE .* ok ' "$W/verify2" | awk '{print $2}' | sort >"$W/have2"
t_check "after ENOSPC: every acknowledged message present and complete" \
  [ "$(comm -23 "$W/acked2" "$W/have2" | wc -l)" -eq 0 ]
t_check "after ENOSPC: nothing partial" grep -q ' BAD 0$' "$W/verify2"
t_done
