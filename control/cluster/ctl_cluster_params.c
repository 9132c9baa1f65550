/* SPDX-License-Identifier: MIT */
/*
 * ctl_cluster_params.c: the "cluster" section, mapped onto struct clu_params by ctl_cluster.c.
 * Off by default: a single node needs no Redis.
 */
#include <stddef.h>

#include "cluster/ctl_cluster.h"
#include "config/cfg.h"

#define F(field) offsetof(struct cfg, field)

const struct cfg_param ctl_cluster_params[CTL_CLUSTER_NPARAMS] = {
	{ "enabled", CFG_T_BOOL, "false", 0, 0, F(cluster.enabled), 0, NULL, NULL,
	  "Share the delivery.shaping limits of named destinations cluster-wide through Redis: "
	  "the limits become limits of the whole cluster." },
	{ "node", CFG_T_STR, "\"\"", 0, 63, F(cluster.node), 0, NULL, NULL,
	  "This node's id, unique in the cluster (\"\": node-<pid>)." },
	{ "redis_host", CFG_T_STR, "\"127.0.0.1\"", 1, 255, F(cluster.redis_host), 0, NULL, NULL,
	  "Redis server address (IPv4 or host name)." },
	{ "redis_port", CFG_T_U32, "6379", 1, 65535, F(cluster.redis_port), 0, NULL, NULL,
	  "Redis server port." },
	{ "prefix", CFG_T_STR, "\"dpmail\"", 1, 31, F(cluster.prefix), 0, NULL, NULL,
	  "Prefix of every Redis key (several clusters may share one server)." },
	{ "lease_ms", CFG_T_U32, "2000", 200, 600000, F(cluster.lease_ms), 0, NULL, NULL,
	  "Lease term: a node that stops renewing loses its share after this." },
	{ "renew_ms", CFG_T_U32, "200", 20, 60000, F(cluster.renew_ms), 0, NULL, NULL,
	  "Leases are renewed and suspensions polled this often (suspensions reach every node "
	  "within about two of these)." },
	{ "fallback_pct", CFG_T_U32, "25", 1, 100, F(cluster.fallback_pct), 0, NULL, NULL,
	  "Without Redis, each node sends at most this percent of the configured limits." },
	{ "idle_return_ms", CFG_T_U32, "2000", 100, 600000, F(cluster.idle_return_ms), 0, NULL, NULL,
	  "A destination without queued work this long returns its lease to the others." },
};
