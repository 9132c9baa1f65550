/* SPDX-License-Identifier: MIT */
/*
 * dkim_arena.h: per-message memory for libopendkim (private to crypto/dkim). libopendkim
 * allocates through the DKIM_LIB's malloc/free hooks with a per-handle closure; we pass the
 * message's arena as that closure. Allocation is a pointer bump in chunks recycled by the
 * lcore; free is a no-op and everything goes back when the message ends. This also reclaims
 * what libopendkim 2.11 forgets to free after an ed25519 signature (its key/output buffers).
 */
#ifndef DPMAIL_DKIM_ARENA_H
#define DPMAIL_DKIM_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define DKIM_ARENA_CHUNK (16 * 1024)

struct dkim_chunk {
	struct dkim_chunk *next;
	size_t cap;		/* usable bytes after the header */
	size_t used;
	_Alignas(16) unsigned char mem[];
};

/* The recycled chunks of one lcore. */
struct dkim_chunk_pool {
	struct dkim_chunk *free;
	unsigned n_free;
	unsigned max_free;
};

struct dkim_arena {
	struct dkim_chunk_pool *pool;
	struct dkim_chunk *chunks;	/* current chunk first */
	size_t total;			/* bytes handed out (statistics) */
};

void dkim_arena_init(struct dkim_arena *a, struct dkim_chunk_pool *pool);
void *dkim_arena_alloc(struct dkim_arena *a, size_t n);
/* Return every chunk to the pool (or to malloc beyond pool->max_free). */
void dkim_arena_reset(struct dkim_arena *a);
void dkim_chunk_pool_drain(struct dkim_chunk_pool *pool);

/* The DKIM_LIB hooks: closure is a struct dkim_arena *, or NULL for library-wide memory. */
void *dkim_arena_lib_malloc(void *closure, size_t n);
void dkim_arena_lib_free(void *closure, void *p);

#endif
