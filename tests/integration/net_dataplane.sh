#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dataplane on a real DPDK TAP port in a namespace: dpmaild owns 198.18.0.2, the kernel
# side 198.18.0.1/24. Checks: ping 200/200, arping resolves our MAC, malformed frames (scapy)
# are dropped and counted by reason while ping keeps working, SIGTERM exits 0 within 2 s.
. "$(dirname "$0")/../lib/testlib.sh"
t_need_root
NS=fndnet$$   # unique per run: concurrent test runs on one machine must not share it
t_ns $NS
t_tmpdir D
T_TMPS+=("/var/run/dpdk/$NS")   # EAL runtime dir of this test's --file-prefix
cat >"$D/dpmaild.yaml" <<EOC
eal:
  vdevs: ["net_tap0,iface=dtap0"]
  file_prefix: $NS
  memory_mb: 128
port:
  device: net_tap0
  ipv4: 198.18.0.2/24
  gateway: 198.18.0.1
dataplane:
  workers: [1]
  mbufs: 2047
  idle_sleep_us: 100
EOC
LOG=$D/dpmaild.log
t_bg PID bash -c "exec ip netns exec $NS $BUILD/dpmaild -c $D/dpmaild.yaml >$LOG 2>&1"
if ! t_wait_for 20 grep -q 'event=started' "$LOG"; then
  t_fail "dpmaild starts"; cat "$LOG"; exit 1
fi
t_ok "dpmaild starts"
ip -n $NS addr add 198.18.0.1/24 dev dtap0
ip -n $NS link set dtap0 up

# stat KEY: the value of KEY in a fresh counters line (SIGUSR2 makes dpmaild log one).
stat() {
  local before after
  before=$(grep -c 'event=stats' "$LOG")
  kill -USR2 "$PID"
  t_wait_for 5 bash -c "[ \$(grep -c 'event=stats' '$LOG') -gt $before ]" || { echo -1; return; }
  grep 'event=stats' "$LOG" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

out=$(ip netns exec $NS ping -c 200 -i 0.01 -W 2 -q 198.18.0.2 2>&1)
echo "$out" | tail -2
t_check "ping 200/200" grep -q '200 packets transmitted, 200 received' <<<"$out"
t_check "ICMP counters: 200+ echo replies" [ "$(stat icmp_echo_tx)" -ge 200 ]

mac=$(ip netns exec $NS arping -c 2 -w 5 -I dtap0 198.18.0.2 2>&1)
echo "$mac" | tail -3
t_check "arping resolves 198.18.0.2" grep -qE 'Received [12] response' <<<"$mac"
t_check "kernel neighbour entry for 198.18.0.2" \
  bash -c "ip -n $NS neigh show 198.18.0.2 | grep -qiE 'lladdr [0-9a-f:]{17}'"

# Malformed frames of every kind, 5 each, to our MAC (learnt by the kernel above).
MAC=$(ip -n $NS neigh show 198.18.0.2 | grep -oiE 'lladdr [0-9a-f:]{17}' | cut -d' ' -f2)
KMAC=$(ip -n $NS link show dtap0 | grep -oiE 'link/ether [0-9a-f:]{17}' | cut -d' ' -f2)
# (eth_short is covered by the unit tests: the kernel refuses to send frames under 14 bytes.)
REASONS="eth_dst eth_type arp_short arp_format ip_short ip_version ip_ihl ip_len
         ip_cksum ip_ttl ip_frag ip_options ip_src ip_not_us ip_proto icmp_short icmp_cksum icmp_type"
declare -A before
line=$(stat drops >/dev/null; grep 'event=stats' "$LOG" | tail -1)
for r in $REASONS; do before[$r]=$(tr ' ' '\n' <<<"$line" | sed -n "s/^drop_$r=//p"); done
cat >"$D/malformed.py" <<'EOP'
import sys
from scapy.all import Ether, ARP, IP, ICMP, Raw, sendp, raw
dst, src = sys.argv[1], sys.argv[2]
us, me = "198.18.0.2", "198.18.0.1"
E = lambda t=0x0800: Ether(dst=dst, src=src, type=t)
def ip_bytes(**kw):
    return raw(IP(src=me, dst=us, **kw) / ICMP() / Raw(b"x" * 16))
def patch(b, off, val):
    b = bytearray(b); b[off] = val; return bytes(b)
frames = {
    "eth_dst": [raw(Ether(dst="02:00:00:00:00:99", src=src) / IP(src=me, dst=us) / ICMP())],
    "eth_type": [raw(E(0x88b5) / Raw(b"z" * 46))],
    "arp_short": [raw(E(0x0806)) + raw(ARP(pdst=us, psrc=me, hwsrc=src))[:20]],
    "arp_format": [raw(E(0x0806) / ARP(hwlen=8, pdst=us, psrc=me, hwsrc=src))],
    "ip_short": [raw(E()) + ip_bytes()[:12]],
    "ip_version": [raw(E()) + patch(ip_bytes(), 0, 0x65)],
    "ip_ihl": [raw(E()) + patch(ip_bytes(), 0, 0x43), raw(E()) + patch(ip_bytes(), 0, 0x4f)],
    "ip_len": [raw(E()) + raw(IP(src=me, dst=us, len=400) / ICMP() / Raw(b"x" * 16)),
               raw(E()) + raw(IP(src=me, dst=us, len=10) / ICMP())],
    "ip_cksum": [raw(E()) + raw(IP(src=me, dst=us, chksum=0x1234) / ICMP() / Raw(b"x" * 16))],
    "ip_ttl": [raw(E() / IP(src=me, dst=us, ttl=0) / ICMP())],
    "ip_frag": [raw(E() / IP(src=me, dst=us, flags="MF") / ICMP() / Raw(b"x" * 16)),
                raw(E() / IP(src=me, dst=us, frag=100) / Raw(b"x" * 16))],
    "ip_options": [raw(E() / IP(src=me, dst=us, options=[b"\x01\x01\x01\x01"]) / ICMP())],
    "ip_src": [raw(E() / IP(src="224.0.0.1", dst=us) / ICMP()), raw(E() / IP(src=us, dst=us) / ICMP())],
    "ip_not_us": [raw(E() / IP(src=me, dst="198.18.0.77") / ICMP())],
    "ip_proto": [raw(E() / IP(src=me, dst=us, proto=253) / Raw(b"p" * 20))],
    "icmp_short": [raw(E() / IP(src=me, dst=us, proto=1) / Raw(b"\x08\x00"))],
    "icmp_cksum": [raw(E() / IP(src=me, dst=us) / ICMP(chksum=0x4321) / Raw(b"x" * 16))],
    "icmp_type": [raw(E() / IP(src=me, dst=us) / ICMP(type=13))],
}
import random
random.seed(7)
garbage = [bytes(random.getrandbits(8) for _ in range(random.randint(0, 120))) for _ in range(200)]
for name, fl in frames.items():
    for f in fl:
        sendp([Ether(f)] * 5 if len(f) >= 14 else [Raw(f)] * 5, iface="dtap0", verbose=False)
sendp([Raw(raw(E()) + g) for g in garbage], iface="dtap0", verbose=False)
sendp([Raw(raw(E(0x0806)) + g) for g in garbage], iface="dtap0", verbose=False)
print("sent", sum(len(v) for v in frames.values()) * 5 + 2 * len(garbage), "frames")
EOP
ip netns exec $NS /usr/bin/python3 "$D/malformed.py" "$MAC" "$KMAC" 2>&1 | tail -3
line=$(stat drops >/dev/null; grep 'event=stats' "$LOG" | tail -1)
for r in $REASONS; do
  now=$(tr ' ' '\n' <<<"$line" | sed -n "s/^drop_$r=//p")
  t_check "malformed: drop_$r counted (${before[$r]} -> $now)" [ "$now" -ge $(( ${before[$r]} + 5 )) ]
done
t_check "dpmaild alive after malformed frames" kill -0 "$PID"
out=$(ip netns exec $NS ping -c 20 -i 0.01 -W 2 -q 198.18.0.2 2>&1)
t_check "ping 20/20 after malformed frames" grep -q '20 packets transmitted, 20 received' <<<"$out"

START=$(date +%s%N)
kill -TERM "$PID"
# not in $(...): wait only works in the shell that started the process
t_wait_exit "$PID" 2 >"$D/rc"
rc=$(cat "$D/rc")
ms=$(( ($(date +%s%N) - START) / 1000000 ))
echo "dpmaild exit status ${rc:-timeout} after ${ms} ms"
t_check "SIGTERM: exit 0 within 2 s" [ "${rc:-x}" = 0 ]
t_check "SIGTERM: orderly stop logged" grep -q 'event=stopped' "$LOG"
t_done
