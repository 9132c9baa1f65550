#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS on both legs: STARTTLS from the load generator to the relay and from the relay to the
# sink (the sink demands it: Postfix runs with smtp_tls_security_level = encrypt).
source "$(dirname "$0")/lib.sh"
SC_NAME=tls-both TLS_IN=1 TLS_OUT=1
sc_matrix
