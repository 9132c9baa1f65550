/* SPDX-License-Identifier: MIT */
/*
 * dlv_shape-t.h: types of per-destination traffic shaping: the token bucket that limits
 * messages per second, the automatic backoff controller (AIMD) that cuts a destination's rate
 * when it answers with many temporary failures, and the retry schedule.
 *
 * All of these are per lcore: a destination's configured limits are divided between the worker
 * lcores (dlv_shape_split), so no cross-core state or lock is needed.
 */
#ifndef DPMAIL_DLV_SHAPE_T_H
#define DPMAIL_DLV_SHAPE_T_H

#include <stdint.h>

/* Rates are kept in milli-messages per second so a per-core share of a small limit
 * (e.g. 1 msg/s over 4 cores) stays exact. */
struct dlv_bucket {
	uint64_t rate_mps;        /* refill, milli-messages per second; 0 = unlimited */
	uint64_t burst_milli;     /* capacity, milli-messages (>= 1000 when rate_mps > 0) */
	uint64_t level;           /* current tokens, in 1e-9 message units (see dlv_shape.c) */
	uint64_t last_us;         /* time of the last refill */
};

/*
 * Automatic backoff. Outcomes are counted in fixed windows; a window whose share of temporary
 * failures (4xx, 421, dropped connections) reaches fail_pct cuts the rate factor in half
 * (multiplicative decrease, floor min_factor); each clean window restores step_factor
 * (additive increase) up to 1.0. Factors are in per-mille.
 */
struct dlv_backoff_policy {
	uint32_t window_us;       /* length of one observation window */
	uint32_t min_samples;     /* fewer outcomes in a window: no decision */
	uint32_t fail_pct;        /* temp-failure share (percent) that triggers a cut */
	uint32_t min_factor;      /* per-mille floor of the rate factor */
	uint32_t step_factor;     /* per-mille restored per clean window */
};

struct dlv_backoff {
	uint64_t window_start_us;
	uint32_t ok;              /* outcomes in the current window */
	uint32_t tempfail;
	uint32_t factor;          /* per-mille applied to the configured rate (1000 = full) */
	uint32_t cuts;            /* decreases so far, for stats */
};

/* Retry schedule: first delay, then doubling with +-jitter, capped; give up after max_age. */
struct dlv_retry_policy {
	uint64_t first_us;        /* delay after the first temporary failure */
	uint64_t cap_us;          /* largest delay between attempts */
	uint64_t max_age_us;      /* a message older than this expires (bounced as expired) */
	uint32_t jitter_pct;      /* +- percent of each delay, spreads retries of a burst */
};

#endif
