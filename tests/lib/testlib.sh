# SPDX-License-Identifier: MIT
# Shared helpers for integration scripts (source it). Every script:
#   - reports each check with t_ok/t_fail ("PASS: name" / "FAIL: name"),
#   - registers what it starts (t_bg, t_ns) so t_cleanup removes it by PID and name on exit,
#   - waits with t_wait_for (polls a condition with a deadline), never with a bare sleep,
#   - sends traffic only to loopback or to 198.18.0.0/15 inside namespaces it created.
set -u
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$T_ROOT/$BUILD ;; esac
T_PIDS=()
T_NSS=()
T_TMPS=()
T_FAILS=0

t_ok()   { echo "PASS: $*"; }
t_fail() { echo "FAIL: $*"; T_FAILS=$((T_FAILS + 1)); }
t_check() { local name=$1; shift; if "$@"; then t_ok "$name"; else t_fail "$name"; fi; }
t_skip() { echo "SKIP: $*"; exit 77; }

# t_need_root: integration tests need namespaces.
t_need_root() { [ "$(id -u)" = 0 ] || t_skip "needs root"; }

# t_tmpdir VAR: a fresh directory removed at exit (kept when T_KEEP=1, for debugging).
t_tmpdir() { local d; d=$(mktemp -d /tmp/dpmail-test.XXXXXX); T_TMPS+=("$d"); printf -v "$1" %s "$d"; }

# t_posix_yaml PREFIX DIR PORT: the common head of a posix-backend dpmaild config: one worker,
# loopback, SMTP without TLS on PORT, relay for 127.0.0.0/8, admin socket and spool in DIR, and a
# resolver that answers nothing (no lookup ever leaves the machine). Tests print their own
# sections after it, e.g. cat >cfg.yaml <<EOF ... $(t_posix_yaml x$$ $D $IN) ... EOF.
t_posix_yaml() {
  cat <<EOF_POSIX_YAML
eal: {file_prefix: $1, memory_mb: 128}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 100}
control: {admin_socket: $2/admin.sock}
smtp: {hostname: relay.test, listen: [{port: $3, tls: none}]}
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $2/spool, min_free_mb: 1}
dns: {forwarders: ["127.0.0.1@9"]}
EOF_POSIX_YAML
}

# t_ns NAME: create a network namespace (unique name given by the caller), removed at exit,
# with an empty resolver file so no lookup leaves it.
t_ns() {
  ip netns del "$1" 2>/dev/null
  ip netns add "$1" && T_NSS+=("$1")
  mkdir -p "/etc/netns/$1" && : >"/etc/netns/$1/resolv.conf"
  ip -n "$1" link set lo up
}

# t_bg VAR CMD...: start CMD in the background, remember its PID in VAR and for cleanup.
t_bg() { local var=$1; shift; "$@" & local pid=$!; T_PIDS+=("$pid"); printf -v "$var" %s "$pid"; }

# t_wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds or the deadline passes.
t_wait_for() {
  local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# t_wait_exit PID SECONDS: wait for a process (a child of this shell) to end; prints its exit
# code and sets T_RC to it; returns 1 on timeout. Call it directly, never inside $(...): a
# subshell cannot wait for the parent's children. Example: t_wait_exit "$PID" 5 >/dev/null;
# t_check "exit 0" [ "$T_RC" = 0 ]
t_wait_exit() {
  local pid=$1 deadline=$(( $(date +%s%N) + $2 * 1000000000 ))
  while kill -0 "$pid" 2>/dev/null; do
    if ! ps -p "$pid" -o stat= | grep -q Z; then :; else break; fi
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
  wait "$pid"; T_RC=$?; echo "$T_RC"
}

t_cleanup() {
  local p n d
  for p in "${T_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${T_PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  for n in "${T_NSS[@]}"; do ip netns del "$n" 2>/dev/null; rm -rf "/etc/netns/$n"; done
  for d in "${T_TMPS[@]}"; do if [ -n "${T_KEEP:-}" ]; then echo "kept $d"; else rm -rf "$d"; fi; done
}
trap t_cleanup EXIT

# t_done: exit status for the script.
t_done() { [ "$T_FAILS" -eq 0 ]; }
