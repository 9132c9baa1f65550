/* SPDX-License-Identifier: MIT */
/* log.c: stderr logging with a level threshold and an ISO-8601 UTC timestamp per line; loop
 * threads may batch their lines into one write per turn (log_thread_batch). */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int log_level = LOG_LVL_INFO;
static const char *const level_names[] = { "err", "warn", "info", "debug" };

void log_set_level(enum log_level lvl) { atomic_store_explicit(&log_level, lvl, memory_order_relaxed); }
enum log_level log_get_level(void) { return atomic_load_explicit(&log_level, memory_order_relaxed); }

int log_level_parse(const char *name)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

#define LOG_BATCH_BYTES 16384

static __thread struct {
	int on;
	size_t len;
	char buf[LOG_BATCH_BYTES];
} log_tb;

void log_flush(void)
{
	if (log_tb.len == 0)
		return;
	fwrite(log_tb.buf, 1, log_tb.len, stderr);
	fflush(stderr);
	log_tb.len = 0;
}

void log_thread_batch(int on)
{
	log_flush();
	log_tb.on = on;
}

/* One finished line: into the thread's batch, or straight out (one write per line so lines
 * from several threads never interleave). */
static void log_emit(const char *line, size_t len)
{
	if (log_tb.on && len <= sizeof(log_tb.buf)) {
		if (log_tb.len + len > sizeof(log_tb.buf))
			log_flush();
		memcpy(log_tb.buf + log_tb.len, line, len);
		log_tb.len += len;
		return;
	}
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	if ((int)lvl > (int)log_get_level())
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
	if (n < 0)
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2));
	line[len++] = '\n';
	log_emit(line, len);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
