/* SPDX-License-Identifier: MIT */
/* dp_test.c: the dataplane runtime without a TAP: EAL arguments built from the config, and a
 * worker context on a net_null port (which receives a burst of junk frames on every call):
 * one loop turn reads the port, drops and counts what is not for us, runs the poll hooks with
 * the turn's time, and flushes TX; the loop ends when the stop flag is set. */
#include <string.h>

#include <rte_ethdev.h>

#include "../net/net_testenv.h"
#include "config/cfg.h"
#include "main/dp.h"

static const char *Y =
	"eal: {vdevs: [\"net_null0\"], file_prefix: fndunit, memory_mb: 128, args: [\"--x\"]}\n"
	"port: {device: net_null0, ipv4: 198.18.0.2/24, gateway: 198.18.0.1}\n"
	"dataplane: {main_lcore: 1, workers: [0], mbufs: 2047, burst: 8}\n";

static struct cfg *cfg_get(void)
{
	char err[512];
	struct cfg *c = cfg_load_string("dp_test", Y, strlen(Y), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

START_TEST(test_eal_args)
{
	struct cfg *c = cfg_get();
	char *argv[64], buf[4096];
	int argc = dp_eal_args(c, "dpmaild", argv, 64, buf, sizeof(buf));
	ck_assert_int_eq(argc, 11);
	const char *want[] = { "dpmaild", "-l1,0", "--main-lcore=1", "--file-prefix=fndunit", "--no-huge",
			       "-m128", "--no-pci", "--no-telemetry", "--log-level=*:warning",
			       "--vdev=net_null0", "--x" };
	for (int i = 0; i < argc; i++)
		ck_assert_str_eq(argv[i], want[i]);
	ck_assert_ptr_null(argv[argc]);
	ck_assert_int_eq(dp_eal_args(c, "dpmaild", argv, 5, buf, sizeof(buf)), -1);
	ck_assert_int_eq(dp_eal_args(c, "dpmaild", argv, 64, buf, 40), -1);
	cfg_free(c);
	/* an explicit lcore map replaces -l */
	const char *y2 = "eal: {lcores: \"0@0,1@1,2@1\"}\nport: {device: x, ipv4: 10.0.0.1/8}\n"
			 "dataplane: {workers: [1, 2]}\n";
	char err[256];
	c = cfg_load_string("t", y2, strlen(y2), err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	argc = dp_eal_args(c, "dpmaild", argv, 64, buf, sizeof(buf));
	ck_assert_str_eq(argv[1], "--lcores=0@0,1@1,2@1");
	for (int i = 2; i < argc; i++)
		ck_assert(strncmp(argv[i], "-l", 2) != 0 || strncmp(argv[i], "--", 2) == 0);
	cfg_free(c);
}
END_TEST

struct hook { int calls; uint64_t last_now; };
static int hook_fn(void *ctx, uint64_t now)
{
	struct hook *h = ctx;
	h->calls++;
	h->last_now = now;
	return 0;
}

START_TEST(test_turn_on_null_port)
{
	struct cfg *c = cfg_get();
	struct dp_rt *rt = calloc(1, sizeof(*rt));
	rt->cfg = c;
	rt->n_workers = 1;
	rt->lc[0] = dp_lcore_create(rt, 0, 0);
	ck_assert_ptr_nonnull(rt->lc[0]);
	ck_assert_uint_eq((uintptr_t)rt->lc[0] % RTE_CACHE_LINE_SIZE, 0);
	ck_assert_int_eq(dp_port_start(rt), 0);
	struct dp_lcore *lc = rt->lc[0];
	ck_assert_uint_eq(lc->nif.ip, tenv_ip("198.18.0.2"));
	ck_assert_uint_eq(lc->nif.gateway, tenv_ip("198.18.0.1"));
	struct hook h = { 0, 0 };
	ck_assert_int_eq(dp_lcore_add_poll(lc, hook_fn, &h), 0);
	for (int i = 0; i < 10; i++) {
		int work = dp_lcore_turn(lc, 5000000 + (uint64_t)i);
		ck_assert_int_ge(work, 8);         /* net_null always delivers a full burst */
	}
	ck_assert_int_eq(h.calls, 10);
	ck_assert_uint_eq(h.last_now, 5000009);
	ck_assert_uint_eq(lc->nif.now_us, 5000009);
	ck_assert_uint_eq(lc->nif.cnt.rx_pkts, 80);
	ck_assert_uint_eq(net_drops_total(&lc->nif.cnt), 80);  /* junk: every frame dropped */
	for (int i = 1; i < DP_POLL_MAX; i++)
		ck_assert_int_eq(dp_lcore_add_poll(lc, hook_fn, &h), 0);
	ck_assert_int_eq(dp_lcore_add_poll(lc, hook_fn, &h), -ENOSPC);
	/* the loop returns once stop is set (checked before every turn) */
	atomic_store(&rt->stop, true);
	ck_assert_int_eq(dp_lcore_loop(lc), 0);
	dp_port_stop(rt);
	dp_lcore_free(lc);
	free(rt);
	cfg_free(c);
}
END_TEST

int main(void)
{
	tenv_eal("--vdev=net_null0");
	Suite *s = suite_create("dp");
	TCase *tc = tcase_create("dp");
	tcase_add_test(tc, test_eal_args);
	tcase_add_test(tc, test_turn_on_null_port);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
