/* SPDX-License-Identifier: MIT */
/*
 * spool_buf.c: where batch buffers come from when no warm spare fits (spool_rcache.c keeps the
 * spares). A standard buffer (SPOOL_BUF_STD) is a slot of a slab, one private anonymous mapping
 * of SLAB_SLOTS slots: the read cache holds up to thousands of batch buffers, and a mapping
 * each would be a VMA each (the kernel merges neighbours only while untouched), against
 * vm.max_map_count (65,530 by default) for all workers together. A slot given back returns its
 * pages to the kernel (MADV_DONTNEED: its next batch starts from zero pages again) and is
 * reused; a slab whose slots are all free is unmapped. Larger buffers (a batch over 2 MiB,
 * rare) are mappings of their own. Off the per-message path: only cold buffers come here.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_SLOTS 32u
#define SLAB_BYTES ((size_t)SLAB_SLOTS * SPOOL_BUF_STD)

struct spool_bufslab {
	uint8_t *base;
	uint32_t free_mask;      /* bit i: slot i is free */
};

static int slab_add(struct spool *sp)
{
	struct spool_bufslab *a = realloc(sp->slabs, (sp->nslabs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	sp->slabs = a;
	void *m = mmap(NULL, SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	SPOOL_BUF_POISON(m, SLAB_BYTES);
	a[sp->nslabs++] = (struct spool_bufslab){ .base = m, .free_mask = UINT32_MAX };
	return 0;
}

int spool_bufmem_take(struct spool *sp, uint32_t size, struct spool_buf *out)
{
	if (size != SPOOL_BUF_STD) {
		void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (m == MAP_FAILED)
			return -ENOMEM;
		sp->st.buf_maps++;
		*out = (struct spool_buf){ .mem = m, .size = size, .hwm = 0 };
		return 0;
	}
	uint32_t i = 0;
	while (i < sp->nslabs && !sp->slabs[i].free_mask)
		i++;
	if (i == sp->nslabs && slab_add(sp))
		return -ENOMEM;
	struct spool_bufslab *sl = &sp->slabs[i];
	unsigned slot = (unsigned)__builtin_ctz(sl->free_mask);
	sl->free_mask &= ~(1u << slot);
	uint8_t *m = sl->base + (size_t)slot * SPOOL_BUF_STD;
	SPOOL_BUF_UNPOISON(m, SPOOL_BUF_STD);
	sp->st.buf_maps++;
	*out = (struct spool_buf){ .mem = m, .size = SPOOL_BUF_STD, .hwm = 0 };
	return 0;
}

void spool_bufmem_give(struct spool *sp, struct spool_buf bb)
{
	if (!bb.mem)
		return;
	if (bb.size != SPOOL_BUF_STD) {
		SPOOL_BUF_UNPOISON(bb.mem, bb.size); /* the shadow of a range mapped again later */
		munmap(bb.mem, bb.size);
		return;
	}
	for (uint32_t i = 0; i < sp->nslabs; i++) {
		struct spool_bufslab *sl = &sp->slabs[i];
		if (bb.mem < sl->base || bb.mem >= sl->base + SLAB_BYTES)
			continue;
		if (bb.hwm)
			madvise(bb.mem, bb.hwm, MADV_DONTNEED);
		SPOOL_BUF_POISON(bb.mem, SPOOL_BUF_STD);
		sl->free_mask |= 1u << ((size_t)(bb.mem - sl->base) / SPOOL_BUF_STD);
		if (sl->free_mask == UINT32_MAX) {
			SPOOL_BUF_UNPOISON(sl->base, SLAB_BYTES);
			munmap(sl->base, SLAB_BYTES);
			sp->slabs[i] = sp->slabs[--sp->nslabs];
		}
		return;
	}
}

void spool_bufmem_fini(struct spool *sp)
{
	for (uint32_t i = 0; i < sp->nslabs; i++) {
		SPOOL_BUF_UNPOISON(sp->slabs[i].base, SLAB_BYTES);
		munmap(sp->slabs[i].base, SLAB_BYTES);
	}
	free(sp->slabs);
	sp->slabs = NULL;
	sp->nslabs = 0;
}
