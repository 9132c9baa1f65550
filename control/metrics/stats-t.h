/* SPDX-License-Identifier: MIT */
/*
 * stats-t.h: types of the statistics registry. Worker lcores own their counters and
 * histograms (plain per-core memory, single writer, updated with relaxed stores); the control
 * plane only reads them, summing over cores for `dpmailctl stats` and the Prometheus scrape.
 * Nothing is shared for writing between cores, so an update costs one add and one store.
 */
#ifndef DPMAIL_STATS_T_H
#define DPMAIL_STATS_T_H

#include <stddef.h>
#include <stdint.h>

#define CTL_STATS_MAX_CORES 128   /* RTE_MAX_LCORE of Debian's DPDK */
#define CTL_HIST_BUCKETS    40    /* bucket i counts values <= 2^i units; 2^39 us is 6 days */

enum ctl_stat_kind {
	CTL_STAT_COUNTER = 0,  /* monotonic; exposed as <name> with TYPE counter */
	CTL_STAT_GAUGE,        /* current level (sessions open, queue length) */
	CTL_STAT_HIST,         /* a struct ctl_hist per core */
};

/* One field of a module's per-core counter struct (see ctl_stats_add_block). */
struct ctl_stat_field {
	const char *name;      /* Prometheus-valid: [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. smtp_sessions_total */
	const char *help;
	enum ctl_stat_kind kind; /* COUNTER or GAUGE: a uint64_t at offset */
	size_t offset;
};

/*
 * A lock-free per-core log-bucket histogram. Written only by its own lcore; read by the
 * control plane, which tolerates a bucket being one observation ahead of another.
 */
struct ctl_hist {
	uint64_t bucket[CTL_HIST_BUCKETS + 1]; /* last one: above 2^(BUCKETS-1) */
	uint64_t sum;
} __attribute__((aligned(64)));

struct ctl_stat;     /* one registered metric (stats.c) */

/* Appends exposition text for metrics the registry cannot describe (labelled gauges, e.g.
 * queue size per destination). Runs on the control thread during a scrape. */
struct ctl_buf;
typedef void ctl_stats_collect_fn(struct ctl_buf *out, void *arg);

struct ctl_stats {
	struct ctl_stat **v;
	size_t n, cap;
	struct ctl_stats_collector {
		ctl_stats_collect_fn *fn;
		void *arg;
	} collectors[16];
	size_t ncollectors;
	const char *prefix;    /* metric name prefix, "dpmail_" */
};

#endif
