/* SPDX-License-Identifier: MIT */
/* dlv_pool_test.c: source pool selection (tenant > sender domain > default) and site lookup. */
#include <check.h>
#include <string.h>

#include "deliver/dlv_route.h"

static const struct dlv_src a_src[] = { { 0x0200007f, "a.example" } };
static const struct dlv_src b_src[] = { { 0x0300007f, "b.example" } };
static const struct dlv_src c_src[] = { { 0x0400007f, NULL } };
static const char *const a_ten[] = { "tenant-a" };
static const char *const b_snd[] = { "Example.COM", "example.net" };

START_TEST(pool_precedence)
{
	const struct dlv_pool p[] = {
		{ .name = "a", .addrs = a_src, .naddrs = 1, .tenants = a_ten, .ntenants = 1 },
		{ .name = "b", .addrs = b_src, .naddrs = 1, .senders = b_snd, .nsenders = 2 },
		{ .name = "c", .addrs = c_src, .naddrs = 1, .is_default = true },
	};
	ck_assert_ptr_eq(dlv_pool_select(p, 3, "tenant-a", 8, "example.com"), &p[0]);
	ck_assert_ptr_eq(dlv_pool_select(p, 3, "tenant-b", 8, "example.com"), &p[1]);
	ck_assert_ptr_eq(dlv_pool_select(p, 3, "tenant-a", 7, "EXAMPLE.net"), &p[1]); /* "tenant-" */
	ck_assert_ptr_eq(dlv_pool_select(p, 3, "", 0, "other.org"), &p[2]);
	ck_assert_ptr_eq(dlv_pool_select(p, 3, "", 0, NULL), &p[2]);
	ck_assert_ptr_null(dlv_pool_select(p, 2, "x", 1, "other.org"));
	ck_assert_ptr_null(dlv_pool_select(NULL, 0, "x", 1, "other.org"));
}
END_TEST

START_TEST(site_patterns)
{
	static const char *const g[] = { "*.google.test", "aspmx.l.google.test" };
	static const char *const o[] = { "mx.outlook.test" };
	const struct dlv_site s[] = { { "google", g, 2 }, { "outlook", o, 1 } };
	ck_assert_ptr_eq(dlv_site_find(s, 2, "alt1.aspmx.l.GOOGLE.test."), &s[0]);
	ck_assert_ptr_eq(dlv_site_find(s, 2, "mx.outlook.test"), &s[1]);
	ck_assert_ptr_null(dlv_site_find(s, 2, "google.test"));   /* *.x: strict subdomains */
	ck_assert_ptr_null(dlv_site_find(s, 2, "notgoogle.test"));
	ck_assert_ptr_null(dlv_site_find(s, 2, "a.mx.outlook.test"));
	ck_assert_ptr_null(dlv_site_find(s, 2, ""));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_pool");
	TCase *tc = tcase_create("pool");
	tcase_add_test(tc, pool_precedence);
	tcase_add_test(tc, site_patterns);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
