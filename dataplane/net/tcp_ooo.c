/* SPDX-License-Identifier: MIT */
/*
 * tcp_ooo.c: the out-of-order queue of one connection and the SACK blocks (RFC 2018) that
 * describe it. Segments are kept sorted by sequence number without overlap (a new segment is
 * trimmed against what is queued; segments it covers are dropped), at most ooo_max_segs of
 * them, and only inside the window we advertised (the caller trims). The sequence number of a
 * queued mbuf lives in a registered mbuf dynfield.
 */
#include <rte_mbuf_dyn.h>

#include "net/tcp_impl.h"

static inline uint32_t *seq_of(const struct tcp_stack *st, struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, st->seq_dynoff, uint32_t *);
}

static void drop_seg(struct tcp_conn *tc, struct rte_mbuf *m)
{
	tc->st->rcv_mem -= m->data_len;
	tc->ooo.len -= m->data_len;
	tc->ooo.nsegs--;
	m->next = NULL;
	rte_pktmbuf_free_seg(m);
}

/*
 * Queues m (single segment, data = payload, ownership passes) that starts at seq, which lies
 * after rcv_nxt. Counts and frees what is duplicate or over the cap.
 */
void tcp_ooo_insert(struct tcp_conn *tc, struct rte_mbuf *m, uint32_t seq)
{
	struct tcp_stack *st = tc->st;
	struct rte_mbuf *prev = NULL, *cur = tc->ooo.head;
	uint32_t end = seq + m->data_len;

	tc->ooo_last_seq = seq;
	while (cur && tcp_seq_leq(*seq_of(st, cur), seq)) {
		prev = cur;
		cur = cur->next;
	}
	if (prev) {
		uint32_t pend = *seq_of(st, prev) + prev->data_len;
		if (tcp_seq_geq(pend, end))
			goto dup;
		if (tcp_seq_gt(pend, seq)) {
			rte_pktmbuf_adj(m, (uint16_t)(pend - seq));
			st->cnt.rx_dup_bytes += pend - seq;
			seq = pend;
		}
	}
	while (cur && tcp_seq_lt(*seq_of(st, cur), end)) {
		uint32_t cs = *seq_of(st, cur), ce = cs + cur->data_len;
		if (tcp_seq_gt(ce, end)) {
			rte_pktmbuf_trim(m, (uint16_t)(end - cs));
			end = cs;
			break;
		}
		struct rte_mbuf *nx = cur->next;
		if (prev)
			prev->next = nx;
		else
			tc->ooo.head = nx;
		if (tc->ooo.tail == cur)
			tc->ooo.tail = prev;
		drop_seg(tc, cur);
		cur = nx;
	}
	if (m->data_len == 0)
		goto dup;
	if (tc->ooo.nsegs >= st->tun.ooo_max_segs) {
		st->cnt.rx_ooo_drop++;
		rte_pktmbuf_free(m);
		return;
	}
	*seq_of(st, m) = seq;
	m->next = cur;
	m->nb_segs = 1;
	m->pkt_len = m->data_len;
	if (prev)
		prev->next = m;
	else
		tc->ooo.head = m;
	if (!cur)
		tc->ooo.tail = m;
	tc->ooo.len += m->data_len;
	tc->ooo.nsegs++;
	st->rcv_mem += m->data_len;
	st->cnt.rx_ooo_segs++;
	return;
dup:
	st->cnt.rx_dup_bytes += m->data_len;
	rte_pktmbuf_free(m);
}

/* Moves the segments that rcv_nxt has reached into the in-order queue, advancing rcv_nxt. */
void tcp_ooo_pull(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	struct rte_mbuf *m;
	while ((m = tc->ooo.head) && tcp_seq_leq(*seq_of(st, m), tc->rcv_nxt)) {
		uint32_t s = *seq_of(st, m), e = s + m->data_len;
		tc->ooo.head = m->next;
		if (!tc->ooo.head)
			tc->ooo.tail = NULL;
		tc->ooo.len -= m->data_len;
		tc->ooo.nsegs--;
		m->next = NULL;
		if (tcp_seq_leq(e, tc->rcv_nxt)) {
			st->rcv_mem -= m->data_len;
			rte_pktmbuf_free_seg(m);
			continue;
		}
		uint32_t cut = tc->rcv_nxt - s;
		st->rcv_mem -= cut;
		rte_pktmbuf_adj(m, (uint16_t)cut);
		tc->rcv_nxt = e;
		tcp_mq_append_mbuf(&tc->rcvq, m);
	}
}

/*
 * Fills up to max SACK blocks [start, end) describing the queue: the block holding the most
 * recently received segment first (RFC 2018 4), then the others in sequence order.
 */
uint32_t tcp_ooo_sack(const struct tcp_conn *tc, uint32_t (*blk)[2], uint32_t max)
{
	const struct tcp_stack *st = tc->st;
	uint32_t tmp[TCP_OPT_MAX / 8 + 1][2];
	uint32_t n = 0, first = UINT32_MAX, all = 0;
	struct rte_mbuf *m = tc->ooo.head;
	while (m) {
		uint32_t s = *seq_of(st, m), e = s + m->data_len;
		for (m = m->next; m && *seq_of(st, m) == e; m = m->next)
			e += m->data_len;
		if (tcp_seq_in(tc->ooo_last_seq, s, e))
			first = all;
		if (all < TCP_OPT_MAX / 8 + 1 || first == all) {
			uint32_t slot = all < TCP_OPT_MAX / 8 + 1 ? all : TCP_OPT_MAX / 8;
			tmp[slot][0] = s;
			tmp[slot][1] = e;
			if (first == all)
				first = slot;
		}
		all++;
	}
	uint32_t have = all < TCP_OPT_MAX / 8 + 1 ? all : TCP_OPT_MAX / 8 + 1;
	if (first != UINT32_MAX && n < max) {
		blk[n][0] = tmp[first][0];
		blk[n][1] = tmp[first][1];
		n++;
	}
	for (uint32_t i = 0; i < have && n < max; i++) {
		if (i == first)
			continue;
		blk[n][0] = tmp[i][0];
		blk[n][1] = tmp[i][1];
		n++;
	}
	return n;
}

void tcp_ooo_free(struct tcp_conn *tc)
{
	tc->st->rcv_mem -= tc->ooo.len;
	tcp_mq_free(&tc->ooo);
}
