/* SPDX-License-Identifier: MIT */
/*
 * conn.h: the transport API that everything above TCP uses. One interface, several
 * implementations stacked or swapped underneath:
 *
 *   smtp session  --uses-->  struct conn  <--implemented by--  net/tcp (DPDK, our stack)
 *                                                              sock/   (posix, epoll)
 *                                                              tls/    (a conn over a conn)
 *
 * A connection belongs to exactly one lcore for its whole life; none of these calls is
 * thread-safe and none blocks. Time is never read here: backends are driven by their lcore
 * loop, which passes "now" (microseconds, monotonic) to their poll functions.
 *
 * Ownership: the backend owns struct conn. The upper layer owns its context (handler_ctx) and
 * learns that the conn is gone only through on_closed(), after which it must not touch it.
 * conn_close()/conn_abort() may call on_closed() before they return (abort always does);
 * callers must be ready for that re-entry.
 */
#ifndef DPMAIL_CONN_H
#define DPMAIL_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn/conn-t.h"

/*
 * Set or replace the upper layer of c. TLS uses this to slide in between a transport conn and
 * the SMTP session. Safe to call from inside a callback of c.
 */
static inline void conn_set_handler(struct conn *c, const struct conn_handler *h, void *ctx)
{
	c->handler = h;
	c->handler_ctx = ctx;
}

/*
 * Queue up to len bytes for sending; copies them (the caller keeps buf).
 * Returns the number of bytes queued (0..len; less than len means the send buffer is full and
 * on_sendable() will be called when there is room), or -errno: -ENOTCONN before the connection
 * is established or after shutdown/close, -EPIPE if the peer reset it.
 */
static inline ssize_t conn_send(struct conn *c, const void *buf, size_t len)
{
	return c->ops->send(c, buf, len);
}

/* Push out what was queued now instead of waiting for more (end of a reply batch). Never fails. */
static inline void conn_flush(struct conn *c)
{
	if (c->ops->flush)
		c->ops->flush(c);
}

/* Bytes that conn_send() would accept right now. */
static inline size_t conn_send_space(const struct conn *c)
{
	return c->ops->send_space(c);
}

/*
 * Deliver data again: the upper layer returned less than offered from on_data() and is now
 * ready for more (e.g. its spool write finished). The backend calls on_data() from its next
 * poll, never from inside this call.
 */
static inline void conn_resume_read(struct conn *c)
{
	c->ops->resume_read(c);
}

/* Half-close: send FIN after the queued data; receiving continues. */
static inline void conn_shutdown(struct conn *c)
{
	c->ops->shutdown(c);
}

/* Graceful close: queued data is still sent, then FIN; on_closed(CONN_CLOSED_LOCAL) follows. */
static inline void conn_close(struct conn *c)
{
	c->ops->close(c);
}

/* Abortive close: queued data is dropped, RST is sent; on_closed(CONN_CLOSED_LOCAL) is called
 * before this returns. */
static inline void conn_abort(struct conn *c)
{
	c->ops->abort(c);
}

/* Human-readable name of a close reason, for logs and counters. */
const char *conn_close_reason_str(enum conn_close_reason r);

/* Formats "a.b.c.d:port" (or "[v6]:port") into buf; returns buf. */
const char *conn_addr_str(const struct conn_addr *a, char *buf, size_t len);

#endif
