/* SPDX-License-Identifier: MIT */
/*
 * dlv_snap.c: builds delivery's part of a configuration snapshot on the control thread:
 * static routes, TLS policy and shaping rules by destination, the retry schedule, and the
 * client TLS context (trust store). Immutable once published; released after its grace period.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_params_relay.h"
#include "deliver/dlv.h"
#include "deliver/dlv_route.h"
#include "snapshot/cfg_builders.h"
#include "snapshot/snapshot.h"
#include "tls/tls.h"

struct dlv_snap {
	struct dlv_policy pol;
	struct dlv_route *routes;
	struct dlv_tls_rule *tls;
	struct dlv_shape_rule *shape;
	struct dlv_pool *pools;
	struct dlv_src *srcs;         /* every pool's addresses, one array */
	char *helos;                  /* their HELO names, NUL-separated */
	struct dlv_site *sites;
	char helo[256];
};

void dlv_snap_release(void *obj)
{
	struct dlv_snap *ds = obj;
	if (!ds)
		return;
	if (ds->pol.tls_ctx)
		tls_client_ctx_free(ds->pol.tls_ctx);
	free(ds->routes);
	free(ds->tls);
	free(ds->shape);
	free(ds->pools);
	free(ds->srcs);
	free(ds->helos);
	free(ds->sites);
	free(ds);
}

static const enum dlv_tls_mode tls_modes[] = {
	[CFG_TLS_NONE] = DLV_TLS_NONE, [CFG_TLS_MAY] = DLV_TLS_MAY, [CFG_TLS_ENCRYPT] = DLV_TLS_ENCRYPT,
	[CFG_TLS_VERIFY] = DLV_TLS_VERIFY, [CFG_TLS_DANE] = DLV_TLS_DANE,
	[CFG_TLS_MTA_STS] = DLV_TLS_MTA_STS,
};

/* Pools: addresses "IPv4 [HELO]" (validated by the config layer) split into ds->srcs, with
 * the HELO names copied into ds->helos. */
static int build_pools(struct dlv_snap *ds, const struct cfg_delivery *dv)
{
	size_t naddr = 0, chars = 0;
	for (uint32_t i = 0; i < dv->pools.n; i++) {
		const struct cfg_pool *p = cfg_list_at(&cfg_pool_list, &dv->pools, i);
		naddr += p->addresses.n;
		for (uint32_t k = 0; k < p->addresses.n; k++)
			chars += strlen(p->addresses.v[k]) + 1;
	}
	ds->pools = calloc(dv->pools.n + 1, sizeof(*ds->pools));
	ds->srcs = calloc(naddr + 1, sizeof(*ds->srcs));
	ds->helos = calloc(chars + 1, 1);
	if (!ds->pools || !ds->srcs || !ds->helos)
		return -1;
	struct dlv_src *src = ds->srcs;
	char *h = ds->helos;
	for (uint32_t i = 0; i < dv->pools.n; i++) {
		const struct cfg_pool *p = cfg_list_at(&cfg_pool_list, &dv->pools, i);
		ds->pools[i] = (struct dlv_pool){
			.name = p->name, .addrs = src, .naddrs = p->addresses.n,
			.tenants = (const char *const *)p->tenants.v, .ntenants = p->tenants.n,
			.senders = (const char *const *)p->senders.v, .nsenders = p->senders.n,
			.is_default = p->is_default,
		};
		for (uint32_t k = 0; k < p->addresses.n; k++, src++) {
			const char *a = p->addresses.v[k], *sp = strchr(a, ' ');
			size_t n = sp ? (size_t)(sp - a) : strlen(a);
			memcpy(h, a, n);
			h[n] = 0;
			struct in_addr in = { 0 };
			inet_pton(AF_INET, h, &in);
			src->ip = in.s_addr;
			src->helo = NULL;
			if (sp) {
				strcpy(h, sp + 1);
				src->helo = h;
				h += strlen(h) + 1;
			}
		}
	}
	ds->pol.pools = ds->pools;
	ds->pol.n_pools = dv->pools.n;
	return 0;
}

/* Strings are borrowed from the snapshot's cfg, which the snapshot frees after ds. */
void dlv_backoff_policy_from_cfg(const struct cfg_backoff *c, struct dlv_backoff_policy *p)
{
	*p = (struct dlv_backoff_policy){
		.window_us = c->window_ms * 1000, .min_samples = c->min_samples,
		.fail_pct = c->threshold_pct, .decrease_pct = c->decrease_pct,
		.min_factor = c->floor_pct * 10, .step_factor = c->increase_pct * 10,
		.step_us = c->increase_interval_ms * 1000,
	};
}

static int build_rules(struct dlv_snap *ds, const struct cfg *c)
{
	const struct cfg_delivery *dv = &c->delivery;
	ds->routes = calloc(dv->routes.n + 1, sizeof(*ds->routes));
	ds->tls = calloc(dv->tls_policy.n + 1, sizeof(*ds->tls));
	ds->shape = calloc(dv->shaping.n + 1, sizeof(*ds->shape));
	if (!ds->routes || !ds->tls || !ds->shape)
		return -1;
	for (uint32_t i = 0; i < dv->routes.n; i++) {
		const struct cfg_route *r = cfg_list_at(&cfg_route_list, &dv->routes, i);
		ds->routes[i] = (struct dlv_route){ .domain = r->domain,
						    .hosts = (const char *const *)r->hosts.v,
						    .nhosts = r->hosts.n, .name = r->name };
	}
	for (uint32_t i = 0; i < dv->tls_policy.n; i++) {
		const struct cfg_tls_policy *t = cfg_list_at(&cfg_tls_policy_list, &dv->tls_policy, i);
		ds->tls[i] = (struct dlv_tls_rule){ t->destination, tls_modes[t->mode] };
	}
	for (uint32_t i = 0; i < dv->shaping.n; i++) {
		const struct cfg_shaping *s = cfg_list_at(&cfg_shaping_list, &dv->shaping, i);
		ds->shape[i] = (struct dlv_shape_rule){ s->destination, s->connections, s->rate,
							s->burst, s->per_connection };
	}
	if (build_pools(ds, dv) < 0)
		return -1;
	ds->sites = calloc(dv->sites.n + 1, sizeof(*ds->sites));
	if (!ds->sites)
		return -1;
	for (uint32_t i = 0; i < dv->sites.n; i++) {
		const struct cfg_site *st = cfg_list_at(&cfg_site_list, &dv->sites, i);
		ds->sites[i] = (struct dlv_site){ st->name, (const char *const *)st->mx.v, st->mx.n };
	}
	ds->pol.sites = ds->sites;
	ds->pol.n_sites = dv->sites.n;
	ds->pol.delay_warn_us = (uint64_t)dv->delay_warning_after * 1000000;
	ds->pol.no_chunking = dv->chunking == 1;
	ds->pol.routes = ds->routes;
	ds->pol.n_routes = dv->routes.n;
	ds->pol.tls = ds->tls;
	ds->pol.n_tls = dv->tls_policy.n;
	ds->pol.shape = ds->shape;
	ds->pol.n_shape = dv->shaping.n;
	ds->pol.mta_sts_all = c->mta_sts.all_domains;
	ds->pol.retry = (struct dlv_retry_policy){
		.first_us = (uint64_t)dv->retry_first * 1000000, .cap_us = (uint64_t)dv->retry_cap * 1000000,
		.max_age_us = (uint64_t)dv->max_age * 1000000, .jitter_pct = dv->retry_jitter_pct,
	};
	dlv_backoff_policy_from_cfg(&dv->backoff, &ds->pol.backoff);
	return 0;
}

void *dlv_snap_build(const struct cfg_snapshot *s, char *err, size_t errlen)
{
	const struct cfg *c = s->cfg;
	struct dlv_snap *ds = calloc(1, sizeof(*ds));
	if (!ds || build_rules(ds, c) < 0) {
		snprintf(err, errlen, "out of memory");
		dlv_snap_release(ds);
		return NULL;
	}
	if (c->smtp.hostname && c->smtp.hostname[0])
		snprintf(ds->helo, sizeof(ds->helo), "%s", c->smtp.hostname);
	else if (gethostname(ds->helo, sizeof(ds->helo) - 1) < 0)
		snprintf(ds->helo, sizeof(ds->helo), "localhost");
	ds->pol.helo = ds->helo;
	struct tls_client_cfg tc;
	tls_client_cfg_defaults(&tc);
	ds->pol.tls_ctx = tls_client_ctx_new(&tc, err, errlen);
	if (!ds->pol.tls_ctx) {
		dlv_snap_release(ds);
		return NULL;
	}
	return ds;
}

const struct dlv_policy *dlv_snap_policy(const struct cfg_snapshot *s)
{
	const struct dlv_snap *ds = cfg_snapshot_slot(s, CFG_SLOT_DLV);
	return ds ? &ds->pol : NULL;
}
