#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every scenario in turn (same knobs: TARGETS, SESSIONS, COUNT, SIZE), then one combined
# report of all their runs. Results under /tmp/dpmail-bench-results/<scenario>/.
cd "$(dirname "$0")"
B=${B:-$(cd ../.. && pwd)/build/dpmail-bench}
rc=0
for s in plain-relay tls-both tls-dkim-rsa tls-dkim-ed25519 five-rcpts backpressure-sink idle-10k \
         inbound-tls-dkim delivery-drain; do
  echo "######## $s"
  OUT=/tmp/dpmail-bench-results/$s bash "./$s.sh" || rc=1
done
"$B" report /tmp/dpmail-bench-results/*/*.json
exit $rc
