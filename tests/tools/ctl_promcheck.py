#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Checks a Prometheus text exposition (format 0.0.4) read from stdin: every sample line is
# well formed, belongs to a metric whose TYPE was declared first, histograms have cumulative
# non-decreasing buckets ending in +Inf equal to _count. Prints "ok N metrics" or the problem
# and exits 1. Optional arguments: metric names that must be present.
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
SAMPLE = re.compile(r'^(' + NAME + r')(\{(' + NAME[:-1] + r'*="(?:[^"\\]|\\.)*"(?:,' + NAME +
                    r'="(?:[^"\\]|\\.)*")*)?\})? (\S+)( -?\d+)?$')


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    types, hist = {}, {}
    n = 0
    for lineno, line in enumerate(sys.stdin.read().splitlines(), 1):
        if not line:
            continue
        if line.startswith('# TYPE '):
            parts = line.split()
            if len(parts) != 4 or parts[3] not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                fail(f"line {lineno}: bad TYPE: {line}")
            if parts[2] in types:
                fail(f"line {lineno}: TYPE repeated for {parts[2]}")
            types[parts[2]] = parts[3]
            continue
        if line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(f"line {lineno}: malformed sample: {line}")
        name, labels, value = m.group(1), m.group(3) or '', m.group(4)
        try:
            v = float(value)
        except ValueError:
            fail(f"line {lineno}: bad value {value}")
        base = re.sub(r'_(bucket|sum|count)$', '', name)
        if name not in types and base not in types:
            fail(f"line {lineno}: sample before its TYPE: {name}")
        if types.get(base) == 'histogram':
            h = hist.setdefault(base, {'buckets': [], 'count': None})
            if name.endswith('_bucket'):
                le = re.search(r'le="([^"]+)"', labels).group(1)
                h['buckets'].append((float('inf') if le == '+Inf' else float(le), v))
            elif name.endswith('_count'):
                h['count'] = v
        if types.get(name) == 'counter' and v < 0:
            fail(f"line {lineno}: negative counter {name}")
        n += 1
    for base, h in hist.items():
        b = h['buckets']
        if not b or b[-1][0] != float('inf'):
            fail(f"{base}: no +Inf bucket")
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if le2 <= le1 or c2 < c1:
                fail(f"{base}: buckets not increasing at le={le2}")
        if h['count'] != b[-1][1]:
            fail(f"{base}: _count {h['count']} != +Inf bucket {b[-1][1]}")
    for want in sys.argv[1:]:
        if want not in types:
            fail(f"missing metric {want}")
    print(f"ok {n} samples, {len(types)} metrics, {len(hist)} histograms")


main()
