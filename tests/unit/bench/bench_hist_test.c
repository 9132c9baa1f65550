/* SPDX-License-Identifier: MIT */
/* bench_hist_test.c: the HDR-style histogram: bucket layout, precision, quantiles, merge. */
#include <check.h>
#include <stdlib.h>

#include "bench.h"

START_TEST(test_buckets_contiguous)
{
	/* every bucket's range starts right after the previous one ends, exact below 128 */
	for (unsigned i = 1; i < BENCH_HIST_BUCKETS; i++)
		ck_assert_uint_eq(bench_hist_lowest(i), bench_hist_highest(i - 1) + 1);
	for (uint64_t v = 0; v < 128; v++)
		ck_assert_uint_eq(bench_hist_index(v), v);
	uint64_t vals[] = { 128, 129, 255, 256, 1000, 123456, 1ull << 30, (1ull << 40) - 1 };
	for (unsigned k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		unsigned i = bench_hist_index(vals[k]);
		ck_assert_uint_lt(i, BENCH_HIST_BUCKETS);
		ck_assert_uint_le(bench_hist_lowest(i), vals[k]);
		ck_assert_uint_ge(bench_hist_highest(i), vals[k]);
		/* relative width under 1/64 */
		ck_assert(bench_hist_highest(i) - bench_hist_lowest(i) <= vals[k] / 64);
	}
	/* beyond the range: clamped into the last bucket, not out of bounds */
	ck_assert_uint_eq(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
}
END_TEST

START_TEST(test_quantiles_uniform)
{
	struct bench_hist *h = malloc(sizeof(*h));
	bench_hist_init(h);
	ck_assert_uint_eq(bench_hist_quantile(h, 0.5), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		bench_hist_record(h, v);
	ck_assert_uint_eq(h->count, 100000);
	ck_assert_uint_eq(h->min, 1);
	ck_assert_uint_eq(h->max, 100000);
	struct { double q; double want; } cases[] = { { 0.5, 50000 }, { 0.99, 99000 }, { 0.999, 99900 }, { 1.0, 100000 } };
	for (unsigned k = 0; k < 4; k++) {
		double got = (double)bench_hist_quantile(h, cases[k].q);
		ck_assert_msg(got >= cases[k].want && got <= cases[k].want * 1.016, "q=%g got %g", cases[k].q, got);
	}
	ck_assert(bench_hist_mean(h) > 50000.4 && bench_hist_mean(h) < 50000.6);
	free(h);
}
END_TEST

START_TEST(test_quantile_outlier_and_merge)
{
	struct bench_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	bench_hist_init(a);
	bench_hist_init(b);
	for (int i = 0; i < 999; i++)
		bench_hist_record(a, 200);
	bench_hist_record(b, 5000000); /* one 5 s outlier */
	bench_hist_merge(a, b);
	ck_assert_uint_eq(a->count, 1000);
	ck_assert_uint_le(bench_hist_quantile(a, 0.99), 203);
	ck_assert_uint_ge(bench_hist_quantile(a, 0.99), 200);
	ck_assert_uint_eq(bench_hist_quantile(a, 0.9995), 5000000); /* clamped to max */
	ck_assert_uint_eq(a->max, 5000000);
	json_t *j = bench_hist_json(a);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "max")), 5000000);
	json_decref(j);
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_hist");
	TCase *tc = tcase_create("hist");
	tcase_add_test(tc, test_buckets_contiguous);
	tcase_add_test(tc, test_quantiles_uniform);
	tcase_add_test(tc, test_quantile_outlier_and_merge);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
