/* SPDX-License-Identifier: MIT */
/*
 * dlv_heap.h: a binary min-heap of (due time, item) for the retry schedule of one lcore.
 * Items remember their slot so they can be removed or rescheduled in O(log n) (a message
 * flushed by the operator, a destination resumed). Millions of deferred messages cost 16 bytes
 * of heap each. The heap owns only its array; items belong to the caller.
 */
#ifndef DPMAIL_DLV_HEAP_H
#define DPMAIL_DLV_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define DLV_HEAP_NONE UINT32_MAX

/* Embedded in each schedulable item. */
struct dlv_heap_node {
	uint32_t slot;            /* index in the heap, DLV_HEAP_NONE when not queued */
};

struct dlv_heap_ent {
	uint64_t due_us;
	struct dlv_heap_node *node;
};

struct dlv_heap {
	struct dlv_heap_ent *ent;
	uint32_t n;
	uint32_t cap;
	uint32_t max;             /* hard bound: push fails beyond it */
};

/* Returns 0 or -ENOMEM. The array grows on demand up to max entries. */
int dlv_heap_init(struct dlv_heap *h, uint32_t initial, uint32_t max);
void dlv_heap_free(struct dlv_heap *h);

static inline void dlv_heap_node_init(struct dlv_heap_node *n) { n->slot = DLV_HEAP_NONE; }
static inline bool dlv_heap_queued(const struct dlv_heap_node *n) { return n->slot != DLV_HEAP_NONE; }
static inline uint32_t dlv_heap_len(const struct dlv_heap *h) { return h->n; }

/* Insert, or move if already queued. Returns 0, or -ENOSPC at the bound / -ENOMEM. */
int dlv_heap_push(struct dlv_heap *h, struct dlv_heap_node *node, uint64_t due_us);
/* Remove a queued node (no-op if not queued). */
void dlv_heap_remove(struct dlv_heap *h, struct dlv_heap_node *node);
/* The earliest due time, or UINT64_MAX when empty. */
uint64_t dlv_heap_peek_due(const struct dlv_heap *h);
/* Pop the earliest node if it is due at now_us; NULL otherwise. */
struct dlv_heap_node *dlv_heap_pop_due(struct dlv_heap *h, uint64_t now_us);

#endif
