/* SPDX-License-Identifier: MIT */
/* clu_int.h: private interface of the cluster module: the node's state (clu_node.c: rounds,
 * leases, suspensions, publication; clu_keys.c: keys added at run time and shared backoff) and
 * its Redis client (clu_redis.c). */
#ifndef DPMAIL_CLU_INT_H
#define DPMAIL_CLU_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>

#include <hiredis/hiredis.h>

#include "cluster/clu.h"

enum susp_op { SP_NONE = 0, SP_SET, SP_DEL };

struct clu_susp {
	char key[CLU_KEY_MAX + 1];
	uint64_t until_ms;            /* 0: not suspended (a pending resume) */
	enum susp_op pending;
};

struct clu_dest {
	struct clu_limit lim;
	struct clu_grant g;
	enum clu_mode mode;
	uint64_t valid_until_us;      /* local end of the current lease */
	bool dynamic;                 /* added by clu_node_ask; dropped when idle dyn_idle_ms */
	uint64_t last_want_us;        /* last round with demand (dynamic keys) */
};

/* A cluster-wide backoff record (Redis P:bo): cut to factor at Redis time t_ms. */
struct clu_bo {
	char key[CLU_KEY_MAX + 1];
	uint32_t factor;
	uint64_t t_ms;
};

/* One lcore's requests: single producer (the lcore), single consumer (the cluster thread);
 * head and tail only grow. */
enum clu_req_kind { CLU_REQ_STAR = 0, CLU_REQ_CUT };
struct clu_ask_ring {
	uint32_t head, tail;
	struct clu_ask {
		char key[CLU_KEY_MAX + 1];
		enum clu_req_kind kind;
		uint32_t factor;          /* CLU_REQ_CUT */
	} a[CLU_ASK_RING];
};

/*
 * The node. The cluster thread owns everything but what `mu` guards (the suspension list and
 * the display info, which dpmailctl handlers on the main thread touch) and the rings (one
 * producer lcore each).
 */
struct clu_node {
	struct clu_params p;
	struct clu_dest *d;           /* CLU_DEST_MAX */
	unsigned n;
	redisContext *rc;
	uint64_t next_connect_us;
	bool down_logged;
	uint64_t susp_ver;
	struct clu_table *cur;        /* RCU-published */
	uint64_t version;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct clu_susp susp[CLU_DEST_MAX];
	unsigned n_susp;
	struct clu_node_info info;
	pthread_t th;
	bool running, stop;
	bool full_logged;
	struct clu_ask_ring asks[CLU_LCORES];
	/* shared backoff (clu_keys.c) */
	struct clu_bo *bo, *bo_old;   /* records read from Redis (CLU_DEST_MAX each) */
	unsigned n_bo, n_bo_old;
	struct clu_bo *cuts;          /* this node's cuts to push (CLU_DEST_MAX) */
	unsigned n_cuts;
	uint64_t bo_ver;
	int64_t bo_offset_ms;         /* Redis clock - local wall clock, at the last read */
};

/* clu_keys.c */
struct clu_dest *clu_dest_add(struct clu_node *node, const struct clu_limit *lim, bool dyn);
/* Takes the lcores' requests: `*` keys are added, cuts queued for clu_bo_round. */
void clu_keys_drain(struct clu_node *node, uint64_t now_us);
/* Drops dynamic keys idle (no lease, no demand) for dyn_idle_ms. */
void clu_keys_expire(struct clu_node *node, uint64_t now_us);
/* Pushes queued cuts and re-reads the records when their version moved. 0 or -EIO. Without
 * Redis (rc NULL) queued cuts are dropped: the lcores' own controllers act alone. */
int clu_bo_round(struct clu_node *node, uint64_t wall_ms);
/* The cluster-wide factor of key at wall_ms (1000: none), from the records read. */
uint32_t clu_bo_factor(const struct clu_node *node, const char *key, uint64_t wall_ms);

struct clu_lease_reply {
	unsigned nodes, rank;
	uint64_t rate_mps;
	uint32_t conns;
};

/* Connects with timeout_ms for the connect and for every later command; NULL if down. */
redisContext *clu_redis_connect(const char *host, uint16_t port, uint32_t timeout_ms);
/*
 * Atomically drops expired leases of key, then (want) takes or renews node's lease for term_ms
 * and computes its grant of the cluster-wide limits (rate in milli-messages/s, connections;
 * 0 = unlimited), or (!want) returns node's lease. held: connections this node has open;
 * the others count max(grant, held) against the limit until this node has shed its surplus.
 * 0, or -EIO (the context is then unusable).
 */
int clu_redis_lease(redisContext *c, const char *prefix, const char *key, const char *node,
		    uint32_t term_ms, bool want, uint64_t rate_mps, uint32_t conns, uint32_t held,
		    struct clu_lease_reply *out);
/*
 * Reports an automatic backoff cut of key to `factor` per-mille: recorded (and the backoff
 * version bumped) when lower than the factor in force on the restoration curve (step
 * per-mille every step_ms); fully restored records are pruned. *in_force: the factor in force
 * afterwards. 0 or -EIO.
 */
int clu_redis_bo_push(redisContext *c, const char *prefix, const char *key, uint32_t factor,
		      uint32_t step, uint32_t step_ms, uint32_t *in_force);
/*
 * Reads the backoff version; when it differs from *ver, reads Redis' clock (*redis_ms) and
 * every record, calling fn(key, factor, t_ms) for each after start(arg). 1 read, 0
 * unchanged, -EIO.
 */
int clu_redis_bo_poll(redisContext *c, const char *prefix, uint64_t *ver, int64_t *redis_ms,
		      void (*start)(void *arg),
		      void (*fn)(void *arg, const char *key, uint32_t factor, uint64_t t_ms), void *arg);
/* Sets (until_ms: wall ms, UINT64_MAX = indefinite) or clears (del) key's suspension and
 * bumps the suspension version. 0 or -EIO. */
int clu_redis_susp_push(redisContext *c, const char *prefix, const char *key, bool del,
			uint64_t until_ms);
/*
 * Reads the suspension version; when it differs from *ver, reads every suspension and calls
 * fn for each (until_ms as stored) after start(arg). Returns 1 when read, 0 when unchanged,
 * -EIO.
 */
int clu_redis_susp_poll(redisContext *c, const char *prefix, uint64_t *ver,
			void (*start)(void *arg),
			void (*fn)(void *arg, const char *key, uint64_t until_ms), void *arg);
/* Live members of key's lease set, for display: calls fn per node. 0 or -EIO. */
int clu_redis_lease_members(redisContext *c, const char *prefix, const char *key,
			    void (*fn)(void *arg, const char *node), void *arg);

#endif
