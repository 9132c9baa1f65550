/* SPDX-License-Identifier: MIT */
/*
 * bench_cnet.c: the conn-API transport of dpmail-bench's load generator and sink, so that both
 * can run on our own TCP stack on a DPDK port (net_memif to a dpmaild: a relay path with no
 * kernel networking at all) or on the posix sock backend, with crypto/tls for STARTTLS.
 *
 * The SMTP state machines (bench_load_sess.c, bench_sink.c + bench_smtpd.c) were written for
 * a pull model: an epoll event says "readable/writable", they call bench_conn_read/flush. The
 * conn API pushes: on_data hands over bytes, on_sendable says there is room. This file bridges
 * the two without touching the state machines: on_data copies what fits into the bench_conn's
 * rbuf and calls the owner's on_event(EPOLLIN), again while the owner makes room; what does
 * not fit stays in the transport (whose window closes: backpressure); bench_conn_read then
 * only reports what happened (-EAGAIN, EOF, error) and resumes a stalled transport once rbuf
 * has room; bench_conn_flush hands the queued
 * segments to conn_send and reports a short send as "would block" (on_sendable follows).
 * One copy of received bytes into rbuf is the price; message bodies are sent with conn_send
 * (one copy into the transport's send buffer, as a kernel send() makes).
 *
 * Re-entrancy: an owner may close or start TLS from inside on_event; callbacks of one conn
 * arriving while its on_event runs are deferred until it returns, and a released bench_conn
 * detaches its conn first (a no-op handler), so no callback ever reaches a freed session.
 */
#include "bench.h"
#include "bench_cnet.h"
#include "bench_tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <netinet/in.h>

#include "conn/conn.h"
#include "tls/tls.h"

#define CN_HANDSHAKE_US (30u * 1000000u)

struct bench_cnet {
	struct bench_tcp_io io;
	struct tls_core *tls;
	struct tls_client_ctx *cc;
	struct tls_server_ctx *sc;
	uint64_t now;                 /* time of the current loop turn (callbacks' now) */
	int (*accept)(void *ctx, struct conn *cn);
	void *accept_ctx;
};

/* ---- callbacks from the transport ---------------------------------------------------------- */

/* Calls the owner; events arriving meanwhile (from inside its own calls) run after it. */
static void cn_dispatch(struct bench_conn *c, uint32_t events)
{
	if (c->cn_busy) {
		c->cn_pending |= events;
		return;
	}
	struct bench_cnet *n = c->cnet;
	c->cn_busy = true;
	while (events && c->cnet) {
		c->cn_pending = 0;
		c->on_event(c->owner, events, n->now);
		events = c->cnet ? c->cn_pending : 0; /* released: memset, nothing more to say */
	}
	if (c->cnet)
		c->cn_busy = false;
}

static void cn_on_connected(void *ctx, struct conn *cn)
{
	struct bench_conn *c = ctx;
	(void)cn;
	bool was = c->cn_up;
	c->cn_up = true;
	if (c->cn && tls_conn_is_tls(c->cn))
		c->tls_done = true;
	if (!was)
		cn_dispatch(c, EPOLLOUT);
}

/*
 * Takes what fits into rbuf and lets the owner parse it, as long as the owner makes room: a
 * stall (returning less than len) is left only when rbuf stayed full, i.e. the owner stopped
 * reading (a parked sink session). The transport pauses the conn after such a return, so
 * conn_resume_read must come later, from bench_conn_read outside this call (cn_in_data).
 */
static size_t cn_on_data(void *ctx, struct conn *cn, const uint8_t *data, size_t len)
{
	struct bench_conn *c = ctx;
	(void)cn;
	size_t off = 0;
	c->cn_in_data = true;
	for (;;) {
		size_t room = c->rcap - c->rlen;
		size_t n = len - off < room ? len - off : room;
		memcpy(c->rbuf + c->rlen, data + off, n);
		c->rlen += n;
		c->bytes_in += n;
		off += n;
		c->cn_stalled = off < len;
		cn_dispatch(c, EPOLLIN);
		if (!c->cnet)
			return len; /* released from inside: the rest is dropped with the conn */
		if (off == len || c->rlen == c->rcap)
			break;
	}
	c->cn_in_data = false;
	return off;
}

static void cn_on_eof(void *ctx, struct conn *cn)
{
	struct bench_conn *c = ctx;
	(void)cn;
	c->cn_eof = true;
	cn_dispatch(c, EPOLLIN);
}

static void cn_on_sendable(void *ctx, struct conn *cn)
{
	struct bench_conn *c = ctx;
	(void)cn;
	if (c->want_write)
		cn_dispatch(c, EPOLLOUT);
}

static void cn_on_closed(void *ctx, struct conn *cn, enum conn_close_reason why)
{
	struct bench_conn *c = ctx;
	(void)cn;
	c->cn = NULL;
	c->cn_closed = true;
	c->cn_error = why != CONN_CLOSED_PEER && why != CONN_CLOSED_LOCAL;
	cn_dispatch(c, EPOLLIN | EPOLLOUT);
}

static const struct conn_handler cn_handler = {
	.on_connected = cn_on_connected, .on_data = cn_on_data, .on_eof = cn_on_eof,
	.on_sendable = cn_on_sendable, .on_closed = cn_on_closed,
};

/* A conn nobody owns any more (released, or refused at accept): input is dropped. */
static size_t detached_on_data(void *ctx, struct conn *cn, const uint8_t *data, size_t len)
{
	(void)ctx, (void)cn, (void)data;
	return len;
}

static void detached_on_closed(void *ctx, struct conn *cn, enum conn_close_reason why)
{
	(void)ctx, (void)cn, (void)why;
}

static const struct conn_handler detached_handler = {
	.on_data = detached_on_data, .on_closed = detached_on_closed,
};

/* ---- the bench_conn calls over a conn ------------------------------------------------------ */

/* The caller parsed what rbuf holds before calling this (as after a read(2)). */
ssize_t bench_cn_read(struct bench_conn *c)
{
	if (c->cn_closed)
		return c->cn_error ? -1 : 0;
	if (c->cn_stalled) {
		if (c->rlen < c->rcap && !c->cn_in_data) {
			c->cn_stalled = false;
			conn_resume_read(c->cn); /* on_data follows from the next poll */
		}
		return -EAGAIN; /* inside on_data, which goes on copying once there is room */
	}
	return c->cn_eof ? 0 : -EAGAIN;
}

int bench_cn_flush_ready(struct bench_conn *c)
{
	if (c->cn_closed || !c->cn)
		return -1;
	if (!c->cn_up) { /* connecting or in the TLS handshake: on_event(EPOLLOUT) follows */
		c->want_write = c->wlen > c->woff || c->ext_len || c->tail_len;
		return c->want_write ? 0 : 1;
	}
	return 1;
}

ssize_t bench_cn_write(struct bench_conn *c, const void *p, size_t len)
{
	ssize_t w = conn_send(c->cn, p, len);
	return w < 0 ? -1 : w; /* 0: full, on_sendable follows */
}

void bench_cn_push(struct bench_conn *c)
{
	conn_flush(c->cn);
}

/*
 * STARTTLS: the tls conn takes the transport conn's handler slot and replaces it for us. The
 * owner has checked that no byte followed the 220 (client) or dropped what did (server).
 */
int bench_cn_start_tls(struct bench_conn *c, bool server)
{
	struct bench_cnet *n = c->cnet;
	if (!c->cn || (server ? !n->sc : !n->cc))
		return -1;
	struct tls_conn_opts o = {
		.now = n->now, .handshake_timeout = CN_HANDSHAKE_US,
		.session_key = "", /* no SNI, no session reuse: as the kernel path's OpenSSL client */
	};
	int err = 0;
	struct conn *t = server ? tls_conn_server_new(n->tls, c->cn, n->sc, &cn_handler, c, &o, &err)
				: tls_conn_client_new(n->tls, c->cn, n->cc, &cn_handler, c, &o, &err);
	if (!t)
		return -1;
	c->cn = t;
	c->cn_up = false;
	c->tls_done = false;
	c->rlen = 0;
	return 0;
}

int bench_cn_handshake(struct bench_conn *c)
{
	if (c->cn_closed)
		return -1;
	if (c->tls_done)
		return 1;
	c->want_write = false;
	return 0;
}

void bench_cn_release(struct bench_conn *c)
{
	if (c->cn && !c->cn_closed) {
		struct conn *cn = c->cn;
		c->cn = NULL;
		conn_set_handler(cn, &detached_handler, NULL);
		conn_close(cn);
	}
	c->cnet = NULL;
	c->cn_busy = false;
}

static int cn_init(struct bench_conn *c, struct bench_cnet *n, size_t rcap, size_t wcap,
		   bench_conn_event_fn on_event, void *owner)
{
	if (bench_conn_init(c, -1, rcap, wcap) < 0)
		return -1;
	c->cnet = n;
	c->on_event = on_event;
	c->owner = owner;
	return 0;
}

int bench_conn_attach(struct bench_conn *c, struct bench_cnet *n, struct conn *cn, size_t rcap,
		      size_t wcap, bench_conn_event_fn on_event, void *owner)
{
	if (cn_init(c, n, rcap, wcap, on_event, owner) < 0) {
		bench_cnet_refuse(cn, "421 4.3.0 Out of memory\r\n");
		return -1;
	}
	c->cn = cn;
	c->cn_up = true; /* a passive conn is ready for data when it is accepted */
	conn_set_handler(cn, &cn_handler, c);
	return 0;
}

int bench_conn_connect(struct bench_conn *c, struct bench_cnet *n, const struct sockaddr_storage *dst,
		       size_t rcap, size_t wcap, bench_conn_event_fn on_event, void *owner)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)dst;
	if (dst->ss_family != AF_INET)
		return -1;
	if (cn_init(c, n, rcap, wcap, on_event, owner) < 0)
		return -1;
	struct conn_addr to = { .family = AF_INET, .port = sin->sin_port, .ip.v4 = sin->sin_addr.s_addr };
	struct conn_addr from = { .family = AF_INET, .ip.v4 = n->io.laddr };
	int err = 0;
	c->cn = n->io.net->ops->connect(n->io.net->impl, &to, &from, &cn_handler, c, &err);
	if (!c->cn) {
		bench_conn_free(c);
		return -1;
	}
	return 0;
}

/* ---- the transport ------------------------------------------------------------------------- */

static int cn_accept(void *ctx, struct conn *cn)
{
	struct bench_cnet *n = ctx;
	return n->accept(n->accept_ctx, cn);
}

int bench_cnet_listen(struct bench_cnet *n, uint16_t port, int (*accept)(void *ctx, struct conn *cn),
		      void *ctx)
{
	n->accept = accept;
	n->accept_ctx = ctx;
	return n->io.net->ops->listen(n->io.net->impl, port, cn_accept, n);
}

void bench_cnet_refuse(struct conn *cn, const char *msg)
{
	conn_set_handler(cn, &detached_handler, NULL);
	if (conn_send(cn, msg, strlen(msg)) >= 0)
		conn_flush(cn);
	conn_close(cn);
}

struct bench_cnet *bench_cnet_open(const char *backend, const char *dpdk_cfg, uint32_t max_conns,
				   char *err, size_t errlen)
{
	struct bench_cnet *n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int r;
	if (strcmp(backend, "dpdk") == 0) {
		if (!dpdk_cfg) {
			snprintf(err, errlen, "--backend dpdk needs --dpdk-config FILE");
			goto err_free;
		}
		r = bench_tcp_io_dpdk(&n->io, dpdk_cfg, err, errlen);
	} else if (strcmp(backend, "sock") == 0) {
		r = bench_tcp_io_posix(&n->io, max_conns, err, errlen);
	} else {
		snprintf(err, errlen, "unknown backend %s (kernel, dpdk, sock)", backend);
		goto err_free;
	}
	if (r < 0)
		goto err_free;
	struct tls_core_cfg tc;
	tls_core_cfg_defaults(&tc);
	if (!(n->tls = tls_core_new(&tc))) {
		snprintf(err, errlen, "tls core: out of memory");
		goto err_io;
	}
	return n;
err_io:
	n->io.fini(n->io.ctx);
err_free:
	free(n);
	return NULL;
}

void bench_cnet_free(struct bench_cnet *n)
{
	if (!n)
		return;
	n->io.fini(n->io.ctx); /* aborts the transport conns, and with them the tls conns */
	if (n->tls)
		tls_core_free(n->tls);
	if (n->cc)
		tls_client_ctx_free(n->cc);
	if (n->sc)
		tls_server_ctx_free(n->sc);
	free(n);
}

int bench_cnet_tls_client(struct bench_cnet *n, char *err, size_t errlen)
{
	struct tls_client_cfg cfg;
	tls_client_cfg_defaults(&cfg);
	cfg.use_system_store = false; /* test certificates: nothing is verified */
	n->cc = tls_client_ctx_new(&cfg, err, errlen);
	return n->cc ? 0 : -1;
}

int bench_cnet_tls_server(struct bench_cnet *n, const char *cert, const char *key, char *err,
			  size_t errlen)
{
	struct tls_ctx_cfg cfg;
	tls_ctx_cfg_defaults(&cfg);
	struct tls_identity id = { .certs = { { .cert_file = cert, .key_file = key } }, .n_certs = 1 };
	n->sc = tls_server_ctx_new(&cfg, &id, 1, NULL, 0, err, errlen);
	return n->sc ? 0 : -1;
}

int bench_cnet_poll(struct bench_cnet *n, uint64_t now, int wait_ms)
{
	n->now = now;
	if (tls_core_next_deadline(n->tls) == 0)
		wait_ms = 0; /* crypto/tls has work queued */
	int work = n->io.poll(n->io.ctx, now, wait_ms);
	tls_core_poll(n->tls, now);
	return work;
}

void bench_cnet_idle(struct bench_cnet *n)
{
	bench_tcp_io_idle(&n->io);
}

const char *bench_cnet_name(const struct bench_cnet *n)
{
	return n->io.name;
}
