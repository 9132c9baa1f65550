/* SPDX-License-Identifier: MIT */
/* dp_rxintr_test.c: RX interrupt set-up without a TAP (the waits themselves run in
 * tests/integration/net_rxintr.sh on net_tap and net_memif): the port configuration asks for
 * queue interrupts by mode and idle budget; on net_null (no interrupts) auto and off keep the
 * timed sleep and on refuses to start; frames stashed by a wait's re-check are taken by the
 * next turn before its own rx_burst, within the burst size. */
#include <string.h>

#include <rte_dev.h>
#include <rte_ethdev.h>

#include "../net/net_testenv.h"
#include "config/cfg.h"
#include "main/dp.h"

static struct cfg *cfg_mode(const char *dev, const char *mode, unsigned idle_us)
{
	char y[512], err[512];
	snprintf(y, sizeof(y),
		 "eal: {file_prefix: fndunit, memory_mb: 128}\n"
		 "port: {device: %s, ipv4: 198.18.0.2/24}\n"
		 "dataplane: {main_lcore: 1, workers: [0], mbufs: 2047, burst: 8, idle_sleep_us: %u, "
		 "rx_interrupts: %s}\n", dev, idle_us, mode);
	struct cfg *c = cfg_load_string("dp_rxintr_test", y, strlen(y), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

START_TEST(test_port_conf)
{
	static const struct { const char *mode; unsigned idle; int rxq; } cases[] = {
		{ "auto", 100, 1 }, { "on", 100, 1 }, { "off", 100, 0 }, { "auto", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg *c = cfg_mode("x", cases[i].mode, cases[i].idle);
		struct rte_eth_conf conf;
		memset(&conf, 0, sizeof(conf));
		dp_rxintr_port_conf(c, &conf);
		ck_assert_int_eq(conf.intr_conf.rxq, cases[i].rxq);
		cfg_free(c);
	}
}
END_TEST

/* Starts worker 0 on a fresh net_null<n> with rx_interrupts = mode; returns dp_port_start's. */
static int start(struct dp_rt *rt, unsigned n, const char *mode)
{
	char dev[32];
	snprintf(dev, sizeof(dev), "net_null%u", n);
	ck_assert_int_eq(rte_eal_hotplug_add("vdev", dev, ""), 0);
	memset(rt, 0, sizeof(*rt));
	rt->cfg = cfg_mode(dev, mode, 100);
	rt->n_workers = 1;
	rt->lc[0] = dp_lcore_create(rt, 0, 0);
	ck_assert_ptr_nonnull(rt->lc[0]);
	return dp_port_start(rt);
}

static void stop(struct dp_rt *rt)
{
	dp_port_stop(rt);
	dp_lcore_free(rt->lc[0]);
	cfg_free((struct cfg *)rt->cfg);
}

START_TEST(test_null_port_modes)
{
	struct dp_rt *rt = calloc(1, sizeof(*rt));
	/* auto and off: no interrupt source on net_null, the idle turns keep their timed sleep */
	ck_assert_int_eq(start(rt, 1, "auto"), 0);
	ck_assert_ptr_null(rt->lc[0]->rxi);
	ck_assert_ptr_null(rt->lc[0]->idle_wait);
	ck_assert_ptr_null(dp_rxintr_stats(rt->lc[0]));
	ck_assert_int_eq(dp_lcore_add_wakeup_fd(rt->lc[0], 0), -ENOTSUP);
	stop(rt);
	ck_assert_int_eq(start(rt, 2, "off"), 0);
	ck_assert_ptr_null(rt->lc[0]->rxi);
	ck_assert_ptr_null(rt->lc[0]->idle_wait);
	stop(rt);
	/* on: start-up fails (the port is left for dp_port_stop, as dp_run's teardown does) */
	ck_assert_int_eq(start(rt, 3, "on"), -1);
	stop(rt);
	free(rt);
}
END_TEST

START_TEST(test_stash_taken_first)
{
	struct dp_rt *rt = calloc(1, sizeof(*rt));
	ck_assert_int_eq(start(rt, 4, "off"), 0);
	struct dp_lcore *lc = rt->lc[0];
	/* three frames a wait's re-check found: the next turn takes them, then 5 more from the
	 * port (burst 8); net_null's frames and ours are junk, all counted and dropped */
	ck_assert_int_eq(rte_pktmbuf_alloc_bulk(lc->pool, lc->rx_stash, 3), 0);
	for (int i = 0; i < 3; i++)
		memset(rte_pktmbuf_append(lc->rx_stash[i], 64), 0xee, 64);
	lc->n_stash = 3;
	int work = dp_lcore_turn(lc, 1000);
	ck_assert_int_ge(work, 8);
	ck_assert_uint_eq(lc->n_stash, 0);
	ck_assert_uint_eq(lc->nif.cnt.rx_pkts, 8);
	/* frames left in the stash at the end are freed with the context */
	ck_assert_int_eq(rte_pktmbuf_alloc_bulk(lc->pool, lc->rx_stash, 2), 0);
	lc->n_stash = 2;
	unsigned avail = rte_mempool_avail_count(lc->pool);
	ck_assert_uint_lt(avail, 2047);
	stop(rt);
	free(rt);
}
END_TEST

int main(void)
{
	tenv_eal(NULL);
	Suite *s = suite_create("dp_rxintr");
	TCase *tc = tcase_create("dp_rxintr");
	tcase_add_test(tc, test_port_conf);
	tcase_add_test(tc, test_null_port_modes);
	tcase_add_test(tc, test_stash_taken_first);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
