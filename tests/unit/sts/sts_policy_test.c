/* SPDX-License-Identifier: MIT */
/*
 * sts_policy_test.c: the MTA-STS policy and TXT parsers (RFC 8461 3.1, 3.2) on valid,
 * borderline and hostile input; each input is also parsed from a copy placed right before a
 * guard page (mprotect PROT_NONE) so a read past len faults under any build.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sts/sts_policy.h"

/* Copies s (len bytes) so that it ends exactly at a PROT_NONE page. */
static const char *guarded(const char *s, size_t len)
{
	static char *area;
	static size_t pg;
	if (!area) {
		pg = (size_t)sysconf(_SC_PAGESIZE);
		area = mmap(NULL, pg * 18, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(area, MAP_FAILED);
		ck_assert_int_eq(mprotect(area + pg * 17, pg, PROT_NONE), 0);
	}
	ck_assert_uint_le(len, pg * 17);
	char *dst = area + pg * 17 - len;
	memcpy(dst, s, len);
	return dst;
}

static int parse(const char *s, struct sts_policy *p, const char **why)
{
	return sts_policy_parse(guarded(s, strlen(s)), strlen(s), p, why);
}

START_TEST(policy_valid)
{
	struct sts_policy p;
	const char *why = NULL;
	ck_assert_int_eq(parse("version: STSv1\r\nmode: enforce\r\nmx: mail.Example.com\r\n"
			       "mx: *.example.net\r\nmax_age: 604800\r\n", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_MODE_ENFORCE);
	ck_assert_uint_eq(p.max_age, 604800);
	ck_assert_uint_eq(p.n_mx, 2);
	ck_assert_str_eq(p.mx[0], "mail.example.com");
	ck_assert_str_eq(p.mx[1], "*.example.net");
	/* LF only, no final terminator, whitespace around values, an extension field */
	ck_assert_int_eq(parse("version:STSv1\nmode:\ttesting  \nfoo_bar: x=1\nmx: a.b\nmax_age: 0", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_MODE_TESTING);
	ck_assert_uint_eq(p.max_age, 0);
	/* none needs no mx */
	ck_assert_int_eq(parse("version: STSv1\nmode: none\nmax_age: 31557600\n", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_MODE_NONE);
	ck_assert_uint_eq(p.max_age, STS_MAX_AGE_MAX);
}
END_TEST

START_TEST(policy_invalid)
{
	static const char *const bad[] = {
		"",
		"mode: enforce\nversion: STSv1\nmx: a.b\nmax_age: 1\n",          /* version not first */
		"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: Enforce\nmx: a.b\nmax_age: 1\n",          /* case-sensitive */
		"version: STSv1\nmode: enforce\nmx: a.b\n",                      /* no max_age */
		"version: STSv1\nmx: a.b\nmax_age: 1\n",                         /* no mode */
		"version: STSv1\nmode: enforce\nmax_age: 1\n",                   /* no mx */
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 99999999999\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nmax_age: 2\n",
		"version: STSv1\nmode: enforce\nmode: testing\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nversion: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b-\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1\n",
		"version: STSv1\rmode: enforce\nmx: a.b\nmax_age: 1\n",          /* bare CR */
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nbad field: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nx: \x01\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\nx: \xc3\xa9\n",
		": v\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sts_policy p;
		const char *why = NULL;
		ck_assert_msg(parse(bad[i], &p, &why) == -EINVAL, "accepted #%zu", i);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(policy_limits)
{
	char buf[STS_POLICY_BYTES + 64];
	struct sts_policy p;
	const char *why;
	int n = snprintf(buf, sizeof(buf), "version: STSv1\nmode: enforce\nmax_age: 86400\n");
	for (int i = 0; i < STS_MX_MAX; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "mx: mx%d.example.com\n", i);
	ck_assert_int_eq(parse(buf, &p, &why), 0);
	ck_assert_uint_eq(p.n_mx, STS_MX_MAX);
	snprintf(buf + n, sizeof(buf) - (size_t)n, "mx: one-too-many.example.com\n");
	ck_assert_int_eq(parse(buf, &p, &why), -EINVAL);
	/* 64 KiB of padding in an extension field is fine; one byte more is not */
	n = snprintf(buf, sizeof(buf), "version: STSv1\nmode: none\nmax_age: 1\nx: ");
	memset(buf + n, 'a', STS_POLICY_BYTES - (size_t)n);
	ck_assert_int_eq(sts_policy_parse(guarded(buf, STS_POLICY_BYTES), STS_POLICY_BYTES, &p, &why), 0);
	buf[STS_POLICY_BYTES] = 'a';
	ck_assert_int_eq(sts_policy_parse(guarded(buf, STS_POLICY_BYTES + 1), STS_POLICY_BYTES + 1, &p, &why), -EINVAL);
	/* labels: 63 ok, 64 not; 253 in all */
	char lab[80];
	memset(lab, 'a', 64);
	ck_assert(!sts_pattern_ok(lab, 64));
	ck_assert(sts_pattern_ok(lab, 63));
	char longname[260];
	for (int i = 0; i < 254; i++)
		longname[i] = i % 2 ? '.' : 'a';
	ck_assert(sts_pattern_ok(longname, 253));
	ck_assert(!sts_pattern_ok(longname, 254) || longname[253] == '.');
}
END_TEST

static int txt(const char *s, char *id)
{
	return sts_txt_parse(guarded(s, strlen(s)), strlen(s), id);
}

START_TEST(txt_records)
{
	char id[STS_ID_MAX + 1];
	ck_assert_int_eq(txt("v=STSv1; id=20160831085700Z;", id), 1);
	ck_assert_str_eq(id, "20160831085700Z");
	ck_assert_int_eq(txt("v=STSv1;id=abc", id), 1);
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(txt("v=STSv1; ext=foo; id=A1 ", id), 1);
	ck_assert_str_eq(id, "A1");
	ck_assert_int_eq(txt("v=spf1 -all", id), 0);
	ck_assert_int_eq(txt("v=STSv10; id=1", id), 0);
	ck_assert_int_eq(txt("", id), 0);
	ck_assert_int_eq(txt("v=STSv1", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; ext=1", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; id=", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; id=a-b", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; id=1; id=2", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; id=123456789012345678901234567890123", id), -EINVAL);
	ck_assert_int_eq(txt("v=STSv1; id=12345678901234567890123456789012", id), 1);
	ck_assert_int_eq(txt("v=STSv1 id=1", id), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sts_policy");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, policy_valid);
	tcase_add_test(tc, policy_invalid);
	tcase_add_test(tc, policy_limits);
	tcase_add_test(tc, txt_records);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
