/* SPDX-License-Identifier: MIT */
/* spool_qid_test.c: spool_qid_str, formatted by hand, against printf's "%016" PRIX64 (the
 * format it replaced: operators and the admin CLI parse these ids). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spool/spool.h"

START_TEST(test_qid_str)
{
	static const uint64_t v[] = { 0, 1, 0xF, 0x10, 0xABCDEFull, 0x0123456789ABCDEFull,
				      0xFEDCBA9876543210ull, UINT64_MAX, 1ull << 63 };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char got[17], want[17];
		memset(got, 'x', sizeof(got));
		snprintf(want, sizeof(want), "%016" PRIX64, v[i]);
		ck_assert_ptr_eq(spool_qid_str(v[i], got), got);
		ck_assert_str_eq(got, want);
	}
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (int i = 0; i < 1000; i++, x = x * 6364136223846793005ull + 1442695040888963407ull) {
		char got[17], want[17];
		snprintf(want, sizeof(want), "%016" PRIX64, x);
		ck_assert_str_eq(spool_qid_str(x, got), want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool_qid");
	TCase *tc = tcase_create("qid");
	tcase_add_test(tc, test_qid_str);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
