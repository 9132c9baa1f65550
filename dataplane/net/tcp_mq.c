/* SPDX-License-Identifier: MIT */
/*
 * tcp_mq.c: byte queues made of mbufs, used for the send buffer (which is also the
 * retransmission queue: bytes stay until cumulatively acknowledged) and for received in-order
 * data waiting for the application. Links go through m->next of single-segment mbufs; every
 * mbuf leaves a queue with next == NULL and nb_segs == 1 and is freed with rte_pktmbuf_free_seg.
 */
#include <string.h>

#include "net/tcp_impl.h"

/* Unlinks and returns the head mbuf (which must exist). */
static struct rte_mbuf *mq_pop(struct tcp_mq *q)
{
	struct rte_mbuf *m = q->head;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	m->next = NULL;
	q->len -= m->data_len;
	q->base += m->data_len;
	q->nsegs--;
	if (q->cur == m)
		q->cur = NULL;
	return m;
}

/*
 * Copies up to len bytes from buf to the end of q, filling the tail mbuf's room first and then
 * new mbufs from mp. Returns the bytes queued (short if mp ran dry).
 */
uint32_t tcp_mq_append_copy(struct tcp_mq *q, struct rte_mempool *mp, const uint8_t *buf,
			    uint32_t len)
{
	uint32_t done = 0;
	while (done < len) {
		struct rte_mbuf *t = q->tail;
		uint32_t room = t ? rte_pktmbuf_tailroom(t) : 0;
		if (room == 0) {
			t = rte_pktmbuf_alloc(mp);
			if (!t)
				break;
			t->data_off = 0; /* a send chunk never needs headroom */
			if (q->tail)
				q->tail->next = t;
			else
				q->head = t;
			q->tail = t;
			q->nsegs++;
			room = rte_pktmbuf_tailroom(t);
		}
		uint32_t n = len - done < room ? len - done : room;
		memcpy(rte_pktmbuf_mtod_offset(t, uint8_t *, t->data_len), buf + done, n);
		t->data_len += n;
		t->pkt_len = t->data_len;
		q->len += n;
		done += n;
	}
	return done;
}

/*
 * Appends m (single segment, data = the bytes to queue; ownership passes to q). Small payloads
 * are copied into the tail's room instead, so a peer trickling tiny segments cannot pin one
 * mbuf per byte.
 */
void tcp_mq_append_mbuf(struct tcp_mq *q, struct rte_mbuf *m)
{
	uint32_t n = m->data_len;
	if (n == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_mbuf *t = q->tail;
	if (t && n <= 512 && rte_pktmbuf_tailroom(t) >= n && RTE_MBUF_DIRECT(t) &&
	    rte_mbuf_refcnt_read(t) == 1) {
		memcpy(rte_pktmbuf_mtod_offset(t, uint8_t *, t->data_len),
		       rte_pktmbuf_mtod(m, uint8_t *), n);
		t->data_len += n;
		t->pkt_len = t->data_len;
		q->len += n;
		rte_pktmbuf_free(m);
		return;
	}
	m->next = NULL;
	m->nb_segs = 1;
	m->pkt_len = n;
	if (t)
		t->next = m;
	else
		q->head = m;
	q->tail = m;
	q->len += n;
	q->nsegs++;
}

/* Copies len bytes starting off bytes into q to dst; the range must lie inside q. Starts from
 * the cursor when it is not past the range (the common case: consecutive segments). */
void tcp_mq_copy_out(struct tcp_mq *q, uint32_t off, uint8_t *dst, uint32_t len)
{
	uint64_t want = q->base + off, at = q->base;
	struct rte_mbuf *m = q->head;
	if (q->cur && q->cur_at <= want) {
		m = q->cur;
		at = q->cur_at;
	}
	while (m && want >= at + m->data_len) {
		at += m->data_len;
		m = m->next;
	}
	q->cur = m;
	q->cur_at = at;
	uint32_t o = (uint32_t)(want - at);
	while (m && len) {
		uint32_t n = m->data_len - o;
		if (n > len)
			n = len;
		memcpy(dst, rte_pktmbuf_mtod_offset(m, const uint8_t *, o), n);
		dst += n;
		len -= n;
		o = 0;
		m = m->next;
	}
}

/* Drops n bytes (n <= q->len) from the front, freeing emptied mbufs. */
void tcp_mq_trim_front(struct tcp_mq *q, uint32_t n)
{
	while (n && q->head) {
		struct rte_mbuf *m = q->head;
		if (n >= m->data_len) {
			n -= m->data_len;
			rte_pktmbuf_free_seg(mq_pop(q));
		} else {
			rte_pktmbuf_adj(m, (uint16_t)n);
			q->len -= n;
			q->base += n;
			if (q->cur == m)
				q->cur_at = q->base;
			n = 0;
		}
	}
}

void tcp_mq_free(struct tcp_mq *q)
{
	while (q->head)
		rte_pktmbuf_free_seg(mq_pop(q));
	q->len = 0;
	q->nsegs = 0;
	q->cur = NULL;
}
