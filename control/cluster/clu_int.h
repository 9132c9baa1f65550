/* SPDX-License-Identifier: MIT */
/* clu_int.h: private interface between the node (clu_node.c) and its Redis client
 * (clu_redis.c). */
#ifndef DPMAIL_CLU_INT_H
#define DPMAIL_CLU_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "cluster/clu-t.h"

struct clu_lease_reply {
	unsigned nodes, rank;
	uint64_t rate_mps;
	uint32_t conns;
	uint32_t bo_factor;           /* the cluster-wide backoff factor now (1000: none) */
};

/* A cut to report with a lease call, and the cluster-wide restoration curve. */
struct clu_cut_arg {
	uint32_t factor;              /* this node's new cut (per-mille); 1000: nothing to report */
	uint32_t step_factor, step_ms;
};

/* Connects with timeout_ms for the connect and for every later command; NULL if down. */
redisContext *clu_redis_connect(const char *host, uint16_t port, uint32_t timeout_ms);
/*
 * Atomically drops expired leases of key, then (want) takes or renews node's lease for term_ms
 * and computes its grant of the cluster-wide limits (rate in milli-messages/s, connections;
 * 0 = unlimited), or (!want) returns node's lease. held: connections this node has open;
 * the others count max(grant, held) against the limit until this node has shed its surplus.
 * With want, also folds cut (may be NULL) into the destination's cluster-wide backoff record
 * and returns the factor in force now (out->bo_factor). 0, or -EIO (the context is then
 * unusable).
 */
int clu_redis_lease(redisContext *c, const char *prefix, const char *key, const char *node,
		    uint32_t term_ms, bool want, uint64_t rate_mps, uint32_t conns, uint32_t held,
		    const struct clu_cut_arg *cut, struct clu_lease_reply *out);
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
