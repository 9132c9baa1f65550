/* SPDX-License-Identifier: MIT */
/* bench_mix_test.c: reply-code and size mix parsing, sizes with suffixes, weighted picks. */
#include <check.h>

#include "bench.h"

START_TEST(test_codes)
{
	struct bench_mix m;
	char err[128];
	ck_assert_int_eq(bench_mix_parse_codes(&m, "250:95,451:3,550:1,421:1", err, sizeof(err)), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_uint_eq(m.total, 100);
	ck_assert_uint_eq(m.value[1], 451);
	ck_assert_uint_eq(m.weight[0], 95);
	/* picks follow the weights exactly over one full cycle of r mod total */
	unsigned seen[600] = { 0 };
	for (uint64_t r = 0; r < 100; r++)
		seen[bench_mix_pick(&m, r)]++;
	ck_assert_uint_eq(seen[250], 95);
	ck_assert_uint_eq(seen[451], 3);
	ck_assert_uint_eq(seen[550], 1);
	ck_assert_uint_eq(seen[421], 1);
	const char *bad[] = { "", "250", "250:", ":5", "99:1", "600:1", "250:x", "250:0", "250:1,,",
			      "250:1;451:2", "2500:1" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(bench_mix_parse_codes(&m, bad[i], err, sizeof(err)) < 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_sizes)
{
	uint64_t v;
	ck_assert_int_eq(bench_parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512);
	ck_assert_int_eq(bench_parse_size("10k", &v), 0);
	ck_assert_uint_eq(v, 10240);
	ck_assert_int_eq(bench_parse_size("2M", &v), 0);
	ck_assert_uint_eq(v, 2u << 20);
	ck_assert_int_eq(bench_parse_size("200KB", &v), 0);
	ck_assert_uint_eq(v, 200 * 1024);
	ck_assert_int_lt(bench_parse_size("k", &v), 0);
	ck_assert_int_lt(bench_parse_size("10q", &v), 0);
	ck_assert_int_lt(bench_parse_size("99999999999999999999", &v), 0);
	struct bench_mix m;
	char err[128];
	ck_assert_int_eq(bench_mix_parse_sizes(&m, "2k:10k:50k:200k", err, sizeof(err)), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_uint_eq(m.value[3], 200 * 1024);
	ck_assert_uint_eq(m.total, 4);
	ck_assert_int_eq(bench_mix_parse_sizes(&m, "2k@60,10k@30,200k@10", err, sizeof(err)), 0);
	ck_assert_uint_eq(m.total, 100);
	ck_assert_uint_eq(bench_mix_pick(&m, 59), 2048);
	ck_assert_uint_eq(bench_mix_pick(&m, 60), 10240);
	ck_assert_uint_eq(bench_mix_pick(&m, 99), 200 * 1024);
	ck_assert_int_lt(bench_mix_parse_sizes(&m, "2k::10k", err, sizeof(err)), 0);
	ck_assert_int_lt(bench_mix_parse_sizes(&m, "0", err, sizeof(err)), 0);
	ck_assert_int_lt(bench_mix_parse_sizes(&m, "2k@x", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_rand_spread)
{
	uint64_t st = 42, buckets[4] = { 0 };
	for (int i = 0; i < 40000; i++)
		buckets[bench_rand(&st) % 4]++;
	for (int i = 0; i < 4; i++)
		ck_assert(buckets[i] > 9000 && buckets[i] < 11000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_mix");
	TCase *tc = tcase_create("mix");
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_rand_spread);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
