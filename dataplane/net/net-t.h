/* SPDX-License-Identifier: MIT */
/*
 * net-t.h: struct net_if, the per-lcore, per-port state of the network layers (Ethernet, ARP,
 * IPv4, ICMP) and their counters. One worker lcore owns its net_if outright: nothing in it is
 * shared or locked. Other lcores (the control plane, a stats dump) may read the counters as
 * plain 64-bit loads; a torn or slightly stale value is acceptable there.
 */
#ifndef DPMAIL_NET_T_H
#define DPMAIL_NET_T_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>

#include "net/arp-t.h"
#include "net/ip-t.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

/* Headroom that an L4 packet handed to ip_output() must leave: Ethernet + IPv4 (no options). */
#define NET_HDR_ROOM 64
/* Most workers sharing one port (neighbour sharing between them). */
#define NET_PEERS_MAX 64
/* Frames buffered per turn before a forced flush. */
#define NET_TX_BURST 64
/* Frames the port's TX queue did not take, kept for the next flush (a qdisc's role): a burst
 * (10,000 sessions' replies at once) waits a turn instead of costing each frame a TCP
 * retransmission timeout. Beyond this many they are dropped (drop_tx_full). Power of two. */
#define NET_TX_HOLD 512
/* port_id of a net_if with no DPDK port (unit tests, fuzzing): TX goes to tx_sink or is freed. */
#define NET_PORT_NONE UINT16_MAX

/* Why a frame was dropped; one counter each. Names in net_drop_name(). */
enum net_drop {
	NET_DROP_NONLINEAR = 0,   /* chained mbuf on input (we parse single segments) */
	NET_DROP_ETH_SHORT,       /* shorter than an Ethernet header */
	NET_DROP_ETH_DST,         /* not our MAC, not broadcast */
	NET_DROP_ETH_TYPE,        /* ethertype we do not handle (IPv6, VLAN, LLDP...) */
	NET_DROP_ARP_SHORT,
	NET_DROP_ARP_FORMAT,      /* not Ethernet/IPv4, bad lengths or opcode */
	NET_DROP_ARP_NOT_US,      /* request/reply for another address */
	NET_DROP_IP_SHORT,        /* shorter than an IPv4 header */
	NET_DROP_IP_VERSION,
	NET_DROP_IP_IHL,          /* IHL < 5 or header longer than the frame */
	NET_DROP_IP_LEN,          /* total length < IHL or > frame */
	NET_DROP_IP_CKSUM,
	NET_DROP_IP_TTL,          /* TTL 0 */
	NET_DROP_IP_FRAG,         /* fragments (not reassembled) */
	NET_DROP_IP_OPTIONS,      /* header options (not handled) */
	NET_DROP_IP_SRC,          /* martian source: 0, broadcast, multicast, loopback, ours */
	NET_DROP_IP_NOT_US,       /* destination is not our address */
	NET_DROP_IP_PROTO,        /* no handler registered for the protocol */
	NET_DROP_ICMP_SHORT,
	NET_DROP_ICMP_CKSUM,
	NET_DROP_ICMP_TYPE,       /* types we ignore, or malformed errors */
	NET_DROP_TX_NOROUTE,      /* ip_output: destination neither on-link nor a gateway */
	NET_DROP_TX_HEADROOM,     /* not enough headroom to prepend headers */
	NET_DROP_TX_SIZE,         /* ip_output: larger than the MTU */
	NET_DROP_TX_FULL,         /* NIC TX queue did not take the frame, and the hold queue was full */
	NET_DROP_ARP_HOLD,        /* hold queue full: oldest waiting packet dropped */
	NET_DROP_ARP_UNRESOLVED,  /* resolution failed: held packets dropped */
	NET_DROP_NOMBUF,          /* could not allocate an mbuf for ARP */
	NET_DROP_ARP_SHARE,       /* a peer worker's neighbour ring was full */
	NET_DROP__MAX
};

struct net_counters {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_held;         /* frames that waited in the hold queue (TX queue full) */
	uint64_t arp_rx_req, arp_rx_reply, arp_tx_req, arp_tx_reply;
	uint64_t ip_rx, ip_tx;
	uint64_t icmp_echo_rx, icmp_echo_tx, icmp_err_rx;
	uint64_t drop[NET_DROP__MAX];
};

/* Called by net_tx_flush() instead of rte_eth_tx_burst() when port_id == NET_PORT_NONE.
 * Ownership of the n frames passes to the sink. */
typedef void (*net_tx_sink_fn)(void *ctx, struct rte_mbuf **pkts, uint16_t n);

struct net_tx_buf {
	uint16_t n;
	struct rte_mbuf *pkts[NET_TX_BURST];
	uint16_t held_head, held_n;           /* ring of frames waiting for room, oldest first */
	struct rte_mbuf *held[NET_TX_HOLD];
	net_tx_sink_fn sink;
	void *sink_ctx;
};

#define NET_EXTRA_IP_MAX 16   /* additional local addresses of a port (delivery source pools) */

/* What net_if_init() needs; addresses network byte order. */
struct net_if_conf {
	uint16_t port_id, queue_id;
	struct rte_ether_addr mac;
	uint32_t ip;
	uint32_t extra_ip[NET_EXTRA_IP_MAX];  /* more local addresses on the same link (0: none) */
	uint8_t n_extra_ip;
	uint8_t prefix_len;       /* 0..32 */
	uint32_t gateway;         /* 0: none (on-link only) */
	uint16_t mtu;             /* IPv4 MTU, bytes */
	uint8_t ttl;
	bool tx_ip_cksum_offload;
	bool tx_tcp_cksum_offload;
	struct rte_mempool *pool; /* for frames we originate (ARP requests) */
	struct arp_params arp;
};

struct net_if {
	/* hot: read for every frame */
	uint64_t now_us;          /* monotonic microseconds, set by the lcore loop each turn */
	struct rte_ether_addr mac;
	uint16_t port_id, queue_id;
	uint32_t ip, netmask, gateway;   /* network byte order */
	uint8_t prefix_len, ttl;
	uint16_t mtu;
	bool tx_ip_cksum_offload;
	bool tx_tcp_cksum_offload;
	uint16_t ip_id;           /* next IPv4 identification */
	struct rte_mempool *pool;
	struct net_tx_buf tx;
	struct net_counters cnt;
	uint8_t n_extra_ip;
	uint32_t extra_ip[NET_EXTRA_IP_MAX];  /* answered by ARP, accepted by IP, usable as source */
	struct ip_l4_slot l4[256];
	/*
	 * Neighbour sharing between the workers of one port: RSS may deliver an ARP reply to a
	 * worker other than the one that asked, so what a worker learns from a reply (or a
	 * changed MAC) is posted as a struct arp_neigh_msg to every peer's ring; each worker
	 * drains its own ring (neigh_in: multi-producer, single-consumer) in net_poll().
	 */
	struct rte_ring *neigh_in;
	unsigned n_peers;
	struct rte_ring *neigh_peers[NET_PEERS_MAX];
	struct arp_cache arp;
};

#endif
