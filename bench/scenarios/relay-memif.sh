#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel-free comparison in one run, back to back: the four relay scenarios (plain-relay,
# tls-both, tls-dkim-rsa, tls-dkim-ed25519) on dpmaild-memif (DPDK backend on net_memif, load
# and sink in one dpmail-bench process on the peer end), dpmaild-posix and Postfix; then
# dpmaild-memif again for each VARIANTS entry (default: the memif link with MTU 1500, and with
# TCP checksums on both ends: TRUSTED_LINK=false; the base link is MTU 9000 without checksums,
# like the kernel's loopback). `openssl speed rsa2048 ed25519` and the
# load average are recorded at the start and the end, and `openssl speed` (1 s) right before and after
# each DKIM scenario's targets: the table's signatures/msg divides each pass's SUT CPU per message
# by the mean of those two. Results under OUT_ROOT (default
# /tmp/dpmail-bench-results/relay-memif/rep<pass>/<scenario>[/<variant>]/), one table at the
# end. Knobs: TARGETS, VARIANTS, SESSIONS (16), COUNT (4000), SIZE, POSTFIX_PASSES (1), REPEAT (passes: the
# machine is shared and one pass moves by ±30%, so the table gives medians and ranges, and the
# memif/posix ratio is the median of per-pass ratios); root (DPDK runtime dirs).
cd "$(dirname "$0")"
B=${B:-$(cd ../.. && pwd)/build/dpmail-bench}
OUT_ROOT=${OUT_ROOT:-/tmp/dpmail-bench-results/relay-memif}
export SESSIONS=${SESSIONS:-16} COUNT=${COUNT:-4000}
export SC_PREFIX=${SC_PREFIX:-bmem-sc$$}   # DPDK --file-prefix of every dpmaild target here
TARGETS=${TARGETS:-"dpmaild-memif dpmaild-posix postfix"}
VARIANTS=${VARIANTS-"MEMIF_MTU=1500 TRUSTED_LINK=false"}
SCENARIOS=${SCENARIOS:-"plain-relay tls-both tls-dkim-rsa tls-dkim-ed25519"}
REPEAT=${REPEAT:-1}   # passes; the dpmaild targets run in each
POSTFIX_PASSES=${POSTFIX_PASSES:-1}   # Postfix runs in the first POSTFIX_PASSES passes (its median is the base)
mkdir -p "$OUT_ROOT"
# speed SECONDS: one RSA-2048 and one Ed25519 line of `openssl speed` (signs/s is the
# second-last field)
speed() { openssl speed -seconds "$1" rsa2048 ed25519 2>/dev/null | grep -E 'rsa 2048 bits|Ed25519\)'; }
stamp() {
  echo "$(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  speed 2
}
stamp | tee "$OUT_ROOT/start.txt"
rc=0
for rep in $(seq 1 "$REPEAT"); do
  targets=$TARGETS
  [ "$rep" -gt "$POSTFIX_PASSES" ] && targets=$(echo "$TARGETS" | tr ' ' '\n' | grep -v '^postfix$' | tr '\n' ' ')
  for s in $SCENARIOS; do
    echo "######## pass $rep: $s ($targets)"
    # the signature's cost right before and after this scenario's targets: the host's speed
    # drifts during a run (seen: RSA-2048 0.25-0.36 ms within ten minutes), so the
    # signatures-per-message ratio uses the openssl speed measured next to the runs it divides
    mkdir -p "$OUT_ROOT/rep$rep/$s"
    case $s in *dkim*) speed 1 >"$OUT_ROOT/rep$rep/$s/speed-before.txt" ;; esac
    OUT=$OUT_ROOT/rep$rep/$s TARGETS=$targets bash "./$s.sh" || rc=1
    case $s in *dkim*) speed 1 >"$OUT_ROOT/rep$rep/$s/speed-after.txt" ;; esac
    for v in $VARIANTS; do
      echo "######## pass $rep: $s, dpmaild-memif with $v"
      env "$v" OUT="$OUT_ROOT/rep$rep/$s/${v%%=*}" TARGETS=dpmaild-memif bash "./$s.sh" || rc=1
    done
  done
done
stamp | tee "$OUT_ROOT/end.txt"
rm -rf "/var/run/dpdk/$SC_PREFIX" "/var/run/dpdk/$SC_PREFIX"-*   # the runs' DPDK runtime dirs
# one table: per scenario and target, the median over the passes (and the range) of the SUT's
# gross CPU per message, the median net, and messages per CPU-second against dpmaild-posix
# (median of the per-pass ratios: each pass ran both back to back) and against Postfix (gross)
python3 - "$OUT_ROOT" $SCENARIOS <<'EOP' | tee "$OUT_ROOT/summary.md"
import glob, json, statistics as st, sys
root, scen = sys.argv[1], sys.argv[2:]
med = st.median
def sig_ms(rep_dir, scen):
    # one signature's cost, ms: the mean of openssl speed's signs/s before and after the
    # scenario's targets in that pass (None when not a DKIM scenario or not recorded)
    alg = "rsa 2048 bits" if "rsa" in scen else "Ed25519)" if "ed25519" in scen else None
    vals = []
    for f in ("speed-before.txt", "speed-after.txt"):
        try:
            for line in open(f"{rep_dir}/{scen}/{f}"):
                if alg and alg in line:
                    vals.append(1000.0 / float(line.split()[-2]))
        except OSError:
            pass
    return sum(vals) / len(vals) if vals else None
print("| scenario | target | passes | msgs/s | e2e/s | eod p50 / p99 ms | SUT CPU ms/msg gross (range) / net | msgs/CPU-s | vs posix (range) | vs Postfix | signatures/msg (range) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in scen:
    runs = {}  # label -> {pass: json}
    for f in sorted(glob.glob(f"{root}/rep*/{s}/*.json") + glob.glob(f"{root}/rep*/{s}/*/*.json")):
        d = json.load(open(f))
        if d.get("mode") != "load" or "sut" not in d or not d["sut"]["cpu_s_per_1000_msgs"]:
            continue
        rep = f[len(root) + 1:].split("/")[0]
        runs.setdefault(d["label"], {})[rep] = d
    g = lambda d: d["sut"]["cpu_s_per_1000_msgs"]
    posix = runs.get("dpmaild-posix", {})
    pfx = next((v for l, v in runs.items() if l.startswith("postfix")), {})
    pfx_g = med([g(d) for d in pfx.values()]) if pfx else None
    for l in sorted(runs, key=lambda l: (not l.startswith("postfix"), l)):
        ds = runs[l]; gs = [g(d) for d in ds.values()]; gm = med(gs)
        nets = [d["sut"]["net_cpu_s_per_1000_msgs"] for d in ds.values() if "net_cpu_s_per_1000_msgs" in d["sut"]]
        net = f" / {med(nets):.3f}" if nets else ""
        rng = f" ({min(gs):.3f}-{max(gs):.3f})" if len(gs) > 1 else ""
        pr = [g(posix[r]) / g(d) for r, d in ds.items() if r in posix]
        vp = (f"{med(pr):.2f}x" + (f" ({min(pr):.2f}-{max(pr):.2f})" if len(pr) > 1 else "")) if pr and l != "dpmaild-posix" else "-"
        vf = f"{pfx_g / gm:.1f}x" if pfx_g else "-"
        rate = med([d["msgs_per_s"] for d in ds.values()])
        e2e = med([d.get("relay", {}).get("msgs_per_s", 0) for d in ds.values()])
        p50 = med([d["latency_us"]["eod"]["p50"] for d in ds.values()]) / 1e3
        p99 = med([d["latency_us"]["eod"]["p99"] for d in ds.values()]) / 1e3
        # per pass: SUT CPU per message over the signature measured next to it
        sr = [g(d) / sm for r, d in ds.items() if (sm := sig_ms(f"{root}/{r}", s))]
        vs = (f"{med(sr):.2f}" + (f" ({min(sr):.2f}-{max(sr):.2f})" if len(sr) > 1 else "")) if sr else "-"
        print(f"| {s} | {l} | {len(gs)} | {rate:,.0f} | {e2e:,.0f} | {p50:.1f} / {p99:.1f} | {gm:.3f}{rng}{net} "
              f"| {1000 / gm:,.0f} | {vp} | {vf} | {vs} |")
EOP
exit $rc
