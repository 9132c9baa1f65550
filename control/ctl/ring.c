/* SPDX-License-Identifier: MIT */
/* ring.c: SPSC ring of variable-length records (see ring.h). */
#include "ctl/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR 8u
#define SKIP UINT32_MAX

static size_t round8(size_t n) { return (n + 7u) & ~(size_t)7u; }

struct ctl_ring *ctl_ring_new(size_t size)
{
	size_t sz = 4096;
	while (sz < size)
		sz <<= 1;
	struct ctl_ring *r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->buf = aligned_alloc(64, sz);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	r->size = sz;
	return r;
}

void ctl_ring_free(struct ctl_ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

int ctl_ring_put2(struct ctl_ring *r, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t len = alen + blen, need = HDR + round8(len);
	if (len > r->size / 4) {
		__atomic_store_n(&r->drops, r->drops + 1, __ATOMIC_RELAXED);
		return -ENOBUFS;
	}
	uint64_t h = r->head, t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	size_t off = h & (r->size - 1), contig = r->size - off;
	size_t total = contig < need ? contig + need : need;
	if (h + total - t > r->size) {
		__atomic_store_n(&r->drops, r->drops + 1, __ATOMIC_RELAXED);
		return -ENOBUFS;
	}
	if (contig < need) { /* contig is a multiple of 8, so a marker always fits */
		uint32_t skip = SKIP;
		memcpy(r->buf + off, &skip, sizeof(skip));
		h += contig;
		off = 0;
	}
	uint32_t l32 = (uint32_t)len;
	memcpy(r->buf + off, &l32, sizeof(l32));
	memcpy(r->buf + off + HDR, a, alen);
	if (blen)
		memcpy(r->buf + off + HDR + alen, b, blen);
	__atomic_store_n(&r->head, h + need, __ATOMIC_RELEASE);
	return 0;
}

int ctl_ring_put(struct ctl_ring *r, const void *rec, size_t len)
{
	return ctl_ring_put2(r, rec, len, NULL, 0);
}

const void *ctl_ring_peek(struct ctl_ring *r, size_t *len)
{
	uint64_t t = r->tail, h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (t == h)
		return NULL;
	size_t off = t & (r->size - 1);
	uint32_t l32;
	memcpy(&l32, r->buf + off, sizeof(l32));
	if (l32 == SKIP) {
		t += r->size - off;
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
		if (t == h)
			return NULL;
		off = 0;
		memcpy(&l32, r->buf, sizeof(l32));
	}
	*len = l32;
	return r->buf + off + HDR;
}

void ctl_ring_pop(struct ctl_ring *r)
{
	size_t off = r->tail & (r->size - 1);
	uint32_t l32;
	memcpy(&l32, r->buf + off, sizeof(l32));
	__atomic_store_n(&r->tail, r->tail + HDR + round8(l32), __ATOMIC_RELEASE);
}
