/* SPDX-License-Identifier: MIT */
/*
 * tcp_tamper.c: the seeded fault layer for tests (see tcp_tamper.h). xorshift64* gives a
 * reproducible sequence of decisions for a seed, so a failing run can be replayed exactly.
 */
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/tcp_tamper.h"

static uint32_t rnd_pm(struct tcp_tamper *t)
{
	uint64_t x = t->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32) % 1000;
}

void tcp_tamper_init(struct tcp_tamper *t, tcp_output_fn next, void *next_ctx, uint64_t seed)
{
	*t = (struct tcp_tamper){ .next = next, .next_ctx = next_ctx, .rng = seed ? seed : 1 };
}

int tcp_tamper_add_rule(struct tcp_tamper *t, const struct tcp_tamper_rule *r)
{
	if (t->nrules >= TCP_TAMPER_RULES)
		return -1;
	t->rule[t->nrules] = *r;
	t->rule[t->nrules++].seen = 0;
	return 0;
}

static int fwd(struct tcp_tamper *t, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	t->passed++;
	return t->next(t->next_ctx, m, src, dst);
}

/* The action of the first rule that fires for m, or 0. */
static enum tcp_tamper_action rule_action(struct tcp_tamper *t, const struct rte_mbuf *m)
{
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	uint32_t len = m->pkt_len - (uint32_t)(th->data_off >> 4) * 4;
	for (uint32_t i = 0; i < t->nrules; i++) {
		struct tcp_tamper_rule *r = &t->rule[i];
		if ((th->tcp_flags & r->flags_mask) != r->flags_val || len < r->min_len)
			continue;
		r->seen++;
		if (r->nth == 0 || r->seen == r->nth)
			return r->action;
	}
	return 0;
}

int tcp_tamper_output(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	struct tcp_tamper *t = ctx;
	enum tcp_tamper_action a = rule_action(t, m);
	if (!a && t->loss_pm && rnd_pm(t) < t->loss_pm)
		a = TCP_TAMPER_DROP;
	if (!a && t->dup_pm && rnd_pm(t) < t->dup_pm)
		a = TCP_TAMPER_DUP;
	if (!a && t->reorder_pm && !t->held && rnd_pm(t) < t->reorder_pm)
		a = TCP_TAMPER_DELAY;
	switch (a) {
	case TCP_TAMPER_DROP:
		t->dropped++;
		rte_pktmbuf_free(m);
		return 0;
	case TCP_TAMPER_DUP: {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
		if (c) {
			t->duplicated++;
			fwd(t, c, src, dst);
		}
		break;
	}
	case TCP_TAMPER_DELAY:
		if (!t->held) {
			t->reordered++;
			t->held = m;
			t->held_src = src;
			t->held_dst = dst;
			return 0;
		}
		break;
	default:
		break;
	}
	int rc = fwd(t, m, src, dst);
	tcp_tamper_flush(t);
	return rc;
}

void tcp_tamper_flush(struct tcp_tamper *t)
{
	struct rte_mbuf *h = t->held;
	if (!h)
		return;
	t->held = NULL;
	fwd(t, h, t->held_src, t->held_dst);
}
