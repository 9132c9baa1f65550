#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reload under load: dpmaild (posix backend, two workers) accepts mail from 8 concurrent SMTP
# clients (python smtplib, 30 messages each on persistent sessions) while dpmailctl reloads
# the configuration 40 times; every session and message must succeed. Then a reload that
# takes 127.0.0.0/8 out of the relay clients applies to the very next session (RCPT 554) and
# a reload that puts it back applies as fast. Everything stays on loopback (DNS forwarder on
# 127.0.0.1, nothing listening: deliveries defer).
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
CTL=$BUILD/dpmailctl
[ -x "$DPMAILD" ] && [ -x "$CTL" ] || t_skip "build first"
t_tmpdir D
# A port in 13040-13099 free on 127.0.0.1 for TCP and UDP now: copies of this test may run at
# once (several worktrees on one machine).
ctl_free_port() {
  python3 - "$@" <<'EOP'
import random, socket, sys
taken = {int(a) for a in sys.argv[1:]}
for port in random.sample(range(13040, 13100), 60):
    if port in taken:
        continue
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind); s.bind(('127.0.0.1', port)); s.close()
        print(port); break
    except OSError:
        pass
EOP
}
PORT=$(ctl_free_port)
DEAD=$(ctl_free_port "$PORT")
write_cfg() { # $1 = relay client network
  cat >"$D/cfg.yaml" <<EOC
eal: {file_prefix: ctlload$$, memory_mb: 128, lcores: "0@0,1@1,2@1"}
port: {device: none, ipv4: 127.0.0.1/8}
dataplane: {backend: posix, main_lcore: 0, workers: [1, 2], idle_sleep_us: 100}
control: {admin_socket: $D/admin.sock, audit_log: $D/audit.jsonl}
dns: {forwarders: ["127.0.0.1@$DEAD"], timeout_ms: 2000}
smtp: {hostname: relay.test, listen: [{port: $PORT, tls: none}]}
relay: {clients: [{network: $1}]}
spool: {dir: $D/spool, min_free_mb: 1}
dkim: {unsignable: pass}
EOC
}
write_cfg 127.0.0.0/8
t_bg PID "$DPMAILD" -c "$D/cfg.yaml"
t_check "dpmaild accepts SMTP" t_wait_for 15 python3 -c "
import smtplib; s = smtplib.SMTP('127.0.0.1', $PORT, timeout=5); s.ehlo(); s.quit()"

cat >"$D/load.py" <<'EOP'
import smtplib, sys, threading
port, threads, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ok, errors = [0], []
lock = threading.Lock()
def client(n):
    try:
        s = smtplib.SMTP('127.0.0.1', port, timeout=20)
        s.ehlo('load%d.test' % n)
        for i in range(per):
            s.sendmail('a@example.com', ['r%d-%d@dest.test' % (n, i)],
                       'From: a@example.com\r\nSubject: %d/%d\r\n\r\nbody\r\n' % (n, i))
            with lock:
                ok[0] += 1
        s.quit()
    except Exception as e:
        with lock:
            errors.append('%d: %r' % (n, e))
ts = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print('accepted %d of %d' % (ok[0], threads * per))
for e in errors[:5]:
    print('error', e)
sys.exit(0 if ok[0] == threads * per and not errors else 1)
EOP
python3 "$D/load.py" $PORT 8 30 >"$D/load.out" 2>&1 &
LOAD=$!
reloads=0
for i in $(seq 1 40); do
  "$CTL" -s "$D/admin.sock" reload >/dev/null 2>&1 && reloads=$((reloads + 1))
done
wait $LOAD; rc=$?
cat "$D/load.out"
t_check "40 reloads succeeded during the load" [ $reloads -eq 40 ]
t_check "every session and message succeeded during the reloads (240/240)" [ $rc -eq 0 ]
t_check "snapshots moved on (41)" bash -c "'$CTL' -s '$D/admin.sock' status | grep -qx 'snapshot_version: 41'"

# policy change visible to the next session
write_cfg 10.0.0.0/8
t_check "reload with 127.0.0.0/8 removed" "$CTL" -s "$D/admin.sock" reload
t_check "the next session is refused relaying (RCPT 554)" python3 -c "
import smtplib
s = smtplib.SMTP('127.0.0.1', $PORT, timeout=5); s.ehlo(); s.mail('a@example.com')
code, msg = s.rcpt('r@dest.test'); s.quit()
assert code == 554, (code, msg)"
write_cfg 127.0.0.0/8
t_check "reload with 127.0.0.0/8 back" "$CTL" -s "$D/admin.sock" reload
t_check "the next session relays again" python3 -c "
import smtplib
s = smtplib.SMTP('127.0.0.1', $PORT, timeout=5)
s.sendmail('a@example.com', ['r@dest.test'], 'From: a@example.com\r\n\r\nx\r\n'); s.quit()"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 15 >/dev/null
t_check "dpmaild exits 0" [ "$T_RC" = 0 ]
t_done
