/* SPDX-License-Identifier: MIT */
/*
 * net_rx_bench.c: cost of the net input path per frame, without a NIC: bursts of 32 frames
 * (ICMP echo requests answered in place, ARP requests answered, frames dropped for a bad IPv4
 * checksum, and frames handed to a registered L4 handler) go through net_rx() and
 * net_tx_flush() on one core; prints ns per frame and frames per second for each.
 * Usage: net_rx_bench [frames per case, default 2000000]
 */
#include <stdio.h>
#include <time.h>

#define TENV_NO_CHECK
#include "../unit/net/net_testenv.h"

static void l4_free(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	(void)ctx;
	(void)info;
	rte_pktmbuf_free(m);
}

static void sink_free(void *ctx, struct rte_mbuf **pkts, uint16_t n)
{
	(void)ctx;
	rte_pktmbuf_free_bulk(pkts, n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  /* CPU time: robust on a shared machine */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(struct net_if *nif, const char *name, const uint8_t *f, size_t len, long frames)
{
	struct rte_mbuf *b[32];
	double t0 = now_s();
	for (long i = 0; i < frames; i += 32) {
		for (int k = 0; k < 32; k++) {
			b[k] = rte_pktmbuf_alloc(tenv_pool);
			memcpy(rte_pktmbuf_append(b[k], (uint16_t)len), f, len);
		}
		net_rx(nif, b, 32);
		net_tx_flush(nif);
	}
	double dt = now_s() - t0;
	printf("%-14s %7.1f ns/frame %6.2f Mframes/s (incl. mbuf alloc+copy of %zu bytes)\n", name,
	       dt * 1e9 / (double)frames, (double)frames / dt / 1e6, len);
}

int main(int argc, char **argv)
{
	long frames = argc > 1 ? atol(argv[1]) : 2000000;
	tenv_eal(NULL);
	struct net_if *nif = tenv_nif();
	nif->tx.sink = sink_free;
	tenv_learn_peer(nif);
	ip_register_l4(nif, 253, l4_free, NULL);
	uint8_t f[256];
	size_t len = tenv_ping(f, 56);
	run(nif, "icmp_echo", f, len, frames);
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)(f + 14);
	h->hdr_checksum ^= 0x0101;
	run(nif, "drop_ip_cksum", f, len, frames);
	h->hdr_checksum ^= 0x0101;
	h->next_proto_id = 253;
	h->hdr_checksum = 0;
	h->hdr_checksum = ip_hdr_cksum(h, 20);
	run(nif, "l4_deliver", f, len, frames);
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(f + off);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = tenv_peer_mac;
	a->arp_data.arp_sip = tenv_ip("198.18.0.1");
	memset(&a->arp_data.arp_tha, 0, 6);
	a->arp_data.arp_tip = tenv_ip("198.18.0.2");
	run(nif, "arp_reply", f, off + sizeof(*a), frames);
	printf("drops=%lu icmp_echo_tx=%lu arp_tx_reply=%lu\n", (unsigned long)net_drops_total(&nif->cnt),
	       (unsigned long)nif->cnt.icmp_echo_tx, (unsigned long)nif->cnt.arp_tx_reply);
	tenv_nif_free(nif);
	return 0;
}
