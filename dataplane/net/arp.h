/* SPDX-License-Identifier: MIT */
/*
 * arp.h: ARP for IPv4 over Ethernet (RFC 826): answers requests for our address, keeps a
 * bounded cache with expiry, resolves next hops with bounded hold queues (per entry and per cache), and
 * announces our address (gratuitous ARP) at start. All times are nif->now_us.
 */
#ifndef DPMAIL_NET_ARP_H
#define DPMAIL_NET_ARP_H

#include <stdint.h>

#include "net/net-t.h"

void arp_params_defaults(struct arp_params *p);

/* Empty cache with tunables p (hold is clamped to 1..ARP_HOLD_MAX). */
void arp_cache_init(struct arp_cache *c, const struct arp_params *p);

/* Drop every entry, freeing held packets (counted nowhere: used at shutdown). */
void arp_cache_flush(struct arp_cache *c);

/* A received ARP packet, data at the ARP header. Ownership passes (m is reused for replies). */
void arp_input(struct net_if *nif, struct rte_mbuf *m);

/*
 * Send frame m (data at its Ethernet header, src MAC and type already set) to the IPv4 next
 * hop nexthop: fills the destination MAC from the cache and queues m for TX, or holds m while
 * a request is out (the entry's oldest held frame is dropped when it holds p.hold, any entry's oldest when
 * the cache's ARP_HOLD_MAX are held).
 * Ownership passes. Returns 0 (sent or held). If no mbuf is free for the request, the frame
 * stays held and the retry timer sends the request later (counted as NET_DROP_NOMBUF).
 */
int arp_output(struct net_if *nif, struct rte_mbuf *m, uint32_t nexthop);

/* The cache entry for ip (network order), or NULL. For tests and diagnostics. */
const struct arp_entry *arp_lookup(const struct arp_cache *c, uint32_t ip);

/* Retries, failures and expiry at nif->now_us. Returns work done (0: nothing). */
int arp_timer(struct net_if *nif);

/* Apply neighbours posted by peer workers (see net_if_set_peers). Returns how many. */
int arp_neigh_drain(struct net_if *nif);

/* Broadcast a gratuitous ARP request for our address. Returns 0 or -ENOBUFS. */
int arp_announce(struct net_if *nif);

#endif
