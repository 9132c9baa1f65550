/* SPDX-License-Identifier: MIT */
/* dlv_heap.c: indexed binary min-heap (see dlv_heap.h). */
#include "deliver/dlv_heap.h"

#include <errno.h>
#include <stdlib.h>

int dlv_heap_init(struct dlv_heap *h, uint32_t initial, uint32_t max)
{
	h->n = 0;
	h->max = max;
	h->cap = initial ? initial : 16;
	h->ent = malloc(sizeof(*h->ent) * h->cap);
	return h->ent ? 0 : -ENOMEM;
}

void dlv_heap_free(struct dlv_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->ent[i].node->slot = DLV_HEAP_NONE;
	free(h->ent);
	h->ent = NULL;
	h->n = h->cap = 0;
}

static void place(struct dlv_heap *h, uint32_t i, struct dlv_heap_ent e)
{
	h->ent[i] = e;
	e.node->slot = i;
}

static void sift_up(struct dlv_heap *h, uint32_t i)
{
	struct dlv_heap_ent e = h->ent[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (h->ent[p].due_us <= e.due_us)
			break;
		place(h, i, h->ent[p]);
		i = p;
	}
	place(h, i, e);
}

static void sift_down(struct dlv_heap *h, uint32_t i)
{
	struct dlv_heap_ent e = h->ent[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->ent[c + 1].due_us < h->ent[c].due_us)
			c++;
		if (e.due_us <= h->ent[c].due_us)
			break;
		place(h, i, h->ent[c]);
		i = c;
	}
	place(h, i, e);
}

int dlv_heap_push(struct dlv_heap *h, struct dlv_heap_node *node, uint64_t due_us)
{
	if (dlv_heap_queued(node)) {
		uint32_t i = node->slot;
		uint64_t old = h->ent[i].due_us;
		h->ent[i].due_us = due_us;
		if (due_us < old)
			sift_up(h, i);
		else
			sift_down(h, i);
		return 0;
	}
	if (h->n == h->max)
		return -ENOSPC;
	if (h->n == h->cap) {
		uint32_t cap = h->cap * 2 > h->max ? h->max : h->cap * 2;
		struct dlv_heap_ent *e = realloc(h->ent, sizeof(*e) * cap);
		if (!e)
			return -ENOMEM;
		h->ent = e;
		h->cap = cap;
	}
	h->ent[h->n] = (struct dlv_heap_ent){ .due_us = due_us, .node = node };
	node->slot = h->n++;
	sift_up(h, node->slot);
	return 0;
}

void dlv_heap_remove(struct dlv_heap *h, struct dlv_heap_node *node)
{
	if (!dlv_heap_queued(node))
		return;
	uint32_t i = node->slot;
	node->slot = DLV_HEAP_NONE;
	if (i == --h->n)
		return;
	uint64_t removed = h->ent[i].due_us;
	place(h, i, h->ent[h->n]);
	if (h->ent[i].due_us < removed)
		sift_up(h, i);
	else
		sift_down(h, i);
}

uint64_t dlv_heap_peek_due(const struct dlv_heap *h)
{
	return h->n ? h->ent[0].due_us : UINT64_MAX;
}

struct dlv_heap_node *dlv_heap_pop_due(struct dlv_heap *h, uint64_t now_us)
{
	if (h->n == 0 || h->ent[0].due_us > now_us)
		return NULL;
	struct dlv_heap_node *top = h->ent[0].node;
	dlv_heap_remove(h, top);
	return top;
}
