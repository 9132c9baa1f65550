/* SPDX-License-Identifier: MIT */
/*
 * fmt.h: the number and time formatting the per-message paths do without printf (a snprintf
 * call costs 600-2,000 instructions; these a few per digit): log lines, accounting records,
 * SMTP client commands and delivery texts share them.
 */
#ifndef DPMAIL_FMT_H
#define DPMAIL_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The decimal digits of v at d (room for 20), no NUL; returns how many. */
size_t fmt_u64(char *d, uint64_t v);

/*
 * UTC time "YYYY-MM-DDTHH:MM:SS.mmmZ" (FMT_ISO_MS_LEN bytes, no NUL) at out, for second s and
 * millisecond ms. The date and time part is kept in *cache and recomputed only when the second
 * changes (callers format in time order, so it almost always hits); one cache per thread.
 */
#define FMT_ISO_MS_LEN 24
struct fmt_iso_cache {
	time_t sec;                  /* the second text[] holds (-1: none yet) */
	char text[19];               /* "YYYY-MM-DDTHH:MM:SS" */
};
#define FMT_ISO_CACHE_INIT { .sec = -1 }
void fmt_iso_ms(char *out, time_t s, unsigned ms, struct fmt_iso_cache *cache);

#endif
