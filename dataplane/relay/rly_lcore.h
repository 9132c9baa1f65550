/* SPDX-License-Identifier: MIT */
/*
 * rly_lcore.h: the MTA of one worker lcore as a dataplane module: it owns the lcore's spool,
 * TLS core, DKIM signer context and inbound relay, listens on the configured SMTP ports over
 * the lcore's transport (our TCP stack on the dpdk backend, kernel sockets on the posix one),
 * and reads the relay policy from the configuration snapshot of each loop turn.
 * Also: the snapshot builder that makes the relay's runtime objects (rly_snap.c).
 */
#ifndef DPMAIL_RLY_LCORE_H
#define DPMAIL_RLY_LCORE_H

#include <stdint.h>

#include "relay/rly.h"

struct cfg;
struct cfg_snapshot;
struct dp_lcore;
struct dkim_keyring;
struct dlv_engine;

/* The relay's part of a snapshot (slot CFG_SLOT_MTA). Immutable once published. */
struct rly_snap {
	struct rly_policy pol;
	struct rly_client *clients;
	struct dkim_keyring *keyring;
	char hostname[256];
};

/* Snapshot builder (control/snapshot/cfg_builders.c, slot CFG_SLOT_MTA): builds struct
 * rly_snap for s on the control thread; NULL with err filled refuses the configuration. */
void *rly_snap_build(const struct cfg_snapshot *s, char *err, size_t errlen);
void rly_snap_release(void *obj);
/* The relay policy of snapshot s, or NULL when s has none. */
const struct rly_policy *rly_snap_policy(const struct cfg_snapshot *s);

/* dp_module entry points (dataplane/main/dp_modules.c). */
void *rly_lcore_init(struct dp_lcore *lc, const struct cfg *c, int *err);
void rly_lcore_fini(struct dp_lcore *lc, void *state);
/* The delivery engine of an "mta" module state (for delivery's control-side start-up). */
struct dlv_engine *rly_lcore_dlv(void *state);

#endif
