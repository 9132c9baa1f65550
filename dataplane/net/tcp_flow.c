/* SPDX-License-Identifier: MIT */
/*
 * tcp_flow.c: the per-core flow table (chained hash on the 4-tuple, keyed with a per-stack
 * secret so peers cannot aim at one bucket), the connection and TIME_WAIT object pools
 * (preallocated at start-up: memory is bounded by max_conns and max_time_wait), deferred
 * freeing of closed connections, and the compact TIME_WAIT entries (RFC 9293 3.10.7.4,
 * RFC 6191 for SYNs that reuse a tuple, RFC 1337: RSTs do not end TIME_WAIT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_jhash.h>

#include "log.h"
#include "net/tcp_impl.h"

static uint32_t flow_hash(const struct tcp_stack *st, const struct tcp_flow_key *k)
{
	uint32_t seed;
	memcpy(&seed, st->secret + 12, sizeof(seed));
	return rte_jhash_3words(k->laddr, k->raddr, (uint32_t)k->lport << 16 | k->rport, seed);
}

static bool key_eq(const struct tcp_flow_key *a, const struct tcp_flow_key *b)
{
	return a->laddr == b->laddr && a->raddr == b->raddr && a->lport == b->lport &&
	       a->rport == b->rport;
}

/* Allocates the table and the object pools; 0 or -ENOMEM. */
int tcp_flow_init(struct tcp_stack *st)
{
	uint32_t want = (st->tun.max_conns + st->tun.max_time_wait) * 2, n = 64;
	while (n < want)
		n <<= 1;
	st->buckets = calloc(n, sizeof(*st->buckets));
	st->conns = calloc(st->tun.max_conns, sizeof(*st->conns));
	st->tws = calloc(st->tun.max_time_wait ? st->tun.max_time_wait : 1, sizeof(*st->tws));
	if (!st->buckets || !st->conns || !st->tws)
		return -ENOMEM;
	st->bucket_mask = n - 1;
	for (uint32_t i = st->tun.max_conns; i-- > 0;) {
		st->conns[i].pnext = st->free_conns;
		st->free_conns = &st->conns[i];
	}
	for (uint32_t i = st->tun.max_time_wait; i-- > 0;) {
		st->tws[i].lnext = st->free_tw;
		st->free_tw = &st->tws[i];
	}
	return 0;
}

void tcp_flow_fini(struct tcp_stack *st)
{
	free(st->buckets);
	free(st->conns);
	free(st->tws);
}

struct tcp_flow *tcp_flow_lookup(struct tcp_stack *st, const struct tcp_flow_key *k)
{
	struct tcp_flow *f = st->buckets[flow_hash(st, k) & st->bucket_mask];
	while (f && !key_eq(&f->key, k))
		f = f->hnext;
	return f;
}

void tcp_flow_insert(struct tcp_stack *st, struct tcp_flow *f)
{
	struct tcp_flow **b = &st->buckets[flow_hash(st, &f->key) & st->bucket_mask];
	f->hnext = *b;
	*b = f;
}

void tcp_flow_remove(struct tcp_stack *st, struct tcp_flow *f)
{
	struct tcp_flow **p = &st->buckets[flow_hash(st, &f->key) & st->bucket_mask];
	while (*p && *p != f)
		p = &(*p)->hnext;
	if (*p)
		*p = f->hnext;
	f->hnext = NULL;
}

/*
 * Takes a connection object from the pool and enters it into the flow table under k.
 * Returns NULL when max_conns are in use (counted by the caller).
 */
struct tcp_conn *tcp_conn_alloc(struct tcp_stack *st, const struct tcp_flow_key *k)
{
	struct tcp_conn *tc = st->free_conns;
	if (!tc)
		return NULL;
	st->free_conns = tc->pnext;
	memset(tc, 0, sizeof(*tc));
	tc->st = st;
	tc->f.kind = TCP_FLOW_CONN;
	tc->f.key = *k;
	tc->c.ops = &tcp_conn_ops;
	tc->c.id = ++st->next_id;
	tc->c.local.family = tc->c.remote.family = 2; /* AF_INET */
	tc->c.local.ip.v4 = k->laddr;
	tc->c.local.port = k->lport;
	tc->c.remote.ip.v4 = k->raddr;
	tc->c.remote.port = k->rport;
	tcp_flow_insert(st, &tc->f);
	st->nconns++;
	return tc;
}

/*
 * Takes tc out of the flow table and the timer wheel, frees its buffers and queues the object
 * for reuse at the end of the current entry point (callers up the stack may still look at it:
 * they see state CLOSED). The application must already have been told (or never had it).
 */
void tcp_conn_release(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	if (tc->flags & TF_REAP)
		return;
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn=%llu event=tcp_release lport=%u rport=%u state=%s una=%u max=%u "
			  "rcv_nxt=%u flags=0x%x", (unsigned long long)tc->c.id,
			  rte_be_to_cpu_16(tc->f.key.lport), rte_be_to_cpu_16(tc->f.key.rport),
			  tcp_state_str(tc->state), tc->snd_una, tc->snd_max, tc->rcv_nxt, tc->flags);
	if (tc->state == TCP_SYN_RCVD && tc->lst) {
		tc->lst->syn_rcvd--;
		st->nsyn_rcvd--;
	}
	tc->lst = NULL;
	tcp_set_state(tc, TCP_CLOSED);
	tcp_flow_remove(st, &tc->f);
	tcp_timer_stop(tc);
	tcp_mq_free(&tc->sndq);
	st->rcv_mem -= tc->rcvq.len;
	tcp_mq_free(&tc->rcvq);
	tcp_ooo_free(tc);
	tc->flags |= TF_REAP;
	st->cnt.closed++;
	if (tc->flags & TF_PENDING)
		return; /* the pending runner sees TF_REAP and moves it to the reap list */
	tc->pnext = st->reap;
	st->reap = tc;
}

/* Returns released connections to the pool (only from the outermost entry point). */
void tcp_reap(struct tcp_stack *st)
{
	while (st->reap) {
		struct tcp_conn *tc = st->reap;
		st->reap = tc->pnext;
		tc->flags = 0;
		tc->pnext = st->free_conns;
		st->free_conns = tc;
		st->nconns--;
	}
}

/* The TIME_WAIT FIFO is doubly linked (lnext/lprev) so any entry leaves it in O(1). */
static void fifo_append(struct tcp_stack *st, struct tcp_tw *tw)
{
	tw->lnext = NULL;
	tw->lprev = st->tw_tail;
	if (st->tw_tail)
		st->tw_tail->lnext = tw;
	else
		st->tw_head = tw;
	st->tw_tail = tw;
}

static void fifo_unlink(struct tcp_stack *st, struct tcp_tw *tw)
{
	if (tw->lprev)
		tw->lprev->lnext = tw->lnext;
	else
		st->tw_head = tw->lnext;
	if (tw->lnext)
		tw->lnext->lprev = tw->lprev;
	else
		st->tw_tail = tw->lprev;
	tw->lnext = tw->lprev = NULL;
}

/*
 * Replaces tc (whose FIN exchange is complete) by a compact TIME_WAIT entry and releases tc.
 * Returns 0, or -ENOSPC when the TIME_WAIT table is full (the tuple then simply closes; the
 * peer's retransmitted FIN would get a RST, which is what an overloaded Linux does too).
 */
int tcp_tw_enter(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	struct tcp_tw *tw = st->free_tw;
	if (!tw) {
		st->cnt.tw_dropped_full++;
		tcp_conn_release(tc);
		return -ENOSPC;
	}
	st->free_tw = tw->lnext;
	memset(tw, 0, sizeof(*tw));
	tw->f.kind = TCP_FLOW_TW;
	tw->f.key = tc->f.key;
	tw->snd_nxt = tc->snd_max;
	tw->rcv_nxt = tc->rcv_nxt;
	tw->ts_ok = !!(tc->flags & TF_TS_OK);
	tw->ts_recent = tc->ts_recent;
	tw->ts_off = tc->ts_off;
	tw->rcv_win = (uint16_t)(tcp_rcv_window(tc, false) >> tc->rcv_wscale);
	tw->expire = st->now + (uint64_t)st->tun.time_wait_ms * TCP_MS;
	tcp_set_state(tc, TCP_TIME_WAIT);
	tcp_conn_release(tc);
	tcp_flow_insert(st, &tw->f);
	fifo_append(st, tw);
	st->ntw++;
	st->cnt.tw_created++;
	return 0;
}

/* Unlinks tw from the table and the FIFO and returns it to the pool. */
void tcp_tw_free(struct tcp_stack *st, struct tcp_tw *tw)
{
	tcp_flow_remove(st, &tw->f);
	fifo_unlink(st, tw);
	tw->lnext = st->free_tw;
	st->free_tw = tw;
	st->ntw--;
}

/* Expires TIME_WAIT entries; all share one lifetime, so the FIFO is in expiry order. */
void tcp_tw_expire(struct tcp_stack *st)
{
	while (st->tw_head && st->tw_head->expire <= st->now) {
		tcp_tw_free(st, st->tw_head);
		st->cnt.tw_expired++;
	}
}

/* Moves tw to the FIFO tail with a fresh lifetime. */
static void tw_requeue(struct tcp_stack *st, struct tcp_tw *tw)
{
	fifo_unlink(st, tw);
	tw->expire = st->now + (uint64_t)st->tun.time_wait_ms * TCP_MS;
	fifo_append(st, tw);
}

/* RFC 6191: may a SYN reopen the tuple held by tw? */
static bool tw_syn_ok(const struct tcp_tw *tw, const struct tcp_seg *s)
{
	if (tw->ts_ok && s->opt.has_ts)
		return tcp_seq_gt(s->opt.tsval, tw->ts_recent);
	return tcp_seq_gt(s->seq, tw->rcv_nxt);
}

/* A segment for a tuple in TIME_WAIT. Consumes s->m. */
void tcp_tw_input(struct tcp_stack *st, struct tcp_tw *tw, struct tcp_seg *s)
{
	if (s->flags & TCP_RST)
		goto drop; /* RFC 1337 */
	if ((s->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		struct tcp_listener *l = tcp_listener_find(st, s->key.lport);
		if (l && tw_syn_ok(tw, s)) {
			uint32_t min_isn = tw->snd_nxt + 65536 * 2;
			tcp_tw_free(st, tw);
			st->cnt.tw_reused++;
			tcp_listen_input(st, l, s, min_isn);
			return;
		}
		goto drop;
	}
	/* A retransmitted FIN (our last ACK was lost) or stray data: ACK it; a FIN restarts
	 * the 2MSL wait (RFC 9293 3.10.7.4). */
	if ((s->flags & TCP_FIN) || s->len) {
		if (s->flags & TCP_FIN)
			tw_requeue(st, tw);
		tcp_send_raw_ack(st, &tw->f.key, tw->snd_nxt, tw->rcv_nxt, tw->rcv_win, tw->ts_ok,
				 tcp_ts_now(st) + tw->ts_off, tw->ts_recent);
	}
drop:
	rte_pktmbuf_free(s->m);
	s->m = NULL;
}
