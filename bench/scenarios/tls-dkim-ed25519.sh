#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS on both legs + DKIM Ed25519 signing (Postfix: OpenDKIM milter, ed25519-sha256).
# The issue's goal: CPU per message at most 2.5x one Ed25519 signature (openssl speed).
source "$(dirname "$0")/lib.sh"
SC_NAME=tls-dkim-ed25519 TLS_IN=1 TLS_OUT=1 DKIM=ed25519
echo "openssl speed ed25519 (sign/s, one core): $(openssl speed -seconds 2 ed25519 2>/dev/null | awk "/Ed25519\\)/{print \$(NF-1)}" | tail -1)"
sc_matrix
