/* SPDX-License-Identifier: MIT */
/*
 * cfgcmd.h: configuration changes through the admin socket: keys list/add/remove, routes
 * list/set/del, policy show/set, config write. A change is an operation kept in an overlay on
 * top of the configuration file; each change (and each reload) builds a new configuration as
 * file + overlay, validates it completely by the same loader as the file, and publishes it
 * as a new snapshot. `config write` writes the running configuration back to the file
 * (atomically, previous file kept as .bak) and empties the overlay.
 */
#ifndef DPMAIL_CTL_CFGCMD_H
#define DPMAIL_CTL_CFGCMD_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct cfg_pub;
struct ctl_server;
struct ctl_cfgcmd;

/* file: the configuration file ("<embedded>" for the built-in default); pub borrowed. */
struct ctl_cfgcmd *ctl_cfgcmd_new(struct cfg_pub *pub, const char *file);
void ctl_cfgcmd_free(struct ctl_cfgcmd *cc);
/* Registers the commands above. 0 or -errno. */
int ctl_cfgcmd_register(struct ctl_cfgcmd *cc, struct ctl_server *srv);

/* The configuration file with the overlay applied, validated. NULL with err set. */
struct cfg *ctl_cfgcmd_build(struct ctl_cfgcmd *cc, char *err, size_t errlen);
/*
 * Builds the modules' runtime objects for c (control/snapshot/cfg_builders.c) and publishes
 * it (ownership of c taken either way) as the next snapshot; applies its log level. Returns
 * 0 with the version, or -1 with the failing builder's message (nothing published).
 */
int ctl_cfgcmd_publish(struct ctl_cfgcmd *cc, struct cfg *c, uint64_t *version, char *err,
		       size_t errlen);

#endif
