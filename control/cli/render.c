/* SPDX-License-Identifier: MIT */
/*
 * render.c: dpmailctl's human output. Generic over the JSON a command returns, so a module
 * adding a command gets readable output without CLI code; scripts use --json instead.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Scalars print bare: strings without quotes, null as "-". */
static void scalar(FILE *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), out); break;
	case JSON_INTEGER: fprintf(out, "%lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: fprintf(out, "%g", json_real_value(v)); break;
	case JSON_TRUE: fputs("yes", out); break;
	case JSON_FALSE: fputs("no", out); break;
	case JSON_NULL: fputs("-", out); break;
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		fputs(s ? s : "?", out);
		free(s);
	}
	}
}

static int scalar_width(const json_t *v)
{
	char buf[64];
	switch (json_typeof(v)) {
	case JSON_STRING: return (int)strlen(json_string_value(v));
	case JSON_INTEGER: return snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	case JSON_REAL: return snprintf(buf, sizeof(buf), "%g", json_real_value(v));
	case JSON_TRUE: return 3;
	case JSON_FALSE: return 2;
	case JSON_NULL: return 1;
	default: return 8;
	}
}

static bool all_objects(const json_t *a)
{
	size_t i;
	const json_t *v;
	json_array_foreach(a, i, v)
		if (!json_is_object(v))
			return false;
	return json_array_size(a) > 0;
}

/* An array of objects as a table; columns are the keys of the first row, in its order. */
static void table(FILE *out, const json_t *a, int indent)
{
	const json_t *first = json_array_get(a, 0);
	size_t ncol = json_object_size(first), i, c;
	const char *key;
	const json_t *v, *row;
	int w[64];
	const char *cols[64];
	if (ncol > 64)
		ncol = 64;
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		if (c == ncol)
			break;
		cols[c] = key;
		w[c++] = (int)strlen(key);
	}
	json_array_foreach(a, i, row)
		for (c = 0; c < ncol; c++) {
			const json_t *cell = json_object_get(row, cols[c]);
			int cw = cell ? scalar_width(cell) : 1;
			if (cw > w[c])
				w[c] = cw;
		}
	fprintf(out, "%*s", indent, "");
	for (c = 0; c < ncol; c++)
		fprintf(out, "%-*s%s", c + 1 < ncol ? w[c] : 0, cols[c], c + 1 < ncol ? "  " : "");
	fputc('\n', out);
	json_array_foreach(a, i, row) {
		fprintf(out, "%*s", indent, "");
		for (c = 0; c < ncol; c++) {
			const json_t *cell = json_object_get(row, cols[c]);
			int cw = cell ? scalar_width(cell) : 1;
			if (cell)
				scalar(out, cell);
			else
				fputc('-', out);
			if (c + 1 < ncol)
				fprintf(out, "%*s", w[c] - cw + 2, "");
		}
		fputc('\n', out);
	}
}

static void value(FILE *out, const char *key, const json_t *v, int indent);

static void object(FILE *out, const json_t *o, int indent)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)o, key, v)
		value(out, key, v, indent);
}

static void value(FILE *out, const char *key, const json_t *v, int indent)
{
	if (json_is_object(v)) {
		fprintf(out, "%*s%s:%s\n", indent, "", key, json_object_size(v) ? "" : " -");
		object(out, v, indent + 2);
	} else if (json_is_array(v) && all_objects(v)) {
		fprintf(out, "%*s%s:\n", indent, "", key);
		table(out, v, indent + 2);
	} else if (json_is_array(v)) {
		fprintf(out, "%*s%s: ", indent, "", key);
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e) {
			if (i)
				fputs(", ", out);
			scalar(out, e);
		}
		if (json_array_size(v) == 0)
			fputc('-', out);
		fputc('\n', out);
	} else {
		fprintf(out, "%*s%s: ", indent, "", key);
		scalar(out, v);
		fputc('\n', out);
	}
}

void ctl_cli_render(FILE *out, const json_t *result)
{
	if (json_is_object(result))
		object(out, result, 0);
	else if (json_is_array(result) && all_objects(result))
		table(out, result, 0);
	else if (result && !json_is_null(result)) {
		scalar(out, result);
		fputc('\n', out);
	}
}
