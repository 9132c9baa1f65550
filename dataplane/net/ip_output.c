/* SPDX-License-Identifier: MIT */
/*
 * ip_output.c: IPv4 output and routing. One interface, one prefix, one optional default
 * gateway: the next hop is the destination when it is on-link, the gateway otherwise.
 */
#include "net/ip.h"

#include <errno.h>

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "net/arp.h"
#include "net/eth.h"
#include "net/net.h"

uint32_t ip_route(const struct net_if *nif, uint32_t dst)
{
	uint32_t h = rte_be_to_cpu_32(dst);
	if (h == 0 || h == UINT32_MAX || (h >> 28) == 0xe || net_if_local(nif, dst))
		return 0;
	if (((dst ^ nif->ip) & nif->netmask) == 0) {
		/* the subnet's network and broadcast addresses are not hosts (prefixes up to /30) */
		uint32_t host = dst & ~nif->netmask;
		if (nif->prefix_len <= 30 && (host == 0 || host == ~nif->netmask))
			return 0;
		return dst;
	}
	return nif->gateway;
}

static int fail(struct net_if *nif, struct rte_mbuf *m, enum net_drop why, int err)
{
	nif->cnt.drop[why]++;
	rte_pktmbuf_free(m);
	return err;
}

int ip_output(struct net_if *nif, struct rte_mbuf *m, uint32_t src, uint32_t dst, uint8_t proto)
{
	uint32_t l4_len = rte_pktmbuf_pkt_len(m);
	if (unlikely(l4_len > ip_l4_mtu(nif)))
		return fail(nif, m, NET_DROP_TX_SIZE, -EMSGSIZE);
	if (unlikely(src && !net_if_local(nif, src)))
		return fail(nif, m, NET_DROP_TX_NOROUTE, -EADDRNOTAVAIL);
	uint32_t nh = ip_route(nif, dst);
	if (unlikely(nh == 0))
		return fail(nif, m, NET_DROP_TX_NOROUTE, -ENETUNREACH);
	if (unlikely(rte_pktmbuf_headroom(m) < sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr)))
		return fail(nif, m, NET_DROP_TX_HEADROOM, -ENOSPC);
	struct rte_ipv4_hdr *h =
		(struct rte_ipv4_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ipv4_hdr));
	h->version_ihl = 0x45;
	h->type_of_service = 0;
	h->total_length = rte_cpu_to_be_16((uint16_t)(l4_len + sizeof(*h)));
	h->packet_id = rte_cpu_to_be_16(nif->ip_id++);
	h->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	h->time_to_live = nif->ttl;
	h->next_proto_id = proto;
	h->src_addr = src ? src : nif->ip;
	h->dst_addr = dst;
	h->hdr_checksum = 0;
	h->hdr_checksum = ip_hdr_cksum(h, sizeof(*h));
	m->l2_len = sizeof(struct rte_ether_hdr);
	m->l3_len = sizeof(*h);
	if (m->ol_flags & RTE_MBUF_F_TX_L4_MASK)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	eth_prepend(nif, m, RTE_ETHER_TYPE_IPV4);
	nif->cnt.ip_tx++;
	return arp_output(nif, m, nh);
}
