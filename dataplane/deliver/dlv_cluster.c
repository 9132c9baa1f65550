/* SPDX-License-Identifier: MIT */
/*
 * dlv_cluster.c: delivery's side of a dpmail cluster (control/cluster, docs/cluster.md). Once
 * per destination and dispatch, a lcore looks its destination up in the budget table the
 * cluster thread publishes with RCU, and clamps its share of the destination's connections and
 * rate to its share of the node's lease; a suspended destination, or one whose lease is empty,
 * dispatches nothing. The lcore never talks to Redis: the only things it writes are the entry's
 * demand time (relaxed store, at most every DEMAND_EVERY_US), which tells the control plane
 * that this node wants a lease for the destination, its count of open connections (its own
 * slot, stored when it changes), which the lease counts until surplus connections are closed,
 * and its backoff cuts (its own slot: count and factor), which the node publishes cluster-wide.
 * A cut published by any node (the entry's bo_factor going down) is adopted by this lcore's
 * controller, which then restores the rate step by step as if it had cut itself: every node
 * restores its share in parallel, so the cluster-wide rate recovers once.
 */
#include <string.h>

#include "cluster/clu.h"
#include "deliver/dlv_int.h"

#define DEMAND_EVERY_US 100000ull
#define ASK_AGAIN_US 5000000ull     /* a key not in the table yet is asked for again after this */
#define ASK_HOLD_US 1000000ull      /* a `*` destination waits this long for its key */

static struct clu_entry *entry_of(const struct clu_table *t, const char *key)
{
	struct clu_entry *e = clu_table_find(t, key);
	if (!e && strncmp(key, "route:", 6) == 0)
		e = clu_table_find(t, key + 6);   /* a rule naming the route's domain */
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

/* Reports this lcore's cuts and adopts the cluster's. */
static void backoff_share(struct dlv_engine *eng, struct dlv_dest *d, struct clu_entry *e,
			  unsigned slot)
{
	uint64_t mine = CLU_CUT(d->bo.cuts, d->bo.factor);
	if (d->bo.cuts && __atomic_load_n(&e->cut[slot], __ATOMIC_RELAXED) != mine)
		__atomic_store_n(&e->cut[slot], mine, __ATOMIC_RELAXED);
	uint32_t cf = e->bo_factor ? e->bo_factor : 1000;
	uint32_t seen = d->clu_bo_seen ? d->clu_bo_seen : 1000;
	if (cf == seen)
		return;
	d->clu_bo_seen = cf;
	/* Only a new cut (the factor going down) is adopted; the cluster's restoration is
	 * followed by this lcore's own steps. */
	if (cf < seen && dlv_backoff_adopt(&d->bo, cf, eng->now))
		dlv_dest_backoff_changed(eng, d);
}

/*
 * A destination the table does not name becomes a cluster key when it is covered by the `*`
 * rule (its limits are then cluster-wide, each destination its own budget, as a named rule)
 * or when it has no limit but backs off (so the cut is shared). A `*` destination waits up to
 * ASK_HOLD_US for its key so that it does not send on node-local limits meanwhile; when the
 * node cannot take the key (its requests full, CLU_DEST_MAX keys, lcore index beyond
 * CLU_LCORES) the node-local limits apply. Returns true while the destination must wait.
 */
static bool ask_key(struct dlv_engine *eng, struct dlv_dest *d, struct clu_node *node)
{
	enum clu_ask_kind kind;
	if (d->shape_star)
		kind = CLU_ASK_STAR;
	else if (d->rate_mps == 0 && d->conn_limit == 0 && d->bo.cuts)
		kind = CLU_ASK_BACKOFF;
	else
		return false;
	if (d->clu_asked_us && eng->now < d->clu_asked_us + ASK_AGAIN_US)
		return kind == CLU_ASK_STAR && eng->now < d->clu_asked_us + ASK_HOLD_US;
	if (clu_node_ask(node, eng->p.lcore_index, d->key, kind) < 0)
		return false;
	d->clu_asked_us = eng->now ? eng->now : 1;
	return kind == CLU_ASK_STAR;
}

/* What the node learns from its lcores: demand, open connections, backoff cuts. */
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
	backoff_share(eng, d, e, slot);
}

bool dlv_cluster_gate(struct dlv_engine *eng, struct dlv_dest *d)
{
	struct clu_node *node = clu_active();
	if (!node)
		return true;
	const struct clu_table *t = clu_node_table(node);
	struct clu_entry *e = entry_of(t, d->key);
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
