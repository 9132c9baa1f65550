/* SPDX-License-Identifier: MIT */
/*
 * bench_tcp_io.c: the two transports of `dpmail-bench tcp` (bench_tcp.h). The DPDK one is a
 * one-lcore dpmaild without the relay: EAL and the port from a dpmaild-style YAML file, one
 * lcore context (dataplane/main), our TCP module on it (net/tcp_lcore), and the same loop turn
 * dpmaild's workers run (rx burst, net input, TCP poll, tx flush), driven from the main lcore
 * so no thread spins waiting for another. The posix one is the sock backend on the kernel.
 */
#include "bench_tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "log.h"
#include "main/dp.h"
#include "net/arp.h"
#include "net/tcp_lcore.h"
#include "sock/sock.h"

/* ---- DPDK: our stack ----------------------------------------------------------------------- */

struct io_dpdk {
	struct cfg *cfg;
	struct dp_rt rt;
	struct dp_lcore *lc;
	void *tcp;                 /* the tcp module's state on lc */
	size_t tcp_idx;            /* its index in dp_modules[] */
	bool announced;
};

static int dpdk_poll(void *ctx, uint64_t now_us, int wait_ms)
{
	struct io_dpdk *d = ctx;
	(void)wait_ms; /* a polling backend never blocks */
	if (!d->announced) {
		d->lc->nif.now_us = now_us;
		arp_announce(&d->lc->nif);
		d->announced = true;
	}
	return dp_lcore_turn(d->lc, now_us);
}

/* The lcore's own idle policy (dp_lcore_idle: the RX interrupt wait when the port has one,
 * else a timed sleep; idle_sleep_us deepening over a long idle stretch), as dpmaild's loop. */
static void dpdk_idle(void *ctx, uint32_t max_us)
{
	struct io_dpdk *d = ctx;
	(void)max_us;
	dp_lcore_idle(d->lc);
}

void bench_tcp_io_idle(const struct bench_tcp_io *io)
{
	if (!io->idle_sleep_us)
		return;
	if (io->idle) {
		io->idle(io->ctx, io->idle_sleep_us);
		return;
	}
	struct timespec ts = { 0, (long)io->idle_sleep_us * 1000 };
	nanosleep(&ts, NULL);
}

static void dpdk_fini(void *ctx)
{
	struct io_dpdk *d = ctx;
	if (d->tcp)
		tcp_lcore_fini(d->lc, d->tcp);
	dp_port_stop(&d->rt);
	dp_lcore_free(d->lc);
	rte_eal_cleanup();
	cfg_free(d->cfg);
	free(d);
}

/* Starts the port and our TCP module on the main lcore; 0 or -1 (logged). */
static int dpdk_start(struct io_dpdk *d)
{
	d->rt.cfg = d->cfg;
	d->rt.n_workers = 1;
	atomic_init(&d->rt.stop, false);
	if (!(d->lc = dp_lcore_create(&d->rt, 0, rte_get_main_lcore())))
		return -1;
	d->rt.lc[0] = d->lc;
	if (dp_port_start(&d->rt) < 0)
		return -1;
	for (d->tcp_idx = 0; d->tcp_idx < dp_n_modules; d->tcp_idx++)
		if (strcmp(dp_modules[d->tcp_idx].name, "tcp") == 0)
			break;
	int e = 0;
	if (d->tcp_idx == dp_n_modules || !(d->tcp = tcp_lcore_init(d->lc, d->cfg, &e))) {
		log_err("event=startup_failed reason=\"tcp module: %s\"", strerror(e ? -e : ENOENT));
		return -1;
	}
	d->lc->mod_state[d->tcp_idx] = d->tcp; /* so tcp_lcore_net() finds it */
	/* a memif link comes up once the client reached the server's socket (the peer may still
	 * be starting, e.g. a dpmaild client retrying its start on a loaded machine): wait (15 s) */
	if (dp_port_link_up_within(d->rt.port_id, 15000))
		return 0;
	log_err("event=startup_failed reason=\"link of %s is down\"", d->cfg->port.device);
	return -1;
}

int bench_tcp_io_dpdk(struct bench_tcp_io *io, const char *path, char *err, size_t errlen)
{
	struct io_dpdk *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!(d->cfg = cfg_load(path, err, errlen)))
		goto err_free;
	log_set_level((enum log_level)d->cfg->log.level);
	if (d->cfg->dataplane.backend != CFG_BACKEND_DPDK) {
		snprintf(err, errlen, "%s: dataplane.backend must be dpdk", path);
		goto err_cfg;
	}
	/* one lcore: the main one runs the loop (no worker thread spinning beside it) */
	d->cfg->dataplane.workers.n = 0;
	if (dp_eal_init(d->cfg, "dpmail-bench") < 0) {
		snprintf(err, errlen, "EAL init failed (see the log)");
		goto err_cfg;
	}
	if (dpdk_start(d) < 0) {
		snprintf(err, errlen, "DPDK start-up failed (see the log)");
		dpdk_fini(d);
		return -1;
	}
	*io = (struct bench_tcp_io){
		.net = tcp_lcore_net(d->lc), .poll = dpdk_poll, .fini = dpdk_fini, .ctx = d,
		.idle_sleep_us = d->cfg->dataplane.idle_sleep_us,
		.idle = dpdk_idle,
		.laddr = d->cfg->port.ipv4.ip.u.v4, .name = "dpdk",
	};
	return 0;
err_cfg:
	cfg_free(d->cfg);
err_free:
	free(d);
	return -1;
}

/* ---- posix: kernel sockets ----------------------------------------------------------------- */

struct io_posix {
	struct sock_net *sock;
	struct conn_net net;
};

static int posix_poll(void *ctx, uint64_t now_us, int wait_ms)
{
	struct io_posix *p = ctx;
	int n = sock_net_poll(p->sock, now_us, wait_ms);
	return n > 0 ? n : 0;
}

static void posix_fini(void *ctx)
{
	struct io_posix *p = ctx;
	sock_net_free(p->sock);
	free(p);
}

int bench_tcp_io_posix(struct bench_tcp_io *io, uint32_t max_conns, char *err, size_t errlen)
{
	struct sock_tunables t;
	int e = 0;
	struct io_posix *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sock_tunables_defaults(&t);
	if (max_conns > t.max_conns)
		t.max_conns = max_conns;
	if (!(p->sock = sock_net_create(&t, &e))) {
		snprintf(err, errlen, "sock backend: %s", strerror(-e));
		free(p);
		return -1;
	}
	p->net = sock_net_conn_net(p->sock);
	*io = (struct bench_tcp_io){
		.net = &p->net, .poll = posix_poll, .fini = posix_fini, .ctx = p, .name = "posix",
	};
	return 0;
}
