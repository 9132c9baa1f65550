/* SPDX-License-Identifier: MIT */
/*
 * clu.h: the cluster module's API (types in clu-t.h, design in docs/cluster.md).
 *
 *   node = clu_node_new(&params, limits, n, &err)   control plane, start-up
 *   clu_node_start(node)                            cluster thread: clu_node_step every renew_ms
 *   clu_node_table(node)                            readers (rcu read side): current budget table
 *   clu_node_suspend / clu_node_resume              any control thread (dpmailctl)
 *   clu_node_stop(node); clu_node_free(node)        shutdown, after the workers stopped
 *
 * Tests drive clu_node_step themselves with their own clock (no thread).
 */
#ifndef DPMAIL_CLU_H
#define DPMAIL_CLU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/clu-t.h"

struct clu_node;

void clu_params_defaults(struct clu_params *p);

/* ---- lease arithmetic (clu_lease.c): pure functions ---- */

/* The fallback budget without Redis: pct percent of the configured limits, never 0 for a
 * limited destination (so a node can always make progress), nodes = 0. */
void clu_grant_fallback(const struct clu_limit *l, uint32_t pct, struct clu_grant *g);
/* A lcore's share of a node grant value (rate in milli-messages/s or connections), split so
 * the lcores' shares add up to the value exactly; 0 means "nothing for this lcore". */
uint64_t clu_lcore_share(uint64_t value, unsigned idx, unsigned n);
/* True while the entry's destination is suspended at wall-clock time now_ms. */
bool clu_entry_suspended(const struct clu_entry *e, uint64_t now_ms);
/* Parses a suspension length: seconds as an integer, or with suffix s/m/h/d. -1 if invalid. */
long long clu_duration_parse(const char *s);

/* ---- budget tables (clu_table.c) ---- */

/* A table for n entries (zeroed), or NULL. Released with clu_table_free or by call_rcu. */
struct clu_table *clu_table_new(unsigned n);
void clu_table_free(struct clu_table *t);
/* Sorts the entries by key; before publication. */
void clu_table_sort(struct clu_table *t);
/* The entry of key (exact, case-insensitive), or NULL. t may be NULL. */
struct clu_entry *clu_table_find(const struct clu_table *t, const char *key);

/* ---- the node (clu_node.c) ---- */

/*
 * A node managing the given destinations (copied; entries with neither limit are ignored).
 * Does not connect yet. NULL with *err = -errno.
 */
struct clu_node *clu_node_new(const struct clu_params *p, const struct clu_limit *limits,
			      unsigned n, int *err);
/* Stops the thread if running, returns this node's leases if Redis answers, frees. */
void clu_node_free(struct clu_node *node);
/* Starts the cluster thread (registers itself with urcu-qsbr). 0 or -errno. */
int clu_node_start(struct clu_node *node);
void clu_node_stop(struct clu_node *node);
/*
 * One round at monotonic time now_us and wall time wall_ms: (re)connect when due, push local
 * suspension changes, poll remote ones, lease/renew/return per destination, fall back when
 * Redis is unreachable, publish the table if it changed. Blocks at most a few io_timeout_ms.
 * Called by the cluster thread, or by tests instead of it. Not reentrant.
 */
void clu_node_step(struct clu_node *node, uint64_t now_us, uint64_t wall_ms);
/* The current table for an RCU reader (the caller is registered and online), or NULL. */
struct clu_table *clu_node_table(struct clu_node *node);
/* Suspends key until wall time until_ms (UINT64_MAX: until resumed) on this node at once and
 * on every node after the next rounds. Thread-safe. 0 or -ENOSPC. */
int clu_node_suspend(struct clu_node *node, const char *key, uint64_t until_ms);
int clu_node_resume(struct clu_node *node, const char *key);
bool clu_node_redis_up(struct clu_node *node);
/*
 * Called by worker lcore `lcore` (< CLU_LCORES; one producer per lcore, no lock, no
 * allocation): asks the node to manage key, covered by the `*` shaping rule, with the `*`
 * limits as its own cluster-wide budget from its next round on. At most CLU_DEST_MAX keys in
 * all; dynamic keys idle for dyn_idle_ms are dropped. 0, -ENOSPC (this lcore's requests are
 * full: ask again later), -E2BIG (key too long), -EINVAL (lcore out of range, no `*` rule).
 */
int clu_node_ask(struct clu_node *node, unsigned lcore, const char *key);
/*
 * Called by worker lcore `lcore` when its automatic backoff cut key to factor per-mille
 * (1..999): the node publishes the cut cluster-wide in its next round (any key, managed or
 * not). Same ring and return values as clu_node_ask.
 */
int clu_node_report_cut(struct clu_node *node, unsigned lcore, const char *key, uint32_t factor);
const char *clu_node_id(const struct clu_node *node);

/* A copy of the node's state for display (dpmailctl cluster show). Thread-safe. */
struct clu_node_info {
	bool redis_up;
	uint64_t rounds, redis_errors, fallbacks, published;
	unsigned n_nodes;                      /* distinct live nodes seen in lease sets */
	char nodes[16][CLU_NODE_MAX + 1];
};
void clu_node_info(struct clu_node *node, struct clu_node_info *out);

/* The process's node, for delivery's lcores (dpmaild runs one node); NULL: no cluster. */
void clu_set_active(struct clu_node *node);
struct clu_node *clu_active(void);

#endif
