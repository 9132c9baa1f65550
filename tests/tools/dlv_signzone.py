#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dlv_signzone.py: signs a small test zone for DNSSEC (dnspython), so delivery tests can serve
secure TLSA records (DANE needs them) from unbound's auth-zone.

  dlv_signzone.py ORIGIN IN.zone OUT.zone ANCHOR

IN.zone holds the records (names relative to ORIGIN or absolute; an SOA and NS are added).
OUT.zone gets the records, one DNSKEY (ECDSA P-256, flags 257), an NSEC chain (so that
no-data and NXDOMAIN answers validate too) and RRSIGs over every RRset. ANCHOR gets the
DNSKEY as a trust-anchor line for libunbound (dns.trust_anchor).
"""
import sys
import time

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec


def main():
    origin = dns.name.from_text(sys.argv[1])
    text = "$TTL 60\n@ SOA ns.%s hostmaster.%s 1 60 60 600 60\n@ NS ns.%s\nns A 127.0.0.53\n" % (
        origin, origin, origin) + open(sys.argv[2]).read()
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257)
    zone.find_rdataset(origin, dns.rdatatype.DNSKEY, create=True).add(dnskey, 60)
    names = sorted(zone.nodes.keys())
    for i, n in enumerate(names):
        nxt = names[(i + 1) % len(names)]
        types = sorted({rds.rdtype for rds in zone.nodes[n].rdatasets} |
                       {dns.rdatatype.NSEC, dns.rdatatype.RRSIG})
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC, "%s %s" % (
            nxt, " ".join(dns.rdatatype.to_text(t) for t in types)))
        zone.find_rdataset(n, dns.rdatatype.NSEC, create=True).add(rd, 60)
    now = int(time.time())
    out = []
    for n in names:
        for rds in list(zone.nodes[n].rdatasets):
            rrset = dns.rrset.from_rdata_list(n, rds.ttl, list(rds))
            sig = dns.dnssec.sign(rrset, key, origin, dnskey, inception=now - 3600,
                                  expiration=now + 86400 * 7)
            out.append(rrset.to_text())
            out.append(dns.rrset.from_rdata(n, rds.ttl, sig).to_text())
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(out) + "\n")
    with open(sys.argv[4], "w") as f:
        f.write("%s 60 IN DNSKEY %s\n" % (origin, dnskey.to_text()))


if __name__ == "__main__":
    main()
