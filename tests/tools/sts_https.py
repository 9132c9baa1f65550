#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sts_https.py: an MTA-STS policy server for tests (RFC 8461 3.3).

  sts_https.py --host IP --port P --cert CRT --key KEY --dir D

GET /.well-known/mta-sts.txt with Host mta-sts.<domain> answers D/<domain>.txt as text/plain
(200), or 404 when there is none. D/<domain>.fail makes it answer 500, D/<domain>.redirect a
302 to the file's content, D/<domain>.html the policy as text/html. Every request is appended
to D/requests ("<host> <status>"). Prints "listening" once ready; runs until SIGTERM.
"""
import argparse
import http.server
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", ctype="text/plain", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        host = self.headers.get("Host", "-")
        with open(os.path.join(self.server.dir, "requests"), "a") as f:
            f.write("%s %d\n" % (host, code))

    def do_GET(self):
        host = self.headers.get("Host", "").split(":")[0].lower()
        dom = host[len("mta-sts."):] if host.startswith("mta-sts.") else ""
        base = os.path.join(self.server.dir, dom)
        if self.path != "/.well-known/mta-sts.txt" or not dom:
            return self.answer(404)
        if os.path.exists(base + ".fail"):
            return self.answer(500, b"broken\n")
        if os.path.exists(base + ".redirect"):
            return self.answer(302, extra={"Location": open(base + ".redirect").read().strip()})
        if not os.path.exists(base + ".txt"):
            return self.answer(404)
        body = open(base + ".txt", "rb").read()
        ctype = "text/html" if os.path.exists(base + ".html") else "text/plain; charset=utf-8"
        return self.answer(200, body, ctype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer((a.host, a.port), Handler)
    srv.dir = a.dir
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
