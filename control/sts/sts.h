/* SPDX-License-Identifier: MIT */
/*
 * sts.h: the MTA-STS policy source (RFC 8461) of the control plane. It answers the resolver's
 * pseudo type CTL_DNS_STS (control/dns), so a worker asks for a domain's policy exactly as it
 * asks for TLSA records:
 *
 *     a = ctl_dns_lookup(dns, "example.org", CTL_DNS_STS, now);      // OK: a->rr.sts
 *     if (!a) ctl_dns_request(dns, slot, "example.org", CTL_DNS_STS, req_id);   // completion
 *
 * Behind it, on the control thread only: TXT _mta-sts.<domain> (v=STSv1; id=...), A of
 * mta-sts.<domain> (both through our resolver), HTTPS GET of the policy (sts_fetch.c),
 * strict parse (sts_policy.c), a per-domain cache keyed by the TXT id, persisted in a file so
 * a restart keeps enforcing. A cached policy is published at once and re-validated in the
 * background; a failed refresh keeps it until its max_age ends (RFC 8461 5.1).
 */
#ifndef DPMAIL_STS_H
#define DPMAIL_STS_H

#include <stdint.h>

#include "sts/sts-t.h"

struct sts;
struct ctl_dns;

void sts_opts_defaults(struct sts_opts *o);

/* Builds the engine, loads o->cache_file (entries past their max_age are dropped) and
 * installs it as dns's CTL_DNS_STS provider. NULL with *err = -errno (logged). Control
 * thread; dns outlives the engine's use (free the engine after the workers stopped). */
struct sts *sts_new(const struct sts_opts *o, struct ctl_dns *dns, int *err);
void sts_free(struct sts *s);

/* What `dpmailctl sts show` reports about one domain. */
struct sts_info {
	bool known;                   /* the domain is in the cache at all */
	bool have_policy;             /* a policy is cached (may be mode none) */
	const char *state;            /* "idle", "txt", "address", "fetch" */
	char id[STS_ID_MAX + 1];
	struct sts_policy policy;
	uint64_t fetched_wall_s, expires_wall_s, checked_wall_s;
	char last_error[160];         /* "" when the last refresh worked */
};
void sts_info(const struct sts *s, const char *domain, struct sts_info *out);
/* Starts a refresh of domain now (admin command, tests): 0 or -errno. */
int sts_refresh(struct sts *s, const char *domain, uint64_t now_us);
/* Visits every cached domain (sts list). */
void sts_each(const struct sts *s, void (*fn)(void *arg, const char *domain), void *arg);
const struct sts_stats *sts_stats_get(const struct sts *s);

#endif
