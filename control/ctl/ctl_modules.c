/* SPDX-License-Identifier: MIT */
/* ctl_modules.c: modules' control-side start-up, in order (see ctl_modules.h). */
#include "ctl/ctl_modules.h"
#include "deliver/dlv_ctl.h"

#include "cluster/ctl_cluster.h"
#include "sts/sts_params.h"

const struct ctl_module ctl_modules[] = {
	/* { "spool", spool_ctl_init, spool_ctl_fini }, */
	/* cluster first: on a clustered node it serves plain suspend/resume cluster-wide, and
	 * delivery keeps the node-local ones as suspend --local / resume --local */
	{ "cluster", ctl_cluster_init, ctl_cluster_fini },
	{ "deliver", dlv_ctl_init, dlv_ctl_fini },
	{ "sts", sts_ctl_init, sts_ctl_fini },
	{ NULL, NULL, NULL }, /* sentinel: keeps the array non-empty */
};
const size_t ctl_n_modules = sizeof(ctl_modules) / sizeof(ctl_modules[0]) - 1;
