/* SPDX-License-Identifier: MIT */
/* sts_store.c: the persisted MTA-STS cache (see sts_store.h). */
#include "sts/sts_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sts/sts_policy.h"

int sts_store_parse_line(char *buf, struct sts_store_rec *r, struct sts_policy *p)
{
	char *save = NULL, *f[6];
	for (int i = 0; i < 6; i++)
		if (!(f[i] = strtok_r(i ? NULL : buf, " \t\r", &save)))
			return -EINVAL;
	if (strtok_r(NULL, " \t\r", &save))
		return -EINVAL;
	char *end;
	memset(p, 0, sizeof(*p));
	r->domain = f[0];
	r->id = f[1];
	r->fetched_wall_s = strtoull(f[2], &end, 10);
	if (*end || !sts_pattern_ok(f[0], strlen(f[0])) || f[0][0] == '*')
		return -EINVAL;
	size_t idlen = strlen(f[1]);
	if (idlen == 0 || idlen > STS_ID_MAX)
		return -EINVAL;
	for (size_t i = 0; i < idlen; i++)
		if (!((f[1][i] >= '0' && f[1][i] <= '9') || ((f[1][i] | 32) >= 'a' && (f[1][i] | 32) <= 'z')))
			return -EINVAL;
	int m = sts_mode_parse(f[3]);
	unsigned long age = strtoul(f[4], &end, 10);
	if (m < 0 || *end || age > STS_MAX_AGE_MAX)
		return -EINVAL;
	p->mode = (enum sts_mode)m;
	p->max_age = (uint32_t)age;
	size_t ml = strlen(f[5]);
	if (strstr(f[5], ",,") || f[5][0] == ',' || f[5][ml - 1] == ',')
		return -EINVAL;   /* never written so: a damaged line */
	if (strcmp(f[5], "-") != 0) {
		char *s2 = NULL;
		for (char *t = strtok_r(f[5], ",", &s2); t; t = strtok_r(NULL, ",", &s2)) {
			size_t n = strlen(t);
			if (p->n_mx == STS_MX_MAX || !sts_pattern_ok(t, n))
				return -EINVAL;
			memcpy(p->mx[p->n_mx++], t, n + 1);
		}
	}
	if (p->mode != STS_MODE_NONE && p->n_mx == 0)
		return -EINVAL;
	r->policy = p;
	return 0;
}

static int write_rec(FILE *fp, const struct sts_store_rec *r)
{
	const struct sts_policy *p = r->policy;
	fprintf(fp, "%s %s %llu %s %u ", r->domain, r->id, (unsigned long long)r->fetched_wall_s,
		sts_mode_str(p->mode), p->max_age);
	for (unsigned i = 0; i < p->n_mx; i++)
		fprintf(fp, "%s%s", i ? "," : "", p->mx[i]);
	return fprintf(fp, "%s\n", p->n_mx ? "" : "-");
}

int sts_store_save(const char *path, sts_store_next_fn *next, void *arg)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fp) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		log_warn("sts event=cache_save_failed file=%s error=\"%s\"", tmp, strerror(-e));
		return e;
	}
	fprintf(fp, "# dpmail MTA-STS policy cache v1: domain id fetched mode max_age mx\n");
	struct sts_store_rec r;
	while (next(arg, &r) > 0)
		write_rec(fp, &r);
	int rc = fflush(fp) == 0 && fsync(fd) == 0 ? 0 : -errno;
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		log_warn("sts event=cache_save_failed file=%s error=\"%s\"", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

int sts_store_load(const char *path, sts_store_add_fn *add, void *arg, unsigned *n)
{
	*n = 0;
	FILE *fp = fopen(path, "re");
	if (!fp)
		return errno == ENOENT ? 0 : -errno;
	char line[STS_MX_MAX * (STS_HOST_MAX + 1) + 512];
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), fp)) {
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		struct sts_store_rec r;
		struct sts_policy p;
		if (sts_store_parse_line(line, &r, &p) < 0) {
			log_warn("sts event=cache_line_skipped file=%s line=%u", path, lineno);
			continue;
		}
		add(arg, &r);
		(*n)++;
	}
	fclose(fp);
	return 0;
}
