/* SPDX-License-Identifier: MIT */
/*
 * spool_compact.c: compaction. Segments are deleted oldest first, so one long-deferred message
 * would keep every newer segment on disk. When there are more than compact_min_segments
 * segments and the oldest is pinned by at most compact_max_live messages, those messages are
 * copied forward under their own queue ids: each is read back through an internal body reader
 * (CRC and tag checked), re-written as chunk records and a commit record through an ordinary
 * transaction, followed by a STATE record with its recipients' status and retry state. When the
 * batch holding the copy is durable, the message points at the copy and unpins the old segment,
 * which the collector then deletes. Recovery prefers the later commit record of a queue id. A
 * few copies run at once (SPOOL_COMPACT_SLOTS); finding the messages scans the index once per
 * emptied segment.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SPOOL_COMPACT_SLOTS 8u

struct compact_slot {
	struct spool *sp;
	struct spool_body *rd;
	struct spool_txn *tx;
	uint64_t qid;
	uint8_t *prefix;
	uint32_t prefix_len;
	const uint8_t *pend;    /* body bytes the transaction has not taken yet (stage full) */
	uint32_t pend_len;
	bool busy;
};

struct spool_compact {
	uint32_t seq;           /* the segment being emptied */
	uint64_t *qids;         /* messages whose first record is there */
	uint32_t nq, next, cap;
	uint64_t next_scan_us;
	struct compact_slot slot[SPOOL_COMPACT_SLOTS];
};

static void slot_end(struct compact_slot *s, int err)
{
	struct spool *sp = s->sp;
	if (err) {
		char q[17];
		log_warn("qid=%s spool core=%u op=compact err=%d: message left in place",
			 spool_qid_str(s->qid, q), sp->core, err);
		if (s->tx)
			spool_msg_abort(s->tx);
	}
	if (s->rd)
		spool_body_close(s->rd);
	free(s->prefix);
	*s = (struct compact_slot){ .sp = sp };
}

static void feed(struct compact_slot *s)
{
	ssize_t r = spool_msg_append(s->tx, s->pend, s->pend_len);
	if (r < 0) {
		slot_end(s, (int)r);
		return;
	}
	s->pend += r;
	s->pend_len -= (uint32_t)r;
	if (s->pend_len == 0) {
		int e = spool_body_next(s->rd, 0);
		if (e)
			slot_end(s, e);
	}
}

static void on_piece(void *arg, struct spool_body *b, int res, const uint8_t *data, uint32_t len,
		     bool is_prefix)
{
	struct compact_slot *s = arg;
	(void)b;
	if (res < 0) {
		slot_end(s, res);
	} else if (res == 0) {
		int e = spool_txn_commit_copy(s->tx, s->prefix, s->prefix_len);
		s->tx = NULL; /* consumed whatever the result */
		slot_end(s, 0);
		if (e)
			log_warn("spool core=%u op=compact err=%d: copy not staged", s->sp->core, e);
	} else if (is_prefix) {
		s->prefix = malloc(len);
		if (!s->prefix) {
			slot_end(s, -ENOMEM);
			return;
		}
		memcpy(s->prefix, data, len);
		s->prefix_len = len;
		int e = spool_body_next(s->rd, 0);
		if (e)
			slot_end(s, e);
	} else {
		s->pend = data;
		s->pend_len = len;
		feed(s);
	}
}

static void slot_start(struct spool *sp, struct spool_compact *c, struct compact_slot *s, uint64_t qid)
{
	struct spool_msg *m = spool_index_get(sp, qid);
	if (!m || m->home_seq != c->seq)
		return; /* dead or moved meanwhile */
	int e;
	s->sp = sp;
	s->qid = qid;
	s->busy = true;
	s->rd = spool_body_open(sp, qid, &e);
	if (s->rd) {
		spool_body_set_fn(s->rd, on_piece, s);
		s->tx = spool_txn_begin_copy(sp, m, &e);
	}
	if (!e)
		e = spool_body_next(s->rd, 0);
	if (e)
		slot_end(s, e);
}

static int collect(void *arg, const struct spool_msg *m)
{
	struct spool_compact *c = arg;
	if (m->home_seq == c->seq && c->nq < c->cap)
		c->qids[c->nq++] = m->qid;
	return c->nq == c->cap;
}

/* Picks the oldest segment if it is worth emptying; fills c->qids. */
static void pick(struct spool *sp, struct spool_compact *c)
{
	if (sp->now < c->next_scan_us)
		return;
	c->next_scan_us = sp->now + 1000000;
	struct spool_seg *s = sp->nsegs ? sp->segs[0] : NULL;
	if (sp->nsegs <= sp->t.compact_min_segments || !s || s == spool_seg_active(sp) ||
	    s->live == 0 || s->live > sp->t.compact_max_live || spool_space_check(sp, 0))
		return;
	if (s->seq == c->seq && c->nq == 0)
		return; /* only transactions in progress pin it: rescanning would find nothing */
	if (c->cap < sp->t.compact_max_live) {
		uint64_t *n = realloc(c->qids, sp->t.compact_max_live * sizeof(*n));
		if (!n)
			return;
		c->qids = n;
		c->cap = sp->t.compact_max_live;
	}
	c->seq = s->seq;
	c->nq = c->next = 0;
	spool_foreach(sp, collect, c);
}

void spool_compact_poll(struct spool *sp)
{
	if (!sp->t.compact_max_live)
		return;
	struct spool_compact *c = sp->compact;
	if (!c && !(c = sp->compact = calloc(1, sizeof(*c))))
		return;
	bool idle = true;
	for (unsigned i = 0; i < SPOOL_COMPACT_SLOTS; i++) {
		struct compact_slot *s = &c->slot[i];
		if (s->busy && s->pend_len)
			feed(s); /* the stage had no room last turn */
		if (!s->busy && c->next < c->nq)
			slot_start(sp, c, s, c->qids[c->next++]);
		idle &= !s->busy;
	}
	if (idle && c->next == c->nq)
		pick(sp, c);
}

void spool_compact_done(struct spool *sp, const struct spool_bent *e, int result)
{
	struct spool_msg *m = spool_index_get(sp, e->cookie);
	if (result || !m) {
		spool_seg_unref(sp, spool_seg_find(sp, e->home));
		return;
	}
	spool_seg_unref(sp, spool_seg_find(sp, m->home_seq));
	m->home_seq = e->home;
	m->commit_seq = e->at.seq;
	m->commit_off = e->at.off;
	m->commit_len = e->at.reclen;
	sp->st.relocated++;
}

void spool_compact_free(struct spool *sp)
{
	struct spool_compact *c = sp->compact;
	if (!c)
		return;
	for (unsigned i = 0; i < SPOOL_COMPACT_SLOTS; i++)
		if (c->slot[i].busy)
			slot_end(&c->slot[i], -ECANCELED);
	free(c->qids);
	free(c);
	sp->compact = NULL;
}
