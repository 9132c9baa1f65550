/* SPDX-License-Identifier: MIT */
/*
 * tcp_harness.h: the deterministic in-process harness for the TCP stack. One stack instance
 * runs on a virtual clock; the test plays the peer: it injects hand-built segments with
 * h_in() and pops what the stack sent with h_out(), asserting flags, numbers, options and
 * timing. A small application (struct h_app) records what the conn API delivered.
 * Included by several test files (static functions, one binary each).
 */
#ifndef DPMAIL_TCP_HARNESS_H
#define DPMAIL_TCP_HARNESS_H

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "net/tcp_impl.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#define H_PEER_IP 0x010012c6u  /* 198.18.0.1 in network order */
#define H_LOCAL_IP 0x020012c6u /* 198.18.0.2 */
#define H_PEER_PORT 40000
#define H_LPORT 25
#define H_MAXOUT 4096

static struct rte_mempool *h_mp;

/* EAL without hugepages or devices, and one small pool (once per test binary). */
static void h_eal(const char *prefix)
{
	char *argv[] = { "tcp_test", "--no-huge", "--no-pci", "-m", "128", "--no-shconf",
			 "--file-prefix", (char *)prefix, "--log-level", "1", "-l", "0", NULL };
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		exit(2);
	}
	h_mp = rte_pktmbuf_pool_create("tcp_h", 16383, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!h_mp) {
		fprintf(stderr, "pool create failed\n");
		exit(2);
	}
}

/* A segment the stack sent, parsed. */
struct h_seg {
	uint8_t flags;
	uint32_t seq, ack, len;
	uint16_t win;
	uint16_t sport, dport;
	struct tcp_opts opt;
	uint64_t at;               /* virtual time it was sent */
	uint8_t data[2048];
};

struct h_app {
	struct conn *c;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	size_t consume_max;        /* per on_data call; SIZE_MAX = all */
	int connected, eof, closed, sendable, accepted;
	enum conn_close_reason why;
	int close_on_eof;          /* call conn_close from on_eof */
	int refuse;
};

struct h {
	struct tcp_stack *st;
	uint64_t now;
	struct h_seg out[H_MAXOUT];
	unsigned nout, rd;
	int drop_out;              /* the next n segments sent are lost */
	uint16_t lport;            /* our port that injected segments go to */
	struct h_app app;
};

static int h_capture(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	struct h *h = ctx;
	ck_assert_uint_eq(tcp_cksum(m, src, dst), 0);
	ck_assert_uint_lt(h->nout, H_MAXOUT);
	struct h_seg *s = &h->out[h->nout++];
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	uint32_t hl = (uint32_t)(th->data_off >> 4) * 4;
	s->flags = th->tcp_flags;
	s->seq = ntohl(th->sent_seq);
	s->ack = ntohl(th->recv_ack);
	s->win = ntohs(th->rx_win);
	s->sport = ntohs(th->src_port);
	s->dport = ntohs(th->dst_port);
	ck_assert_int_eq(tcp_opts_parse((const uint8_t *)(th + 1), hl - 20, &s->opt), 0);
	s->len = m->data_len - hl;
	memcpy(s->data, (const uint8_t *)th + hl, s->len);
	s->at = h->now;
	ck_assert_uint_ge(rte_pktmbuf_headroom(m), 34);
	rte_pktmbuf_free(m);
	if (h->drop_out > 0) {
		h->drop_out--;
		h->nout--;
	}
	return 0;
}

/* ---- the test application --------------------------------------------------------------- */
static size_t app_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct h_app *a = ctx;
	size_t n = len < a->consume_max ? len : a->consume_max;
	if (n == 0)
		return 0;
	if (a->rx_len + n > a->rx_cap) {
		a->rx_cap = (a->rx_len + n) * 2;
		a->rx = realloc(a->rx, a->rx_cap);
	}
	memcpy(a->rx + a->rx_len, d, n);
	a->rx_len += n;
	return n;
}
static void app_connected(void *ctx, struct conn *c) { ((struct h_app *)ctx)->connected++; }
static void app_eof(void *ctx, struct conn *c)
{
	struct h_app *a = ctx;
	a->eof++;
	if (a->close_on_eof)
		conn_close(c);
}
static void app_sendable(void *ctx, struct conn *c) { ((struct h_app *)ctx)->sendable++; }
static void app_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct h_app *a = ctx;
	a->closed++;
	a->why = why;
	a->c = NULL;
}
static const struct conn_handler h_handler = {
	.on_connected = app_connected, .on_data = app_data, .on_eof = app_eof,
	.on_sendable = app_sendable, .on_closed = app_closed,
};
static int app_accept(void *ctx, struct conn *c)
{
	struct h_app *a = ctx;
	if (a->refuse)
		return -1;
	a->accepted++;
	a->c = c;
	conn_set_handler(c, &h_handler, a);
	return 0;
}

/* ---- driving ----------------------------------------------------------------------------- */
static struct h *h_new(const struct tcp_tunables *t)
{
	struct h *h = calloc(1, sizeof(*h));
	h->now = 1000000;
	h->lport = H_LPORT;
	h->app.consume_max = SIZE_MAX;
	int err = 0;
	h->st = tcp_stack_create(t, h_mp, H_LOCAL_IP, h_capture, h, h->now, &err);
	ck_assert_ptr_nonnull(h->st);
	return h;
}

static void h_free(struct h *h)
{
	tcp_stack_free(h->st);
	free(h->app.rx);
	free(h);
}

static void h_listen(struct h *h)
{
	ck_assert_int_eq(tcp_listen(h->st, H_LPORT, app_accept, &h->app), 0);
}

/* Advances the virtual clock by ms, polling every millisecond as the lcore loop would. */
static void h_advance(struct h *h, uint64_t ms)
{
	for (uint64_t i = 0; i < ms; i++) {
		h->now += 1000;
		tcp_poll(h->st, h->now);
	}
}

static void h_poll(struct h *h) { tcp_poll(h->st, h->now); }

/* Options for injected segments. */
struct h_opt {
	int mss, ws;               /* -1 = absent */
	int sack_ok, ts;
	uint32_t tsval, tsecr;
	uint32_t nsack, sack[4][2];
	const uint8_t *raw; uint32_t rawlen; /* used instead when set */
};

/* Injects a segment from the peer (port pport) with flags/seq/ack/win, options and payload. */
static void h_in_full(struct h *h, uint16_t pport, uint8_t flags, uint32_t seq, uint32_t ack,
		      uint16_t win, const struct h_opt *o, const void *data, uint32_t len)
{
	uint8_t opt[40];
	uint32_t ol = 0;
	if (o && o->raw) {
		memcpy(opt, o->raw, o->rawlen);
		ol = o->rawlen;
	} else if (o && (flags & TCP_SYN)) {
		ol = tcp_opts_build_syn(opt, o->mss > 0 ? (uint16_t)o->mss : 1460, o->ws, o->sack_ok,
					o->ts, o->tsval, o->tsecr);
	} else if (o) {
		ol = tcp_opts_build(opt, o->ts, o->tsval, o->tsecr,
				    (const uint32_t (*)[2])o->sack, o->nsack);
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(h_mp);
	ck_assert_ptr_nonnull(m);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, (uint16_t)(20 + ol + len));
	ck_assert_ptr_nonnull(th);
	th->src_port = htons(pport);
	th->dst_port = htons(h->lport);
	th->sent_seq = htonl(seq);
	th->recv_ack = htonl(ack);
	th->data_off = (uint8_t)(((20 + ol) / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = htons(win);
	th->cksum = 0;
	th->tcp_urp = 0;
	memcpy(th + 1, opt, ol);
	if (len)
		memcpy((uint8_t *)(th + 1) + ol, data, len);
	th->cksum = tcp_cksum(m, H_PEER_IP, H_LOCAL_IP);
	tcp_input(h->st, m, H_PEER_IP, H_LOCAL_IP, h->now);
}

static void h_in(struct h *h, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
		 const void *data, uint32_t len)
{
	h_in_full(h, H_PEER_PORT, flags, seq, ack, win, NULL, data, len);
}

/* Number of sent segments not yet popped. */
static unsigned h_pending(const struct h *h) { return h->nout - h->rd; }

/* Pops the next segment the stack sent (fails the test when there is none). */
static struct h_seg *h_out(struct h *h)
{
	ck_assert_msg(h->rd < h->nout, "expected a segment, none was sent");
	return &h->out[h->rd++];
}

static void h_none(struct h *h)
{
	ck_assert_msg(h->rd == h->nout, "unexpected segment flags=0x%x seq=%u",
		      h->rd < h->nout ? h->out[h->rd].flags : 0,
		      h->rd < h->nout ? h->out[h->rd].seq : 0);
}

/* Peer-side view of an established passive connection. */
struct h_peer {
	uint32_t iss, snd_nxt;     /* the peer's sequence space */
	uint32_t our_iss, rcv_nxt; /* the stack's sequence space as the peer tracks it */
	int ws;
};

/*
 * Completes a passive handshake: SYN (options o) -> SYN-ACK -> ACK; checks accept().
 * Returns the peer view. win: peer's window field for the final ACK.
 */
static struct h_peer h_accept(struct h *h, const struct h_opt *o, uint16_t win)
{
	struct h_peer p = { .iss = 1000000 };
	h_in_full(h, H_PEER_PORT, TCP_SYN, p.iss, 0, 65535, o, NULL, 0);
	struct h_seg *sa = h_out(h);
	ck_assert_uint_eq(sa->flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(sa->ack, p.iss + 1);
	p.our_iss = sa->seq;
	p.rcv_nxt = sa->seq + 1;
	p.snd_nxt = p.iss + 1;
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, win, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	ck_assert_int_eq(tcp_conn_state(h->app.c), TCP_ESTABLISHED);
	return p;
}

static const struct h_opt h_opt_plain = { .mss = 1460, .ws = -1 };

/* Fills buf with a recognisable pattern starting at stream offset off. */
static void h_pattern(uint8_t *buf, size_t len, size_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((off + i) * 7 + ((off + i) >> 8));
}

static int h_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
