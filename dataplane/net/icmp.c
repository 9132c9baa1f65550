/* SPDX-License-Identifier: MIT */
/*
 * icmp.c: ICMPv4 (RFC 792). Echo requests are answered in place (the request's buffer becomes
 * the reply). Destination unreachable and time exceeded about datagrams we sent are passed to
 * the quoted protocol's error hook (TCP learns of fragmentation-needed or port-unreachable).
 * Everything else is dropped and counted: we never answer an error with an error.
 */
#include "net/icmp.h"

#include <string.h>

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "net/ip.h"
#include "net/net.h"

#define ICMP_ECHO_REPLY   0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_HDR_LEN      8

static void drop(struct net_if *nif, struct rte_mbuf *m, enum net_drop why)
{
	nif->cnt.drop[why]++;
	rte_pktmbuf_free(m);
}

static void echo_reply(struct net_if *nif, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	struct rte_icmp_hdr *ic = rte_pktmbuf_mtod(m, struct rte_icmp_hdr *);
	nif->cnt.icmp_echo_rx++;
	ic->icmp_type = ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	ic->icmp_cksum = ip_hdr_cksum(ic, info->l4_len);
	m->ol_flags = 0;
	if (ip_output(nif, m, info->dst, info->src, IPPROTO_ICMP) == 0)
		nif->cnt.icmp_echo_tx++;
}

/* An error quoting one of our datagrams: hand it to the quoted protocol's hook. */
static void error_input(struct net_if *nif, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint16_t len = info->l4_len;
	if (len < ICMP_HDR_LEN + sizeof(struct rte_ipv4_hdr) + 8)
		return drop(nif, m, NET_DROP_ICMP_SHORT);
	const struct rte_ipv4_hdr *q = (const struct rte_ipv4_hdr *)(p + ICMP_HDR_LEN);
	uint16_t qhl = (uint16_t)((q->version_ihl & 0xf) * 4);
	if ((q->version_ihl >> 4) != 4 || qhl < sizeof(*q) || ICMP_HDR_LEN + qhl + 8 > len ||
	    !net_if_local(nif, q->src_addr))
		return drop(nif, m, NET_DROP_ICMP_TYPE);
	nif->cnt.icmp_err_rx++;
	const struct ip_l4_slot *slot = &nif->l4[q->next_proto_id];
	if (slot->icmp_err) {
		struct icmp_err_info e = {
			.type = p[0],
			.code = p[1],
			.next_mtu = (p[0] == ICMP_DEST_UNREACH && p[1] == 4) ?
					    (uint16_t)(p[6] << 8 | p[7]) : 0,
			.src = q->src_addr,
			.dst = q->dst_addr,
			.reporter = info->src,
			.proto = q->next_proto_id,
			.l4_len = (uint16_t)(len - ICMP_HDR_LEN - qhl),
			.l4 = p + ICMP_HDR_LEN + qhl,
		};
		slot->icmp_err(slot->icmp_err_ctx, &e);
	}
	rte_pktmbuf_free(m);
}

void icmp_input(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	struct net_if *nif = ctx;
	if (info->l4_len < ICMP_HDR_LEN || rte_pktmbuf_data_len(m) < info->l4_len)
		return drop(nif, m, NET_DROP_ICMP_SHORT);
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	if (ip_hdr_cksum(p, info->l4_len) != 0)
		return drop(nif, m, NET_DROP_ICMP_CKSUM);
	switch (p[0]) {
	case ICMP_ECHO_REQUEST:
		if (p[1] != 0)
			break;
		return echo_reply(nif, m, info);
	case ICMP_DEST_UNREACH:
	case ICMP_TIME_EXCEEDED:
		return error_input(nif, m, info);
	default:
		break;
	}
	drop(nif, m, NET_DROP_ICMP_TYPE);
}
