/* SPDX-License-Identifier: MIT */
/* tls_mpipe.c: the in-memory conn pair of tls_mpipe.h (tests and benchmarks of crypto/tls). */
#include "tls_mpipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MC(c) ((struct tls_mconn *)(c))

static ssize_t mc_send(struct conn *c, const void *buf, size_t len)
{
	struct tls_mconn *m = MC(c), *p = m->peer;
	size_t room, n;
	if (m->closing || m->closed || m->shut)
		return -ENOTCONN;
	if (m->reset_in)
		return -EPIPE;
	if (p->closed || p->closing)
		return (ssize_t)len;      /* peer gone: the bytes vanish, as after a FIN */
	room = p->limit > p->rx_len ? p->limit - p->rx_len : 0;
	n = len < room ? len : room;
	if (p->rx_len + n > p->rx_cap) {
		size_t cap = p->rx_cap ? p->rx_cap : 65536;
		while (cap < p->rx_len + n)
			cap *= 2;
		uint8_t *nb = realloc(p->rx, cap);
		if (!nb)
			return -ENOMEM;
		p->rx = nb;
		p->rx_cap = cap;
	}
	memcpy(p->rx + p->rx_len, buf, n);
	p->rx_len += n;
	m->bytes_sent += n;
	if (n < len)
		m->want_sendable = true;
	return (ssize_t)n;
}

static size_t mc_send_space(const struct conn *c)
{
	const struct tls_mconn *m = MC(c), *p = m->peer;
	if (m->closing || m->closed || m->shut)
		return 0;
	return p->limit > p->rx_len ? p->limit - p->rx_len : 0;
}

static void mc_resume_read(struct conn *c)
{
	MC(c)->paused = false;
}

static void mc_shutdown(struct conn *c)
{
	struct tls_mconn *m = MC(c);
	if (m->shut)
		return;
	m->shut = true;
	m->peer->fin_in = true;
}

static void mc_close(struct conn *c)
{
	struct tls_mconn *m = MC(c);
	if (m->closing || m->closed)
		return;
	mc_shutdown(c);
	m->closing = true;
}

static void mc_abort(struct conn *c)
{
	struct tls_mconn *m = MC(c);
	if (m->closed)
		return;
	m->closed = true;
	m->rx_len = 0;
	if (!m->peer->closed)
		m->peer->reset_in = true;
	m->conn.handler->on_closed(m->conn.handler_ctx, &m->conn, CONN_CLOSED_LOCAL);
}

static const struct conn_ops mc_ops = {
	.name = "mpipe",
	.send = mc_send,
	.send_space = mc_send_space,
	.resume_read = mc_resume_read,
	.shutdown = mc_shutdown,
	.close = mc_close,
	.abort = mc_abort,
};

static void side_init(struct tls_mconn *m, struct tls_mconn *peer, size_t limit,
		      const struct conn_handler *h, void *ctx, uint64_t id)
{
	memset(m, 0, sizeof(*m));
	m->conn.ops = &mc_ops;
	m->conn.handler = h;
	m->conn.handler_ctx = ctx;
	m->conn.id = id;
	m->peer = peer;
	m->limit = limit;
}

void tls_mpipe_init(struct tls_mpipe *p, size_t limit, const struct conn_handler *ha, void *ca,
		    const struct conn_handler *hb, void *cb)
{
	side_init(&p->a, &p->b, limit, ha, ca, 1);
	side_init(&p->b, &p->a, limit, hb, cb, 2);
}

void tls_mpipe_fini(struct tls_mpipe *p)
{
	free(p->a.rx);
	free(p->b.rx);
	p->a.rx = p->b.rx = NULL;
}

static void closed(struct tls_mconn *m, enum conn_close_reason why)
{
	m->closed = true;
	m->rx_len = 0;
	m->conn.handler->on_closed(m->conn.handler_ctx, &m->conn, why);
}

int tls_mpipe_poll_side(struct tls_mconn *m)
{
	int calls = 0;
	if (m->closed)
		return 0;
	if (m->reset_in) {
		closed(m, CONN_CLOSED_RESET);
		return 1;
	}
	if (m->closing) {
		/* our FIN is out; the peer's side finishes on its own */
		closed(m, CONN_CLOSED_LOCAL);
		return 1;
	}
	if (m->rx_len > 0 && !m->paused) {
		size_t len = m->rx_len;
		size_t used = m->conn.handler->on_data(m->conn.handler_ctx, &m->conn, m->rx, len);
		calls++;
		if (m->closed)
			return calls;
		if (used > len)
			used = len;
		memmove(m->rx, m->rx + used, m->rx_len - used);
		m->rx_len -= used;
		if (used < len)
			m->paused = true;
	}
	if (m->closed || m->closing)
		return calls;
	if (m->fin_in && m->rx_len == 0 && !m->eof_told) {
		m->eof_told = true;
		if (m->conn.handler->on_eof)
			m->conn.handler->on_eof(m->conn.handler_ctx, &m->conn);
		calls++;
	}
	if (!m->closed && m->want_sendable && mc_send_space(&m->conn) > 0) {
		m->want_sendable = false;
		if (m->conn.handler->on_sendable)
			m->conn.handler->on_sendable(m->conn.handler_ctx, &m->conn);
		calls++;
	}
	return calls;
}

int tls_mpipe_poll(struct tls_mpipe *p)
{
	return tls_mpipe_poll_side(&p->a) + tls_mpipe_poll_side(&p->b);
}
