/* SPDX-License-Identifier: MIT */
/*
 * tcp_testsvc.c: the test-only services (see tcp_testsvc.h). Each connection gets a small
 * context from a fixed array (tcp.max_conns); the services use nothing but the conn API (and
 * conn_net to listen and connect), so they run unchanged on our stack and on the posix
 * backend, and exercise the API: backpressure through the consumed count and on_sendable,
 * half-close, and on_closed reasons. Events are logged once per connection (test only) unless
 * quiet (benchmarks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "config/cfg.h"
#include "log.h"
#include "conn/conn.h"
#include "net/tcp_testsvc.h"

enum svc_kind { SVC_ECHO = 1, SVC_DISCARD, SVC_SOURCE, SVC_CONNECT };

struct svc_conn {
	struct tcp_testsvc *s;
	struct conn *c;
	enum svc_kind kind;
	uint64_t sent, rcvd, total;
	bool stalled, closing;
	struct svc_conn *next_free;
};

struct tcp_testsvc {
	struct conn_net *net;
	uint32_t live;                 /* connections not yet closed */
	bool quiet;                    /* no per-connection log line (benchmarks) */
	uint8_t block[TCP_TESTSVC_PERIOD];
	uint64_t source_bytes;
	struct svc_conn *conns, *free_list;
	uint32_t nconns;
	struct conn_addr connect_to;
	uint32_t connect_left, connect_ok, connect_failed;
	bool connect_reported;
};

void tcp_testsvc_pattern(uint8_t block[TCP_TESTSVC_PERIOD])
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (uint32_t i = 0; i < TCP_TESTSVC_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		block[i] = (uint8_t)(x >> 56);
	}
}

bool tcp_testsvc_wanted(const struct cfg *c)
{
	return c->tcp.test_echo_port || c->tcp.test_discard_port || c->tcp.test_source_port ||
	       c->tcp.test_connect_addr.family;
}

static struct svc_conn *sc_get(struct tcp_testsvc *s, struct conn *c, enum svc_kind k)
{
	struct svc_conn *x = s->free_list;
	if (!x)
		return NULL;
	s->free_list = x->next_free;
	memset(x, 0, sizeof(*x));
	x->s = s;
	x->c = c;
	x->kind = k;
	x->total = s->source_bytes;
	s->live++;
	return x;
}

/* Sends the pattern until the buffer is full or everything went; then closes. */
static void pump(struct svc_conn *x)
{
	const uint8_t *b = x->s->block;
	while (x->c && x->sent < x->total) {
		uint64_t off = x->sent % TCP_TESTSVC_PERIOD;
		uint64_t n = TCP_TESTSVC_PERIOD - off;
		if (n > x->total - x->sent)
			n = x->total - x->sent;
		ssize_t k = conn_send(x->c, b + off, (size_t)n);
		if (k <= 0)
			return;
		x->sent += (uint64_t)k;
	}
	if (x->c && !x->closing) {
		x->closing = true;
		conn_close(x->c);
	}
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct svc_conn *x = ctx;
	if (x->kind != SVC_ECHO) {
		x->rcvd += len;
		return len;
	}
	ssize_t n = conn_send(c, d, len);
	if (n < 0)
		return len;
	x->rcvd += (uint64_t)n;
	x->sent += (uint64_t)n;
	if ((size_t)n < len)
		x->stalled = true; /* resume when the send buffer drains */
	return (size_t)n;
}

static void on_sendable(void *ctx, struct conn *c)
{
	struct svc_conn *x = ctx;
	if (x->kind == SVC_ECHO) {
		if (x->stalled) {
			x->stalled = false;
			conn_resume_read(c);
		}
	} else if (x->kind == SVC_SOURCE || x->kind == SVC_CONNECT) {
		pump(x);
	}
}

static void on_eof(void *ctx, struct conn *c)
{
	struct svc_conn *x = ctx;
	if ((x->kind == SVC_ECHO || x->kind == SVC_DISCARD) && !x->closing) {
		x->closing = true;
		conn_close(c);
	}
}

/* Active opens start sending; a passive conn of the posix backend also comes here (its
 * accept is followed by on_connected), where only the source service has work. */
static void on_connected(void *ctx, struct conn *c)
{
	struct svc_conn *x = ctx;
	if (x->kind == SVC_SOURCE || x->kind == SVC_CONNECT)
		pump(x);
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct svc_conn *x = ctx;
	struct tcp_testsvc *s = x->s;
	char a[48];
	if (!s->quiet)
		log_info("event=tcp_test_closed conn=%llu svc=%d peer=%s reason=%s sent=%llu rcvd=%llu",
		 (unsigned long long)c->id, x->kind, conn_addr_str(&c->remote, a, sizeof(a)),
		 conn_close_reason_str(why), (unsigned long long)x->sent,
		 (unsigned long long)x->rcvd);
	if (x->kind == SVC_CONNECT) {
		if (why == CONN_CLOSED_LOCAL && x->sent == x->total)
			s->connect_ok++;
		else
			s->connect_failed++;
	}
	x->c = NULL;
	x->next_free = s->free_list;
	s->free_list = x;
	s->live--;
}

static const struct conn_handler handler = {
	.on_connected = on_connected, .on_data = on_data, .on_eof = on_eof,
	.on_sendable = on_sendable, .on_closed = on_closed,
};

static int accept_kind(void *ctx, struct conn *c, enum svc_kind k)
{
	struct svc_conn *x = sc_get(ctx, c, k);
	if (!x)
		return -ENOMEM;
	conn_set_handler(c, &handler, x);
	if (k == SVC_SOURCE)
		pump(x);
	return 0;
}

static int acc_echo(void *ctx, struct conn *c) { return accept_kind(ctx, c, SVC_ECHO); }
static int acc_discard(void *ctx, struct conn *c) { return accept_kind(ctx, c, SVC_DISCARD); }
static int acc_source(void *ctx, struct conn *c) { return accept_kind(ctx, c, SVC_SOURCE); }

static int listen_on(struct tcp_testsvc *s, uint32_t port, conn_accept_fn fn)
{
	if (!port)
		return 0;
	return s->net->ops->listen(s->net->impl, (uint16_t)port, fn, s);
}

struct tcp_testsvc *tcp_testsvc_create(struct conn_net *net, const struct cfg *c, uint16_t idx,
				       int *err)
{
	const struct cfg_tcp *k = &c->tcp;
	struct tcp_testsvc *s = calloc(1, sizeof(*s));
	int e = -ENOMEM;
	if (!s)
		goto err;
	s->net = net;
	s->quiet = k->test_quiet;
	s->source_bytes = k->test_source_bytes;
	s->nconns = k->max_conns;
	s->conns = calloc(s->nconns, sizeof(*s->conns));
	if (!s->conns)
		goto err_free;
	for (uint32_t i = s->nconns; i-- > 0;) {
		s->conns[i].next_free = s->free_list;
		s->free_list = &s->conns[i];
	}
	tcp_testsvc_pattern(s->block);
	if ((e = listen_on(s, k->test_echo_port, acc_echo)) < 0 ||
	    (e = listen_on(s, k->test_discard_port, acc_discard)) < 0 ||
	    (e = listen_on(s, k->test_source_port, acc_source)) < 0)
		goto err_free;
	if (k->test_connect_addr.family && idx == 0) {
		s->connect_to.family = AF_INET;
		s->connect_to.ip.v4 = k->test_connect_addr.u.v4;
		s->connect_to.port = htons((uint16_t)k->test_connect_port);
		s->connect_left = k->test_connect_count;
	}
	log_warn("event=tcp_test_services echo=%u discard=%u source=%u connect=%u worker=%u",
		 k->test_echo_port, k->test_discard_port, k->test_source_port,
		 s->connect_left ? k->test_connect_port : 0, idx);
	return s;
err_free:
	tcp_testsvc_free(s);
err:
	*err = e;
	return NULL;
}

/* Opens the configured active connections, a few per turn, and reports when all ended. */
void tcp_testsvc_poll(struct tcp_testsvc *s, uint64_t now)
{
	for (int i = 0; i < 16 && s->connect_left; i++) {
		struct svc_conn *x = sc_get(s, NULL, SVC_CONNECT);
		if (!x)
			break;
		int e = 0;
		x->c = s->net->ops->connect(s->net->impl, &s->connect_to, NULL, &handler, x, &e);
		if (!x->c) {
			log_warn("event=tcp_test_connect_failed err=%d", e);
			x->next_free = s->free_list;
			s->free_list = x;
			s->live--;
			s->connect_failed++;
		}
		s->connect_left--;
		if (!s->connect_left)
			s->connect_reported = false;
	}
	if (!s->connect_left && !s->connect_reported && s->connect_ok + s->connect_failed &&
	    s->live == 0) {
		s->connect_reported = true;
		log_info("event=tcp_test_connect_done ok=%u failed=%u", s->connect_ok,
			 s->connect_failed);
	}
}

void tcp_testsvc_free(struct tcp_testsvc *s)
{
	if (!s)
		return;
	free(s->conns);
	free(s);
}
