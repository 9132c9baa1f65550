/* SPDX-License-Identifier: MIT */
/*
 * spool_rcache.c: the read cache of a direct-I/O spool. Direct writes leave nothing in the page
 * cache, and delivery usually reads a message back milliseconds after its commit: without this
 * every fresh message would cost a disk read. Each completed batch's record bytes are copied
 * into a ring of read_cache_bytes, indexed by (segment seq, offset); batches complete in
 * (seq, offset) order, so the index is sorted and a lookup is a binary search. Records never
 * change once written (a segment seq is never reused, a failed batch is not cached), so an
 * entry stays valid until the ring overwrites it. A record is served only whole from one batch
 * (records never span batches); anything else is read from the file as before.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RC_ENTS 4096u

struct rc_ent {
	uint32_t seq;
	uint32_t len;
	uint64_t off;            /* segment offset of the first byte */
	uint64_t rpos;           /* ring position (monotonic) of the first byte */
};

struct spool_rcache {
	uint8_t *mem;
	uint64_t cap;
	uint64_t wpos;           /* next ring position */
	struct rc_ent ents[RC_ENTS];
	uint32_t first, n;       /* ents[first .. first+n) modulo RC_ENTS, oldest first */
};

int spool_rcache_init(struct spool *sp)
{
	if (!sp->t.read_cache_bytes)
		return 0;
	struct spool_rcache *rc = calloc(1, sizeof(*rc));
	if (!rc || !(rc->mem = malloc(sp->t.read_cache_bytes))) {
		free(rc);
		return -ENOMEM;
	}
	rc->cap = sp->t.read_cache_bytes;
	sp->rc = rc;
	return 0;
}

void spool_rcache_free(struct spool *sp)
{
	if (sp->rc)
		free(sp->rc->mem);
	free(sp->rc);
	sp->rc = NULL;
}

static struct rc_ent *ent_at(struct spool_rcache *rc, uint32_t i)
{
	return &rc->ents[(rc->first + i) % RC_ENTS];
}

static void drop_oldest(struct spool_rcache *rc)
{
	rc->first = (rc->first + 1) % RC_ENTS;
	rc->n--;
}

void spool_rcache_put(struct spool *sp, uint32_t seq, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc || len == 0 || len > rc->cap / 2)
		return;
	if (rc->n) {
		/* order is what the lookup relies on; anything else (never expected) starts over */
		struct rc_ent *last = ent_at(rc, rc->n - 1);
		if (seq < last->seq || (seq == last->seq && off < last->off + last->len))
			rc->n = 0;
	}
	uint64_t p = rc->wpos % rc->cap;
	if (p + len > rc->cap)
		rc->wpos += rc->cap - p; /* keep a batch contiguous: skip the end of the ring */
	uint64_t start = rc->wpos;
	rc->wpos += len;
	uint64_t keep = rc->wpos > rc->cap ? rc->wpos - rc->cap : 0; /* older bytes are overwritten */
	while (rc->n && (ent_at(rc, 0)->rpos < keep || rc->n == RC_ENTS))
		drop_oldest(rc);
	memcpy(rc->mem + start % rc->cap, data, len);
	*ent_at(rc, rc->n++) = (struct rc_ent){ .seq = seq, .len = len, .off = off, .rpos = start };
}

bool spool_rcache_get(struct spool *sp, uint32_t seq, uint64_t off, uint8_t *dst, uint32_t len)
{
	struct spool_rcache *rc = sp->rc;
	if (!rc || rc->n == 0)
		return false;
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
		return false;
	const struct rc_ent *e = ent_at(rc, lo - 1);
	if (e->seq != seq || off + len > e->off + e->len)
		return false;
	memcpy(dst, rc->mem + (e->rpos + (off - e->off)) % rc->cap, len);
	return true;
}
