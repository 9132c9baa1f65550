/* SPDX-License-Identifier: MIT */
/*
 * clu_table.c: the immutable per-destination budget table that the cluster thread publishes
 * with rcu_assign_pointer and worker lcores search once per destination and loop turn.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/clu.h"

struct clu_table *clu_table_new(unsigned n)
{
	return calloc(1, sizeof(struct clu_table) + (size_t)n * sizeof(struct clu_entry));
}

void clu_table_free(struct clu_table *t)
{
	free(t);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct clu_entry *)a)->key, ((const struct clu_entry *)b)->key);
}

void clu_table_sort(struct clu_table *t)
{
	qsort(t->e, t->n, sizeof(t->e[0]), entry_cmp);
}

struct clu_entry *clu_table_find(const struct clu_table *t, const char *key)
{
	if (!t)
		return NULL;
	unsigned lo = 0, hi = t->n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcasecmp(key, t->e[mid].key);
		if (c == 0)
			return (struct clu_entry *)&t->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
