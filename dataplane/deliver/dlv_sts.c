/* SPDX-License-Identifier: MIT */
/*
 * dlv_sts.c: MTA-STS (RFC 8461) in delivery. Whether a recipient domain follows its published
 * policy: delivery.tls_policy mode mta-sts for the domain (or "*"), or mta_sts.all_domains when
 * no entry applies. The policy is asked of the control plane like a DNS record (pseudo type
 * CTL_DNS_STS; control/sts fetches and caches it) before the MX lookup. A testing or enforce
 * policy puts the domain's jobs in their own destination (key part "|mta-sts=<domain>": two
 * domains on the same MX hosts may publish different policies), which carries a copy of it:
 *   enforce  MX hosts that match no "mx:" pattern are never contacted; TLS is required and the
 *            certificate must verify (WebPKI, MX name); any failure defers 4.7.5, never clear
 *   testing  delivered as opportunistic; a mismatch or unverified peer is counted and logged
 *   none / no policy / policy unavailable: the configured fallback (opportunistic)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/dlv_int.h"
#include "dns/dns.h"
#include "log.h"
#include "tls/tls.h"

/* Explicit entry for the domain, then "*", then the global switch. */
static bool sts_wanted(const struct dlv_policy *pol, const char *domain)
{
	if (!pol)
		return false;
	int star = -1;
	for (unsigned i = 0; i < pol->n_tls; i++) {
		if (strcasecmp(pol->tls[i].destination, domain) == 0)
			return pol->tls[i].mode == DLV_TLS_MTA_STS;
		if (strcmp(pol->tls[i].destination, "*") == 0)
			star = (int)i;
	}
	if (star >= 0)
		return pol->tls[star].mode == DLV_TLS_MTA_STS;
	return pol->mta_sts_all;
}

int dlv_sts_lookup(struct dlv_engine *eng, struct dlv_job *j, const char *domain,
		   const struct ctl_dns_sts **out)
{
	*out = NULL;
	if (!eng->dns || !sts_wanted(eng->pol, domain)) {
		j->sts_asked = false;
		return 0;
	}
	const struct ctl_dns_answer *a = ctl_dns_lookup(eng->dns, domain, CTL_DNS_STS, eng->now);
	if (!a && !j->sts_asked) {
		/* the completion comes back as a job request (dns_completions -> dlv_job_resolve) */
		uint64_t req = ((uint64_t)j->idx << 32) | j->gen;
		if (ctl_dns_request(eng->dns, eng->p.dns_slot, domain, CTL_DNS_STS, req) < 0) {
			dlv_job_tempfail(eng, j, "4.4.3", "resolver busy (MTA-STS policy)");
			return -1;
		}
		j->sts_asked = true;
		j->st = DLV_J_RESOLVE;
		return 1;
	}
	/* answered, or asked and still nothing (the fetch outlived the resolver's deadline): a
	 * domain with no policy we know of gets the fallback (RFC 8461 5: no policy = none) */
	j->sts_asked = false;
	if (a && a->status == CTL_DNS_OK && a->rr.sts &&
	    (a->rr.sts->mode == TLS_STS_TESTING || a->rr.sts->mode == TLS_STS_ENFORCE))
		*out = a->rr.sts;
	return 0;
}

void dlv_sts_class(struct dlv_class *c, const char *domain, const struct ctl_dns_sts *p)
{
	if (!p)
		return;
	/* REQUIRETLS raised MAY to VERIFY: an enforce policy keeps verified TLS and adds its MX
	 * restriction (RFC 8689 4.2.1 accepts MTA-STS for the MX); a testing policy would let the
	 * connection go unverified, so such a job stays at VERIFY */
	if (c->requiretls && c->tls == DLV_TLS_VERIFY && p->mode != TLS_STS_ENFORCE)
		return;
	if (c->tls == DLV_TLS_MAY || c->tls == DLV_TLS_MTA_STS || (c->requiretls && c->tls == DLV_TLS_VERIFY)) {
		c->tls = DLV_TLS_MTA_STS;
		c->sts_domain = domain;
	}
}

int dlv_sts_dest_update(struct dlv_dest *d, const struct ctl_dns_sts *p)
{
	if (!p || d->tls != DLV_TLS_MTA_STS)
		return 0;
	if (d->sts && strcmp(d->sts->id, p->id) == 0 && d->sts->mode == p->mode &&
	    d->sts->valid_until_wall_s == p->valid_until_wall_s)
		return 0;
	if (!d->sts && !(d->sts = calloc(1, sizeof(*d->sts))))
		return -ENOMEM;
	d->sts_gen++;
	d->sts->mode = p->mode;
	snprintf(d->sts->id, sizeof(d->sts->id), "%s", p->id);
	d->sts->valid_until_wall_s = p->valid_until_wall_s;
	d->sts->n_mx = 0;
	for (unsigned i = 0; i < p->n_mx && i < 16; i++)
		snprintf(d->sts->mx[d->sts->n_mx++], DLV_HOST_MAX + 1, "%s", p->mx[i]);
	log_info("dest=%s event=mta_sts_policy mode=%s id=%s mx=%u", d->key,
		 p->mode == TLS_STS_ENFORCE ? "enforce" : "testing", p->id, p->n_mx);
	return 0;
}

bool dlv_sts_hop_allowed(struct dlv_conn *dc, const struct dlv_hop *h)
{
	const struct dlv_sts *s = dc->dest->sts;
	dc->sts_match = false;
	dc->sts_gen = dc->dest->sts_gen;
	if (dc->dest->tls != DLV_TLS_MTA_STS || !s)
		return true;
	for (unsigned i = 0; i < s->n_mx && !dc->sts_match; i++)
		dc->sts_match = tls_policy_mx_match(s->mx[i], h->host);
	if (dc->sts_match)
		return true;
	if (s->mode == TLS_STS_TESTING) {
		dc->eng->stats.sts_testing_failed++;
		log_info("dest=%s host=%s event=mta_sts_testing_failure reason=\"mx not in policy\"",
			 dc->dest->key, h->host);
		return true;
	}
	dc->eng->stats.sts_mx_refused++;
	snprintf(dc->fail_ecode, sizeof(dc->fail_ecode), "4.7.5");
	snprintf(dc->fail_text, sizeof(dc->fail_text), "MX host %.90s is not in the MTA-STS policy of %.60s",
		 h->host, dc->dest->domain);
	log_info("dest=%s host=%s event=mta_sts_mx_refused", dc->dest->key, h->host);
	return false;
}

bool dlv_sts_conn_current(const struct dlv_conn *dc)
{
	return dc->dest->tls != DLV_TLS_MTA_STS || dc->sts_gen == dc->dest->sts_gen;
}

void dlv_sts_tls_policy(const struct dlv_conn *dc, struct tls_policy *pol)
{
	const struct dlv_sts *s = dc->dest->sts;
	pol->mode = TLS_POLICY_MTA_STS;
	pol->sts_mode = s ? (enum tls_sts_mode)s->mode : TLS_STS_NONE;
	/* the hop was matched against every pattern already (there may be more than the TLS
	 * layer holds): hand it the host itself when it matched, nothing when it did not */
	pol->requiretls = dc->dest->requiretls;   /* RFC 8689: verified whatever the mode says */
	pol->n_sts_mx = 0;
	if (dc->sts_match) {
		pol->sts_mx[0] = dlv_conn_hop(dc)->host;
		pol->n_sts_mx = 1;
	}
}

void dlv_sts_tls_result(struct dlv_conn *dc, bool ok, bool verified)
{
	const struct dlv_sts *s = dc->dest->sts;
	if (dc->dest->tls != DLV_TLS_MTA_STS || !s)
		return;
	if (s->mode == TLS_STS_ENFORCE) {
		dc->eng->stats.sts_enforced += ok && verified;
		return;
	}
	if (!ok || !verified) {
		dc->eng->stats.sts_testing_failed++;
		log_info("dest=%s host=%s event=mta_sts_testing_failure reason=\"%s\"", dc->dest->key,
			 dlv_conn_hop(dc)->host, ok ? "certificate not verified" : "TLS failed");
	}
}

const char *dlv_sts_policy_word(const struct dlv_dest *d, const char *mode_name)
{
	if (d->tls == DLV_TLS_MTA_STS && d->sts)
		return d->sts->mode == TLS_STS_ENFORCE ? "mta-sts:enforce" : "mta-sts:testing";
	return d->tls == DLV_TLS_MTA_STS ? "mta-sts:none" : mode_name;
}
