/* SPDX-License-Identifier: MIT */
/*
 * tcp_stack.c: one TCP stack instance (per lcore): creation with its bounded pools, the poll
 * entry point (timers, TIME_WAIT expiry, deferred work), the conn_net adapter, ISNs per
 * RFC 6528 (a 4 us clock plus SipHash-2-4 of the 4-tuple under a per-stack secret), ICMP
 * errors (RFC 1191 path MTU, RFC 5927 soft errors), and small shared helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_mbuf_dyn.h>
#include <rte_random.h>

#include "net/tcp_impl.h"

void tcp_tunables_defaults(struct tcp_tunables *t)
{
	*t = (struct tcp_tunables){
		.max_conns = 4096, .max_time_wait = 8192, .max_syn_rcvd = 1024, .backlog = 256,
		.syncookies = 1,
		.snd_buf = 262144, .rcv_buf = 262144, .rcv_mem_total = 64u << 20,
		.ooo_max_segs = 128, .mss = 1460, .timestamps = 1, .sack = 1,
		.window_scaling = 1, .time_wait_ms = 60000, .fin_wait2_ms = 60000,
		.rto_init_ms = 1000, .rto_min_ms = 200, .rto_max_ms = 60000,
		.syn_timeout_ms = 75000, .user_timeout_ms = 120000, .delack_ms = 40,
		.challenge_ack_per_s = 100, .rst_per_s = 1000, .eph_lo = 32768, .eph_hi = 60999,
	};
}

/* ---- SipHash-2-4 (Aumasson/Bernstein), for ISNs and timestamp offsets --------------------- */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                  \
	do {                                                                                      \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                         \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                            \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                            \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                         \
	} while (0)

uint64_t tcp_siphash(const uint8_t key[16], const void *data, size_t len)
{
	uint64_t k0, k1, m;
	memcpy(&k0, key, 8);
	memcpy(&k1, key + 8, 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	const uint8_t *p = data;
	size_t i;
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t keyed(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t domain)
{
	uint32_t buf[4] = { k->laddr, k->raddr, (uint32_t)k->lport << 16 | k->rport, domain };
	return (uint32_t)tcp_siphash(st->secret, buf, sizeof(buf));
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock. */
uint32_t tcp_isn(struct tcp_stack *st, const struct tcp_flow_key *k)
{
	return (uint32_t)(st->now / 4) + keyed(st, k, 1);
}

/* RFC 7323 5.4: a per-connection offset keeps timestamps from revealing the clock. */
uint32_t tcp_ts_offset(struct tcp_stack *st, const struct tcp_flow_key *k)
{
	return keyed(st, k, 2);
}

/* A budget of per_s events per second of stack time; true if one may happen now. */
bool tcp_ratelimit(struct tcp_stack *st, uint64_t *sec, uint32_t *used, uint32_t per_s)
{
	uint64_t s = st->now / 1000000;
	if (s != *sec) {
		*sec = s;
		*used = 0;
	}
	if (*used >= per_s)
		return false;
	(*used)++;
	return true;
}

/* Every public entry point brackets its work so that released objects are reused only when
 * nothing up the call stack can still hold them. */
void tcp_enter(struct tcp_stack *st, uint64_t now)
{
	if (now > st->now)
		st->now = now;
	st->depth++;
}

void tcp_leave(struct tcp_stack *st)
{
	if (--st->depth == 0)
		tcp_reap(st);
}

/* ---- conn_net adapter ---------------------------------------------------------------------- */
static int net_listen(void *net, uint16_t port, conn_accept_fn accept, void *ctx)
{
	return tcp_listen(net, port, accept, ctx);
}

static struct conn *net_connect(void *net, const struct conn_addr *dst,
				const struct conn_addr *src, const struct conn_handler *h,
				void *ctx, int *err)
{
	return tcp_connect(net, dst, src, h, ctx, err);
}

static const struct conn_net_ops tcp_net_ops = {
	.name = "tcp", .listen = net_listen, .connect = net_connect,
};

struct conn_net *tcp_stack_net(struct tcp_stack *st)
{
	return &st->net;
}

static int tunables_check(const struct tcp_tunables *t)
{
	if (!t->max_conns || !t->snd_buf || t->rcv_buf < 2 * t->mss || t->mss < TCP_MIN_MSS ||
	    t->mss > TCP_MAX_MSS || !t->backlog || !t->ooo_max_segs || t->eph_lo > t->eph_hi ||
	    !t->eph_lo || t->rto_min_ms == 0 || t->rto_min_ms > t->rto_max_ms ||
	    t->rcv_buf > (1u << 30))
		return -EINVAL;
	return 0;
}

struct tcp_stack *tcp_stack_create(const struct tcp_tunables *t, struct rte_mempool *mp,
				   uint32_t laddr, tcp_output_fn out, void *out_ctx, uint64_t now,
				   int *err)
{
	static const struct rte_mbuf_dynfield seq_field = {
		.name = "dpmail_tcp_seq", .size = sizeof(uint32_t), .align = __alignof__(uint32_t),
	};
	int e = -ENOMEM;
	struct tcp_stack *st = calloc(1, sizeof(*st));
	if (!st)
		goto err;
	if (t)
		st->tun = *t;
	else
		tcp_tunables_defaults(&st->tun);
	e = tunables_check(&st->tun);
	if (e < 0 || !mp || !out)
		goto err_free;
	if (rte_pktmbuf_data_room_size(mp) < RTE_PKTMBUF_HEADROOM + st->tun.mss + 60 + TCP_OPT_MAX) {
		e = -EINVAL;
		goto err_free;
	}
	e = -ENOMEM;
	st->seq_dynoff = rte_mbuf_dynfield_register(&seq_field);
	if (st->seq_dynoff < 0)
		goto err_free;
	st->mp = mp;
	st->laddr = laddr;
	st->output = out;
	st->output_ctx = out_ctx;
	st->now = now;
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = rte_rand();
		memcpy(st->secret + i, &r, 8);
	}
	st->eph_next = (uint16_t)(st->tun.eph_lo + rte_rand_max(st->tun.eph_hi - st->tun.eph_lo + 1));
	st->net.ops = &tcp_net_ops;
	st->net.impl = st;
	tcp_wheel_init(&st->wheel, now);
	if (tcp_flow_init(st) < 0)
		goto err_flow;
	return st;
err_flow:
	tcp_flow_fini(st);
err_free:
	free(st);
err:
	if (err)
		*err = e;
	return NULL;
}

void tcp_stack_free(struct tcp_stack *st)
{
	if (!st)
		return;
	st->depth++;
	for (uint32_t i = 0; i < st->tun.max_conns; i++) {
		struct tcp_conn *tc = &st->conns[i];
		if (tc->st && tc->state != TCP_CLOSED)
			tcp_conn_drop(tc, CONN_CLOSED_LOCAL);
	}
	tcp_flow_fini(st);
	free(st->rss);
	free(st);
}

void tcp_poll(struct tcp_stack *st, uint64_t now)
{
	tcp_enter(st, now);
	tcp_wheel_run(st, st->now);
	tcp_tw_expire(st);
	tcp_pending_run(st);
	tcp_leave(st);
}

const struct tcp_counters *tcp_stack_counters(const struct tcp_stack *st)
{
	return &st->cnt;
}

uint32_t tcp_stack_nconns(const struct tcp_stack *st)
{
	return st->nconns - 0;
}

uint32_t tcp_stack_ntw(const struct tcp_stack *st)
{
	return st->ntw;
}

/*
 * ICMP errors: fragmentation needed lowers the send MSS (RFC 1191) when the quoted sequence
 * number is outstanding; unreachables (port unreachable in SYN_SENT included) are soft errors
 * (RFC 5927, RFC 1122 4.2.3.9): the connection goes on, and if it later times out the
 * application learns REFUSED/UNREACHABLE instead of TIMEOUT.
 */
void tcp_icmp_error(struct tcp_stack *st, uint32_t src, uint32_t dst, uint16_t sport,
		    uint16_t dport, uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu)
{
	struct tcp_flow_key k = { .laddr = src, .raddr = dst, .lport = sport, .rport = dport };
	tcp_enter(st, st->now);
	struct tcp_flow *f = tcp_flow_lookup(st, &k);
	if (!f || f->kind != TCP_FLOW_CONN)
		goto out;
	struct tcp_conn *tc = (struct tcp_conn *)((char *)f - offsetof(struct tcp_conn, f));
	if (!tcp_seq_in(seq, tc->snd_una, tc->snd_max + 1))
		goto out;
	if (type == 3 && code == 4 && mtu >= 68) {
		uint32_t mss = (uint32_t)mtu - 40 - ((tc->flags & TF_TS_OK) ? 12 : 0);
		if (mss < TCP_MIN_MSS)
			mss = TCP_MIN_MSS;
		if (mss < tc->mss) {
			tc->mss = (uint16_t)mss;
			tc->snd_nxt = tc->snd_una; /* resend what was too big */
			tcp_pending_add(tc, TF_NEED_OUTPUT);
		}
	} else if (type == 3) {
		/* soft error: remembered, reported if the connection later gives up */
		tc->soft_err = (code == 2 || code == 3) ? CONN_CLOSED_REFUSED
							 : CONN_CLOSED_UNREACHABLE;
	}
out:
	tcp_leave(st);
}
