#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 10,000 idle sessions: greeted SMTP sessions that sit idle (as a real submission tier's
# connection pools do) while a 16-session load measures throughput and latency; compared with
# the same load without the idle sessions. Reported: the idle sessions' connect/banner/EHLO
# latency, how many got greeted, and the active load's rate, latency and SUT CPU with and
# without them.
# Postfix runs one smtpd process per session; 10,000 processes do not fit this machine, so its
# target holds IDLE_POSTFIX (default 900) idle sessions with default_process_limit raised to fit.
source "$(dirname "$0")/lib.sh"
SC_NAME=idle-10k
IDLE=${IDLE:-10000}
IDLE_POSTFIX=${IDLE_POSTFIX:-900}
HOLD_S=${HOLD_S:-60}

# idle_run LABEL PORT N: starts N idle sessions in the background; waits until greeted.
idle_start() {
  local label=$1 port=$2 n=$3
  "$B" load --server 127.0.0.1:$port --sessions "$n" --messages-per-session 0 --duration "$HOLD_S" \
    --connect-rate 2000 --label "$label-idle" --json "$OUT/$label-idle-$n.json" --progress \
    >"$SC_TMP/idle.out" 2>"$SC_TMP/idle.err" &
  IDLE_PID=$!; SC_PIDS+=("$IDLE_PID")
  local end=$(( $(date +%s) + 40 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    local r
    r=$(sed -n 's/.*ready=\([0-9]*\).*/\1/p' "$SC_TMP/idle.err" 2>/dev/null | tail -1)
    [ -n "$r" ] && [ "$r" -ge $(( n * 99 / 100 )) ] && { echo "idle sessions greeted: $r of $n"; return 0; }
    sleep 0.5
  done
  echo "idle sessions greeted: ${r:-0} of $n (after 40 s)"
}

idle_stop() { kill -INT "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null; cat "$SC_TMP/idle.out"; }

# measure LABEL: the 16-session active load against $TARGET_PORT.
measure() {
  sc_load "$1" 16 --count "$COUNT" --size "$SIZE" --messages-per-session "$MPS" --pipelining \
    --reply-timeout 30 "${@:2}" || true
}

sc_need
sc_out "$SC_NAME"
rm -f "$OUT"/*.json
ulimit -n 65536 2>/dev/null || true   # each process needs IDLE + a few descriptors
sc_machine | tee "$OUT/machine.txt"
for t in $TARGETS; do
  sc_log "$SC_NAME: $t"
  case $t in
    sink)
      sc_sink || continue
      TARGET_PORT=$SINK_PORT SUT_PIDS=$SINK_PID
      measure sink-direct
      idle_start sink-direct "$SINK_PORT" "$IDLE"
      measure sink-direct-with-idle
      idle_stop
      sc_sink_stop ;;
    postfix)
      sc_sink || continue
      POSTFIX_PROCS=$(( IDLE_POSTFIX + 100 )) sc_postfix 0 0 0 || { sc_sink_stop; continue; }
      TARGET_PORT=$RELAY_PORT SUT_PIDS=$POSTFIX_PIDS
      measure postfix --sink-json "$SC_TMP/sink.json"
      idle_start postfix "$RELAY_PORT" "$IDLE_POSTFIX"
      measure postfix-with-idle --sink-json "$SC_TMP/sink.json"
      idle_stop
      postfix -c "$SC_POSTFIX_DIR/etc" stop >/dev/null 2>&1; SC_POSTFIX_DIR=""
      sc_sink_stop ;;
    dpmaild-posix)
      # inbound only (no route): this scenario is about holding sessions, not delivery
      [ -x "$DPMAILD" ] || { echo "SKIP $t: $DPMAILD not built"; continue; }
      sc_dpmaild_start inbound || { echo "SKIP $t: did not start"; continue; }
      TARGET_PORT=$RELAY_PORT SUT_PIDS=$DPMAILD_PID
      measure dpmaild-posix --sut-idle 2
      idle_start dpmaild-posix "$RELAY_PORT" "$IDLE"
      measure dpmaild-posix-with-idle --sut-idle 2
      idle_stop
      kill -TERM "$DPMAILD_PID"; wait "$DPMAILD_PID" 2>/dev/null ;;
    dpmaild-memif)
      # no kernel networking on the path: dpmaild on net_memif, and one dpmail-bench process
      # on the link's other end (memif is point to point) that greets and holds the idle
      # sessions first and then runs the measured load beside them (load --idle-sessions)
      [ -x "$DPMAILD" ] || { echo "SKIP $t: $DPMAILD not built"; continue; }
      DPMAILD_MAX_CONNS=$(( IDLE + 4096 )) sc_memif_up inbound || continue
      for label in dpmaild-memif dpmaild-memif-with-idle; do
        held=(); [ "$label" = dpmaild-memif-with-idle ] && held=(--idle-sessions "$IDLE" --connect-rate 2000)
        taskset -c 0 "$B" load --backend dpdk --dpdk-config "$SC_TMP/bench-memif.yaml" \
          --server "$TARGET_HOST:$RELAY_PORT" --sessions 16 --count "$COUNT" --size "$SIZE" \
          --messages-per-session "$MPS" --pipelining --reply-timeout 30 --label "$label" \
          --json "$OUT/$label-16.json" --sut-pid "$DPMAILD_PID" --sut-idle 2 --progress "${held[@]}" \
          2>"$SC_TMP/bench-memif.log" || tail -5 "$SC_TMP/bench-memif.log"
        grep -h 'idle sessions greeted' "$SC_TMP/bench-memif.log" || true
      done
      sc_memif_down ;;
    dpmaild-dpdk)
      echo "SKIP $t: needs a start hook reachable from loopback (see bench.md); dpmaild-memif is the DPDK target" ;;
  esac
done
"$B" report "$OUT"/*.json | tee "$OUT/report.txt"
"$B" report --markdown "$OUT"/*.json >"$OUT/report.md"
