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

/* A configured policy: 500 ms windows, cut to 25%, +20% every 2 s, floor 10%. */
static void fast_policy(struct dlv_backoff_policy *p)
{
	dlv_backoff_policy_defaults(p);
	p->window_us = 500000;
	p->min_samples = 4;
	p->fail_pct = 50;
	p->decrease_pct = 25;
	p->min_factor = 100;
	p->step_factor = 200;
	p->step_us = 2 * S;
}

START_TEST(backoff_policy_configurable)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	fast_policy(&p);
	dlv_backoff_init(&bo, 0);
	for (int i = 0; i < 4; i++)
		dlv_backoff_record(&bo, &p, i < 2, 100000);    /* 2 of 4: exactly the threshold */
	ck_assert(dlv_backoff_tick(&bo, &p, 500000));
	ck_assert_uint_eq(bo.factor, 250);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 40000), 10000);
	/* a second failing window: 25% of 250 = 62 -> the floor */
	for (int i = 0; i < 4; i++)
		dlv_backoff_record(&bo, &p, true, 600000);
	ck_assert(dlv_backoff_tick(&bo, &p, 1000000));
	ck_assert_uint_eq(bo.factor, 100);
	ck_assert_uint_eq(bo.cuts, 2);
	/* restoration: one step every 2 s after the last change, whether or not mail flows */
	ck_assert(!dlv_backoff_tick(&bo, &p, 2999999));
	ck_assert(dlv_backoff_tick(&bo, &p, 3000000));
	ck_assert_uint_eq(bo.factor, 300);
	ck_assert(!dlv_backoff_tick(&bo, &p, 4900000));
	ck_assert(dlv_backoff_tick(&bo, &p, 5000000));
	ck_assert_uint_eq(bo.factor, 500);
	for (uint64_t t = 7 * S; t <= 11 * S; t += 2 * S)
		dlv_backoff_tick(&bo, &p, t);
	ck_assert_uint_eq(bo.factor, 1000);
	ck_assert(!dlv_backoff_tick(&bo, &p, 20 * S));
}
END_TEST

START_TEST(backoff_step_waits_while_failing)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	fast_policy(&p);
	p.window_us = 10 * S;                               /* long window, short step */
	dlv_backoff_init(&bo, 0);
	for (int i = 0; i < 4; i++)
		dlv_backoff_record(&bo, &p, true, S);
	ck_assert(dlv_backoff_tick(&bo, &p, 10 * S));
	ck_assert_uint_eq(bo.factor, 250);
	/* the current window is failing: the step due at 12 s is held back */
	for (int i = 0; i < 4; i++)
		dlv_backoff_record(&bo, &p, true, 11 * S);
	ck_assert(!dlv_backoff_tick(&bo, &p, 12 * S));
	ck_assert_uint_eq(bo.factor, 250);
	/* failures are diluted by successes below the threshold: the step goes ahead */
	for (int i = 0; i < 5; i++)
		dlv_backoff_record(&bo, &p, false, 12500000);
	ck_assert_uint_eq(bo.factor, 450);
}
END_TEST

START_TEST(backoff_unrated_uses_observed_rate)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	fast_policy(&p);
	dlv_backoff_init(&bo, 0);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 0), 0);        /* unlimited */
	/* 20 outcomes in 0.5 s = 40 msg/s, all failing: cut to 25% of 40 = 10 msg/s */
	for (int i = 0; i < 20; i++)
		dlv_backoff_record(&bo, &p, true, 25000 * (uint64_t)i);
	ck_assert(dlv_backoff_tick(&bo, &p, 500000));
	ck_assert_uint_eq(bo.base_mps, 40000);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 0), 10000);
	/* a configured rate wins over the observed one */
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 8000), 2000);
	/* fully restored: unlimited again */
	for (uint64_t t = 2500000; t <= 10 * S; t += 500000)
		dlv_backoff_tick(&bo, &p, t);
	ck_assert_uint_eq(bo.factor, 1000);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 0), 0);
	ck_assert_uint_eq(bo.base_mps, 0);
}
END_TEST

START_TEST(backoff_adopts_a_remote_cut)
{
	struct dlv_backoff_policy p;
	struct dlv_backoff bo;
	fast_policy(&p);
	dlv_backoff_init(&bo, 0);
	for (int i = 0; i < 10; i++)
		dlv_backoff_record(&bo, &p, false, 50000 * (uint64_t)i);   /* 20 msg/s, clean */
	dlv_backoff_tick(&bo, &p, 500000);
	ck_assert_uint_eq(bo.factor, 1000);
	ck_assert(!dlv_backoff_adopt(&bo, 1000, 600000));
	ck_assert(!dlv_backoff_adopt(&bo, 0, 600000));
	ck_assert(dlv_backoff_adopt(&bo, 500, 600000));
	ck_assert_uint_eq(bo.factor, 500);
	ck_assert_uint_eq(dlv_backoff_apply(&bo, 0), 10000);     /* half the observed 20 msg/s */
	ck_assert(!dlv_backoff_adopt(&bo, 700, 700000));          /* never raises */
	/* restoration counts from the adoption */
	ck_assert(!dlv_backoff_tick(&bo, &p, 2500000));
	ck_assert(dlv_backoff_tick(&bo, &p, 2600000));
	ck_assert_uint_eq(bo.factor, 700);
	/* a local cut goes on from the adopted factor */
	for (int i = 0; i < 4; i++)
		dlv_backoff_record(&bo, &p, true, 2700000);
	ck_assert(dlv_backoff_tick(&bo, &p, 3100000));
	ck_assert_uint_eq(bo.factor, 175);
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
	tcase_add_test(tc, backoff_policy_configurable);
	tcase_add_test(tc, backoff_step_waits_while_failing);
	tcase_add_test(tc, backoff_unrated_uses_observed_rate);
	tcase_add_test(tc, backoff_adopts_a_remote_cut);
	tcase_add_test(tc, retry_doubles_caps_expires);
	tcase_add_test(tc, retry_jitter_bounds);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
