/* SPDX-License-Identifier: MIT */
/*
 * audit.h: the admin audit log. One JSON line per admin request: when, who (uid, pid of the
 * peer), what (command and arguments), and the result. The file is opened append-only with
 * mode 0600; it is reopened on SIGUSR1 (after an external rotation) and is subject to the
 * accounting retention sweep.
 */
#ifndef DPMAIL_CTL_AUDIT_H
#define DPMAIL_CTL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct ctl_audit;

/* Opens (creating) path for appending. NULL with *err = -errno. */
struct ctl_audit *ctl_audit_open(const char *path, int *err);
/* Reopens the same path (after rotation). Returns 0 or -errno (the old fd stays in use). */
int ctl_audit_reopen(struct ctl_audit *a);
/*
 * Appends one record; err_msg is NULL on success. The line is returned as a new JSON object
 * reference through *line when line is non-NULL (the accounting stream reuses it), else
 * dropped. Returns 0 or -errno (a failed audit write is also logged).
 */
int ctl_audit_write(struct ctl_audit *a, uid_t uid, pid_t pid, const char *cmd, json_t *args,
		    const char *err_msg, json_t **line);
void ctl_audit_close(struct ctl_audit *a);

/* "2026-11-29T02:15:08.123Z" of the current wall-clock time into buf (>= 32 bytes). */
void ctl_iso8601_now(char *buf, size_t len);

#endif
