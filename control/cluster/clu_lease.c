/* SPDX-License-Identifier: MIT */
/*
 * clu_lease.c: the arithmetic of budgets that is not done inside Redis: the conservative
 * fallback budget used while Redis is unreachable, a lcore's share of its node's grant, and
 * suspension times. The cluster-wide split itself runs atomically in Redis (clu_redis.c's
 * lease script) so that two nodes leasing at once never both take the same free budget.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/clu.h"
#include "deliver/dlv_shape.h"

void clu_params_defaults(struct clu_params *p)
{
	*p = (struct clu_params){ .redis_port = 6379, .lease_ms = 2000, .renew_ms = 200,
				  .io_timeout_ms = 100, .fallback_pct = 25, .idle_return_ms = 2000,
				  .bo_step_factor = 100, .bo_step_ms = 60000, .dyn_idle_ms = 600000 };
	snprintf(p->redis_host, sizeof(p->redis_host), "127.0.0.1");
	snprintf(p->prefix, sizeof(p->prefix), "dpmail");
}

void clu_grant_fallback(const struct clu_limit *l, uint32_t pct, struct clu_grant *g)
{
	g->nodes = 0;
	g->rate_mps = (uint64_t)l->rate * 1000 * pct / 100;
	if (l->rate && g->rate_mps == 0)
		g->rate_mps = 1;
	g->conns = (uint32_t)((uint64_t)l->conns * pct / 100);
	if (l->conns && g->conns == 0)
		g->conns = 1;
}

uint64_t clu_lcore_share(uint64_t value, unsigned idx, unsigned n)
{
	return dlv_shape_split(value, idx, n ? n : 1);
}

bool clu_entry_suspended(const struct clu_entry *e, uint64_t now_ms)
{
	return e->suspended_until_ms && now_ms < e->suspended_until_ms;
}

long long clu_duration_parse(const char *s)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -1;
	long long mul = 1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > 366LL * 86400 / mul)
		return -1;
	return v * mul;
}
