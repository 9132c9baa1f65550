/* SPDX-License-Identifier: MIT */
/*
 * tls_policy.c: the outbound TLS policy of one delivery attempt. Delivery decides the policy
 * of a destination (configuration, DANE TLSA records from its resolver, an MTA-STS policy from
 * the control plane); this file turns it into what the connection must do (try STARTTLS,
 * require TLS, require authentication) and programs the SSL accordingly:
 *
 *   none           no STARTTLS
 *   opportunistic  STARTTLS when offered, no authentication required (RFC 7435); the result
 *                  still says whether the peer would have verified
 *   verify         TLS required, chain to the trust store and host name = MX name
 *   dane           TLS required, authenticated by the TLSA records (RFC 7672: DANE-TA(2) and
 *                  DANE-EE(3); DANE-EE ignores names and expiry as the RFC says); when no record
 *                  is usable, TLS is still required but not authenticated (RFC 7672 §2.2)
 *   mta-sts        RFC 8461: enforce = the MX must match an "mx:" pattern, TLS required and
 *                  WebPKI-verified; testing = opportunistic with the verdict reported
 * A message flagged REQUIRETLS (RFC 8689) raises any mode to TLS required and verified.
 */
#include "tls/tls_int.h"

#include <openssl/x509v3.h>
#include <strings.h>
#include <string.h>

const char *tls_policy_mode_str(enum tls_policy_mode m)
{
	static const char *const names[TLS_POLICY__MAX] = {
		[TLS_POLICY_NONE] = "none", [TLS_POLICY_OPPORTUNISTIC] = "opportunistic",
		[TLS_POLICY_VERIFY] = "verify", [TLS_POLICY_DANE] = "dane",
		[TLS_POLICY_MTA_STS] = "mta-sts",
	};
	return (unsigned)m < TLS_POLICY__MAX ? names[m] : "unknown";
}

int tls_policy_mode_parse(const char *s)
{
	for (int m = 0; m < TLS_POLICY__MAX; m++)
		if (strcasecmp(s, tls_policy_mode_str(m)) == 0)
			return m;
	return -1;
}

/* Compares host names case-insensitively, ignoring one trailing dot on either side. */
static bool name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen && a[alen - 1] == '.')
		alen--;
	if (blen && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

bool tls_policy_mx_match(const char *pattern, const char *host)
{
	size_t pl = strlen(pattern), hl = strlen(host);
	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* "*.example.com" matches "mx.example.com", not "a.b.example.com" nor the apex */
		const char *dot = strchr(host, '.');
		if (!dot || dot == host)
			return false;
		return name_eq(pattern + 1, pl - 1, dot, hl - (size_t)(dot - host));
	}
	return name_eq(pattern, pl, host, hl);
}

void tls_policy_eval(const struct tls_policy *p, const char *mx, struct tls_policy_eval *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->mode = p ? p->mode : TLS_POLICY_OPPORTUNISTIC;
	switch (ev->mode) {
	case TLS_POLICY_NONE:
		break;
	case TLS_POLICY_OPPORTUNISTIC:
		ev->starttls = true;
		break;
	case TLS_POLICY_VERIFY:
		ev->starttls = ev->require_tls = ev->require_auth = true;
		break;
	case TLS_POLICY_DANE:
		ev->starttls = ev->require_tls = ev->require_auth = ev->dane = true;
		break;
	case TLS_POLICY_MTA_STS: {
		bool match = false;
		ev->starttls = true;
		if (p->sts_mode == TLS_STS_NONE)
			break;
		for (unsigned i = 0; i < p->n_sts_mx && i < TLS_MAX_STS_MX; i++)
			match = match || tls_policy_mx_match(p->sts_mx[i], mx ? mx : "");
		if (p->sts_mode == TLS_STS_TESTING) {
			ev->report_only = true;
			ev->require_auth = true;   /* checked and reported, never enforced */
			if (!match)
				ev->reason = "mta-sts(testing): mx not in policy";
			break;
		}
		ev->require_tls = ev->require_auth = true;
		if (!match)
			ev->reason = "mta-sts: mx not in policy";
		break;
	}
	default:
		ev->mode = TLS_POLICY_OPPORTUNISTIC;
		ev->starttls = true;
	}
	if (p && p->requiretls) {
		/* RFC 8689 §4.2: STARTTLS, a verified certificate (DANE if the policy has it) */
		if (ev->mode != TLS_POLICY_DANE && ev->mode != TLS_POLICY_MTA_STS)
			ev->mode = TLS_POLICY_VERIFY;
		ev->starttls = ev->require_tls = ev->require_auth = true;
		ev->report_only = false;
	}
}

int tls_policy_allows_plaintext(const struct tls_policy_eval *ev)
{
	return !ev->require_tls;
}

/* DANE: enable on the SSL and add the records; returns how many OpenSSL found usable. */
static int apply_dane(SSL *ssl, const struct tls_policy *p, const char *host)
{
	int usable = 0;
	if (SSL_dane_enable(ssl, host) <= 0)
		return -1;
	/* RFC 7672 §3.1.1: DANE-EE(3) binds the key, not the name */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (unsigned i = 0; i < p->n_tlsa && i < TLS_MAX_TLSA; i++) {
		const struct tls_tlsa *t = &p->tlsa[i];
		if (t->usage != 2 && t->usage != 3)
			continue;          /* PKIX-TA/PKIX-EE are unusable for SMTP (RFC 7672 §3.1.3) */
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len) > 0)
			usable++;
	}
	return usable;
}

int tls_policy_apply(SSL *ssl, const struct tls_policy *p, struct tls_policy_eval *ev,
		     const char *host)
{
	bool enforce = ev->require_auth && !ev->report_only;
	int usable = 0;
	if (ev->dane && p) {
		usable = apply_dane(ssl, p, host);
		if (usable < 0)
			return -1;
		if (usable == 0) {
			/* no usable record: encrypt, do not authenticate (RFC 7672 §2.2) */
			ev->require_auth = false;
			ev->dane = false;
			enforce = false;
		}
	}
	if (!ev->dane && host[0]) {
		/* Name checks for verify/mta-sts, and so opportunistic can report "verified". */
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, host) != 1)
			return -1;
		for (unsigned i = 0; p && i < p->n_match_names && i < 4; i++)
			if (SSL_add1_host(ssl, p->match_names[i]) != 1)
				return -1;
	}
	SSL_set_verify(ssl, enforce ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return usable;
}
