#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dkim_verify.py: verify every DKIM-Signature of messages with dkimpy (python3-dkim), an
implementation independent of libopendkim. Public keys come from TXT records given on the
command line instead of DNS (dkimpy's dnsfunc hook), so nothing is looked up.

  dkim_verify.py --txt SELECTOR._domainkey.DOMAIN=FILE ... [--expect N] MSG...

For each message prints "<file> sig=<i> d=<d> s=<s> a=<a> ok|FAIL"; exits 1 when any
signature fails or a message does not carry exactly N signatures (when --expect is given).
"""
import argparse
import re
import sys

import dkim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--txt", action="append", default=[])
    ap.add_argument("--expect", type=int, default=None)
    ap.add_argument("msgs", nargs="+")
    a = ap.parse_args()
    zone = {}
    for t in a.txt:
        name, path = t.split("=", 1)
        with open(path, "rb") as f:
            zone[name.lower().rstrip(".")] = f.read().strip()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return zone.get(name.lower().rstrip("."), None)

    bad = 0
    for path in a.msgs:
        with open(path, "rb") as f:
            msg = f.read()
        d = dkim.DKIM(msg)
        n = len(re.findall(rb"(?mi)^DKIM-Signature:", msg))
        if a.expect is not None and n != a.expect:
            print(f"{path} expected {a.expect} signatures, found {n}")
            bad += 1
        for i in range(n):
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
            sig = d.signature_fields
            print(f"{path} sig={i} d={sig.get(b'd', b'?').decode()} "
                  f"s={sig.get(b's', b'?').decode()} a={sig.get(b'a', b'?').decode()} "
                  f"{'ok' if ok else 'FAIL'}")
            bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
