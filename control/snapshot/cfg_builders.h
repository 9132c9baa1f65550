/* SPDX-License-Identifier: MIT */
/*
 * cfg_builders.h: the modules whose runtime objects are built into every configuration
 * snapshot, by slot. A module adds its slot to the enum and one line to cfg_builders[] in
 * cfg_builders.c; workers then find its object with cfg_snapshot_slot(lc->snap, CFG_SLOT_X).
 */
#ifndef DPMAIL_CFG_BUILDERS_H
#define DPMAIL_CFG_BUILDERS_H

#include "snapshot/snapshot-t.h"

enum cfg_snap_slot {
	CFG_SLOT_MTA = 0,   /* dataplane/relay: relay policy, TLS server context, DKIM keyring */
	CFG_SLOT_DLV,       /* dataplane/deliver: routes, TLS/shaping rules, retry, client TLS */
	/* module owners add theirs here */
	CFG_SLOT__MAX
};

/* Indexed by enum cfg_snap_slot; n_cfg_builders entries. */
extern const struct cfg_builder cfg_builders[];
extern const size_t cfg_n_builders;

#endif
