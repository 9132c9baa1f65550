/* SPDX-License-Identifier: MIT */
/*
 * arp-t.h: types of the ARP cache of one net_if (one lcore, one port). The cache is a
 * set-associative table (ARP_BUCKETS sets of ARP_WAYS entries): lookups touch one set, the
 * memory is bounded and allocated once, and a full set evicts its oldest entry. An entry that
 * is being resolved has packets waiting for the answer: they sit in one FIFO per cache
 * (arp_cache.held, ARP_HOLD_MAX frames in all, at most p.hold of them per entry), so an entry
 * stays small for lookups while one next hop (a gateway every connection goes through) can
 * still hold the burst of SYNs a start-up opens at once.
 */
#ifndef DPMAIL_NET_ARP_T_H
#define DPMAIL_NET_ARP_T_H

#include <stdint.h>

#include <rte_ether.h>

#define ARP_BUCKETS  256          /* power of two */
#define ARP_WAYS     4
#define ARP_HOLD_MAX 256          /* frames held per cache in all (and the bound of p.hold) */

struct rte_mbuf;

/* Tunables (arp_params_defaults() gives the defaults; control/config maps YAML onto them). */
struct arp_params {
	uint32_t reachable_ms;    /* a learned entry is trusted this long, then polled again */
	uint32_t retry_ms;        /* interval between requests while resolving */
	uint32_t max_retries;     /* requests sent before resolution fails (held packets dropped) */
	uint32_t hold;            /* packets held per unresolved entry (1..ARP_HOLD_MAX) */
};

enum arp_state {
	ARP_FREE = 0,
	ARP_INCOMPLETE,           /* request sent, packets held, no answer yet */
	ARP_REACHABLE,            /* mac is in use; refreshed by polls after reachable_ms */
};

struct arp_entry {
	uint32_t ip;              /* network byte order */
	uint8_t state;            /* enum arp_state */
	uint8_t retries;
	uint16_t nhold;           /* frames of this entry in arp_cache.held */
	struct rte_ether_addr mac;
	uint64_t expire_us;       /* next timer action: a poll/retry, or removal */
	uint64_t created_us;
};

/* A frame waiting for its next hop's MAC. */
struct arp_held {
	struct rte_mbuf *m;
	struct arp_entry *e;
};

/* A learnt neighbour, posted to peer workers' rings (ring element size: 12 bytes). */
struct arp_neigh_msg {
	uint32_t ip;              /* network byte order */
	struct rte_ether_addr mac;
	uint16_t pad;
};

struct arp_cache {
	struct arp_params p;
	uint32_t n_used;
	uint64_t next_scan_us;
	uint32_t nheld;
	struct arp_held held[ARP_HOLD_MAX]; /* oldest first, every unresolved entry's frames */
	struct arp_entry e[ARP_BUCKETS][ARP_WAYS];
};

#endif
