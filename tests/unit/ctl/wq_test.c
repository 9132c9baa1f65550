/* SPDX-License-Identifier: MIT */
/*
 * wq_test.c: control -> worker requests with worker threads serving their rings: every worker
 * answers with its own context, a worker that does not serve makes the request time out with
 * the others' answers, unknown kinds get empty replies, limits are enforced.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/wq.h"

struct worker {
	pthread_t tid;
	struct ctl_wq *q;
	unsigned slot;
	volatile int *stop;
	volatile int paused;
	uint32_t value;
};

static size_t answer(uint16_t kind, const void *req, size_t len, void *reply, size_t cap, void *ctx)
{
	struct worker *w = ctx;
	uint32_t in;
	memcpy(&in, req, sizeof(in));
	uint32_t out = in + w->value;
	memcpy(reply, &out, sizeof(out));
	return sizeof(out);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!*w->stop) {
		if (!w->paused)
			ctl_wq_serve(w->q, w->slot);
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct result {
	int calls;
	bool complete;
	unsigned n;
	uint32_t v[4];
	size_t len[4];
};

static void done(void *arg, const void *const *replies, const size_t *lens, unsigned n, bool complete)
{
	struct result *r = arg;
	r->calls++;
	r->complete = complete;
	r->n = n;
	for (unsigned i = 0; i < n && i < 4; i++) {
		r->len[i] = lens[i];
		if (replies[i] && lens[i] == 4)
			memcpy(&r->v[i], replies[i], 4);
	}
}

static void run_until(struct ctl_wq *q, struct result *r, int calls)
{
	uint64_t deadline = now_us() + 5000000;
	while (r->calls < calls && now_us() < deadline) {
		ctl_wq_poll(q, now_us());
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

START_TEST(test_broadcast)
{
	enum { N = 3 };
	struct ctl_wq *q = ctl_wq_new(N);
	volatile int stop = 0;
	struct worker w[N];
	for (unsigned i = 0; i < N; i++) {
		w[i] = (struct worker){ .q = q, .slot = i, .stop = &stop, .value = 100 * (i + 1) };
		ck_assert_int_eq(ctl_wq_set_handler(q, 3, i, answer, &w[i]), 0);
		pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
	}
	ck_assert_int_eq(ctl_wq_set_handler(q, CTL_WQ_MAX_KINDS, 0, answer, NULL), -EINVAL);
	struct result r = { 0 };
	uint32_t in = 7;
	ck_assert_int_eq(ctl_wq_broadcast(q, 3, &in, sizeof(in), now_us(), 2000000, done, &r), 0);
	run_until(q, &r, 1);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.complete);
	ck_assert_uint_eq(r.n, N);
	ck_assert_uint_eq(r.v[0], 107);
	ck_assert_uint_eq(r.v[2], 307);

	/* an unknown kind: every worker answers, with nothing */
	struct result e = { 0 };
	ck_assert_int_eq(ctl_wq_broadcast(q, 9, &in, sizeof(in), now_us(), 2000000, done, &e), 0);
	run_until(q, &e, 1);
	ck_assert(e.complete);
	ck_assert_uint_eq(e.len[1], 0);

	/* a stuck worker: the request completes at its deadline with the others' answers */
	w[1].paused = 1;
	struct result t = { 0 };
	uint64_t t0 = now_us();
	ck_assert_int_eq(ctl_wq_broadcast(q, 3, &in, sizeof(in), now_us(), 200000, done, &t), 0);
	run_until(q, &t, 1);
	ck_assert_int_eq(t.calls, 1);
	ck_assert(!t.complete);
	ck_assert_uint_ge(now_us() - t0, 200000);
	ck_assert_uint_eq(t.v[0], 107);
	ck_assert_uint_eq(t.len[1], 0);
	w[1].paused = 0; /* its late reply is dropped without harm */
	struct result a = { 0 };
	ck_assert_int_eq(ctl_wq_broadcast(q, 3, &in, sizeof(in), now_us(), 2000000, done, &a), 0);
	run_until(q, &a, 1);
	ck_assert(a.complete);
	ck_assert_uint_eq(a.v[1], 207);

	char big[CTL_WQ_MSG_MAX + 1];
	ck_assert_int_eq(ctl_wq_broadcast(q, 3, big, sizeof(big), now_us(), 1, done, &a), -EMSGSIZE);
	stop = 1;
	for (unsigned i = 0; i < N; i++)
		pthread_join(w[i].tid, NULL);
	ctl_wq_free(q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wq");
	TCase *tc = tcase_create("wq");
	tcase_add_test(tc, test_broadcast);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
