/* SPDX-License-Identifier: MIT */
/*
 * buf.h: a growable byte buffer for control-plane output (Prometheus text, JSON lines, admin
 * replies). Control thread only; allocation failure is sticky: later appends are dropped and
 * ctl_buf_failed() says so, so formatting code checks once at the end instead of per call.
 */
#ifndef DPMAIL_CTL_BUF_H
#define DPMAIL_CTL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct ctl_buf {
	char *data;   /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	bool failed;
};

void ctl_buf_init(struct ctl_buf *b);
void ctl_buf_free(struct ctl_buf *b);
void ctl_buf_reset(struct ctl_buf *b);
void ctl_buf_append(struct ctl_buf *b, const void *p, size_t n);
void ctl_buf_printf(struct ctl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (consumed output). */
void ctl_buf_consume(struct ctl_buf *b, size_t n);
static inline bool ctl_buf_failed(const struct ctl_buf *b) { return b->failed; }

#endif
