/* SPDX-License-Identifier: MIT */
/*
 * dlv_shape.h: per-destination shaping primitives (see dlv_shape-t.h). Pure functions of their
 * state and the caller's clock: no allocation, no system calls, usable on worker lcores.
 */
#ifndef DPMAIL_DLV_SHAPE_H
#define DPMAIL_DLV_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "deliver/dlv_shape-t.h"

/* Configure a bucket for rate_mps milli-messages/s with a burst of burst_msgs messages
 * (at least 1); it starts full. rate_mps == 0 means unlimited. */
void dlv_bucket_init(struct dlv_bucket *b, uint64_t rate_mps, uint32_t burst_msgs, uint64_t now_us);

/* Change the rate (e.g. after a backoff decision or a new snapshot) keeping the level. */
void dlv_bucket_set_rate(struct dlv_bucket *b, uint64_t rate_mps, uint64_t now_us);

/* Take one message's token. Returns true if the message may go now. */
bool dlv_bucket_take(struct dlv_bucket *b, uint64_t now_us);

/* Microseconds until one token is available (0 if one is available now). */
uint64_t dlv_bucket_wait_us(const struct dlv_bucket *b, uint64_t now_us);

/*
 * The share of a destination-wide limit that lcore `idx` of `n` gets, so the shares add up to
 * the limit exactly (the remainder goes to the lowest indexes). Returns 0 for a lcore that gets
 * nothing, which callers must treat as "no capacity here", not "unlimited".
 */
uint64_t dlv_shape_split(uint64_t limit, unsigned idx, unsigned n);

void dlv_backoff_policy_defaults(struct dlv_backoff_policy *p);
void dlv_backoff_init(struct dlv_backoff *bo, uint64_t now_us);
/*
 * Record one outcome (tempfail: 4xx, 421 or a dropped connection; otherwise any final answer).
 * Returns true when the rate factor changed, so the caller re-applies it to the bucket.
 */
bool dlv_backoff_record(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, bool tempfail,
			uint64_t now_us);
/* Closes the current window if it has ended, without an outcome (a failing window cuts as in
 * dlv_backoff_record), and takes an additive step when one is due. Called periodically so a
 * destination's rate is cut and recovers even while nothing is sent. True when the factor
 * changed. */
bool dlv_backoff_tick(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, uint64_t now_us);
/* A cut decided elsewhere (another lcore or node, through the cluster): lowers the factor to
 * `factor` per-mille if that is lower; restoration then goes on from there. An unrated
 * destination takes the rate observed lately as its base. True when the factor changed. */
bool dlv_backoff_adopt(struct dlv_backoff *bo, uint32_t factor, uint64_t now_us);
/* The rate the bucket should run at: rate_mps (the configured share; 0 = unlimited) scaled by
 * the factor. Unrated destinations scale the rate observed before the first cut; 0 (unlimited)
 * when fully restored or when nothing was observed. Never 0 for a non-zero base. */
uint64_t dlv_backoff_apply(const struct dlv_backoff *bo, uint64_t rate_mps);

void dlv_retry_policy_defaults(struct dlv_retry_policy *p);
/*
 * When to try again after `attempts` failed attempts (>= 1) of a message that arrived at
 * arrival_us. rnd is a uniformly random 32-bit value from the caller (the lcore's PRNG).
 * Returns the absolute time of the next attempt, or 0 if the message has expired (its next
 * attempt would fall after arrival + max_age).
 */
uint64_t dlv_retry_next(const struct dlv_retry_policy *p, uint32_t attempts, uint64_t arrival_us,
			uint64_t now_us, uint32_t rnd);

#endif
