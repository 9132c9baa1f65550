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
 * Automatic backoff (AIMD). Outcomes are counted in fixed windows; a window with at least
 * min_samples outcomes whose share of temporary failures (4xx, 421, dropped connections)
 * reaches fail_pct cuts the rate factor to decrease_pct percent of itself (multiplicative
 * decrease, never below min_factor). While the factor is below full, every step_us without a
 * failing window restores step_factor (additive increase), also while nothing is sent: the
 * periodic dlv_backoff_tick closes windows and takes steps without outcomes. Factors are in
 * per-mille of the destination's configured rate; a destination without a configured rate backs
 * off from the rate it was observed to send at in the window that led to its first cut
 * (base_mps), and is unlimited again once fully restored. control/config maps
 * delivery.backoff.* onto the policy.
 */
struct dlv_backoff_policy {
	uint32_t window_us;       /* length of one observation window */
	uint32_t min_samples;     /* fewer outcomes in a window: no decision */
	uint32_t fail_pct;        /* temp-failure share (percent) that triggers a cut */
	uint32_t decrease_pct;    /* a cut keeps this percent of the factor (50 = halve) */
	uint32_t min_factor;      /* per-mille floor of the rate factor */
	uint32_t step_factor;     /* per-mille restored per step */
	uint32_t step_us;         /* additive increase interval */
};

struct dlv_backoff {
	uint64_t window_start_us;
	uint64_t changed_us;      /* last cut or step: the next step is due step_us later */
	uint32_t ok;              /* outcomes in the current window */
	uint32_t tempfail;
	uint32_t factor;          /* per-mille applied to the rate (1000 = full) */
	uint32_t cuts;            /* decreases so far, for stats */
	uint64_t last_rate_mps;   /* outcomes/s observed in the last closed window (milli) */
	uint64_t base_mps;        /* unrated destination backing off: the rate the factor scales */
};

/* Retry schedule: first delay, then doubling with +-jitter, capped; give up after max_age. */
struct dlv_retry_policy {
	uint64_t first_us;        /* delay after the first temporary failure */
	uint64_t cap_us;          /* largest delay between attempts */
	uint64_t max_age_us;      /* a message older than this expires (bounced as expired) */
	uint32_t jitter_pct;      /* +- percent of each delay, spreads retries of a burst */
};

#endif
