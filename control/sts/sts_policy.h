/* SPDX-License-Identifier: MIT */
/*
 * sts_policy.h: strict, bounded parsers of MTA-STS text (RFC 8461): the policy file served at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt and the _mta-sts TXT record. Pure functions
 * over (pointer, length) input that need not be NUL-terminated; no allocation.
 */
#ifndef DPMAIL_STS_POLICY_H
#define DPMAIL_STS_POLICY_H

#include <stddef.h>

#include "sts/sts-t.h"

/*
 * Parses a policy body. Returns 0 and fills *p, or -EINVAL with *why set to a static reason
 * (first field not "version: STSv1", unknown mode, max_age missing/too large, no mx in a
 * non-none mode, a malformed mx pattern, a duplicated field, control bytes, more than
 * STS_MX_MAX patterns, more than STS_POLICY_BYTES). Unknown fields are ignored (RFC 8461 3.2).
 */
int sts_policy_parse(const char *buf, size_t len, struct sts_policy *p, const char **why);

/*
 * Parses one TXT record (its strings already concatenated). Returns 1 and copies the policy
 * id (NUL-terminated) into id[STS_ID_MAX + 1] for a valid "v=STSv1; id=..." record, 0 when
 * the record is not an MTA-STS record (does not start with "v=STSv1"), -EINVAL when it starts
 * like one but is malformed.
 */
int sts_txt_parse(const char *s, size_t len, char id[STS_ID_MAX + 1]);

/* A valid "mx:" pattern: [ "*." ] LDH labels, 1..63 each, 253 at most in all. */
bool sts_pattern_ok(const char *s, size_t len);

const char *sts_mode_str(enum sts_mode m);
/* "enforce" | "testing" | "none" -> mode; -1 otherwise. */
int sts_mode_parse(const char *s);

#endif
