#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""syck_synflood.py DST PORT COUNT SRC_NET: sends COUNT TCP SYNs (MSS 1460) to DST:PORT from
COUNT distinct spoofed sources taken in order from SRC_NET, through a raw IPv4 socket with our
own headers (IP_HDRINCL; needs root), for the SYN cookie test. Network safety: every address
must lie in 198.18.0.0/15 (the test's own namespace), else it refuses to send anything.
Prints "sent N"."""
import ipaddress
import socket
import struct
import sys

BENCH = ipaddress.ip_network("198.18.0.0/15")


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src: bytes, dst: bytes, sport: int, dport: int, seq: int) -> bytes:
    opts = struct.pack("!BBH", 2, 4, 1460)
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 6 << 4, 0x02, 65535, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
    tcp = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, socket.IPPROTO_TCP, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main() -> int:
    dst = ipaddress.ip_address(sys.argv[1])
    port, count = int(sys.argv[2]), int(sys.argv[3])
    net = ipaddress.ip_network(sys.argv[4])
    if dst not in BENCH or not net.subnet_of(BENCH) or count > net.num_addresses - 2:
        print("refused: addresses must be in 198.18.0.0/15", file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    hosts = net.hosts()
    for i in range(count):
        src = next(hosts)
        s.sendto(syn(src.packed, dst.packed, 1024 + i, port, 0x10000 * (i + 1)), (str(dst), 0))
    print("sent", count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
