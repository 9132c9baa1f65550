/* SPDX-License-Identifier: MIT */
/* sts_params.h: the `mta_sts` configuration section (sts_params.c) and the control-side
 * start-up of the MTA-STS engine (sts_ctl.c: a ctl_modules[] entry). */
#ifndef DPMAIL_STS_PARAMS_H
#define DPMAIL_STS_PARAMS_H

#include "config/cfg_param-t.h"

struct ctl_daemon;
struct cfg;
struct sts_opts;

#define STS_NPARAMS 8
extern const struct cfg_param sts_params[STS_NPARAMS];

/* Maps the section onto engine options (strings borrowed from c; path is the caller's buffer
 * for the default cache file under spool.dir). */
void sts_opts_from_cfg(const struct cfg *c, struct sts_opts *o, char *path, size_t pathlen);

/* Starts the engine as the resolver's CTL_DNS_STS provider, serves `sts show <domain>` and
 * `sts list`. 0 or -errno (logged). */
int sts_ctl_init(struct ctl_daemon *d);
void sts_ctl_fini(struct ctl_daemon *d);

#endif
