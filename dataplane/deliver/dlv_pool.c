/* SPDX-License-Identifier: MIT */
/*
 * dlv_pool.c: pure lookups over snapshot data for where a message leaves from and whom it
 * goes to as a group: the source IP pool of a message (by tenant, then sender domain, then the
 * default) and the site an MX host belongs to (delivery.sites, KumoMTA's site_name idea made
 * explicit by the operator).
 */
#include "deliver/dlv_route.h"

#include <string.h>
#include <strings.h>

const struct dlv_pool *dlv_pool_select(const struct dlv_pool *pools, unsigned n, const char *tenant,
				       size_t tenant_len, const char *sender_domain)
{
	const struct dlv_pool *by_sender = NULL, *def = NULL;
	for (unsigned i = 0; i < n; i++) {
		const struct dlv_pool *p = &pools[i];
		for (unsigned k = 0; tenant_len && k < p->ntenants; k++)
			if (strlen(p->tenants[k]) == tenant_len && memcmp(p->tenants[k], tenant, tenant_len) == 0)
				return p;
		for (unsigned k = 0; !by_sender && sender_domain && k < p->nsenders; k++)
			if (strcasecmp(p->senders[k], sender_domain) == 0)
				by_sender = p;
		if (p->is_default && !def)
			def = p;
	}
	return by_sender ? by_sender : def;
}

static bool host_matches(const char *pat, const char *host, size_t hlen)
{
	if (strncmp(pat, "*.", 2) == 0) {
		size_t pl = strlen(pat + 1);   /* ".suffix" */
		return hlen > pl && strncasecmp(host + hlen - pl, pat + 1, pl) == 0;
	}
	return strlen(pat) == hlen && strncasecmp(pat, host, hlen) == 0;
}

const struct dlv_site *dlv_site_find(const struct dlv_site *sites, unsigned n, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen && host[hlen - 1] == '.')
		hlen--;
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < sites[i].nmx; k++)
			if (host_matches(sites[i].mx[k], host, hlen))
				return &sites[i];
	return NULL;
}
