/* SPDX-License-Identifier: MIT */
/*
 * sock.h: the posix backend of the conn API. The same lcore loop as the DPDK backend, over
 * kernel sockets: each lcore thread owns one struct sock_net (an epoll instance, its listeners
 * and connections, a buffer pool) and calls sock_net_poll() once per loop turn. Nothing in here
 * starts a thread, sleeps (other than inside epoll_wait for the timeout the caller gives) or
 * reads the clock: the caller passes now_us.
 *
 * Semantics beyond conn.h:
 *  - Passive opens: accept() is called first; on_connected() follows immediately after it
 *    returned 0 (a passive conn is ready for data at once).
 *  - conn_send() queues into the conn's send block; queued bytes go to the kernel at the end of
 *    the current/next sock_net_poll() turn, so replies produced in one turn leave in one send.
 *    conn_flush() moves that earlier, to the next flush point: the end of the current poll turn
 *    (from a callback), else the start of the next sock_net_poll() or sock_net_wait() (before
 *    it blocks). The queues written at one flush point go to the kernel together: one io_uring
 *    submission when there are batch_min or more, one send(2) each otherwise.
 *  - Callbacks run only from inside sock_net_poll() (never from inside a conn_* call), except
 *    on_closed() from conn_abort(), which conn.h requires to be synchronous.
 *  - A graceful close drains the send queue, sends FIN, reports on_closed(LOCAL), then keeps
 *    reading and discarding the peer's input for up to linger_ms so that unread input never
 *    turns the FIN into an RST.
 *  - conn_abort() sets SO_LINGER 0 so the kernel sends RST.
 *  - Errors map from errno: ECONNREFUSED -> REFUSED, ETIMEDOUT -> TIMEOUT, ECONNRESET/EPIPE ->
 *    RESET, EHOSTUNREACH/ENETUNREACH -> UNREACHABLE, pool exhaustion -> NOMEM.
 */
#ifndef DPMAIL_SOCK_H
#define DPMAIL_SOCK_H

#include <stdint.h>

#include "conn/conn.h"
#include "sock/sock-t.h"

/* Fills t with the defaults (documented in docs/sock.md). */
void sock_tunables_defaults(struct sock_tunables *t);

/*
 * Creates the backend instance of one lcore thread. t may be NULL (defaults); it is copied.
 * Returns NULL with *err = -errno on failure. The caller owns the result (sock_net_free).
 */
struct sock_net *sock_net_create(const struct sock_tunables *t, int *err);

/*
 * Closes every listener and aborts every connection (on_closed(LOCAL) for each one whose
 * upper layer has not been told yet), then frees n. Not to be called from a callback.
 */
void sock_net_free(struct sock_net *n);

/* The conn_net view of n, for layers that open connections without knowing the backend. */
struct conn_net sock_net_conn_net(struct sock_net *n);

/*
 * Listens on addr (family AF_INET or AF_INET6; ip 0 = every address; port 0 = an ephemeral
 * port). Each accepted conn goes to accept(ctx, c) (see conn_accept_fn). Returns the bound
 * port (host byte order, > 0) or -errno.
 */
int sock_net_listen_addr(struct sock_net *n, const struct conn_addr *addr, conn_accept_fn accept,
			 void *ctx);

/* conn_net_ops.connect for this backend (see conn-t.h). */
struct conn *sock_net_connect(struct sock_net *n, const struct conn_addr *dst,
			      const struct conn_addr *src, const struct conn_handler *h, void *ctx,
			      int *err);

/*
 * One loop turn: writes the queues conn_flush() asked for since the last turn, runs deferred
 * work (resumed reads, deferred closes), waits at most timeout_ms (0 = do not wait; shortened
 * to the next internal deadline and to 0 when work is pending; with 0, skipped in the turn
 * right after one that handled events, whose answers the next poll or wait collects) for
 * socket events, dispatches them, fires connect/linger deadlines against now_us, and writes
 * out every send queue filled during the turn. Returns the number of socket events handled
 * (>= 0) or -errno if epoll_wait failed (EINTR is reported as 0).
 */
int sock_net_poll(struct sock_net *n, uint64_t now_us, int timeout_ms);

/*
 * Writes the queues conn_flush() asked for, then blocks until a socket of n is ready or max_us
 * passed (epoll_pwait2, microsecond timeout), for the loop's idle turns: the events found are
 * kept and handled by the next sock_net_poll() without another epoll_wait. Runs no callbacks
 * (what follows a write is deferred to the next poll, and the wait then does not block).
 * Returns the number of events kept (>= 0).
 */
int sock_net_wait(struct sock_net *n, uint32_t max_us);

/*
 * Adds fd to n's epoll set (edge-triggered EPOLLIN) only to end sock_net_wait() when it
 * becomes readable, e.g. an io_uring whose completions the caller reaps in its own poll.
 * Nothing is read from fd; the caller keeps ownership and must not close it before n is freed.
 * Returns 0 or -errno.
 */
int sock_net_watch_wakeup(struct sock_net *n, int fd);

/* A copy of n's counters. */
struct sock_stats sock_net_stats(const struct sock_net *n);

/* Raw descriptor of c (a conn created by this backend), for setsockopt-level tuning in tests
 * and tools; the backend keeps ownership. */
int sock_conn_fd(const struct conn *c);

#endif
