#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS on both legs + DKIM RSA-2048 signing (Postfix: OpenDKIM milter, relaxed/simple).
# The issue's goal: CPU per message at most 1.25x one RSA-2048 signature (openssl speed).
source "$(dirname "$0")/lib.sh"
SC_NAME=tls-dkim-rsa TLS_IN=1 TLS_OUT=1 DKIM=rsa
echo "openssl speed rsa2048 (sign/s, one core): $(openssl speed -seconds 2 rsa2048 2>/dev/null | awk "/^rsa 2048/{print \$6}")"
sc_matrix
