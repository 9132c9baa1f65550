/* SPDX-License-Identifier: MIT */
/* cfg_list.c: table-driven parsing of lists of mappings (see cfg_list.h). */
#include "config/cfg_list.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *text(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int why_at(char *why, size_t whylen, unsigned item, unsigned line, const char *key,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int why_at(char *why, size_t whylen, unsigned item, unsigned line, const char *key,
		  const char *fmt, ...)
{
	char r[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r, sizeof(r), fmt, ap);
	va_end(ap);
	snprintf(why, whylen, "item %u (line %u)%s%s%s: %s", item, line, key ? ": key '" : "",
		 key ? key : "", key ? "'" : "", r);
	return -1;
}

/* One scalar value s into field; returns NULL or a reason. */
static const char *scalar_value(const struct cfg_item_key *k, const char *s, void *field,
				char *buf, size_t buflen)
{
	switch (k->type) {
	case CFG_I_STR:
		if (k->max > 0 && (int64_t)strlen(s) > k->max)
			return snprintf(buf, buflen, "longer than %lld characters", (long long)k->max), buf;
		free(*(char **)field);
		return (*(char **)field = strdup(s)) ? NULL : "out of memory";
	case CFG_I_U32: {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return snprintf(buf, buflen, "expected an integer, got '%s'", s), buf;
		if (v < k->min || v > k->max)
			return snprintf(buf, buflen, "%lld out of range [%lld, %lld]", v,
					(long long)k->min, (long long)k->max), buf;
		*(uint32_t *)field = (uint32_t)v;
		return NULL;
	}
	case CFG_I_BOOL:
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
			return *(bool *)field = true, NULL;
		if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
			return *(bool *)field = false, NULL;
		return snprintf(buf, buflen, "expected true or false, got '%s'", s), buf;
	case CFG_I_ENUM:
		for (int i = 0; k->names[i]; i++)
			if (strcmp(s, k->names[i]) == 0)
				return *(int *)field = i, NULL;
		return snprintf(buf, buflen, "unknown value '%s'", s), buf;
	case CFG_I_IPV4: {
		struct cfg_ip *ip = field;
		if (inet_pton(AF_INET, s, &ip->u.v4) != 1)
			return snprintf(buf, buflen, "bad IPv4 address '%s'", s), buf;
		ip->family = AF_INET;
		return NULL;
	}
	case CFG_I_PREFIX: {
		struct cfg_prefix *pf = field;
		char ip[32], *end;
		const char *slash = strchr(s, '/');
		long len = slash ? strtol(slash + 1, &end, 10) : -1;
		if (!slash || (size_t)(slash - s) >= sizeof(ip) || *end || slash[1] == '\0' || len < 0 ||
		    len > 32)
			return snprintf(buf, buflen, "bad IPv4 prefix '%s' (expected a.b.c.d/len)", s), buf;
		memcpy(ip, s, (size_t)(slash - s));
		ip[slash - s] = '\0';
		if (inet_pton(AF_INET, ip, &pf->ip.u.v4) != 1)
			return snprintf(buf, buflen, "bad IPv4 prefix '%s' (expected a.b.c.d/len)", s), buf;
		pf->ip.family = AF_INET;
		pf->len = (uint8_t)len;
		return NULL;
	}
	default:
		return "internal: bad item type";
	}
}

static const char *strv_value(yaml_document_t *doc, yaml_node_t *n, struct cfg_strv *sv,
			      char *buf, size_t buflen)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return "expected a list (e.g. [a, b])";
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	sv->v = calloc(cnt ? cnt : 1, sizeof(char *));
	if (!sv->v)
		return "out of memory";
	for (size_t i = 0; i < cnt; i++) {
		const char *s = text(yaml_document_get_node(doc, n->data.sequence.items.start[i]));
		if (!s || !*s)
			return snprintf(buf, buflen, "list item %zu: expected a string", i + 1), buf;
		if (!(sv->v[i] = strdup(s)))
			return "out of memory";
		sv->n++;
	}
	return NULL;
}

static void item_free(const struct cfg_list_desc *d, void *item)
{
	for (size_t k = 0; k < d->nkeys; k++) {
		void *f = (char *)item + d->keys[k].off;
		if (d->keys[k].type == CFG_I_STR) {
			free(*(char **)f);
		} else if (d->keys[k].type == CFG_I_STRV) {
			struct cfg_strv *sv = f;
			for (uint32_t i = 0; i < sv->n; i++)
				free(sv->v[i]);
			free(sv->v);
		}
	}
}

/* Fills one item from its mapping node; defaults first, then the keys given. */
static int item_parse(const struct cfg_list_desc *d, yaml_document_t *doc, yaml_node_t *m,
		      void *item, unsigned idx, char *why, size_t whylen)
{
	unsigned line = (unsigned)m->start_mark.line + 1;
	char buf[200];
	if (m->type != YAML_MAPPING_NODE)
		return why_at(why, whylen, idx, line, NULL, "expected a mapping of %s keys", d->what);
	bool seen[32] = { false };
	for (size_t k = 0; k < d->nkeys; k++) {
		const struct cfg_item_key *ik = &d->keys[k];
		const char *r = ik->def ? scalar_value(ik, ik->def, (char *)item + ik->off, buf, sizeof(buf)) : NULL;
		if (r)
			return why_at(why, whylen, idx, line, ik->name, "internal: bad default: %s", r);
	}
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(doc, p->value);
		const char *key = text(kn);
		unsigned vline = (unsigned)vn->start_mark.line + 1;
		size_t k = 0;
		while (key && k < d->nkeys && strcmp(d->keys[k].name, key) != 0)
			k++;
		if (!key || k == d->nkeys)
			return why_at(why, whylen, idx, vline, key ? key : "?", "unknown key for a %s", d->what);
		if (seen[k])
			return why_at(why, whylen, idx, vline, key, "given twice");
		seen[k] = true;
		void *f = (char *)item + d->keys[k].off;
		const char *r;
		if (d->keys[k].type == CFG_I_STRV) {
			item_free(&(struct cfg_list_desc){ .keys = &d->keys[k], .nkeys = 1 }, item);
			memset(f, 0, sizeof(struct cfg_strv));
			r = strv_value(doc, vn, f, buf, sizeof(buf));
		} else if (!text(vn) || (!*text(vn) && vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
			r = "expected a single value"; /* "key:" with nothing; a quoted "" is a value */
		} else {
			r = scalar_value(&d->keys[k], text(vn), f, buf, sizeof(buf));
		}
		if (r)
			return why_at(why, whylen, idx, vline, key, "%s", r);
	}
	for (size_t k = 0; k < d->nkeys; k++)
		if (d->keys[k].required && !seen[k])
			return why_at(why, whylen, idx, line, d->keys[k].name, "missing (required)");
	if (d->check && d->check(item, buf, sizeof(buf)) < 0)
		return why_at(why, whylen, idx, line, NULL, "%s", buf);
	return 0;
}

int cfg_list_parse(const struct cfg_list_desc *d, yaml_document_t *doc, yaml_node_t *node,
		   struct cfg_list *out, char *why, size_t whylen)
{
	cfg_list_free(d, out);
	if (node->type != YAML_SEQUENCE_NODE) {
		snprintf(why, whylen, "expected a list of %s mappings", d->what);
		return -1;
	}
	size_t cnt = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	out->v = calloc(cnt ? cnt : 1, d->item_size);
	if (!out->v) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *m = yaml_document_get_node(doc, node->data.sequence.items.start[i]);
		out->n++; /* counted before parsing so a failed item is freed with the list */
		if (item_parse(d, doc, m, cfg_list_at(d, out, (uint32_t)i), (unsigned)i + 1, why, whylen) < 0)
			return -1;
	}
	return 0;
}

void cfg_list_free(const struct cfg_list_desc *d, struct cfg_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		item_free(d, cfg_list_at(d, l, i));
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void *cfg_list_append(const struct cfg_list_desc *d, struct cfg_list *l)
{
	void *v = realloc(l->v, (size_t)(l->n + 1) * d->item_size);
	if (!v)
		return NULL;
	l->v = v;
	void *item = cfg_list_at(d, l, l->n++);
	memset(item, 0, d->item_size);
	return item;
}

void cfg_list_remove(const struct cfg_list_desc *d, struct cfg_list *l, uint32_t i)
{
	item_free(d, cfg_list_at(d, l, i));
	memmove(cfg_list_at(d, l, i), cfg_list_at(d, l, i + 1), (size_t)(l->n - i - 1) * d->item_size);
	l->n--;
}

void cfg_yaml_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void item_dump(const struct cfg_item_key *k, const void *field, FILE *f)
{
	switch (k->type) {
	case CFG_I_STR: cfg_yaml_str(f, *(char *const *)field ? *(char *const *)field : ""); break;
	case CFG_I_U32: fprintf(f, "%u", *(const uint32_t *)field); break;
	case CFG_I_BOOL: fputs(*(const bool *)field ? "true" : "false", f); break;
	case CFG_I_ENUM: fputs(k->names[*(const int *)field], f); break;
	case CFG_I_IPV4: {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((const struct cfg_ip *)field)->u.v4, ip, sizeof(ip));
		fputs(ip, f);
		break;
	}
	case CFG_I_PREFIX: {
		char ip[INET_ADDRSTRLEN];
		const struct cfg_prefix *pf = field;
		inet_ntop(AF_INET, &pf->ip.u.v4, ip, sizeof(ip));
		fprintf(f, "%s/%u", ip, pf->len);
		break;
	}
	case CFG_I_STRV: {
		const struct cfg_strv *sv = field;
		fputc('[', f);
		for (uint32_t i = 0; i < sv->n; i++) {
			if (i)
				fputs(", ", f);
			cfg_yaml_str(f, sv->v[i]);
		}
		fputc(']', f);
		break;
	}
	}
}

void cfg_list_dump(const struct cfg_list_desc *d, const struct cfg_list *l, FILE *f, int indent)
{
	if (l->n == 0) {
		fputs(" []\n", f);
		return;
	}
	fputc('\n', f);
	for (uint32_t i = 0; i < l->n; i++) {
		const char *item = cfg_list_at(d, l, i);
		fprintf(f, "%*s- {", indent, "");
		int shown = 0;
		for (size_t k = 0; k < d->nkeys; k++) {
			const void *field = item + d->keys[k].off;
			if (d->keys[k].type == CFG_I_IPV4 && !((const struct cfg_ip *)field)->family)
				continue; /* unset address: the default applies */
			fprintf(f, "%s%s: ", shown++ ? ", " : " ", d->keys[k].name);
			item_dump(&d->keys[k], field, f);
		}
		fputs(" }\n", f);
	}
}
