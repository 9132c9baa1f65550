/* SPDX-License-Identifier: MIT */
/* cfg_doc_test.c: the committed docs/configuration.md is exactly what the parameter table
 * generates (regenerate with: build/dpmaild --dump-config-doc > docs/configuration.md). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"

static char *slurp(FILE *f, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	do {
		if (n + 4096 > cap)
			buf = realloc(buf, cap = cap * 2 + 8192);
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	*len = n;
	return buf;
}

START_TEST(test_doc_fresh)
{
	FILE *committed = fopen("docs/configuration.md", "rb");
	ck_assert_msg(committed != NULL, "docs/configuration.md missing (run from the repository root)");
	size_t clen, glen;
	char *c = slurp(committed, &clen);
	fclose(committed);
	char *g = NULL;
	size_t gsz = 0;
	FILE *gen = open_memstream(&g, &gsz);
	ck_assert_int_eq(cfg_doc_write(gen), 0);
	fclose(gen);
	glen = gsz;
	ck_assert_msg(clen == glen && memcmp(c, g, clen) == 0,
		      "docs/configuration.md is stale: run build/dpmaild --dump-config-doc > docs/configuration.md");
	free(c);
	free(g);
}
END_TEST

START_TEST(test_doc_lists_every_key)
{
	char *g = NULL;
	size_t gsz = 0;
	FILE *gen = open_memstream(&g, &gsz);
	cfg_doc_write(gen);
	fclose(gen);
	for (size_t s = 0; s < cfg_n_sections; s++)
		for (size_t k = 0; k < cfg_sections[s].n_params; k++) {
			char key[200];
			snprintf(key, sizeof(key), "| `%s.%s` |", cfg_sections[s].name, cfg_sections[s].params[k].name);
			ck_assert_msg(strstr(g, key) != NULL, "%s not documented", key);
		}
	free(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cfg_doc");
	TCase *tc = tcase_create("doc");
	tcase_add_test(tc, test_doc_fresh);
	tcase_add_test(tc, test_doc_lists_every_key);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
