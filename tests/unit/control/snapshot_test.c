/* SPDX-License-Identifier: MIT */
/*
 * snapshot_test.c: configuration publication under urcu-qsbr. The stress case publishes about
 * 1,000 snapshots a second for a few seconds while worker threads read them the way worker
 * lcores do (dereference once per turn, quiescent state at the end, offline around sleeps);
 * every object a reader touches must still be live (canary), versions never go backwards, and
 * every snapshot and every object it owned is released exactly once. Run under ASan by
 * `make test-asan`, which turns any early free into a use-after-free report.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot/snapshot.h"

#define TEST_LIVE   0x7e57c0f1671e5eedull
#define OBJ_LIVE    0x0b1ec7ull

struct cfg {
	uint64_t canary;
	uint64_t seq;
	char payload[48];
};

struct owned {
	uint64_t canary;
	uint64_t seq;
};

static uint64_t cfgs_freed, objs_freed;

static void test_cfg_free(struct cfg *c)
{
	c->canary = 0;
	free(c);
	__atomic_add_fetch(&cfgs_freed, 1, __ATOMIC_RELAXED);
}

static void owned_free(void *o)
{
	struct owned *w = o;
	w->canary = 0;
	free(w);
	__atomic_add_fetch(&objs_freed, 1, __ATOMIC_RELAXED);
}

static struct cfg_snapshot *make_snapshot(uint64_t seq)
{
	struct cfg *c = calloc(1, sizeof(*c));
	c->canary = TEST_LIVE;
	c->seq = seq;
	snprintf(c->payload, sizeof(c->payload), "cfg-%llu", (unsigned long long)seq);
	struct cfg_snapshot *s = cfg_snapshot_new(c, test_cfg_free);
	struct owned *o = malloc(sizeof(*o));
	o->canary = OBJ_LIVE;
	o->seq = seq;
	ck_assert_int_eq(cfg_snapshot_own(s, owned_free, o, "test object"), 0);
	return s;
}

struct reader {
	pthread_t tid;
	struct cfg_pub *pub;
	volatile int *stop;
	uint64_t turns, bad, backwards, max_seen;
	struct owned *probe; /* the last snapshot's owned object, re-found through the snapshot */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	rcu_register_thread();
	uint64_t last = 0;
	while (!__atomic_load_n(r->stop, __ATOMIC_RELAXED)) {
		const struct cfg_snapshot *s = cfg_current(r->pub);
		if (s) {
			if (s->canary != CFG_SNAP_LIVE || s->cfg->canary != TEST_LIVE)
				r->bad++;
			const struct owned *o = s->dtors->obj;
			if (o->canary != OBJ_LIVE || o->seq != s->cfg->seq)
				r->bad++;
			if (strncmp(s->cfg->payload, "cfg-", 4) != 0)
				r->bad++;
			if (s->version < last)
				r->backwards++;
			last = s->version;
		}
		r->turns++;
		rcu_quiescent_state();
		if ((r->turns & 255) == 0) {
			/* What a worker does around a blocking call. */
			rcu_thread_offline();
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
			rcu_thread_online();
		}
	}
	r->max_seen = last;
	rcu_unregister_thread();
	return NULL;
}

START_TEST(test_publish_versions)
{
	struct cfg_pub pub;
	cfg_pub_init(&pub);
	rcu_register_thread();
	cfgs_freed = objs_freed = 0;
	ck_assert_ptr_null(cfg_current(&pub));
	ck_assert_uint_eq(cfg_current_version(&pub), 0);
	ck_assert_uint_eq(cfg_publish(&pub, make_snapshot(1)), 1);
	ck_assert_uint_eq(cfg_publish(&pub, make_snapshot(2)), 2);
	ck_assert_uint_eq(cfg_current_version(&pub), 2);
	ck_assert_uint_eq(cfg_current(&pub)->cfg->seq, 2);
	cfg_pub_fini(&pub);
	ck_assert_uint_eq(cfg_pub_retired(&pub), 2);
	ck_assert_uint_eq(cfgs_freed, 2);
	ck_assert_uint_eq(objs_freed, 2);
	rcu_unregister_thread();
}
END_TEST

static int order[3], norder;
static void record_order(void *o) { order[norder++] = (int)(intptr_t)o; }

START_TEST(test_dtor_chain_order)
{
	struct cfg_snapshot *s = cfg_snapshot_new(NULL, NULL);
	norder = 0;
	cfg_snapshot_own(s, record_order, (void *)(intptr_t)1, "a");
	cfg_snapshot_own(s, record_order, (void *)(intptr_t)2, "b");
	cfg_snapshot_own(s, record_order, (void *)(intptr_t)3, "c");
	cfg_snapshot_free(s);
	ck_assert_int_eq(norder, 3);
	/* Reverse order of registration: objects built later may refer to earlier ones. */
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[2], 1);
	cfg_snapshot_free(NULL);
}
END_TEST

static int built, released;
static void *build_ok(const struct cfg_snapshot *s, char *err, size_t errlen)
{
	built++;
	return s->cfg; /* any non-NULL object */
}
static void *build_none(const struct cfg_snapshot *s, char *err, size_t errlen) { return NULL; }
static void *build_fail(const struct cfg_snapshot *s, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot read /etc/dpmail/key.pem");
	return NULL;
}
static void release_obj(void *o) { released++; }

START_TEST(test_builders)
{
	const struct cfg_builder ok[] = { { "a", build_ok, release_obj }, { "b", build_none, release_obj },
					  { "c", NULL, NULL }, { "d", build_ok, release_obj } };
	struct cfg dummy = { .canary = TEST_LIVE };
	char err[256] = "";
	built = released = 0;
	struct cfg_snapshot *s = cfg_snapshot_new(&dummy, NULL);
	ck_assert_int_eq(cfg_snapshot_build(s, ok, 4, err, sizeof(err)), 0);
	ck_assert_ptr_eq(cfg_snapshot_slot(s, 0), &dummy);
	ck_assert_ptr_null(cfg_snapshot_slot(s, 1));
	ck_assert_ptr_null(cfg_snapshot_slot(s, 2));
	ck_assert_ptr_eq(cfg_snapshot_slot(s, 3), &dummy);
	ck_assert_ptr_null(cfg_snapshot_slot(s, CFG_SNAP_SLOTS));
	cfg_snapshot_free(s);
	ck_assert_int_eq(released, 2);

	const struct cfg_builder bad[] = { { "tls", build_ok, release_obj }, { "dkim", build_fail, release_obj } };
	released = 0;
	s = cfg_snapshot_new(&dummy, NULL);
	ck_assert_int_eq(cfg_snapshot_build(s, bad, 2, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "dkim: cannot read /etc/dpmail/key.pem");
	cfg_snapshot_free(s); /* what was built before the failure is released */
	ck_assert_int_eq(released, 1);
}
END_TEST

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

START_TEST(test_stress_1000_per_second)
{
	enum { NREADERS = 3, SECONDS = 3 };
	struct cfg_pub pub;
	cfg_pub_init(&pub);
	rcu_register_thread();
	cfgs_freed = objs_freed = 0;
	volatile int stop = 0;
	struct reader r[NREADERS];
	memset(r, 0, sizeof(r));
	cfg_publish(&pub, make_snapshot(0));
	for (int i = 0; i < NREADERS; i++) {
		r[i].pub = &pub;
		r[i].stop = &stop;
		ck_assert_int_eq(pthread_create(&r[i].tid, NULL, reader_main, &r[i]), 0);
	}
	uint64_t start = now_ns(), published = 1;
	/* Paced at one publication per millisecond (absolute deadlines, so no drift). */
	for (uint64_t next = start; next < start + SECONDS * 1000000000ull; next += 1000000) {
		cfg_publish(&pub, make_snapshot(published++));
		rcu_thread_offline();
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		rcu_thread_online();
	}
	double secs = (double)(now_ns() - start) / 1e9;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	uint64_t turns = 0;
	for (int i = 0; i < NREADERS; i++) {
		pthread_join(r[i].tid, NULL);
		ck_assert_uint_eq(r[i].bad, 0);
		ck_assert_uint_eq(r[i].backwards, 0);
		ck_assert_uint_gt(r[i].turns, 100);
		turns += r[i].turns;
	}
	cfg_pub_fini(&pub);
	printf("snapshot stress: %llu snapshots in %.2fs (%.0f/s), %d readers, %llu reader turns, "
	       "%llu retired\n", (unsigned long long)published, secs, published / secs, NREADERS,
	       (unsigned long long)turns, (unsigned long long)cfg_pub_retired(&pub));
	ck_assert_uint_ge(published / secs, 900);
	ck_assert_uint_eq(cfg_pub_retired(&pub), published);
	ck_assert_uint_eq(cfgs_freed, published);
	ck_assert_uint_eq(objs_freed, published);
	rcu_unregister_thread();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("publication");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_publish_versions);
	tcase_add_test(tc, test_dtor_chain_order);
	tcase_add_test(tc, test_builders);
	tcase_add_test(tc, test_stress_1000_per_second);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
