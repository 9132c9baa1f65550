/* SPDX-License-Identifier: MIT */
/*
 * stats.c: the statistics registry: metric descriptors, each with one source pointer per
 * core, summed on demand for the admin socket (JSON) and the Prometheus scrape (text). The
 * registry is built and read on the control thread only; sources are read with relaxed loads
 * because their owners (worker lcores) write them concurrently.
 */
#include "metrics/stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/buf.h"

struct ctl_stat {
	char *name;
	char *help;
	enum ctl_stat_kind kind;
	double scale;                           /* histograms only */
	const void *src[CTL_STATS_MAX_CORES];   /* uint64_t * or struct ctl_hist * */
};

static uint64_t load64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

void ctl_hist_accumulate(struct ctl_hist *acc, const struct ctl_hist *src)
{
	for (unsigned i = 0; i <= CTL_HIST_BUCKETS; i++)
		acc->bucket[i] += load64(&src->bucket[i]);
	acc->sum += load64(&src->sum);
}

uint64_t ctl_hist_count(const struct ctl_hist *h)
{
	uint64_t n = 0;
	for (unsigned i = 0; i <= CTL_HIST_BUCKETS; i++)
		n += h->bucket[i];
	return n;
}

uint64_t ctl_hist_quantile(const struct ctl_hist *h, double q)
{
	uint64_t n = ctl_hist_count(h), seen = 0;
	if (n == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(q * (double)n);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i <= CTL_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want)
			return i < 64 ? 1ull << i : UINT64_MAX;
	}
	return UINT64_MAX;
}

void ctl_stats_init(struct ctl_stats *st, const char *prefix)
{
	memset(st, 0, sizeof(*st));
	st->prefix = prefix ? prefix : "";
}

void ctl_stats_fini(struct ctl_stats *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i]->name);
		free(st->v[i]->help);
		free(st->v[i]);
	}
	free(st->v);
	memset(st, 0, sizeof(*st));
}

bool ctl_stats_name_ok(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
		bool digit = *p >= '0' && *p <= '9';
		if (!alpha && !(digit && p != name))
			return false;
	}
	return true;
}

static struct ctl_stat *stats_find(const struct ctl_stats *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i]->name, name) == 0)
			return st->v[i];
	return NULL;
}

/* The metric `name`, created on first use; NULL with *err set on a kind clash or ENOMEM. */
static struct ctl_stat *stats_get(struct ctl_stats *st, const char *name, const char *help,
				  enum ctl_stat_kind kind, int *err)
{
	struct ctl_stat *m = stats_find(st, name);
	if (m) {
		if (m->kind != kind)
			*err = -EINVAL;
		return m->kind == kind ? m : NULL;
	}
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 32;
		struct ctl_stat **v = realloc(st->v, cap * sizeof(*v));
		if (!v)
			goto enomem;
		st->v = v;
		st->cap = cap;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto enomem;
	m->name = strdup(name);
	m->help = strdup(help ? help : "");
	if (!m->name || !m->help) {
		free(m->name);
		free(m->help);
		free(m);
		goto enomem;
	}
	m->kind = kind;
	m->scale = 1;
	st->v[st->n++] = m;
	return m;
enomem:
	*err = -ENOMEM;
	return NULL;
}

static int stats_attach(struct ctl_stats *st, unsigned lcore, const char *name, const char *help,
			enum ctl_stat_kind kind, const void *src)
{
	if (lcore >= CTL_STATS_MAX_CORES || !ctl_stats_name_ok(name) || !src)
		return -EINVAL;
	int err = 0;
	struct ctl_stat *m = stats_get(st, name, help, kind, &err);
	if (!m)
		return err;
	if (m->src[lcore])
		return -EINVAL;
	m->src[lcore] = src;
	return 0;
}

int ctl_stats_add(struct ctl_stats *st, unsigned lcore, const char *name, const char *help,
		  enum ctl_stat_kind kind, const uint64_t *src)
{
	if (kind == CTL_STAT_HIST)
		return -EINVAL;
	return stats_attach(st, lcore, name, help, kind, src);
}

int ctl_stats_add_block(struct ctl_stats *st, unsigned lcore, const struct ctl_stat_field *fields,
			size_t nfields, const void *base)
{
	for (size_t i = 0; i < nfields; i++) {
		const uint64_t *src = (const uint64_t *)((const char *)base + fields[i].offset);
		int rc = ctl_stats_add(st, lcore, fields[i].name, fields[i].help, fields[i].kind, src);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ctl_stats_add_hist(struct ctl_stats *st, unsigned lcore, const char *name, const char *help,
		       double scale, const struct ctl_hist *h)
{
	if (!(scale > 0))
		return -EINVAL;
	int rc = stats_attach(st, lcore, name, help, CTL_STAT_HIST, h);
	if (rc == 0)
		stats_find(st, name)->scale = scale;
	return rc;
}

int ctl_stats_add_collector(struct ctl_stats *st, ctl_stats_collect_fn *fn, void *arg)
{
	if (st->ncollectors == sizeof(st->collectors) / sizeof(st->collectors[0]))
		return -ENOSPC;
	st->collectors[st->ncollectors].fn = fn;
	st->collectors[st->ncollectors++].arg = arg;
	return 0;
}

static uint64_t stat_total(const struct ctl_stat *m)
{
	uint64_t t = 0;
	for (unsigned c = 0; c < CTL_STATS_MAX_CORES; c++)
		if (m->src[c])
			t += load64(m->src[c]);
	return t;
}

static void hist_total(const struct ctl_stat *m, struct ctl_hist *acc)
{
	memset(acc, 0, sizeof(*acc));
	for (unsigned c = 0; c < CTL_STATS_MAX_CORES; c++)
		if (m->src[c])
			ctl_hist_accumulate(acc, m->src[c]);
}

bool ctl_stats_total(const struct ctl_stats *st, const char *name, uint64_t *out)
{
	const struct ctl_stat *m = stats_find(st, name);
	if (!m || m->kind == CTL_STAT_HIST)
		return false;
	*out = stat_total(m);
	return true;
}

static json_t *hist_json(const struct ctl_stat *m)
{
	struct ctl_hist acc;
	hist_total(m, &acc);
	return json_pack("{s:I,s:I,s:I,s:I,s:I}", "count", (json_int_t)ctl_hist_count(&acc),
			 "sum", (json_int_t)acc.sum, "p50", (json_int_t)ctl_hist_quantile(&acc, 0.5),
			 "p99", (json_int_t)ctl_hist_quantile(&acc, 0.99),
			 "p999", (json_int_t)ctl_hist_quantile(&acc, 0.999));
}

json_t *ctl_stats_json(const struct ctl_stats *st)
{
	json_t *total = json_object(), *cores = json_object(), *hists = json_object();
	json_t *root = json_pack("{s:o,s:o,s:o}", "total", total, "cores", cores, "histograms", hists);
	if (!root)
		return NULL;
	for (size_t i = 0; i < st->n; i++) {
		const struct ctl_stat *m = st->v[i];
		if (m->kind == CTL_STAT_HIST) {
			json_object_set_new(hists, m->name, hist_json(m));
			continue;
		}
		json_object_set_new(total, m->name, json_integer((json_int_t)stat_total(m)));
		for (unsigned c = 0; c < CTL_STATS_MAX_CORES; c++) {
			if (!m->src[c])
				continue;
			char key[16];
			snprintf(key, sizeof(key), "%u", c);
			json_t *core = json_object_get(cores, key);
			if (!core) {
				core = json_object();
				json_object_set_new(cores, key, core);
			}
			json_object_set_new(core, m->name, json_integer((json_int_t)load64(m->src[c])));
		}
	}
	return root;
}

/* HELP text escaping per the exposition format: backslash and newline. */
static void prom_help(struct ctl_buf *out, const char *prefix, const struct ctl_stat *m,
		      const char *type)
{
	ctl_buf_printf(out, "# HELP %s%s ", prefix, m->name);
	for (const char *p = m->help; *p; p++) {
		if (*p == '\\')
			ctl_buf_append(out, "\\\\", 2);
		else if (*p == '\n')
			ctl_buf_append(out, "\\n", 2);
		else
			ctl_buf_append(out, p, 1);
	}
	ctl_buf_printf(out, "\n# TYPE %s%s %s\n", prefix, m->name, type);
}

static void prom_hist(struct ctl_buf *out, const char *prefix, const struct ctl_stat *m)
{
	struct ctl_hist acc;
	hist_total(m, &acc);
	prom_help(out, prefix, m, "histogram");
	uint64_t cum = 0;
	for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++) {
		cum += acc.bucket[i];
		ctl_buf_printf(out, "%s%s_bucket{le=\"%.12g\"} %llu\n", prefix, m->name,
			       (double)(1ull << i) / m->scale, (unsigned long long)cum);
	}
	cum += acc.bucket[CTL_HIST_BUCKETS];
	ctl_buf_printf(out, "%s%s_bucket{le=\"+Inf\"} %llu\n", prefix, m->name, (unsigned long long)cum);
	ctl_buf_printf(out, "%s%s_sum %.17g\n", prefix, m->name, (double)acc.sum / m->scale);
	ctl_buf_printf(out, "%s%s_count %llu\n", prefix, m->name, (unsigned long long)cum);
}

void ctl_stats_prometheus(const struct ctl_stats *st, struct ctl_buf *out)
{
	for (size_t i = 0; i < st->n; i++) {
		const struct ctl_stat *m = st->v[i];
		if (m->kind == CTL_STAT_HIST) {
			prom_hist(out, st->prefix, m);
			continue;
		}
		prom_help(out, st->prefix, m, m->kind == CTL_STAT_COUNTER ? "counter" : "gauge");
		ctl_buf_printf(out, "%s%s %llu\n", st->prefix, m->name,
			       (unsigned long long)stat_total(m));
	}
	for (size_t i = 0; i < st->ncollectors; i++)
		st->collectors[i].fn(out, st->collectors[i].arg);
}
