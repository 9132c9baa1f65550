#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Source IP pools on the DPDK backend: the TAP port owns 198.18.0.2 plus port.extra_ipv4
# 198.18.0.20 and .21 (answered by our ARP, accepted by our IP input, used as TCP sources).
# Mail from the client named tenant-a leaves from 198.18.0.20 with EHLO a.pool.test, other mail
# from the default pool 198.18.0.21 with EHLO d.pool.test; the kernel-side sink records both.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
NS=dl3pd$$
t_tmpdir D
cd "$D" || exit 1
cat >cfg.yaml <<EOF
eal: {vdevs: ["net_tap0,iface=dtap0"], memory_mb: 256, file_prefix: $NS, lcores: "0@0,1@1"}
port: {device: net_tap0, ipv4: 198.18.0.2/24, extra_ipv4: [198.18.0.20, 198.18.0.21]}
dataplane: {backend: dpdk, main_lcore: 0, workers: [1], idle_sleep_us: 100}
dns: {forwarders: ["127.0.0.1@9"]}
control: {admin_socket: $D/admin.sock}
smtp: {hostname: relay.test, listen: [{port: 25, tls: none}]}
relay:
  clients:
    - {network: 198.18.0.1/32, name: tenant-a}
    - {network: 198.18.0.3/32, name: other}
spool: {dir: $D/spool, min_free_mb: 1}
delivery:
  routes: [{domain: dst.test, hosts: ["[198.18.0.1]:2525"]}]
  pools:
    - {name: pa, addresses: ["198.18.0.20 a.pool.test"], tenants: [tenant-a]}
    - {name: pd, addresses: ["198.18.0.21 d.pool.test"], default: true}
EOF
t_ns "$NS"
X="ip netns exec $NS"
t_bg PID $X "$BUILD/dpmaild" -c cfg.yaml
t_check "dpmaild starts on the TAP port" t_wait_for 30 ip -n "$NS" link show dtap0
ip -n "$NS" addr add 198.18.0.1/24 dev dtap0
ip -n "$NS" addr add 198.18.0.3/24 dev dtap0
ip -n "$NS" link set dtap0 up
t_bg SINK $X $PY "$T_ROOT/tests/tools/mx_sink.py" --host 198.18.0.1 --port 2525 --dir "$D/mx" >sink.out 2>&1
t_wait_for 10 grep -q listening sink.out || t_fail "the sink starts"
t_check "SMTP answers on 198.18.0.2:25 (our TCP stack)" \
  t_wait_for 30 $X $PY -c "import smtplib; smtplib.SMTP('198.18.0.2', 25, timeout=2).quit()"
t_check "our ARP answers for an extra address" t_wait_for 10 $X ping -c 1 -W 1 198.18.0.20

$X $PY - <<'PY' || t_fail "submit"
import smtplib
for src, tag in (("198.18.0.1", "ta"), ("198.18.0.3", "td")):
    s = smtplib.SMTP("198.18.0.2", 25, timeout=30, source_address=(src, 0))
    for i in range(3):
        s.sendmail("x@any.test", ["u@dst.test"], ("Subject: %s-%d\r\n\r\nhi\r\n" % (tag, i)).encode())
    s.quit()
PY
t_check "6 messages delivered" t_wait_for 30 bash -c "[ \$(ls mx/*.eml 2>/dev/null | wc -l) -ge 6 ]"
for f in mx/*.eml; do
  printf '%s %s %s\n' "$(grep -o 'Subject: t[ad]' "$f" | cut -c10-)" \
    "$(sed -n 's/^peer //p' "${f%.eml}.env")" "$(sed -n 's/^helo //p' "${f%.eml}.env")"
done >pools.out
cat pools.out
t_check "tenant-a's mail left from 198.18.0.20 as a.pool.test" \
  bash -c "[ \$(grep -cx 'ta 198.18.0.20 a.pool.test' pools.out) = 3 ]"
t_check "other mail left from the default pool 198.18.0.21 as d.pool.test" \
  bash -c "[ \$(grep -cx 'td 198.18.0.21 d.pool.test' pools.out) = 3 ]"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 20 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dl3pd-last; cp -a "$D" /tmp/dpmail-dl3pd-last; }
t_done
