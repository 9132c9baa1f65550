/* SPDX-License-Identifier: MIT */
/* bench_idset.c: the Message-ID set (see bench_idset.h). */
#include "bench_idset.h"

#include <stdlib.h>
#include <string.h>

#define HASH_BITS 24

static uint64_t hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

void bench_idset_init(struct bench_idset *s)
{
	memset(s, 0, sizeof(*s));
}

void bench_idset_free(struct bench_idset *s)
{
	free(s->slots);
	free(s->arena);
	memset(s, 0, sizeof(*s));
}

static size_t find(const struct bench_idset *s, const char *id, size_t len, uint64_t h, bool *found)
{
	size_t mask = s->nslots - 1;
	uint64_t tag = h & ((1u << HASH_BITS) - 1);
	for (size_t i = (size_t)(h >> HASH_BITS) & mask;; i = (i + 1) & mask) {
		uint64_t v = s->slots[i];
		if (v == 0) {
			*found = false;
			return i;
		}
		if ((v & ((1u << HASH_BITS) - 1)) == tag) {
			const char *str = s->arena + (v >> HASH_BITS) - 1;
			if (strlen(str) == len && memcmp(str, id, len) == 0) {
				*found = true;
				return i;
			}
		}
	}
}

static int grow(struct bench_idset *s)
{
	size_t n = s->nslots ? s->nslots * 2 : 1024;
	uint64_t *ns = calloc(n, sizeof(*ns));
	if (!ns)
		return -1;
	uint64_t *old = s->slots;
	size_t on = s->nslots;
	s->slots = ns;
	s->nslots = n;
	for (size_t i = 0; i < on; i++) {
		if (!old[i])
			continue;
		const char *str = s->arena + (old[i] >> HASH_BITS) - 1;
		bool f;
		size_t at = find(s, str, strlen(str), hash(str, strlen(str)), &f);
		ns[at] = old[i];
	}
	free(old);
	return 0;
}

int bench_idset_add(struct bench_idset *s, const char *id, size_t len)
{
	if ((s->count + 1) * 2 > s->nslots && grow(s) < 0)
		return -1;
	uint64_t h = hash(id, len);
	bool found;
	size_t at = find(s, id, len, h, &found);
	if (found)
		return 0;
	if (s->arena_len + len + 1 > s->arena_cap) {
		size_t cap = s->arena_cap ? s->arena_cap * 2 : 65536;
		while (cap < s->arena_len + len + 1)
			cap *= 2;
		char *a = realloc(s->arena, cap);
		if (!a)
			return -1;
		s->arena = a;
		s->arena_cap = cap;
	}
	memcpy(s->arena + s->arena_len, id, len);
	s->arena[s->arena_len + len] = 0;
	s->slots[at] = ((uint64_t)(s->arena_len + 1) << HASH_BITS) | (h & ((1u << HASH_BITS) - 1));
	s->arena_len += len + 1;
	s->count++;
	return 1;
}

bool bench_idset_has(const struct bench_idset *s, const char *id, size_t len)
{
	if (!s->nslots)
		return false;
	bool found;
	find(s, id, len, hash(id, len), &found);
	return found;
}

void bench_idset_each(const struct bench_idset *s, void (*fn)(void *ctx, const char *id), void *ctx)
{
	for (size_t off = 0; off < s->arena_len; off += strlen(s->arena + off) + 1)
		fn(ctx, s->arena + off);
}

static void write_one(void *ctx, const char *id)
{
	fprintf(ctx, "%s\n", id);
}

int bench_idset_write(const struct bench_idset *s, FILE *f)
{
	bench_idset_each(s, write_one, f);
	return ferror(f) ? -1 : 0;
}
