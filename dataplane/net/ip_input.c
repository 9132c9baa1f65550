/* SPDX-License-Identifier: MIT */
/*
 * ip_input.c: IPv4 input. Every field we rely on is checked against the frame before use;
 * whatever fails is dropped and counted by reason. Fragments and options are not handled
 * (dpmail's peers use path MTU discovery and plain headers), so they are dropped and counted.
 */
#include "net/ip.h"
#include "net/net.h"

#include <rte_ip.h>
#include <rte_mbuf.h>

static void drop(struct net_if *nif, struct rte_mbuf *m, enum net_drop why)
{
	nif->cnt.drop[why]++;
	rte_pktmbuf_free(m);
}

void ip_register_l4(struct net_if *nif, uint8_t proto, ip_l4_input_fn fn, void *ctx)
{
	nif->l4[proto].input = fn;
	nif->l4[proto].input_ctx = ctx;
}

void ip_register_icmp_err(struct net_if *nif, uint8_t proto, ip_icmp_err_fn fn, void *ctx)
{
	nif->l4[proto].icmp_err = fn;
	nif->l4[proto].icmp_err_ctx = ctx;
}

/* Sources that can never be a peer's unicast address (RFC 1122 3.2.1.3, RFC 1812 5.3.7):
 * 0/8, limited broadcast, multicast, loopback, ours, our subnet's broadcast. */
static bool src_martian(const struct net_if *nif, uint32_t src)
{
	uint32_t h = rte_be_to_cpu_32(src);
	if ((h >> 24) == 0 || h == UINT32_MAX || (h >> 28) == 0xe || (h >> 24) == 127 || net_if_local(nif, src))
		return true;
	/* our subnet's broadcast address (prefixes up to /30 have one) */
	return nif->prefix_len <= 30 && (src & ~nif->netmask) == ~nif->netmask &&
	       ((src ^ nif->ip) & nif->netmask) == 0;
}

void ip_input(struct net_if *nif, struct rte_mbuf *m)
{
	uint16_t flen = rte_pktmbuf_data_len(m);
	if (unlikely(flen < sizeof(struct rte_ipv4_hdr)))
		return drop(nif, m, NET_DROP_IP_SHORT);
	const struct rte_ipv4_hdr *h = rte_pktmbuf_mtod(m, const struct rte_ipv4_hdr *);
	if (unlikely((h->version_ihl >> 4) != 4))
		return drop(nif, m, NET_DROP_IP_VERSION);
	uint16_t hlen = (uint16_t)((h->version_ihl & 0xf) * 4);
	if (unlikely(hlen < sizeof(struct rte_ipv4_hdr) || hlen > flen))
		return drop(nif, m, NET_DROP_IP_IHL);
	uint16_t tlen = rte_be_to_cpu_16(h->total_length);
	if (unlikely(tlen < hlen || tlen > flen))
		return drop(nif, m, NET_DROP_IP_LEN);
	uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (unlikely(ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
		     (ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD && ip_hdr_cksum(h, hlen) != 0)))
		return drop(nif, m, NET_DROP_IP_CKSUM);
	if (unlikely(h->time_to_live == 0))
		return drop(nif, m, NET_DROP_IP_TTL);
	if (unlikely(h->fragment_offset &
		     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return drop(nif, m, NET_DROP_IP_FRAG);
	if (unlikely(hlen != sizeof(struct rte_ipv4_hdr)))
		return drop(nif, m, NET_DROP_IP_OPTIONS);
	if (unlikely(src_martian(nif, h->src_addr)))
		return drop(nif, m, NET_DROP_IP_SRC);
	if (unlikely(h->dst_addr != nif->ip && !net_if_local(nif, h->dst_addr)))
		return drop(nif, m, NET_DROP_IP_NOT_US);
	const struct ip_l4_slot *slot = &nif->l4[h->next_proto_id];
	if (unlikely(!slot->input))
		return drop(nif, m, NET_DROP_IP_PROTO);
	struct ip_rx_info info = {
		.src = h->src_addr,
		.dst = h->dst_addr,
		.proto = h->next_proto_id,
		.ttl = h->time_to_live,
		.tos = h->type_of_service,
		.l4_len = (uint16_t)(tlen - hlen),
	};
	m->l3_len = hlen;
	rte_pktmbuf_trim(m, (uint16_t)(flen - tlen));
	rte_pktmbuf_adj(m, hlen);
	nif->cnt.ip_rx++;
	slot->input(slot->input_ctx, m, &info);
}
