/* SPDX-License-Identifier: MIT */
/* dp_idle_test.c: the loop's one idle policy (dp_lcore_idle, struct dp_idle) with a scripted
 * idle wait and no port or clock: the budget is idle_sleep_us until 16 waits in a row ran out,
 * then doubles up to idle_max_wait_us; an event or a busy turn resets it; a plain sleep never
 * deepens. */
#include <stdlib.h>

#include "../net/net_testenv.h"
#include "main/dp.h"

struct script {
	uint32_t last_us;   /* the budget of the last wait */
	int result;         /* what the next wait returns */
	unsigned calls;
};

static int wait_fn(void *ctx, uint32_t max_us)
{
	struct script *sc = ctx;
	sc->last_us = max_us;
	sc->calls++;
	return sc->result;
}

static struct dp_lcore *lc_new(struct script *sc)
{
	struct dp_lcore *lc = calloc(1, sizeof(*lc));
	lc->idle_sleep_us = 100;
	lc->burst = 32;
	lc->idle.max_us = 2000;
	dp_lcore_set_idle_wait(lc, wait_fn, sc);
	return lc;
}

/* n idle turns in a row (each a turn of the loop followed by its wait) */
static void idle_turns(struct dp_lcore *lc, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		lc->turns++;
		dp_lcore_idle(lc);
	}
}

/* a busy period of `turns` turns */
static void busy(struct dp_lcore *lc, unsigned turns)
{
	lc->turns += turns;
}

START_TEST(test_deepening)
{
	struct script sc = { 0 };
	struct dp_lcore *lc = lc_new(&sc);
	idle_turns(lc, 16);
	ck_assert_uint_eq(sc.last_us, 100);           /* 16 waits at the loop's budget */
	idle_turns(lc, 1);
	ck_assert_uint_eq(sc.last_us, 200);           /* then doubling */
	idle_turns(lc, 3);
	ck_assert_uint_eq(sc.last_us, 1600);
	idle_turns(lc, 5);
	ck_assert_uint_eq(sc.last_us, 2000);          /* capped */
	sc.result = 1;                                /* an event ends a wait: back to the base */
	idle_turns(lc, 1);
	sc.result = 0;
	idle_turns(lc, 1);
	ck_assert_uint_eq(sc.last_us, 100);
	idle_turns(lc, 20);
	ck_assert_uint_eq(sc.last_us, 2000);
	busy(lc, 1);                               /* so does a busy turn */
	idle_turns(lc, 1);
	ck_assert_uint_eq(sc.last_us, 100);
	free(lc);
}
END_TEST

START_TEST(test_plain_sleep_never_deepens)
{
	struct script sc = { 0 };
	struct dp_lcore *lc = lc_new(&sc);
	dp_lcore_set_idle_wait(lc, NULL, NULL);
	lc->idle_sleep_us = 1;                        /* really sleeps: keep it short */
	idle_turns(lc, 40);
	ck_assert_uint_eq(lc->idle.cur_us, 1);
	ck_assert_uint_eq(lc->idle.streak, 40);
	free(lc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dp_idle");
	TCase *tc = tcase_create("dp_idle");
	tcase_add_test(tc, test_deepening);
	tcase_add_test(tc, test_plain_sleep_never_deepens);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
