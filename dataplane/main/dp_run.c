/* SPDX-License-Identifier: MIT */
/*
 * dp_run.c: start-up, the main lcore's control loop and shutdown.
 *
 * Signals are blocked in every thread before EAL creates any, and the main lcore reads them
 * from a signalfd in its loop: no asynchronous handlers, no flag races. SIGINT/SIGTERM stop
 * the workers (an atomic flag they check every turn), then the port closes and EAL is cleaned
 * up; SIGUSR2 logs every worker's counters. The control loop is a placeholder (it only waits
 * for signals, 100 ms at a time) until the control plane lands.
 */
#include "main/dp.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "config/cfg.h"
#include "ctl/daemon.h"
#include "log.h"

static int signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGUSR1); /* control plane: reopen/rotate audit and accounting files */
	return pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void log_stats(const struct dp_rt *rt)
{
	for (uint16_t i = 0; i < rt->n_workers; i++)
		if (rt->lc[i])
			dp_lcore_log_stats(rt->lc[i]);
}

/* The main lcore's loop: the control plane (control/ctl/daemon.h) and signals; returns when
 * asked to stop. */
static void control_loop(struct dp_rt *rt, int sfd, struct ctl_daemon *cd)
{
	for (;;) {
		if (ctl_daemon_poll(cd, sfd, 100) <= 0)
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR2) {
			log_stats(rt);
		} else if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1) {
			ctl_daemon_signal(cd, (int)si.ssi_signo);
		} else {
			log_info("event=shutdown signal=%s", strsignal((int)si.ssi_signo));
			return;
		}
	}
}

static int modules_init(struct dp_rt *rt)
{
	for (uint16_t i = 0; i < rt->n_workers; i++)
		for (size_t m = 0; m < dp_n_modules; m++) {
			int err = 0;
			rt->lc[i]->init_module = dp_modules[m].name;   /* names its poll hooks */
			void *st = dp_modules[m].lcore_init(rt->lc[i], rt->cfg, &err);
			rt->lc[i]->init_module = NULL;
			if (!st && err) {
				log_err("event=startup_failed reason=\"module %s: %s\" lcore=%u",
					dp_modules[m].name, strerror(-err), rt->lc[i]->lcore_id);
				return -1;
			}
			rt->lc[i]->mod_state[m] = st;
		}
	return 0;
}

static void modules_fini(struct dp_rt *rt)
{
	for (uint16_t i = 0; i < rt->n_workers; i++)
		for (size_t m = dp_n_modules; m-- > 0;)
			if (rt->lc[i] && rt->lc[i]->mod_state[m] && dp_modules[m].lcore_fini)
				dp_modules[m].lcore_fini(rt->lc[i], rt->lc[i]->mod_state[m]);
}

static int workers_create(struct dp_rt *rt)
{
	const struct cfg *c = rt->cfg;
	rt->n_workers = (uint16_t)c->dataplane.workers.n;
	for (uint16_t i = 0; i < rt->n_workers; i++) {
		unsigned id = c->dataplane.workers.v[i];
		if (!rte_lcore_is_enabled(id)) {
			log_err("event=startup_failed reason=\"worker lcore %u is not available\"", id);
			return -1;
		}
		if (!(rt->lc[i] = dp_lcore_create(rt, i, id)))
			return -1;
	}
	return 0;
}

static void teardown(struct dp_rt *rt)
{
	modules_fini(rt);
	dp_port_stop(rt);
	for (uint16_t i = 0; i < rt->n_workers; i++) {
		dp_lcore_free(rt->lc[i]);
		rt->lc[i] = NULL;
	}
}

int dp_run(const struct cfg *c)
{
	sigset_t set;
	if (signals_block(&set) != 0) {
		log_err("event=startup_failed reason=\"cannot block signals\"");
		return 1;
	}
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("event=startup_failed reason=\"signalfd: %s\"", strerror(errno));
		return 1;
	}
	struct dp_rt *rt = calloc(1, sizeof(*rt));
	int status = 1;
	if (!rt) {
		log_err("event=startup_failed reason=\"out of memory\"");
		goto out_fd;
	}
	rt->cfg = c;
	atomic_init(&rt->stop, false);
	if (dp_eal_init(c, "dpmaild") < 0)
		goto out_rt;
	struct ctl_daemon *cd = NULL;
	bool dpdk = c->dataplane.backend == CFG_BACKEND_DPDK;
	if (workers_create(rt) < 0 || (dpdk && dp_port_start(rt) < 0) || modules_init(rt) < 0 ||
	    !(cd = ctl_daemon_start(rt)))
		goto out_eal;
	for (uint16_t i = 0; i < rt->n_workers; i++)
		rte_eal_remote_launch(dp_lcore_loop, rt->lc[i], rt->lc[i]->lcore_id);
	log_info("event=started workers=%u backend=%s port=%s", rt->n_workers, dpdk ? "dpdk" : "posix",
		 dpdk ? c->port.device : "-");
	control_loop(rt, sfd, cd);
	atomic_store(&rt->stop, true);
	rte_eal_mp_wait_lcore();
	log_stats(rt);
	ctl_daemon_stop(cd);
	status = 0;
out_eal:
	teardown(rt);
	rte_eal_cleanup();
out_rt:
	free(rt);
out_fd:
	close(sfd);
	if (status == 0)
		log_info("event=stopped");
	return status;
}
