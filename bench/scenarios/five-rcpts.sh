#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Five recipients per message (one envelope, five RCPT TO): the relay fans out per destination.
source "$(dirname "$0")/lib.sh"
SC_NAME=five-rcpts RCPTS=5
sc_matrix
