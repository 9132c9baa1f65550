/* SPDX-License-Identifier: MIT */
/*
 * dlv.h: the delivery engine of one lcore. It turns the messages this lcore's spool holds into
 * SMTP transactions with remote MX hosts (or static next hops), on the lcore that spooled them:
 *
 *   eng = dlv_engine_new(&params, spool, tls_core, net, &err)      start-up
 *   dlv_engine_set_policy(eng, pol)                                each loop turn (snapshot)
 *   dlv_engine_set_dns(eng, dns, slot)                             once the control plane runs
 *   dlv_engine_recover(eng)                                        after spool recovery
 *   dlv_engine_enqueue(eng, qid)                                   a message reached the disk
 *   dlv_engine_poll(eng, now)                                      once per loop turn
 *   dlv_engine_spool_body(...) / dlv_engine_spool_committed(...)   the spool's callbacks
 *
 * Work units are jobs: the pending recipients of one message at one domain (at most
 * DLV_JOB_RCPTS; more recipients make more jobs). A job is resolved to a destination (a static
 * route, or the MX set of its domain, rolled up so the domains of one provider share one
 * budget), waits in that destination's queue for a connection and a token, is sent, and ends
 * with every recipient delivered, bounced, expired or deferred on the retry schedule. Every
 * outcome is written to the spool journal before the job lets go of it: at-least-once delivery.
 */
#ifndef DPMAIL_DLV_H
#define DPMAIL_DLV_H

#include <stdbool.h>
#include <stdint.h>

#include "conn/conn-t.h"
#include "deliver/dlv_route-t.h"
#include "deliver/dlv_shape-t.h"

struct spool;
struct tls_core;
struct tls_client_ctx;
struct ctl_dns;
struct ctl_acct;
struct dlv_engine;
struct cfg_snapshot;

/* Cookies of spool commits made by delivery (DSNs) carry this bit; the relay's don't. */
#define DLV_COOKIE_BIT (1ull << 63)

/* DLV_TLS_MTA_STS: the domain's published MTA-STS policy (control/sts) decides; without one
 * it behaves as DLV_TLS_MAY. */
enum dlv_tls_mode { DLV_TLS_NONE = 0, DLV_TLS_MAY, DLV_TLS_ENCRYPT, DLV_TLS_VERIFY, DLV_TLS_DANE,
		    DLV_TLS_MTA_STS };

struct dlv_tls_rule {
	const char *destination;      /* domain, route name or "*" */
	enum dlv_tls_mode mode;
};

struct dlv_shape_rule {
	const char *destination;      /* domain, route name, rollup key or "*" */
	uint32_t connections;         /* whole node; 0 = unlimited */
	uint32_t rate;                /* messages/s, whole node; 0 = unlimited */
	uint32_t burst;
	uint32_t per_connection;      /* messages per connection; 0 = unlimited */
};

/* What delivery reads from a configuration snapshot (immutable while published). */
struct dlv_policy {
	const struct dlv_route *routes;
	unsigned n_routes;
	const struct dlv_tls_rule *tls;
	unsigned n_tls;
	const struct dlv_shape_rule *shape;
	unsigned n_shape;
	struct dlv_retry_policy retry;
	struct dlv_backoff_policy backoff;   /* window_us 0: dlv_params.backoff */
	struct tls_client_ctx *tls_ctx;   /* NULL: STARTTLS is not attempted */
	const char *helo;                 /* our name in EHLO and in DSNs */
	bool mta_sts_all;                 /* mta_sts.all_domains: STS where no tls_policy entry applies */
	const struct dlv_pool *pools;     /* source IP pools (dlv_pool_select) */
	unsigned n_pools;
	const struct dlv_site *sites;     /* MX host groups sharing one destination */
	unsigned n_sites;
	uint64_t delay_warn_us;           /* one "delayed" DSN after this long; 0 = never */
	bool no_chunking;                 /* delivery.chunking off: DATA even where BDAT is offered */
};

struct dlv_params {
	unsigned lcore_index, n_lcores;   /* shaping limits are split between lcores */
	uint32_t max_conns;               /* outbound connections on this lcore */
	uint32_t max_jobs;                /* queued jobs on this lcore (bounded memory) */
	uint64_t idle_close_us;           /* an idle connection with nothing queued is closed */
	int64_t wall_offset_us;           /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	struct dlv_backoff_policy backoff;
	uint32_t dns_slot;
};

struct dlv_stats {
	uint64_t jobs;                    /* created */
	uint64_t delivered, bounced, expired, deferred;
	uint64_t dsn_sent, dsn_failed;
	uint64_t conns_opened, conns_failed, conns_reused;
	uint64_t conns_refused_busy;      /* a new connection refused while others to the dest worked */
	uint64_t tls_sessions, tls_verified;
	uint64_t sts_enforced;            /* connections set up under an MTA-STS enforce policy */
	uint64_t sts_mx_refused;          /* MX hosts skipped: not in the domain's enforce policy */
	uint64_t sts_testing_failed;      /* MTA-STS testing: would have failed (delivered anyway) */
	uint64_t acct_dropped;            /* accounting ring full */
	uint64_t messages;                /* transactions completed (any outcome) */
	uint64_t queued;                  /* jobs waiting now */
	uint64_t active_conns;
};

void dlv_params_defaults(struct dlv_params *p);
struct dlv_engine *dlv_engine_new(const struct dlv_params *p, struct spool *sp,
				  struct tls_core *tls, struct conn_net net, int *err);
void dlv_engine_free(struct dlv_engine *eng);
void dlv_engine_set_policy(struct dlv_engine *eng, const struct dlv_policy *pol);
void dlv_engine_set_dns(struct dlv_engine *eng, struct ctl_dns *dns);
/* Every final outcome (delivered/bounced/expired) becomes an accounting record on this lcore's
 * ring (slot = dns_slot) saying whether it went encrypted and verified. NULL: logs only. */
void dlv_engine_set_acct(struct dlv_engine *eng, struct ctl_acct *acct);
/* Queues every live message of the spool (start-up, after spool_recover). */
void dlv_engine_recover(struct dlv_engine *eng, uint64_t now);
/* A message is on stable storage: deliver its pending recipients. */
void dlv_engine_enqueue(struct dlv_engine *eng, uint64_t qid);
int dlv_engine_poll(struct dlv_engine *eng, uint64_t now);
void dlv_engine_spool_body(struct dlv_engine *eng, uint64_t cookie, int result,
			   const uint8_t *data, uint32_t len);
void dlv_engine_spool_committed(struct dlv_engine *eng, uint64_t cookie, int result, uint64_t qid);
const struct dlv_stats *dlv_engine_stats(const struct dlv_engine *eng);

/* Snapshot builder (control/snapshot/cfg_builders.c slot CFG_SLOT_DLV), dlv_snap.c. */
void *dlv_snap_build(const struct cfg_snapshot *s, char *err, size_t errlen);
void dlv_snap_release(void *obj);
const struct dlv_policy *dlv_snap_policy(const struct cfg_snapshot *s);
/* delivery.backoff.* (control/config) -> the controller's policy; also used by the cluster. */
struct cfg_backoff;
void dlv_backoff_policy_from_cfg(const struct cfg_backoff *c, struct dlv_backoff_policy *p);

#endif
