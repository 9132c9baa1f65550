/* SPDX-License-Identifier: MIT */
/*
 * sts.c: the MTA-STS engine of the control plane (see sts.h). One entry per domain asked
 * about, with an explicit refresh state:
 *
 *   IDLE --start--> TXT --id unchanged / no record / DNS failure--> IDLE (publish)
 *                    |--new id--> ADDR --address--> FETCH --policy or failure--> IDLE (publish)
 *
 * What is published (CTL_DNS_STS in control/dns's cache):
 *   a cached policy whose max_age has not passed: status OK (mode testing/enforce) or NODATA
 *   (mode none), expiring after refresh_s (then a worker's lookup misses and asks again, which
 *   re-checks the TXT id in the background while the cached answer is republished at once);
 *   no cached policy and no (valid) record, or a failed first fetch: NODATA for retry_s.
 * RFC 8461 5.1: a TXT or HTTPS failure never withdraws a cached policy before its max_age;
 * only a new id with a successfully fetched policy replaces it ("mode: none" withdraws it).
 */
#include "sts/sts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "dns/dns.h"
#include "log.h"
#include "sts/sts_fetch.h"
#include "sts/sts_policy.h"
#include "sts/sts_store.h"

#define NBUCKETS 4096

enum dom_state { D_IDLE = 0, D_TXT, D_ADDR, D_FETCH };

struct dom {
	struct dom *hnext;
	struct dom *pnext;            /* on the pending list while not IDLE */
	char name[STS_HOST_MAX + 1];
	enum dom_state st;
	bool listed;                  /* on the pending list (removed in the next process turn) */
	bool have;                    /* a policy is cached (pol != NULL) */
	char id[STS_ID_MAX + 1];      /* of the cached policy */
	struct sts_policy *pol;       /* allocated with the first policy (most domains have none) */
	uint64_t fetched_wall_s, checked_wall_s;
	char new_id[STS_ID_MAX + 1];  /* the id being fetched */
	uint64_t deadline_us;         /* the DNS steps of a refresh end by then (safety net) */
	uint64_t started_us;          /* when the refresh began (took_ms in the log) */
	char last_error[160];
};

struct sts {
	struct sts_opts o;
	struct ctl_dns *dns;
	struct sts_fetcher *f;
	struct dom *hash[NBUCKETS];
	struct dom *pending;
	unsigned ndom;
	uint64_t now_us;
	bool dirty;                   /* the cache file is behind */
	struct sts_stats stats;
	/* save iteration */
	unsigned it_bucket;
	struct dom *it_dom;
};

static const char *const state_names[] = { "idle", "txt", "address", "fetch" };

void sts_opts_defaults(struct sts_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fetch_timeout_ms = 10000;
	o->refresh_s = 600;
	o->retry_s = 60;
	o->https_port = 443;
	o->max_domains = 100000;
	o->max_fetches = 64;
}

static uint64_t wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static unsigned bucket(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % NBUCKETS;
}

static struct dom *dom_find(const struct sts *s, const char *name)
{
	for (struct dom *d = s->hash[bucket(name)]; d; d = d->hnext)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct dom *dom_get(struct sts *s, const char *name)
{
	struct dom *d = dom_find(s, name);
	if (d || s->ndom >= s->o.max_domains || strlen(name) > STS_HOST_MAX)
		return d;
	if (!(d = calloc(1, sizeof(*d))))
		return NULL;
	snprintf(d->name, sizeof(d->name), "%s", name);
	unsigned b = bucket(name);
	d->hnext = s->hash[b];
	s->hash[b] = d;
	s->ndom++;
	return d;
}

static bool policy_valid(const struct dom *d, uint64_t now_wall)
{
	return d->have && d->fetched_wall_s + d->pol->max_age > now_wall;
}

/* ---- publication -------------------------------------------------------------------------- */

/* The answer for d as it stands: OK with the policy, or NODATA; expires after ttl_s. */
static void publish(struct sts *s, struct dom *d, uint32_t ttl_s)
{
	uint64_t now_wall = wall_s();
	bool pol = policy_valid(d, now_wall) && d->pol->mode != STS_MODE_NONE;
	size_t extra = pol ? sizeof(struct ctl_dns_sts) + d->pol->n_mx * (STS_HOST_MAX + 1) : 0;
	struct ctl_dns_answer *a = calloc(1, sizeof(*a) + extra);
	if (!a)
		return;
	snprintf(a->name, sizeof(a->name), "%s", d->name);
	a->qtype = CTL_DNS_STS;
	a->status = pol ? CTL_DNS_OK : CTL_DNS_NODATA;
	if (pol) {
		uint64_t left = d->fetched_wall_s + d->pol->max_age - now_wall;
		ttl_s = left < ttl_s ? (uint32_t)left : ttl_s;
		struct ctl_dns_sts *p = (struct ctl_dns_sts *)(a + 1);
		char *str = (char *)(p + 1);
		p->mode = (uint8_t)d->pol->mode;
		p->max_age = d->pol->max_age;
		p->valid_until_wall_s = d->fetched_wall_s + d->pol->max_age;
		snprintf(p->id, sizeof(p->id), "%s", d->id);
		for (unsigned i = 0; i < d->pol->n_mx && i < CTL_DNS_STS_MX_MAX; i++) {
			memcpy(str, d->pol->mx[i], strlen(d->pol->mx[i]) + 1);
			p->mx[p->n_mx++] = str;
			str += STS_HOST_MAX + 1;
		}
		a->rr.sts = p;
		a->n = 1;
	}
	a->ttl = ttl_s ? ttl_s : 1;
	a->expires_us = s->now_us + (uint64_t)a->ttl * 1000000u;
	s->stats.published++;
	ctl_dns_publish(s->dns, a);
}

/* The refresh of d ended (err: NULL = fine, else why it failed): publish what is in force. */
static void refresh_done(struct sts *s, struct dom *d, const char *err)
{
	d->st = D_IDLE;
	d->checked_wall_s = wall_s();
	snprintf(d->last_error, sizeof(d->last_error), "%s", err ? err : "");
	bool keep = err && policy_valid(d, d->checked_wall_s);
	unsigned took_ms = (unsigned)((s->now_us - d->started_us) / 1000u);
	if (keep) {
		s->stats.kept_on_failure++;
		log_info("sts domain=%s event=refresh_failed kept_id=%s took_ms=%u reason=\"%s\"", d->name,
			 d->id, took_ms, err);
	} else if (err) {
		log_info("sts domain=%s event=refresh_failed took_ms=%u reason=\"%s\"", d->name, took_ms, err);
	}
	publish(s, d, err ? s->o.retry_s : s->o.refresh_s);
}

/* ---- refresh steps ------------------------------------------------------------------------ */

static void pend(struct sts *s, struct dom *d, enum dom_state st)
{
	if (!d->listed) {
		d->pnext = s->pending;
		s->pending = d;
		d->listed = true;
	}
	d->st = st;
}

/* An answer from our resolver for name/qtype, asking for it if needed; NULL: not yet, with
 * *busy set when the resolver refused the query (the refresh then fails at once). */
static const struct ctl_dns_answer *ask(struct sts *s, const char *name, uint16_t qtype, bool first,
					bool *busy)
{
	const struct ctl_dns_answer *a = ctl_dns_lookup(s->dns, name, qtype, s->now_us);
	*busy = !a && first && ctl_dns_resolve(s->dns, name, qtype, s->now_us) < 0;
	return a;
}

static void step_addr(struct sts *s, struct dom *d, bool first);

/* TXT _mta-sts.<d>: exactly one record starting with v=STSv1 (RFC 8461 3.1). */
static void step_txt(struct sts *s, struct dom *d, bool first)
{
	char name[STS_HOST_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", d->name);
	if (first)
		s->stats.txt_lookups++;
	bool busy;
	const struct ctl_dns_answer *a = ask(s, name, CTL_DNS_TXT, first, &busy);
	if (!a) {
		if (busy)
			refresh_done(s, d, "resolver busy (TXT)");
		return;
	}
	if (a->status == CTL_DNS_NXDOMAIN || a->status == CTL_DNS_NODATA) {
		refresh_done(s, d, d->have ? "no MTA-STS TXT record (cached policy kept)" : NULL);
		return;
	}
	if (a->status != CTL_DNS_OK) {
		refresh_done(s, d, "TXT lookup failed");
		return;
	}
	int nrec = 0, bad = 0;
	char id[STS_ID_MAX + 1] = "";
	for (unsigned i = 0; i < a->n; i++) {
		char tid[STS_ID_MAX + 1];
		int rc = sts_txt_parse(a->rr.txt[i].data, a->rr.txt[i].len, tid);
		nrec += rc != 0;
		bad += rc < 0;
		if (rc == 1)
			memcpy(id, tid, sizeof(id));
	}
	if (nrec != 1 || bad) {
		refresh_done(s, d, nrec == 0 ? (d->have ? "no MTA-STS TXT record (cached policy kept)" : NULL)
						 : "invalid or several MTA-STS TXT records");
		return;
	}
	if (d->have && strcmp(id, d->id) == 0 && policy_valid(d, wall_s())) {
		refresh_done(s, d, NULL);   /* same policy: nothing to fetch */
		return;
	}
	memcpy(d->new_id, id, sizeof(d->new_id));
	d->st = D_ADDR;
	step_addr(s, d, true);
}

/* A of mta-sts.<d> through our resolver, then the HTTPS fetch pinned to that address. */
static void step_addr(struct sts *s, struct dom *d, bool first)
{
	char name[STS_HOST_MAX + 16];
	snprintf(name, sizeof(name), "mta-sts.%s", d->name);
	bool busy;
	const struct ctl_dns_answer *a = ask(s, name, CTL_DNS_A, first, &busy);
	if (!a) {
		if (busy)
			refresh_done(s, d, "resolver busy (policy host address)");
		return;
	}
	if (a->status != CTL_DNS_OK || a->n == 0) {
		refresh_done(s, d, "no address for the policy host");
		return;
	}
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a->rr.a[0], ip, sizeof(ip));
	int rc = sts_fetch_start(s->f, d->name, ip, (uint64_t)(uintptr_t)d);
	if (rc < 0) {
		refresh_done(s, d, rc == -EBUSY ? "too many policy fetches at once" : "cannot start the fetch");
		return;
	}
	s->stats.fetches++;
	d->st = D_FETCH;
}

/* Finds the entry a fetch belongs to (it may have been dropped meanwhile: never, entries
 * live as long as the engine, but the check keeps a stale cookie harmless). */
static struct dom *pending_by_cookie(struct sts *s, uint64_t cookie)
{
	for (struct dom *d = s->pending; d; d = d->pnext)
		if ((uint64_t)(uintptr_t)d == cookie && d->st == D_FETCH)
			return d;
	return NULL;
}

static void fetch_done(void *arg, const struct sts_fetch_result *r)
{
	struct sts *s = arg;
	struct dom *d = pending_by_cookie(s, r->cookie);
	if (!d)
		return;
	char why[160];
	if (!r->ok) {
		s->stats.fetch_failed++;
		snprintf(why, sizeof(why), "policy fetch failed: %s", r->error);
		refresh_done(s, d, why);
		return;
	}
	struct sts_policy p;
	const char *perr = NULL;
	if (sts_policy_parse(r->body, r->len, &p, &perr) < 0) {
		s->stats.parse_failed++;
		snprintf(why, sizeof(why), "invalid policy: %s", perr);
		refresh_done(s, d, why);
		return;
	}
	s->stats.fetch_ok++;
	if (!d->pol && !(d->pol = malloc(sizeof(*d->pol)))) {
		refresh_done(s, d, "out of memory");
		return;
	}
	*d->pol = p;
	d->have = true;
	memcpy(d->id, d->new_id, sizeof(d->id));
	d->fetched_wall_s = wall_s();
	s->dirty = true;
	log_info("sts domain=%s event=policy id=%s mode=%s max_age=%u mx=%u took_ms=%u", d->name,
		 d->id, sts_mode_str(p.mode), p.max_age, p.n_mx,
		 (unsigned)((s->now_us - d->started_us) / 1000u));
	refresh_done(s, d, NULL);
}

/* ---- persistence -------------------------------------------------------------------------- */

static int save_next(void *arg, struct sts_store_rec *r)
{
	struct sts *s = arg;
	uint64_t now = wall_s();
	for (;;) {
		while (!s->it_dom && s->it_bucket < NBUCKETS)
			s->it_dom = s->hash[s->it_bucket++];
		struct dom *d = s->it_dom;
		if (!d)
			return 0;
		s->it_dom = d->hnext;
		if (policy_valid(d, now)) {
			*r = (struct sts_store_rec){ d->name, d->id, d->fetched_wall_s, d->pol };
			return 1;
		}
	}
}

static void save(struct sts *s)
{
	s->dirty = false;
	if (!s->o.cache_file)
		return;
	s->it_bucket = 0;
	s->it_dom = NULL;
	sts_store_save(s->o.cache_file, save_next, s);
}

static void load_one(void *arg, const struct sts_store_rec *r)
{
	struct sts *s = arg;
	if (r->fetched_wall_s + r->policy->max_age <= wall_s())
		return;   /* expired while we were down */
	struct dom *d = dom_get(s, r->domain);
	if (!d)
		return;
	if (!d->pol && !(d->pol = malloc(sizeof(*d->pol))))
		return;
	d->have = true;
	*d->pol = *r->policy;
	snprintf(d->id, sizeof(d->id), "%s", r->id);
	d->fetched_wall_s = r->fetched_wall_s;
}

/* ---- provider ----------------------------------------------------------------------------- */

static int start_refresh(struct sts *s, struct dom *d)
{
	if (d->st != D_IDLE)
		return 0;   /* already on its way: it publishes when done */
	/* the resolver ends each query by its own deadline; this only guards against a lost one */
	d->started_us = s->now_us;
	d->deadline_us = s->now_us + 2 * (uint64_t)s->o.fetch_timeout_ms * 1000u + 30000000u;
	pend(s, d, D_TXT);
	step_txt(s, d, true);
	return 0;
}

static int prov_start(void *arg, const char *name, uint64_t now_us)
{
	struct sts *s = arg;
	s->now_us = now_us;
	struct dom *d = dom_get(s, name);
	if (!d) {
		log_warn("sts domain=%s event=cache_full max_domains=%u", name, s->o.max_domains);
		return -ENOSPC;
	}
	/* stale-while-revalidate: a cached policy in force answers at once */
	if (d->st == D_IDLE && policy_valid(d, wall_s()))
		publish(s, d, s->o.retry_s);
	return start_refresh(s, d);
}

static void prov_process(void *arg, uint64_t now_us)
{
	struct sts *s = arg;
	s->now_us = now_us;
	sts_fetcher_process(s->f, now_us);
	for (struct dom *d = s->pending; d; d = d->pnext) {
		if ((d->st == D_TXT || d->st == D_ADDR) && now_us > d->deadline_us)
			refresh_done(s, d, "DNS steps did not finish in time");
		else if (d->st == D_TXT)
			step_txt(s, d, false);
		else if (d->st == D_ADDR)
			step_addr(s, d, false);
	}
	struct dom **pp = &s->pending;
	while (*pp) {
		if ((*pp)->st == D_IDLE) {
			(*pp)->listed = false;
			*pp = (*pp)->pnext;
		} else
			pp = &(*pp)->pnext;
	}
	if (s->dirty)
		save(s);
}

/* ---- set-up and queries ------------------------------------------------------------------- */

struct sts *sts_new(const struct sts_opts *o, struct ctl_dns *dns, int *err)
{
	struct sts *s = calloc(1, sizeof(*s));
	*err = -ENOMEM;
	if (!s)
		return NULL;
	s->o = *o;
	s->dns = dns;
	struct sts_fetch_opts fo = { .ca_file = o->ca_file, .timeout_ms = o->fetch_timeout_ms,
				     .port = o->https_port, .max_parallel = o->max_fetches };
	if (!(s->f = sts_fetcher_new(&fo, fetch_done, s, err)))
		goto err;
	unsigned n = 0;
	if (o->cache_file && (*err = sts_store_load(o->cache_file, load_one, s, &n)) < 0) {
		log_err("sts event=cache_load_failed file=%s error=\"%s\"", o->cache_file, strerror(-*err));
		goto err;
	}
	struct ctl_dns_provider pv = { .qtype = CTL_DNS_STS, .start = prov_start,
				       .process = prov_process, .fd = sts_fetcher_fd(s->f), .arg = s };
	if ((*err = ctl_dns_set_provider(dns, &pv)) < 0)
		goto err;
	log_info("sts event=started cache=%s loaded=%u ca_file=%s", o->cache_file ? o->cache_file : "none",
		 s->ndom, o->ca_file ? o->ca_file : "default");
	return s;
err:
	sts_free(s);
	return NULL;
}

void sts_free(struct sts *s)
{
	if (!s)
		return;
	sts_fetcher_free(s->f);
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct dom *d = s->hash[b], *n; d; d = n) {
			n = d->hnext;
			free(d->pol);
			free(d);
		}
	free(s);
}

void sts_info(const struct sts *s, const char *domain, struct sts_info *out)
{
	memset(out, 0, sizeof(*out));
	const struct dom *d = dom_find(s, domain);
	out->state = "unknown";
	if (!d)
		return;
	out->known = true;
	out->have_policy = d->have;
	out->state = state_names[d->st];
	memcpy(out->id, d->id, sizeof(out->id));
	if (d->pol)
		out->policy = *d->pol;
	out->fetched_wall_s = d->fetched_wall_s;
	out->expires_wall_s = d->have ? d->fetched_wall_s + d->pol->max_age : 0;
	out->checked_wall_s = d->checked_wall_s;
	memcpy(out->last_error, d->last_error, sizeof(out->last_error));
}

int sts_refresh(struct sts *s, const char *domain, uint64_t now_us)
{
	s->now_us = now_us;
	struct dom *d = dom_get(s, domain);
	return d ? start_refresh(s, d) : -ENOSPC;
}

void sts_each(const struct sts *s, void (*fn)(void *arg, const char *domain), void *arg)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (const struct dom *d = s->hash[b]; d; d = d->hnext)
			fn(arg, d->name);
}

const struct sts_stats *sts_stats_get(const struct sts *s) { return &s->stats; }
