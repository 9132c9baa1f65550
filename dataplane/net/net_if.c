/* SPDX-License-Identifier: MIT */
/*
 * net_if.c: life cycle of a net_if, the RX entry point, the per-turn TX buffer and the
 * counters. The TX buffer collects every frame produced during one loop turn so the NIC sees
 * one tx_burst per turn (flushed early only when it fills up).
 */
#include "net/net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "net/arp.h"
#include "net/eth.h"
#include "net/icmp.h"
#include "net/ip.h"

static const char *const drop_names[NET_DROP__MAX] = {
	[NET_DROP_NONLINEAR] = "nonlinear",
	[NET_DROP_ETH_SHORT] = "eth_short",
	[NET_DROP_ETH_DST] = "eth_dst",
	[NET_DROP_ETH_TYPE] = "eth_type",
	[NET_DROP_ARP_SHORT] = "arp_short",
	[NET_DROP_ARP_FORMAT] = "arp_format",
	[NET_DROP_ARP_NOT_US] = "arp_not_us",
	[NET_DROP_IP_SHORT] = "ip_short",
	[NET_DROP_IP_VERSION] = "ip_version",
	[NET_DROP_IP_IHL] = "ip_ihl",
	[NET_DROP_IP_LEN] = "ip_len",
	[NET_DROP_IP_CKSUM] = "ip_cksum",
	[NET_DROP_IP_TTL] = "ip_ttl",
	[NET_DROP_IP_FRAG] = "ip_frag",
	[NET_DROP_IP_OPTIONS] = "ip_options",
	[NET_DROP_IP_SRC] = "ip_src",
	[NET_DROP_IP_NOT_US] = "ip_not_us",
	[NET_DROP_IP_PROTO] = "ip_proto",
	[NET_DROP_ICMP_SHORT] = "icmp_short",
	[NET_DROP_ICMP_CKSUM] = "icmp_cksum",
	[NET_DROP_ICMP_TYPE] = "icmp_type",
	[NET_DROP_TX_NOROUTE] = "tx_noroute",
	[NET_DROP_TX_HEADROOM] = "tx_headroom",
	[NET_DROP_TX_SIZE] = "tx_size",
	[NET_DROP_TX_FULL] = "tx_full",
	[NET_DROP_ARP_HOLD] = "arp_hold",
	[NET_DROP_ARP_UNRESOLVED] = "arp_unresolved",
	[NET_DROP_NOMBUF] = "nombuf",
	[NET_DROP_ARP_SHARE] = "arp_share",
};

int net_if_init(struct net_if *nif, const struct net_if_conf *c)
{
	if (c->prefix_len > 32 || c->mtu < 576 || c->mtu > 9000 || c->n_extra_ip > NET_EXTRA_IP_MAX)
		return -EINVAL;
	memset(nif, 0, sizeof(*nif));
	nif->mac = c->mac;
	nif->port_id = c->port_id;
	nif->queue_id = c->queue_id;
	nif->ip = c->ip;
	nif->n_extra_ip = c->n_extra_ip;
	memcpy(nif->extra_ip, c->extra_ip, sizeof(nif->extra_ip));
	nif->prefix_len = c->prefix_len;
	nif->netmask = c->prefix_len ? rte_cpu_to_be_32(~0u << (32 - c->prefix_len)) : 0;
	nif->gateway = c->gateway;
	nif->mtu = c->mtu;
	nif->ttl = c->ttl ? c->ttl : 64;
	nif->tx_ip_cksum_offload = c->tx_ip_cksum_offload;
	nif->tx_tcp_cksum_offload = c->tx_tcp_cksum_offload;
	nif->pool = c->pool;
	arp_cache_init(&nif->arp, &c->arp);
	ip_register_l4(nif, IPPROTO_ICMP, icmp_input, nif);
	return 0;
}

void net_if_fini(struct net_if *nif)
{
	rte_pktmbuf_free_bulk(nif->tx.pkts, nif->tx.n);
	nif->tx.n = 0;
	while (nif->tx.held_n) {
		rte_pktmbuf_free(nif->tx.held[nif->tx.held_head]);
		nif->tx.held_head = (nif->tx.held_head + 1) & (NET_TX_HOLD - 1);
		nif->tx.held_n--;
	}
	arp_cache_flush(&nif->arp);
}

void net_rx(struct net_if *nif, struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		nif->cnt.rx_pkts++;
		nif->cnt.rx_bytes += rte_pktmbuf_pkt_len(m);
		if (unlikely(!rte_pktmbuf_is_contiguous(m))) {
			nif->cnt.drop[NET_DROP_NONLINEAR]++;
			rte_pktmbuf_free(m);
			continue;
		}
		eth_input(nif, m);
	}
}

int net_if_set_peers(struct net_if *nif, struct rte_ring *in, struct rte_ring *const *peers,
		     unsigned n)
{
	if (n > NET_PEERS_MAX)
		return -EINVAL;
	nif->neigh_in = in;
	nif->n_peers = n;
	for (unsigned i = 0; i < n; i++)
		nif->neigh_peers[i] = peers[i];
	return 0;
}

int net_poll(struct net_if *nif)
{
	return arp_neigh_drain(nif) + arp_timer(nif);
}

void net_tx(struct net_if *nif, struct rte_mbuf *m)
{
	if (nif->tx.n == NET_TX_BURST)
		net_tx_flush(nif);
	nif->tx.pkts[nif->tx.n++] = m;
}

static uint64_t pkts_bytes(struct rte_mbuf *const *pkts, uint16_t n)
{
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	return bytes;
}

/* Sends held frames, oldest first, while the queue takes them; returns how many went. */
static uint16_t held_send(struct net_if *nif)
{
	struct net_tx_buf *t = &nif->tx;
	uint16_t sent = 0;
	while (t->held_n) {
		uint16_t k = (uint16_t)RTE_MIN(t->held_n, NET_TX_HOLD - t->held_head);
		uint16_t s = rte_eth_tx_burst(nif->port_id, nif->queue_id, &t->held[t->held_head], k);
		nif->cnt.tx_bytes += pkts_bytes(&t->held[t->held_head], s);
		t->held_head = (uint16_t)((t->held_head + s) & (NET_TX_HOLD - 1));
		t->held_n = (uint16_t)(t->held_n - s);
		sent = (uint16_t)(sent + s);
		if (s < k)
			break; /* still full */
	}
	return sent;
}

/* Keeps frames the queue did not take, behind those already held; drops what does not fit. */
static void held_add(struct net_if *nif, struct rte_mbuf **pkts, uint16_t n)
{
	struct net_tx_buf *t = &nif->tx;
	uint16_t room = (uint16_t)(NET_TX_HOLD - t->held_n), k = RTE_MIN(n, room);
	for (uint16_t i = 0; i < k; i++)
		t->held[(t->held_head + t->held_n + i) & (NET_TX_HOLD - 1)] = pkts[i];
	t->held_n = (uint16_t)(t->held_n + k);
	nif->cnt.tx_held += k;
	if (k < n) {
		nif->cnt.drop[NET_DROP_TX_FULL] += n - k;
		rte_pktmbuf_free_bulk(pkts + k, n - k);
	}
}

/*
 * Hands the turn's frames to the port: held frames first (order is kept), then the new ones;
 * what the queue does not take is held for the next flush. Returns the frames sent, so a turn
 * that only finds the queue still full is idle (a dead link does not spin the loop; held
 * frames wait for the next turn).
 */
uint16_t net_tx_flush(struct net_if *nif)
{
	struct net_tx_buf *t = &nif->tx;
	uint16_t n = t->n, sent = 0;
	if (n == 0 && t->held_n == 0)
		return 0;
	t->n = 0;
	if (nif->port_id == NET_PORT_NONE) {
		nif->cnt.tx_bytes += pkts_bytes(t->pkts, n);
		if (t->sink)
			t->sink(t->sink_ctx, t->pkts, n);
		else
			rte_pktmbuf_free_bulk(t->pkts, n);
		sent = n;
	} else {
		if (unlikely(t->held_n))
			sent = held_send(nif);
		if (n && t->held_n == 0) {
			uint16_t s = rte_eth_tx_burst(nif->port_id, nif->queue_id, t->pkts, n);
			nif->cnt.tx_bytes += pkts_bytes(t->pkts, s);
			sent = (uint16_t)(sent + s);
			if (unlikely(s < n))
				held_add(nif, t->pkts + s, (uint16_t)(n - s));
		} else if (n) {
			held_add(nif, t->pkts, n);
		}
	}
	nif->cnt.tx_pkts += sent;
	return sent;
}

const char *net_drop_name(enum net_drop d)
{
	if ((unsigned)d >= NET_DROP__MAX || !drop_names[d])
		return "unknown";
	return drop_names[d];
}

uint64_t net_drops_total(const struct net_counters *c)
{
	uint64_t t = 0;
	for (int i = 0; i < NET_DROP__MAX; i++)
		t += c->drop[i];
	return t;
}

_Static_assert(sizeof(struct net_counters) % sizeof(uint64_t) == 0,
	       "net_counters must hold only uint64_t counters");

void net_counters_add(struct net_counters *dst, const struct net_counters *src)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;
	for (size_t i = 0; i < sizeof(*src) / sizeof(uint64_t); i++)
		d[i] += s[i];
}

int net_counters_format(const struct net_counters *c, char *buf, size_t len)
{
	size_t off = 0;
	int n = snprintf(buf, len,
			 "rx=%" PRIu64 " rx_bytes=%" PRIu64 " tx=%" PRIu64 " tx_bytes=%" PRIu64
			 " tx_held=%" PRIu64 " arp_rx_req=%" PRIu64 " arp_rx_reply=%" PRIu64 " arp_tx_req=%" PRIu64
			 " arp_tx_reply=%" PRIu64 " ip_rx=%" PRIu64 " ip_tx=%" PRIu64
			 " icmp_echo_rx=%" PRIu64 " icmp_echo_tx=%" PRIu64 " icmp_err_rx=%" PRIu64
			 " drops=%" PRIu64,
			 c->rx_pkts, c->rx_bytes, c->tx_pkts, c->tx_bytes, c->tx_held, c->arp_rx_req,
			 c->arp_rx_reply, c->arp_tx_req, c->arp_tx_reply, c->ip_rx, c->ip_tx,
			 c->icmp_echo_rx, c->icmp_echo_tx, c->icmp_err_rx, net_drops_total(c));
	if (n < 0)
		return n;
	off = (size_t)n;
	for (int i = 0; i < NET_DROP__MAX; i++) {
		n = snprintf(off < len ? buf + off : NULL, off < len ? len - off : 0,
			     " drop_%s=%" PRIu64, net_drop_name(i), c->drop[i]);
		if (n < 0)
			return n;
		off += (size_t)n;
	}
	return (int)off;
}
