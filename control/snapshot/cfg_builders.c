/* SPDX-License-Identifier: MIT */
/*
 * cfg_builders.c: the table of snapshot builders, indexed by enum cfg_snap_slot (see
 * cfg_builders.h). dpmaild runs every builder for each configuration it publishes (start-up,
 * reload, admin changes); a builder's error refuses that configuration.
 */
#include "snapshot/cfg_builders.h"

#include "deliver/dlv.h"
#include "relay/rly_lcore.h"

const struct cfg_builder cfg_builders[CFG_SLOT__MAX + 1] = {
	[CFG_SLOT_MTA] = { "mta", rly_snap_build, rly_snap_release },
	[CFG_SLOT_DLV] = { "delivery", dlv_snap_build, dlv_snap_release },
	[CFG_SLOT__MAX] = { NULL, NULL, NULL }, /* sentinel: keeps the array non-empty */
};
const size_t cfg_n_builders = CFG_SLOT__MAX;
