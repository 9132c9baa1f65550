/* SPDX-License-Identifier: MIT */
/*
 * dp_rxintr.h: private to dataplane/main: the per-worker RX interrupt wait (dp_rxintr.c) and
 * its interrupt sources (the ethdev API there, net_memif's ring flag in dp_memif_intr.c).
 */
#ifndef DPMAIL_DP_RXINTR_H
#define DPMAIL_DP_RXINTR_H

#include <stdint.h>

#include "main/dp-t.h"

struct dp_rxintr {
	uint16_t port_id, queue_id, burst;
	int epfd;                         /* the queue's event fd + wake-up fds */
	int qfd;                          /* the queue's event fd (owned by the PMD) */
	const char *source;               /* "ethdev" or "memif" (logged) */
	/* Arm: the next frame on the queue makes qfd readable; 0 or -errno. Disarm: frames no
	 * longer signal (the busy loop polls). */
	int (*arm)(struct dp_rxintr *ri);
	void (*disarm)(struct dp_rxintr *ri);
	void (*close)(struct dp_rxintr *ri);  /* NULL: nothing to release */
	void *src;                        /* the source's own state */
	struct dp_rxintr_stats st;
};

/* Makes fd the queue's event descriptor in ri's epoll set (level-triggered), replacing the
 * previous one (a PMD may recreate it when its link reconnects, possibly under the same
 * number); fd < 0 removes it. 0 or -errno. */
int dp_rxintr_watch(struct dp_rxintr *ri, int fd);

/* net_memif (no RX interrupt ops in DPDK 22.11): fills ri's source from the PMD's queue.
 * 0, or -ENOTSUP when the queue does not look like the layout this build knows. */
int dp_memif_intr_open(struct dp_rxintr *ri);

#endif
