/* SPDX-License-Identifier: MIT */
/*
 * dkim_arena.c: bump allocation in recycled chunks for libopendkim's per-message memory (see
 * dkim_arena.h). A message's allocations are bounded by the header limit plus libopendkim's
 * fixed buffers (its dynamic strings stop growing at 64 KiB), so an arena stays small; the
 * per-lcore pool keeps the chunks warm, so in steady state libopendkim's own allocations never
 * reach malloc (OpenSSL's, inside it, still do).
 */
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_arena.h"

void dkim_arena_init(struct dkim_arena *a, struct dkim_chunk_pool *pool)
{
	a->pool = pool;
	a->chunks = NULL;
	a->total = 0;
}

static struct dkim_chunk *chunk_get(struct dkim_chunk_pool *pool, size_t need)
{
	struct dkim_chunk *c;
	if (need <= DKIM_ARENA_CHUNK && pool->free) {
		c = pool->free;
		pool->free = c->next;
		pool->n_free--;
	} else {
		size_t cap = need > DKIM_ARENA_CHUNK ? need : DKIM_ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
	}
	c->used = 0;
	c->next = NULL;
	return c;
}

void *dkim_arena_alloc(struct dkim_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	struct dkim_chunk *c = a->chunks;
	if (!c || c->cap - c->used < n) {
		struct dkim_chunk *nc = chunk_get(a->pool, n);
		if (!nc)
			return NULL;
		if (c && nc->cap == DKIM_ARENA_CHUNK) {
			nc->next = c;		/* new current chunk */
			a->chunks = nc;
		} else if (c) {
			nc->next = c->next;	/* a big one-off: keep the current chunk in front */
			c->next = nc;
		} else {
			a->chunks = nc;
		}
		c = nc;
	}
	void *p = c->mem + c->used;
	c->used += n;
	a->total += n;
	return p;
}

void dkim_arena_reset(struct dkim_arena *a)
{
	struct dkim_chunk *c = a->chunks, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->cap == DKIM_ARENA_CHUNK && a->pool->n_free < a->pool->max_free) {
			c->next = a->pool->free;
			a->pool->free = c;
			a->pool->n_free++;
		} else {
			free(c);
		}
	}
	a->chunks = NULL;
	a->total = 0;
}

void dkim_chunk_pool_drain(struct dkim_chunk_pool *pool)
{
	struct dkim_chunk *c = pool->free, *next;
	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	pool->free = NULL;
	pool->n_free = 0;
}

void *dkim_arena_lib_malloc(void *closure, size_t n)
{
	return closure ? dkim_arena_alloc(closure, n) : malloc(n);
}

void dkim_arena_lib_free(void *closure, void *p)
{
	if (!closure)
		free(p);
	/* arena memory goes back in one piece when the message ends */
}
