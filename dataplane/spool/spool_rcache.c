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
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RC_ENTS 4096u
/* Unreferenced buffers kept for the next batches. A batch buffer is hundreds of KiB: glibc
 * maps such sizes fresh (mmap, a page fault per 4 KiB touched, munmap), which cost 3-4% of a
 * relayed message on memif; batch sizes are powers of two, so a few spares serve a steady load. */
#define RC_SPARES 8u

/* A batch buffer owned by the cache and/or by readers holding a piece of it. */
struct spool_rcbuf {
	uint8_t *mem;            /* the batch allocation (aligned; freed or recycled at refs 0) */
	uint32_t bytes;          /* its size: what the cache accounts */
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
	uint8_t *spare[RC_SPARES];        /* unreferenced buffers kept for the next batches */
	uint32_t spare_bytes[RC_SPARES];
	uint32_t nspare;
	uint64_t spare_held;              /* their bytes: at most cap / 4 */
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

/* Drops the oldest spare buffer. */
static void spare_drop_oldest(struct spool_rcache *rc)
{
	free(rc->spare[0]);
	rc->spare_held -= rc->spare_bytes[0];
	rc->nspare--;
	memmove(&rc->spare[0], &rc->spare[1], rc->nspare * sizeof(rc->spare[0]));
	memmove(&rc->spare_bytes[0], &rc->spare_bytes[1], rc->nspare * sizeof(rc->spare_bytes[0]));
}

/* Drops one reference; the last one keeps the buffer as a spare (the oldest spares go when the
 * slots or a quarter of read_cache_bytes are taken: sizes follow the load) or frees it. */
void spool_rcache_unref(struct spool *sp, struct spool_rcbuf *rb)
{
	if (!rb || --rb->refs)
		return;
	struct spool_rcache *rc = sp->rc;
	if (rc && rb->bytes <= rc->cap / 4) {
		while (rc->nspare && (rc->nspare == RC_SPARES || rc->spare_held + rb->bytes > rc->cap / 4))
			spare_drop_oldest(rc);
		rc->spare[rc->nspare] = rb->mem;
		rc->spare_bytes[rc->nspare++] = rb->bytes;
		rc->spare_held += rb->bytes;
	} else {
		free(rb->mem);
	}
	free(rb);
}

static void drop_oldest(struct spool *sp)
{
	struct spool_rcache *rc = sp->rc;
	struct rc_ent *e = ent_at(rc, 0);
	rc->held -= e->rb->bytes;
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
	for (uint32_t i = 0; i < rc->nspare; i++)
		free(rc->spare[i]);
	free(rc);
	sp->rc = NULL;
}

uint8_t *spool_rcache_recycle(struct spool *sp, uint32_t bytes, uint32_t *got)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc)
		return NULL;
	/* the newest spare that fits without wasting more than its own size (warm pages, and
	 * batch sizes that move between neighbouring powers of two still find one) */
	for (uint32_t i = rc->nspare; i-- > 0;) {
		if (rc->spare_bytes[i] < bytes || rc->spare_bytes[i] / 2 > bytes)
			continue;
		uint8_t *m = rc->spare[i];
		*got = rc->spare_bytes[i];
		rc->spare_held -= *got;
		rc->nspare--;
		memmove(&rc->spare[i], &rc->spare[i + 1], (rc->nspare - i) * sizeof(rc->spare[0]));
		memmove(&rc->spare_bytes[i], &rc->spare_bytes[i + 1],
			(rc->nspare - i) * sizeof(rc->spare_bytes[0]));
		return m;
	}
	return NULL;
}

bool spool_rcache_adopt(struct spool *sp, uint32_t seq, uint64_t off, uint8_t *mem, uint32_t bytes,
			const uint8_t *data, uint32_t len)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc || len == 0 || bytes > rc->cap / 2)
		return false;
	struct spool_rcbuf *rb = malloc(sizeof(*rb));
	if (!rb)
		return false;
	*rb = (struct spool_rcbuf){ .mem = mem, .bytes = bytes, .refs = 1 };
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
