/* SPDX-License-Identifier: MIT */
/*
 * dp_memif_intr.c: RX interrupts on net_memif, which has no rx_queue_intr_* ops in DPDK 22.11
 * although the memif protocol has interrupts: every ring carries a flags word whose bit
 * MEMIF_RING_FLAG_MASK_INT tells the sender not to signal, and the sender's tx_burst writes the
 * ring's eventfd (shared over the memif control socket) when the bit is clear; the receiver's
 * rx_burst reads (drains) it while the bit is clear. DPDK masks every RX ring at connect time
 * (polling mode). Arming clears the bit of our RX ring, disarming sets it again, and the
 * eventfd is the queue's event descriptor.
 *
 * This reaches into PMD-private state, so it checks everything it can: the queue struct is the
 * 22.11 layout (memif_queue: port id, ring type and size must match), the ring is found in the
 * process's mapping of the memfd "memif_region_N" (one per process: a second memif port is
 * refused), it must carry MEMIF_COOKIE, and it is looked up again after every link down/up the
 * worker sees, or when the queue's eventfd is another file (a reconnect maps new regions and
 * makes new eventfds, possibly under the same numbers: checked by inode after a wait timed
 * out). The ring header is only ever read and written through /proc/self/mem (pread/pwrite):
 * the peer may leave at any moment and the EAL interrupt thread then unmaps the region under
 * the worker, which must give an error, not SIGSEGV; the cookie is re-read before each write.
 * Anything unexpected disables the source for good (logged once), and the worker falls back to
 * its timed sleep. A sender that reads the flag just before we clear it may not signal (no full
 * barrier on its side): such a frame waits at most the idle budget.
 */
#define ALLOW_EXPERIMENTAL_API   /* rte_intr_fd_get: experimental in 22.11, stable since */
#include "main/dp.h"
#include "main/dp_rxintr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_version.h>

#include "log.h"

#define MEMIF_COOKIE_V          0x3E31F20u
#define MEMIF_RING_MASK_INT     1u
#define MEMIF_RING_HDR          128u     /* cookie/flags/head line + tail line */

/* struct memif_queue of drivers/net/memif/rte_eth_memif.h, DPDK 22.11 (PMD-private). */
struct memif_queue_2211 {
	struct rte_mempool *mempool;
	void *pmd;
	uint32_t type;                   /* memif_ring_type_t: 0 C2S, 1 S2C */
	uint16_t region;
	uint16_t in_port;
	uint32_t ring_offset;
	uint16_t last_head, last_tail;
	struct rte_mbuf **buffers;
	uint64_t n_pkts, n_bytes;
	struct rte_intr_handle *intr_handle;
	uint8_t log2_ring_size;
};

/* The protocol's ring header (memif.h): cookie, flags, head on the first cache line. */
struct memif_ring_hdr {
	uint32_t cookie;
	uint16_t flags;
	uint16_t head;
};

struct mif_src {
	struct memif_queue_2211 *mq;
	struct memif_ring_hdr *ring;     /* NULL: not resolved (link down or not yet looked up) */
	int memfd;                       /* /proc/self/mem: ring access that cannot fault */
	ino_t efd_ino;                   /* the eventfd we watch (a reconnect makes a new one) */
	uint64_t timeouts_seen;          /* ri->st.timeouts when the eventfd was last verified */
	uint16_t flags;                  /* the ring's flags when we armed */
	bool broken;                     /* something did not match: never again */
};

/* The start of this process's mapping of memfd "memif_region_<region>", or NULL. */
static void *region_base(uint16_t region, size_t *len)
{
	char want[48], line[512];
	snprintf(want, sizeof(want), "/memfd:memif_region_%u ", region);
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return NULL;
	void *base = NULL;
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		unsigned long long off;
		if (!strstr(line, want) || sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %llx", &lo, &hi, &off) != 3 ||
		    off != 0)
			continue;
		base = (void *)lo;
		*len = hi - lo;
		found++;
	}
	fclose(f);
	return found == 1 ? base : NULL;   /* two memif ports in one process: ambiguous */
}

static void mif_broken(struct dp_rxintr *ri, struct mif_src *m, const char *why)
{
	m->broken = true;
	m->ring = NULL;
	log_warn("event=rx_interrupts state=off port_id=%u queue=%u source=memif reason=\"%s\" "
		 "idle=sleep", ri->port_id, ri->queue_id, why);
}

/* The ring header through /proc/self/mem: a region the PMD unmapped meanwhile (the peer left;
 * the EAL interrupt thread runs memif_disconnect at any time) gives EFAULT/EIO, not SIGSEGV. */
static bool mif_peek(const struct mif_src *m, struct memif_ring_hdr *h)
{
	return pread(m->memfd, h, sizeof(*h), (off_t)(uintptr_t)m->ring) == (ssize_t)sizeof(*h) &&
	       h->cookie == MEMIF_COOKIE_V;
}

static bool mif_set_flags(const struct mif_src *m, uint16_t flags)
{
	return pwrite(m->memfd, &flags, sizeof(flags),
		      (off_t)(uintptr_t)&m->ring->flags) == (ssize_t)sizeof(flags);
}

/* Finds our RX ring and eventfd after the link came up. 0, -EAGAIN (not yet), -ENOTSUP. */
static int mif_resolve(struct dp_rxintr *ri, struct mif_src *m)
{
	const struct memif_queue_2211 *mq = m->mq;
	int fd = rte_intr_fd_get(mq->intr_handle);
	if (fd < 0)
		return -EAGAIN;
	size_t len = 0;
	uint8_t *base = region_base(mq->region, &len);
	if (!base)
		return -EAGAIN;
	if ((size_t)mq->ring_offset + MEMIF_RING_HDR > len) {
		mif_broken(ri, m, "ring outside region 0");
		return -ENOTSUP;
	}
	m->ring = (struct memif_ring_hdr *)(base + mq->ring_offset);
	struct memif_ring_hdr h;
	if (!mif_peek(m, &h)) {
		mif_broken(ri, m, "no memif cookie at the queue's ring");
		return -ENOTSUP;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0 || dp_rxintr_watch(ri, fd) < 0) {
		mif_broken(ri, m, "cannot watch the queue eventfd");
		return -ENOTSUP;
	}
	m->efd_ino = sb.st_ino;
	log_info("event=rx_interrupts_memif port_id=%u queue=%u ring=%s region_base=%p ring_offset=%u "
		 "eventfd=%d", ri->port_id, ri->queue_id, mq->type ? "s2c" : "c2s", (void *)base,
		 mq->ring_offset, fd);
	return 0;
}

static int mif_arm(struct dp_rxintr *ri)
{
	struct mif_src *m = ri->src;
	if (m->broken)
		return -ENOTSUP;
	struct rte_eth_link link;
	if (rte_eth_link_get_nowait(ri->port_id, &link) < 0 || !link.link_status) {
		m->ring = NULL;   /* a reconnect maps new regions: look up again */
		return -ENOTCONN;
	}
	if (!m->ring) {
		int rc = mif_resolve(ri, m);
		if (rc < 0)
			return rc;
	}
	/* a new eventfd under the old number only shows as waits that time out: verify its
	 * identity after one did, not on every arm (a syscall less per idle turn under load) */
	struct memif_ring_hdr h;
	struct stat sb;
	bool verify = ri->st.timeouts != m->timeouts_seen;
	m->timeouts_seen = ri->st.timeouts;
	if (rte_intr_fd_get(m->mq->intr_handle) != ri->qfd ||
	    (verify && (fstat(ri->qfd, &sb) < 0 || sb.st_ino != m->efd_ino)) || !mif_peek(m, &h) ||
	    !mif_set_flags(m, (uint16_t)(h.flags & ~MEMIF_RING_MASK_INT))) {
		m->ring = NULL;   /* remapped behind our back: look up at the next idle turn */
		return -EAGAIN;
	}
	m->flags = h.flags;
	/* the re-check's load of the ring index must not pass the store of the flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

static void mif_disarm(struct dp_rxintr *ri)
{
	struct mif_src *m = ri->src;
	if (m->ring && !mif_set_flags(m, (uint16_t)(m->flags | MEMIF_RING_MASK_INT)))
		m->ring = NULL;
}

static void mif_close(struct dp_rxintr *ri)
{
	struct mif_src *m = ri->src;
	close(m->memfd);
	free(m);
	ri->src = NULL;
}

int dp_memif_intr_open(struct dp_rxintr *ri)
{
	if (RTE_VER_YEAR != 22 || RTE_VER_MONTH != 11 || strncmp(rte_version(), "DPDK 22.11", 10) != 0)
		return -ENOTSUP;  /* the private layout below is 22.11's */
	struct memif_queue_2211 *mq = rte_eth_fp_ops[ri->port_id].rxq.data ?
		rte_eth_fp_ops[ri->port_id].rxq.data[ri->queue_id] : NULL;
	if (!mq || mq->in_port != ri->port_id || mq->type > 1 || mq->log2_ring_size > 14 ||
	    !mq->intr_handle)
		return -ENOTSUP;
	struct mif_src *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mq = mq;
	if ((m->memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC)) < 0) {
		int e = -errno;
		free(m);
		return e;
	}
	ri->src = m;
	ri->arm = mif_arm;
	ri->disarm = mif_disarm;
	ri->close = mif_close;
	ri->source = "memif";
	return 0;
}
