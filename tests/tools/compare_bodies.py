#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""compare_bodies.py SENT_GLOB RECEIVED_GLOB: matches messages by Message-ID <mN@...> and
prints "unique U dups D bad B": how many sent messages arrived, how many arrived more than
once, and how many arrived with a body that differs from what was sent (line endings aside:
the sink stores what its SMTP library hands it)."""
import glob
import re
import sys

ID = re.compile(rb"Message-ID: <(m\d+)@")


def body(b):
    return b.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]


sent = {}
for f in glob.glob(sys.argv[1]):
    b = open(f, "rb").read()
    sent[ID.search(b).group(1)] = body(b)
seen, bad = {}, 0
for f in glob.glob(sys.argv[2]):
    b = open(f, "rb").read()
    m = ID.search(b)
    if not m or m.group(1) not in sent:
        continue
    seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    bad += body(b) != sent[m.group(1)]
print("unique", len(seen), "dups", sum(1 for v in seen.values() if v > 1), "bad", bad)
