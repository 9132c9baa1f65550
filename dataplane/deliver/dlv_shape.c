/* SPDX-License-Identifier: MIT */
/*
 * dlv_shape.c: token bucket, lcore share of a limit, AIMD backoff and the retry schedule.
 * Everything here is integer arithmetic on caller-supplied time, so a test can drive it with a
 * virtual clock and get exact answers.
 */
#include "deliver/dlv_shape.h"

#define US_PER_S 1000000ull

/* Levels are kept in micro-milli-messages (1e-9 message) so that every microsecond of refill
 * counts exactly and no fraction is lost between calls. */
#define UNIT 1000000ull

void dlv_bucket_init(struct dlv_bucket *b, uint64_t rate_mps, uint32_t burst_msgs, uint64_t now_us)
{
	b->rate_mps = rate_mps;
	b->burst_milli = (uint64_t)(burst_msgs ? burst_msgs : 1) * 1000;
	b->level = b->burst_milli * UNIT;
	b->last_us = now_us;
}

static void bucket_refill(struct dlv_bucket *b, uint64_t now_us)
{
	if (now_us <= b->last_us || b->rate_mps == 0)
		return;
	uint64_t dt = now_us - b->last_us;
	uint64_t cap = b->burst_milli * UNIT;
	uint64_t room = cap - b->level;
	/* rate_mps milli-msgs/s == rate_mps micro-milli-msgs per microsecond. */
	if (dt >= room / b->rate_mps + 1)
		b->level = cap;
	else
		b->level += dt * b->rate_mps;
	if (b->level > cap)
		b->level = cap;
	b->last_us = now_us;
}

void dlv_bucket_set_rate(struct dlv_bucket *b, uint64_t rate_mps, uint64_t now_us)
{
	bucket_refill(b, now_us);
	b->rate_mps = rate_mps;
	b->last_us = now_us;
}

bool dlv_bucket_take(struct dlv_bucket *b, uint64_t now_us)
{
	if (b->rate_mps == 0)
		return true;
	bucket_refill(b, now_us);
	if (b->level < 1000 * UNIT)
		return false;
	b->level -= 1000 * UNIT;
	return true;
}

uint64_t dlv_bucket_wait_us(const struct dlv_bucket *b, uint64_t now_us)
{
	if (b->rate_mps == 0)
		return 0;
	struct dlv_bucket tmp = *b;
	bucket_refill(&tmp, now_us);
	if (tmp.level >= 1000 * UNIT)
		return 0;
	uint64_t missing = 1000 * UNIT - tmp.level;
	return (missing + tmp.rate_mps - 1) / tmp.rate_mps;
}

uint64_t dlv_shape_split(uint64_t limit, unsigned idx, unsigned n)
{
	if (n == 0 || idx >= n)
		return 0;
	return limit / n + (idx < limit % n ? 1 : 0);
}

void dlv_backoff_policy_defaults(struct dlv_backoff_policy *p)
{
	p->window_us = 60 * US_PER_S;
	p->min_samples = 20;
	p->fail_pct = 30;
	p->decrease_pct = 50;   /* halve */
	p->min_factor = 50;     /* never below 5% of the rate */
	p->step_factor = 100;   /* +10% ... */
	p->step_us = 60 * US_PER_S;   /* ... per minute */
}

void dlv_backoff_init(struct dlv_backoff *bo, uint64_t now_us)
{
	*bo = (struct dlv_backoff){ .window_start_us = now_us, .changed_us = now_us, .factor = 1000 };
}

static bool window_failing(const struct dlv_backoff *bo, const struct dlv_backoff_policy *p)
{
	uint32_t n = bo->ok + bo->tempfail;
	return n >= p->min_samples && n > 0 && (uint64_t)bo->tempfail * 100 >= (uint64_t)p->fail_pct * n;
}

/* Outcomes per second (milli) seen since the window started; 0 without outcomes. */
static uint64_t window_rate(const struct dlv_backoff *bo, uint64_t now_us)
{
	uint64_t n = bo->ok + bo->tempfail;
	uint64_t dt = now_us > bo->window_start_us ? now_us - bo->window_start_us : 1;
	return n * 1000 * US_PER_S / dt;
}

static void backoff_cut(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, uint32_t to,
			uint64_t observed_mps, uint64_t now_us)
{
	if (bo->factor >= 1000)
		bo->base_mps = observed_mps;   /* used only when the destination has no rate */
	bo->factor = to < p->min_factor ? p->min_factor : to;
	bo->changed_us = now_us;
	bo->cuts++;
}

/* Closes the current window if it has ended; a failing one cuts the factor. */
static void backoff_close_window(struct dlv_backoff *bo, const struct dlv_backoff_policy *p,
				 uint64_t now_us)
{
	if (now_us - bo->window_start_us < p->window_us)
		return;
	uint64_t rate = window_rate(bo, now_us);
	if (bo->ok + bo->tempfail)
		bo->last_rate_mps = rate;
	if (window_failing(bo, p))
		backoff_cut(bo, p, (uint32_t)((uint64_t)bo->factor * p->decrease_pct / 100), rate, now_us);
	bo->window_start_us = now_us;
	bo->ok = bo->tempfail = 0;
}

/* One additive step when due and the window so far is not failing. */
static void backoff_step(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, uint64_t now_us)
{
	if (bo->factor >= 1000 || now_us - bo->changed_us < p->step_us || window_failing(bo, p))
		return;
	bo->factor = bo->factor + p->step_factor >= 1000 ? 1000 : bo->factor + p->step_factor;
	bo->changed_us = now_us;
	if (bo->factor == 1000)
		bo->base_mps = 0;
}

bool dlv_backoff_record(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, bool tempfail,
			uint64_t now_us)
{
	uint32_t old = bo->factor;
	backoff_close_window(bo, p, now_us);
	if (tempfail)
		bo->tempfail++;
	else
		bo->ok++;
	backoff_step(bo, p, now_us);
	return bo->factor != old;
}

bool dlv_backoff_tick(struct dlv_backoff *bo, const struct dlv_backoff_policy *p, uint64_t now_us)
{
	if (bo->factor >= 1000 && bo->ok + bo->tempfail == 0)
		return false;   /* nothing observed, nothing to restore: keep the tick cheap */
	uint32_t old = bo->factor;
	backoff_close_window(bo, p, now_us);
	backoff_step(bo, p, now_us);
	return bo->factor != old;
}

bool dlv_backoff_adopt(struct dlv_backoff *bo, uint32_t factor, uint64_t now_us)
{
	if (factor == 0 || factor >= bo->factor)
		return false;
	if (bo->factor >= 1000) {
		uint64_t cur = window_rate(bo, now_us);
		bo->base_mps = bo->last_rate_mps > cur ? bo->last_rate_mps : cur;
	}
	bo->factor = factor;
	bo->changed_us = now_us;
	return true;
}

uint64_t dlv_backoff_apply(const struct dlv_backoff *bo, uint64_t rate_mps)
{
	if (bo->factor >= 1000)
		return rate_mps;
	uint64_t base = rate_mps ? rate_mps : bo->base_mps;
	if (base == 0)
		return 0;   /* unrated and nothing observed: nothing to scale */
	uint64_t r = base * bo->factor / 1000;
	return r ? r : 1;
}

void dlv_retry_policy_defaults(struct dlv_retry_policy *p)
{
	p->first_us = 5 * 60 * US_PER_S;          /* 5 minutes */
	p->cap_us = 4 * 3600 * US_PER_S;          /* 4 hours */
	p->max_age_us = 5 * 24 * 3600 * US_PER_S; /* 5 days (RFC 5321 §4.5.4.1: at least 4-5 days) */
	p->jitter_pct = 10;
}

uint64_t dlv_retry_next(const struct dlv_retry_policy *p, uint32_t attempts, uint64_t arrival_us,
			uint64_t now_us, uint32_t rnd)
{
	uint64_t delay = p->first_us;
	for (uint32_t i = 1; i < attempts && delay < p->cap_us; i++)
		delay *= 2;
	if (delay > p->cap_us)
		delay = p->cap_us;
	if (p->jitter_pct) {
		uint64_t span = delay * p->jitter_pct / 100;       /* +- span */
		delay = delay - span + (span * 2 * (uint64_t)rnd) / UINT32_MAX;
	}
	uint64_t next = now_us + delay;
	uint64_t deadline = arrival_us + p->max_age_us;
	if (now_us >= deadline)
		return 0;
	/* The last attempt happens at the deadline, not after it. */
	return next > deadline ? deadline : next;
}
