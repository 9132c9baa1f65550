/* SPDX-License-Identifier: MIT */
/* cfgcmd.c: admin commands that read and change the configuration (see cfgcmd.h). */
#include "ctl/cfgcmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_dump.h"
#include "config/cfg_params_relay.h"
#include "ctl/server.h"
#include "log.h"
#include "snapshot/cfg_builders.h"
#include "snapshot/snapshot.h"

enum op_kind { OP_ROUTE_SET, OP_ROUTE_DEL, OP_POLICY_SET, OP_KEY_ADD, OP_KEY_DEL };

struct op {
	enum op_kind kind;
	char *a, *b, *c;
};

struct ctl_cfgcmd {
	struct cfg_pub *pub;
	char *file;
	struct op *ops;
	size_t nops, cap;
};

static const char *const tls_modes[] = { "none", "may", "encrypt", "verify", "dane", NULL };

/* ---- applying operations to a freshly loaded configuration ---------------------------------- */

static int find_dest(const struct cfg_list_desc *d, const struct cfg_list *l, const char *dest)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (strcasecmp(*(char *const *)cfg_list_at(d, l, i), dest) == 0)
			return (int)i;
	return -1;
}

static int split_hosts(const char *hops, struct cfg_strv *sv)
{
	char *copy = strdup(hops), *save = NULL;
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char **v = realloc(sv->v, (sv->n + 1) * sizeof(char *));
		if (!v)
			break;
		sv->v = v;
		sv->v[sv->n++] = strdup(t);
	}
	free(copy);
	return 0;
}

static void apply_route(struct cfg *c, const struct op *o)
{
	struct cfg_list *l = &c->delivery.routes;
	int i = find_dest(&cfg_route_list, l, o->a);
	if (i >= 0)
		cfg_list_remove(&cfg_route_list, l, (uint32_t)i);
	if (o->kind == OP_ROUTE_DEL || strcmp(o->b, "mx") == 0)
		return;
	struct cfg_route *r = cfg_list_append(&cfg_route_list, l);
	if (!r)
		return;
	r->domain = strdup(o->a);
	r->name = strdup("");
	split_hosts(o->b, &r->hosts);
}

/* policy set <destination> <key> <value>: tls -> tls_policy, the rest -> shaping. */
static void apply_policy(struct cfg *c, const struct op *o)
{
	if (strcmp(o->b, "tls") == 0) {
		struct cfg_list *l = &c->delivery.tls_policy;
		int i = find_dest(&cfg_tls_policy_list, l, o->a);
		struct cfg_tls_policy *p = i >= 0 ? cfg_list_at(&cfg_tls_policy_list, l, (uint32_t)i)
						  : cfg_list_append(&cfg_tls_policy_list, l);
		if (!p)
			return;
		if (i < 0)
			p->destination = strdup(o->a);
		for (int m = 0; tls_modes[m]; m++)
			if (strcmp(tls_modes[m], o->c) == 0)
				p->mode = m;
		return;
	}
	struct cfg_list *l = &c->delivery.shaping;
	int i = find_dest(&cfg_shaping_list, l, o->a);
	struct cfg_shaping *s = i >= 0 ? cfg_list_at(&cfg_shaping_list, l, (uint32_t)i)
				       : cfg_list_append(&cfg_shaping_list, l);
	if (!s)
		return;
	if (i < 0)
		s->destination = strdup(o->a);
	uint32_t v = (uint32_t)strtoul(o->c, NULL, 10);
	if (strcmp(o->b, "connections") == 0)
		s->connections = v;
	else if (strcmp(o->b, "rate") == 0)
		s->rate = v;
	else if (strcmp(o->b, "burst") == 0)
		s->burst = v;
	else
		s->per_connection = v;
}

static void apply_key(struct cfg *c, const struct op *o)
{
	struct cfg_list *l = &c->dkim.keys;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cfg_dkim_key *k = cfg_list_at(&cfg_dkim_key_list, l, i);
		if (strcasecmp(k->domain, o->a) == 0 && strcmp(k->selector, o->b) == 0) {
			cfg_list_remove(&cfg_dkim_key_list, l, i);
			break;
		}
	}
	if (o->kind == OP_KEY_DEL)
		return;
	struct cfg_dkim_key *k = cfg_list_append(&cfg_dkim_key_list, l);
	if (k) {
		k->domain = strdup(o->a);
		k->selector = strdup(o->b);
		k->key = strdup(o->c);
	}
}

/* Round trip through the loader: the result is validated exactly like a file. */
static struct cfg *revalidate(struct cfg *c, const char *file, char *err, size_t errlen)
{
	char *text = NULL, name[4200];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		cfg_free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cfg_dump(c, f);
	fclose(f);
	cfg_free(c);
	snprintf(name, sizeof(name), "%s (with admin changes)", file);
	struct cfg *v = cfg_load_string(name, text, len, err, errlen);
	free(text);
	if (v) {
		free(v->file);
		v->file = strdup(file);
	}
	return v;
}

struct cfg *ctl_cfgcmd_build(struct ctl_cfgcmd *cc, char *err, size_t errlen)
{
	struct cfg *c = strcmp(cc->file, "<embedded>") == 0 ? cfg_load_default(err, errlen)
							     : cfg_load(cc->file, err, errlen);
	if (!c || cc->nops == 0)
		return c;
	for (size_t i = 0; i < cc->nops; i++) {
		const struct op *o = &cc->ops[i];
		if (o->kind == OP_ROUTE_SET || o->kind == OP_ROUTE_DEL)
			apply_route(c, o);
		else if (o->kind == OP_POLICY_SET)
			apply_policy(c, o);
		else
			apply_key(c, o);
	}
	return revalidate(c, cc->file, err, errlen);
}

static void snapshot_cfg_free(struct cfg *c) { cfg_free(c); }

int ctl_cfgcmd_publish(struct ctl_cfgcmd *cc, struct cfg *c, uint64_t *version, char *err,
		       size_t errlen)
{
	struct cfg_snapshot *s = cfg_snapshot_new(c, snapshot_cfg_free);
	if (!s) {
		cfg_free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg_snapshot_build(s, cfg_builders, cfg_n_builders, err, errlen) < 0) {
		cfg_snapshot_free(s); /* releases what the builders made, and c */
		return -1;
	}
	log_set_level((enum log_level)c->log.level);
	*version = cfg_publish(cc->pub, s);
	return 0;
}

/* ---- the overlay -------------------------------------------------------------------------- */

static void op_free(struct op *o)
{
	free(o->a);
	free(o->b);
	free(o->c);
}

/* Adds an operation, rebuilds and publishes; on a refusal the operation is dropped. */
static int change(struct ctl_cfgcmd *cc, enum op_kind kind, const char *a, const char *b,
		  const char *c, json_t **result, char *err, size_t errlen)
{
	if (cc->nops == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 8;
		struct op *v = realloc(cc->ops, cap * sizeof(*v));
		if (!v)
			return snprintf(err, errlen, "out of memory"), CTL_ERROR;
		cc->ops = v;
		cc->cap = cap;
	}
	struct op *o = &cc->ops[cc->nops++];
	*o = (struct op){ kind, strdup(a), b ? strdup(b) : NULL, c ? strdup(c) : NULL };
	struct cfg *cfg = ctl_cfgcmd_build(cc, err, errlen);
	if (!cfg) {
		op_free(&cc->ops[--cc->nops]);
		return CTL_ERROR;
	}
	uint64_t v;
	if (ctl_cfgcmd_publish(cc, cfg, &v, err, errlen) < 0) {
		op_free(&cc->ops[--cc->nops]);
		return CTL_ERROR;
	}
	*result = json_pack("{s:I,s:i}", "snapshot_version", (json_int_t)v, "unsaved_changes",
			    (int)cc->nops);
	return CTL_OK;
}

static const struct cfg *current(struct ctl_cfgcmd *cc, char *err, size_t errlen)
{
	const struct cfg_snapshot *s = cfg_current(cc->pub);
	if (!s || !s->cfg)
		snprintf(err, errlen, "no configuration loaded");
	return s ? s->cfg : NULL;
}

#define ARG(name) json_string_value(json_object_get(rq->args, name))

/* ---- keys --------------------------------------------------------------------------------- */

static int cmd_keys_list(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct cfg *c = current(arg, err, errlen);
	if (!c)
		return CTL_ERROR;
	json_t *a = json_array();
	for (uint32_t i = 0; i < c->dkim.keys.n; i++) {
		const struct cfg_dkim_key *k = cfg_list_at(&cfg_dkim_key_list, &c->dkim.keys, i);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "domain", k->domain, "selector",
						   k->selector, "key", k->key));
	}
	*result = json_pack("{s:o}", "keys", a);
	return CTL_OK;
}

static int cmd_keys_add(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	return change(arg, OP_KEY_ADD, ARG("domain"), ARG("selector"), ARG("file"), result, err, errlen);
}

static int cmd_keys_remove(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			   void *arg)
{
	const struct cfg *c = current(arg, err, errlen);
	if (!c)
		return CTL_ERROR;
	for (uint32_t i = 0; i < c->dkim.keys.n; i++) {
		const struct cfg_dkim_key *k = cfg_list_at(&cfg_dkim_key_list, &c->dkim.keys, i);
		if (strcasecmp(k->domain, ARG("domain")) == 0 && strcmp(k->selector, ARG("selector")) == 0)
			return change(arg, OP_KEY_DEL, ARG("domain"), ARG("selector"), NULL, result, err, errlen);
	}
	snprintf(err, errlen, "no key for %s selector %s", ARG("domain"), ARG("selector"));
	return CTL_ERROR;
}

/* ---- routes -------------------------------------------------------------------------------- */

static int cmd_routes_list(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			   void *arg)
{
	const struct cfg *c = current(arg, err, errlen);
	if (!c)
		return CTL_ERROR;
	json_t *a = json_array();
	for (uint32_t i = 0; i < c->delivery.routes.n; i++) {
		const struct cfg_route *r = cfg_list_at(&cfg_route_list, &c->delivery.routes, i);
		char hosts[1024] = "";
		for (uint32_t h = 0; h < r->hosts.n; h++)
			snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s", h ? "," : "",
				 r->hosts.v[h]);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "domain", r->domain, "hosts", hosts,
						   "name", r->name[0] ? r->name : "-"));
	}
	*result = json_pack("{s:o}", "routes", a);
	return CTL_OK;
}

static int cmd_routes_set(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			  void *arg)
{
	return change(arg, OP_ROUTE_SET, ARG("domain"), ARG("hops"), NULL, result, err, errlen);
}

static int cmd_routes_del(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			  void *arg)
{
	const struct cfg *c = current(arg, err, errlen);
	if (!c)
		return CTL_ERROR;
	if (find_dest(&cfg_route_list, &c->delivery.routes, ARG("domain")) < 0) {
		snprintf(err, errlen, "no route for %s", ARG("domain"));
		return CTL_ERROR;
	}
	return change(arg, OP_ROUTE_DEL, ARG("domain"), NULL, NULL, result, err, errlen);
}

/* ---- policy -------------------------------------------------------------------------------- */

/* The entry for dest, else the "*" entry, else NULL. */
static int policy_entry(const struct cfg_list_desc *d, const struct cfg_list *l, const char *dest)
{
	int i = find_dest(d, l, dest);
	return i >= 0 ? i : find_dest(d, l, "*");
}

static int cmd_policy_show(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			   void *arg)
{
	const struct cfg *c = current(arg, err, errlen);
	if (!c)
		return CTL_ERROR;
	const char *dest = ARG("destination");
	int t = policy_entry(&cfg_tls_policy_list, &c->delivery.tls_policy, dest);
	int s = policy_entry(&cfg_shaping_list, &c->delivery.shaping, dest);
	const struct cfg_tls_policy *tp = t >= 0 ? cfg_list_at(&cfg_tls_policy_list,
							       &c->delivery.tls_policy, (uint32_t)t) : NULL;
	const struct cfg_shaping *sp = s >= 0 ? cfg_list_at(&cfg_shaping_list, &c->delivery.shaping,
							    (uint32_t)s) : NULL;
	*result = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:s}", "destination", dest,
			    "tls", tls_modes[tp ? tp->mode : 1],
			    "tls_from", tp ? tp->destination : "default",
			    "connections", sp ? (int)sp->connections : 0,
			    "rate", sp ? (int)sp->rate : 0, "burst", sp ? (int)sp->burst : 0,
			    "per_connection", sp ? (int)sp->per_connection : 0,
			    "shaping_from", sp ? sp->destination : "default");
	return CTL_OK;
}

static int cmd_policy_set(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			  void *arg)
{
	const char *key = ARG("key"), *value = ARG("value");
	static const char *const keys[] = { "tls", "connections", "rate", "burst", "per_connection" };
	size_t k = 0;
	while (k < 5 && strcmp(keys[k], key) != 0)
		k++;
	if (k == 5) {
		snprintf(err, errlen, "unknown policy key '%s': tls, connections, rate, burst, "
			 "per_connection", key);
		return CTL_ERROR;
	}
	if (k == 0) {
		int m = 0;
		while (tls_modes[m] && strcmp(tls_modes[m], value) != 0)
			m++;
		if (!tls_modes[m]) {
			snprintf(err, errlen, "tls must be one of none, may, encrypt, verify, dane");
			return CTL_ERROR;
		}
	} else {
		char *end;
		unsigned long v = strtoul(value, &end, 10);
		if (*end || value[0] == '-' || v > 10000000) {
			snprintf(err, errlen, "%s must be a number (0: unlimited)", key);
			return CTL_ERROR;
		}
	}
	return change(arg, OP_POLICY_SET, ARG("destination"), key, value, result, err, errlen);
}

/* ---- config write ------------------------------------------------------------------------- */

static int cmd_config_write(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			    void *arg)
{
	struct ctl_cfgcmd *cc = arg;
	const struct cfg *c = current(cc, err, errlen);
	if (!c)
		return CTL_ERROR;
	if (strcmp(cc->file, "<embedded>") == 0) {
		snprintf(err, errlen, "dpmaild runs on the embedded default: no file to write");
		return CTL_ERROR;
	}
	int rc = cfg_dump_file(c, cc->file);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write %s: %s", cc->file, strerror(-rc));
		return CTL_ERROR;
	}
	size_t saved = cc->nops;
	for (size_t i = 0; i < cc->nops; i++)
		op_free(&cc->ops[i]);
	cc->nops = 0; /* the file holds them now */
	log_info("event=config_written file=%s changes=%zu", cc->file, saved);
	*result = json_pack("{s:s,s:i,s:s}", "file", cc->file, "changes_saved", (int)saved,
			    "previous", "kept as .bak");
	return CTL_OK;
}

/* ---- life cycle -------------------------------------------------------------------------- */

struct ctl_cfgcmd *ctl_cfgcmd_new(struct cfg_pub *pub, const char *file)
{
	struct ctl_cfgcmd *cc = calloc(1, sizeof(*cc));
	if (!cc || !(cc->file = strdup(file))) {
		free(cc);
		return NULL;
	}
	cc->pub = pub;
	return cc;
}

void ctl_cfgcmd_free(struct ctl_cfgcmd *cc)
{
	if (!cc)
		return;
	for (size_t i = 0; i < cc->nops; i++)
		op_free(&cc->ops[i]);
	free(cc->ops);
	free(cc->file);
	free(cc);
}

int ctl_cfgcmd_register(struct ctl_cfgcmd *cc, struct ctl_server *srv)
{
	static const struct {
		const char *name;
		ctl_handler_fn *fn;
	} cmds[] = {
		{ "keys list", cmd_keys_list }, { "keys add", cmd_keys_add },
		{ "keys remove", cmd_keys_remove }, { "routes list", cmd_routes_list },
		{ "routes set", cmd_routes_set }, { "routes del", cmd_routes_del },
		{ "policy show", cmd_policy_show }, { "policy set", cmd_policy_set },
		{ "config write", cmd_config_write },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = ctl_register(srv, cmds[i].name, cmds[i].fn, cc);
		if (rc < 0)
			return rc;
	}
	return 0;
}
