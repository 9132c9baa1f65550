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

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Batching, for a worker's loop turn: between log_batch_begin() and log_batch_end() the calling
 * thread's info and debug lines are staged in a thread-local buffer and written together by
 * log_batch_end() (or when the buffer fills); a warning or error writes the staged lines and
 * itself at once. Lines are stamped when logged, not when written. Outside a batch every line
 * is written when logged. Call both on the same thread; batches nest (only the outermost end
 * writes).
 */
void log_batch_begin(void);
void log_batch_end(void);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
