/* SPDX-License-Identifier: MIT */
/*
 * arp.c: ARP for IPv4 over Ethernet (RFC 826) on one net_if.
 *
 * Cache: ARP_BUCKETS sets of ARP_WAYS entries, indexed by a hash of the IPv4 address. An entry
 * is FREE, INCOMPLETE (a request is out; up to p.hold frames wait for the answer in the cache's
 * held FIFO, ARP_HOLD_MAX frames for all entries together; retried every
 * p.retry_ms, abandoned after p.max_retries requests with the held frames dropped and counted)
 * or REACHABLE (learned p.reachable_ms ago at most; past that, the known MAC is polled by
 * unicast requests every p.retry_ms while frames keep going to it, and the entry is removed
 * after p.max_retries unanswered polls, so a live neighbour is refreshed without holding or
 * dropping a single frame). A set that is full evicts its oldest entry, preferring a
 * REACHABLE one (frames held by an evicted INCOMPLETE entry are dropped and counted).
 *
 * Learning follows RFC 826's merge rule: any ARP packet updates an existing entry for its
 * sender; a packet addressed to us also creates one (the requester will talk to us next).
 * Timers run from arp_timer(): the table is scanned when the earliest entry is due (kept in
 * next_scan_us, lowered whenever an entry's timer is set), at most every ARP_SCAN_US, so a
 * worker's loop turn does not walk the table while nothing is due (with a few entries
 * reachable for a minute, almost always).
 *
 * Workers of one port each keep their own cache. What a worker learns from a reply addressed
 * to us, or a changed MAC, is posted to the other workers (rte_ring messages): the reply to
 * one worker's request may arrive on another worker's queue. A peer applies a message only
 * to an entry it already has (it asked, or it knew the old MAC).
 */
#include "net/arp.h"

#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_mbuf.h>
#include <rte_ring_elem.h>

#include "net/eth.h"
#include "net/net.h"

#define ARP_SCAN_US 10000u

/* Sets e's next timer action to at_us and keeps the cache's next scan no later than it. */
static void entry_expire_at(struct arp_cache *c, struct arp_entry *e, uint64_t at_us)
{
	e->expire_us = at_us;
	if (at_us < c->next_scan_us)
		c->next_scan_us = at_us;
}

void arp_params_defaults(struct arp_params *p)
{
	p->reachable_ms = 60000;
	p->retry_ms = 1000;
	p->max_retries = 3;
	p->hold = 64;
}

void arp_cache_init(struct arp_cache *c, const struct arp_params *p)
{
	memset(c, 0, sizeof(*c));
	c->p = *p;
	if (c->p.hold < 1)
		c->p.hold = 1;
	if (c->p.hold > ARP_HOLD_MAX)
		c->p.hold = ARP_HOLD_MAX;
	if (c->p.retry_ms == 0)
		c->p.retry_ms = 1;
}

/* Takes e's held frames out of the FIFO in order (all of them: max = UINT32_MAX; e NULL: any
 * entry's), keeping the others' order. Each is sent to mac if mac is set, else freed.
 * Returns how many were taken. */
static uint32_t held_take(struct net_if *nif, struct arp_entry *e, uint32_t max,
			  const struct rte_ether_addr *mac)
{
	struct arp_cache *c = &nif->arp;
	uint32_t kept = 0, taken = 0;
	for (uint32_t i = 0; i < c->nheld; i++) {
		struct arp_held h = c->held[i];
		if (taken < max && (!e || h.e == e)) {
			taken++;
			h.e->nhold--;
			if (mac) {
				rte_pktmbuf_mtod(h.m, struct rte_ether_hdr *)->dst_addr = *mac;
				net_tx(nif, h.m);
			} else {
				rte_pktmbuf_free(h.m);
			}
			continue;
		}
		c->held[kept++] = h;
	}
	c->nheld = kept;
	return taken;
}

static void entry_free(struct net_if *nif, struct arp_entry *e)
{
	struct arp_cache *c = &nif->arp;
	if (e->nhold)
		nif->cnt.drop[NET_DROP_ARP_UNRESOLVED] += held_take(nif, e, UINT32_MAX, NULL);
	memset(e, 0, sizeof(*e));
	c->n_used--;
}

void arp_cache_flush(struct arp_cache *c)
{
	for (uint32_t i = 0; i < c->nheld; i++)
		rte_pktmbuf_free(c->held[i].m);
	c->nheld = 0;
	for (unsigned b = 0; b < ARP_BUCKETS; b++)
		for (unsigned w = 0; w < ARP_WAYS; w++)
			if (c->e[b][w].state != ARP_FREE) {
				memset(&c->e[b][w], 0, sizeof(c->e[b][w]));
				c->n_used--;
			}
}

static inline struct arp_entry *bucket(struct arp_cache *c, uint32_t ip)
{
	uint32_t h = rte_be_to_cpu_32(ip) * 2654435761u;
	return c->e[(h >> 16) & (ARP_BUCKETS - 1)];
}

static struct arp_entry *find(struct arp_cache *c, uint32_t ip)
{
	struct arp_entry *set = bucket(c, ip);
	for (unsigned w = 0; w < ARP_WAYS; w++)
		if (set[w].state != ARP_FREE && set[w].ip == ip)
			return &set[w];
	return NULL;
}

const struct arp_entry *arp_lookup(const struct arp_cache *c, uint32_t ip)
{
	return find((struct arp_cache *)c, ip);
}

/* A free way in ip's set, evicting the oldest entry (REACHABLE before INCOMPLETE) if needed. */
static struct arp_entry *entry_alloc(struct net_if *nif, uint32_t ip)
{
	struct arp_cache *c = &nif->arp;
	struct arp_entry *set = bucket(c, ip), *victim = NULL;
	for (unsigned w = 0; w < ARP_WAYS; w++) {
		struct arp_entry *e = &set[w];
		if (e->state == ARP_FREE) {
			victim = e;
			break;
		}
		if (!victim || (e->state == ARP_REACHABLE && victim->state != ARP_REACHABLE) ||
		    (e->state == victim->state && e->created_us < victim->created_us))
			victim = e;
	}
	if (victim->state != ARP_FREE)
		entry_free(nif, victim);
	victim->ip = ip;
	victim->created_us = nif->now_us;
	c->n_used++;
	return victim;
}

/* Build and queue an ARP packet. dst_mac NULL: broadcast. Returns 0 or -ENOBUFS. */
static int arp_send(struct net_if *nif, uint16_t op, uint32_t tip,
		    const struct rte_ether_addr *dst_mac)
{
	struct rte_mbuf *m = nif->pool ? rte_pktmbuf_alloc(nif->pool) : NULL;
	if (unlikely(!m)) {
		nif->cnt.drop[NET_DROP_NOMBUF]++;
		return -ENOBUFS;
	}
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)rte_pktmbuf_append(m, sizeof(*a));
	struct rte_ether_hdr *eh = a ? eth_prepend(nif, m, RTE_ETHER_TYPE_ARP) : NULL;
	if (unlikely(!eh)) {
		rte_pktmbuf_free(m);
		nif->cnt.drop[NET_DROP_NOMBUF]++;
		return -ENOBUFS;
	}
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = rte_cpu_to_be_16(op);
	a->arp_data.arp_sha = nif->mac;
	a->arp_data.arp_sip = nif->ip;
	a->arp_data.arp_tip = tip;
	if (dst_mac) {
		a->arp_data.arp_tha = *dst_mac;
		eh->dst_addr = *dst_mac;
	} else {
		memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
		memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	}
	if (op == RTE_ARP_OP_REQUEST)
		nif->cnt.arp_tx_req++;
	else
		nif->cnt.arp_tx_reply++;
	net_tx(nif, m);
	return 0;
}

int arp_announce(struct net_if *nif)
{
	return arp_send(nif, RTE_ARP_OP_REQUEST, nif->ip, NULL);
}

/* e learned mac: mark it REACHABLE and release its held frames. */
static void entry_resolved(struct net_if *nif, struct arp_entry *e, const struct rte_ether_addr *mac)
{
	e->mac = *mac;
	e->state = ARP_REACHABLE;
	e->retries = 0;
	entry_expire_at(&nif->arp, e, nif->now_us + (uint64_t)nif->arp.p.reachable_ms * 1000);
	if (e->nhold)
		held_take(nif, e, UINT32_MAX, mac);
}

static void neigh_post(struct net_if *nif, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct arp_neigh_msg msg = { .ip = ip, .mac = *mac };
	for (unsigned i = 0; i < nif->n_peers; i++)
		if (rte_ring_mp_enqueue_elem(nif->neigh_peers[i], &msg, sizeof(msg)) != 0)
			nif->cnt.drop[NET_DROP_ARP_SHARE]++;
}

int arp_neigh_drain(struct net_if *nif)
{
	struct arp_neigh_msg msgs[16];
	if (!nif->neigh_in)
		return 0;
	unsigned n = rte_ring_sc_dequeue_burst_elem(nif->neigh_in, msgs, sizeof(msgs[0]), 16, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct arp_entry *e = find(&nif->arp, msgs[i].ip);
		if (e)
			entry_resolved(nif, e, &msgs[i].mac);
	}
	return (int)n;
}

static bool arp_hdr_ok(const struct rte_arp_hdr *a)
{
	uint16_t op = rte_be_to_cpu_16(a->arp_opcode);
	return a->arp_hardware == rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) &&
	       a->arp_protocol == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
	       a->arp_hlen == RTE_ETHER_ADDR_LEN && a->arp_plen == 4 &&
	       (op == RTE_ARP_OP_REQUEST || op == RTE_ARP_OP_REPLY) &&
	       rte_is_unicast_ether_addr(&a->arp_data.arp_sha) &&
	       !rte_is_zero_ether_addr(&a->arp_data.arp_sha);
}

void arp_input(struct net_if *nif, struct rte_mbuf *m)
{
	if (unlikely(rte_pktmbuf_data_len(m) < sizeof(struct rte_arp_hdr))) {
		nif->cnt.drop[NET_DROP_ARP_SHORT]++;
		goto free;
	}
	struct rte_arp_hdr *a = rte_pktmbuf_mtod(m, struct rte_arp_hdr *);
	if (unlikely(!arp_hdr_ok(a))) {
		nif->cnt.drop[NET_DROP_ARP_FORMAT]++;
		goto free;
	}
	uint16_t op = rte_be_to_cpu_16(a->arp_opcode);
	uint32_t sip = a->arp_data.arp_sip, tip = a->arp_data.arp_tip;
	struct rte_ether_addr sha = a->arp_data.arp_sha;
	bool sip_ours = net_if_local(nif, sip);
	bool for_us = net_if_local(nif, tip) && !sip_ours;
	struct arp_entry *e = sip ? find(&nif->arp, sip) : NULL;
	bool changed = e && e->state == ARP_REACHABLE && !rte_is_same_ether_addr(&e->mac, &sha);
	if (!e && for_us && sip)
		e = entry_alloc(nif, sip);
	if (e && !sip_ours)
		entry_resolved(nif, e, &sha);
	if (sip && !sip_ours && (changed || (for_us && op == RTE_ARP_OP_REPLY)))
		neigh_post(nif, sip, &sha);
	if (!for_us) {
		nif->cnt.drop[NET_DROP_ARP_NOT_US]++;
		goto free;
	}
	if (op == RTE_ARP_OP_REPLY) {
		nif->cnt.arp_rx_reply++;
		goto free;
	}
	nif->cnt.arp_rx_req++;
	/* Answer in place: the request's buffer becomes the reply. */
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	a->arp_data.arp_tha = sha;
	a->arp_data.arp_tip = sip;
	a->arp_data.arp_sha = nif->mac;
	a->arp_data.arp_sip = tip;   /* the address asked for: the primary or an extra one */
	rte_pktmbuf_trim(m, rte_pktmbuf_data_len(m) - sizeof(*a));
	struct rte_ether_hdr *eh = eth_prepend(nif, m, RTE_ETHER_TYPE_ARP);
	if (unlikely(!eh)) {
		nif->cnt.drop[NET_DROP_TX_HEADROOM]++;
		goto free;
	}
	eh->dst_addr = sha;
	m->ol_flags = 0;
	nif->cnt.arp_tx_reply++;
	net_tx(nif, m);
	return;
free:
	rte_pktmbuf_free(m);
}

int arp_output(struct net_if *nif, struct rte_mbuf *m, uint32_t nexthop)
{
	struct arp_entry *e = find(&nif->arp, nexthop);
	if (likely(e && e->state == ARP_REACHABLE)) {
		rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr = e->mac;
		net_tx(nif, m);
		return 0;
	}
	bool new_entry = !e;
	if (new_entry) {
		e = entry_alloc(nif, nexthop);
		e->state = ARP_INCOMPLETE;
		e->retries = 1;
		entry_expire_at(&nif->arp, e, nif->now_us + (uint64_t)nif->arp.p.retry_ms * 1000);
	}
	/* Full: the entry's (or, with the FIFO full, any entry's) oldest frame makes room. */
	struct arp_cache *c = &nif->arp;
	if (e->nhold >= c->p.hold || c->nheld == ARP_HOLD_MAX)
		nif->cnt.drop[NET_DROP_ARP_HOLD] +=
			held_take(nif, e->nhold >= c->p.hold ? e : NULL, 1, NULL);
	c->held[c->nheld++] = (struct arp_held){ m, e };
	e->nhold++;
	/* If the request cannot be allocated now, the retry timer sends it later. */
	if (new_entry)
		arp_send(nif, RTE_ARP_OP_REQUEST, nexthop, NULL);
	return 0;
}

static int entry_timer(struct net_if *nif, struct arp_entry *e)
{
	if (nif->now_us < e->expire_us)
		return 0;
	if (e->retries >= nif->arp.p.max_retries) {
		entry_free(nif, e);
		return 1;
	}
	/* INCOMPLETE: broadcast again. REACHABLE past its life: poll the known MAC by unicast
	 * (RFC 1122 2.3.2.1) while traffic keeps flowing to it. */
	e->retries++;
	e->expire_us = nif->now_us + (uint64_t)nif->arp.p.retry_ms * 1000; /* arp_timer rescans */
	arp_send(nif, RTE_ARP_OP_REQUEST, e->ip, e->state == ARP_REACHABLE ? &e->mac : NULL);
	return 1;
}

int arp_timer(struct net_if *nif)
{
	struct arp_cache *c = &nif->arp;
	if (c->n_used == 0 || nif->now_us < c->next_scan_us)
		return 0;
	int work = 0;
	uint64_t next = UINT64_MAX;
	for (unsigned b = 0; b < ARP_BUCKETS; b++)
		for (unsigned w = 0; w < ARP_WAYS; w++) {
			struct arp_entry *e = &c->e[b][w];
			if (e->state == ARP_FREE)
				continue;
			work += entry_timer(nif, e);
			if (e->state != ARP_FREE && e->expire_us < next)
				next = e->expire_us;
		}
	uint64_t floor = nif->now_us + ARP_SCAN_US;
	c->next_scan_us = next > floor ? next : floor;
	return work;
}
