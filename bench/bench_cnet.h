/* SPDX-License-Identifier: MIT */
/*
 * bench_cnet.h: private to bench_conn.c and bench_cnet.c: the conn-API halves of the
 * bench_conn calls (bench_conn.c dispatches to them when c->cnet is set).
 */
#ifndef DPMAIL_BENCH_CNET_H
#define DPMAIL_BENCH_CNET_H

#include "bench.h"

ssize_t bench_cn_read(struct bench_conn *c);
/* Before bench_conn_flush writes: 1 go on, 0 not yet (connecting, TLS handshake), -1 gone. */
int bench_cn_flush_ready(struct bench_conn *c);
/* conn_send: bytes taken, 0 when the send buffer is full (on_sendable follows), -1. */
ssize_t bench_cn_write(struct bench_conn *c, const void *p, size_t len);
/* conn_flush: out now, not at the end of the loop turn. */
void bench_cn_push(struct bench_conn *c);
int bench_cn_start_tls(struct bench_conn *c, bool server);
int bench_cn_handshake(struct bench_conn *c);
/* Detaches from the conn and closes it gracefully (queued data, then FIN / close_notify). */
void bench_cn_release(struct bench_conn *c);

#endif
