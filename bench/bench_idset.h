/* SPDX-License-Identifier: MIT */
/*
 * bench_idset.h: a set of Message-ID strings (open addressing over an append-only arena) used
 * by the sink to count unique messages and duplicates, and by `verify` to compare lists.
 */
#ifndef DPMAIL_BENCH_IDSET_H
#define DPMAIL_BENCH_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bench_idset {
	uint64_t *slots;     /* 0 = empty; else (arena offset + 1) << 24 | hash low bits */
	size_t nslots;       /* power of two */
	size_t count;
	char *arena;         /* NUL-terminated strings back to back */
	size_t arena_len, arena_cap;
};

void bench_idset_init(struct bench_idset *s);
void bench_idset_free(struct bench_idset *s);
/* Adds id; returns 1 if new, 0 if already present, -1 on allocation failure. */
int bench_idset_add(struct bench_idset *s, const char *id, size_t len);
bool bench_idset_has(const struct bench_idset *s, const char *id, size_t len);
/* Writes every id, one a line; 0 or -1. */
int bench_idset_write(const struct bench_idset *s, FILE *f);
/* Calls fn for each id (in insertion order). */
void bench_idset_each(const struct bench_idset *s, void (*fn)(void *ctx, const char *id), void *ctx);

#endif
