#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delay warnings (delivery.delay_warning_after, RFC 3464 "Action: delayed"): a sink that
# answers 451 to every message keeps three messages deferred (retry every second, warning after
# 2 s). Checks: exactly one warning for the message with a real sender, listing only the
# recipients whose NOTIFY asks for delays (none given, or DELAY), with status 4.3.0 and a
# Will-Retry-Until; none for the null sender's message or for NOTIFY=NEVER; still exactly one
# after more retries and after a restart of dpmaild (the "warned" mark is in the spool).
source "$(dirname "$0")/../lib/testlib.sh"
t_need_root
PY=/usr/bin/python3
$PY -c 'import aiosmtpd' 2>/dev/null || t_skip "python3-aiosmtpd missing"
t_tmpdir D
cd "$D" || exit 1
source "$T_ROOT/tests/tools/dlv_testnet.sh"
dlv_net dl3delay$$
IN=13820
dlv_sink S1 dst 127.0.0.90 --reply 451
dlv_sink S2 snd 127.0.0.91

{ dlv_cfg dl3delay$$; cat <<EOF
delivery:
  routes:
    - {domain: dst.test, hosts: ["[127.0.0.90]:25"]}
    - {domain: snd.test, hosts: ["[127.0.0.91]:25"]}
  retry: {first: 1, cap: 1, jitter_pct: 0, max_age: 3600}
  delay_warning_after: 2
EOF
} >cfg.yaml
dlv_dpmaild PID cfg.yaml

$X $PY - "$IN" <<'PY' || t_fail "submit"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.ehlo("client.test")
def msg(frm, rcpts, subj):
    s.mail(frm)
    for r, notify in rcpts:
        code, _ = s.rcpt(r, ["NOTIFY=" + notify] if notify else [])
        assert code == 250, (r, code)
    code, _ = s.data(("From: x@snd.test\r\nSubject: %s\r\n\r\nbody\r\n" % subj).encode())
    assert code == 250
msg("s@snd.test", [("a@dst.test", None), ("b@dst.test", "DELAY,FAILURE"), ("c@dst.test", "FAILURE")], "m1")
msg("", [("d@dst.test", None)], "m2")
msg("s@snd.test", [("e@dst.test", "NEVER")], "m3")
s.quit()
PY

t_check "a delay warning reaches the sender" \
  t_wait_for 20 bash -c "grep -l 'report-type=delivery-status' snd/*.eml 2>/dev/null | grep -q ."
dlv_dsns snd/*.eml >dsn1.out
cat dsn1.out
t_check "it lists a (no NOTIFY) and b (NOTIFY=DELAY) as delayed 4.3.0, and nobody else" \
  bash -c "[ \"\$(sort dsn1.out | tr '\n' ' ')\" = 'a@dst.test delayed 4.3.0 b@dst.test delayed 4.3.0 ' ]"
t_check "it says until when delivery is retried" grep -q '^Will-Retry-Until: ' snd/000001.eml
t_check "the subject says the mail is delayed, not failed" grep -q '^Subject: Delayed Mail' snd/000001.eml
t_check "the messages keep being retried" \
  t_wait_for 20 bash -c "[ \$(grep -c 'event=deferred attempts=5 ' dpmaild.log) -ge 3 ]"
t_check "still exactly one warning (once per message; none for <> or NOTIFY=NEVER)" \
  bash -c "[ \$(ls snd/*.eml | wc -l) = 1 ] && [ \$(grep -c 'event=delay_warning' dpmaild.log) = 2 ]"
kill -TERM "$PID"; T_RC=timeout; t_wait_exit "$PID" 10 >/dev/null
t_check "dpmaild stops cleanly" [ "$T_RC" = 0 ]
n=$(grep -c 'event=deferred' dpmaild.log)
dlv_dpmaild PID2 cfg.yaml
t_check "after a restart the messages are retried again" \
  t_wait_for 20 bash -c "[ \$(grep -c 'event=deferred' dpmaild.log) -ge $((n + 6)) ]"
t_check "and no second warning is sent (the mark survived)" \
  bash -c "[ \$(ls snd/*.eml | wc -l) = 1 ] && [ \$(grep -c 'event=delay_warning' dpmaild.log) = 2 ]"
kill -TERM "$PID2"; T_RC=timeout; t_wait_exit "$PID2" 10 >/dev/null
t_check "dpmaild stops cleanly again" [ "$T_RC" = 0 ]
[ "$T_FAILS" = 0 ] || { rm -rf /tmp/dpmail-dl3delay-last; cp -a "$D" /tmp/dpmail-dl3delay-last; }
t_done
