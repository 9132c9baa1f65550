#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dkim_msgs.py DIR: write the DKIM test corpus into DIR, one file per case, CRLF line ends,
as the SMTP layer hands messages over (dot-unstuffed, terminating "." line excluded).
Prints "<file> <expected signatures>" per case (EXPECT_DOM / EXPECT_OP / 0 placeholders:
dom = the From domain has keys, op = only the operator's signature, 0 = not signed)."""
import os
import sys

H = [b"To: Bob <bob@example.org>", b"Subject: test", b"Date: Sun, 29 Nov 2026 02:00:00 +0000",
     b"Message-ID: <%d@example.com>", b"MIME-Version: 1.0",
     b"Content-Type: text/plain; charset=utf-8"]


def msg(frm, body, extra=(), n=0, headers=None):
    hs = [b"From: " + frm] if frm is not None else []
    hs += [h % n if b"%d" in h else h for h in (headers if headers is not None else H)]
    hs += list(extra)
    return b"\r\n".join(hs) + b"\r\n\r\n" + body


def cases():
    a = b"Alice <alice@example.com>"
    yield "basic", "dom", msg(a, b"Hello world.\r\n")
    yield "dotstuffed", "dom", msg(a, b".hidden after unstuffing\r\n..two dots\r\n.\r\nend\r\n")
    yield "eightbit", "dom", msg(a, "Grüße, café, 日本語\r\n".encode() + b"\xe9\xff\x80 raw\r\n",
                                 [b"Content-Transfer-Encoding: 8bit"])
    yield "longline", "dom", msg(a, b"x" * 5000 + b"\r\n" + b"y " * 3000 + b"\r\n")
    yield "emptybody", "dom", msg(a, b"")
    yield "noblankline", "dom", b"From: alice@example.com\r\nSubject: headers only\r\n"
    yield "trailingblank", "dom", msg(a, b"text\r\n\r\n\r\n\r\n\r\n")
    yield "nofinalcrlf", "dom", msg(a, b"line one\r\nno final crlf")
    yield "folded", "dom", msg(b"\"Alice\r\n Example\" <alice@example.com>",
                               b"folded headers\r\n",
                               [b"X-Folded: one\r\n\ttwo\r\n   three", b"Cc: carol@example.org,\r\n dave@example.org"])
    yield "repeated", "dom", msg(a, b"repeated\r\n",
                                 [b"Received: from a by b", b"Received: from c by d",
                                  b"X-Dup: 1", b"X-Dup: 2", b"Comments: one", b"Comments: two",
                                  b"Keywords: a", b"Keywords: b"])
    yield "whitespace", "dom", msg(a, b"tabs\there   and  spaces   \r\n \t \r\ntrailing ws line  \t\r\n",
                                   [b"X-Space:    lots   of   space   "])
    yield "comments", "dom", msg(b"(team) \"A. <x@evil.test>\" (c) <alice(c)@(c)Example.COM>", b"c\r\n")
    yield "encodedword", "dom", msg(b"=?UTF-8?B?w4FsaWNl?= <alice@example.com>", b"ew\r\n")
    yield "subdomain", "dom", msg(b"news@mail.example.com", b"parent domain key\r\n")
    yield "bigbody", "dom", msg(a, b"".join(b"line %07d of a large message body ...\r\n" % i
                                            for i in range(25000)))
    yield "otherdomain", "op", msg(b"someone@unknown.test", b"only the operator signs\r\n")
    yield "nofrom", "0", msg(None, b"no from\r\n")
    yield "twofrom", "0", msg(a, b"two from\r\n", [b"From: mallory@example.com"])
    yield "twomailboxes", "0", msg(b"alice@example.com, mallory@evil.test", b"x\r\n")


def main():
    d = sys.argv[1]
    for n, (name, exp, data) in enumerate(cases()):
        with open(os.path.join(d, name + ".eml"), "wb") as f:
            f.write(data)
        print(name + ".eml", exp)


if __name__ == "__main__":
    main()
