/* SPDX-License-Identifier: MIT */
/*
 * log.h: the one logging interface of dpmail. Lines are key=value and lead with the subject
 * (session or message id) when there is one: "sid=4f2a cmd=MAIL reply=250". Start-up and the
 * control plane write to stderr directly; worker lcores must not format or write on the hot
 * path: they count and queue records for the control plane (see control/ for the record rings).
 */
#ifndef DPMAIL_LOG_H
#define DPMAIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* The process-wide threshold: messages above it are dropped. Set at start-up and by the admin
 * socket (a relaxed atomic store; readers tolerate a stale value). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "err|warn|info|debug"; returns -1 on an unknown name. */
int log_level_parse(const char *name);

/*
 * Per-thread batching for loop threads (worker lcores): after log_thread_batch(1) the calling
 * thread's lines collect in a thread-local buffer and leave in one write(2) at log_flush()
 * (once per loop turn, before an idle sleep) or when the buffer fills, instead of one write
 * per line. Lines never interleave with other threads' (whole lines per write). A crash loses
 * at most the current turn's lines. log_thread_batch(0) flushes and turns it off.
 */
void log_thread_batch(int on);
void log_flush(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
