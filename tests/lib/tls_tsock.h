/* SPDX-License-Identifier: MIT */
/*
 * tls_tsock.h: a tiny kernel-socket implementation of struct conn for crypto/tls's test tools
 * (tests/tools/tls_smtp_*.c), until they move to the real posix backend (dataplane/sock).
 * One epoll loop, level-triggered, non-blocking sockets, on_data only from the loop, consumed-
 * count backpressure (EPOLLIN off while paused), a bounded send buffer with on_sendable, FIN as
 * on_eof, close after the send buffer drained. Test code only: no pools, no timers.
 */
#ifndef DPMAIL_TLS_TSOCK_H
#define DPMAIL_TLS_TSOCK_H

#include <stdint.h>

#include "conn/conn.h"

struct tls_tsock_loop;

struct tls_tsock_loop *tls_tsock_loop_new(void);
void tls_tsock_loop_free(struct tls_tsock_loop *l);
/* Listens on 127.0.0.1:port; accept() must set a handler (conn_set_handler). */
int tls_tsock_listen(struct tls_tsock_loop *l, uint16_t port, conn_accept_fn accept, void *ctx);
/* Connects (blocking) to 127.0.0.1:port and returns the conn; NULL on failure. */
struct conn *tls_tsock_connect(struct tls_tsock_loop *l, uint16_t port,
			       const struct conn_handler *h, void *ctx);
/* One loop turn: waits up to timeout_ms for events, then runs callbacks. */
void tls_tsock_loop_run(struct tls_tsock_loop *l, int timeout_ms);
/* Number of live conns. */
unsigned tls_tsock_loop_conns(const struct tls_tsock_loop *l);
/* Microseconds, CLOCK_MONOTONIC (the tools' "now"). */
uint64_t tls_tsock_now(void);

#endif
