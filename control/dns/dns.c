/* SPDX-License-Identifier: MIT */
/*
 * dns.c: the control plane's resolver. Worker requests arrive on per-slot SPSC rings and are
 * coalesced by (name, type) into one libunbound asynchronous query; libunbound runs its own
 * resolver thread and signals answers through ub_fd(), which the control loop polls. Each
 * answer becomes one immutable node published in the rculfhash cache (add_replace; the old
 * node is freed by call_rcu), then every waiting worker gets a completion on its answer ring.
 * Queries past their deadline are cancelled and published as TIMEOUT; failures and negative
 * answers are cached briefly (fail_ttl_s, neg_ttl_max_s) so a broken domain costs one query.
 * Pseudo types (CTL_DNS_STS) go to their provider instead of libunbound; the provider answers
 * with ctl_dns_publish(). One epoll fd stands for libunbound's and the providers' fds, so the
 * control loop polls one descriptor whatever is plugged in.
 */
#include "dns/dns.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <unbound.h>

#include "ctl/ring.h"
#include "dns/dns_parse.h"
#include "log.h"

#define QBUCKETS 1024
#define MAX_PROVIDERS 4
#define SWEEP_US 10000000ull

struct waiter {
	unsigned slot;        /* UINT32_MAX: the control plane itself */
	uint64_t req_id;
};

struct query {
	struct query *hnext;          /* in-flight hash chain */
	struct query *prev, *next;    /* FIFO by start (deadline order) */
	struct ctl_dns *d;
	char name[CTL_DNS_NAME_MAX];
	uint16_t qtype;
	uint64_t hash, deadline_us;
	int async_id;
	struct waiter *w;
	unsigned nw, capw;
};

struct ctl_dns {
	struct ub_ctx *ub;
	struct cds_lfht *ht;
	struct ctl_dns_opts o;
	struct ctl_ring **req, **done;
	struct query *qh[QBUCKETS];
	struct query *fifo_head, *fifo_tail;
	unsigned inflight;
	uint64_t now_us, next_sweep_us;
	uint64_t done_drops;
	int ep;                       /* epoll set: libunbound's fd and the providers' */
	struct ctl_dns_provider prov[MAX_PROVIDERS];
	unsigned nprov;
};

/* Request record on a worker's ring: this header, then the name bytes. */
struct req_wire {
	uint64_t req_id;
	uint16_t qtype;
	uint16_t namelen;
	uint32_t pad;
};

void ctl_dns_opts_defaults(struct ctl_dns_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->neg_ttl_max_s = 300;
	o->fail_ttl_s = 30;
	o->max_ttl_s = 86400;
	o->timeout_ms = 10000;
	o->max_inflight = 4096;
	o->nworkers = 1;
}

const char *ctl_dns_status_str(enum ctl_dns_status s)
{
	static const char *const names[] = { "ok", "nodata", "nxdomain", "servfail", "timeout", "bogus" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

/* ---- cache -------------------------------------------------------------------------------- */

struct key {
	const char *name;
	uint16_t qtype;
};

static uint64_t key_hash(const char *name, uint16_t qtype)
{
	uint64_t h = 1469598103934665603ull ^ qtype;
	for (const char *p = name; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	return h;
}

static int key_match(struct cds_lfht_node *node, const void *k)
{
	const struct ctl_dns_answer *a = caa_container_of(node, struct ctl_dns_answer, node);
	const struct key *key = k;
	return a->qtype == key->qtype && strcmp(a->name, key->name) == 0;
}

static void answer_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct ctl_dns_answer, rcu));
}

/* Lower case, no trailing dot; false when it does not fit or is empty. */
static bool name_canon(char *dst, const char *src)
{
	size_t n = strlen(src);
	if (n > 1 && src[n - 1] == '.')
		n--;
	if (n == 0 || n >= CTL_DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[n] = '\0';
	return true;
}

const struct ctl_dns_answer *ctl_dns_lookup(struct ctl_dns *d, const char *name, uint16_t qtype,
					    uint64_t now_us)
{
	char canon[CTL_DNS_NAME_MAX];
	if (!name_canon(canon, name))
		return NULL;
	struct key k = { canon, qtype };
	struct cds_lfht_iter it;
	cds_lfht_lookup(d->ht, key_hash(canon, qtype), key_match, &k, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	if (!node)
		return NULL;
	const struct ctl_dns_answer *a = caa_container_of(node, struct ctl_dns_answer, node);
	return a->expires_us > now_us ? a : NULL;
}

static void publish(struct ctl_dns *d, struct ctl_dns_answer *a)
{
	struct key k = { a->name, a->qtype };
	struct cds_lfht_node *old = cds_lfht_add_replace(d->ht, key_hash(a->name, a->qtype),
							 key_match, &k, &a->node);
	if (old)
		call_rcu(&caa_container_of(old, struct ctl_dns_answer, node)->rcu, answer_free_rcu);
}

/* Removes answers expired for more than a minute (kept that long so a worker that just
 * missed a refresh still finds the stale entry's replacement rather than a gap). */
static void sweep(struct ctl_dns *d)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	cds_lfht_for_each(d->ht, &it, node) {
		struct ctl_dns_answer *a = caa_container_of(node, struct ctl_dns_answer, node);
		if (a->expires_us + 60000000ull < d->now_us && cds_lfht_del(d->ht, node) == 0)
			call_rcu(&a->rcu, answer_free_rcu);
	}
}

/* ---- queries ------------------------------------------------------------------------------ */

static struct query *query_find(struct ctl_dns *d, const char *name, uint16_t qtype, uint64_t h)
{
	for (struct query *q = d->qh[h % QBUCKETS]; q; q = q->hnext)
		if (q->qtype == qtype && strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

static void query_unlink(struct ctl_dns *d, struct query *q)
{
	struct query **pp = &d->qh[q->hash % QBUCKETS];
	while (*pp != q)
		pp = &(*pp)->hnext;
	*pp = q->hnext;
	if (q->prev)
		q->prev->next = q->next;
	else
		d->fifo_head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		d->fifo_tail = q->prev;
	d->inflight--;
}

static int query_wait(struct query *q, unsigned slot, uint64_t req_id)
{
	if (q->nw == q->capw) {
		unsigned cap = q->capw ? q->capw * 2 : 4;
		struct waiter *w = realloc(q->w, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		q->w = w;
		q->capw = cap;
	}
	q->w[q->nw].slot = slot;
	q->w[q->nw++].req_id = req_id;
	return 0;
}

/* Publishes a (the query's answer; NULL: nothing, waiters get st_none), completes every
 * waiter, frees q. */
static void query_finish_st(struct ctl_dns *d, struct query *q, struct ctl_dns_answer *a,
			    enum ctl_dns_status st_none)
{
	query_unlink(d, q);
	enum ctl_dns_status st = a ? a->status : st_none;
	if (a)
		publish(d, a);
	for (unsigned i = 0; i < q->nw; i++) {
		if (q->w[i].slot >= d->o.nworkers)
			continue;
		struct ctl_dns_done done = { .req_id = q->w[i].req_id, .qtype = q->qtype, .status = st };
		if (ctl_ring_put(d->done[q->w[i].slot], &done, sizeof(done)) < 0)
			d->done_drops++;
	}
	log_debug("dns name=%s type=%u status=%s waiters=%u", q->name, q->qtype,
		  ctl_dns_status_str(st), q->nw);
	free(q->w);
	free(q);
}

static void query_finish(struct ctl_dns *d, struct query *q, struct ctl_dns_answer *a)
{
	query_finish_st(d, q, a, CTL_DNS_SERVFAIL);
}

static const struct ctl_dns_provider *provider_of(const struct ctl_dns *d, uint16_t qtype)
{
	for (unsigned i = 0; i < d->nprov; i++)
		if (d->prov[i].qtype == qtype)
			return &d->prov[i];
	return NULL;
}

static void ub_answer(void *arg, int err, struct ub_result *res)
{
	struct query *q = arg;
	struct ctl_dns *d = q->d;
	struct ctl_dns_answer *a = ctl_dns_answer_build(q->name, q->qtype, err, res, &d->o, d->now_us);
	if (err)
		log_warn("dns name=%s type=%u error=\"%s\"", q->name, q->qtype, ub_strerror(err));
	if (res)
		ub_resolve_free(res);
	query_finish(d, q, a);
}

static int query_start(struct ctl_dns *d, const char *name, uint16_t qtype, unsigned slot,
		       uint64_t req_id)
{
	char canon[CTL_DNS_NAME_MAX];
	if (!name_canon(canon, name))
		return -EINVAL;
	uint64_t h = key_hash(canon, qtype);
	struct query *q = query_find(d, canon, qtype, h);
	if (q)
		return query_wait(q, slot, req_id);
	if (d->inflight >= d->o.max_inflight)
		return -EBUSY;
	q = calloc(1, sizeof(*q));
	if (!q || query_wait(q, slot, req_id) < 0) {
		free(q);
		return -ENOMEM;
	}
	q->d = d;
	memcpy(q->name, canon, sizeof(canon));
	q->qtype = qtype;
	q->hash = h;
	q->deadline_us = d->now_us + (uint64_t)d->o.timeout_ms * 1000u;
	q->hnext = d->qh[h % QBUCKETS];
	d->qh[h % QBUCKETS] = q;
	q->prev = d->fifo_tail;
	if (d->fifo_tail)
		d->fifo_tail->next = q;
	else
		d->fifo_head = q;
	d->fifo_tail = q;
	d->inflight++;
	const struct ctl_dns_provider *pv = provider_of(d, qtype);
	if (pv) {
		/* may publish at once (ctl_dns_publish finishes q): q must not be used after */
		if (pv->start(pv->arg, canon, d->now_us) < 0) {
			q = query_find(d, canon, qtype, h);
			if (q)
				query_finish(d, q, NULL);
		}
		return 0;
	}
	int rc = ub_resolve_async(d->ub, canon, qtype, 1, q, ub_answer, &q->async_id);
	if (rc != 0) {
		log_warn("dns name=%s type=%u resolve_async=\"%s\"", canon, qtype, ub_strerror(rc));
		query_finish(d, q, ctl_dns_answer_fail(canon, qtype, CTL_DNS_SERVFAIL, &d->o, d->now_us));
	}
	return 0;
}

int ctl_dns_resolve(struct ctl_dns *d, const char *name, uint16_t qtype, uint64_t now_us)
{
	d->now_us = now_us;
	return query_start(d, name, qtype, UINT32_MAX, 0);
}

static void expire_queries(struct ctl_dns *d)
{
	while (d->fifo_head && d->fifo_head->deadline_us <= d->now_us) {
		struct query *q = d->fifo_head;
		if (provider_of(d, q->qtype)) {
			/* the provider keeps working and publishes later; the old answer stays */
			query_finish_st(d, q, NULL, CTL_DNS_TIMEOUT);
			continue;
		}
		ub_cancel(d->ub, q->async_id);
		log_info("dns name=%s type=%u status=timeout after_ms=%u", q->name, q->qtype,
			 d->o.timeout_ms);
		query_finish(d, q, ctl_dns_answer_fail(q->name, q->qtype, CTL_DNS_TIMEOUT, &d->o,
						       d->now_us));
	}
}

static void drain_requests(struct ctl_dns *d)
{
	for (unsigned s = 0; s < d->o.nworkers; s++) {
		const struct req_wire *r;
		size_t len;
		while ((r = ctl_ring_peek(d->req[s], &len))) {
			char name[CTL_DNS_NAME_MAX];
			size_t n = r->namelen < CTL_DNS_NAME_MAX ? r->namelen : CTL_DNS_NAME_MAX - 1;
			memcpy(name, r + 1, n);
			name[n] = '\0';
			int rc = query_start(d, name, r->qtype, s, r->req_id);
			if (rc == -EBUSY)
				break; /* leave it in the ring until a query finishes */
			if (rc < 0) {
				struct ctl_dns_done done = { r->req_id, r->qtype, CTL_DNS_SERVFAIL };
				if (ctl_ring_put(d->done[s], &done, sizeof(done)) < 0)
					d->done_drops++;
			}
			ctl_ring_pop(d->req[s]);
		}
	}
}

void ctl_dns_process(struct ctl_dns *d, uint64_t now_us)
{
	d->now_us = now_us;
	if (ub_poll(d->ub))
		ub_process(d->ub);
	for (unsigned i = 0; i < d->nprov; i++)
		if (d->prov[i].process)
			d->prov[i].process(d->prov[i].arg, now_us);
	drain_requests(d);
	expire_queries(d);
	if (now_us >= d->next_sweep_us) {
		sweep(d);
		d->next_sweep_us = now_us + SWEEP_US;
	}
}

int ctl_dns_fd(struct ctl_dns *d) { return d->ep >= 0 ? d->ep : ub_fd(d->ub); }

int ctl_dns_set_provider(struct ctl_dns *d, const struct ctl_dns_provider *p)
{
	if (!p->start || p->qtype < 0xff00 || provider_of(d, p->qtype))
		return -EINVAL;
	if (d->nprov == MAX_PROVIDERS)
		return -ENOSPC;
	if (p->fd >= 0 && d->ep >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = p->fd };
		if (epoll_ctl(d->ep, EPOLL_CTL_ADD, p->fd, &ev) < 0)
			return -errno;
	}
	d->prov[d->nprov++] = *p;
	return 0;
}

void ctl_dns_publish(struct ctl_dns *d, struct ctl_dns_answer *a)
{
	uint64_t h = key_hash(a->name, a->qtype);
	struct query *q = query_find(d, a->name, a->qtype, h);
	if (q)
		query_finish(d, q, a);
	else
		publish(d, a);
}
unsigned ctl_dns_inflight(const struct ctl_dns *d) { return d->inflight; }

/* ---- worker side -------------------------------------------------------------------------- */

int ctl_dns_request(struct ctl_dns *d, unsigned slot, const char *name, uint16_t qtype,
		    uint64_t req_id)
{
	size_t n = strlen(name);
	if (slot >= d->o.nworkers || n == 0 || n >= CTL_DNS_NAME_MAX)
		return -EINVAL;
	struct req_wire w = { .req_id = req_id, .qtype = qtype, .namelen = (uint16_t)n };
	return ctl_ring_put2(d->req[slot], &w, sizeof(w), name, n);
}

unsigned ctl_dns_completions(struct ctl_dns *d, unsigned slot, struct ctl_dns_done *out,
			     unsigned max)
{
	unsigned n = 0;
	const struct ctl_dns_done *r;
	size_t len;
	while (n < max && slot < d->o.nworkers && (r = ctl_ring_peek(d->done[slot], &len))) {
		out[n++] = *r;
		ctl_ring_pop(d->done[slot]);
	}
	return n;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static int ub_setup(struct ctl_dns *d)
{
	int rc = ub_ctx_async(d->ub, 1); /* a resolver thread, never fork() inside the daemon */
	if (rc == 0 && d->o.forwarders) {
		ub_ctx_set_option(d->ub, "do-not-query-localhost:", "no");
		char *list = strdup(d->o.forwarders), *save = NULL;
		for (char *t = strtok_r(list, ", ", &save); t && rc == 0; t = strtok_r(NULL, ", ", &save))
			rc = ub_ctx_set_fwd(d->ub, t);
		free(list);
	} else if (rc == 0) {
		rc = ub_ctx_resolvconf(d->ub, NULL);
	}
	if (rc == 0 && d->o.unbound_conf)
		rc = ub_ctx_config(d->ub, d->o.unbound_conf);
	if (rc == 0 && d->o.trust_anchor_file)
		rc = ub_ctx_add_ta_file(d->ub, d->o.trust_anchor_file);
	if (rc != 0) {
		log_err("dns setup failed forwarders=%s trust_anchor=%s error=\"%s\"",
			d->o.forwarders ? d->o.forwarders : "resolv.conf",
			d->o.trust_anchor_file ? d->o.trust_anchor_file : "none", ub_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

struct ctl_dns *ctl_dns_new(const struct ctl_dns_opts *o, int *err)
{
	struct ctl_dns *d = calloc(1, sizeof(*d));
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	d->o = *o;
	d->ep = -1;
	*err = -ENOMEM;
	d->req = calloc(o->nworkers ? o->nworkers : 1, sizeof(*d->req));
	d->done = calloc(o->nworkers ? o->nworkers : 1, sizeof(*d->done));
	if (!d->req || !d->done)
		goto err;
	for (unsigned i = 0; i < o->nworkers; i++) {
		d->req[i] = ctl_ring_new(64 * 1024);
		d->done[i] = ctl_ring_new(256 * 1024);
		if (!d->req[i] || !d->done[i])
			goto err;
	}
	d->ht = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	d->ub = ub_ctx_create();
	if (!d->ht || !d->ub)
		goto err;
	if ((*err = ub_setup(d)) < 0)
		goto err;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ub_fd(d->ub) };
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->ep < 0 || epoll_ctl(d->ep, EPOLL_CTL_ADD, ub_fd(d->ub), &ev) < 0) {
		*err = -errno;
		goto err;
	}
	return d;
err:
	ctl_dns_free(d);
	return NULL;
}

void ctl_dns_free(struct ctl_dns *d)
{
	if (!d)
		return;
	while (d->fifo_head) {
		struct query *q = d->fifo_head;
		ub_cancel(d->ub, q->async_id);
		query_finish(d, q, NULL);
	}
	if (d->ub)
		ub_ctx_delete(d->ub);
	if (d->ep >= 0)
		close(d->ep);
	if (d->ht) {
		struct cds_lfht_iter it;
		struct cds_lfht_node *node;
		cds_lfht_for_each(d->ht, &it, node) {
			if (cds_lfht_del(d->ht, node) == 0)
				call_rcu(&caa_container_of(node, struct ctl_dns_answer, node)->rcu,
					 answer_free_rcu);
		}
		rcu_barrier();
		cds_lfht_destroy(d->ht, NULL);
	}
	for (unsigned i = 0; d->req && i < d->o.nworkers; i++) {
		ctl_ring_free(d->req[i]);
		ctl_ring_free(d->done[i]);
	}
	free(d->req);
	free(d->done);
	free(d);
}
