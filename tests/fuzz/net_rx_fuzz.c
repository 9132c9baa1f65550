/* SPDX-License-Identifier: MIT */
/*
 * net_rx_fuzz.c: arbitrary frames into the input path (net_rx: Ethernet, ARP, IPv4, ICMP,
 * and a registered L4 handler), on a net_if without a port whose TX is freed.
 *
 * Input: byte 0 drives the context (bits 0-1: the PMD's RX IP checksum verdict; bits 2-7:
 * how far the virtual clock advances before the frame, in 100 ms steps, so ARP retries and
 * expiry run too); the rest is the frame. The frame is placed in one mbuf and the mbuf's
 * tailroom is poisoned for ASan, so any read past the frame's end is reported even though
 * the mbuf buffer itself is larger.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "net/arp.h"
#include "net/ip.h"
#include "net/net.h"

static struct rte_mempool *pool;
static struct net_if *nif;

static void l4_sink(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	(void)ctx;
	/* touch every byte handed to L4: it must all be inside the frame */
	const volatile uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint8_t x = 0;
	for (uint16_t i = 0; i < info->l4_len; i++)
		x ^= p[i];
	(void)x;
	if (rte_pktmbuf_pkt_len(m) != info->l4_len)
		abort();
	rte_pktmbuf_free(m);
}

static void err_sink(void *ctx, const struct icmp_err_info *e)
{
	(void)ctx;
	const volatile uint8_t *p = e->l4;
	uint8_t x = 0;
	for (uint16_t i = 0; i < e->l4_len; i++)
		x ^= p[i];
	(void)x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char *eal[] = { "fuzz", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
			"--file-prefix=fndfuzz", "--no-telemetry", "--log-level=*:error", "-l", "0", NULL };
	if (rte_eal_init(11, eal) < 0)
		abort();
	pool = rte_pktmbuf_pool_create("fuzz", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	nif = aligned_alloc(64, (sizeof(*nif) + 63) & ~(size_t)63);
	if (!pool || !nif)
		abort();
	struct net_if_conf c;
	memset(&c, 0, sizeof(c));
	c.port_id = NET_PORT_NONE;
	c.mac = (struct rte_ether_addr){ { 0x02, 0, 0, 0, 0, 0x02 } };
	c.ip = htonl(0xc6120002);       /* 198.18.0.2 */
	c.prefix_len = 24;
	c.gateway = htonl(0xc6120001);
	c.mtu = 1500;
	c.pool = pool;
	arp_params_defaults(&c.arp);
	if (net_if_init(nif, &c) < 0)
		abort();
	ip_register_l4(nif, IPPROTO_TCP, l4_sink, NULL);
	ip_register_l4(nif, IPPROTO_UDP, l4_sink, NULL);
	ip_register_icmp_err(nif, IPPROTO_TCP, err_sink, NULL);
	nif->now_us = 1000000;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (!m)
		abort();
	if (size > rte_pktmbuf_tailroom(m))
		size = rte_pktmbuf_tailroom(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)size);
	memcpy(p, data, size);
	static const uint64_t ck[4] = { RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
					RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_NONE };
	m->ol_flags = ck[ctl & 3];
	uint8_t *end = p + size, *buf_end = (uint8_t *)m->buf_addr + m->buf_len;
	ASAN_POISON_MEMORY_REGION(end, (size_t)(buf_end - end));
	nif->now_us += (uint64_t)(ctl >> 2) * 100000;
	net_rx(nif, &m, 1);
	net_poll(nif);
	/* replies are built in place within the frame's own bytes; unpoison before reuse */
	net_tx_flush(nif);
	ASAN_UNPOISON_MEMORY_REGION(end, (size_t)(buf_end - end));
	return 0;
}
