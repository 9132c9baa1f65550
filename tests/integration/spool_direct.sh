#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spool_direct.sh: the spool.direct_io key through dpmaild (posix backend, one worker). On this
# ext4 /tmp, auto and on write segments with O_DIRECT and off keeps buffered writes; each says
# so at start-up, accepts mail, and everything acknowledged reads back from the spool after a
# restart. On a tmpfs (no direct I/O) auto falls back to buffered writes and on refuses to start.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
DPMAILD=$BUILD/dpmaild
RELAY=$BUILD/tests/tools/relay_posix
command -v swaks >/dev/null || t_skip "swaks missing"
[ -x "$RELAY" ] || t_skip "relay_posix not built"
W=$(mktemp -d /tmp/dpmail-spoolio.XXXXXX); T_TMPS+=("$W")
mkdir -p "$W/tmpfs"
mount -t tmpfs -o size=64m dpmail-spoolio-direct "$W/tmpfs" || t_skip "cannot mount tmpfs"
trap 'umount "$W/tmpfs" 2>/dev/null; t_cleanup' EXIT
PORT=$(( 27320 + RANDOM % 20 ))

write_cfg() { # MODE SPOOLDIR
  cat >"$W/cfg.yaml" <<EOF
eal: {file_prefix: spio$$, memory_mb: 128, lcores: "0@0,1@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1], idle_sleep_us: 100}
control: {admin_socket: $W/admin.sock}
smtp:
  hostname: relay.test
  listen: [{port: $PORT, tls: none}]
relay: {clients: [{network: 127.0.0.0/8}]}
spool: {dir: $2, min_free_mb: 1, direct_io: $1}
# nothing leaves this machine: the only route is a closed local port, DNS goes to loopback
delivery: {routes: [{domain: "*", hosts: ["[127.0.0.1]:9"]}]}
dns: {forwarders: ["127.0.0.1@9"]}
EOF
}

run_mode() { # MODE SPOOLDIR EXPECTED-LOG [LABEL]
  local mode=$1 dir=$2 want=$3 ok=0
  write_cfg "$mode" "$dir"
  mode=${4:-$mode}
  t_bg DPID "$DPMAILD" -c "$W/cfg.yaml" >"$W/log.$mode" 2>&1
  t_check "$mode: dpmaild accepts SMTP" t_wait_for 10 bash -c \
    "swaks --server 127.0.0.1:$PORT --quit-after EHLO >/dev/null 2>&1"
  for i in 1 2 3 4 5; do
    swaks --server 127.0.0.1:$PORT --from a@example.com --to "r$i@dest.test" \
      --body "message $i" >"$W/s" 2>&1 &&
      grep -q "^<[-~]  *250 2.0.0 Ok: queued as" "$W/s" && ok=$((ok + 1))
  done
  t_check "$mode: 5 messages acknowledged" [ $ok -eq 5 ]
  t_check "$mode: start-up says $want" grep -q "$want" "$W/log.$mode"
  kill -TERM "$DPID"; T_RC=timeout; t_wait_exit "$DPID" 10 >/dev/null
  t_check "$mode: dpmaild exits 0 on SIGTERM" [ "$T_RC" = 0 ]
}

live_after() { "$RELAY" dump --spool "$1" --core 0 --out "$W/dump" 2>/dev/null | sed -n 's/^LIVE //p'; }
mkdir -p "$W/dump"
run_mode off "$W/off" "direct_io=off"
t_check "off: the 5 messages recover" [ "$(live_after "$W/off")" = 5 ]
run_mode on "$W/on" "direct_io=on"
t_check "on: the 5 messages recover" [ "$(live_after "$W/on")" = 5 ]
# auto on ext4, writing into the spool that "on" left: old and new messages recover
run_mode auto "$W/on" "direct_io=on"
t_check "auto: the 10 messages recover" [ "$(live_after "$W/on")" = 10 ]
run_mode auto "$W/tmpfs/spool" "direct_io=unsupported" "auto on tmpfs"
t_check "auto on tmpfs: the 5 messages recover" [ "$(live_after "$W/tmpfs/spool")" = 5 ]

write_cfg on "$W/tmpfs/spool2"
"$DPMAILD" -c "$W/cfg.yaml" >"$W/log.on-tmpfs" 2>&1 &
pid=$!; T_PIDS+=("$pid")
T_RC=timeout; t_wait_exit "$pid" 20 >/dev/null
t_check "on, tmpfs: start-up fails" bash -c "[ '$T_RC' != timeout ] && [ '$T_RC' != 0 ]"
t_check "on, tmpfs: the log says why" grep -q "does not support direct I/O" "$W/log.on-tmpfs"
t_done
