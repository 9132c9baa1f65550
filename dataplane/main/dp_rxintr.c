/* SPDX-License-Identifier: MIT */
/*
 * dp_rxintr.c: idle turns of a DPDK worker wait for its RX queue's interrupt instead of
 * sleeping (l3fwd-power's scheme). Each worker owns an epoll set holding
 * its queue's interrupt descriptor (level-triggered) and any wake-up descriptors of modules
 * (edge-triggered, e.g. the spool's io_uring). The first ARM_AFTER idle turns after work keep
 * the timed sleep (a conversation's short gaps batch better that way); then each idle turn:
 * arm the queue interrupt -> re-check
 * the queue with one rx_burst (a frame that arrived before the interrupt was armed raised no
 * event; what it finds is stashed for the next turn) -> epoll_pwait2 for at most idle_sleep_us
 * (the loop's idle budget: idle_sleep_us, deepened by dp_lcore_idle over a long idle stretch,
 * so timers keep their granularity) -> disarm, so a busy worker costs the PMD nothing extra.
 *
 * Interrupt sources: the ethdev API (rte_eth_dev_rx_intr_enable/disable and the queue's event
 * descriptor from rte_eth_dev_rx_intr_ctl_q_get_fd) for PMDs that implement it (net_tap, NICs);
 * net_memif has none in DPDK 22.11, see dp_memif_intr.c. intr_conf.rxq is requested when the
 * port is configured unless rx_interrupts is off; a PMD without support simply gives no event
 * descriptor and the worker keeps the timed sleep (auto) or start-up fails (on).
 */
#include "main/dp.h"
#include "main/dp_rxintr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "config/cfg.h"
#include "log.h"
#include "metrics/stats.h"

#define RS(f) offsetof(struct dp_rxintr_stats, f)
static const struct ctl_stat_field rxi_fields[] = {
	{ "dp_rx_intr_waits_total", "Idle turns that blocked on the RX queue interrupt.",
	  CTL_STAT_COUNTER, RS(waits) },
	{ "dp_rx_intr_wakeups_total", "Interrupt waits ended by an event (frame or wake-up fd).",
	  CTL_STAT_COUNTER, RS(wakeups) },
	{ "dp_rx_intr_timeouts_total", "Interrupt waits that ran out their idle budget.",
	  CTL_STAT_COUNTER, RS(timeouts) },
	{ "dp_rx_intr_rechecks_total", "Waits skipped: the re-check after arming found frames.",
	  CTL_STAT_COUNTER, RS(rechecks) },
	{ "dp_rx_intr_backoffs_total", "Idle turns that slept the timed back-off (recently busy).",
	  CTL_STAT_COUNTER, RS(backoffs) },
};
#undef RS

/* ---- the ethdev API ------------------------------------------------------------------------ */

static int pmd_arm(struct dp_rxintr *ri)
{
	int rc = rte_eth_dev_rx_intr_enable(ri->port_id, ri->queue_id);
	/* PMDs whose event descriptor needs no arming (net_tap: the queue's own fd) say ENOTSUP */
	return rc == -ENOTSUP ? 0 : rc;
}

static void pmd_disarm(struct dp_rxintr *ri)
{
	rte_eth_dev_rx_intr_disable(ri->port_id, ri->queue_id);
}

static int pmd_open(struct dp_rxintr *ri)
{
	int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(ri->port_id, ri->queue_id);
	if (fd < 0)
		return -ENOTSUP;
	int rc = dp_rxintr_watch(ri, fd);
	if (rc < 0)
		return rc;
	ri->arm = pmd_arm;
	ri->disarm = pmd_disarm;
	ri->source = "ethdev";
	return 0;
}

/* ---- the wait ------------------------------------------------------------------------------ */

static void rxi_sleep(uint32_t us)
{
	rte_delay_us_sleep(us);
}

/* The interrupt is armed only from the ARM_AFTER-th idle turn in a row on (l3fwd-power's
 * scheme); the budget (max_us) and its deepening over a long idle stretch are the loop's
 * (dp_lcore_idle). Returns 1 when an event or the re-check ended the wait, 0 when it ran out. */
#define ARM_AFTER  8
int dp_rxintr_wait(void *ctx, uint32_t max_us)
{
	struct dp_lcore *lc = ctx;
	struct dp_rxintr *ri = lc->rxi;
	if (lc->idle.streak < ARM_AFTER) {
		/* recently busy: the timed back-off, so what arrives meanwhile is handled in one turn
		 * (larger TX bursts, TLS record and spool commit batches); arming for every short gap
		 * of a conversation cost more CPU per message than it saved and lowered throughput */
		ri->st.backoffs++;
		rxi_sleep(max_us);
		return 0;
	}
	if (ri->arm(ri) < 0) {
		ri->st.arm_failed++;   /* e.g. a memif link that is down: sleep, deepening alike */
		rxi_sleep(max_us);
		return 0;
	}
	/* a frame queued before the interrupt was armed raised no event: look once more */
	uint16_t n = rte_eth_rx_burst(ri->port_id, ri->queue_id, lc->rx_stash, ri->burst);
	if (n) {
		lc->n_stash = n;
		ri->st.rechecks++;
		ri->disarm(ri);
		return 1;
	}
	struct epoll_event ev[4];
	struct timespec ts = { .tv_sec = max_us / 1000000, .tv_nsec = (long)(max_us % 1000000) * 1000 };
	ri->st.waits++;
	int nev = epoll_pwait2(ri->epfd, ev, 4, &ts, NULL);
	if (nev > 0)
		ri->st.wakeups++;
	else
		ri->st.timeouts++;
	ri->disarm(ri);
	return nev > 0;
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int rxi_open(struct dp_rxintr *ri, const char *driver)
{
	if (driver && strcmp(driver, "net_memif") == 0)
		return dp_memif_intr_open(ri);
	return pmd_open(ri);
}

/* Builds lc's wait on (port_id, queue lc->index). 0; -ENOTSUP (no interrupt source); -errno. */
static int rxi_create(struct dp_lcore *lc, uint16_t port_id, const char *driver)
{
	struct dp_rxintr *ri = calloc(1, sizeof(*ri));
	if (!ri)
		return -ENOMEM;
	ri->port_id = port_id;
	ri->queue_id = lc->index;
	ri->burst = lc->burst;
	ri->qfd = -1;
	int rc;
	if ((ri->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		rc = -errno;
		goto err;
	}
	if ((rc = rxi_open(ri, driver)) < 0)
		goto err_ep;
	ri->disarm(ri); /* start disarmed: the loop polls while busy */
	lc->rxi = ri;
	return 0;
err_ep:
	close(ri->epfd);
err:
	free(ri);
	return rc;
}

int dp_rxintr_watch(struct dp_rxintr *ri, int fd)
{
	/* the same number may be a new file (the old one closed: epoll dropped it): always re-add */
	if (ri->qfd >= 0)
		epoll_ctl(ri->epfd, EPOLL_CTL_DEL, ri->qfd, NULL); /* may be closed already */
	ri->qfd = -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (fd >= 0 && epoll_ctl(ri->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	ri->qfd = fd;
	return 0;
}

void dp_rxintr_port_conf(const struct cfg *c, struct rte_eth_conf *conf)
{
	conf->intr_conf.rxq = c->dataplane.rx_interrupts != CFG_RX_INTR_OFF &&
			      c->dataplane.idle_sleep_us > 0;
}

int dp_rxintr_start(struct dp_rt *rt, const struct rte_eth_dev_info *info)
{
	const struct cfg *c = rt->cfg;
	int mode = c->dataplane.rx_interrupts;
	if (mode == CFG_RX_INTR_OFF || c->dataplane.idle_sleep_us == 0) {
		if (mode == CFG_RX_INTR_ON)
			log_warn("event=rx_interrupts state=off reason=\"idle_sleep_us is 0: busy polling\"");
		return 0;
	}
	for (uint16_t q = 0; q < rt->n_workers; q++) {
		struct dp_lcore *lc = rt->lc[q];
		int rc = rxi_create(lc, rt->port_id, info->driver_name);
		if (rc < 0) {
			if (mode == CFG_RX_INTR_ON) {
				log_err("event=startup_failed reason=\"dataplane.rx_interrupts is on but "
					"port '%s' (%s) gives no RX interrupt: %s\"", c->port.device,
					info->driver_name, strerror(-rc));
				return -1;
			}
			log_info("event=rx_interrupts state=off port=%s driver=%s reason=\"%s\" "
				 "idle=sleep idle_sleep_us=%u", c->port.device, info->driver_name,
				 strerror(-rc), c->dataplane.idle_sleep_us);
			for (uint16_t o = 0; o < q; o++)
				dp_rxintr_free(rt->lc[o]);
			return 0;
		}
	}
	for (uint16_t q = 0; q < rt->n_workers; q++) {
		struct dp_lcore *lc = rt->lc[q];
		dp_lcore_set_idle_wait(lc, dp_rxintr_wait, lc);
		dp_lcore_add_stats(lc, rxi_fields, sizeof(rxi_fields) / sizeof(rxi_fields[0]),
				   &lc->rxi->st);
	}
	log_info("event=rx_interrupts state=on port=%s driver=%s source=%s queues=%u wait_us=%u deep_wait_us=%u",
		 c->port.device, info->driver_name, rt->lc[0]->rxi->source, rt->n_workers,
		 c->dataplane.idle_sleep_us, c->dataplane.idle_max_wait_us);
	return 0;
}

int dp_lcore_add_wakeup_fd(struct dp_lcore *lc, int fd)
{
	if (!lc->rxi)
		return -ENOTSUP;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = fd };
	return epoll_ctl(lc->rxi->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

const struct dp_rxintr_stats *dp_rxintr_stats(const struct dp_lcore *lc)
{
	return lc->rxi ? &lc->rxi->st : NULL;
}

void dp_rxintr_free(struct dp_lcore *lc)
{
	struct dp_rxintr *ri = lc->rxi;
	if (!ri)
		return;
	if (lc->idle_wait == dp_rxintr_wait)
		dp_lcore_set_idle_wait(lc, NULL, NULL);
	close(ri->epfd);
	if (ri->close)
		ri->close(ri);
	free(ri);
	lc->rxi = NULL;
}
