/* SPDX-License-Identifier: MIT */
/*
 * bench_hist.c: a small HDR-style histogram (log-linear buckets) for latencies in
 * microseconds. Values below 2^SUB_BITS are exact; above, each power of two is split into
 * 2^(SUB_BITS-1) equal sub-buckets, so any reported quantile is within 1.6% of the true value
 * and recording is a few instructions with no allocation. Histograms merge by adding counts.
 */
#include "bench.h"

#include <string.h>

#define HALF (1u << (BENCH_HIST_SUB_BITS - 1))
#define MAX_VALUE ((1ull << BENCH_HIST_MAX_EXP) - 1)

void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned bench_hist_index(uint64_t v)
{
	if (v > MAX_VALUE)
		v = MAX_VALUE;
	if (v < (1u << BENCH_HIST_SUB_BITS))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned e = msb - (BENCH_HIST_SUB_BITS - 1);
	return e * HALF + (unsigned)(v >> e);
}

uint64_t bench_hist_lowest(unsigned idx)
{
	if (idx < (1u << BENCH_HIST_SUB_BITS))
		return idx;
	unsigned e = idx / HALF - 1;
	return (uint64_t)(idx - e * HALF) << e;
}

uint64_t bench_hist_highest(unsigned idx)
{
	if (idx < (1u << BENCH_HIST_SUB_BITS))
		return idx;
	unsigned e = idx / HALF - 1;
	return bench_hist_lowest(idx) + (1ull << e) - 1;
}

void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	/* the rank of the value at q: ceil(q * count), at least 1 */
	double r = q * (double)h->count;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = bench_hist_highest(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

json_t *bench_hist_json(const struct bench_hist *h)
{
	return json_pack("{sI sI sf sI sI sI sI sI}", "count", (json_int_t)h->count, "min",
			 (json_int_t)(h->count ? h->min : 0), "mean", bench_hist_mean(h), "p50",
			 (json_int_t)bench_hist_quantile(h, 0.50), "p90",
			 (json_int_t)bench_hist_quantile(h, 0.90), "p99",
			 (json_int_t)bench_hist_quantile(h, 0.99), "p999",
			 (json_int_t)bench_hist_quantile(h, 0.999), "max", (json_int_t)h->max);
}
