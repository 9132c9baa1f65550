/* SPDX-License-Identifier: MIT */
/*
 * clu-t.h: types of the cluster module. Several dpmaild nodes share each destination's
 * connection and rate budget, and their suspensions, through Redis. The control plane of each
 * node (a cluster thread, never a worker lcore) leases a share of every managed destination's
 * cluster-wide budget for a short term, and publishes the result as an immutable budget table
 * with liburcu; delivery on every lcore clamps its share of the destination to the table
 * (dataplane/deliver/dlv_cluster.c). See docs/cluster.md.
 */
#ifndef DPMAIL_CLU_T_H
#define DPMAIL_CLU_T_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#define CLU_NODE_MAX   63      /* node id length */
#define CLU_KEY_MAX    253     /* destination key length (domain, route name) */
#define CLU_DEST_MAX   256     /* managed destinations per node */
#define CLU_HOST_MAX   255
#define CLU_LCORES     16      /* lcores whose open connections an entry records */
#define CLU_ASK_RING   32      /* pending requests (keys, cuts) per lcore */

/* Tunables (control/config maps the `cluster` section onto them). */
struct clu_params {
	char node[CLU_NODE_MAX + 1];  /* unique per node; default: hostname-pid */
	char redis_host[CLU_HOST_MAX + 1];
	uint16_t redis_port;
	char prefix[32];              /* Redis key prefix: several clusters may share a server */
	uint32_t lease_ms;            /* lease term: a dead node's share returns after this */
	uint32_t renew_ms;            /* leases are renewed (and suspensions polled) this often */
	uint32_t io_timeout_ms;       /* one Redis round trip at most; then Redis counts as down */
	uint32_t fallback_pct;        /* without Redis: this percent of the configured budget */
	uint32_t idle_return_ms;      /* no queued work this long: the lease is returned */
	uint32_t bo_step_factor;      /* backoff restoration: per-mille per step (delivery.backoff) */
	uint32_t bo_step_ms;          /* and the step interval, both for the cluster-wide curve */
	uint32_t star_rate;           /* the `*` shaping rule: limits of every destination it */
	uint32_t star_conns;          /* covers, cluster-wide, each its own key (0/0: no rule) */
	uint32_t dyn_idle_ms;         /* a key added at run time and idle this long is dropped */
};


/* One destination's cluster-wide budget as configured (delivery.shaping). */
struct clu_limit {
	char key[CLU_KEY_MAX + 1];
	uint32_t rate;                /* messages/s, whole cluster; 0 = unlimited */
	uint32_t conns;               /* connections, whole cluster; 0 = unlimited */
};

/* What one lease (or the fallback) grants this node for one destination. */
struct clu_grant {
	uint64_t rate_mps;            /* milli-messages/s for the whole node */
	uint32_t conns;               /* connections for the whole node */
	uint32_t nodes;               /* nodes sharing the destination (0: fallback) */
};

enum clu_mode { CLU_M_LEASED = 0, CLU_M_FALLBACK, CLU_M_IDLE };

/*
 * One row of the published budget table. Immutable once published except the fields workers
 * store (relaxed atomics, each lcore its own slot, only when the value changes): `demand_us`
 * when they hold queued work for the destination (the cluster thread reads it to decide
 * whether the lease is still needed) and `open`.
 */
struct clu_entry {
	char key[CLU_KEY_MAX + 1];
	bool limited_rate, limited_conns; /* which of the grant's limits apply */
	struct clu_grant g;
	enum clu_mode mode;
	uint64_t suspended_until_ms;  /* wall clock (ms); UINT64_MAX = until resumed; 0 = not */
	uint64_t demand_us;           /* monotonic; written by workers (atomic, relaxed) */
	uint32_t open[CLU_LCORES];    /* connections open per lcore; written by that lcore */
	uint32_t bo_factor;           /* cluster-wide backoff factor, per-mille; 0 or 1000: none */
	bool dynamic;                 /* added at run time (clu_node_ask) */
};

/* The immutable per-destination budget table, sorted by key (bsearch on the workers). */
struct clu_table {
	uint64_t version;
	unsigned n;
	unsigned n_susp;              /* entries suspended at publication (0: skip the search) */
	struct rcu_head rcu;
	struct clu_entry e[];
};

#endif
