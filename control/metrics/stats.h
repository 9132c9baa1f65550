/* SPDX-License-Identifier: MIT */
/*
 * stats.h: the statistics registry. Modules register, at start-up and on the control thread,
 * where each core keeps each counter; the control plane sums them on demand.
 *
 * Worker side (any lcore, its own memory only):
 *     ctl_counter_add(&my->stats.sessions_total, 1);
 *     ctl_hist_observe(&my->accept_to_250, now - accepted_at);
 */
#ifndef DPMAIL_STATS_H
#define DPMAIL_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "metrics/stats-t.h"

struct ctl_buf;

/* Single-writer update of a per-core counter: readers on other threads see whole values. */
static inline void ctl_counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static inline void ctl_gauge_set(uint64_t *g, uint64_t v)
{
	__atomic_store_n(g, v, __ATOMIC_RELAXED);
}

/* Index of the bucket that counts v: the smallest i with v <= 2^i. */
static inline unsigned ctl_hist_bucket(uint64_t v)
{
	if (v <= 1)
		return 0;
	unsigned i = 64u - (unsigned)__builtin_clzll(v - 1);
	return i < CTL_HIST_BUCKETS ? i : CTL_HIST_BUCKETS;
}

/* Records one observation (in the histogram's unit, e.g. microseconds). Owner lcore only. */
static inline void ctl_hist_observe(struct ctl_hist *h, uint64_t v)
{
	uint64_t *b = &h->bucket[ctl_hist_bucket(v)];
	__atomic_store_n(b, *b + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, h->sum + v, __ATOMIC_RELAXED);
}

/* Sums src into acc (control side; relaxed loads). */
void ctl_hist_accumulate(struct ctl_hist *acc, const struct ctl_hist *src);
/* Observations counted in h, and the smallest bucket bound covering quantile q (0..1). */
uint64_t ctl_hist_count(const struct ctl_hist *h);
uint64_t ctl_hist_quantile(const struct ctl_hist *h, double q);

/* An empty registry; metric names get prefix (e.g. "dpmail_"; borrowed, must outlive it). */
void ctl_stats_init(struct ctl_stats *st, const char *prefix);
void ctl_stats_fini(struct ctl_stats *st);

/*
 * Registers lcore's copy of a module's counter struct at base: one metric per field (created
 * on first registration, then the per-core source is added). Returns 0, -EINVAL (bad name,
 * lcore out of range, kind mismatch with an earlier registration, core already registered),
 * -ENOMEM. base must stay valid until ctl_stats_fini.
 */
int ctl_stats_add_block(struct ctl_stats *st, unsigned lcore, const struct ctl_stat_field *fields,
			size_t nfields, const void *base);

/* One counter or gauge of lcore (same rules as ctl_stats_add_block). */
int ctl_stats_add(struct ctl_stats *st, unsigned lcore, const char *name, const char *help,
		  enum ctl_stat_kind kind, const uint64_t *src);

/* lcore's histogram `name`; scale divides raw values for exposition (1e6: microseconds
 * exposed as seconds, Prometheus' base unit; 1: counts). */
int ctl_stats_add_hist(struct ctl_stats *st, unsigned lcore, const char *name, const char *help,
		       double scale, const struct ctl_hist *h);

/* Extra exposition text produced at each scrape (max 16). Returns 0 or -ENOSPC. */
int ctl_stats_add_collector(struct ctl_stats *st, ctl_stats_collect_fn *fn, void *arg);

/* Sum over cores of counter/gauge `name` (unprefixed); false when unknown. */
bool ctl_stats_total(const struct ctl_stats *st, const char *name, uint64_t *out);

/*
 * JSON for `dpmailctl stats`: {"total":{name:value..}, "cores":{"1":{name:value..}..},
 * "histograms":{name:{"count":n,"sum":s,"p50":..,"p99":..}}}. New reference; NULL on ENOMEM.
 */
json_t *ctl_stats_json(const struct ctl_stats *st);

/* Prometheus text exposition format 0.0.4 of every metric, then the collectors' text. */
void ctl_stats_prometheus(const struct ctl_stats *st, struct ctl_buf *out);

/* True when name is a valid Prometheus metric name. */
bool ctl_stats_name_ok(const char *name);

#endif
