/* SPDX-License-Identifier: MIT */
/* dkim_hdr_test.c: header scanner (end of section, field iteration, folding) and From parser
 * (comments, quoted display names, encoded words, groups, folding, refusals). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "dkim/dkim.h"

static enum dkim_from_status from(const char *v, char *dom)
{
	return dkim_from_domain((const uint8_t *)v, strlen(v), dom, DKIM_DOMAIN_MAX);
}

#define FROM_OK(v, d) do { char dom_[DKIM_DOMAIN_MAX]; \
	ck_assert_int_eq(from(v, dom_), DKIM_FROM_OK); ck_assert_str_eq(dom_, d); } while (0)
#define FROM_IS(v, st) do { char dom_[DKIM_DOMAIN_MAX]; ck_assert_int_eq(from(v, dom_), st); } while (0)

START_TEST(test_from_forms)
{
	FROM_OK(" alice@example.com", "example.com");
	FROM_OK(" Alice <alice@Example.COM>", "example.com");
	FROM_OK(" \"Doe, John\" <john@example.org>", "example.org");
	FROM_OK(" \"A <x@evil.test>\" <a@good.test>", "good.test");
	FROM_OK(" (comment, with @evil.test) a@good.test (trailing)", "good.test");
	FROM_OK(" Alice (nested (x@evil.test)) <alice@(c)example.com(c)>", "example.com");
	FROM_OK(" =?UTF-8?B?w4FsaWNl?= <alice@example.com>", "example.com");
	FROM_OK(" =?utf-8?q?a=40evil.test?= <a@good.test>", "good.test");
	FROM_OK(" \"Alice\r\n Example\" <alice@\r\n example.com>", "example.com");
	FROM_OK(" \"quoted@local\"@example.net", "example.net");
	FROM_OK(" a@example.com.", "example.com");
	FROM_OK(" a@example.com, b@Example.com", "example.com");
	FROM_OK(" team: a@example.com, b@example.com;", "example.com");
	FROM_OK(" <@relay.test:a@example.com>", "example.com");
	FROM_OK(" \"esc \\\" <x@evil.test>\" <a@good.test>", "good.test");
}
END_TEST

START_TEST(test_from_refused)
{
	FROM_IS("", DKIM_FROM_NONE);
	FROM_IS("   ", DKIM_FROM_NONE);
	FROM_IS(" undisclosed-recipients:;", DKIM_FROM_NONE);
	FROM_IS(" a@example.com, b@evil.test", DKIM_FROM_MULTI);
	FROM_IS(" team: a@x.test, b@y.test;", DKIM_FROM_MULTI);
	FROM_IS(" alice", DKIM_FROM_BAD);
	FROM_IS(" <>", DKIM_FROM_BAD);
	FROM_IS(" Alice <alice@example.com", DKIM_FROM_BAD);
	FROM_IS(" \"unterminated <a@b.test>", DKIM_FROM_BAD);
	FROM_IS(" (unterminated a@b.test", DKIM_FROM_BAD);
	FROM_IS(" a@", DKIM_FROM_BAD);
	FROM_IS(" @example.com", DKIM_FROM_BAD);
	FROM_IS(" <a@b.test> <c@d.test>", DKIM_FROM_BAD);
	char small[4];
	ck_assert_int_eq(dkim_from_domain((const uint8_t *)"a@example.com", 13, small, 4),
			 DKIM_FROM_BAD);
}
END_TEST

START_TEST(test_hdr_end_resumable)
{
	const char *msg = "From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n";
	size_t len = strlen(msg), scan = 0, end = 0;
	/* feed growing prefixes: the end is found exactly once the empty line is complete */
	for (size_t n = 1; n <= len && !end; n++) {
		end = dkim_hdr_end((const uint8_t *)msg, n, &scan);
		if (end)
			ck_assert_uint_eq(n, strstr(msg, "\r\n\r\n") - msg + 4);
	}
	ck_assert_uint_eq(end, strstr(msg, "body") - msg);
	scan = 0;
	ck_assert_uint_eq(dkim_hdr_end((const uint8_t *)"\r\nbody", 6, &scan), 2);
	scan = 0;
	ck_assert_uint_eq(dkim_hdr_end((const uint8_t *)"A: b\r\n", 6, &scan), 0);
}
END_TEST

START_TEST(test_hdr_fields_folding)
{
	const char *h = "From: \"A\r\n B\" <a@b.test>\r\nX-F: one\r\n\ttwo\r\nTo : c@d.test\r\n\r\n";
	size_t off = 0, len = strlen(h);
	struct dkim_hdr_field f;
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)h, len, &off, &f), 1);
	ck_assert(dkim_hdr_name_is(&f, "from"));
	ck_assert_uint_eq(f.value_len, strlen(" \"A\r\n B\" <a@b.test>"));
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)h, len, &off, &f), 1);
	ck_assert(dkim_hdr_name_is(&f, "x-f"));
	ck_assert_uint_eq(f.raw_len, strlen("X-F: one\r\n\ttwo"));
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)h, len, &off, &f), 1);
	ck_assert(dkim_hdr_name_is(&f, "to"));	/* obsolete "To :" */
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)h, len, &off, &f), 0);
	off = 0;
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)"no colon\r\n", 10, &off, &f), -EINVAL);
	off = 0;
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)" cont: x\r\n", 10, &off, &f), -EINVAL);
	off = 0;
	ck_assert_int_eq(dkim_hdr_next((const uint8_t *)": x\r\n", 5, &off, &f), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dkim_hdr");
	TCase *tc = tcase_create("hdr");
	tcase_add_test(tc, test_from_forms);
	tcase_add_test(tc, test_from_refused);
	tcase_add_test(tc, test_hdr_end_resumable);
	tcase_add_test(tc, test_hdr_fields_folding);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
