/* SPDX-License-Identifier: MIT */
/*
 * cfg_load.c: the table-driven YAML loader. libyaml's document API gives a node tree with the
 * position of every node; the loader walks the mappings, maps each key path onto a parameter of
 * the table (cfg_params.c), converts and range-checks the value into struct cfg, applies
 * defaults (written as YAML text in the table and parsed by the same code), checks required
 * keys and runs each section's validator. The first error stops the load.
 */
#include "config/cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define KEY_MAX 128

struct flat {
	char key[KEY_MAX];
	const struct cfg_param *p;
};

struct ld {
	const char *file;
	struct cfg *c;
	char *err;
	size_t errlen;
	size_t n;
	struct flat *flat;
};

static int errat(struct ld *l, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int errat(struct ld *l, unsigned line, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(l->err, l->errlen, "%s:%u: key '%s': %s", l->file, line, key, why);
	else
		snprintf(l->err, l->errlen, "%s: key '%s': %s", l->file, key, why);
	return -1;
}

static size_t n_params(void)
{
	size_t n = 0;
	for (size_t s = 0; s < cfg_n_sections; s++)
		n += cfg_sections[s].n_params;
	return n;
}

static int flatten(struct ld *l)
{
	l->n = n_params();
	l->flat = calloc(l->n ? l->n : 1, sizeof(*l->flat));
	if (!l->flat)
		return -1;
	size_t i = 0;
	for (size_t s = 0; s < cfg_n_sections; s++)
		for (size_t k = 0; k < cfg_sections[s].n_params; k++, i++) {
			snprintf(l->flat[i].key, KEY_MAX, "%s.%s", cfg_sections[s].name,
				 cfg_sections[s].params[k].name);
			l->flat[i].p = &cfg_sections[s].params[k];
		}
	return 0;
}

static int param_index(const char *key)
{
	int i = 0;
	char k[KEY_MAX];
	for (size_t s = 0; s < cfg_n_sections; s++)
		for (size_t p = 0; p < cfg_sections[s].n_params; p++, i++) {
			snprintf(k, sizeof(k), "%s.%s", cfg_sections[s].name, cfg_sections[s].params[p].name);
			if (strcmp(k, key) == 0)
				return i;
		}
	return -1;
}

unsigned cfg_line(const struct cfg *c, const char *key)
{
	int i = param_index(key);
	return i < 0 ? 0 : c->lines[i];
}

int cfg_errf(const struct cfg *c, const char *key, char *err, size_t errlen, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	struct ld l = { .file = c->file, .err = err, .errlen = errlen };
	return errat(&l, cfg_line(c, key), key, "%s", why);
}

/* ---- scalar conversions ------------------------------------------------------------------ */

static const char *scalar(yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_null(yaml_node_t *n)
{
	const char *s = scalar(n);
	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

static int to_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
		return -1;
	*out = strtoull(s, NULL, 10);
	return 0;
}

static int to_int_in(struct ld *l, yaml_node_t *n, const char *key, const struct cfg_param *p,
		     uint32_t *out)
{
	uint64_t v;
	unsigned line = (unsigned)n->start_mark.line + 1;
	if (to_u64(scalar(n), &v) < 0)
		return errat(l, line, key, "expected a non-negative integer, got '%s'",
			     scalar(n) ? scalar(n) : "(not a scalar)");
	if ((int64_t)v < p->min || (int64_t)v > p->max)
		return errat(l, line, key, "%llu out of range [%lld, %lld]", (unsigned long long)v,
			     (long long)p->min, (long long)p->max);
	*out = (uint32_t)v;
	return 0;
}

static int to_bool(const char *s, bool *out)
{
	static const char *const t[] = { "true", "yes", "on" }, *const f[] = { "false", "no", "off" };
	for (int i = 0; s && i < 3; i++) {
		if (strcasecmp(s, t[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, f[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int to_prefix(const char *s, struct cfg_prefix *out)
{
	char buf[INET_ADDRSTRLEN + 4];
	const char *slash = s ? strchr(s, '/') : NULL;
	uint64_t len;
	if (!slash || (size_t)(slash - s) >= INET_ADDRSTRLEN || to_u64(slash + 1, &len) < 0 || len > 32)
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	if (inet_pton(AF_INET, buf, &out->ip.u.v4) != 1)
		return -1;
	out->ip.family = AF_INET;
	out->len = (uint8_t)len;
	return 0;
}

/* ---- one value --------------------------------------------------------------------------- */

static int parse_seq(struct ld *l, yaml_document_t *d, yaml_node_t *n, const char *key,
		     const struct cfg_param *p, void *field)
{
	unsigned line = (unsigned)n->start_mark.line + 1;
	if (n->type != YAML_SEQUENCE_NODE)
		return errat(l, line, key, "expected a list (e.g. [a, b])");
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	struct cfg_strv *sv = field;
	struct cfg_u32v *uv = field;
	void *arr = calloc(cnt ? cnt : 1, p->type == CFG_T_STRV ? sizeof(char *) : sizeof(uint32_t));
	if (!arr)
		return errat(l, line, key, "out of memory");
	if (p->type == CFG_T_STRV)
		sv->v = arr;
	else
		uv->v = arr;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = yaml_document_get_node(d, n->data.sequence.items.start[i]);
		unsigned iline = (unsigned)it->start_mark.line + 1;
		if (p->type == CFG_T_U32V) {
			if (to_int_in(l, it, key, p, &uv->v[i]) < 0)
				return -1;
			uv->n++;
			continue;
		}
		if (!scalar(it) || is_null(it))
			return errat(l, iline, key, "list item %zu: expected a string", i + 1);
		if (!(sv->v[i] = strdup(scalar(it))))
			return errat(l, iline, key, "out of memory");
		sv->n++;
	}
	return 0;
}

static int parse_value(struct ld *l, yaml_document_t *d, yaml_node_t *n, const char *key,
		       const struct cfg_param *p)
{
	void *field = (char *)l->c + p->off;
	unsigned line = (unsigned)n->start_mark.line + 1;
	const char *s = scalar(n);
	if (p->type == CFG_T_STRV || p->type == CFG_T_U32V)
		return parse_seq(l, d, n, key, p, field);
	if (p->type == CFG_T_CUSTOM) {
		char why[256] = "invalid value";
		if (p->custom->parse(d, n, field, why, sizeof(why)) < 0)
			return errat(l, line, key, "%s", why);
		return 0;
	}
	if (!s)
		return errat(l, line, key, "expected a single value, not a list or mapping");
	if (is_null(n))
		return errat(l, line, key, "missing value");
	switch (p->type) {
	case CFG_T_BOOL:
		if (to_bool(s, field) < 0)
			return errat(l, line, key, "expected true or false, got '%s'", s);
		return 0;
	case CFG_T_U32:
		return to_int_in(l, n, key, p, field);
	case CFG_T_STR:
		if (p->max > 0 && (int64_t)strlen(s) > p->max)
			return errat(l, line, key, "longer than %lld characters", (long long)p->max);
		if (!(*(char **)field = strdup(s)))
			return errat(l, line, key, "out of memory");
		return 0;
	case CFG_T_IPV4: {
		struct cfg_ip *ip = field;
		if (inet_pton(AF_INET, s, &ip->u.v4) != 1)
			return errat(l, line, key, "bad IPv4 address '%s'", s);
		ip->family = AF_INET;
		return 0;
	}
	case CFG_T_IPV4_PREFIX: {
		struct cfg_prefix *pf = field;
		if (to_prefix(s, pf) < 0)
			return errat(l, line, key, "bad IPv4 prefix '%s' (expected a.b.c.d/len)", s);
		if (pf->len < p->min || pf->len > p->max)
			return errat(l, line, key, "prefix length %u out of range [%lld, %lld]",
				     pf->len, (long long)p->min, (long long)p->max);
		return 0;
	}
	case CFG_T_ENUM:
		for (int i = 0; p->names[i]; i++)
			if (strcmp(s, p->names[i]) == 0)
				return *(int *)field = i, 0;
		return errat(l, line, key, "unknown value '%s'", s);
	default:
		return errat(l, line, key, "internal: unknown parameter type");
	}
}

/* ---- tree walk ----------------------------------------------------------------------------- */

static int walk(struct ld *l, yaml_document_t *d, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(d, pr->key);
		yaml_node_t *v = yaml_document_get_node(d, pr->value);
		unsigned line = (unsigned)k->start_mark.line + 1;
		char key[KEY_MAX];
		if (!scalar(k))
			return errat(l, line, prefix[0] ? prefix : "(top)", "keys must be plain strings");
		if (snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", scalar(k)) >= KEY_MAX)
			return errat(l, line, scalar(k), "key too long");
		size_t klen = strlen(key);
		bool nested = false;
		size_t i;
		for (i = 0; i < l->n; i++) {
			if (strcmp(l->flat[i].key, key) == 0)
				break;
			if (strncmp(l->flat[i].key, key, klen) == 0 && l->flat[i].key[klen] == '.')
				nested = true;
		}
		if (i < l->n) {
			if (l->c->lines[i])
				return errat(l, line, key, "duplicate key (first set on line %u)", l->c->lines[i]);
			l->c->lines[i] = line;
			if (parse_value(l, d, v, key, l->flat[i].p) < 0)
				return -1;
			continue;
		}
		if (!nested)
			return errat(l, line, key, "unknown key");
		if (is_null(v))
			continue;        /* "section:" with nothing under it: all defaults */
		if (v->type != YAML_MAPPING_NODE)
			return errat(l, line, key, "expected a mapping of keys");
		if (walk(l, d, v, key) < 0)
			return -1;
	}
	return 0;
}

static int yaml_err(struct ld *l, yaml_parser_t *ps)
{
	snprintf(l->err, l->errlen, "%s:%zu: yaml: %s%s%s", l->file, ps->problem_mark.line + 1,
		 ps->problem ? ps->problem : "syntax error", ps->context ? " " : "",
		 ps->context ? ps->context : "");
	return -1;
}

/* Apply parameter i's default (YAML text in the table). */
static int apply_default(struct ld *l, size_t i)
{
	const struct cfg_param *p = l->flat[i].p;
	yaml_parser_t ps;
	yaml_document_t d;
	int rc = -1;
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)p->def, strlen(p->def));
	if (!yaml_parser_load(&ps, &d)) {
		yaml_parser_delete(&ps);
		return errat(l, 0, l->flat[i].key, "internal: bad default '%s'", p->def);
	}
	yaml_node_t *root = yaml_document_get_root_node(&d);
	if (root)
		rc = parse_value(l, &d, root, l->flat[i].key, p);
	else
		rc = errat(l, 0, l->flat[i].key, "internal: empty default");
	yaml_document_delete(&d);
	yaml_parser_delete(&ps);
	return rc;
}

static int finish(struct ld *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->c->lines[i])
			continue;
		if (l->flat[i].p->def) {
			if (apply_default(l, i) < 0)
				return -1;
		} else if (l->flat[i].p->flags & CFG_F_REQUIRED) {
			return errat(l, 0, l->flat[i].key, "missing (required)");
		}
	}
	for (size_t s = 0; s < cfg_n_sections; s++)
		if (cfg_sections[s].validate && cfg_sections[s].validate(l->c, l->err, l->errlen) < 0)
			return -1;
	return 0;
}

static struct cfg *load(const char *name, yaml_parser_t *ps, char *err, size_t errlen)
{
	struct ld l = { .file = name, .err = err, .errlen = errlen };
	yaml_document_t d;
	bool have_doc = false;
	if (!(l.c = calloc(1, sizeof(*l.c))) || flatten(&l) < 0 ||
	    !(l.c->lines = calloc(l.n ? l.n : 1, sizeof(*l.c->lines))) || !(l.c->file = strdup(name))) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto err;
	}
	if (!yaml_parser_load(ps, &d)) {
		yaml_err(&l, ps);
		goto err;
	}
	have_doc = true;
	yaml_node_t *root = yaml_document_get_root_node(&d);
	if (root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			snprintf(err, errlen, "%s:%zu: the top level must be a mapping of sections",
				 name, root->start_mark.line + 1);
			goto err;
		}
		if (walk(&l, &d, root, "") < 0)
			goto err;
	}
	if (finish(&l) < 0)
		goto err;
	yaml_document_delete(&d);
	free(l.flat);
	return l.c;
err:
	if (have_doc)
		yaml_document_delete(&d);
	free(l.flat);
	cfg_free(l.c);
	return NULL;
}

struct cfg *cfg_load_string(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t ps;
	if (!yaml_parser_initialize(&ps)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	struct cfg *c = load(name, &ps, err, errlen);
	yaml_parser_delete(&ps);
	return c;
}

struct cfg *cfg_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	yaml_parser_t ps;
	if (!yaml_parser_initialize(&ps)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	yaml_parser_set_input_file(&ps, f);
	struct cfg *c = load(path, &ps, err, errlen);
	yaml_parser_delete(&ps);
	fclose(f);
	return c;
}

struct cfg *cfg_load_default(char *err, size_t errlen)
{
	return cfg_load_string("<embedded>", cfg_default_yaml, strlen(cfg_default_yaml), err, errlen);
}

static void free_field(const struct cfg_param *p, void *field)
{
	switch (p->type) {
	case CFG_T_STR:
		free(*(char **)field);
		*(char **)field = NULL;
		break;
	case CFG_T_STRV: {
		struct cfg_strv *sv = field;
		for (uint32_t i = 0; i < sv->n; i++)
			free(sv->v[i]);
		free(sv->v);
		sv->v = NULL;
		sv->n = 0;
		break;
	}
	case CFG_T_U32V:
		free(((struct cfg_u32v *)field)->v);
		((struct cfg_u32v *)field)->v = NULL;
		((struct cfg_u32v *)field)->n = 0;
		break;
	case CFG_T_CUSTOM:
		if (p->custom->free)
			p->custom->free(field);
		break;
	default:
		break;
	}
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t s = 0; s < cfg_n_sections; s++)
		for (size_t k = 0; k < cfg_sections[s].n_params; k++)
			free_field(&cfg_sections[s].params[k], (char *)c + cfg_sections[s].params[k].off);
	free(c->lines);
	free(c->file);
	free(c);
}
