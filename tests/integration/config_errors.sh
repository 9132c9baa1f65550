#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A broken configuration makes dpmaild refuse to start: exit status non-zero and one line
# naming the cause (file:line and key for file errors). The last cases get as far as EAL and
# the port, so they run inside a namespace of their own.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
NS=fndcfg$$   # unique per run: concurrent test runs on one machine must not share it
t_ns $NS
t_tmpdir D
T_TMPS+=("/var/run/dpdk/$NS")   # EAL runtime dir of this test's --file-prefix

# expect NAME REGEX YAML: dpmaild -c FILE must exit non-zero within 20 s, stderr matching REGEX.
expect() {
  local name=$1 re=$2 f=$D/$1.yaml
  printf '%s\n' "$3" >"$f"
  timeout 20 ip netns exec $NS "$BUILD/dpmaild" -c "$f" >"$D/$name.out" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -qE -- "$re" "$D/$name.out"; then
    t_ok "config $name: exit $rc, '$(grep -m1 -E -- "$re" "$D/$name.out" | cut -c1-110)'"
  else
    t_fail "config $name: exit $rc"; cat "$D/$name.out"
  fi
}

BASE="eal:
  vdevs: [\"net_tap0,iface=fndcfg0\"]
  file_prefix: $NS
  memory_mb: 128
dataplane:
  mbufs: 2047
  idle_sleep_us: 100"

expect unknown_key "unknown_key.yaml:3: key 'port.adress': unknown key" "port:
  device: net_tap0
  adress: 198.18.0.2/24"
expect bad_prefix "bad_prefix.yaml:3: key 'port.ipv4': bad IPv4 prefix '198.18.0.300/24'" "port:
  device: net_tap0
  ipv4: 198.18.0.300/24"
expect bad_gateway "bad_gateway.yaml:4: key 'port.gateway': gateway is not inside the port's prefix" "port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.19.0.1"
expect missing_port "missing_port.yaml: key 'port.device': missing \(required\)" "$BASE"
expect no_worker "no_worker.yaml:5: key 'dataplane.workers': at least one worker lcore is needed" "port:
  device: net_tap0
  ipv4: 198.18.0.2/24
dataplane:
  workers: []"
expect bad_int "bad_int.yaml:5: key 'dataplane.idle_sleep_us': expected a non-negative integer, got 'fast'" "port:
  device: net_tap0
  ipv4: 198.18.0.2/24
dataplane:
  idle_sleep_us: fast"
expect yaml_syntax "yaml_syntax.yaml:[0-9]+: yaml: " "port:
  device: [net_tap0
  ipv4: 198.18.0.2/24"

rm -f "$D/no_file.yaml"
timeout 20 "$BUILD/dpmaild" -c "$D/nonexistent.yaml" >"$D/nf.out" 2>&1
rc=$?
t_check "config missing file: exit non-zero with the file named" \
  bash -c "[ $rc -ne 0 ] && grep -q 'nonexistent.yaml: cannot open' '$D/nf.out'"

# These pass the loader and fail at start-up.
expect port_not_found "port 'net_tap7' not found" "$BASE
port:
  device: net_tap7
  ipv4: 198.18.0.2/24"
expect lcore_missing "lcore 63 is not a CPU this process may run on" "$BASE
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
dataplane:
  workers: [63]"
t_done
