/* SPDX-License-Identifier: MIT */
/*
 * net.h: life cycle, input entry, transmit buffer and counters of a net_if (see net-t.h).
 *
 * The lcore loop drives a net_if like this, once per turn:
 *     nif->now_us = now;                 (monotonic microseconds; no module reads the clock)
 *     n = rte_eth_rx_burst(...); net_rx(nif, pkts, n);
 *     net_poll(nif);                     (ARP retries and expiry)
 *     ... other modules' poll hooks ...
 *     net_tx_flush(nif);                 (one tx_burst for everything queued this turn)
 * None of these functions blocks or allocates with malloc; none is thread-safe (one owner).
 */
#ifndef DPMAIL_NET_H
#define DPMAIL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "net/net-t.h"

/*
 * Set up nif from c (addresses, MTU, ARP tunables, ICMP registered for protocol 1).
 * Returns 0, or -EINVAL for a bad prefix length or MTU. nif must be zeroed memory of the
 * caller's (cache-aligned, lcore-local); nothing is allocated.
 */
int net_if_init(struct net_if *nif, const struct net_if_conf *c);

/* Whether a is one of the interface's addresses (the primary or an extra one). */
static inline bool net_if_local(const struct net_if *nif, uint32_t a)
{
	if (a == nif->ip)
		return true;
	for (unsigned i = 0; i < nif->n_extra_ip; i++)
		if (a == nif->extra_ip[i])
			return true;
	return false;
}

/* Free every mbuf nif still owns (TX buffer, ARP hold queues). nif can be re-initialised. */
void net_if_fini(struct net_if *nif);

/*
 * Input path for n received frames. Ownership of every frame passes to the net layers: each
 * is delivered, answered, or dropped and counted. Never reads outside a frame's data.
 */
void net_rx(struct net_if *nif, struct rte_mbuf **pkts, uint16_t n);

/*
 * Share learnt neighbours with the other workers of the same port: in is nif's own ring
 * (elements of sizeof(struct arp_neigh_msg), single consumer), peers the others' rings.
 * Returns 0 or -EINVAL (more than NET_PEERS_MAX). Call before the workers start.
 */
int net_if_set_peers(struct net_if *nif, struct rte_ring *in, struct rte_ring *const *peers,
		     unsigned n);

/* Timers and neighbour messages of the net layers at nif->now_us. Returns how much work was
 * done (0: idle). */
int net_poll(struct net_if *nif);

/*
 * Queue one complete Ethernet frame for transmission; ownership passes. Flushes when the
 * buffer is full; otherwise the frame leaves at the next net_tx_flush().
 */
void net_tx(struct net_if *nif, struct rte_mbuf *m);

/* Hand the queued frames to the NIC (or the sink). Frames the NIC refuses are freed and
 * counted as NET_DROP_TX_FULL. Returns the number of frames sent. */
uint16_t net_tx_flush(struct net_if *nif);

/* "eth_short", "ip_cksum", ...; "unknown" out of range. */
const char *net_drop_name(enum net_drop d);

uint64_t net_drops_total(const struct net_counters *c);

/* Add src's counters into dst (for totals over lcores). */
void net_counters_add(struct net_counters *dst, const struct net_counters *src);

/*
 * Format counters as one key=value line: "rx=.. rx_bytes=.. tx=.. ... drops=N drop_ip_cksum=N"
 * (every drop reason, zero or not, so scripts can rely on the keys). Returns the length that
 * snprintf would have written.
 */
int net_counters_format(const struct net_counters *c, char *buf, size_t len);

#endif
