/* SPDX-License-Identifier: MIT */
/*
 * sts_ctl.c: the MTA-STS engine in dpmaild. At control-plane start-up (ctl_modules[]) it builds
 * the engine from the running configuration's mta_sts section, installs it as the resolver's
 * CTL_DNS_STS provider, and serves:
 *   sts show <domain>     the cached policy of a domain, its state and last error
 *   sts refresh <domain>  re-check the TXT id now (fetches the policy when it changed)
 *   sts list              every domain in the cache, with mode and id
 * Reloads keep the engine's options (a restart applies new ones; the cache file survives).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config/cfg-t.h"
#include "ctl/daemon.h"
#include "ctl/server.h"
#include "log.h"
#include "snapshot/snapshot-t.h"
#include "sts/sts.h"
#include "sts/sts_params.h"
#include "sts/sts_policy.h"

/* The one engine of the process (the control plane is a singleton as well). */
static struct sts *engine;
static char cache_path[4200];

static json_t *policy_json(const struct sts_info *in)
{
	json_t *o = json_object(), *mx = json_array();
	json_object_set_new(o, "id", json_string(in->id));
	json_object_set_new(o, "mode", json_string(sts_mode_str(in->policy.mode)));
	json_object_set_new(o, "max_age", json_integer(in->policy.max_age));
	for (unsigned i = 0; i < in->policy.n_mx; i++)
		json_array_append_new(mx, json_string(in->policy.mx[i]));
	json_object_set_new(o, "mx", mx);
	json_object_set_new(o, "fetched", json_integer((json_int_t)in->fetched_wall_s));
	json_object_set_new(o, "expires", json_integer((json_int_t)in->expires_wall_s));
	json_object_set_new(o, "expires_in_s", json_integer((json_int_t)in->expires_wall_s -
							    (json_int_t)time(NULL)));
	return o;
}

/* The request's domain, lower case without a trailing dot; false if unusable. */
static bool arg_domain(const struct ctl_req *rq, char canon[STS_HOST_MAX + 1], char *err, size_t errlen)
{
	const char *dom = json_string_value(json_object_get(rq->args, "domain"));
	size_t n = dom ? strlen(dom) : 0;
	if (n && dom[n - 1] == '.')
		n--;
	if (n == 0 || n > STS_HOST_MAX) {
		snprintf(err, errlen, "bad domain");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		canon[i] = (char)(dom[i] >= 'A' && dom[i] <= 'Z' ? dom[i] + 32 : dom[i]);
	canon[n] = '\0';
	return true;
}

static int cmd_refresh(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	char canon[STS_HOST_MAX + 1];
	if (!arg_domain(rq, canon, err, errlen))
		return CTL_ERROR;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int rc = sts_refresh(arg, canon, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	if (rc < 0) {
		snprintf(err, errlen, "cannot refresh %s: %s", canon, strerror(-rc));
		return CTL_ERROR;
	}
	*result = json_pack("{s:s,s:s}", "domain", canon, "refresh", "started");
	return CTL_OK;
}

static int cmd_show(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	struct sts *s = arg;
	char canon[STS_HOST_MAX + 1];
	if (!arg_domain(rq, canon, err, errlen))
		return CTL_ERROR;
	struct sts_info in;
	sts_info(s, canon, &in);
	json_t *r = json_object();
	json_object_set_new(r, "domain", json_string(canon));
	json_object_set_new(r, "state", json_string(in.state));
	json_object_set_new(r, "policy", in.have_policy ? policy_json(&in) : json_null());
	if (in.checked_wall_s)
		json_object_set_new(r, "checked", json_integer((json_int_t)in.checked_wall_s));
	json_object_set_new(r, "last_error", json_string(in.last_error));
	*result = r;
	return CTL_OK;
}

struct list_ctx {
	struct sts *s;
	json_t *arr;
};

static void list_one(void *arg, const char *domain)
{
	struct list_ctx *c = arg;
	struct sts_info in;
	sts_info(c->s, domain, &in);
	json_t *o = json_object();
	json_object_set_new(o, "domain", json_string(domain));
	json_object_set_new(o, "mode", json_string(in.have_policy ? sts_mode_str(in.policy.mode) : "-"));
	json_object_set_new(o, "id", json_string(in.have_policy ? in.id : "-"));
	json_object_set_new(o, "state", json_string(in.state));
	json_array_append_new(c->arr, o);
}

static int cmd_list(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)rq; (void)err; (void)errlen;
	struct list_ctx c = { arg, json_array() };
	sts_each(c.s, list_one, &c);
	const struct sts_stats *st = sts_stats_get(c.s);
	json_t *r = json_object();
	json_object_set_new(r, "domains", c.arr);
	json_object_set_new(r, "fetches", json_integer((json_int_t)st->fetches));
	json_object_set_new(r, "fetch_failed", json_integer((json_int_t)st->fetch_failed));
	json_object_set_new(r, "parse_failed", json_integer((json_int_t)st->parse_failed));
	json_object_set_new(r, "kept_on_failure", json_integer((json_int_t)st->kept_on_failure));
	*result = r;
	return CTL_OK;
}

int sts_ctl_init(struct ctl_daemon *d)
{
	const struct cfg *cfg = ctl_daemon_pub(d)->cur->cfg;
	struct sts_opts o;
	int err = 0;
	sts_opts_from_cfg(cfg, &o, cache_path, sizeof(cache_path));
	engine = sts_new(&o, ctl_daemon_dns(d), &err);
	if (!engine) {
		log_err("event=startup_failed reason=\"mta-sts engine\" err=%d", err);
		return err;
	}
	struct ctl_server *srv = ctl_daemon_server(d);
	int rc = ctl_register(srv, "sts show", cmd_show, engine);
	if (rc == 0)
		rc = ctl_register(srv, "sts list", cmd_list, engine);
	if (rc == 0)
		rc = ctl_register(srv, "sts refresh", cmd_refresh, engine);
	if (rc < 0)
		log_err("event=startup_failed reason=\"admin command sts\" err=%d", rc);
	return rc;
}

void sts_ctl_fini(struct ctl_daemon *d)
{
	(void)d;
	sts_free(engine);
	engine = NULL;
}
