/* SPDX-License-Identifier: MIT */
/*
 * spool_rcache.c: the read cache. Direct writes leave nothing in the page cache, and delivery
 * usually reads a message back milliseconds after its commit: without this every fresh message
 * would cost a disk read. The cache takes over the buffer of each completed batch as it is (no
 * copy: the stage gets a new buffer, recycled when possible) and indexes it by (segment seq,
 * offset); batches complete in (seq, offset) order, so the index is sorted and a lookup is a
 * binary search. Records never change once written (a segment seq is never reused, a failed
 * batch is not cached), so an entry stays valid until it is evicted (oldest first, when the
 * buffers held pass read_cache_bytes). A reader gets a pointer into the buffer and a reference
 * on it: an evicted buffer lives on until its last reader lets go, so a slow delivery never
 * blocks the cache and never sees its bytes change. A record is served only whole from one
 * batch (records never span batches); anything else is read from the file as before.
 *
 * Batch buffers (spool_buf_get/put) come from spool_buf.c (2 MiB slots of large mappings, not
 * malloc); a buffer nobody holds any more is kept as a spare for a next batch (up to a quarter
 * of read_cache_bytes) unless a burst inflated it, so a steady load mostly writes into warm
 * pages. Untouched pages cost nothing, so the cache and the spares account what a buffer holds
 * (its high-water mark), not its size: a 100 KiB batch counts 100 KiB. (Malloc'd buffers sized
 * twice their batch counted whole, and glibc kept unmapping and mapping their heaps.)
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RC_ENTS 4096u
/* Unreferenced buffers kept for the next batches (at most a quarter of read_cache_bytes). */
#define RC_SPARES 64u

/* A batch buffer owned by the cache and/or by readers holding a piece of it. */
struct spool_rcbuf {
	struct spool_buf bb;     /* the batch buffer (a spare or unmapped at refs 0); the cache
				  * accounts bb.hwm */
	uint32_t refs;           /* the cache's entry + one per reader reference */
};

struct rc_ent {
	uint32_t seq;
	uint32_t len;
	uint64_t off;            /* segment offset of the first byte */
	const uint8_t *data;     /* the records */
	struct spool_rcbuf *rb;
};

struct spool_rcache {
	uint64_t cap;            /* read_cache_bytes */
	uint64_t held;           /* bytes of the buffers entries hold */
	struct spool_buf spare[RC_SPARES]; /* unreferenced buffers kept for the next batches */
	uint32_t nspare;
	uint64_t spare_held;              /* their hwm: at most cap / 4 */
	uint64_t avg_batch;               /* moving average of the batches' record bytes */
	struct rc_ent ents[RC_ENTS];
	uint32_t first, n;       /* ents[first .. first+n) modulo RC_ENTS, oldest first */
};

int spool_rcache_init(struct spool *sp)
{
	if (!sp->t.read_cache_bytes)
		return 0;
	struct spool_rcache *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->cap = sp->t.read_cache_bytes;
	sp->rc = rc;
	return 0;
}

static struct rc_ent *ent_at(struct spool_rcache *rc, uint32_t i)
{
	return &rc->ents[(rc->first + i) % RC_ENTS];
}

static struct spool_buf spare_take(struct spool_rcache *rc, uint32_t i)
{
	struct spool_buf bb = rc->spare[i];
	SPOOL_BUF_UNPOISON(bb.mem, bb.size);
	rc->spare_held -= bb.hwm;
	rc->nspare--;
	memmove(&rc->spare[i], &rc->spare[i + 1], (rc->nspare - i) * sizeof(rc->spare[0]));
	return bb;
}

/* A buffer comes back as a spare only if it holds at most this many pages, or four times the
 * average batch, whichever is more: a buffer inflated by a burst goes back to the kernel instead
 * of going round (the cache counts what a buffer holds, so inflated spares would shrink it after
 * every burst), while buffers that fit the load stay warm. Trimming the pages of every buffer
 * reused for a smaller batch instead made the next large batch fault them in again (0.4-0.6
 * faults per message at 64 sessions, batches varying 30 KB-500 KB). */
#define BUF_KEEP_MIN (256u << 10)

void spool_buf_touched(struct spool_buf *bb, uint64_t written)
{
	uint64_t w = (written + 4095u) & ~(uint64_t)4095u;
	if (w > bb->size)
		w = bb->size;
	if (w > bb->hwm)
		bb->hwm = (uint32_t)w;
}

int spool_buf_get(struct spool *sp, uint32_t bytes, uint32_t expect, struct spool_buf *out)
{
	uint32_t size = SPOOL_BUF_STD;
	while (size < bytes) {
		if (size >= (1u << 30))
			return -ENOMEM;
		size *= 2;
	}
	struct spool_rcache *rc = sp->rc;
	/* a spare of that size whose pages fit the batch expected best (too few: page faults; too
	 * many: memory the cache counts for nothing); the newest (the warmest) among equals */
	uint32_t best = UINT32_MAX;
	uint64_t best_d = UINT64_MAX;
	for (uint32_t i = rc ? rc->nspare : 0; i-- > 0;) {
		const struct spool_buf *b = &rc->spare[i];
		if (b->size != size)
			continue;
		uint64_t d = b->hwm >= expect ? (uint64_t)(b->hwm - expect)
					      : 2 * (uint64_t)(expect - b->hwm);
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	if (best != UINT32_MAX) {
		*out = spare_take(rc, best);
		return 0;
	}
	return spool_bufmem_take(sp, size, out);
}

void spool_buf_put(struct spool *sp, struct spool_buf bb)
{
	struct spool_rcache *rc = sp->rc;
	if (!bb.mem)
		return;
	uint64_t keep = rc ? 4 * rc->avg_batch : 0;
	if (keep < BUF_KEEP_MIN)
		keep = BUF_KEEP_MIN;
	if (!rc || bb.hwm > rc->cap / 4 || bb.hwm > keep) {
		spool_bufmem_give(sp, bb);
		return;
	}
	while (rc->nspare && (rc->nspare == RC_SPARES || rc->spare_held + bb.hwm > rc->cap / 4))
		spool_bufmem_give(sp, spare_take(rc, 0)); /* the oldest */
	SPOOL_BUF_POISON(bb.mem, bb.size);
	rc->spare[rc->nspare++] = bb;
	rc->spare_held += bb.hwm;
}

/* Drops one reference; the last one hands the buffer back (a spare, or unmapped). */
void spool_rcache_unref(struct spool *sp, struct spool_rcbuf *rb)
{
	if (!rb || --rb->refs)
		return;
	spool_buf_put(sp, rb->bb);
	free(rb);
}

static void drop_oldest(struct spool *sp)
{
	struct spool_rcache *rc = sp->rc;
	struct rc_ent *e = ent_at(rc, 0);
	rc->held -= e->rb->bb.hwm;
	rc->first = (rc->first + 1) % RC_ENTS;
	rc->n--;
	spool_rcache_unref(sp, e->rb);
}

void spool_rcache_free(struct spool *sp)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc)
		return;
	/* readers still holding a buffer are the caller's leak (closed after spool_free) */
	while (rc->n)
		drop_oldest(sp);
	while (rc->nspare)
		spool_bufmem_give(sp, spare_take(rc, 0));
	free(rc);
	sp->rc = NULL;
}

bool spool_rcache_adopt(struct spool *sp, uint32_t seq, uint64_t off, struct spool_buf bb,
			const uint8_t *data, uint32_t len)
{
	struct spool_rcache *rc = sp->rc;
	uint32_t bytes = bb.hwm;
	if (rc) { /* for spool_buf_put */
		int64_t avg = (int64_t)rc->avg_batch;
		rc->avg_batch = (uint64_t)(avg + ((int64_t)len - avg) / 8);
	}
	if (!rc || len == 0 || bytes > rc->cap / 2)
		return false;
	struct spool_rcbuf *rb = malloc(sizeof(*rb));
	if (!rb)
		return false;
	*rb = (struct spool_rcbuf){ .bb = bb, .refs = 1 };
	if (rc->n) {
		/* order is what the lookup relies on; anything else (never expected) starts over */
		struct rc_ent *last = ent_at(rc, rc->n - 1);
		if (seq < last->seq || (seq == last->seq && off < last->off + last->len))
			while (rc->n)
				drop_oldest(sp);
	}
	while (rc->n && (rc->held + bytes > rc->cap || rc->n == RC_ENTS))
		drop_oldest(sp);
	rc->held += bytes;
	*ent_at(rc, rc->n++) = (struct rc_ent){ .seq = seq, .len = len, .off = off, .data = data,
						.rb = rb };
	return true;
}

const uint8_t *spool_rcache_ref(struct spool *sp, uint32_t seq, uint64_t off, uint32_t len,
				struct spool_rcbuf **ref)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc || rc->n == 0)
		return NULL;
	/* the last entry starting at or before (seq, off) */
	uint32_t lo = 0, hi = rc->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct rc_ent *e = ent_at(rc, mid);
		if (e->seq < seq || (e->seq == seq && e->off <= off))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct rc_ent *e = ent_at(rc, lo - 1);
	if (e->seq != seq || off + len > e->off + e->len)
		return NULL;
	e->rb->refs++;
	*ref = e->rb;
	return e->data + (off - e->off);
}
