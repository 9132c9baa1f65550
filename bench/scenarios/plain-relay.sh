#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plain relay: SMTP in, SMTP out, no TLS, no DKIM, 10 KiB messages, 1 recipient.
# Targets: $TARGETS (sink postfix dpmaild-posix dpmaild-dpdk). See lib.sh for the knobs.
source "$(dirname "$0")/lib.sh"
SC_NAME=plain-relay
sc_matrix
