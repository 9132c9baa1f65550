/* SPDX-License-Identifier: MIT */
/*
 * ring.h: a single-producer single-consumer ring of variable-length records, the channel
 * between one worker lcore and the control plane (DNS requests and answers, accounting
 * records). Lock-free: the producer owns head, the consumer owns tail, each publishes with a
 * release store. Works without the DPDK EAL (the control plane is also tested without it).
 * Records are 8-byte aligned; a record that does not fit before the end of the buffer is
 * preceded by a skip marker and written at the start.
 */
#ifndef DPMAIL_CTL_RING_H
#define DPMAIL_CTL_RING_H

#include <stddef.h>
#include <stdint.h>

struct ctl_ring {
	uint64_t head __attribute__((aligned(64))); /* bytes produced (producer) */
	uint64_t drops;                             /* records refused: ring full (producer) */
	uint64_t tail __attribute__((aligned(64))); /* bytes consumed (consumer) */
	uint8_t *buf __attribute__((aligned(64)));
	size_t size;                                /* power of two */
};

/* A ring of size bytes (rounded up to a power of two, at least 4 KiB). NULL on ENOMEM. */
struct ctl_ring *ctl_ring_new(size_t size);
void ctl_ring_free(struct ctl_ring *r);

/* Producer: copies one record of len bytes (len <= size/4). 0, or -ENOBUFS (counted). */
int ctl_ring_put(struct ctl_ring *r, const void *rec, size_t len);
/* Producer, two parts (header + body) without an intermediate copy. */
int ctl_ring_put2(struct ctl_ring *r, const void *a, size_t alen, const void *b, size_t blen);

/* Consumer: the oldest record (valid until ctl_ring_pop), or NULL when empty. */
const void *ctl_ring_peek(struct ctl_ring *r, size_t *len);
void ctl_ring_pop(struct ctl_ring *r);

static inline uint64_t ctl_ring_drops(const struct ctl_ring *r)
{
	return __atomic_load_n(&r->drops, __ATOMIC_RELAXED);
}

#endif
