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

static struct clu_entry *entry_of(const struct clu_table *t, const char *key)
{
	struct clu_entry *e = clu_table_find(t, key);
	if (!e && strncmp(key, "route:", 6) == 0)
		e = clu_table_find(t, key + 6);   /* a rule naming the route's domain */
	return e;
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

bool dlv_cluster_gate(struct dlv_engine *eng, struct dlv_dest *d)
{
	struct clu_node *node = clu_active();
	if (!node)
		return true;
	struct clu_entry *e = entry_of(clu_node_table(node), d->budget);   /* key without its class */
	if (!e)
		return true;
	if (d->qlen) {
		uint64_t last = __atomic_load_n(&e->demand_us, __ATOMIC_RELAXED);
		if (eng->now >= last + DEMAND_EVERY_US)
			__atomic_store_n(&e->demand_us, eng->now, __ATOMIC_RELAXED);
	}
	unsigned slot = eng->p.lcore_index < CLU_LCORES ? eng->p.lcore_index : CLU_LCORES - 1;
	if (__atomic_load_n(&e->open[slot], __ATOMIC_RELAXED) != d->nconn)
		__atomic_store_n(&e->open[slot], d->nconn, __ATOMIC_RELAXED);
	backoff_share(eng, d, e, slot);
	uint64_t wall_ms = (uint64_t)((int64_t)eng->now + eng->p.wall_offset_us) / 1000;
	if (clu_entry_suspended(e, wall_ms))
		return false;
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
