/* SPDX-License-Identifier: MIT */
/* stats_test.c: the statistics registry, per-core sums, histograms and their exposition. */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "ctl/buf.h"
#include "metrics/stats.h"

struct mod_stats {
	uint64_t sessions_total;
	uint64_t sessions_open;
};

static const struct ctl_stat_field mod_fields[] = {
	{ "smtp_sessions_total", "SMTP sessions accepted.", CTL_STAT_COUNTER,
	  offsetof(struct mod_stats, sessions_total) },
	{ "smtp_sessions_open", "SMTP sessions open now.", CTL_STAT_GAUGE,
	  offsetof(struct mod_stats, sessions_open) },
};

START_TEST(test_sum_over_cores)
{
	struct ctl_stats st;
	ctl_stats_init(&st, "dpmail_");
	struct mod_stats core[3] = { { 1, 1 }, { 10, 2 }, { 100, 3 } };
	for (unsigned c = 0; c < 3; c++)
		ck_assert_int_eq(ctl_stats_add_block(&st, c + 1, mod_fields, 2, &core[c]), 0);
	ctl_counter_add(&core[1].sessions_total, 5);
	uint64_t v;
	ck_assert(ctl_stats_total(&st, "smtp_sessions_total", &v));
	ck_assert_uint_eq(v, 116);
	ck_assert(ctl_stats_total(&st, "smtp_sessions_open", &v));
	ck_assert_uint_eq(v, 6);
	ck_assert(!ctl_stats_total(&st, "nope", &v));
	/* The same core twice, a bad name, a kind clash, an lcore out of range. */
	ck_assert_int_eq(ctl_stats_add_block(&st, 1, mod_fields, 1, &core[0]), -EINVAL);
	ck_assert_int_eq(ctl_stats_add(&st, 4, "bad name", "", CTL_STAT_COUNTER, &v), -EINVAL);
	ck_assert_int_eq(ctl_stats_add(&st, 4, "smtp_sessions_open", "", CTL_STAT_COUNTER, &v), -EINVAL);
	ck_assert_int_eq(ctl_stats_add(&st, CTL_STATS_MAX_CORES, "x", "", CTL_STAT_COUNTER, &v), -EINVAL);

	json_t *j = ctl_stats_json(&st);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "total"),
							    "smtp_sessions_total")), 116);
	ck_assert_int_eq(json_integer_value(json_object_get(
		json_object_get(json_object_get(j, "cores"), "2"), "smtp_sessions_total")), 15);
	json_decref(j);

	struct ctl_buf out;
	ctl_buf_init(&out);
	ctl_stats_prometheus(&st, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "# TYPE dpmail_smtp_sessions_total counter\n"
					       "dpmail_smtp_sessions_total 116\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "# TYPE dpmail_smtp_sessions_open gauge\n"));
	ctl_buf_free(&out);
	ctl_stats_fini(&st);
}
END_TEST

START_TEST(test_hist_buckets)
{
	ck_assert_uint_eq(ctl_hist_bucket(0), 0);
	ck_assert_uint_eq(ctl_hist_bucket(1), 0);
	ck_assert_uint_eq(ctl_hist_bucket(2), 1);
	ck_assert_uint_eq(ctl_hist_bucket(3), 2);
	ck_assert_uint_eq(ctl_hist_bucket(4), 2);
	ck_assert_uint_eq(ctl_hist_bucket(5), 3);
	ck_assert_uint_eq(ctl_hist_bucket(1024), 10);
	ck_assert_uint_eq(ctl_hist_bucket(UINT64_MAX), CTL_HIST_BUCKETS);

	struct ctl_hist a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 99; i++)
		ctl_hist_observe(&a, 100);     /* bucket <= 128 */
	ctl_hist_observe(&b, 5000);            /* bucket <= 8192 */
	struct ctl_stats st;
	ctl_stats_init(&st, "dpmail_");
	ck_assert_int_eq(ctl_stats_add_hist(&st, 1, "accept_to_250_seconds", "Accept to 250.", 1e6, &a), 0);
	ck_assert_int_eq(ctl_stats_add_hist(&st, 2, "accept_to_250_seconds", "Accept to 250.", 1e6, &b), 0);
	struct ctl_hist acc;
	memset(&acc, 0, sizeof(acc));
	ctl_hist_accumulate(&acc, &a);
	ctl_hist_accumulate(&acc, &b);
	ck_assert_uint_eq(ctl_hist_count(&acc), 100);
	ck_assert_uint_eq(acc.sum, 99 * 100 + 5000);
	ck_assert_uint_eq(ctl_hist_quantile(&acc, 0.5), 128);
	ck_assert_uint_eq(ctl_hist_quantile(&acc, 1.0), 8192);

	struct ctl_buf out;
	ctl_buf_init(&out);
	ctl_stats_prometheus(&st, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "# TYPE dpmail_accept_to_250_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "dpmail_accept_to_250_seconds_bucket{le=\"0.000128\"} 99\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "dpmail_accept_to_250_seconds_bucket{le=\"+Inf\"} 100\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "dpmail_accept_to_250_seconds_count 100\n"));
	ctl_buf_free(&out);
	ctl_stats_fini(&st);
}
END_TEST

static void collect(struct ctl_buf *out, void *arg)
{
	ctl_buf_printf(out, "dpmail_queue_messages{destination=\"%s\"} 3\n", (const char *)arg);
}

START_TEST(test_collector)
{
	struct ctl_stats st;
	ctl_stats_init(&st, "dpmail_");
	ck_assert_int_eq(ctl_stats_add_collector(&st, collect, "example.org"), 0);
	struct ctl_buf out;
	ctl_buf_init(&out);
	ctl_stats_prometheus(&st, &out);
	ck_assert_str_eq(out.data, "dpmail_queue_messages{destination=\"example.org\"} 3\n");
	ctl_buf_free(&out);
	ctl_stats_fini(&st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("registry");
	tcase_add_test(tc, test_sum_over_cores);
	tcase_add_test(tc, test_hist_buckets);
	tcase_add_test(tc, test_collector);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
