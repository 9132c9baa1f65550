#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delivery shaping, counted at the receiving end: dpmaild (posix backend) delivers 120 messages
# over a static route to one aiosmtpd sink on loopback with the limits
#   connections 2, rate 20 msg/s with a burst of 5, 10 messages per connection.
# The sink logs every connection open/close, RSET and message arrival with its time; the test
# asserts that the concurrent connections never exceeded 2, that no window of W seconds saw more
# than burst + rate * W arrivals, that no connection carried more than 10 messages, that
# connections were reused (RSET between messages) and that each message arrived exactly once.
source "$(dirname "$0")/../lib/testlib.sh"
DPMAILD=$BUILD/dpmaild
PY=/usr/bin/python3
SINK=$T_ROOT/tests/tools/mx_sink.py
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
IN=13120
P_SINK=13121
N=120

{ dlv_cfg dlvsh$$; cat <<EOF
delivery:
  retry: {first: 60, cap: 60, jitter_pct: 0}
  shaping:
    - {destination: shape.test, connections: 2, rate: 20, burst: 5, per_connection: 10}
  routes:
    - {domain: shape.test, hosts: ["[127.0.0.1]:$P_SINK"]}
EOF
} >cfg.yaml
t_bg S $PY "$SINK" --port $P_SINK --dir "$D/sink" >sink.out 2>&1
t_wait_for 10 grep -q listening sink.out || t_fail "sink starts"
t_bg PID "$DPMAILD" -c cfg.yaml >dpmaild.log 2>&1
t_check "dpmaild relays" t_wait_for 10 $PY -c "import smtplib; smtplib.SMTP('127.0.0.1', $IN, timeout=2).quit()"

$PY - "$IN" "$N" >load.out 2>&1 <<'PY'
import smtplib, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
def run(t):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(t, n, 4):
        s.sendmail("a@example.com", ["u%d@shape.test" % i],
                   ("From: a@example.com\r\nSubject: %d\r\nMessage-ID: <s%d@example.com>\r\n\r\nhi\r\n" % (i, i)).encode())
    s.quit()
ts = [threading.Thread(target=run, args=(t,)) for t in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("sent", n)
PY
t_check "$N messages accepted" grep -qx "sent $N" load.out
t_check "$N messages delivered (rate-limited: about 6 s)" \
  t_wait_for 40 bash -c "[ \$(ls sink/*.eml 2>/dev/null | wc -l) -ge $N ]"
t_wait_for 10 bash -c "[ \$(grep -c '^close' sink/conns) = \$(grep -c '^open' sink/conns) ]"

$PY - "$N" >verdict.out <<'PY'
import collections, glob, re, sys
n = int(sys.argv[1])
ev = [l.split() for l in open("sink/conns")]
ev = ev[[e[0] for e in ev].index("ready") + 1:]
cur = peak = 0
live = set()
for what, t, c in sorted(ev, key=lambda e: (float(e[1]), e[0] == "open")):
    if what == "open":
        live.add(c); cur += 1; peak = max(peak, cur)
    elif what == "close" and c in live:
        live.discard(c); cur -= 1
opens = sum(1 for e in ev if e[0] == "open")
rsets = sum(1 for e in ev if e[0] == "rset")
arr = sorted(float(re.search(r"t=(\S+)", l).group(1)) for l in open("sink/log"))
per_conn = collections.Counter(re.search(r"c=(\S+)", l).group(1) for l in open("sink/log"))
worst = 0.0
for w in (0.5, 1.0, 2.0):
    j = 0
    for i in range(len(arr)):
        while arr[i] - arr[j] > w:
            j += 1
        worst = max(worst, (i - j + 1) - (5 + 20 * w))
ids = collections.Counter(re.search(rb"Message-ID: <([^>]+)>", open(f, "rb").read()).group(1)
                          for f in glob.glob("sink/*.eml"))
span = arr[-1] - arr[0]
print("peak_conns", peak)
print("max_per_conn", max(per_conn.values()))
print("rate_excess", int(worst > 1))
print("reuse", int(opens * 5 <= n and rsets >= n - 2 * opens))
print("unique", len(ids), "dups", sum(1 for v in ids.values() if v > 1))
print("info connections=%d rsets=%d span_s=%.2f mean_rate=%.1f" % (opens, rsets, span, (len(arr) - 1) / span))
PY
cat verdict.out
t_check "never more than 2 concurrent connections at the sink" grep -qx 'peak_conns [12]' verdict.out
t_check "never more than 10 messages on one connection" grep -qE '^max_per_conn ([1-9]|10)$' verdict.out
t_check "arrivals never exceed burst + rate x window (0.5, 1, 2 s windows)" grep -qx 'rate_excess 0' verdict.out
t_check "connections reused (RSET between messages)" grep -qx 'reuse 1' verdict.out
t_check "each message exactly once" grep -qx "unique $N dups 0" verdict.out
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dlvsh-last; cp -a "$D" /tmp/dpmail-dlvsh-last; }
t_done
