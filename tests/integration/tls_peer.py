# SPDX-License-Identifier: MIT
# tls_peer.py: hand-made SMTP/TLS peers for tests/integration/tls_*.sh (python3 ssl with memory
# BIOs, so the test controls every byte on the wire). Each subcommand prints what it saw and
# exits 0 when the behaviour it checks is right.
#   client PORT CAFILE MODE     MODE: garbage | aborted | inject | tamper | notify | silent
#   server PORT CERT KEY MODE   MODE: inject | nostarttls | plain  (one connection, then exit)
import socket
import ssl
import sys


def recv_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines
        lines.append(line.decode(errors="replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


class Tls:
    """A TLS client over a plain socket with memory BIOs: raw access to the records."""

    def __init__(self, sock, cafile, host="mx.test"):
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock, self.inb, self.outb = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inb, self.outb, server_hostname=host)
        self.buf = b""
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.pump()
        self.flush()

    def flush(self):
        data = self.outb.read()
        if data:
            self.sock.sendall(data)

    def pump(self):
        self.flush()
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.inb.write(data)

    def send(self, data):
        self.obj.write(data)
        self.flush()

    def records(self, data):
        """Encrypts data and returns the records instead of sending them."""
        self.obj.write(data)
        return self.outb.read()

    def reply(self):
        while b"\n" not in self.buf or not self._complete():
            try:
                self.buf += self.obj.read(65536)
            except ssl.SSLWantReadError:
                self.pump()
        out, self.buf = self._complete(), b""
        return out

    def _complete(self):
        lines = self.buf.split(b"\r\n")
        for i, line in enumerate(lines[:-1]):
            if len(line) >= 4 and line[3:4] == b" ":
                return [x.decode() for x in lines[: i + 1]]
        return None


def starttls_prelude(port, extra=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    print("greeting", recv_reply(f))
    s.sendall(b"EHLO peer.test\r\n")
    ehlo = recv_reply(f)
    assert any("STARTTLS" in x for x in ehlo), ehlo
    s.sendall(b"STARTTLS\r\n" + extra)
    r = recv_reply(f)
    print("starttls", r)
    assert r[0].startswith("220"), r
    return s


def client(port, cafile, mode):
    if mode == "garbage":
        s = starttls_prelude(port)
        s.sendall(b"MAIL FROM:<plain@text>\r\nHELLO GARBAGE GARBAGE GARBAGE\r\n")
        data = s.recv(4096)
        print("got", data[:20])
        # a TLS alert record (0x15) or a close, never an SMTP reply
        return 0 if (not data or data[0] == 0x15) else 1
    if mode == "aborted":
        s = starttls_prelude(port)
        s.sendall(bytes.fromhex("160301020001000200"))
        s.close()
        return 0
    if mode == "silent":
        s = starttls_prelude(port)
        data = s.recv(4096)              # the server gives up after its handshake timeout
        print("got", data)
        return 0 if not data or data[0] == 0x15 else 1
    if mode == "inject":
        s = starttls_prelude(port, b"MAIL FROM:<injected@evil>\r\n")
        t = Tls(s, cafile)
        t.send(b"EHLO peer.test\r\n")
        print("ehlo", t.reply())
        t.send(b"RCPT TO:<victim@mx.test>\r\n")
        r = t.reply()
        print("rcpt", r)
        return 0 if r[0].startswith("503") else 1    # the injected MAIL never ran
    if mode in ("tamper", "notify"):
        s = starttls_prelude(port)
        t = Tls(s, cafile)
        for cmd in (b"EHLO peer.test\r\n", b"MAIL FROM:<a@peer.test>\r\n", b"RCPT TO:<b@mx.test>\r\n",
                    b"DATA\r\n"):
            t.send(cmd)
            print(cmd.strip(), t.reply())
        t.send(b"Subject: half\r\n\r\nfirst part\r\n")
        if mode == "tamper":
            rec = bytearray(t.records(b"second part\r\n.\r\n"))
            rec[-1] ^= 0x01              # break the record's tag: the server must alert and close
            s.sendall(bytes(rec))
        else:
            try:
                t.obj.unwrap()
            except ssl.SSLWantReadError:
                pass
            t.flush()                    # close_notify in the middle of DATA
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        print("after", data[:16].hex())
        return 0
    return 2


def server(port, cert, key, mode):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    print("ready", flush=True)
    s, _ = ls.accept()
    s.settimeout(10)
    f = s.makefile("rb")
    s.sendall(b"220 peer.test ESMTP\r\n")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls = None
    while True:
        line = tls.readline() if tls else f.readline()
        if not line:
            return 0
        verb = line.strip().upper()[:4]
        out = tls.write if tls else s.sendall
        if verb in (b"EHLO", b"HELO"):
            ext = b"" if (tls or mode == "nostarttls") else b"250-STARTTLS\r\n"
            out(b"250-peer.test\r\n" + ext + b"250 8BITMIME\r\n")
        elif verb == b"STAR":
            extra = b"250-injected\r\n250 injected\r\n" if mode == "inject" else b""
            s.sendall(b"220 go ahead\r\n" + extra)
            tls = ctx.wrap_socket(s, server_side=True).makefile("rwb", buffering=0)
        elif verb == b"DATA":
            out(b"354 go\r\n")
            while True:
                l2 = tls.readline() if tls else f.readline()
                if not l2 or l2 in (b".\r\n", b".\n"):
                    break
            out(b"250 queued\r\n")
        elif verb == b"QUIT":
            out(b"221 bye\r\n")
            return 0
        else:
            out(b"250 ok\r\n")


if __name__ == "__main__":
    if sys.argv[1] == "client":
        sys.exit(client(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    sys.exit(server(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
