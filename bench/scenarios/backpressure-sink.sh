#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A provider-like receiving side: 8% 451, 2% 421 (session closed), 20 ms per end-of-data
# reply, at most 10 concurrent connections (421 at the banner beyond). Messages deferred by the
# sink are retried by the relay (Postfix: short back-off for this run) until all arrive; the
# relay's end-to-end rate and its CPU per delivered message are what this measures.
# 5xx are left out: a relay bounces them to the sender, and the bounces would arrive at the
# same sink.
source "$(dirname "$0")/lib.sh"
SC_NAME=backpressure-sink
SINK_EXTRA=(--mix 250:90,451:8,421:2 --delay-ms 20 --max-conns 10)
POSTFIX_EXTRA="minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s"
DRAIN_S=${DRAIN_S:-600}
sc_matrix
