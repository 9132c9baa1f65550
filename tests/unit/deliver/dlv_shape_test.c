/* SPDX-License-Identifier: MIT */
/* dlv_shape_test.c: token bucket, lcore split, AIMD backoff, retry schedule (virtual clock). */
#include <check.h>

#include "deliver/dlv_shape.h"

#define S 1000000ull

START_TEST(bucket_rate_and_burst)
{
	struct dlv_bucket b;
	dlv_bucket_init(&b, 10 * 1000, 5, 0);  /* 10 msg/s, burst 5 */
	for (int i = 0; i < 5; i++)
		ck_assert(dlv_bucket_take(&b, 0));
	ck_assert(!dlv_bucket_take(&b, 0));
	ck_assert_uint_eq(dlv_bucket_wait_us(&b, 0), 100000);
	ck_assert(!dlv_bucket_take(&b, 99999));
	ck_assert(dlv_bucket_take(&b, 100000));
	/* Over 10 s exactly 100 more messages pass, never more. */
	unsigned sent = 0;
	for (uint64_t t = 100000; t <= 100000 + 10 * S; t += 1000)
		sent += dlv_bucket_take(&b, t);
	ck_assert_uint_eq(sent, 100);
}
END_TEST

START_TEST(bucket_fractional_rate)
{
	struct dlv_bucket b;
	dlv_bucket_init(&b, 250, 1, 0);  /* 0.25 msg/s: one every 4 s */
	ck_assert(dlv_bucket_take(&b, 0));
	unsigned sent = 0;
	for (uint64_t t = 1; t <= 40 * S + 1; t += 10000)
		sent += dlv_bucket_take(&b, t);
	ck_assert_uint_eq(sent, 10);
}
END_TEST

START_TEST(bucket_unlimited)
{
	struct dlv_bucket b;
	dlv_bucket_init(&b, 0, 1, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert(dlv_bucket_take(&b, 0));
	ck_assert_uint_eq(dlv_bucket_wait_us(&b, 0), 0);
}
END_TEST

START_TEST(split_adds_up)
{
	for (uint64_t limit = 0; limit < 50; limit++)
		for (unsigned n = 1; n <= 8; n++) {
			uint64_t sum = 0;
			for (unsigned i = 0; i < n; i++)
				sum += dlv_shape_split(limit, i, n);
			ck_assert_uint_eq(sum, limit);
		}
	ck_assert_uint_eq(dlv_shape_split(10, 3, 3), 0);
}
END_TEST

START_TEST(backoff_cuts_and_restores)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	dlv_backoff_policy_defaults(&p);
	dlv_backoff_init(&bo, 0);
	/* A window with half the outcomes temporary failures: halved at the next window. */
	for (int i = 0; i < 40; i++)
		dlv_backoff_record(&bo, &p, i % 2, 1 * S);
	ck_assert(dlv_backoff_record(&bo, &p, false, 61 * S));
	ck_assert_uint_eq(bo.factor, 500);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 100000), 50000);
	/* Repeated bad windows never go below the floor. */
	uint64_t t = 61 * S;
	for (int w = 0; w < 10; w++) {
		for (int i = 0; i < 40; i++)
			dlv_backoff_record(&bo, &p, true, t);
		t += 61 * S;
		dlv_backoff_record(&bo, &p, true, t);
	}
	ck_assert_uint_eq(bo.factor, p.min_factor);
	/* Clean windows restore it step by step to full. */
	for (int w = 0; w < 30; w++) {
		for (int i = 0; i < 40; i++)
			dlv_backoff_record(&bo, &p, false, t);
		t += 61 * S;
	}
	dlv_backoff_record(&bo, &p, false, t);
	ck_assert_uint_eq(bo.factor, 1000);
}
END_TEST

START_TEST(backoff_restores_while_idle)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	dlv_backoff_policy_defaults(&p);
	dlv_backoff_init(&bo, 0);
	ck_assert(!dlv_backoff_tick(&bo, &p, 120 * S));   /* full rate: nothing to restore */
	for (int i = 0; i < 40; i++)
		dlv_backoff_record(&bo, &p, true, 121 * S);
	ck_assert(dlv_backoff_tick(&bo, &p, 182 * S));     /* the bad window closes: cut */
	ck_assert_uint_eq(bo.factor, 500);
	ck_assert(!dlv_backoff_tick(&bo, &p, 200 * S));    /* window not over */
	uint64_t t = 182 * S;
	for (int w = 0; w < 5; w++) {                       /* idle windows: +10% each */
		t += 61 * S;
		ck_assert(dlv_backoff_tick(&bo, &p, t));
	}
	ck_assert_uint_eq(bo.factor, 1000);
	ck_assert(!dlv_backoff_tick(&bo, &p, t + 61 * S));
}
END_TEST

START_TEST(backoff_needs_samples)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	dlv_backoff_policy_defaults(&p);
	dlv_backoff_init(&bo, 0);
	for (int i = 0; i < 5; i++)
		dlv_backoff_record(&bo, &p, true, S);
	dlv_backoff_record(&bo, &p, false, 70 * S);
	ck_assert_uint_eq(bo.factor, 1000);
}
END_TEST

START_TEST(retry_doubles_caps_expires)
{
	struct dlv_retry_policy p;
	dlv_retry_policy_defaults(&p);
	p.jitter_pct = 0;
	uint64_t arr = 1000 * S;
	ck_assert_uint_eq(dlv_retry_next(&p, 1, arr, arr, 0), arr + 300 * S);
	ck_assert_uint_eq(dlv_retry_next(&p, 2, arr, arr, 0), arr + 600 * S);
	ck_assert_uint_eq(dlv_retry_next(&p, 3, arr, arr, 0), arr + 1200 * S);
	ck_assert_uint_eq(dlv_retry_next(&p, 40, arr, arr, 0), arr + 4 * 3600 * S);
	/* Near the deadline the last attempt is at the deadline; after it, expiry. */
	uint64_t deadline = arr + p.max_age_us;
	ck_assert_uint_eq(dlv_retry_next(&p, 30, arr, deadline - 60 * S, 0), deadline);
	ck_assert_uint_eq(dlv_retry_next(&p, 31, arr, deadline, 0), 0);
}
END_TEST

START_TEST(retry_jitter_bounds)
{
	struct dlv_retry_policy p;
	dlv_retry_policy_defaults(&p);
	uint64_t lo = UINT64_MAX, hi = 0;
	for (uint32_t r = 0; r < 1000; r++) {
		uint64_t t = dlv_retry_next(&p, 1, 0, 0, r * 4294967u);
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
	}
	ck_assert_uint_ge(lo, 270 * S);
	ck_assert_uint_le(hi, 330 * S);
	ck_assert_uint_gt(hi - lo, 50 * S);  /* it really spreads */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_shape");
	TCase *tc = tcase_create("shape");
	tcase_add_test(tc, bucket_rate_and_burst);
	tcase_add_test(tc, bucket_fractional_rate);
	tcase_add_test(tc, bucket_unlimited);
	tcase_add_test(tc, split_adds_up);
	tcase_add_test(tc, backoff_cuts_and_restores);
	tcase_add_test(tc, backoff_needs_samples);
	tcase_add_test(tc, backoff_restores_while_idle);
	tcase_add_test(tc, retry_doubles_caps_expires);
	tcase_add_test(tc, retry_jitter_bounds);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
