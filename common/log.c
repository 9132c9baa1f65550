/* SPDX-License-Identifier: MIT */
/*
 * log.c: stderr logging with a level threshold and an ISO-8601 UTC timestamp per line.
 *
 * Cost matters because worker lcores log a line per message (delivery outcomes): the
 * timestamp prefix is formatted once per second per thread (cached in thread-local storage),
 * and a worker may batch its lines for the length of a loop turn (log_batch_begin/end) so
 * that a turn's lines leave in one write(2) instead of one each.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fmt.h"

#define LOG_LINE_MAX 2048
#define LOG_BATCH_MAX 16384

static _Atomic int log_level = LOG_LVL_INFO;
static const char *const level_names[] = { "err", "warn", "info", "debug" };

/* Per-thread state. A cache and a staging buffer of the calling thread, not shared state:
 * nothing here is read by another thread. */
struct log_tls {
	struct fmt_iso_cache iso;	/* the line stamps' date and time, once a second */
	unsigned batching;	/* nesting depth of log_batch_begin() */
	size_t len;		/* bytes staged in buf */
	char buf[LOG_BATCH_MAX];
};
static __thread struct log_tls log_tls = { .iso = FMT_ISO_CACHE_INIT };

void log_set_level(enum log_level lvl) { atomic_store_explicit(&log_level, lvl, memory_order_relaxed); }
enum log_level log_get_level(void) { return atomic_load_explicit(&log_level, memory_order_relaxed); }

int log_level_parse(const char *name)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ level " at p (at most 40 bytes); returns its length. */
static size_t stamp(struct log_tls *t, char *p, enum log_level lvl)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fmt_iso_ms(p, ts.tv_sec, (unsigned)(ts.tv_nsec / 1000000), &t->iso);
	char *q = p + FMT_ISO_MS_LEN;
	*q++ = ' ';
	size_t nl = strlen(level_names[lvl]);
	memcpy(q, level_names[lvl], nl);
	q += nl;
	*q++ = ' ';
	return (size_t)(q - p);
}

/* One write per call (whole lines), so lines from several threads never interleave. */
static void out(const char *p, size_t len)
{
	fwrite(p, 1, len, stderr);
	fflush(stderr);
}

static void batch_flush(struct log_tls *t)
{
	if (t->len)
		out(t->buf, t->len);
	t->len = 0;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	if ((int)lvl > (int)log_get_level())
		return;
	struct log_tls *t = &log_tls;
	char own[LOG_LINE_MAX];
	if (t->batching && LOG_BATCH_MAX - t->len < LOG_LINE_MAX)
		batch_flush(t);
	/* batching: format straight into the staging buffer */
	char *line = t->batching ? t->buf + t->len : own;
	size_t n = stamp(t, line, lvl);
	int m = vsnprintf(line + n, LOG_LINE_MAX - n - 1, fmt, ap);
	size_t room = LOG_LINE_MAX - n - 2;	/* keeps one byte for the newline */
	size_t len = n + (m < 0 ? 0 : (size_t)m < room ? (size_t)m : room);
	line[len++] = '\n';
	if (!t->batching) {
		out(line, len);
		return;
	}
	t->len += len;
	if (lvl <= LOG_LVL_WARN)	/* problems are not held back */
		batch_flush(t);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void log_batch_begin(void)
{
	log_tls.batching++;
}

/* Only the outermost end writes: a loop turn may wrap hooks that batch on their own. */
void log_batch_end(void)
{
	if (log_tls.batching && --log_tls.batching)
		return;
	batch_flush(&log_tls);
}
