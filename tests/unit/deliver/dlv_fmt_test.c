/* SPDX-License-Identifier: MIT */
/* dlv_fmt_test.c: the bounded text helpers of dlv_int.h (dlv_putn/puts/putu/copyn/copys)
 * against snprintf, the function they replace on the per-message path: same output and the
 * same truncation for every buffer size, pieces with NULs inside, empty and NULL strings. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "deliver/dlv_int.h"

START_TEST(test_copy_like_snprintf)
{
	static const char src[] = "user@example.test\0hidden";
	for (size_t cap = 1; cap <= 24; cap++) {
		for (size_t n = 0; n <= sizeof(src) - 1; n++) {
			char got[32], want[32];
			memset(got, 'x', sizeof(got));
			dlv_copyn(got, cap, src, n);
			snprintf(want, cap, "%.*s", (int)n, src);
			ck_assert_str_eq(got, want);
		}
		char got[32], want[32];
		dlv_copys(got, cap, "route:example");
		snprintf(want, cap, "%s", "route:example");
		ck_assert_str_eq(got, want);
	}
	char e[4] = "zzz";
	dlv_copyn(e, sizeof(e), NULL, 0);   /* an empty spool string may have no pointer */
	ck_assert_str_eq(e, "");
}
END_TEST

START_TEST(test_pieces_like_snprintf)
{
	static const unsigned codes[] = { 0, 7, 250, 451, 4294967295u };
	for (size_t cap = 1; cap <= 40; cap++) {
		for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
			char got[64], want[64];
			size_t o = 0;
			got[0] = '\0';
			dlv_putu(got, cap, &o, codes[k]);
			dlv_putn(got, cap, &o, " ", 1);
			dlv_putn(got, cap, &o, "2.1.5", 15);
			dlv_putn(got, cap, &o, " ", 1);
			dlv_puts(got, cap, &o, "Ok, recipient accepted");
			snprintf(want, cap, "%u %.15s%s%.170s", codes[k], "2.1.5", " ",
				 "Ok, recipient accepted");
			ck_assert_str_eq(got, want);
			ck_assert_uint_eq(o, strlen(want));
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_fmt");
	TCase *tc = tcase_create("fmt");
	tcase_add_test(tc, test_copy_like_snprintf);
	tcase_add_test(tc, test_pieces_like_snprintf);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
