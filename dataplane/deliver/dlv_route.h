/* SPDX-License-Identifier: MIT */
/*
 * dlv_route.h: choosing next hops. Pure functions over snapshot data and resolver answers.
 */
#ifndef DPMAIL_DLV_ROUTE_H
#define DPMAIL_DLV_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "deliver/dlv_route-t.h"

/*
 * The static route for a recipient domain (case-insensitive): an exact match first, then the
 * nearest parent written as ".parent", then "*". NULL: use MX records.
 */
const struct dlv_route *dlv_route_find(const struct dlv_route *routes, unsigned n, const char *domain);

/*
 * Orders MX records for delivery (RFC 5321 §5.1): by preference, random among equal
 * preferences (rnd seeds the shuffle), duplicates removed. Detects a null MX (RFC 7505: a single
 * record with preference 0 and host ".") and an MX list whose best preference names one of our
 * own host names (RFC 5321 §5.1: then only MX hosts of a lower preference value than ours may
 * be used; if none, 5.4.6). With n == 0 the caller falls back to the domain's A/AAAA records
 * (implicit MX); this returns DLV_MX_NONE then.
 */
void dlv_mx_order(const struct dlv_mx_rr *rrs, unsigned n, const char *const *self_names,
		  unsigned nself, uint32_t rnd, struct dlv_hops *out);

/*
 * The rollup key of a destination: the MX host names of its best preference, lower-cased and
 * sorted, joined by ','. Thousands of domains hosted by one provider share one key and so one
 * shaping budget. Writes at most len bytes (NUL-terminated); returns the length, or -1 if it
 * did not fit.
 */
int dlv_rollup_key(const struct dlv_hops *hops, char *buf, size_t len);

/*
 * The pool for a message (dlv_pool.c): the pool listing its tenant (the relay.clients entry
 * that accepted it), else the one listing its sender domain (case-insensitive), else the
 * default pool, else NULL (no pool: the port's address and smtp.hostname).
 */
const struct dlv_pool *dlv_pool_select(const struct dlv_pool *pools, unsigned n, const char *tenant,
				       size_t tenant_len, const char *sender_domain);

/* The site whose patterns match host ("*.suffix" matches strict subdomains; case-insensitive,
 * a trailing dot ignored), or NULL. */
const struct dlv_site *dlv_site_find(const struct dlv_site *sites, unsigned n, const char *host);

#endif
