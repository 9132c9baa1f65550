/* SPDX-License-Identifier: MIT */
/* fmt_test.c: fmt_u64 against printf's %llu over digit-count edges, and fmt_iso_ms against
 * strftime + %03u across second, day and year changes, with the per-second cache hit and missed. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"

START_TEST(test_u64)
{
	uint64_t v[] = { 0, 9, 10, 99, 100, 4294967295u, 4294967296u, 999999999999999999u,
			 1000000000000000000u, UINT64_MAX };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char want[32], got[21];
		snprintf(want, sizeof(want), "%" PRIu64, v[i]);
		size_t n = fmt_u64(got, v[i]);
		got[n] = '\0';
		ck_assert_str_eq(got, want);
	}
}
END_TEST

START_TEST(test_iso_ms)
{
	struct fmt_iso_cache c = FMT_ISO_CACHE_INIT;
	/* a leap day's last second, then the next day; the same second twice (cache hit) */
	time_t s[] = { 951868799, 951868799, 951868800, 1795945000, 1795945000, 4102444799 };
	unsigned ms[] = { 0, 999, 7, 45, 450, 123 };
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct tm tm;
		char want[40], got[FMT_ISO_MS_LEN + 1];
		gmtime_r(&s[i], &tm);
		size_t n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want + n, sizeof(want) - n, ".%03uZ", ms[i]);
		fmt_iso_ms(got, s[i], ms[i], &c);
		got[FMT_ISO_MS_LEN] = '\0';
		ck_assert_str_eq(got, want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fmt");
	TCase *tc = tcase_create("fmt");
	tcase_add_test(tc, test_u64);
	tcase_add_test(tc, test_iso_ms);
	suite_add_tcase(s, tc);
	SRunner *r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
