/* SPDX-License-Identifier: MIT */
/* audit.c: append-only JSON-lines audit log of admin requests (see audit.h). */
#include "ctl/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct ctl_audit {
	int fd;
	char *path;
};

void ctl_iso8601_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static int audit_openfd(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

struct ctl_audit *ctl_audit_open(const char *path, int *err)
{
	struct ctl_audit *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = -ENOMEM;
		return NULL;
	}
	a->path = strdup(path);
	if (!a->path) {
		*err = -ENOMEM;
		goto err;
	}
	a->fd = audit_openfd(path);
	if (a->fd < 0) {
		*err = a->fd;
		goto err;
	}
	return a;
err:
	free(a->path);
	free(a);
	return NULL;
}

int ctl_audit_reopen(struct ctl_audit *a)
{
	int fd = audit_openfd(a->path);
	if (fd < 0)
		return fd;
	close(a->fd);
	a->fd = fd;
	return 0;
}

int ctl_audit_write(struct ctl_audit *a, uid_t uid, pid_t pid, const char *cmd, json_t *args,
		    const char *err_msg, json_t **line)
{
	char ts[40];
	ctl_iso8601_now(ts, sizeof(ts));
	json_t *rec = json_pack("{s:s,s:s,s:I,s:I,s:s,s:O,s:s}", "ts", ts, "event", "admin",
				"uid", (json_int_t)uid, "pid", (json_int_t)pid, "cmd", cmd,
				"args", args ? args : json_null(), "result", err_msg ? "error" : "ok");
	if (!rec)
		return -ENOMEM;
	if (err_msg)
		json_object_set_new(rec, "error", json_string(err_msg));
	char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = 0;
	if (s && a) {
		size_t n = strlen(s);
		s[n] = '\n'; /* overwrite the NUL: one write() per line keeps lines whole */
		ssize_t w = write(a->fd, s, n + 1);
		if (w != (ssize_t)(n + 1)) {
			rc = w < 0 ? -errno : -EIO;
			log_err("audit write failed path=%s err=%s", a->path, strerror(-rc));
		}
	}
	free(s);
	if (line)
		*line = rec;
	else
		json_decref(rec);
	return rc;
}

void ctl_audit_close(struct ctl_audit *a)
{
	if (!a)
		return;
	close(a->fd);
	free(a->path);
	free(a);
}
