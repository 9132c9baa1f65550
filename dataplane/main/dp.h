/* SPDX-License-Identifier: MIT */
/*
 * dp.h: the dataplane runtime: EAL start-up from the configuration, the port, worker lcore
 * contexts and their run-to-completion loop, the main lcore's control loop and signals.
 *
 * Start-up order (dp_run): EAL -> per-worker contexts and mbuf pools -> port (one RX/TX queue
 * pair per worker) -> net_if per worker -> modules' lcore_init -> launch workers -> control
 * loop on the main lcore until SIGINT/SIGTERM -> stop workers -> modules' lcore_fini -> port
 * stop/close -> EAL cleanup.
 */
#ifndef DPMAIL_DP_H
#define DPMAIL_DP_H

#include <stddef.h>
#include <stdint.h>

#include "main/dp-t.h"

struct cfg;
struct rte_eth_conf;
struct rte_eth_dev_info;

/* The modules plugged into every worker (dp_modules.c); add a line there to plug one in. */
extern const struct dp_module dp_modules[];
extern const size_t dp_n_modules;

/*
 * Run dpmaild on configuration c until SIGINT/SIGTERM. Returns the process exit status: 0 after
 * an orderly stop, 1 if start-up failed (one line naming the cause was logged).
 * Blocks SIGINT, SIGTERM, SIGHUP and SIGUSR2 in every thread; the main lcore takes them from a
 * signalfd. SIGUSR2 logs every worker's counters (event=stats ...).
 */
int dp_run(const struct cfg *c);

/* Build the EAL argument vector for c into argv (at most max entries, strings in buf).
 * Returns argc, or -1 if it does not fit. Exposed for tests. */
int dp_eal_args(const struct cfg *c, const char *prog, char **argv, int max, char *buf, size_t buflen);

/* Start EAL for c. Returns 0 or -1 (logged). */
int dp_eal_init(const struct cfg *c, const char *prog);

/* Configure and start the port of c with one queue pair per worker of rt. 0 or -1 (logged). */
int dp_port_start(struct dp_rt *rt);
/* Polls port_id's link every 10 ms for up to ms milliseconds (start-up only: it sleeps); true
 * once it is up. */
bool dp_port_link_up_within(uint16_t port_id, int ms);
void dp_port_stop(struct dp_rt *rt);

/* Allocate worker index idx on lcore lcore_id: context and mbuf pool. NULL on failure (logged). */
struct dp_lcore *dp_lcore_create(struct dp_rt *rt, uint16_t idx, unsigned lcore_id);
void dp_lcore_free(struct dp_lcore *lc);

/* Register fn to run once per loop turn on lc (before the TX flush). 0, or -ENOSPC. */
int dp_lcore_add_poll(struct dp_lcore *lc, dp_poll_fn fn, void *ctx);

/* Idle turns call fn(ctx, budget) instead of sleeping (see dp_idle_fn; the budget is
 * idle_sleep_us, deepened by struct dp_idle's rule); one per lcore, from lcore_init. Without
 * idle_sleep_us (busy polling) it is never called. */
void dp_lcore_set_idle_wait(struct dp_lcore *lc, dp_idle_fn fn, void *ctx);

/* One idle wait of lc by its policy (struct dp_idle): the idle_wait hook or a timed sleep, for
 * the budget the policy gives. dp_lcore_loop calls it after a turn without work (outside the
 * snapshot); loops that drive dp_lcore_turn themselves (dpmail-bench) call it likewise.
 * Returns the wait's result (> 0: ended by an event). */
int dp_lcore_idle(struct dp_lcore *lc);

/*
 * RX queue interrupts (dp_rxintr.c). dp_rxintr_port_conf sets conf->intr_conf for c
 * (dataplane.rx_interrupts, idle_sleep_us); dp_rxintr_start, after the port started, gives
 * every worker an idle wait on its queue's interrupt (dp_lcore_set_idle_wait) when the PMD has
 * one: 0, or -1 (logged) when rx_interrupts is on and the PMD has none.
 */
void dp_rxintr_port_conf(const struct cfg *c, struct rte_eth_conf *conf);
int dp_rxintr_start(struct dp_rt *rt, const struct rte_eth_dev_info *info);
/* The idle wait itself (ctx is the struct dp_lcore, whose idle.streak says how long the
 * worker has been idle); installed as lc's idle_wait (dp_lcore_idle calls it). */
int dp_rxintr_wait(void *ctx, uint32_t max_us);
void dp_rxintr_free(struct dp_lcore *lc);
/* lc's interrupt counters, or NULL when its idle turns sleep. */
const struct dp_rxintr_stats *dp_rxintr_stats(const struct dp_lcore *lc);

/*
 * Adds fd (edge-triggered EPOLLIN) to lc's RX interrupt wait so that it ends when fd becomes
 * readable, e.g. the spool's io_uring with completions to reap. Nothing is read from fd: the
 * caller reaps in its own poll hook, keeps ownership and must not close fd before lc's wait is
 * freed (at dp_lcore_free). Call from lcore_init. 0; -ENOTSUP when lc has no interrupt wait
 * (its idle turns sleep a fixed time, which bounds the delay); -errno.
 */
int dp_lcore_add_wakeup_fd(struct dp_lcore *lc, int fd);

/* Work of source src in this turn (see enum dp_busy_src): counts the turn under src when n > 0.
 * Returns n (>= 0; a negative n is returned as 0). */
static inline int dp_lcore_busy(struct dp_lcore *lc, enum dp_busy_src src, int n)
{
	if (n <= 0)
		return 0;
	lc->busy[src]++;
	return n;
}

/* Export a module's per-lcore counter struct: fields give names and offsets from base (a struct
 * the module owns and updates on its lcore). The control plane publishes them in `stats` and
 * the metrics endpoint. Call from lcore_init. 0 or -ENOSPC. */
int dp_lcore_add_stats(struct dp_lcore *lc, const struct ctl_stat_field *fields, size_t n,
		       const void *base);
/* The state of the module called `name` on lc (modules initialised before the caller), or
 * NULL when that module is not plugged in or chose to stay inactive. */
void *dp_lcore_module_state(const struct dp_lcore *lc, const char *name);
/* The worker loop (rte_eal_remote_launch entry; arg is the struct dp_lcore). Returns 0. */
int dp_lcore_loop(void *arg);

/* One loop turn at now_us (what dp_lcore_loop repeats). Returns the work done (0: idle). */
int dp_lcore_turn(struct dp_lcore *lc, uint64_t now_us);

/* Monotonic microseconds (the only clock read of the dataplane, once per turn). */
uint64_t dp_now_us(void);

/* Log lc's counters as one line: "event=stats lcore=N turns=.. rx=.. ... drop_x=..". */
void dp_lcore_log_stats(const struct dp_lcore *lc);

#endif
