/* SPDX-License-Identifier: MIT */
/*
 * ip-t.h: types of the IPv4 layer and of its interface to L4 protocols (TCP, later UDP).
 * Addresses are network byte order everywhere. The L4 interface is per net_if (per lcore, per
 * port): a protocol registers an input function and, optionally, an ICMP error function; see
 * ip.h for the contracts.
 */
#ifndef DPMAIL_NET_IP_T_H
#define DPMAIL_NET_IP_T_H

#include <stdint.h>

struct rte_mbuf;

/* What IP learned from a received datagram's header, handed to L4 with the payload. */
struct ip_rx_info {
	uint32_t src, dst;        /* network byte order */
	uint8_t proto, ttl, tos;
	uint16_t l4_len;          /* bytes of L4 header + payload (== rte_pktmbuf_pkt_len(m)) */
};

/*
 * L4 input: m's data begins at the L4 header and is trimmed to info->l4_len (link padding
 * removed); m is one contiguous segment. Ownership of m passes to the handler. m->l2_len and
 * m->l3_len still describe the headers that were stripped; m->ol_flags keeps the PMD's RX
 * checksum verdict (RTE_MBUF_F_RX_L4_CKSUM_GOOD/BAD/UNKNOWN) so L4 may skip its own check.
 */
typedef void (*ip_l4_input_fn)(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info);

/*
 * An ICMP error about a datagram we sent (destination unreachable, time exceeded). The quoted
 * header is the one we sent: src is our address, dst the peer's. l4 points at the quoted L4
 * header bytes (at least 8, i.e. the TCP ports and sequence number), valid only during the call.
 */
struct icmp_err_info {
	uint8_t type, code;       /* ICMP type/code (3/4 = fragmentation needed, 3/3 = port unreachable) */
	uint16_t next_mtu;        /* host order; for 3/4 (RFC 1191), 0 if the router did not say */
	uint32_t src, dst;        /* quoted header's addresses, network byte order */
	uint32_t reporter;        /* who sent the ICMP error, network byte order */
	uint8_t proto;            /* quoted header's protocol */
	uint16_t l4_len;          /* bytes available at l4 (>= 8) */
	const uint8_t *l4;
};

typedef void (*ip_icmp_err_fn)(void *ctx, const struct icmp_err_info *e);

/* One slot per IP protocol number in each net_if. */
struct ip_l4_slot {
	ip_l4_input_fn input;
	void *input_ctx;
	ip_icmp_err_fn icmp_err;
	void *icmp_err_ctx;
};

#endif
