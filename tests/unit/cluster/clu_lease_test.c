/* SPDX-License-Identifier: MIT */
/* clu_lease_test.c: fallback budget, lcore shares, suspension times, budget table search, and
 * a node without Redis (nothing listens on its port): it runs on the fallback budget at once,
 * keeps local suspensions, and publishes a table workers can search. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <string.h>

#include "cluster/clu.h"

START_TEST(fallback_share)
{
	struct clu_limit l = { "example.org", 100, 8 };
	struct clu_grant g;
	clu_grant_fallback(&l, 25, &g);
	ck_assert_uint_eq(g.rate_mps, 25000);
	ck_assert_uint_eq(g.conns, 2);
	ck_assert_uint_eq(g.nodes, 0);
	/* a tiny limit still lets a node make progress; unlimited stays unlimited */
	struct clu_limit tiny = { "t", 1, 1 };
	clu_grant_fallback(&tiny, 10, &g);
	ck_assert_uint_eq(g.rate_mps, 100);
	ck_assert_uint_eq(g.conns, 1);
	struct clu_limit rate_only = { "r", 3, 0 };
	clu_grant_fallback(&rate_only, 1, &g);
	ck_assert_uint_eq(g.rate_mps, 30);
	ck_assert_uint_eq(g.conns, 0);
}
END_TEST

START_TEST(lcore_shares_add_up)
{
	for (uint64_t v = 0; v < 50; v++)
		for (unsigned n = 1; n <= 6; n++) {
			uint64_t sum = 0;
			for (unsigned i = 0; i < n; i++)
				sum += clu_lcore_share(v, i, n);
			ck_assert_uint_eq(sum, v);
		}
	ck_assert_uint_eq(clu_lcore_share(1, 1, 2), 0);   /* "nothing here", not unlimited */
}
END_TEST

START_TEST(suspension_times)
{
	struct clu_entry e = { 0 };
	ck_assert(!clu_entry_suspended(&e, 5));
	e.suspended_until_ms = 10;
	ck_assert(clu_entry_suspended(&e, 9));
	ck_assert(!clu_entry_suspended(&e, 10));
	e.suspended_until_ms = UINT64_MAX;
	ck_assert(clu_entry_suspended(&e, UINT64_MAX - 1));
	ck_assert_int_eq(clu_duration_parse("90"), 90);
	ck_assert_int_eq(clu_duration_parse("30s"), 30);
	ck_assert_int_eq(clu_duration_parse("5m"), 300);
	ck_assert_int_eq(clu_duration_parse("2h"), 7200);
	ck_assert_int_eq(clu_duration_parse("1d"), 86400);
	ck_assert_int_eq(clu_duration_parse("1x"), -1);
	ck_assert_int_eq(clu_duration_parse("5mm"), -1);
	ck_assert_int_eq(clu_duration_parse(""), -1);
	ck_assert_int_eq(clu_duration_parse("-3"), -1);
	ck_assert_int_eq(clu_duration_parse("9999d"), -1);
}
END_TEST

START_TEST(table_search)
{
	struct clu_table *t = clu_table_new(3);
	const char *keys[] = { "b.example", "A.example", "c.example" };
	for (unsigned i = 0; i < 3; i++)
		strcpy(t->e[t->n++].key, keys[i]);
	clu_table_sort(t);
	ck_assert_str_eq(t->e[0].key, "A.example");
	ck_assert_ptr_nonnull(clu_table_find(t, "a.example"));
	ck_assert_ptr_nonnull(clu_table_find(t, "C.EXAMPLE"));
	ck_assert_ptr_null(clu_table_find(t, "d.example"));
	ck_assert_ptr_null(clu_table_find(NULL, "a.example"));
	clu_table_free(t);
}
END_TEST

START_TEST(node_without_redis_falls_back)
{
	rcu_register_thread();
	struct clu_params p;
	clu_params_defaults(&p);
	p.redis_port = 9;            /* loopback discard port: closed here, as in other tests */
	p.fallback_pct = 50;
	struct clu_limit lim[] = { { "a.example", 40, 4 }, { "free.example", 0, 0 } };
	int err = 0;
	struct clu_node *n = clu_node_new(&p, lim, 2, &err);
	ck_assert_ptr_nonnull(n);
	clu_node_step(n, 1000000, 1000);
	ck_assert(!clu_node_redis_up(n));
	struct clu_table *t = clu_node_table(n);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->n, 1);                       /* unlimited destinations are not managed */
	struct clu_entry *e = clu_table_find(t, "a.example");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->mode, CLU_M_FALLBACK);
	ck_assert_uint_eq(e->g.rate_mps, 20000);
	ck_assert_uint_eq(e->g.conns, 2);
	/* a local suspension applies at once, without Redis */
	ck_assert_int_eq(clu_node_suspend(n, "a.example", 5000), 0);
	ck_assert_int_eq(clu_node_suspend(n, "other.example", UINT64_MAX), 0);
	clu_node_step(n, 1200000, 1200);
	t = clu_node_table(n);
	ck_assert(clu_entry_suspended(clu_table_find(t, "a.example"), 1200));
	ck_assert(!clu_entry_suspended(clu_table_find(t, "a.example"), 5000));
	ck_assert(clu_entry_suspended(clu_table_find(t, "other.example"), 1200));
	ck_assert_int_eq(clu_node_resume(n, "other.example"), 0);
	clu_node_step(n, 1400000, 1400);
	ck_assert_ptr_null(clu_table_find(clu_node_table(n), "other.example"));
	struct clu_node_info in;
	clu_node_info(n, &in);
	ck_assert_uint_ge(in.redis_errors, 1);
	ck_assert_uint_eq(in.fallbacks, 1);
	clu_node_free(n);
	rcu_unregister_thread();
}
END_TEST

START_TEST(lcores_ask_for_keys)
{
	rcu_register_thread();
	struct clu_params p;
	clu_params_defaults(&p);
	p.redis_port = 9;
	p.fallback_pct = 50;
	int err = 0;
	struct clu_node *n = clu_node_new(&p, NULL, 0, &err);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(clu_node_ask(n, 0, "star.example"), -EINVAL);  /* no `*` rule */
	ck_assert_int_eq(clu_node_report_cut(n, 0, "x.example", 1000), -EINVAL);
	ck_assert_int_eq(clu_node_report_cut(n, 0, "x.example", 500), 0);
	clu_node_free(n);
	p.star_rate = 30;
	p.star_conns = 6;
	n = clu_node_new(&p, NULL, 0, &err);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(clu_node_ask(n, CLU_LCORES, "x.example"), -EINVAL);
	char big[CLU_KEY_MAX + 8];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(clu_node_ask(n, 0, big), -E2BIG);
	ck_assert_int_eq(clu_node_ask(n, 0, "star.example"), 0);
	ck_assert_int_eq(clu_node_ask(n, 1, "star.example"), 0);   /* added once */
	char key[32];
	for (int i = 0; i < CLU_ASK_RING; i++) {
		snprintf(key, sizeof(key), "k%d.example", i);
		ck_assert_int_eq(clu_node_ask(n, 2, key), 0);
	}
	ck_assert_int_eq(clu_node_ask(n, 2, "late.example"), -ENOSPC);
	clu_node_step(n, 1000000, 1000);
	struct clu_table *t = clu_node_table(n);
	ck_assert_uint_eq(t->n, 1 + CLU_ASK_RING);
	struct clu_entry *e = clu_table_find(t, "star.example");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->dynamic && e->limited_rate && e->limited_conns);
	ck_assert_int_eq(e->mode, CLU_M_FALLBACK);          /* no Redis: half the `*` limits */
	ck_assert_uint_eq(e->g.rate_mps, 15000);
	ck_assert_uint_eq(e->g.conns, 3);
	e = clu_table_find(t, "k7.example");
	ck_assert_ptr_nonnull(e);
	ck_assert(e->dynamic && e->limited_rate && e->limited_conns);
	ck_assert_ptr_null(clu_table_find(t, "x.example"));  /* without Redis a cut stays local */
	/* the ring has room again once the node drained it */
	ck_assert_int_eq(clu_node_ask(n, 2, "late.example"), 0);
	clu_node_step(n, 1100000, 1100);
	ck_assert_ptr_nonnull(clu_table_find(clu_node_table(n), "late.example"));
	clu_node_free(n);
	rcu_unregister_thread();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clu_lease");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, fallback_share);
	tcase_add_test(tc, lcore_shares_add_up);
	tcase_add_test(tc, suspension_times);
	tcase_add_test(tc, table_search);
	tcase_add_test(tc, node_without_redis_falls_back);
	tcase_add_test(tc, lcores_ask_for_keys);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
