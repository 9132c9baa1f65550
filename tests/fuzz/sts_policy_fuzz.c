/* SPDX-License-Identifier: MIT */
/*
 * sts_policy_fuzz.c: arbitrary bytes as an MTA-STS policy body and as a _mta-sts TXT record.
 * Checks the parsers' contracts beyond "no crash": an accepted policy has a mode, a bounded
 * max_age, valid lower-case patterns and (unless mode none) at least one of them; an accepted
 * TXT record has an id of 1..32 letters and digits.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy p;
	const char *why = NULL;
	if (sts_policy_parse((const char *)data, size, &p, &why) == 0) {
		if (p.mode > STS_MODE_ENFORCE || p.max_age > STS_MAX_AGE_MAX || p.n_mx > STS_MX_MAX ||
		    (p.mode != STS_MODE_NONE && p.n_mx == 0))
			abort();
		for (unsigned i = 0; i < p.n_mx; i++) {
			size_t n = strlen(p.mx[i]);
			if (!sts_pattern_ok(p.mx[i], n))
				abort();
			for (size_t k = 0; k < n; k++)
				if (isupper((unsigned char)p.mx[i][k]))
					abort();
		}
	} else if (!why) {
		abort();
	}
	char id[STS_ID_MAX + 1];
	int rc = sts_txt_parse((const char *)data, size, id);
	if (rc == 1) {
		size_t n = strlen(id);
		if (n == 0 || n > STS_ID_MAX)
			abort();
		for (size_t k = 0; k < n; k++)
			if (!isalnum((unsigned char)id[k]))
				abort();
	} else if (rc != 0 && rc != -22) {
		abort();
	}
	return 0;
}
