/* SPDX-License-Identifier: MIT */
/*
 * dlv_cluster.c: delivery's side of a dpmail cluster (control/cluster, docs/cluster.md). Once
 * per destination and dispatch, a lcore looks its destination up in the budget table the
 * cluster thread publishes with RCU, and clamps its share of the destination's connections and
 * rate to its share of the node's lease; a suspended destination, or one whose lease is empty,
 * dispatches nothing. The lcore never talks to Redis: the only things it writes are the entry's
 * demand time (relaxed store, at most every DEMAND_EVERY_US), which tells the control plane
 * that this node wants a lease for the destination, its count of open connections (its own
 * slot, stored when it changes), which the lease counts until surplus connections are closed.
 * Its backoff cuts go to the node through the lcore's request ring (clu_node_report_cut), which
 * publishes them cluster-wide. A cut published by any node (the entry's bo_factor going down)
 * is adopted by this lcore's controller, which then restores the rate step by step as if it
 * had cut itself: every node restores its share in parallel, so the cluster-wide rate recovers
 * once.
 */
#include <errno.h>
#include <string.h>

#include "cluster/clu.h"
#include "deliver/dlv_int.h"

#define DEMAND_EVERY_US 100000ull
#define ASK_AGAIN_US 5000000ull     /* a key not in the table yet is asked for again after this */
#define ASK_HOLD_US 1000000ull      /* a `*` destination waits this long for its key */

/* The destination's budget identity: its key without the class parts (|tls=..., the TLS
 * class splits queues, not budgets). */
static void base_of(const struct dlv_dest *d, char *buf, size_t cap)
{
	size_t n = d->base_len < cap - 1 ? d->base_len : cap - 1;
	memcpy(buf, d->key, n);
	buf[n] = 0;
}

/* The entry of d: its base, a rule naming the route's domain (route:<name>), or the shaping
 * rule that matched its recipient domain (|shape=<rule> in the key). */
static struct clu_entry *entry_of(const struct clu_table *t, const struct dlv_dest *d)
{
	char base[DLV_KEY_MAX];
	base_of(d, base, sizeof(base));
	struct clu_entry *e = clu_table_find(t, base);
	if (!e && strncmp(base, "route:", 6) == 0)
		e = clu_table_find(t, base + 6);
	const char *sh = e ? NULL : strstr(d->key + d->base_len, "|shape=");
	if (sh) {
		char rule[DLV_KEY_MAX];
		size_t n = strcspn(sh + 7, "|");
		n = n < sizeof(rule) - 1 ? n : sizeof(rule) - 1;
		memcpy(rule, sh + 7, n);
		rule[n] = 0;
		e = clu_table_find(t, rule);
	}
	return e;
}

/* A cluster suspension names a destination as the operator knows it: its key, route name,
 * recipient domain or one of its hosts (as dlv_dest_matches does for local suspensions). */
static bool suspended(const struct clu_table *t, const struct clu_entry *e,
		      const struct dlv_dest *d, uint64_t wall_ms)
{
	if (e && clu_entry_suspended(e, wall_ms))
		return true;
	if (!t || !t->n_susp)
		return false;
	const struct clu_entry *o = d->domain[0] ? clu_table_find(t, d->domain) : NULL;
	if (o && clu_entry_suspended(o, wall_ms))
		return true;
	for (unsigned i = 0; i < d->nhops; i++)
		if ((o = clu_table_find(t, d->hops[i].host)) && clu_entry_suspended(o, wall_ms))
			return true;
	return false;
}

/* The share shrank (a node joined): idle connections above it are closed by the next
 * connection tick (dlv_conn_tick closes an idle connection past idle_close_us); busy ones
 * close after their message (dlv_conn.c take_next). */
static void shed_idle(struct dlv_engine *eng, struct dlv_dest *d, uint32_t n)
{
	for (uint32_t i = 0; i < eng->p.max_conns && n; i++) {
		struct dlv_conn *dc = &eng->conns[i];
		if (dc->dest == d && dc->st == DLV_C_IDLE && !dc->job && dc->idle_since) {
			dc->idle_since = 0;
			n--;
		}
	}
}

/* Reports this lcore's new cuts (any destination) to the node, which publishes them
 * cluster-wide. Only cuts travel, never levels: a factor lowered by adopting the cluster's cut,
 * or lagging its restoration by a moment, is not news. */
static void cut_report(struct dlv_engine *eng, struct dlv_dest *d, struct clu_node *node,
		       const struct clu_entry *e)
{
	if (d->bo.cuts == d->clu_cuts_sent)
		return;
	char base[DLV_KEY_MAX];
	base_of(d, base, sizeof(base));
	/* under the name of its budget when the table has one, so every node finds it there */
	if (clu_node_report_cut(node, eng->p.lcore_index, e ? e->key : base, d->bo.factor) != -ENOSPC)
		d->clu_cuts_sent = d->bo.cuts;   /* sent, or never sendable (retry only a full ring) */
}

/* Adopts a cut published by any node (the entry's factor going down); the restoration is
 * then this lcore's own, step by step, in parallel with every other node's. */
static void cut_adopt(struct dlv_engine *eng, struct dlv_dest *d, const struct clu_entry *e)
{
	uint32_t cf = e->bo_factor ? e->bo_factor : 1000;
	uint32_t seen = d->clu_bo_seen ? d->clu_bo_seen : 1000;
	if (cf == seen)
		return;
	d->clu_bo_seen = cf;
	if (cf < seen && dlv_backoff_adopt(&d->bo, cf, eng->now))
		dlv_dest_backoff_changed(eng, d);
}

/*
 * A destination the table does not name becomes a cluster key when the `*` rule covers it
 * with a limit: its limits are then cluster-wide, each destination its own budget, as with a
 * named rule. It waits up to ASK_HOLD_US for its key so that it does not send on node-local
 * limits meanwhile; when the node cannot take the key (its requests full, CLU_DEST_MAX keys,
 * lcore index beyond CLU_LCORES) the node-local limits apply. True while it must wait.
 */
static bool ask_key(struct dlv_engine *eng, struct dlv_dest *d, struct clu_node *node)
{
	if (!d->shape_star)
		return false;
	if (d->clu_asked_us && eng->now < d->clu_asked_us + ASK_AGAIN_US)
		return eng->now < d->clu_asked_us + ASK_HOLD_US;
	char base[DLV_KEY_MAX];
	base_of(d, base, sizeof(base));
	if (clu_node_ask(node, eng->p.lcore_index, base) < 0)
		return false;
	d->clu_asked_us = eng->now ? eng->now : 1;
	return true;
}

/* What the node learns from this lcore (demand, open connections); the cluster cut it adopts. */
static void report(struct dlv_engine *eng, struct dlv_dest *d, struct clu_entry *e)
{
	if (d->qlen) {
		uint64_t last = __atomic_load_n(&e->demand_us, __ATOMIC_RELAXED);
		if (eng->now >= last + DEMAND_EVERY_US)
			__atomic_store_n(&e->demand_us, eng->now, __ATOMIC_RELAXED);
	}
	unsigned slot = eng->p.lcore_index < CLU_LCORES ? eng->p.lcore_index : CLU_LCORES - 1;
	if (__atomic_load_n(&e->open[slot], __ATOMIC_RELAXED) != d->nconn)
		__atomic_store_n(&e->open[slot], d->nconn, __ATOMIC_RELAXED);
	cut_adopt(eng, d, e);
}

void dlv_cluster_cut(struct dlv_engine *eng, struct dlv_dest *d)
{
	struct clu_node *node = clu_active();
	if (node && d->bo.cuts != d->clu_cuts_sent)
		cut_report(eng, d, node, entry_of(clu_node_table(node), d));
}

bool dlv_cluster_gate(struct dlv_engine *eng, struct dlv_dest *d)
{
	struct clu_node *node = clu_active();
	if (!node)
		return true;
	const struct clu_table *t = clu_node_table(node);
	struct clu_entry *e = entry_of(t, d);
	cut_report(eng, d, node, e);
	if (e)
		report(eng, d, e);
	uint64_t wall_ms = (uint64_t)((int64_t)eng->now + eng->p.wall_offset_us) / 1000;
	if (suspended(t, e, d, wall_ms))
		return false;
	if (!e)
		return !ask_key(eng, d, node);
	unsigned idx = eng->p.lcore_index, n = eng->p.n_lcores;
	if (e->limited_conns) {
		uint32_t c = (uint32_t)clu_lcore_share(e->g.conns, idx, n);
		if (c == 0)
			return false;     /* conn_limit 0 would mean "unlimited" to the engine */
		d->conn_limit = c;
		if (d->nconn > c)
			shed_idle(eng, d, d->nconn - c);
	}
	if (e->limited_rate) {
		uint64_t r = clu_lcore_share(e->g.rate_mps, idx, n);
		if (r == 0)
			return false;
		d->rate_mps = r;          /* backoff decisions re-apply their factor to this */
		uint64_t target = dlv_backoff_apply(&d->bo, r);
		if (d->bucket.rate_mps != target)
			dlv_bucket_set_rate(&d->bucket, target, eng->now);
	}
	return true;
}
