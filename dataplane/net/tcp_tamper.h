/* SPDX-License-Identifier: MIT */
/*
 * tcp_tamper.h: a seeded fault layer for TCP segments, for tests. It sits where a stack's
 * output function would (tcp_tamper_output has the tcp_output_fn shape) and forwards to the
 * real output after applying, deterministically from its seed: random loss, duplication and
 * reordering (a held segment goes out after the next one), and rules that drop or duplicate
 * the n-th segment whose flags match. Not for production paths: nothing enables it unless a
 * test builds one.
 */
#ifndef DPMAIL_TCP_TAMPER_H
#define DPMAIL_TCP_TAMPER_H

#include <stdint.h>

#include "net/tcp-t.h"

enum tcp_tamper_action { TCP_TAMPER_DROP = 1, TCP_TAMPER_DUP, TCP_TAMPER_DELAY };

struct tcp_tamper_rule {
	uint8_t flags_mask, flags_val;  /* match when (flags & mask) == val */
	uint32_t min_len;               /* and the payload is at least this long */
	uint32_t nth;                   /* act on the nth match (1-based); 0 = every match */
	enum tcp_tamper_action action;
	uint32_t seen;                  /* matches so far */
};

#define TCP_TAMPER_RULES 8

struct tcp_tamper {
	tcp_output_fn next;
	void *next_ctx;
	uint64_t rng;
	uint32_t loss_pm, dup_pm, reorder_pm; /* per mille */
	struct tcp_tamper_rule rule[TCP_TAMPER_RULES];
	uint32_t nrules;
	struct rte_mbuf *held;
	uint32_t held_src, held_dst;
	uint64_t dropped, duplicated, reordered, passed;
};

/* Initialises t to forward to next/next_ctx with no faults, seeded with seed. */
void tcp_tamper_init(struct tcp_tamper *t, tcp_output_fn next, void *next_ctx, uint64_t seed);
/* Adds a rule; -1 when the table is full. */
int tcp_tamper_add_rule(struct tcp_tamper *t, const struct tcp_tamper_rule *r);
/* The tcp_output_fn: ctx is the struct tcp_tamper. Ownership of m passes in every case. */
int tcp_tamper_output(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst);
/* Sends a held (reordered) segment now; call once per loop turn. */
void tcp_tamper_flush(struct tcp_tamper *t);

#endif
