/* SPDX-License-Identifier: MIT */
/*
 * dns_parse.h: turning a libunbound result into one immutable cache answer: status from the
 * rcode and DNSSEC flags, rdata of MX/A/AAAA/TLSA/TXT decoded (unbound hands rdata uncompressed),
 * MX sorted by preference, null MX (RFC 7505) detected, TTL clamped by the cache policy.
 */
#ifndef DPMAIL_DNS_PARSE_H
#define DPMAIL_DNS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "dns/dns-t.h"

struct ub_result;

/*
 * Decodes MX rdata: preference and exchange host (lower case, no trailing dot; "" for the
 * root, i.e. null MX). Returns 0, or -EINVAL on malformed rdata or a host that does not fit.
 */
int ctl_dns_parse_mx(const uint8_t *rd, size_t len, uint16_t *pref, char *host, size_t hostlen);

/* The answer for a finished query (err: libunbound's error code; res may be NULL). One
 * allocation, freed with free(). NULL on ENOMEM. */
struct ctl_dns_answer *ctl_dns_answer_build(const char *name, uint16_t qtype, int err,
					    const struct ub_result *res,
					    const struct ctl_dns_opts *o, uint64_t now_us);

/* A failure answer (SERVFAIL, TIMEOUT) cached for fail_ttl_s. */
struct ctl_dns_answer *ctl_dns_answer_fail(const char *name, uint16_t qtype,
					   enum ctl_dns_status st, const struct ctl_dns_opts *o,
					   uint64_t now_us);

#endif
