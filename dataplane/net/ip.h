/* SPDX-License-Identifier: MIT */
/*
 * ip.h: IPv4 input and output, and the interface that L4 protocols (TCP, later UDP) use.
 *
 * Input validates every header field we rely on (version, IHL, total length against the frame,
 * checksum, TTL), drops and counts fragments and options (not handled), accepts only datagrams
 * for our address, and hands the payload to the protocol registered with ip_register_l4().
 * Output prepends IPv4 + Ethernet, routes on-link or via the gateway, resolves the next hop by
 * ARP and queues the frame for the lcore's once-per-turn TX burst.
 *
 * Checksum offload: ip_tx_l4_cksum_offload(nif, IPPROTO_TCP) says whether the port computes
 * TCP checksums on transmit. If it does, TCP may set RTE_MBUF_F_TX_TCP_CKSUM in m->ol_flags and
 * store ip_phdr_cksum(...) (pseudo-header sum, not inverted) in the TCP checksum field;
 * ip_output() then fills l2_len/l3_len and RTE_MBUF_F_TX_IPV4. Otherwise TCP stores the full
 * checksum (ip_l4_cksum()).
 */
#ifndef DPMAIL_NET_IP_H
#define DPMAIL_NET_IP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "net/net-t.h"

/*
 * Register fn as the receiver of protocol proto on nif (replacing any earlier one; fn NULL
 * unregisters). Datagrams for unregistered protocols are counted (NET_DROP_IP_PROTO) and freed.
 */
void ip_register_l4(struct net_if *nif, uint8_t proto, ip_l4_input_fn fn, void *ctx);

/* Register fn to learn of ICMP errors quoting our datagrams of protocol proto. */
void ip_register_icmp_err(struct net_if *nif, uint8_t proto, ip_icmp_err_fn fn, void *ctx);

/*
 * Send an L4 packet. m's data starts at the L4 header with at least NET_HDR_ROOM bytes of
 * headroom; src 0 means our address; addresses network order. Ownership passes. Returns 0
 * (queued for TX, or held while ARP resolves the next hop) or -errno with m freed:
 * -ENETUNREACH (no route), -EMSGSIZE (larger than the MTU), -ENOSPC (no headroom),
 * -EADDRNOTAVAIL (src is not our address).
 * The IPv4 header gets DF set, TTL nif->ttl, TOS 0 and a per-net_if incrementing id.
 */
int ip_output(struct net_if *nif, struct rte_mbuf *m, uint32_t src, uint32_t dst, uint8_t proto);

/* The next hop for dst: dst itself on-link, the gateway otherwise, 0 if unroutable. */
uint32_t ip_route(const struct net_if *nif, uint32_t dst);

/* One received IPv4 datagram, data at the IPv4 header. Ownership passes. */
void ip_input(struct net_if *nif, struct rte_mbuf *m);

/* Whether the port computes proto's (IPPROTO_TCP/UDP) checksum on transmit (see above). */
static inline bool ip_tx_l4_cksum_offload(const struct net_if *nif, uint8_t proto)
{
	return proto == IPPROTO_TCP && nif->tx_tcp_cksum_offload;
}

/* Largest L4 packet (header + payload) ip_output() accepts on nif. */
static inline uint16_t ip_l4_mtu(const struct net_if *nif)
{
	return (uint16_t)(nif->mtu - sizeof(struct rte_ipv4_hdr));
}

/*
 * One's-complement sum helpers (RFC 1071). ip_cksum_add adds buf's 16-bit big-endian words
 * (an odd last byte padded with zero) to sum, partly folded; ip_cksum_fold folds and inverts.
 * DPDK's rte_raw_cksum sums native (little-endian) words; the one's-complement sum commutes
 * with byte swapping (RFC 1071 2.B), so swapping its result gives the big-endian sum.
 */
static inline uint32_t ip_cksum_add(uint32_t sum, const void *buf, size_t len)
{
	return sum + rte_bswap16(rte_raw_cksum(buf, len));
}

/* Returns the checksum in network byte order, ready to store. */
static inline uint16_t ip_cksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return rte_cpu_to_be_16((uint16_t)~sum);
}

/* Checksum of an IPv4 header of hlen bytes (the checksum field included as it is). */
static inline uint16_t ip_hdr_cksum(const void *hdr, size_t hlen)
{
	return ip_cksum_fold(ip_cksum_add(0, hdr, hlen));
}

/* Pseudo-header sum (not folded/inverted) for an L4 checksum; addresses network order. */
static inline uint32_t ip_phdr_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	uint32_t s = rte_be_to_cpu_32(src), d = rte_be_to_cpu_32(dst);
	return (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + l4_len;
}

/* Pseudo-header checksum for offload (folded, NOT inverted, network order), as PMDs expect. */
static inline uint16_t ip_phdr_cksum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	return (uint16_t)~ip_cksum_fold(ip_phdr_sum(src, dst, proto, l4_len));
}

/* Full L4 checksum over pseudo-header + l4 bytes (checksum field as it is), network order.
 * A receiver verifies by computing it over the received bytes: 0 means valid. */
static inline uint16_t ip_l4_cksum(uint32_t src, uint32_t dst, uint8_t proto, const void *l4,
				   uint16_t l4_len)
{
	return ip_cksum_fold(ip_cksum_add(ip_phdr_sum(src, dst, proto, l4_len), l4, l4_len));
}

#endif
