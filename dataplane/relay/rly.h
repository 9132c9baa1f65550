/* SPDX-License-Identifier: MIT */
/*
 * rly.h: the inbound relay of one lcore (rly_core) and its sessions.
 *
 *   core = rly_core_new(&params, spool, dkim, tls, &err)    start-up
 *   rly_core_set_policy(core, pol)                          at start and each loop turn
 *   listen: pass rly_accept as the conn_accept_fn with core as its ctx
 *   rly_core_poll(core, now)                                once per loop turn
 *   rly_spool_committed(...)                                from the spool's callbacks
 * Ownership: the core owns its sessions; the spool, DKIM context and TLS core are borrowed
 * (they belong to the lcore) and must outlive the core.
 */
#ifndef DPMAIL_RLY_H
#define DPMAIL_RLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/rly-t.h"

struct rly_core;

struct rly_params {
	uint32_t max_sessions;        /* concurrent inbound sessions on this lcore */
	struct smtp_limits limits;
	int64_t wall_offset_us;       /* CLOCK_REALTIME - CLOCK_MONOTONIC, for arrival times */
	rly_queued_fn queued;         /* may be NULL */
	void *queued_ctx;
};

void rly_params_defaults(struct rly_params *p);

struct rly_core *rly_core_new(const struct rly_params *p, struct spool *sp,
			      struct dkim_signer_ctx *dkim, struct tls_core *tls, int *err);
/* Aborts every session and frees the core. */
void rly_core_free(struct rly_core *core);
/* The policy used from now on (borrowed until the next call) and the version of the snapshot
 * it came from (recorded with every message). */
void rly_core_set_policy(struct rly_core *core, const struct rly_policy *pol, uint64_t version);
/* The loop's time, before anything of this turn can call back into the core: sessions accepted
 * from the transport's poll start their timeouts from it (a core that had never been polled
 * gave the first connections a deadline in the past: closed by the first tick). */
void rly_core_set_now(struct rly_core *core, uint64_t now);
/* Per-turn work: time, SMTP timeouts, the DKIM batch. Returns work done. */
int rly_core_poll(struct rly_core *core, uint64_t now);
/* conn_accept_fn: ctx is the rly_core. */
int rly_accept(void *ctx, struct conn *c);
/* The spool's committed callback (arg is the rly_core). */
void rly_spool_committed(void *arg, uint64_t cookie, int result, uint64_t qid);
const struct rly_stats *rly_core_stats(const struct rly_core *core);
/* True while messages wait in the DKIM batch (the loop must not sleep). */
bool rly_core_busy(const struct rly_core *core);

/* ---- policy (rly_policy.c) ---- */
/* The client entry whose network contains addr (longest prefix), or NULL: not a relay client. */
const struct rly_client *rly_client_find(const struct rly_policy *pol, const struct conn_addr *addr);
/* True if `domain` (case-insensitive; "" for the null sender) may be used by client c. */
bool rly_sender_allowed(const struct rly_client *c, const char *domain, size_t len);
/* Parses "a.b.c.d/len" into a client's net/prefix. 0 or -EINVAL. */
int rly_parse_prefix(const char *s, uint32_t *net, uint8_t *len);

#endif
