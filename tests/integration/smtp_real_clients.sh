#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real SMTP peers against the SMTP engines over kernel sockets on 127.0.0.1 (ports 12500-12599):
#   server engine (tests/tools/smtp_sink_server) <- swaks (plain, --pipeline), python smtplib
#     (SMTPUTF8, 8BITMIME, DSN), raw BDAT, the smuggling endings, postfix smtp-source (load);
#   client engine (tests/tools/smtp_send) -> our sink (BDAT and DATA), postfix smtp-sink,
#     python aiosmtpd.
# Every message that arrives is compared byte for byte with what the sender meant to send.
source "$(dirname "$0")/../lib/testlib.sh"

PY=/usr/bin/python3 # the Debian python, which has aiosmtpd
SINK=$BUILD/tests/tools/smtp_sink_server
SEND=$BUILD/tests/tools/smtp_send
[ -x "$SINK" ] && [ -x "$SEND" ] || t_skip "test tools not built"
command -v swaks >/dev/null || t_skip "swaks missing"

PORT=12525 PS_PORT=12526 AIO_PORT=12527
W=$(mktemp -d /tmp/dpmail-smtp.XXXXXX) && T_TMPS+=("$W")
chmod 755 "$W" # postfix smtp-sink drops to nobody and writes below it
Q=$W/q
mkdir -p "$Q"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
nmsg() { find "$Q" -name '*.eml' | wc -l; }
newest() { ls -t "$Q"/*.eml 2>/dev/null | head -1; }

t_bg SINK_PID "$SINK" -p $PORT -d "$Q"
t_check "sink listens" t_wait_for 5 port_open $PORT

# expected octets: LF -> CRLF (the file has no CR), plus what the client appends at the end
crlf() { sed 's/$/\r/' "$1"; }

# ---- swaks, plain and pipelined --------------------------------------------------------------
cat >"$W/m1.txt" <<'EOF'
From: alice@example.org
To: bob@example.net
Subject: swaks test

.a line starting with a dot
..two dots
body line
EOF
before=$(nmsg)
swaks --server 127.0.0.1:$PORT --from alice@example.org --to bob@example.net \
  --data @"$W/m1.txt" >"$W/swaks1.log" 2>&1
t_check "swaks plain: exit 0" [ $? -eq 0 ]
t_check "swaks plain: one message" [ "$(nmsg)" -eq $((before + 1)) ]
{ crlf "$W/m1.txt"; printf '\r\n'; } >"$W/m1.want" # swaks ends the data with an extra CRLF
t_check "swaks plain: byte-exact" cmp -s "$W/m1.want" "$(newest)"
t_check "swaks plain: envelope" grep -q '^RCPT TO:<bob@example.net>' "$(newest | sed 's/eml$/env/')"

swaks --server 127.0.0.1:$PORT --pipeline --from alice@example.org \
  --to bob@example.net,carol@example.net --data @"$W/m1.txt" >"$W/swaks2.log" 2>&1
t_check "swaks --pipeline: exit 0" [ $? -eq 0 ]
t_check "swaks --pipeline: PIPELINING advertised" grep -q 'PIPELINING' "$W/swaks2.log"
t_check "swaks --pipeline: byte-exact" cmp -s "$W/m1.want" "$(newest)"
t_check "swaks --pipeline: two recipients" [ "$(grep -c '^RCPT' "$(newest | sed 's/eml$/env/')")" -eq 2 ]

# ---- python smtplib: SMTPUTF8, 8BITMIME, DSN; raw BDAT; smuggling -------------------------
cat >"$W/py_clients.py" <<'EOF'
import glob, os, smtplib, socket, sys
port, q = int(sys.argv[1]), sys.argv[2]
fails = 0
def check(name, ok):
    global fails
    print(("PASS: " if ok else "FAIL: ") + name); fails += 0 if ok else 1
def newest():
    fs = sorted(glob.glob(q + "/*.eml"), key=os.path.getmtime)
    return fs[-1] if fs else None
def count():
    return len(glob.glob(q + "/*.eml"))

# smtplib sends bytes as they are (only dot-stuffing): so CRLF here; the smuggling cases
# below show what a bare LF gets
body = "From: j\u00f6rg@example.org\r\nSubject: caf\u00e9\r\n\r\n.dot\r\nline \u00e9\r\n".encode()
want = body
s = smtplib.SMTP("127.0.0.1", port)
s.ehlo("py.test")
check("smtplib: SMTPUTF8 advertised", s.has_extn("smtputf8"))
check("smtplib: DSN advertised", s.has_extn("dsn"))
r = s.sendmail("j\u00f6rg@example.org", ["b\u00f6b@example.net", "carol@example.net"], body,
               mail_options=["SMTPUTF8", "BODY=8BITMIME", "RET=HDRS", "ENVID=id+2B1"],
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
check("smtplib: all recipients accepted", r == {})
m = newest()
check("smtplib: byte-exact", open(m, "rb").read() == want)
env = open(m[:-4] + ".env", "rb").read().decode()
check("smtplib: UTF-8 sender kept", "MAIL FROM:<j\u00f6rg@example.org>" in env)
check("smtplib: DSN kept", "ret=2 envid=id+1" in env and "notify=6" in env and "smtputf8=1" in env)
# (sendmail() adds its own SIZE=, which a second one would duplicate: 501 5.5.4)
code, text = s.docmd("MAIL FROM:<a@example.org> SIZE=999999999999")
check("smtplib: SIZE too large refused (552 5.3.4)", code == 552 and text.startswith(b"5.3.4"))
s.quit()

def talk(chunks):
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(5)
    f = c.makefile("rb")
    f.readline()
    out = []
    for ch in chunks:
        c.sendall(ch)
    c.shutdown(socket.SHUT_WR)
    for line in f:
        out.append(line)
    c.close()
    return b"".join(out)

n0 = count()
msg = b"Subject: bdat\r\n\r\nchunk one\r\nchunk two\r\n"
out = talk([b"EHLO raw\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n",
            b"BDAT 15\r\n" + msg[:15], b"BDAT %d LAST\r\n" % (len(msg) - 15) + msg[15:], b"QUIT\r\n"])
check("raw BDAT: accepted", b"250 2.0.0 Ok: queued as" in out and count() == n0 + 1)
check("raw BDAT: byte-exact", open(newest(), "rb").read() == msg)

for name, evil in [("\\n.\\n", b"\n.\n"), ("\\n.\\r\\n", b"\n.\r\n"), ("\\r\\n.\\n", b"\r\n.\n"),
                   ("\\r.\\r\\n", b"\r.\r\n"), ("\\r\\n\\x00.\\r\\n", b"\r\n\x00.\r\n")]:
    n0 = count()
    out = talk([b"EHLO raw\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
                b"Subject: s\r\n\r\nx" + evil + b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\n"
                b"DATA\r\nsmuggled\r\n.\r\nQUIT\r\n"])
    check("smuggling %s: rejected, nothing smuggled" % name,
          count() == n0 and b"550 5." in out and b"evil" not in out and out.count(b"250 2.1.0") == 1)
sys.exit(1 if fails else 0)
EOF
$PY "$W/py_clients.py" $PORT "$Q" >"$W/py.log" 2>&1
rc=$?
cat "$W/py.log"
t_check "python clients ran to the end" [ $rc -eq 0 ]

# ---- postfix smtp-source: load, pipelining, several sessions ------------------------------
if [ -x /usr/sbin/smtp-source ]; then
  before=$(nmsg)
  timeout 60 /usr/sbin/smtp-source -s 4 -m 40 -l 2000 -f src@example.org -t dst@example.net \
    127.0.0.1:$PORT >"$W/source.log" 2>&1
  t_check "smtp-source: exit 0" [ $? -eq 0 ]
  t_check "smtp-source: 40 messages" t_wait_for 5 test "$(nmsg)" -eq $((before + 40))
  t_check "smtp-source: size and CRLF" $PY -c "
import sys; d=open(sys.argv[1],'rb').read()
sys.exit(0 if len(d) >= 2000 and d.count(b'\n') == d.count(b'\r\n') else 1)" "$(newest)"
fi

# ---- the client engine against our sink and real servers ---------------------------------
printf 'From: alice@example.org\nSubject: client\n\n.dot\nbare\rcr\nlast line without newline' >"$W/c1.txt"
printf 'From: alice@example.org\r\nSubject: client\r\n\r\n.dot\r\nbare\r\ncr\r\nlast line without newline\r\n' >"$W/c1.want"
for mode in bdat data; do
  before=$(nmsg)
  flag=""; [ $mode = data ] && flag=-B
  "$SEND" -s 127.0.0.1:$PORT -f alice@example.org -t bob@example.net -t carol@example.net \
    -F "$W/c1.txt" -n 3 $flag >"$W/send-$mode.log" 2>&1
  t_check "client engine ($mode) -> sink: exit 0" [ $? -eq 0 ]
  t_check "client engine ($mode) -> sink: 3 messages" [ "$(nmsg)" -eq $((before + 3)) ]
  t_check "client engine ($mode) -> sink: byte-exact (canonical CRLF)" cmp -s "$W/c1.want" "$(newest)"
done

if [ -x /usr/sbin/smtp-sink ]; then
  PSD=$W/ps; mkdir -p "$PSD"; chmod 777 "$PSD"
  t_bg PS_PID /usr/sbin/smtp-sink -u nobody -d "$PSD/%H%M%S." 127.0.0.1:$PS_PORT 10
  t_check "postfix smtp-sink listens" t_wait_for 5 port_open $PS_PORT
  "$SEND" -s 127.0.0.1:$PS_PORT -f alice@example.org -t bob@example.net -F "$W/c1.txt" -n 2 \
    >"$W/send-ps.log" 2>&1
  t_check "client engine -> postfix smtp-sink: exit 0" [ $? -eq 0 ]
  t_check "client engine -> postfix smtp-sink: 2 messages" t_wait_for 5 test "$(ls "$PSD" | wc -l)" -eq 2
  t_check "client engine -> postfix smtp-sink: content" $PY -c "
import glob,sys
want=open(sys.argv[1],'rb').read().replace(b'\r\n',b'\n')
fs=glob.glob(sys.argv[2]+'/*')
assert len(fs) == 2
for f in fs:
    d=open(f,'rb').read(); body=d[d.index(b'From: alice'):]
    # smtp-sink stores LF line ends and adds one empty line at the end
    assert body == want + b'\n', (body, want)
" "$W/c1.want" "$PSD"
fi

cat >"$W/aio.py" <<'EOF'
import asyncio, sys
from aiosmtpd.controller import Controller
class H:
    async def handle_DATA(self, server, session, envelope):
        open(sys.argv[2] + "/aio.eml", "wb").write(envelope.original_content)
        open(sys.argv[2] + "/aio.env", "w").write(envelope.mail_from + " " + ",".join(envelope.rcpt_tos))
        return "250 2.0.0 OK aio"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]), enable_SMTPUTF8=True)
c.start()
import signal; signal.sigwait({signal.SIGTERM, signal.SIGINT})
c.stop()
EOF
if $PY -c 'import aiosmtpd' 2>/dev/null; then
  t_bg AIO_PID $PY "$W/aio.py" $AIO_PORT "$W"
  t_check "aiosmtpd listens" t_wait_for 10 port_open $AIO_PORT
  "$SEND" -s 127.0.0.1:$AIO_PORT -f alice@example.org -t bob@example.net -F "$W/c1.txt" \
    >"$W/send-aio.log" 2>&1
  t_check "client engine -> aiosmtpd: exit 0" [ $? -eq 0 ]
  t_check "client engine -> aiosmtpd: byte-exact" cmp -s "$W/c1.want" "$W/aio.eml"
  t_check "client engine -> aiosmtpd: envelope" grep -q '^alice@example.org bob@example.net$' "$W/aio.env"
fi

# the sink stops cleanly (under ASan this also means: no leak, no error at exit)
# (not rc=$(t_wait_exit ...): in a $(...) subshell `wait` cannot reap the process)
kill -TERM "$SINK_PID"
exited() { ! kill -0 "$1" 2>/dev/null || ps -p "$1" -o stat= | grep -q Z; }
t_wait_for 10 exited "$SINK_PID"
wait "$SINK_PID"
rc=$?
t_check "sink exits cleanly on SIGTERM (status $rc)" [ "$rc" = 0 ]

t_done
