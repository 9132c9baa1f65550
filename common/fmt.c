/* SPDX-License-Identifier: MIT */
/*
 * fmt.c: printf-free number and time formatting for the per-message paths (see fmt.h).
 */
#include "fmt.h"

#include <string.h>

size_t fmt_u64(char *d, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);
	do
		t[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	memcpy(d, t + i, sizeof(t) - i);
	return sizeof(t) - i;
}

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

void fmt_iso_ms(char *out, time_t s, unsigned ms, struct fmt_iso_cache *cache)
{
	if (s != cache->sec) {
		struct tm tm;
		gmtime_r(&s, &tm);
		unsigned y = (unsigned)(tm.tm_year + 1900) % 10000;
		char *q = put2(put2(cache->text, y / 100), y % 100);
		*q++ = '-';
		q = put2(q, (unsigned)tm.tm_mon + 1);
		*q++ = '-';
		q = put2(q, (unsigned)tm.tm_mday);
		*q++ = 'T';
		q = put2(q, (unsigned)tm.tm_hour);
		*q++ = ':';
		q = put2(q, (unsigned)tm.tm_min);
		*q++ = ':';
		put2(q, (unsigned)tm.tm_sec);
		cache->sec = s;
	}
	memcpy(out, cache->text, sizeof(cache->text));
	out[19] = '.';
	out[20] = (char)('0' + ms / 100 % 10);
	put2(out + 21, ms % 100);
	out[23] = 'Z';
}
