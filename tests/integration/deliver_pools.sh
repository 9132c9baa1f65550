#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Source IP pools (delivery.pools): three pools on 127.0.0.x inside a namespace, chosen by the
# tenant (the relay.clients entry that accepted the message), by the sender domain, or by
# default. The sink records the peer address and EHLO name of every message:
#   tenant-a's mail                     -> 127.0.0.2, EHLO a.pool.test
#   sender domain bsender.test          -> 127.0.0.3 / 127.0.0.4 round robin, EHLO b1 / b2
#   anything else                       -> the default pool 127.0.0.6, EHLO d.pool.test
# and every message arrives exactly once.
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dl3pools$$
IN=13810
dlv_sink S1 sink 127.0.0.90

{ dlv_cfg dl3pools$$ | grep -v '^relay:'; cat <<EOF
relay:
  clients:
    - {network: 127.0.0.1/32, name: tenant-a}
    - {network: 127.0.0.5/32, name: tenant-b}
delivery:
  routes: [{domain: dst.test, hosts: ["[127.0.0.90]:25"]}]
  shaping: [{destination: dst.test, connections: 1}]
  pools:
    - {name: pa, addresses: ["127.0.0.2 a.pool.test"], tenants: [tenant-a]}
    - {name: pb, addresses: ["127.0.0.3 b1.pool.test", "127.0.0.4 b2.pool.test"], senders: [bsender.test]}
    - {name: pd, addresses: ["127.0.0.6 d.pool.test"], default: true}
EOF
} >cfg.yaml
dlv_dpmaild PID cfg.yaml

send() { # client-ip sender subject count
  $X $PY - "$IN" "$@" <<'PY'
import smtplib, sys
port, src, sender, subj, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(src, 0))
for i in range(n):
    s.sendmail(sender, ["u@dst.test"], ("From: %s\r\nSubject: %s-%d\r\nMessage-ID: <%s-%d@t>\r\n\r\nhi\r\n"
                                        % (sender, subj, i, subj, i)).encode())
s.quit()
PY
}
send 127.0.0.1 x@any.test ta 6 || t_fail "submit tenant-a"
send 127.0.0.5 y@bsender.test sb 6 || t_fail "submit bsender.test"
send 127.0.0.5 z@other.test sd 3 || t_fail "submit default"

t_check "15 messages delivered" t_wait_for 30 bash -c "[ \$(ls sink/*.eml 2>/dev/null | wc -l) -ge 15 ]"
$PY - sink <<'PY' >pools.out
import glob, re, sys, collections
seen = collections.Counter()
for f in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    subj = re.search(rb"Subject: (\w+)-(\d+)", open(f, "rb").read())
    env = dict(l.split(" ", 1) for l in open(f[:-4] + ".env").read().splitlines() if " " in l)
    seen[subj.group(0)] += 1
    print(subj.group(1).decode(), env["peer"], env["helo"])
print("dups", sum(1 for v in seen.values() if v > 1), "unique", len(seen))
PY
cat pools.out
t_check "each message exactly once" grep -qx 'dups 0 unique 15' pools.out
t_check "tenant-a: all 6 from 127.0.0.2 as a.pool.test" bash -c "[ \$(grep -cx 'ta 127.0.0.2 a.pool.test' pools.out) = 6 ]"
t_check "bsender.test: all 6 from pool pb with the matching EHLO" \
  bash -c "[ \$(grep -cxE 'sb (127.0.0.3 b1|127.0.0.4 b2).pool.test' pools.out) = 6 ]"
t_check "bsender.test: both of pb's addresses used (round robin)" \
  bash -c "grep -qx 'sb 127.0.0.3 b1.pool.test' pools.out && grep -qx 'sb 127.0.0.4 b2.pool.test' pools.out"
t_check "other senders: all 3 from the default pool" bash -c "[ \$(grep -cx 'sd 127.0.0.6 d.pool.test' pools.out) = 3 ]"
t_check "the outcome log names the source address" \
  bash -c "[ \$(grep -c 'event=delivered tls=[a-z]* src=127.0.0.2 ' dpmaild.log) = 6 ]"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dl3pools-last; cp -a "$D" /tmp/dpmail-dl3pools-last; }
t_done
