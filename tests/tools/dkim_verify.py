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
import os
import re
import sys

import dkim


def split(msg, path, outdir):
    """Write one copy of msg per DKIM-Signature field, keeping only that field."""
    lines = msg.split(b"\r\n")
    fields, cur = [], None
    for i, ln in enumerate(lines):
        if ln == b"":
            break
        if ln[:1] in (b" ", b"\t") and cur is not None:
            cur.append(i)
            continue
        cur = [i]
        fields.append((ln.lower().startswith(b"dkim-signature:"), cur))
    sigs = [f for is_sig, f in fields if is_sig]
    drop_all = {i for f in sigs for i in f}
    base = os.path.basename(path)
    for k, keep in enumerate(sigs):
        out = [ln for i, ln in enumerate(lines) if i not in drop_all or i in keep]
        with open(os.path.join(outdir, f"{base}.sig{k}"), "wb") as f:
            f.write(b"\r\n".join(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--txt", action="append", default=[])
    ap.add_argument("--expect", type=int, default=None)
    ap.add_argument("--split-to", default=None,
                    help="also write DIR/<name>.sig<i>: the message with only signature i "
                         "(for verifiers that report one result per message)")
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
        if a.split_to:
            split(msg, path, a.split_to)
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
