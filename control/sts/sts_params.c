/* SPDX-License-Identifier: MIT */
/*
 * sts_params.c: the "mta_sts" section, mapped onto struct sts_opts. Whether a destination
 * uses MTA-STS is delivery's choice (delivery.tls_policy mode mta-sts, or all_domains here);
 * the engine itself always runs and only works for domains somebody asks about.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/cfg-t.h"
#include "sts/sts.h"
#include "sts/sts_params.h"

#define F(field) offsetof(struct cfg, field)

const struct cfg_param sts_params[STS_NPARAMS] = {
	{ "all_domains", CFG_T_BOOL, "false", 0, 0, F(mta_sts.all_domains), 0, NULL, NULL,
	  "Honour the published MTA-STS policy of every recipient domain that has no "
	  "delivery.tls_policy entry (an explicit entry, including \"*\", wins)." },
	{ "ca_file", CFG_T_STR, "\"\"", 0, 4095, F(mta_sts.ca_file), 0, NULL, NULL,
	  "CA bundle that verifies the HTTPS policy servers (MX certificates are verified "
	  "with delivery's client trust store). Empty: the system's default bundle." },
	{ "cache_file", CFG_T_STR, "\"\"", 0, 4095, F(mta_sts.cache_file), 0, NULL, NULL,
	  "Where fetched policies are kept across restarts (RFC 8461 5.1). Empty: "
	  "<spool.dir>/mta-sts.cache." },
	{ "fetch_timeout_ms", CFG_T_U32, "10000", 500, 120000, F(mta_sts.fetch_timeout_ms), 0, NULL,
	  NULL, "Deadline of one HTTPS policy fetch (connect, TLS, response), ms." },
	{ "refresh", CFG_T_U32, "600", 1, 86400, F(mta_sts.refresh), 0, NULL, NULL,
	  "How often a domain's _mta-sts TXT id is re-checked while mail flows to it, seconds "
	  "(a new id triggers a fetch; the cached policy stays in force meanwhile)." },
	{ "retry", CFG_T_U32, "60", 1, 3600, F(mta_sts.retry), 0, NULL, NULL,
	  "After a failed check or fetch, ask again this soon, seconds." },
	{ "https_port", CFG_T_U32, "443", 1, 65535, F(mta_sts.https_port), 0, NULL, NULL,
	  "TCP port of policy servers (443 by RFC 8461; other values are for tests)." },
	{ "max_domains", CFG_T_U32, "100000", 16, 10000000, F(mta_sts.max_domains), 0, NULL, NULL,
	  "Domains the policy cache holds; beyond it new domains are treated as without policy." },
};

void sts_opts_from_cfg(const struct cfg *c, struct sts_opts *o, char *path, size_t pathlen)
{
	const struct cfg_mta_sts *m = &c->mta_sts;
	sts_opts_defaults(o);
	o->ca_file = m->ca_file && m->ca_file[0] ? m->ca_file : NULL;
	if (m->cache_file && m->cache_file[0])
		snprintf(path, pathlen, "%s", m->cache_file);
	else
		snprintf(path, pathlen, "%s/mta-sts.cache", c->spool.dir);
	o->cache_file = path;
	o->fetch_timeout_ms = m->fetch_timeout_ms;
	o->refresh_s = m->refresh;
	o->retry_s = m->retry;
	o->https_port = (uint16_t)m->https_port;
	o->max_domains = m->max_domains;
}
