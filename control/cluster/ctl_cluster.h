/* SPDX-License-Identifier: MIT */
/* ctl_cluster.h: the cluster's place in dpmaild: the `cluster` configuration section
 * (ctl_cluster_params.c) and the control-side start-up (ctl_cluster.c: ctl_modules[] entry). */
#ifndef DPMAIL_CTL_CLUSTER_H
#define DPMAIL_CTL_CLUSTER_H

#include "config/cfg_param-t.h"

struct ctl_daemon;

#define CTL_CLUSTER_NPARAMS 9
extern const struct cfg_param ctl_cluster_params[CTL_CLUSTER_NPARAMS];

/* Starts the node when cluster.enabled (leases for every delivery.shaping rule naming a
 * destination), makes it the process's node for delivery, serves `cluster show`,
 * `cluster suspend`, `cluster resume`. 0 or -errno (logged). */
int ctl_cluster_init(struct ctl_daemon *d);
void ctl_cluster_fini(struct ctl_daemon *d);

#endif
