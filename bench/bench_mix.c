/* SPDX-License-Identifier: MIT */
/*
 * bench_mix.c: weighted mixes given on the command line (reply-code mixes of the sink, size
 * mixes of the load generator), byte sizes with k/m suffixes, and the bench's PRNG.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Parses a size with optional k/m/g suffix (powers of 1024) from [s, end); 0 or -1. */
static int parse_size_n(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 31 || !isdigit((unsigned char)s[0]))
		return -1;
	char tmp[32];
	memcpy(tmp, s, len);
	tmp[len] = 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(tmp, &end, 10);
	if (errno)
		return -1;
	uint64_t mul = 1;
	switch (tolower((unsigned char)*end)) {
	case 0: break;
	case 'k': mul = 1024; end++; break;
	case 'm': mul = 1024 * 1024; end++; break;
	case 'g': mul = 1024ull * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != 0 || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int bench_parse_size(const char *s, uint64_t *out)
{
	return parse_size_n(s, strlen(s), out);
}

static int parse_weight(const char *s, size_t len, uint32_t *w)
{
	if (len == 0 || len > 9)
		return -1;
	uint32_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*w = v;
	return 0;
}

static int mix_add(struct bench_mix *m, uint64_t v, uint32_t w, char *err, size_t errlen)
{
	if (m->n == BENCH_MIX_MAX) {
		snprintf(err, errlen, "more than %d entries", BENCH_MIX_MAX);
		return -1;
	}
	m->value[m->n] = v;
	m->weight[m->n] = w;
	m->n++;
	m->total += w;
	return 0;
}

int bench_mix_parse_codes(struct bench_mix *m, const char *s, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	const char *p = s;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		uint32_t code, w;
		if (!colon || parse_weight(p, (size_t)(colon - p), &code) < 0 || code < 200 ||
		    code > 599 || parse_weight(colon + 1, len - (size_t)(colon - p) - 1, &w) < 0) {
			snprintf(err, errlen, "bad entry '%.*s' (want CODE:WEIGHT, code 200-599)",
				 (int)len, p);
			return -1;
		}
		if (mix_add(m, code, w, err, errlen) < 0)
			return -1;
		p = end ? end + 1 : p + len;
	}
	if (m->n == 0 || m->total == 0) {
		snprintf(err, errlen, "empty mix or all weights zero");
		return -1;
	}
	return 0;
}

int bench_mix_parse_sizes(struct bench_mix *m, const char *s, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	bool weighted = strchr(s, '@') != NULL;
	char sep = weighted ? ',' : ':';
	const char *p = s;
	while (*p) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *at = weighted ? memchr(p, '@', len) : NULL;
		size_t vlen = at ? (size_t)(at - p) : len;
		uint64_t v;
		uint32_t w = 1;
		if (parse_size_n(p, vlen, &v) < 0 || v == 0 ||
		    (weighted && (!at || parse_weight(at + 1, len - vlen - 1, &w) < 0))) {
			snprintf(err, errlen, "bad size '%.*s'", (int)len, p);
			return -1;
		}
		if (mix_add(m, v, w, err, errlen) < 0)
			return -1;
		p = end ? end + 1 : p + len;
	}
	if (m->n == 0 || m->total == 0) {
		snprintf(err, errlen, "empty size mix");
		return -1;
	}
	return 0;
}

uint64_t bench_mix_pick(const struct bench_mix *m, uint64_t r)
{
	uint64_t x = r % m->total;
	for (unsigned i = 0; i < m->n; i++) {
		if (x < m->weight[i])
			return m->value[i];
		x -= m->weight[i];
	}
	return m->value[m->n - 1];
}
