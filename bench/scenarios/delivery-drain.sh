#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Delivery alone (issue 9's benchmark): messages/s delivered per core to a fast sink over
# STARTTLS with connection reuse (at most PER_CONN, default 100, messages per connection; at most
# CONNS, default 20, connections: Postfix's default destination concurrency), next to Postfix
# doing the same job. The queue is filled first with delivery held (dpmaild: `dpmailctl suspend
# sink.test`; Postfix: the hold queue), then delivery is released and the drain is measured:
# wall time from the release to the sink's last acceptance, and the SUT's CPU over that window
# (gross, and net of its idle rate sampled just before the release). The inbound leg (plain
# SMTP, no DKIM) is not in the numbers.
# Targets: dpmaild-posix, dpmaild-dpdk (root), postfix. Knobs: COUNT (default 4000), SIZE, CONNS,
# PER_CONN, TARGETS.
source "$(dirname "$0")/lib.sh"
SC_NAME=delivery-drain
TLS_IN=0 TLS_OUT=1 DKIM=none
COUNT=${COUNT:-4000}
CONNS=${CONNS:-20}
PER_CONN=${PER_CONN:-100}
TARGETS=${TARGETS:-"postfix dpmaild-posix dpmaild-dpdk"}

# cpu_of PID: CPU seconds (user+system, children included) of the process tree rooted at PID.
cpu_of() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}; st = {}
tck = os.sysconf("SC_CLK_TCK")
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open("/proc/%s/stat" % p).read()
    except OSError:
        continue
    r = f[f.rindex(")") + 2:].split()
    kids.setdefault(int(r[1]), []).append(int(p))
    st[int(p)] = sum(int(x) for x in r[11:15])
tot, todo = 0, [root]
while todo:
    p = todo.pop()
    tot += st.get(p, 0)
    todo += kids.get(p, [])
print("%.3f" % (tot / tck))
PY
}
mono() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
sink_last() { python3 -c "import json; print(json.load(open('$SC_TMP/sink.json'))['last_accept_mono_us'] / 1e6)"; }

# drain LABEL SUT_PID RELEASE_CMD...: fill is done; measure the drain after RELEASE_CMD.
drain() {
  local label=$1 pid=$2; shift 2
  local c0 c1 c2 t0 t1 base
  base=$(sc_sink_count)
  c0=$(cpu_of "$pid"); sleep 2; c1=$(cpu_of "$pid")
  t0=$(mono)
  "$@" >/dev/null || { echo "release failed: $*" >&2; return 1; }
  sc_sink_wait $(( base + COUNT )) "${DRAIN_S:-300}" || echo "drain: sink has $(sc_sink_count) of $(( base + COUNT ))"
  c2=$(cpu_of "$pid"); t1=$(sink_last)
  python3 - "$label" "$COUNT" "$c0" "$c1" "$c2" "$t0" "$t1" "$OUT/$label-drain.json" <<'PY'
import json, sys
label, n, c0, c1, c2, t0, t1, out = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:8]), sys.argv[8]
wall = max(t1 - t0, 1e-6); idle = (c1 - c0) / 2.0; cpu = c2 - c1
r = {"label": label, "mode": "drain", "messages": n, "wall_s": round(wall, 3),
     "msgs_per_s": round(n / wall, 1), "sut_cpu_s": round(cpu, 3), "sut_idle_cpu_per_s": round(idle, 4),
     "cpu_ms_per_msg": round(cpu * 1000 / n, 4),
     "net_cpu_ms_per_msg": round(max(cpu - idle * wall, 0) * 1000 / n, 4),
     "msgs_per_cpu_s": round(n / cpu, 1) if cpu > 0 else None}
json.dump(r, open(out, "w"), indent=1)
print("%-16s drain %d msgs in %.2f s = %.0f msgs/s; SUT %.2f CPU-s = %.3f ms/msg (net of idle %.3f) = %s msgs/CPU-s"
      % (label, n, wall, r["msgs_per_s"], cpu, r["cpu_ms_per_msg"], r["net_cpu_ms_per_msg"], r["msgs_per_cpu_s"]))
PY
}

fill() {   # fill LABEL: COUNT plain messages into the relay, 16 sessions
  sc_load "$1-fill" 16 --count "$COUNT" --size "$SIZE" --messages-per-session 100 --pipelining \
    >"$SC_TMP/fill.out" 2>&1 || { cat "$SC_TMP/fill.out" >&2; return 1; }
  grep -q "$COUNT accepted" "$SC_TMP/fill.out" || { cat "$SC_TMP/fill.out" >&2; return 1; }
}

sc_need
sc_out "$SC_NAME"
sc_cert
rm -f "$OUT"/*.json
sc_machine | tee "$OUT/machine.txt"
echo "scenario $SC_NAME: STARTTLS to the sink, size=$SIZE count=$COUNT conns<=$CONNS per_conn<=$PER_CONN" | tee -a "$OUT/machine.txt"
sargs=(--starttls --cert "$SC_TMP/cert.pem" --key "$SC_TMP/key.pem")
for t in $TARGETS; do
  sc_log "$SC_NAME: $t"
  case $t in
    postfix)
      command -v postfix >/dev/null || { echo "SKIP postfix: not installed"; continue; }
      sc_sink "${sargs[@]}" || continue
      POSTFIX_OUT_CONC=$CONNS POSTFIX_EXTRA="smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject
smtp_connection_reuse_count_limit = $PER_CONN
${POSTFIX_EXTRA:-}" sc_postfix 0 1 0 || { sc_sink_stop; continue; }
      TARGET_PORT=$RELAY_PORT SUT_PIDS=
      if fill postfix; then
        sc_wait 60 test "$(find "$SC_POSTFIX_DIR/queue/hold" -type f | wc -l)" -ge "$COUNT"
        # release: held -> deferred, then flush the deferred queue
        drain postfix "$POSTFIX_PIDS" bash -c "postsuper -c '$SC_POSTFIX_DIR/etc' -H ALL && postqueue -c '$SC_POSTFIX_DIR/etc' -f"
      fi
      postfix -c "$SC_POSTFIX_DIR/etc" stop >/dev/null 2>&1; SC_POSTFIX_DIR=""
      sc_sink_stop ;;
    dpmaild-posix|dpmaild-dpdk)
      sc_dpmaild_delivers || { echo "SKIP $t: this dpmaild cannot relay"; continue; }
      export DPMAILD_SHAPING="{destination: sink.test, connections: $CONNS, per_connection: $PER_CONN}"
      if [ "$t" = dpmaild-dpdk ]; then
        [ "$(id -u)" = 0 ] || { echo "SKIP $t: needs root"; continue; }
        sc_dpmaild_dpdk_start relay || { echo "SKIP $t: did not start"; sc_peers_local; continue; }
        sc_sink "${sargs[@]}" || { sc_peers_local; continue; }
      else
        sc_sink "${sargs[@]}" || continue
        sc_dpmaild_start relay || { echo "SKIP $t: did not start"; sc_sink_stop; continue; }
      fi
      ctl=("$SC_ROOT/build/dpmailctl" -s "$SC_TMP/dpmaild/admin.sock")
      TARGET_PORT=$RELAY_PORT SUT_PIDS=
      if "${ctl[@]}" suspend sink.test 1h >/dev/null && fill "$t"; then
        drain "$t" "$DPMAILD_PID" "${ctl[@]}" resume sink.test
      fi
      kill -TERM "$DPMAILD_PID" 2>/dev/null; wait "$DPMAILD_PID" 2>/dev/null
      sc_sink_stop
      sc_peers_local ;;
    *) echo "SKIP $t: not a relay target" ;;
  esac
done
cat "$OUT"/*-drain.json >/dev/null 2>&1 || { echo "no results" >&2; exit 1; }
python3 - "$OUT" <<'PY' | tee "$OUT/report.txt"
import glob, json, sys
rows = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*-drain.json"))]
print("| target | messages | drain s | msgs/s | SUT CPU ms/msg (gross / net) | msgs/CPU-s |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    print("| %s | %d | %.2f | %.0f | %.3f / %.3f | %s |" % (r["label"], r["messages"], r["wall_s"], r["msgs_per_s"],
          r["cpu_ms_per_msg"], r["net_cpu_ms_per_msg"], r["msgs_per_cpu_s"]))
PY
