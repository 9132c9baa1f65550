/* SPDX-License-Identifier: MIT */
/*
 * dlv_dest.c: which queue a job goes to. A destination is a base (route:NAME, site:NAME or the
 * MX rollup key) plus the class of the jobs it serves: effective TLS mode (the policy's, raised
 * by REQUIRETLS), the shaping rule when it was chosen by recipient domain, the MTA-STS domain,
 * and the source address of the message's IP pool. Every part that can differ between the jobs
 * of one base is in the key, so jobs needing different treatment never share a queue or a
 * connection, and whichever domain creates a destination first, the same settings result
 * (docs/deliver.md "Destinations"). Destinations live as long as the engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/dlv_int.h"
#include "deliver/dlv_route.h"
#include "spool/spool.h"

static uint32_t key_hash(const char *k)
{
	uint32_t h = 2166136261u;
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h % DLV_DEST_HASH;
}

/* Whether a rule's destination names the destination `base`: the key itself, or the NAME of
 * route:NAME / site:NAME. */
static bool names_base(const char *rule, const char *base)
{
	if (strcasecmp(rule, base) == 0)
		return true;
	const char *colon = strchr(base, ':');
	return colon && (strncmp(base, "route:", 6) == 0 || strncmp(base, "site:", 5) == 0) &&
	       strcasecmp(rule, colon + 1) == 0;
}

/* The rule for a destination: one naming the destination, else one naming the recipient
 * domain (then *by_domain is set: the rule differs between the domains of one destination),
 * else "*"; returns its index or -1. Rules are the `destination` strings at stride bytes from
 * first. */
static int rule_find(const char *first, size_t stride, unsigned n, const char *base,
		     const char *domain, bool *by_domain)
{
	int star = -1;
	*by_domain = false;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < n; i++) {
			const char *d = *(const char *const *)(first + i * stride);
			if (strcmp(d, "*") == 0)
				star = (int)i;
			else if (pass == 0 ? names_base(d, base) : domain && strcasecmp(d, domain) == 0)
				return *by_domain = pass == 1, (int)i;
		}
	return star;
}

static const struct dlv_shape_rule *shape_rule(const struct dlv_policy *pol, const char *base,
					       const char *domain, bool *by_domain)
{
	*by_domain = false;
	if (!pol || !pol->n_shape)
		return NULL;
	int i = rule_find((const char *)&pol->shape[0].destination, sizeof(pol->shape[0]), pol->n_shape,
			  base, domain, by_domain);
	return i < 0 ? NULL : &pol->shape[i];
}

static enum dlv_tls_mode tls_rule(const struct dlv_policy *pol, const char *base, const char *domain,
				  bool *by_domain)
{
	*by_domain = false;
	if (!pol || !pol->n_tls)
		return DLV_TLS_MAY;
	int i = rule_find((const char *)&pol->tls[0].destination, sizeof(pol->tls[0]), pol->n_tls,
			  base, domain, by_domain);
	return i < 0 ? DLV_TLS_MAY : pol->tls[i].mode;
}

/* A lcore's share of a node-wide limit; never 0 for a limited destination, so every lcore can
 * make progress (the node may then exceed a very small limit by up to n_lcores - limit). */
static uint64_t share(const struct dlv_engine *eng, uint64_t limit)
{
	if (limit == 0)
		return 0;
	uint64_t s = dlv_shape_split(limit, eng->p.lcore_index, eng->p.n_lcores);
	return s ? s : 1;
}

static const char *const tls_names[] = {
	[DLV_TLS_NONE] = "none", [DLV_TLS_MAY] = "may", [DLV_TLS_ENCRYPT] = "encrypt",
	[DLV_TLS_VERIFY] = "verify", [DLV_TLS_DANE] = "dane", [DLV_TLS_MTA_STS] = "mta-sts",
};

const char *dlv_tls_name(enum dlv_tls_mode m)
{
	return (unsigned)m < sizeof(tls_names) / sizeof(tls_names[0]) && tls_names[m] ? tls_names[m] : "?";
}

/* The message's source address: its pool (tenant, sender domain, default), round robin over
 * the pool's addresses per job. */
static void job_source(struct dlv_engine *eng, const struct spool_msg *m, struct dlv_class *c)
{
	if (!m || !eng->pol->n_pools)
		return;
	struct spool_str t = spool_msg_tenant(m), snd = spool_msg_sender(m);
	char sdom[DLV_HOST_MAX + 1] = "";
	const char *at = snd.len ? memrchr(snd.p, '@', snd.len) : NULL;
	if (at)
		dlv_copyn(sdom, sizeof(sdom), at + 1, (size_t)(snd.p + snd.len - at - 1));
	const struct dlv_pool *p = dlv_pool_select(eng->pol->pools, eng->pol->n_pools, t.p, t.len,
						   sdom[0] ? sdom : NULL);
	if (!p || !p->naddrs)
		return;
	size_t pi = (size_t)(p - eng->pol->pools) % DLV_POOL_MAX;
	const struct dlv_src *s = &p->addrs[eng->pool_rr[pi]++ % p->naddrs];
	c->src_ip = s->ip;
	c->src_helo = s->helo;
}

/*
 * The class of a job of message m at destination `base` created for `domain`: TLS mode and
 * shaping rule (by destination name first, then by recipient domain, then "*"), raised by the
 * message's flags. Deterministic: whichever domain comes first, the same class results.
 */
static void job_class(struct dlv_engine *eng, const struct spool_msg *m, const char *base,
		      const char *domain, struct dlv_class *c)
{
	memset(c, 0, sizeof(*c));
	job_source(eng, m, c);
	c->tls = tls_rule(eng->pol, base, domain, &c->tls_by_domain);
	c->requiretls = m && (spool_msg_flags(m) & SPOOL_MF_REQUIRETLS);
	/* RFC 8689 4.2.1: never clear, always authenticated. An mta-sts rule is raised too (a
	 * testing or absent policy would allow either); dlv_sts_class() gives an enforce policy
	 * back its place, which verifies and adds the MX restriction. */
	if (c->requiretls && (c->tls < DLV_TLS_VERIFY || c->tls == DLV_TLS_MTA_STS))
		c->tls = DLV_TLS_VERIFY;
	c->shape = shape_rule(eng->pol, base, domain, &c->shape_by_domain);
}

/* The destination key: the base, then every part of the class that can differ between the
 * jobs of one base (a rule chosen by recipient domain, the message's flags and pool), so jobs
 * that need different treatment never share a queue or a connection. */
static void dest_key(char *key, size_t cap, const char *base, const struct dlv_class *c)
{
	size_t o = 0;
	key[0] = '\0';
	dlv_puts(key, cap, &o, base);
	if ((c->tls_by_domain || c->requiretls) && !c->sts_domain) {
		dlv_puts(key, cap, &o, "|tls=");
		dlv_puts(key, cap, &o, tls_names[c->tls]);
	}
	if (c->requiretls)
		dlv_puts(key, cap, &o, "|requiretls");
	if (c->shape_by_domain) {
		dlv_puts(key, cap, &o, "|shape=");
		dlv_puts(key, cap, &o, c->shape->destination);
	}
	if (c->sts_domain) {
		dlv_puts(key, cap, &o, "|mta-sts=");
		dlv_puts(key, cap, &o, c->sts_domain);
	}
	if (c->src_ip) {
		const uint8_t *b = (const uint8_t *)&c->src_ip;
		dlv_puts(key, cap, &o, "|src=");
		for (int i = 0; i < 4; i++) {
			if (i)
				dlv_putn(key, cap, &o, ".", 1);
			dlv_putu(key, cap, &o, b[i]);
		}
	}
}

static struct dlv_dest *dest_get(struct dlv_engine *eng, const char *base, const char *domain,
				 const struct dlv_class *c)
{
	char key[DLV_KEY_MAX];
	dest_key(key, sizeof(key), base, c);
	uint32_t h = key_hash(key);
	/* the class is compared too: a key cut at DLV_KEY_MAX must never merge two classes (a
	 * REQUIRETLS job in a may queue) */
	for (struct dlv_dest *d = eng->hash[h]; d; d = d->next_hash)
		if (strcmp(d->key, key) == 0 && d->tls == c->tls && d->requiretls == c->requiretls &&
		    d->src_ip == c->src_ip && (!c->sts_domain || strcasecmp(d->domain, c->sts_domain) == 0))
			return d;
	struct dlv_dest *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	snprintf(d->key, sizeof(d->key), "%s", key);
	d->base_len = strnlen(base, sizeof(d->key) - 1);
	const struct dlv_shape_rule *r = c->shape;
	d->conn_limit = r ? (uint32_t)share(eng, r->connections) : 0;
	d->per_conn = r ? r->per_connection : 0;
	d->shape_star = r && strcmp(r->destination, "*") == 0 && (r->rate || r->connections);
	/* rate: messages/s -> milli-messages/s, split exactly (fractions allowed) */
	d->rate_mps = r && r->rate ? dlv_shape_split((uint64_t)r->rate * 1000, eng->p.lcore_index,
						     eng->p.n_lcores) : 0;
	if (r && r->rate && d->rate_mps == 0)
		d->rate_mps = 1;
	dlv_bucket_init(&d->bucket, d->rate_mps, r && r->burst ? r->burst : 1, eng->now);
	dlv_backoff_init(&d->bo, eng->now);
	d->tls = c->tls;
	d->requiretls = c->requiretls;
	d->src_ip = c->src_ip;
	snprintf(d->helo, sizeof(d->helo), "%s", c->src_helo ? c->src_helo : "");
	snprintf(d->domain, sizeof(d->domain), "%s", domain ? domain : "");
	d->susp_until = dlv_suspended(eng, d);
	d->next_hash = eng->hash[h];
	eng->hash[h] = d;
	return d;
}

struct dlv_dest *dlv_dest_for(struct dlv_engine *eng, const struct spool_msg *m, const char *base,
			      const char *domain, const struct ctl_dns_sts *sts)
{
	struct dlv_class cls;
	job_class(eng, m, base, domain, &cls);
	dlv_sts_class(&cls, domain, sts);
	struct dlv_dest *d = dest_get(eng, base, domain, &cls);
	return d && dlv_sts_dest_update(d, sts) == 0 ? d : NULL;
}
