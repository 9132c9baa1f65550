/* SPDX-License-Identifier: MIT */
/*
 * eth_input.c: the Ethernet layer. Accepts frames to our MAC or to broadcast, strips the
 * header and passes ARP and IPv4 on; multicast, other unicast and other ethertypes (IPv6,
 * VLAN, LLDP...) are dropped and counted.
 */
#include "net/eth.h"

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "net/arp.h"
#include "net/ip.h"

static void drop(struct net_if *nif, struct rte_mbuf *m, enum net_drop why)
{
	nif->cnt.drop[why]++;
	rte_pktmbuf_free(m);
}

void eth_input(struct net_if *nif, struct rte_mbuf *m)
{
	if (unlikely(rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr)))
		return drop(nif, m, NET_DROP_ETH_SHORT);
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (unlikely(!rte_is_same_ether_addr(&eh->dst_addr, &nif->mac) &&
		     !rte_is_broadcast_ether_addr(&eh->dst_addr)))
		return drop(nif, m, NET_DROP_ETH_DST);
	uint16_t type = rte_be_to_cpu_16(eh->ether_type);
	m->l2_len = sizeof(struct rte_ether_hdr);
	rte_pktmbuf_adj(m, sizeof(struct rte_ether_hdr));
	switch (type) {
	case RTE_ETHER_TYPE_IPV4:
		ip_input(nif, m);
		return;
	case RTE_ETHER_TYPE_ARP:
		arp_input(nif, m);
		return;
	default:
		return drop(nif, m, NET_DROP_ETH_TYPE);
	}
}

struct rte_ether_hdr *eth_prepend(struct net_if *nif, struct rte_mbuf *m, uint16_t ethertype)
{
	struct rte_ether_hdr *eh =
		(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ether_hdr));
	if (unlikely(!eh))
		return NULL;
	eh->src_addr = nif->mac;
	eh->ether_type = rte_cpu_to_be_16(ethertype);
	return eh;
}
