#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bdat_sink.py: a receiving MX for delivery tests that speaks CHUNKING (RFC 3030), which
aiosmtpd does not. Offers PIPELINING and CHUNKING (--no-chunking: PIPELINING only), takes BDAT
chunks and DATA, answers RCPT per address (--rcpt-reply addr=code), and writes one JSON line per
finished transaction to --log: mode (bdat|data), chunks, the number of reads the transaction's
bytes arrived in (1 = MAIL, RCPTs and body came in one write), the recipients accepted and the
body's SHA-256 (--cmd-log: every command line, e.g. to count BDAT chunks). A BDAT chunk without an accepted recipient is read whole and refused (554), as
RFC 3030 requires of a server that offers PIPELINING. Bodies go to --dir as NNNNNN.eml."""
import argparse
import asyncio
import hashlib
import json
import os


class Txn:
    def __init__(self):
        self.rcpts, self.body, self.chunks, self.reads, self.sender = [], bytearray(), 0, 0, None
        self.refused = False


class Sess(asyncio.Protocol):
    def __init__(self, srv):
        self.srv, self.buf, self.txn, self.need, self.last, self.mode = srv, bytearray(), None, 0, False, "cmd"

    def connection_made(self, tr):
        self.tr = tr
        tr.write(b"220 bdat-sink ESMTP\r\n")

    def reply(self, s):
        self.out.append(s.encode() + b"\r\n")

    def data_received(self, data):
        self.buf += data
        self.out = []
        if self.txn is not None:
            self.txn.reads += 1
        while self.step():
            pass
        if self.out:
            self.tr.write(b"".join(self.out))

    def step(self):
        if self.mode == "bdat":
            take = min(self.need, len(self.buf))
            if take == 0 and self.need:
                return False
            if not self.txn.refused:
                self.txn.body += self.buf[:take]
            del self.buf[:take]
            self.need -= take
            if self.need:
                return False
            self.mode = "cmd"
            self.txn.chunks += 1
            if self.txn.refused:
                self.reply("554 5.5.1 Error: no valid recipients")
                if self.last:
                    self.txn = None
            elif self.last:
                self.finish("bdat")
            else:
                self.reply("250 2.0.0 %d octets received" % take)
            return True
        if self.mode == "data":
            end = self.buf.find(b"\r\n.\r\n")
            if self.buf.startswith(b".\r\n"):
                end, skip = -2, 3
            elif end < 0:
                return False
            else:
                skip = end + 5
            body = bytes(self.buf[:end + 2]) if end >= 0 else b""
            del self.buf[:skip]
            self.txn.body += body.replace(b"\r\n..", b"\r\n.")
            if self.txn.body.startswith(b".."):
                del self.txn.body[0]
            self.mode = "cmd"
            self.finish("data")
            return True
        i = self.buf.find(b"\r\n")
        if i < 0:
            return False
        line = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 2]
        self.command(line)
        return True

    def finish(self, mode):
        t, self.txn = self.txn, None
        n = self.srv.count = self.srv.count + 1
        if self.srv.args.dir:
            with open(os.path.join(self.srv.args.dir, "%06d.eml" % n), "wb") as f:
                f.write(t.body)
        rec = {"mode": mode, "chunks": t.chunks, "reads": t.reads, "rcpts": t.rcpts,
               "bytes": len(t.body), "sha256": hashlib.sha256(t.body).hexdigest()}
        with open(self.srv.args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.reply("250 2.0.0 Ok: queued as %06d" % n)

    def command(self, line):
        verb = line.split(" ", 1)[0].upper()
        if self.srv.args.cmd_log:
            with open(self.srv.args.cmd_log, "a") as f:
                f.write(line + "\n")
        if verb in ("EHLO", "HELO"):
            caps = ["PIPELINING", "8BITMIME"] + ([] if self.srv.args.no_chunking else ["CHUNKING"])
            self.reply("\r\n".join(["250-bdat-sink"] + ["250-" + c for c in caps[:-1]] + ["250 " + caps[-1]]))
        elif verb == "MAIL":
            self.txn = Txn()
            self.txn.reads = 1
            self.reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            addr = line[line.find("<") + 1:line.find(">")]
            code = self.srv.rcpt_reply.get(addr, 250)
            if self.txn is None:
                self.reply("503 5.5.1 Error: need MAIL command")
            elif code == 250:
                self.txn.rcpts.append(addr)
                self.reply("250 2.1.5 Ok")
            else:
                self.reply("%d %d.1.1 <%s>: refused" % (code, code // 100, addr))
        elif verb == "BDAT":
            parts = line.split()
            self.need, self.last = int(parts[1]), len(parts) > 2 and parts[2].upper() == "LAST"
            if self.txn is None:
                self.txn = Txn()
            self.txn.refused = not self.txn.rcpts
            self.mode = "bdat"
        elif verb == "DATA":
            if self.txn is None or not self.txn.rcpts:
                self.reply("554 5.5.1 Error: no valid recipients")
            else:
                self.mode = "data"
                self.reply("354 go ahead")
        elif verb == "RSET":
            self.txn = None
            self.reply("250 2.0.0 Ok")
        elif verb == "QUIT":
            self.reply("221 2.0.0 Bye")
            self.tr.write(b"".join(self.out))
            self.out = []
            self.tr.close()
        else:
            self.reply("502 5.5.2 Error: command not recognized")


class Srv:
    def __init__(self, args):
        self.args, self.count = args, 0
        self.rcpt_reply = {}
        for kv in args.rcpt_reply or []:
            a, c = kv.rsplit("=", 1)
            self.rcpt_reply[a] = int(c)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--dir")
    ap.add_argument("--no-chunking", action="store_true")
    ap.add_argument("--rcpt-reply", action="append")
    ap.add_argument("--cmd-log", help="append every command line received (BDAT n [LAST]...)")
    args = ap.parse_args()
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    srv = Srv(args)
    server = await asyncio.get_running_loop().create_server(lambda: Sess(srv), "127.0.0.1", args.port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
