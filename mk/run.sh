#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make run: start dpmaild on its embedded default inside a private network namespace, give the
# kernel side of its TAP port 198.18.0.1/24, print how to talk to it, and stay until Ctrl-C;
# then stop dpmaild (by PID) and remove the namespace. The build is done by make beforehand.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NS=${DPMAIL_RUN_NS:-dpmail-run}
LOG=$(mktemp /tmp/dpmail-run.XXXXXX.log)
pid=""

[ "$(id -u)" = 0 ] || { echo "make run needs root (network namespaces, TAP devices)" >&2; exit 1; }

cleanup() {
  trap - EXIT
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
  fi
  [ -n "$pid" ] && wait "$pid" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "/etc/netns/$NS"
  echo "stopped; namespace $NS removed; log was $LOG"
}
# Ctrl-C reaches dpmaild too (same process group); either way cleanup runs once, at exit.
trap 'exit 130' INT
trap 'exit 143' TERM
trap cleanup EXIT

ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || exit 1
mkdir -p "/etc/netns/$NS" && : >"/etc/netns/$NS/resolv.conf"
ip -n "$NS" link set lo up

ip netns exec "$NS" "$BUILD/dpmaild" >"$LOG" 2>&1 &
pid=$!

deadline=$(( $(date +%s) + 20 ))
until grep -q 'event=started' "$LOG"; do
  if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
    echo "dpmaild did not start:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.1
done
ip -n "$NS" addr add 198.18.0.1/24 dev dtap0
ip -n "$NS" link set dtap0 up

cat <<EOM
dpmaild is running (pid $pid) in network namespace $NS on a DPDK TAP port:
  dpmaild   198.18.0.2/24   (DPDK, port net_tap0)
  kernel    198.18.0.1/24   (dtap0, inside $NS)
Try:
  ip netns exec $NS ping 198.18.0.2
  ip netns exec $NS arping -I dtap0 198.18.0.2
  kill -USR2 $pid      # dpmaild logs its counters
  tail -f $LOG
Ctrl-C stops dpmaild and removes the namespace.
EOM
wait "$pid"
rc=$?
echo "dpmaild exited by itself with status $rc"
exit $rc
