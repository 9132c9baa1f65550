/* SPDX-License-Identifier: MIT */
/*
 * ctl_cluster.c: the cluster in dpmaild. At control-plane start-up (ctl_modules[]), when
 * cluster.enabled, builds the node from the running configuration (one managed destination
 * per delivery.shaping rule that names a destination and sets a limit), starts its thread,
 * makes it the process's node for delivery's lcores (clu_set_active), and serves:
 *   cluster show                          nodes, leases per destination, suspensions
 *   cluster suspend <destination> [<duration>]   every node, within about two renew intervals
 *   cluster resume <destination>
 *   suspend <destination> [<duration>], resume <destination>: the same, cluster-wide (this
 *   module starts before delivery's, whose node-local commands stay as `suspend --local` and
 *   `resume --local`, dlv_ctl.c).
 * Reloads do not change the managed set (a restart does): documented in docs/cluster.md.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cluster/clu.h"
#include "cluster/ctl_cluster.h"
#include "config/cfg-t.h"
#include "deliver/dlv.h"
#include "ctl/daemon.h"
#include "ctl/server.h"
#include "log.h"
#include "snapshot/snapshot-t.h"

static const char *const mode_names[] = { "leased", "fallback", "idle" };

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static json_t *entry_json(const struct clu_entry *e, uint64_t now_ms)
{
	json_t *o = json_object();
	json_object_set_new(o, "destination", json_string(e->key));
	json_object_set_new(o, "mode", json_string(mode_names[e->mode]));
	if (e->limited_rate)
		json_object_set_new(o, "rate", json_real((double)e->g.rate_mps / 1000.0));
	if (e->limited_conns)
		json_object_set_new(o, "connections", json_integer(e->g.conns));
	json_object_set_new(o, "nodes", json_integer(e->g.nodes));
	if (e->bo_factor && e->bo_factor < 1000)
		json_object_set_new(o, "backoff_permille", json_integer(e->bo_factor));
	if (clu_entry_suspended(e, now_ms))
		json_object_set_new(o, "suspended_for_s", e->suspended_until_ms == UINT64_MAX ? json_string("until resumed")
				    : json_integer((json_int_t)((e->suspended_until_ms - now_ms + 999) / 1000)));
	return o;
}

static int cmd_show(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)rq; (void)err; (void)errlen;
	struct clu_node *node = arg;
	struct clu_node_info in;
	clu_node_info(node, &in);
	json_t *r = json_object(), *nodes = json_array(), *dests = json_array();
	json_object_set_new(r, "node", json_string(clu_node_id(node)));
	json_object_set_new(r, "redis", json_string(in.redis_up ? "up" : "down (fallback budget)"));
	for (unsigned i = 0; i < in.n_nodes; i++)
		json_array_append_new(nodes, json_string(in.nodes[i]));
	json_object_set_new(r, "nodes", nodes);
	uint64_t now = wall_ms();
	rcu_read_lock();   /* the control thread is a registered QSBR reader */
	const struct clu_table *t = clu_node_table(node);
	for (unsigned i = 0; t && i < t->n; i++)
		json_array_append_new(dests, entry_json(&t->e[i], now));
	rcu_read_unlock();
	json_object_set_new(r, "destinations", dests);
	json_object_set_new(r, "rounds", json_integer((json_int_t)in.rounds));
	json_object_set_new(r, "redis_errors", json_integer((json_int_t)in.redis_errors));
	json_object_set_new(r, "fallbacks", json_integer((json_int_t)in.fallbacks));
	*result = r;
	return CTL_OK;
}

static int cmd_suspend(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	struct clu_node *node = arg;
	const char *dest = json_string_value(json_object_get(rq->args, "destination"));
	json_t *dur = json_object_get(rq->args, "duration");
	long long secs = -1;
	if (json_is_integer(dur))
		secs = json_integer_value(dur);
	else if (json_is_string(dur) && (secs = clu_duration_parse(json_string_value(dur))) < 0) {
		snprintf(err, errlen, "bad duration");
		return CTL_ERROR;
	}
	uint64_t until = secs < 0 ? UINT64_MAX : wall_ms() + (uint64_t)secs * 1000;
	if (!dest || clu_node_suspend(node, dest, until) < 0) {
		snprintf(err, errlen, "too many suspensions");
		return CTL_ERROR;
	}
	*result = json_pack("{s:s, s:o, s:s}", "suspended", dest, "seconds",
			    secs < 0 ? json_string("until resumed") : json_integer(secs), "scope", "cluster");
	return CTL_OK;
}

static int cmd_resume(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	struct clu_node *node = arg;
	const char *dest = json_string_value(json_object_get(rq->args, "destination"));
	if (!dest || clu_node_resume(node, dest) < 0) {
		snprintf(err, errlen, "too many suspensions");
		return CTL_ERROR;
	}
	*result = json_pack("{s:s, s:s}", "resumed", dest, "scope", "cluster");
	return CTL_OK;
}

static void params_from_cfg(const struct cfg_cluster *c, struct clu_params *p)
{
	clu_params_defaults(p);
	snprintf(p->node, sizeof(p->node), "%s", c->node ? c->node : "");
	snprintf(p->redis_host, sizeof(p->redis_host), "%s", c->redis_host);
	p->redis_port = (uint16_t)c->redis_port;
	snprintf(p->prefix, sizeof(p->prefix), "%s", c->prefix);
	p->lease_ms = c->lease_ms;
	p->renew_ms = c->renew_ms;
	p->fallback_pct = c->fallback_pct;
	p->idle_return_ms = c->idle_return_ms;
}

/* The cluster-wide restoration curve follows delivery.backoff (the same on every node). */
static void backoff_from_cfg(const struct cfg *cfg, struct clu_params *p)
{
	struct dlv_backoff_policy bp;
	dlv_backoff_policy_from_cfg(&cfg->delivery.backoff, &bp);
	p->bo_step_factor = bp.step_factor;
	p->bo_step_ms = bp.step_us / 1000;
}

int ctl_cluster_init(struct ctl_daemon *d)
{
	const struct cfg *cfg = ctl_daemon_pub(d)->cur->cfg;
	if (!cfg->cluster.enabled)
		return 0;
	struct clu_params p;
	params_from_cfg(&cfg->cluster, &p);
	backoff_from_cfg(cfg, &p);
	const struct cfg_shaping *sh = cfg->delivery.shaping.v;
	struct clu_limit lim[CLU_DEST_MAX];
	unsigned n = 0;
	for (uint32_t i = 0; i < cfg->delivery.shaping.n && n < CLU_DEST_MAX; i++) {
		if (strcmp(sh[i].destination, "*") == 0) {
			p.star_rate = sh[i].rate;   /* each destination it covers: a key at run time */
			p.star_conns = sh[i].connections;
			continue;
		}
		if (!sh[i].rate && !sh[i].connections)
			continue;
		snprintf(lim[n].key, sizeof(lim[n].key), "%s", sh[i].destination);
		lim[n].rate = sh[i].rate;
		lim[n++].conns = sh[i].connections;
	}
	int err = 0;
	struct clu_node *node = clu_node_new(&p, lim, n, &err);
	if (!node || (err = clu_node_start(node)) < 0) {
		log_err("cluster start failed err=%s", strerror(-err));
		clu_node_free(node);
		return err ? err : -ENOMEM;
	}
	clu_set_active(node);
	struct ctl_server *srv = ctl_daemon_server(d);
	int rc = ctl_register(srv, "cluster show", cmd_show, node);
	if (rc == 0)
		rc = ctl_register(srv, "cluster suspend", cmd_suspend, node);
	if (rc == 0)
		rc = ctl_register(srv, "cluster resume", cmd_resume, node);
	/* One command stops a destination everywhere: on a clustered node plain suspend/resume
	 * are the cluster's (registered before delivery's, which keeps --local). */
	if (rc == 0)
		rc = ctl_register(srv, "suspend", cmd_suspend, node);
	if (rc == 0)
		rc = ctl_register(srv, "resume", cmd_resume, node);
	if (rc < 0)
		log_warn("cluster admin commands not served err=%s", strerror(-rc));
	log_info("cluster node=%s redis=%s:%u destinations=%u lease_ms=%u renew_ms=%u fallback_pct=%u",
		 p.node, p.redis_host, p.redis_port, n, p.lease_ms, p.renew_ms, p.fallback_pct);
	return 0;
}

void ctl_cluster_fini(struct ctl_daemon *d)
{
	(void)d;
	struct clu_node *node = clu_active();
	if (!node)
		return;
	clu_set_active(NULL);
	clu_node_free(node);    /* workers stopped: returns the leases, waits for RCU callbacks */
}
