#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mx_sink.py: a remote MX stand-in for delivery tests (python3-aiosmtpd).

  mx_sink.py --host 127.0.0.1 --port P --dir D [--reply CODE] [--tls CERT KEY] [--rcpt-reply ADDR=CODE]

Writes every accepted message to D/<n>.eml with its envelope in D/<n>.env ("from X", "to Y"
lines) and appends one line per transaction to D/log ("<code> <from> <rcpts> t=<time> c=<conn>")
and one line per connection event to D/conns ("open|close|rset|ready <time> <conn>"; conn = the
client's port), so tests can count concurrent connections, arrivals per second and reuse. --reply makes
every DATA answer CODE (e.g. 451, 550); --rcpt-reply refuses one recipient with CODE. Prints
"listening" once ready. Runs until SIGTERM.

Extensions (message flags and source addresses): --no-smtputf8 withholds SMTPUTF8 (offered by default), --no-8bitmime
withholds 8BITMIME, --requiretls offers REQUIRETLS once TLS is on (RFC 8689), --dsn offers DSN
(RFC 3461) and accepts RET/ENVID/NOTIFY/ORCPT. Each .env file also says "params <MAIL FROM
parameters>", "rcptparams <RCPT TO parameters of all recipients>", "peer <client IP>" and
"helo <EHLO name>".
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

TEXT = {250: "2.0.0 Ok", 451: "4.3.0 Try again later", 550: "5.1.1 No such user",
        421: "4.4.2 Closing", 452: "4.2.2 Mailbox full"}


class Handler:
    def __init__(self, a):
        self.a, self.n = a, 0
        self.rcpt_codes = dict(x.split("=") for x in a.rcpt_reply)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        out = [r for r in responses if not (self.a.no_8bitmime and r[4:] == "8BITMIME")]
        if self.a.requiretls and session.ssl:
            out.insert(len(out) - 1, "250-REQUIRETLS")
        if self.a.dsn:
            out.insert(len(out) - 1, "250-DSN")
        return out

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = int(self.rcpt_codes.get(address, 250))
        if code != 250:
            return "%d %s" % (code, TEXT.get(code, "x"))
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        code = self.a.reply
        if self.a.delay:
            await asyncio.sleep(self.a.delay)
        with open(os.path.join(self.a.dir, "log"), "a") as f:
            f.write("%d %s %s t=%.6f c=%s\n" % (code, envelope.mail_from, ",".join(envelope.rcpt_tos),
                                                time.time(), session.peer[1] if session.peer else 0))
        if code != 250:
            return "%d %s" % (code, TEXT.get(code, "x"))
        self.n += 1
        base = os.path.join(self.a.dir, "%06d" % self.n)
        with open(base + ".env", "w") as f:
            f.write("from %s\n" % envelope.mail_from)
            for r in envelope.rcpt_tos:
                f.write("to %s\n" % r)
            f.write("tls %s\n" % ("yes" if session.ssl else "no"))
            f.write("params %s\n" % " ".join(envelope.mail_options))
            f.write("rcptparams %s\n" % " ".join(envelope.rcpt_options))
            f.write("peer %s\n" % (session.peer[0] if session.peer else "-"))
            f.write("helo %s\n" % (session.host_name or "-"))
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 Ok: stored"

    async def handle_RSET(self, server, session, envelope):
        conn_event(self.a.dir, "rset", session.peer)
        return "250 OK"


def conn_event(d, what, peer):
    with open(os.path.join(d, "conns"), "a") as f:
        f.write("%s %.6f %s\n" % (what, time.time(), peer[1] if peer else 0))


class CountingSMTP(SMTP):
    """Logs every connection's open and close (the sink-side view of shaping)."""
    def connection_made(self, transport):
        self._peer_seen = transport.get_extra_info("peername")
        conn_event(self.event_handler.a.dir, "open", self._peer_seen)
        super().connection_made(transport)

    def _take(self, arg, names):
        """Removes the parameters aiosmtpd does not know (names: prefixes) from arg."""
        if not arg:
            return arg, []
        words = arg.split(" ")
        taken = [w for w in words if any(w.upper().startswith(n) for n in names)]
        return " ".join(w for w in words if w not in taken), taken

    async def smtp_MAIL(self, arg):
        # aiosmtpd knows neither REQUIRETLS nor DSN: accept them when offered, keep them
        a = self.event_handler.a
        names = (["REQUIRETLS"] if a.requiretls and self._tls_protocol else []) + \
                (["RET=", "ENVID="] if a.dsn else [])
        arg, taken = self._take(arg, names)
        await super().smtp_MAIL(arg)
        if taken and self.envelope.mail_from is not None:
            self.envelope.mail_options.extend(taken)

    async def smtp_RCPT(self, arg):
        arg, taken = self._take(arg, ["NOTIFY=", "ORCPT="] if self.event_handler.a.dsn else [])
        n = len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(arg)
        if taken and len(self.envelope.rcpt_tos) > n:
            self.envelope.rcpt_options.extend(taken)

    def connection_lost(self, exc):
        conn_event(self.event_handler.a.dir, "close", getattr(self, "_peer_seen", None))
        super().connection_lost(exc)


class CountingController(Controller):
    def factory(self):
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--reply", type=int, default=250)
    ap.add_argument("--rcpt-reply", action="append", default=[])
    ap.add_argument("--tls", nargs=2)
    ap.add_argument("--no-smtputf8", action="store_true", help="do not offer SMTPUTF8")
    ap.add_argument("--no-8bitmime", action="store_true", help="do not offer 8BITMIME")
    ap.add_argument("--requiretls", action="store_true", help="offer REQUIRETLS after STARTTLS")
    ap.add_argument("--dsn", action="store_true", help="offer DSN (RFC 3461)")
    ap.add_argument("--delay", type=float, default=0, help="seconds before the reply to DATA")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    ctx = None
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
    c = CountingController(Handler(a), hostname=a.host, port=a.port, tls_context=ctx,
                   require_starttls=False, decode_data=False, server_hostname="mx.test",
                   enable_SMTPUTF8=not a.no_smtputf8)
    c.start()
    conn_event(a.dir, "ready", None)   # aiosmtpd's own start-up probe connection is before this
    print("listening", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    c.stop()


if __name__ == "__main__":
    main()
