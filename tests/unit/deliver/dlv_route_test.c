/* SPDX-License-Identifier: MIT */
/* dlv_route_test.c: static routes, MX ordering, null MX, self MX, rollup keys. */
#include <check.h>
#include <string.h>
#include <strings.h>

#include "deliver/dlv_route.h"

static const char *const smart[] = { "smarthost.test:2525" };
static const char *const sub[] = { "sub-relay.test" };
static const char *const all[] = { "[198.18.0.9]:25" };
static const char *const exact[] = { "exact.test" };

START_TEST(route_precedence)
{
	struct dlv_route r[] = {
		{ .domain = "*", .hosts = all, .nhosts = 1 },
		{ .domain = ".example.com", .hosts = sub, .nhosts = 1 },
		{ .domain = "Example.COM", .hosts = exact, .nhosts = 1 },
		{ .domain = ".b.example.com", .hosts = smart, .nhosts = 1 },
	};
	ck_assert_ptr_eq(dlv_route_find(r, 4, "example.com"), &r[2]);
	ck_assert_ptr_eq(dlv_route_find(r, 4, "a.example.com"), &r[1]);
	ck_assert_ptr_eq(dlv_route_find(r, 4, "x.b.example.com"), &r[3]);
	ck_assert_ptr_eq(dlv_route_find(r, 4, "b.example.com"), &r[1]);
	ck_assert_ptr_eq(dlv_route_find(r, 4, "other.org"), &r[0]);
	ck_assert_ptr_eq(dlv_route_find(r, 4, "notexample.com"), &r[0]);
	ck_assert_ptr_null(dlv_route_find(r + 1, 3, "other.org"));
}
END_TEST

START_TEST(mx_sorted_and_shuffled)
{
	struct dlv_mx_rr rr[] = { { 20, "c.mx" }, { 10, "a.mx" }, { 10, "b.mx" }, { 30, "d.mx" }, { 10, "A.MX." } };
	int first_a = 0, first_b = 0;
	for (uint32_t seed = 1; seed < 200; seed++) {
		struct dlv_hops h;
		dlv_mx_order(rr, 5, NULL, 0, seed * 2654435761u, &h);
		ck_assert_int_eq(h.verdict, DLV_MX_OK);
		ck_assert_uint_eq(h.n, 4);  /* A.MX. is a duplicate of a.mx */
		ck_assert_uint_eq(h.pref[0], 10);
		ck_assert_uint_eq(h.pref[1], 10);
		ck_assert_str_eq(h.host[2], "c.mx");
		ck_assert_str_eq(h.host[3], "d.mx");
		first_a += strcasecmp(h.host[0], "a.mx") == 0;
		first_b += strcmp(h.host[0], "b.mx") == 0;
	}
	/* Equal preferences are really randomised. */
	ck_assert_int_gt(first_a, 40);
	ck_assert_int_gt(first_b, 40);
}
END_TEST

START_TEST(mx_null_and_none)
{
	struct dlv_hops h;
	struct dlv_mx_rr null_mx[] = { { 0, "." } };
	dlv_mx_order(null_mx, 1, NULL, 0, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_NULL);
	struct dlv_mx_rr empty_host[] = { { 0, "" } };
	dlv_mx_order(empty_host, 1, NULL, 0, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_NULL);
	dlv_mx_order(NULL, 0, NULL, 0, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_NONE);
	/* "." next to real records is not a null MX: it is ignored. */
	struct dlv_mx_rr mixed[] = { { 0, "." }, { 10, "mx.test" } };
	dlv_mx_order(mixed, 2, NULL, 0, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_OK);
	ck_assert_uint_eq(h.n, 1);
}
END_TEST

START_TEST(mx_self)
{
	const char *self[] = { "relay.us.test" };
	struct dlv_hops h;
	struct dlv_mx_rr best_is_us[] = { { 10, "relay.us.test." }, { 20, "backup.test" } };
	dlv_mx_order(best_is_us, 2, self, 1, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_SELF);
	struct dlv_mx_rr we_are_backup[] = { { 10, "primary.test" }, { 20, "RELAY.us.test" }, { 30, "third.test" } };
	dlv_mx_order(we_are_backup, 3, self, 1, 1, &h);
	ck_assert_int_eq(h.verdict, DLV_MX_OK);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_str_eq(h.host[0], "primary.test");
}
END_TEST

START_TEST(rollup)
{
	struct dlv_mx_rr a[] = { { 5, "MX2.Provider.test." }, { 5, "mx1.provider.test" }, { 10, "backup.test" } };
	struct dlv_mx_rr b[] = { { 1, "mx1.provider.test" }, { 1, "mx2.provider.test" } };
	struct dlv_hops ha, hb;
	char ka[256], kb[256], tiny[8];
	dlv_mx_order(a, 3, NULL, 0, 3, &ha);
	dlv_mx_order(b, 2, NULL, 0, 9, &hb);
	ck_assert_int_gt(dlv_rollup_key(&ha, ka, sizeof(ka)), 0);
	ck_assert_int_gt(dlv_rollup_key(&hb, kb, sizeof(kb)), 0);
	ck_assert_str_eq(ka, "mx1.provider.test,mx2.provider.test");
	ck_assert_str_eq(ka, kb);
	ck_assert_int_eq(dlv_rollup_key(&ha, tiny, sizeof(tiny)), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_route");
	TCase *tc = tcase_create("route");
	tcase_add_test(tc, route_precedence);
	tcase_add_test(tc, mx_sorted_and_shuffled);
	tcase_add_test(tc, mx_null_and_none);
	tcase_add_test(tc, mx_self);
	tcase_add_test(tc, rollup);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
