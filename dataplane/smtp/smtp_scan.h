/* SPDX-License-Identifier: MIT */
/*
 * smtp_scan.h: the SIMD octet scan shared by the server's content scanner and the client's
 * canonicaliser (private to dataplane/smtp). Finds the first CR or LF (and NUL when asked) in
 * [q, end), 16 octets a step with SSE2, never reading past end.
 */
#ifndef DPMAIL_SMTP_SCAN_H
#define DPMAIL_SMTP_SCAN_H

#include <emmintrin.h>
#include <stdbool.h>
#include <stdint.h>

static inline const uint8_t *smtp_scan_special(const uint8_t *q, const uint8_t *end, bool nul)
{
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i z = nul ? _mm_setzero_si128() : cr;

	while (end - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
					 _mm_cmpeq_epi8(v, z));
		int mask = _mm_movemask_epi8(m);
		if (mask)
			return q + __builtin_ctz((unsigned)mask);
		q += 16;
	}
	while (q < end && *q != '\r' && *q != '\n' && (!nul || *q != '\0'))
		q++;
	return q;
}

#endif
