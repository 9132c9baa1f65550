/* SPDX-License-Identifier: MIT */
/* cfg_dump.c: a configuration back to YAML, driven by the parameter table (see cfg_dump.h). */
#include "config/cfg_dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_list.h"

static void value(FILE *f, const struct cfg_param *p, const void *field, int indent)
{
	char ip[INET_ADDRSTRLEN];
	switch (p->type) {
	case CFG_T_BOOL: fprintf(f, " %s\n", *(const bool *)field ? "true" : "false"); break;
	case CFG_T_U32: fprintf(f, " %u\n", *(const uint32_t *)field); break;
	case CFG_T_STR:
		fputc(' ', f);
		cfg_yaml_str(f, *(char *const *)field ? *(char *const *)field : "");
		fputc('\n', f);
		break;
	case CFG_T_STRV: {
		const struct cfg_strv *sv = field;
		fputs(" [", f);
		for (uint32_t i = 0; i < sv->n; i++) {
			fputs(i ? ", " : "", f);
			cfg_yaml_str(f, sv->v[i]);
		}
		fputs("]\n", f);
		break;
	}
	case CFG_T_U32V: {
		const struct cfg_u32v *uv = field;
		fputs(" [", f);
		for (uint32_t i = 0; i < uv->n; i++)
			fprintf(f, "%s%u", i ? ", " : "", uv->v[i]);
		fputs("]\n", f);
		break;
	}
	case CFG_T_IPV4:
		inet_ntop(AF_INET, &((const struct cfg_ip *)field)->u.v4, ip, sizeof(ip));
		fprintf(f, " %s\n", ip);
		break;
	case CFG_T_IPV4_PREFIX: {
		const struct cfg_prefix *pf = field;
		inet_ntop(AF_INET, &pf->ip.u.v4, ip, sizeof(ip));
		fprintf(f, " %s/%u\n", ip, pf->len);
		break;
	}
	case CFG_T_ENUM: fprintf(f, " %s\n", p->names[*(const int *)field]); break;
	case CFG_T_CUSTOM: p->custom->dump(f, field, indent + 2); break;
	}
}

static bool dumpable(const struct cfg_param *p, const void *field)
{
	if (p->type == CFG_T_IPV4)
		return ((const struct cfg_ip *)field)->family != 0; /* unset stays unset */
	if (p->type == CFG_T_CUSTOM)
		return p->custom->dump != NULL;
	return true;
}

int cfg_dump(const struct cfg *c, FILE *f)
{
	fprintf(f, "# dpmaild configuration written by `dpmailctl config write` from %s\n", c->file);
	for (size_t s = 0; s < cfg_n_sections; s++) {
		const struct cfg_section *sec = &cfg_sections[s];
		fprintf(f, "%s:\n", sec->name);
		char group[64] = "";
		for (size_t k = 0; k < sec->n_params; k++) {
			const struct cfg_param *p = &sec->params[k];
			const void *field = (const char *)c + p->off;
			if (!dumpable(p, field))
				continue;
			const char *dot = strchr(p->name, '.');
			int indent = 2;
			if (dot) { /* one level of nesting: "retry.first" under "retry:" */
				if (strncmp(group, p->name, (size_t)(dot - p->name)) != 0 ||
				    group[dot - p->name] != '\0') {
					snprintf(group, sizeof(group), "%.*s", (int)(dot - p->name), p->name);
					fprintf(f, "  %s:\n", group);
				}
				fprintf(f, "    %s:", dot + 1);
				indent = 4;
			} else {
				group[0] = '\0';
				fprintf(f, "  %s:", p->name);
			}
			value(f, p, field, indent);
		}
	}
	return ferror(f) ? -1 : 0;
}

int cfg_dump_file(const struct cfg *c, const char *path)
{
	char tmp[4200], bak[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	int rc = cfg_dump(c, f) == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -EIO;
	fclose(f);
	if (rc == 0 && access(path, F_OK) == 0 && (unlink(bak), link(path, bak) < 0))
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}
