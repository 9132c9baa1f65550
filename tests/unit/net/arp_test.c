/* SPDX-License-Identifier: MIT */
/* arp_test.c: ARP replies, cache learning and expiry, hold queue bounds, retries and failure,
 * eviction, gratuitous ARP; all on a virtual clock (nif->now_us). */
#include "net_testenv.h"

#include <rte_ring_elem.h>

static struct rte_arp_hdr *tx_arp(unsigned i)
{
	ck_assert_uint_gt(tenv_ntx, i);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(tenv_tx[i], struct rte_ether_hdr *);
	ck_assert_uint_eq(ntohs(eh->ether_type), RTE_ETHER_TYPE_ARP);
	return (struct rte_arp_hdr *)(eh + 1);
}

static size_t arp_frame(uint8_t *f, uint16_t op, const char *sip, const char *tip, int bcast)
{
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_ARP);
	if (bcast)
		memset(f, 0xff, 6);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(f + off);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(op);
	a->arp_data.arp_sha = tenv_peer_mac;
	a->arp_data.arp_sip = tenv_ip(sip);
	memset(&a->arp_data.arp_tha, 0, 6);
	a->arp_data.arp_tip = tenv_ip(tip);
	return off + sizeof(*a);
}

START_TEST(test_reply_to_request)
{
	struct net_if *nif = tenv_nif();
	uint8_t f[64];
	size_t len = arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.1", "198.18.0.2", 1);
	tenv_rx(nif, f, len);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	struct rte_arp_hdr *a = tx_arp(0);
	ck_assert_uint_eq(ntohs(a->arp_opcode), RTE_ARP_OP_REPLY);
	ck_assert(rte_is_same_ether_addr(&a->arp_data.arp_sha, &tenv_our_mac));
	ck_assert_uint_eq(a->arp_data.arp_sip, tenv_ip("198.18.0.2"));
	ck_assert(rte_is_same_ether_addr(&a->arp_data.arp_tha, &tenv_peer_mac));
	ck_assert_uint_eq(a->arp_data.arp_tip, tenv_ip("198.18.0.1"));
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(tenv_tx[0], struct rte_ether_hdr *);
	ck_assert(rte_is_same_ether_addr(&eh->dst_addr, &tenv_peer_mac));
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(tenv_tx[0]), 42);
	/* the requester was learnt */
	const struct arp_entry *e = arp_lookup(&nif->arp, tenv_ip("198.18.0.1"));
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->state, ARP_REACHABLE);
	ck_assert_uint_eq(nif->cnt.arp_rx_req, 1);
	ck_assert_uint_eq(nif->cnt.arp_tx_reply, 1);
	tenv_nif_free(nif);
}
END_TEST

/* An extra address of the port (port.extra_ipv4, delivery source pools) is answered as itself;
 * the extra address as a sender is ours, never learnt as a neighbour. */
START_TEST(test_extra_address)
{
	struct net_if *nif = tenv_nif();
	nif->extra_ip[nif->n_extra_ip++] = tenv_ip("198.18.0.20");
	uint8_t f[64];
	size_t len = arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.1", "198.18.0.20", 1);
	tenv_rx(nif, f, len);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	struct rte_arp_hdr *a = tx_arp(0);
	ck_assert_uint_eq(ntohs(a->arp_opcode), RTE_ARP_OP_REPLY);
	ck_assert_uint_eq(a->arp_data.arp_sip, tenv_ip("198.18.0.20"));
	ck_assert(rte_is_same_ether_addr(&a->arp_data.arp_sha, &tenv_our_mac));
	len = arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.20", "198.18.0.2", 1);
	tenv_rx(nif, f, len);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);   /* no reply to ourselves */
	ck_assert_ptr_null(arp_lookup(&nif->arp, tenv_ip("198.18.0.20")));
	ck_assert(net_if_local(nif, tenv_ip("198.18.0.20")));
	ck_assert(!net_if_local(nif, tenv_ip("198.18.0.21")));
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_request_for_other_is_not_answered)
{
	struct net_if *nif = tenv_nif();
	uint8_t f[64];
	size_t len = arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.1", "198.18.0.9", 1);
	tenv_rx(nif, f, len);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 0);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_NOT_US], 1);
	/* not for us and unknown sender: not learnt (RFC 826 merge only updates) */
	ck_assert_ptr_null(arp_lookup(&nif->arp, tenv_ip("198.18.0.1")));
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_malformed)
{
	struct net_if *nif = tenv_nif();
	uint8_t f[64];
	size_t len = arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.1", "198.18.0.2", 1);
	tenv_rx(nif, f, len - 1);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_SHORT], 1);
	f[14 + 4] = 8;        /* hlen */
	tenv_rx(nif, f, len);
	arp_frame(f, 7, "198.18.0.1", "198.18.0.2", 1);
	tenv_rx(nif, f, len);
	arp_frame(f, RTE_ARP_OP_REQUEST, "198.18.0.1", "198.18.0.2", 1);
	memset(f + 14 + 8, 0xff, 6); /* broadcast sender MAC */
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_FORMAT], 3);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 0);
	tenv_nif_free(nif);
}
END_TEST

/* Output to an unknown next hop: request sent, packets held (bounded), released by the reply. */
START_TEST(test_resolve_hold_release)
{
	struct net_if *nif = tenv_nif();
	uint32_t nh = tenv_ip("198.18.0.1");
	nif->arp.p.hold = 4;
	for (int i = 0; i < 6; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
		struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, 60);
		eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
		((uint8_t *)eh)[59] = (uint8_t)i;
		ck_assert_int_eq(arp_output(nif, m, nh), 0);
	}
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);     /* one request, not one per packet */
	ck_assert_uint_eq(ntohs(tx_arp(0)->arp_opcode), RTE_ARP_OP_REQUEST);
	ck_assert_uint_eq(tx_arp(0)->arp_data.arp_tip, nh);
	const struct arp_entry *e = arp_lookup(&nif->arp, nh);
	ck_assert_int_eq(e->state, ARP_INCOMPLETE);
	ck_assert_uint_eq(e->nhold, 4);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_HOLD], 2);
	tenv_tx_clear();
	tenv_learn_peer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 4);
	for (unsigned i = 0; i < 4; i++) {
		uint8_t *p = rte_pktmbuf_mtod(tenv_tx[i], uint8_t *);
		ck_assert(rte_is_same_ether_addr((struct rte_ether_addr *)p, &tenv_peer_mac));
		ck_assert_uint_eq(p[59], i + 2); /* the oldest two were dropped, order kept */
	}
	ck_assert_int_eq(arp_lookup(&nif->arp, nh)->state, ARP_REACHABLE);
	ck_assert_uint_eq(nif->arp.nheld, 0);
	tenv_nif_free(nif);
}
END_TEST

/* The default holds a start-up's burst of SYNs through one next hop (a client opening 16
 * sessions at once lost 12 of them to a 1 s SYN retry when only 4 were held); the cache-wide
 * FIFO bounds all entries together, dropping the oldest frame of any entry; frames of two
 * next hops interleaved are released per hop in their order, the other's stay held. */
START_TEST(test_hold_burst_and_cache_bound)
{
	struct net_if *nif = tenv_nif();
	ck_assert_uint_eq(nif->arp.p.hold, 64);
	uint32_t a = tenv_ip("198.18.0.1"), b = tenv_ip("198.18.0.9");
	for (int i = 0; i < 200; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
		ck_assert_ptr_nonnull(m);
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, 60);
		p[58] = (uint8_t)(i >> 8);
		p[59] = (uint8_t)i;
		ck_assert_int_eq(arp_output(nif, m, i % 2 ? b : a), 0);
	}
	/* 100 per hop, 64 held per hop: the 36 oldest of each dropped */
	ck_assert_uint_eq(arp_lookup(&nif->arp, a)->nhold, 64);
	ck_assert_uint_eq(arp_lookup(&nif->arp, b)->nhold, 64);
	ck_assert_uint_eq(nif->arp.nheld, 128);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_HOLD], 72);
	net_tx_flush(nif);
	tenv_tx_clear();
	tenv_learn_peer(nif); /* the peer is 198.18.0.1 (a) */
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 64);
	for (unsigned i = 0; i < 64; i++) {
		uint8_t *p = rte_pktmbuf_mtod(tenv_tx[i], uint8_t *);
		ck_assert_uint_eq(p[58] << 8 | p[59], 72 + 2 * i); /* a's newest 64, in order */
	}
	ck_assert_uint_eq(arp_lookup(&nif->arp, b)->nhold, 64);
	ck_assert_uint_eq(nif->arp.nheld, 64);
	tenv_tx_clear();
	/* the cache-wide bound: 256 frames in all; b may hold all of them when raised */
	nif->arp.p.hold = ARP_HOLD_MAX;
	uint64_t before = nif->cnt.drop[NET_DROP_ARP_HOLD];
	for (int i = 0; i < 300; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
		ck_assert_ptr_nonnull(m);
		rte_pktmbuf_append(m, 60);
		ck_assert_int_eq(arp_output(nif, m, htonl(ntohl(tenv_ip("198.18.1.1")) + (uint32_t)(i % 3 == 0))), 0);
	}
	ck_assert_uint_eq(nif->arp.nheld, ARP_HOLD_MAX);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_HOLD] - before, 64 + 300 - ARP_HOLD_MAX);
	ck_assert_uint_eq(arp_lookup(&nif->arp, b)->nhold, 0); /* b's were the oldest */
	tenv_nif_free(nif);  /* frees what is still held */
}
END_TEST

START_TEST(test_retry_then_fail)
{
	struct net_if *nif = tenv_nif();
	uint32_t nh = tenv_ip("198.18.0.77");
	struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
	rte_pktmbuf_append(m, 60);
	arp_output(nif, m, nh);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	/* default: retry every 1000 ms, 3 requests in all, then fail */
	nif->now_us += 500000;
	arp_timer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	nif->now_us += 600000;
	ck_assert_int_gt(arp_timer(nif), 0);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 2);
	nif->now_us += 1000000;
	arp_timer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 3);
	ck_assert_uint_eq(nif->cnt.arp_tx_req, 3);
	nif->now_us += 1000000;
	arp_timer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 3);
	ck_assert_ptr_null(arp_lookup(&nif->arp, nh));
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ARP_UNRESOLVED], 1);
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_expiry)
{
	struct net_if *nif = tenv_nif();
	tenv_learn_peer(nif);
	uint32_t nh = tenv_ip("198.18.0.1");
	ck_assert_ptr_nonnull(arp_lookup(&nif->arp, nh));
	nif->now_us += 59 * 1000000ull;
	arp_timer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 0);
	/* past reachable_ms: polled by unicast, still used meanwhile */
	nif->now_us += 2 * 1000000ull;
	arp_timer(nif);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(tenv_tx[0], struct rte_ether_hdr *);
	ck_assert(rte_is_same_ether_addr(&eh->dst_addr, &tenv_peer_mac));
	ck_assert_uint_eq(ntohs(((struct rte_arp_hdr *)(eh + 1))->arp_opcode), RTE_ARP_OP_REQUEST);
	tenv_tx_clear();
	struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
	rte_pktmbuf_append(m, 60);
	arp_output(nif, m, nh);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);           /* sent at once, not held */
	tenv_tx_clear();
	/* the answer refreshes it */
	tenv_learn_peer(nif);
	ck_assert_uint_eq(arp_lookup(&nif->arp, nh)->retries, 0);
	/* a neighbour that stops answering is removed after max_retries polls */
	for (int i = 0; i < 3; i++) {
		nif->now_us += 61 * 1000000ull;
		arp_timer(nif);
		ck_assert_ptr_nonnull(arp_lookup(&nif->arp, nh));
	}
	nif->now_us += 1000000ull;
	arp_timer(nif);
	ck_assert_ptr_null(arp_lookup(&nif->arp, nh));
	ck_assert_uint_eq(nif->arp.n_used, 0);
	ck_assert_uint_eq(nif->cnt.arp_tx_req, 1 + 3);   /* the first poll, then three */
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_eviction_bounded)
{
	struct net_if *nif = tenv_nif();
	/* Far more addresses than the cache holds: memory stays bounded, newest wins. */
	for (unsigned i = 0; i < ARP_BUCKETS * ARP_WAYS * 3; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
		ck_assert_ptr_nonnull(m);
		rte_pktmbuf_append(m, 60);
		arp_output(nif, m, htonl(0x0a000000u + i));
		net_tx_flush(nif);
		tenv_tx_clear();
		nif->now_us++;
	}
	ck_assert_uint_le(nif->arp.n_used, ARP_BUCKETS * ARP_WAYS);
	ck_assert_ptr_nonnull(arp_lookup(&nif->arp, htonl(0x0a000000u + ARP_BUCKETS * ARP_WAYS * 3 - 1)));
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

START_TEST(test_gratuitous)
{
	struct net_if *nif = tenv_nif();
	ck_assert_int_eq(arp_announce(nif), 0);
	net_tx_flush(nif);
	struct rte_arp_hdr *a = tx_arp(0);
	ck_assert_uint_eq(ntohs(a->arp_opcode), RTE_ARP_OP_REQUEST);
	ck_assert_uint_eq(a->arp_data.arp_sip, nif->ip);
	ck_assert_uint_eq(a->arp_data.arp_tip, nif->ip);
	ck_assert(rte_is_broadcast_ether_addr(rte_pktmbuf_mtod(tenv_tx[0], struct rte_ether_addr *)));
	tenv_nif_free(nif);
}
END_TEST

/* Worker A asks; the reply lands on worker B's queue; A learns it through B's message. */
START_TEST(test_shared_between_workers)
{
	struct net_if *a = tenv_nif(), *b = tenv_nif();
	struct rte_ring *ra = rte_ring_create_elem("ta", sizeof(struct arp_neigh_msg), 64, SOCKET_ID_ANY, RING_F_SC_DEQ);
	struct rte_ring *rb = rte_ring_create_elem("tb", sizeof(struct arp_neigh_msg), 64, SOCKET_ID_ANY, RING_F_SC_DEQ);
	ck_assert_ptr_nonnull(ra);
	ck_assert_ptr_nonnull(rb);
	ck_assert_int_eq(net_if_set_peers(a, ra, &rb, 1), 0);
	ck_assert_int_eq(net_if_set_peers(b, rb, &ra, 1), 0);
	struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
	rte_pktmbuf_append(m, 60);
	arp_output(a, m, tenv_ip("198.18.0.1"));
	net_tx_flush(a);
	ck_assert_uint_eq(tenv_ntx, 1);            /* A's request */
	tenv_tx_clear();
	tenv_learn_peer(b);                        /* the reply arrives at B */
	ck_assert_int_eq(arp_lookup(&a->arp, tenv_ip("198.18.0.1"))->state, ARP_INCOMPLETE);
	ck_assert_int_eq(net_poll(a), 1);          /* A drains B's message */
	ck_assert_int_eq(arp_lookup(&a->arp, tenv_ip("198.18.0.1"))->state, ARP_REACHABLE);
	net_tx_flush(a);
	ck_assert_uint_eq(tenv_ntx, 1);            /* the held packet left */
	ck_assert(rte_is_same_ether_addr(rte_pktmbuf_mtod(tenv_tx[0], struct rte_ether_addr *), &tenv_peer_mac));
	/* a message about an unknown neighbour creates nothing */
	struct arp_neigh_msg msg = { .ip = tenv_ip("198.18.0.9"), .mac = tenv_peer_mac };
	rte_ring_mp_enqueue_elem(ra, &msg, sizeof(msg));
	ck_assert_int_eq(net_poll(a), 1);
	ck_assert_ptr_null(arp_lookup(&a->arp, tenv_ip("198.18.0.9")));
	tenv_nif_free(a);
	tenv_nif_free(b);
	rte_ring_free(ra);
	rte_ring_free(rb);
}
END_TEST

int main(void)
{
	tenv_eal(NULL);
	Suite *s = suite_create("arp");
	TCase *tc = tcase_create("arp");
	tcase_add_test(tc, test_reply_to_request);
	tcase_add_test(tc, test_request_for_other_is_not_answered);
	tcase_add_test(tc, test_extra_address);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_resolve_hold_release);
	tcase_add_test(tc, test_hold_burst_and_cache_bound);
	tcase_add_test(tc, test_retry_then_fail);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_eviction_bounded);
	tcase_add_test(tc, test_gratuitous);
	tcase_add_test(tc, test_shared_between_workers);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
