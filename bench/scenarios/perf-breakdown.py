#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Where dpmaild's CPU goes: classifies the samples of `perf script` output (perf record
--call-graph dwarf on dpmaild's PID, as PERF_OUT/PERF_ARGS in bench/scenarios/lib.sh make it)
into a few buckets by the innermost frame that names a dpmaild concept, and prints each bucket's
share and, given the run's gross CPU per message, its cost per message.

    perf script -i DIR/LABEL.data > S.txt
    perf-breakdown.py S.txt [--skip SECONDS] [--ms-per-msg MS]

--skip drops the first seconds of samples (the load's --sut-idle window, when perf was already
recording). libcrypto has no symbols on Debian: a libcrypto leaf under dkim_msg_finish is
counted as the DKIM signature (the private-key operation; the final hash is a few percent of it).
"""
import argparse
import collections
import re

# (bucket, function-name prefixes, shared objects), matched from the leaf outwards
BUCKETS = [
    ("idle back-off: the poll loop's nanosleep and wake-up", ("rte_delay_us_sleep", "do_nanosleep"), ()),
    ("logging: formatting and writing log lines", ("log_",), ()),
    ("DKIM besides the signature: hashing, canonicalization, libopendkim",
     ("dkim_", "canon", "on_headers"), ("libopendkim.so.11.0.0",)),
    ("TLS handshakes (ECDHE, certificates)", ("do_handshake", "SSL_do_handshake", "hs_"), ()),
    ("TLS records: AES-GCM (crypto/gcm, ipsec-mb) and the record layer",
     ("gcm_", "tls_", "seal_any", "lower_on_data"), ("libIPSec_MB.so.1.3.0",)),
    ("spool: records, CRC32C, io_uring submission", ("spool_",), ()),
    ("TCP/IP stack and the port's PMD (rx/tx, checksums, ARP)",
     ("tcp_", "net_rx", "net_tx", "arp_", "ip_", "eth_", "icmp_", "dp_lcore_turn", "dp_port", "sock_"),
     ("librte_net_memif.so.23.0", "librte_net_tap.so.23.0")),
    ("SMTP server and client, delivery engine",
     ("smtp_", "dlv_", "c_data", "fill_pipeline", "relay_", "read_loop"), ()),
]
SIGNATURE = "DKIM signature (libcrypto under dkim_msg_finish)"
IOURING = "io_uring workers (kernel): spool writes and fdatasync"
OTHER = "loop, RCU, control-plane thread, other"


def parse(path):
    samples, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
            continue
        if not line[0].isspace():
            parts = line.split()
            ts = [x for x in parts if x.endswith(":") and x[0].isdigit()]
            cur = {"comm": parts[0], "t": float(ts[0][:-1]) if ts else 0.0, "frames": []}
            continue
        m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$", line)
        if m and cur is not None:
            cur["frames"].append((m.group(2).split("+")[0], m.group(3).split("/")[-1]))
    if cur:
        samples.append(cur)
    return samples


def bucket(s):
    fr = s["frames"]
    if s["comm"].startswith("iou"):
        return IOURING
    if fr and fr[0][1] == "libcrypto.so.3" and any(f == "dkim_msg_finish" for f, _ in fr):
        return SIGNATURE
    for f, d in fr:
        for name, prefixes, dsos in BUCKETS:
            if d in dsos or f.startswith(prefixes):
                return name
    return OTHER


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script")
    ap.add_argument("--skip", type=float, default=0.0)
    ap.add_argument("--ms-per-msg", type=float, default=0.0)
    a = ap.parse_args()
    samples = parse(a.script)
    if not samples:
        raise SystemExit("no samples")
    t0 = min(s["t"] for s in samples)
    kept = [s for s in samples if s["t"] >= t0 + a.skip]
    count = collections.Counter(bucket(s) for s in kept)
    n = len(kept)
    print(f"{n} samples ({len(samples)} recorded, first {a.skip:g} s skipped)")
    print("| where | share | ms/msg |")
    print("|---|---:|---:|")
    for name, v in count.most_common():
        cost = f"{a.ms_per_msg * v / n:.3f}" if a.ms_per_msg else "-"
        print(f"| {name} | {100.0 * v / n:.1f}% | {cost} |")


if __name__ == "__main__":
    main()
