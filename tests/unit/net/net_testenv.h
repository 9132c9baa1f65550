/* SPDX-License-Identifier: MIT */
/*
 * net_testenv.h: shared set-up of the net and main unit tests (header-only, static): EAL in
 * memory without hugepages or PCI, one mbuf pool, a net_if without a port whose TX frames are
 * captured, and builders for test frames. Tests run without fork (CK_NOFORK) because EAL is
 * initialised once per process.
 */
#ifndef DPMAIL_TEST_NET_TESTENV_H
#define DPMAIL_TEST_NET_TESTENV_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TENV_POISON(a, n)   ASAN_POISON_MEMORY_REGION(a, n)
#define TENV_UNPOISON(a, n) ASAN_UNPOISON_MEMORY_REGION(a, n)
#else
#define TENV_POISON(a, n)   ((void)(a), (void)(n))
#define TENV_UNPOISON(a, n) ((void)(a), (void)(n))
#endif

/* Tools (benchmarks) include this without Check: define TENV_NO_CHECK first. */
#ifdef TENV_NO_CHECK
#define TENV_ASSERT(x) do { if (!(x)) abort(); } while (0)
#else
#include <check.h>
#define TENV_ASSERT(x) ck_assert(x)
#endif

#include "net/arp.h"
#include "net/ip.h"
#include "net/net.h"

#define TENV_MAX_TX 256

static struct rte_mempool *tenv_pool;
static struct rte_mbuf *tenv_tx[TENV_MAX_TX];
static unsigned tenv_ntx;
static const struct rte_ether_addr tenv_our_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
static const struct rte_ether_addr tenv_peer_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };

/* Start EAL with extra arguments (e.g. a --vdev); aborts the test program on failure. */
static inline void tenv_eal(const char *extra)
{
	char *argv[16];
	int argc = 0;
	static char a[][40] = { "unit", "--no-huge", "-m", "128", "--no-pci", "--no-shconf", "--file-prefix=fndunit",
				"--no-telemetry", "--log-level=*:error", "-l", "0" };
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		argv[argc++] = a[i];
	static char x[128];
	if (extra) {
		snprintf(x, sizeof(x), "%s", extra);
		argv[argc++] = x;
	}
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0)
		abort();
	tenv_pool = rte_pktmbuf_pool_create("tenv", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!tenv_pool)
		abort();
}

static inline uint32_t tenv_ip(const char *s)
{
	uint32_t a;
	inet_pton(AF_INET, s, &a);
	return a;
}

static inline void tenv_sink(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	(void)ctx;
	for (uint16_t i = 0; i < n; i++) {
		if (tenv_ntx < TENV_MAX_TX)
			tenv_tx[tenv_ntx++] = pkts[i];
		else
			rte_pktmbuf_free(pkts[i]);
	}
}

static inline void tenv_tx_clear(void)
{
	for (unsigned i = 0; i < tenv_ntx; i++)
		rte_pktmbuf_free(tenv_tx[i]);
	tenv_ntx = 0;
}

/* A net_if 198.18.0.2/24 via 198.18.0.1, no port, TX captured in tenv_tx. */
static inline struct net_if *tenv_nif(void)
{
	struct net_if *nif = aligned_alloc(64, (sizeof(struct net_if) + 63) & ~(size_t)63);
	struct net_if_conf c;
	memset(&c, 0, sizeof(c));
	c.port_id = NET_PORT_NONE;
	c.mac = tenv_our_mac;
	c.ip = tenv_ip("198.18.0.2");
	c.prefix_len = 24;
	c.gateway = tenv_ip("198.18.0.1");
	c.mtu = 1500;
	c.pool = tenv_pool;
	arp_params_defaults(&c.arp);
	TENV_ASSERT(net_if_init(nif, &c) == 0);
	nif->tx.sink = tenv_sink;
	nif->now_us = 1000000;
	tenv_tx_clear();
	return nif;
}

static inline void tenv_nif_free(struct net_if *nif)
{
	net_if_fini(nif);
	free(nif);
	tenv_tx_clear();
}

/* An mbuf holding len bytes copied from data. */
static inline struct rte_mbuf *tenv_mbuf(const void *data, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
	TENV_ASSERT(m != NULL);
	char *p = rte_pktmbuf_append(m, (uint16_t)len);
	TENV_ASSERT(p != NULL);
	memcpy(p, data, len);
	return m;
}

/* Write an Ethernet header peer -> us of type into buf; returns 14. */
static inline size_t tenv_eth(uint8_t *buf, uint16_t type)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)buf;
	eh->dst_addr = tenv_our_mac;
	eh->src_addr = tenv_peer_mac;
	eh->ether_type = htons(type);
	return sizeof(*eh);
}

/* Write a valid IPv4 header (no options) src -> dst with l4_len payload bytes; returns 20. */
static inline size_t tenv_ipv4(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)buf;
	memset(h, 0, sizeof(*h));
	h->version_ihl = 0x45;
	h->total_length = htons((uint16_t)(20 + l4_len));
	h->time_to_live = 64;
	h->next_proto_id = proto;
	h->src_addr = src;
	h->dst_addr = dst;
	h->hdr_checksum = ip_hdr_cksum(h, 20);
	return 20;
}

/* A full frame: Ethernet + IPv4 + ICMP echo request with payload_len bytes; returns length. */
static inline size_t tenv_ping(uint8_t *buf, uint16_t payload_len)
{
	size_t off = tenv_eth(buf, RTE_ETHER_TYPE_IPV4);
	uint16_t l4 = (uint16_t)(8 + payload_len);
	off += tenv_ipv4(buf + off, tenv_ip("198.18.0.1"), tenv_ip("198.18.0.2"), IPPROTO_ICMP, l4);
	struct rte_icmp_hdr *ic = (struct rte_icmp_hdr *)(buf + off);
	memset(ic, 0, 8);
	ic->icmp_type = 8;
	ic->icmp_ident = htons(0x1234);
	ic->icmp_seq_nb = htons(1);
	for (uint16_t i = 0; i < payload_len; i++)
		buf[off + 8 + i] = (uint8_t)i;
	ic->icmp_cksum = ip_hdr_cksum(ic, l4);
	return off + l4;
}

/*
 * Feed one frame into the input path. In the ASan build the mbuf's tailroom is poisoned while
 * the input runs, so a read past the frame's end is reported although the buffer is larger.
 */
static inline void tenv_rx(struct net_if *nif, const void *frame, size_t len)
{
	struct rte_mbuf *m = tenv_mbuf(frame, len);
	uint8_t *end = rte_pktmbuf_mtod_offset(m, uint8_t *, len);
	size_t tail = (size_t)((uint8_t *)m->buf_addr + m->buf_len - end);
	TENV_POISON(end, tail);
	net_rx(nif, &m, 1);
	TENV_UNPOISON(end, tail);
}

/* Make the peer 198.18.0.1 known to the ARP cache (as after its request). */
static inline void tenv_learn_peer(struct net_if *nif)
{
	uint8_t f[64];
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(f + off);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(RTE_ARP_OP_REPLY);
	a->arp_data.arp_sha = tenv_peer_mac;
	a->arp_data.arp_sip = tenv_ip("198.18.0.1");
	a->arp_data.arp_tha = tenv_our_mac;
	a->arp_data.arp_tip = tenv_ip("198.18.0.2");
	tenv_rx(nif, f, off + sizeof(*a));
}

/* Run a suite without fork (EAL state lives in this process). */
#ifndef TENV_NO_CHECK
static inline int tenv_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
#endif

#endif
