/* SPDX-License-Identifier: MIT */
/*
 * cfg_param-t.h: the parameter table's types. A section is a top-level YAML key holding a
 * mapping; its parameters are keys below it (a dotted name nests further: "tls.cert" under
 * section "smtp" is smtp: {tls: {cert: ...}}). Each parameter names a field of struct cfg by
 * offset and gives its type, default (as YAML text, parsed by the same code as the file),
 * range and description. See docs/configuration.md for how to add a section.
 */
#ifndef DPMAIL_CFG_PARAM_T_H
#define DPMAIL_CFG_PARAM_T_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

struct cfg;

enum cfg_type {
	CFG_T_BOOL,               /* bool */
	CFG_T_U32,                /* uint32_t in [min, max] */
	CFG_T_STR,                /* char * (malloc), length <= max when max > 0 */
	CFG_T_STRV,               /* struct cfg_strv: sequence of strings */
	CFG_T_U32V,               /* struct cfg_u32v: sequence of integers, each in [min, max] */
	CFG_T_IPV4,               /* struct cfg_ip */
	CFG_T_IPV4_PREFIX,        /* struct cfg_prefix: "a.b.c.d/len" */
	CFG_T_ENUM,               /* int: index into names[] */
	CFG_T_CUSTOM,             /* parsed and freed by custom->parse / custom->free */
};

/*
 * A custom type: parse the YAML node into field (return 0, or -1 with a reason written to
 * why, without file/line/key: the loader adds them); free what parse allocated.
 */
struct cfg_custom {
	const char *type_name;    /* for the docs */
	int (*parse)(yaml_document_t *doc, yaml_node_t *node, void *field, char *why, size_t whylen);
	void (*free)(void *field);
	/* Writes the value as YAML at indent (block style, for `dpmailctl config write`);
	 * NULL: the parameter is not written back. */
	void (*dump)(FILE *f, const void *field, int indent);
};

#define CFG_F_REQUIRED 0x1u       /* no default: the file must set it */

struct cfg_param {
	const char *name;         /* key below the section, dotted to nest */
	enum cfg_type type;
	const char *def;          /* default as YAML text; NULL: unset (or required) */
	int64_t min, max;
	size_t off;               /* offsetof(struct cfg, ...) */
	unsigned flags;
	const char *const *names; /* CFG_T_ENUM: NULL-terminated value names */
	const struct cfg_custom *custom;
	const char *desc;
};

struct cfg_section {
	const char *name;
	const char *desc;
	const struct cfg_param *params;
	size_t n_params;
	/* Cross-field checks after loading; return 0 or -1 with err set (use cfg_errf). */
	int (*validate)(const struct cfg *c, char *err, size_t errlen);
};

#endif
