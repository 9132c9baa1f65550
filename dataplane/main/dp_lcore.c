/* SPDX-License-Identifier: MIT */
/*
 * dp_lcore.c: the worker lcore: its context and the run-to-completion loop. One turn:
 *   read the clock once -> rx_burst -> net input (eth/arp/ip/icmp/L4 handlers)
 *   -> net timers -> modules' poll hooks -> one tx_burst of everything queued.
 * A turn that found no work sleeps idle_sleep_us (if set) so a shared machine keeps its CPU; a
 * module with its own event source (the posix backend's epoll, the RX interrupt wait) may wait
 * on it instead, which ends the wait as soon as work arrives. How long a wait may last is one
 * rule for all of them (dp_lcore_idle, struct dp_idle): idle_sleep_us, doubling up to
 * idle_max_wait_us over a long idle stretch when an event can end the wait.
 */
#include "main/dp.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring_elem.h>

#include "config/cfg.h"
#include "log.h"
#include "metrics/stats-t.h"
#include "net/arp.h"
#include "net/net.h"
#include "snapshot/snapshot.h"

uint64_t dp_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Names of enum dp_busy_src, in order: the stats line's busy_by= keys and the metrics
 * loop_busy_<name>_turns_total. */
static const char *const busy_names[DP_BUSY_N] = {
	"rx", "net", "tx", "sock", "smtp", "delivery", "spool", "runnable",
};
#define BUSY_FIELD(name, src) { "loop_busy_" name "_turns_total", \
	"Worker loop turns in which " name " reported work.", CTL_STAT_COUNTER, \
	offsetof(struct dp_lcore, busy) + (src) * sizeof(uint64_t) }
static const struct ctl_stat_field busy_fields[DP_BUSY_N] = {
	BUSY_FIELD("rx", DP_BUSY_RX), BUSY_FIELD("net", DP_BUSY_NET), BUSY_FIELD("tx", DP_BUSY_TX),
	BUSY_FIELD("sock", DP_BUSY_SOCK), BUSY_FIELD("smtp", DP_BUSY_SMTP),
	BUSY_FIELD("delivery", DP_BUSY_DELIVERY), BUSY_FIELD("spool", DP_BUSY_SPOOL),
	BUSY_FIELD("runnable", DP_BUSY_RUNNABLE),
};

struct dp_lcore *dp_lcore_create(struct dp_rt *rt, uint16_t idx, unsigned lcore_id)
{
	const struct cfg *c = rt->cfg;
	unsigned socket = rte_lcore_to_socket_id(lcore_id);
	struct dp_lcore *lc = rte_zmalloc_socket("dp_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE, (int)socket);
	if (!lc) {
		log_err("event=startup_failed reason=\"no memory for lcore %u context\"", lcore_id);
		return NULL;
	}
	lc->lcore_id = lcore_id;
	lc->socket_id = socket;
	lc->index = idx;
	lc->burst = (uint16_t)RTE_MIN(c->dataplane.burst, (uint32_t)DP_BURST_MAX);
	lc->idle_sleep_us = c->dataplane.idle_sleep_us;
	lc->idle.max_us = c->dataplane.idle_max_wait_us;
	lc->has_port = c->dataplane.backend == CFG_BACKEND_DPDK;
	lc->stop = &rt->stop;
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "dp_pool_%u", lcore_id);
	/* Receive buffers hold a whole frame of the port's MTU (net_rx takes single mbufs). */
	uint32_t room = RTE_PKTMBUF_HEADROOM + c->port.mtu + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN;
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE)
		room = RTE_MBUF_DEFAULT_BUF_SIZE;
	lc->pool = rte_pktmbuf_pool_create(name, c->dataplane.mbufs, c->dataplane.mbuf_cache, 0,
					   (uint16_t)room, (int)socket);
	if (!lc->pool) {
		log_err("event=startup_failed reason=\"cannot create mbuf pool of %u mbufs for lcore %u: %s "
			"(raise eal.memory_mb or lower dataplane.mbufs)\"",
			c->dataplane.mbufs, lcore_id, rte_strerror(rte_errno));
		rte_free(lc);
		return NULL;
	}
	snprintf(name, sizeof(name), "dp_neigh_%u", lcore_id);
	lc->neigh = rte_ring_create_elem(name, sizeof(struct arp_neigh_msg), 256, (int)socket,
					 RING_F_SC_DEQ);
	if (!lc->neigh) {
		log_err("event=startup_failed reason=\"cannot create neighbour ring for lcore %u: %s\"",
			lcore_id, rte_strerror(rte_errno));
		rte_mempool_free(lc->pool);
		rte_free(lc);
		return NULL;
	}
	dp_lcore_add_stats(lc, busy_fields, DP_BUSY_N, lc);
	return lc;
}

void dp_lcore_free(struct dp_lcore *lc)
{
	if (!lc)
		return;
	dp_rxintr_free(lc);
	if (lc->n_stash)
		rte_pktmbuf_free_bulk(lc->rx_stash, lc->n_stash);
	net_if_fini(&lc->nif);
	rte_ring_free(lc->neigh);
	rte_mempool_free(lc->pool);
	rte_free(lc);
}

int dp_lcore_add_poll(struct dp_lcore *lc, dp_poll_fn fn, void *ctx)
{
	if (lc->n_poll == DP_POLL_MAX)
		return -ENOSPC;
	/* hooks added outside a module's lcore_init: the control plane's (control/ctl/daemon.c) */
	lc->poll[lc->n_poll++] = (struct dp_poll){ fn, ctx, lc->init_module ? lc->init_module
									       : "control", 0 };
	return 0;
}

void dp_lcore_set_idle_wait(struct dp_lcore *lc, dp_idle_fn fn, void *ctx)
{
	lc->idle_wait = fn;
	lc->idle_ctx = ctx;
}

int dp_lcore_turn(struct dp_lcore *lc, uint64_t now_us)
{
	struct net_if *nif = &lc->nif;
	struct rte_mbuf *pkts[DP_BURST_MAX];
	nif->now_us = now_us;
	lc->turns++;
	int work = 0;
	/* The whole turn's log lines leave in one write at its end: frames received here run
	 * TCP, TLS and SMTP up to delivery outcomes (a line per message) before any hook runs. */
	log_batch_begin();
	if (lc->has_port) {
		uint16_t n = 0;
		if (unlikely(lc->n_stash)) {   /* taken by the RX interrupt wait's re-check */
			n = lc->n_stash;
			memcpy(pkts, lc->rx_stash, n * sizeof(pkts[0]));
			lc->n_stash = 0;
		}
		n += rte_eth_rx_burst(nif->port_id, nif->queue_id, pkts + n, (uint16_t)(lc->burst - n));
		net_rx(nif, pkts, n);
		work += dp_lcore_busy(lc, DP_BUSY_RX, n);
		work += dp_lcore_busy(lc, DP_BUSY_NET, net_poll(nif));
	}
	for (unsigned i = 0; i < lc->n_poll; i++) {
		int n = lc->poll[i].fn(lc->poll[i].ctx, now_us);
		if (n > 0) {
			lc->poll[i].busy++;
			work += n;
		}
	}
	if (lc->has_port)
		work += dp_lcore_busy(lc, DP_BUSY_TX, net_tx_flush(nif));
	log_batch_end();
	return work;
}

/* The budget of the next idle wait: idle_sleep_us, doubled per wait that ran out after
 * DP_IDLE_DEEP_AFTER of them in a row with no work between (lc->turns counts every turn: a gap
 * since the last wait means a busy turn), up to max_us; a plain sleep never deepens (nothing
 * would end it early when work arrives). */
static uint32_t idle_budget(struct dp_lcore *lc)
{
	struct dp_idle *d = &lc->idle;
	if (lc->turns != d->last_turn + 1)
		d->streak = 0;
	d->last_turn = lc->turns;
	if (!lc->idle_wait || d->streak < DP_IDLE_DEEP_AFTER || d->max_us <= lc->idle_sleep_us)
		d->cur_us = lc->idle_sleep_us;
	else if (d->cur_us < d->max_us)
		d->cur_us = RTE_MIN(d->cur_us * 2, d->max_us);
	return d->cur_us;
}

int dp_lcore_idle(struct dp_lcore *lc)
{
	uint32_t us = idle_budget(lc);
	int ev = 0;
	if (lc->idle_wait)
		ev = lc->idle_wait(lc->idle_ctx, us);
	else
		rte_delay_us_sleep(us);
	if (ev > 0)
		lc->idle.streak = 0;
	else
		lc->idle.streak++;
	return ev;
}

/* Counts an idle stretch that ended at now_us (a busy turn after idle ones) by its length. */
static void idle_gap(struct dp_idle *d, uint64_t now_us)
{
	uint64_t gap = now_us - d->since_us;
	unsigned b = 0;
	while (b < DP_IDLE_GAP_BUCKETS - 1 && gap >= (16u << b))
		b++;
	d->gaps[b]++;
	d->since_us = 0;
}

int dp_lcore_loop(void *arg)
{
	struct dp_lcore *lc = arg;
	lc->nif.now_us = dp_now_us();
	/* Announce our address once per port (the first worker), so neighbours learn our MAC. */
	if (lc->index == 0 && lc->has_port)
		arp_announce(&lc->nif);
	log_info("event=worker_start lcore=%u queue=%u idle_sleep_us=%u", lc->lcore_id, lc->index,
		 lc->idle_sleep_us);
	rcu_register_thread(); /* a QSBR reader of configuration snapshots */
	while (!atomic_load_explicit(lc->stop, memory_order_relaxed)) {
		lc->snap = lc->pub ? cfg_current(lc->pub) : NULL;
		uint64_t now = dp_now_us();
		int work = dp_lcore_turn(lc, now);
		lc->snap = NULL;
		rcu_quiescent_state();
		if (work == 0) {
			lc->idle_turns++;
			if (!lc->idle.since_us)
				lc->idle.since_us = now;
			if (lc->idle_sleep_us) {
				rcu_thread_offline(); /* never hold a grace period across a sleep */
				dp_lcore_idle(lc);
				rcu_thread_online();
			}
		} else if (lc->idle.since_us) {
			idle_gap(&lc->idle, now);
		}
	}
	rcu_unregister_thread();
	return 0;
}

/* "rx:N,...,runnable:N busy_hooks=tcp:N,mta:N,control:N": the busy-turn attribution for the
 * stats line, by source and by poll hook (a hook's sources are counted inside it too). */
static void busy_format(const struct dp_lcore *lc, char *buf, size_t cap)
{
	size_t off = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < DP_BUSY_N + lc->n_poll; i++) {
		const char *sep = i == DP_BUSY_N ? " busy_hooks=" : i ? "," : "";
		const char *name = i < DP_BUSY_N ? busy_names[i] : lc->poll[i - DP_BUSY_N].name;
		uint64_t v = i < DP_BUSY_N ? lc->busy[i] : lc->poll[i - DP_BUSY_N].busy;
		int n = snprintf(buf + off, cap - off, "%s%s:%" PRIu64, sep, name, v);
		if (n < 0 || (size_t)n >= cap - off)
			break;
		off += (size_t)n;
	}
}

void dp_lcore_log_stats(const struct dp_lcore *lc)
{
	char busy[512];
	busy_format(lc, busy, sizeof(busy));
	char line[2048];
	net_counters_format(&lc->nif.cnt, line, sizeof(line));
	const struct dp_rxintr_stats *ri = dp_rxintr_stats(lc);
	char rx[256] = "";
	if (ri)
		snprintf(rx, sizeof(rx), " rx_intr_waits=%" PRIu64 " rx_intr_wakeups=%" PRIu64
			 " rx_intr_timeouts=%" PRIu64 " rx_intr_rechecks=%" PRIu64 " rx_intr_arm_failed=%"
			 PRIu64 " rx_intr_backoffs=%" PRIu64, ri->waits, ri->wakeups, ri->timeouts,
			 ri->rechecks, ri->arm_failed, ri->backoffs);
	const uint64_t *g = lc->idle.gaps;
	log_info("event=stats lcore=%u queue=%u turns=%" PRIu64 " idle_turns=%" PRIu64
		 " idle_gaps_us=<16:%" PRIu64 ",<32:%" PRIu64 ",<64:%" PRIu64 ",<128:%" PRIu64
		 ",<256:%" PRIu64 ",<512:%" PRIu64 ",<1024:%" PRIu64 ",more:%" PRIu64 " busy_by=%s%s %s",
		 lc->lcore_id, lc->index, lc->turns, lc->idle_turns, g[0], g[1], g[2], g[3], g[4], g[5],
		 g[6], g[7], busy, rx, line);
}

void *dp_lcore_module_state(const struct dp_lcore *lc, const char *name)
{
	for (size_t m = 0; m < dp_n_modules; m++)
		if (strcmp(dp_modules[m].name, name) == 0)
			return lc->mod_state[m];
	return NULL;
}

int dp_lcore_add_stats(struct dp_lcore *lc, const struct ctl_stat_field *fields, size_t n,
		       const void *base)
{
	if (lc->n_stats == DP_STATS_MAX)
		return -ENOSPC;
	lc->stats[lc->n_stats++] = (struct dp_stat_block){ fields, n, base };
	return 0;
}
