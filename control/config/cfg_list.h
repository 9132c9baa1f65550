/* SPDX-License-Identifier: MIT */
/*
 * cfg_list.h: lists of small mappings in the configuration (listeners, users, routes,
 * policies...), each item's keys declared in a table like the sections' parameters. Used by
 * CFG_T_CUSTOM parameters: parse checks every item completely (unknown, duplicate, missing
 * and out-of-range keys) and reports "item N (line L): key 'k': reason".
 */
#ifndef DPMAIL_CFG_LIST_H
#define DPMAIL_CFG_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

#include "config/cfg-t.h"

enum cfg_item_type { CFG_I_STR, CFG_I_U32, CFG_I_BOOL, CFG_I_ENUM, CFG_I_STRV, CFG_I_IPV4,
		     CFG_I_PREFIX /* struct cfg_prefix, "a.b.c.d/len" */ };

struct cfg_item_key {
	const char *name;
	enum cfg_item_type type;
	size_t off;                    /* in the item struct */
	int64_t min, max;              /* U32 range; STR/STRV: max length when > 0 */
	bool required;
	const char *def;               /* default as text (STR, U32, BOOL, ENUM); NULL: zero */
	const char *const *names;      /* ENUM: NULL-terminated */
};

struct cfg_list_desc {
	const char *what;              /* "listener", "user" */
	size_t item_size;
	const struct cfg_item_key *keys;
	size_t nkeys;
	/* Checks one parsed item; returns 0 or -1 with a reason in why. NULL: none. */
	int (*check)(const void *item, char *why, size_t whylen);
};

/* Parses a YAML sequence of mappings into *out (replacing it). 0, or -1 with why set. */
int cfg_list_parse(const struct cfg_list_desc *d, yaml_document_t *doc, yaml_node_t *node,
		   struct cfg_list *out, char *why, size_t whylen);
void cfg_list_free(const struct cfg_list_desc *d, struct cfg_list *l);

/* Appends a zeroed item (defaults not applied); NULL on ENOMEM. */
void *cfg_list_append(const struct cfg_list_desc *d, struct cfg_list *l);
/* Frees item i and closes the gap. */
void cfg_list_remove(const struct cfg_list_desc *d, struct cfg_list *l, uint32_t i);
/* Writes l as a YAML block sequence of flow mappings at indent. */
void cfg_list_dump(const struct cfg_list_desc *d, const struct cfg_list *l, FILE *f, int indent);
/* Writes s as a YAML double-quoted scalar. */
void cfg_yaml_str(FILE *f, const char *s);

/* The i-th item of l (cast to the item struct). */
static inline void *cfg_list_at(const struct cfg_list_desc *d, const struct cfg_list *l, uint32_t i)
{
	return (char *)l->v + (size_t)i * d->item_size;
}

#endif
