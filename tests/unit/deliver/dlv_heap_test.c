/* SPDX-License-Identifier: MIT */
/* dlv_heap_test.c: ordering, reschedule, removal and the size bound, checked against a model. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "deliver/dlv_heap.h"

struct item {
	struct dlv_heap_node hn;
	uint64_t due;
	int queued;
};

START_TEST(random_ops_match_model)
{
	enum { N = 2000 };
	static struct item it[N];
	struct dlv_heap h;
	ck_assert_int_eq(dlv_heap_init(&h, 4, N), 0);
	srand(42);
	for (int i = 0; i < N; i++)
		dlv_heap_node_init(&it[i].hn);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N;
		int op = rand() % 3;
		if (op < 2) {
			it[i].due = (uint64_t)(rand() % 100000);
			ck_assert_int_eq(dlv_heap_push(&h, &it[i].hn, it[i].due), 0);
			it[i].queued = 1;
		} else {
			dlv_heap_remove(&h, &it[i].hn);
			it[i].queued = 0;
		}
	}
	uint32_t expect = 0;
	for (int i = 0; i < N; i++)
		expect += it[i].queued;
	ck_assert_uint_eq(dlv_heap_len(&h), expect);
	/* Nothing is due before the earliest time; then everything pops in order. */
	uint64_t first = dlv_heap_peek_due(&h);
	if (first > 0)
		ck_assert_ptr_null(dlv_heap_pop_due(&h, first - 1));
	uint64_t last = 0;
	uint32_t popped = 0;
	struct dlv_heap_node *n;
	while ((n = dlv_heap_pop_due(&h, UINT64_MAX - 1)) != NULL) {
		struct item *x = (struct item *)n;
		ck_assert(x->queued);
		ck_assert_uint_ge(x->due, last);
		ck_assert(!dlv_heap_queued(n));
		last = x->due;
		x->queued = 0;
		popped++;
	}
	ck_assert_uint_eq(popped, expect);
	dlv_heap_free(&h);
}
END_TEST

START_TEST(bound)
{
	struct dlv_heap h;
	struct item a, b;
	dlv_heap_node_init(&a.hn);
	dlv_heap_node_init(&b.hn);
	ck_assert_int_eq(dlv_heap_init(&h, 1, 1), 0);
	ck_assert_int_eq(dlv_heap_push(&h, &a.hn, 5), 0);
	ck_assert_int_eq(dlv_heap_push(&h, &b.hn, 6), -ENOSPC);
	ck_assert_int_eq(dlv_heap_push(&h, &a.hn, 1), 0);  /* a reschedule needs no room */
	ck_assert_uint_eq(dlv_heap_peek_due(&h), 1);
	dlv_heap_free(&h);
	ck_assert(!dlv_heap_queued(&a.hn));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_heap");
	TCase *tc = tcase_create("heap");
	tcase_add_test(tc, random_ops_match_model);
	tcase_add_test(tc, bound);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
