#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The TCP interop test at the issue's full sizes: 100 MiB each way clean, 20 MiB under 1% and
# 5% loss and with the kernel's SACK/timestamps/window scaling off, 2,000 connections held
# open at once (every RST checked, as in make test). Separate namespaces from `make test`, so both can run side by side.
cd "$(dirname "$0")/../.."
TCP_NS=tcpso$$ TCP_CL=tcpsc$$ TCP_MB=${TCP_MB:-100} TCP_LOSS_MB=${TCP_LOSS_MB:-20} \
  TCP_CONNS=${TCP_CONNS:-2000} exec bash tests/integration/tcp_interop.sh
