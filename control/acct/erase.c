/* SPDX-License-Identifier: MIT */
/*
 * erase.c: `privacy erase <address>`: the queue owner's hook removes queued messages, then
 * every accounting and audit file in the accounting directory is rewritten without the
 * address or its pseudonym. Each file is replaced atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory), so a crash leaves either the old or the
 * new file, never a torn one. Lines are parsed as JSON and only matching string values are
 * replaced ("[erased]"); a line that does not parse but contains the address is dropped.
 */
#include "acct/acct-int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/audit.h"
#include "ctl/server.h"
#include "log.h"

#define ERASED "[erased]"

void ctl_acct_set_erase_hook(struct ctl_acct *a, ctl_acct_erase_hook_fn *fn, void *arg)
{
	a->erase_hook = fn;
	a->erase_arg = arg;
}

void ctl_acct_set_audit(struct ctl_acct *a, struct ctl_audit *audit, const char *audit_path)
{
	a->audit = audit;
	free(a->audit_path);
	a->audit_path = audit_path ? strdup(audit_path) : NULL;
}

/* Case-insensitive search of needle in s (addresses compare case-insensitively in practice). */
static const char *find_ci(const char *s, size_t slen, const char *needle, size_t nlen)
{
	if (nlen == 0 || nlen > slen)
		return NULL;
	for (size_t i = 0; i + nlen <= slen; i++)
		if (strncasecmp(s + i, needle, nlen) == 0)
			return s + i;
	return NULL;
}

struct needles {
	const char *v[2];
	size_t n[2];
};

/* The string with every needle replaced; NULL when nothing matched. */
static char *scrub_string(const char *s, size_t len, const struct needles *nd)
{
	bool hit = false;
	for (int k = 0; k < 2; k++)
		hit |= find_ci(s, len, nd->v[k], nd->n[k]) != NULL;
	if (!hit)
		return NULL;
	size_t cap = len * (sizeof(ERASED)) + 1, o = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		int k = 0;
		for (; k < 2; k++)
			if (nd->n[k] && i + nd->n[k] <= len && strncasecmp(s + i, nd->v[k], nd->n[k]) == 0)
				break;
		if (k < 2) {
			memcpy(out + o, ERASED, sizeof(ERASED) - 1);
			o += sizeof(ERASED) - 1;
			i += nd->n[k];
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return out;
}

/* Scrubs every string inside v (objects and arrays recursively); returns values changed. */
static int scrub_json(json_t *v, const struct needles *nd)
{
	int changed = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *e;
		json_object_foreach(v, k, e) {
			char *r = json_is_string(e) ? scrub_string(json_string_value(e),
								   json_string_length(e), nd) : NULL;
			if (r) {
				json_object_set_new(v, k, json_string(r));
				free(r);
				changed++;
			} else {
				changed += scrub_json(e, nd);
			}
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			char *r = json_is_string(e) ? scrub_string(json_string_value(e),
								   json_string_length(e), nd) : NULL;
			if (r) {
				json_array_set_new(v, i, json_string(r));
				free(r);
				changed++;
			} else {
				changed += scrub_json(e, nd);
			}
		}
	}
	return changed;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Rewrites dir/name without the needles; returns lines changed (0: file untouched) or -errno. */
static int scrub_file(const char *dir, const char *name, const struct needles *nd)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.erase.tmp", dir, name);
	FILE *in = fopen(path, "re");
	if (!in)
		return -errno;
	int ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *out = ofd >= 0 ? fdopen(ofd, "we") : NULL;
	if (!out) {
		int rc = -errno;
		if (ofd >= 0)
			close(ofd);
		fclose(in);
		return rc;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int changed = 0;
	while ((n = getline(&line, &cap, in)) > 0) {
		bool hit = find_ci(line, (size_t)n, nd->v[0], nd->n[0]) ||
			   find_ci(line, (size_t)n, nd->v[1], nd->n[1]);
		if (!hit) {
			fwrite(line, 1, (size_t)n, out);
			continue;
		}
		changed++;
		json_t *j = json_loadb(line, (size_t)n, 0, NULL);
		if (!j)
			continue; /* unparseable and matching: drop the line */
		scrub_json(j, nd);
		char *s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (s) {
			fputs(s, out);
			fputc('\n', out);
			free(s);
		}
	}
	free(line);
	fclose(in);
	int rc = fflush(out) == 0 && fsync(fileno(out)) == 0 ? 0 : -errno;
	fclose(out);
	if (rc == 0 && changed && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0 || !changed)
		unlink(tmp);
	return rc < 0 ? rc : changed;
}

static bool erasable(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 6 && strcmp(name + n - 6, ".jsonl") == 0 &&
	       (strncmp(name, "acct", 4) == 0 || strncmp(name, "audit", 5) == 0);
}

int ctl_acct_erase(struct ctl_acct *a, const char *address, json_t *report)
{
	char ps[35];
	ctl_acct_pseudonym(a, address, strlen(address), ps);
	struct needles nd = { { address, ps }, { strlen(address), 34 } };
	ctl_acct_poll(a, 0); /* what workers already reported goes through the scrub too */

	json_t *queue = json_object();
	int removed = a->erase_hook ? a->erase_hook(address, queue, a->erase_arg) : -ENOSYS;
	if (removed == -ENOSYS)
		json_object_set_new(queue, "status", json_string("not available in this build"));
	else
		json_object_set_new(queue, "removed", json_integer(removed));
	json_object_set_new(report, "queue", queue);

	DIR *d = opendir(a->dir);
	if (!d)
		return -errno;
	int files = 0, lines = 0, rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!erasable(e->d_name))
			continue;
		int c = scrub_file(a->dir, e->d_name, &nd);
		if (c < 0) {
			log_err("privacy erase failed file=%s/%s err=%s", a->dir, e->d_name, strerror(-c));
			rc = c;
			continue;
		}
		files += c > 0;
		lines += c;
	}
	closedir(d);
	if (files)
		fsync_dir(a->dir);
	/* The writers' descriptors point at the replaced inodes: reopen by name. */
	ctl_acct_reopen(a);
	if (a->audit)
		ctl_audit_reopen(a->audit);
	json_object_set_new(report, "files_rewritten", json_integer(files));
	json_object_set_new(report, "lines_scrubbed", json_integer(lines));
	log_info("privacy erase files=%d lines=%d queue_removed=%d", files, lines, removed);
	return rc;
}

static int cmd_privacy_erase(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			     void *arg)
{
	struct ctl_acct *a = arg;
	const char *addr = json_string_value(json_object_get(rq->args, "address"));
	json_t *report = json_object();
	int rc = ctl_acct_erase(a, addr, report);
	if (rc < 0) {
		snprintf(err, errlen, "erasure incomplete: %s", strerror(-rc));
		json_decref(report);
		return CTL_ERROR;
	}
	*result = report;
	return CTL_OK;
}

int ctl_acct_register_commands(struct ctl_acct *a, struct ctl_server *srv)
{
	return ctl_register(srv, "privacy erase", cmd_privacy_erase, a);
}
