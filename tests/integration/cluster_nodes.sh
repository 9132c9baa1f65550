#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cluster control plane against a real redis-server on 127.0.0.1 (a free port in 13300-13309, started and stopped
# by the tool, by PID): three in-process nodes share one destination's budget (rate within
# 10%, connections exact), suspensions propagate within a second, a dead node's share and an
# idle node's lease return, Redis down -> fallback budget, Redis back -> leases and pending
# suspensions recover. See tests/tools/cluster_nodes.c.
source "$(dirname "$0")/../lib/testlib.sh"
TOOL=$BUILD/tests/tools/cluster_nodes
[ -x "$TOOL" ] || t_skip "tests-build first"
command -v redis-server >/dev/null || t_skip "redis-server not installed"
trap t_cleanup EXIT
# a free port in 13300-13309 (copies of this test in other worktrees may run at once)
PORT=
for p in $(shuf -i 13300-13309); do
  (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { PORT=$p; break; }
done
[ -n "$PORT" ] || t_skip "no free port in 13300-13309"
out=$("$TOOL" "$PORT" 2>/dev/null); rc=$?
echo "$out"
grep -q '^FAIL' <<<"$out" && T_FAILS=$((T_FAILS + 1))
[ $rc -eq 0 ] || t_fail "cluster_nodes exit status $rc"
t_done
