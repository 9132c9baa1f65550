#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inbound only, the part of the relay dpmaild runs today: STARTTLS in, DKIM signing (RSA-2048 by
# default; DKIM=ed25519 or none), durable storage, 250. Targets: postfix (+ OpenDKIM), its
# delivery held so only the same job is measured, dpmaild on the posix backend, and (when
# TARGETS_INBOUND names it) dpmaild-memif: the DPDK backend on net_memif. CPU is also
# reported net of the SUT's idle CPU (dpmaild's lcore loop polls).
DKIM=${DKIM:-rsa}   # before lib.sh, whose default is none
source "$(dirname "$0")/lib.sh"
SC_NAME=inbound-tls-dkim-$DKIM
TLS_IN=1
TARGETS=${TARGETS_INBOUND:-"postfix dpmaild-posix"}
sc_inbound_matrix
