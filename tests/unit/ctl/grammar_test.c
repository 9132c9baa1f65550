/* SPDX-License-Identifier: MIT */
/* grammar_test.c: the admin grammar table, typed arguments, argv matching, server checks. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/grammar.h"

START_TEST(test_every_entry_parses)
{
	size_t n;
	const struct ctl_cmd_def *g = ctl_grammar(&n);
	ck_assert_uint_gt(n, 20);
	for (size_t i = 0; i < n; i++) {
		struct ctl_cmd_shape sh;
		ck_assert_msg(ctl_cmd_shape(&g[i], &sh) == 0, "bad pattern %s", g[i].pattern);
		ck_assert_ptr_eq(ctl_grammar_find(sh.name), &g[i]);
		for (size_t j = 0; j < i; j++) { /* command names are unique */
			struct ctl_cmd_shape o;
			ctl_cmd_shape(&g[j], &o);
			ck_assert_str_ne(o.name, sh.name);
		}
	}
	struct ctl_cmd_def bad[] = { { "queue <id> list", "", 0 }, { "x [<id>] <id>", "", 0 },
				     { "x <nosuchtype>", "", 0 }, { "<id>", "", 0 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ctl_cmd_shape sh;
		ck_assert_int_eq(ctl_cmd_shape(&bad[i], &sh), -EINVAL);
	}
}
END_TEST

static int match(const char *line, json_t **args, char *err)
{
	char buf[256], *argv[16];
	int argc = 0;
	snprintf(buf, sizeof(buf), "%s", line);
	for (char *t = strtok(buf, " "); t && argc < 16; t = strtok(NULL, " "))
		argv[argc++] = t;
	struct ctl_cmd_shape sh;
	*args = NULL;
	return ctl_grammar_match(argc, argv, &sh, args, err, 512);
}

START_TEST(test_match)
{
	json_t *a;
	char err[512];
	ck_assert_int_eq(match("queue list", &a, err), 0);
	ck_assert_uint_eq(json_object_size(a), 0);
	json_decref(a);
	ck_assert_int_eq(match("queue list Example.ORG", &a, err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "destination")), "Example.ORG");
	json_decref(a);
	ck_assert_int_eq(match("suspend [198.18.0.9] 2h", &a, err), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "duration")), 7200);
	json_decref(a);
	ck_assert_int_eq(match("suspend [IPv6:2001:db8::1]", &a, err), 0);
	json_decref(a);
	ck_assert_int_eq(match("privacy erase Bob.Smith+tag@example.org", &a, err), 0);
	json_decref(a);
	ck_assert_int_eq(match("log level verbose", &a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "log level"));
	ck_assert_int_eq(match("suspend example.org 5x", &a, err), -1);
	/* --local is a literal word: the node-local command, not a destination named --local */
	ck_assert_int_eq(match("suspend --local example.org 2h", &a, err), 0);
	json_decref(a);
	ck_assert_int_eq(match("resume --local example.org", &a, err), 0);
	json_decref(a);
	ck_assert_ptr_nonnull(strstr(err, "duration"));
	ck_assert_int_eq(match("queue show ab/cd", &a, err), -1);
	ck_assert_int_eq(match("privacy erase nobody", &a, err), -1);
	ck_assert_int_eq(match("routes set -bad.example mx", &a, err), -1);
	ck_assert_int_eq(match("keys add example.org sel relative/path.pem", &a, err), -1);
	ck_assert_int_eq(match("keys add example.org s1 /etc/dpmail/k.pem", &a, err), 0);
	json_decref(a);
	ck_assert_int_eq(match("frobnicate", &a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown command"));
	ck_assert_int_eq(match("queue show", &a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "missing argument"));
	ck_assert_int_eq(match("status now", &a, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "too many"));
}
END_TEST

START_TEST(test_server_side_check)
{
	struct ctl_cmd_shape sh;
	char err[512];
	json_t *a = json_pack("{s:s,s:i}", "destination", "example.org", "duration", 60);
	ck_assert_int_eq(ctl_grammar_check("suspend", a, &sh, err, sizeof(err)), 0);
	json_decref(a);
	a = json_pack("{s:s}", "destination", "bad domain");
	ck_assert_int_eq(ctl_grammar_check("suspend", a, &sh, err, sizeof(err)), -1);
	json_decref(a);
	a = json_pack("{s:s,s:s}", "destination", "example.org", "duration", "60");
	ck_assert_int_eq(ctl_grammar_check("suspend", a, &sh, err, sizeof(err)), -1);
	json_decref(a);
	a = json_pack("{s:s,s:s}", "destination", "example.org", "extra", "x");
	ck_assert_int_eq(ctl_grammar_check("suspend", a, &sh, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown argument"));
	json_decref(a);
	ck_assert_int_eq(ctl_grammar_check("suspend", NULL, &sh, err, sizeof(err)), -1);
	ck_assert_int_eq(ctl_grammar_check("status", NULL, &sh, err, sizeof(err)), 0);
	a = json_array();
	ck_assert_int_eq(ctl_grammar_check("status", a, &sh, err, sizeof(err)), -1);
	json_decref(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("grammar");
	TCase *tc = tcase_create("grammar");
	tcase_add_test(tc, test_every_entry_parses);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_server_side_check);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
