/* SPDX-License-Identifier: MIT */
/*
 * tx_hold_test.c: net_tx_flush's hold queue on a real ethdev whose TX queue fills: net_ring
 * (a vdev whose one queue pair is one rte_ring of 1024 slots: what is sent comes back on RX).
 * Frames the queue does not take wait, in order, for the next flush; beyond NET_TX_HOLD they
 * are dropped (drop_tx_full); net_if_fini frees what still waits.
 */
#include "net_testenv.h"

#include <stdio.h>

#include <rte_ethdev.h>

#define RING_SLOTS 1023 /* a 1024-slot rte_ring holds 1023 */

static uint16_t port;

/* A frame carrying its sequence number. */
static struct rte_mbuf *seq_frame(uint32_t seq)
{
	uint8_t b[64] = { 0 };
	memcpy(b + 20, &seq, sizeof(seq));
	return tenv_mbuf(b, sizeof(b));
}

static uint32_t frame_seq(const struct rte_mbuf *m)
{
	uint32_t seq;
	memcpy(&seq, rte_pktmbuf_mtod_offset(m, const uint8_t *, 20), sizeof(seq));
	return seq;
}

/* Takes up to max frames off the ring (the port's RX side), checking they come in sequence
 * from *next on. Returns how many. */
static unsigned drain(unsigned max, uint32_t *next)
{
	unsigned got = 0;
	struct rte_mbuf *m[32];
	while (got < max) {
		uint16_t want = (uint16_t)RTE_MIN(32u, max - got);
		uint16_t n = rte_eth_rx_burst(port, 0, m, want);
		if (n == 0)
			break;
		for (uint16_t i = 0; i < n; i++) {
			ck_assert_uint_eq(frame_seq(m[i]), *next);
			(*next)++;
			rte_pktmbuf_free(m[i]);
		}
		got += n;
	}
	return got;
}

static struct net_if *ring_nif(void)
{
	struct net_if *nif = tenv_nif();
	nif->tx.sink = NULL;
	nif->port_id = port;
	nif->queue_id = 0;
	return nif;
}

START_TEST(test_full_queue_holds_in_order)
{
	struct net_if *nif = ring_nif();
	uint32_t next = 0, sent_seq = 0;
	/* the ring's worth and 200 more: the queue takes 1023, 200 wait */
	for (unsigned i = 0; i < RING_SLOTS + 200; i++)
		net_tx(nif, seq_frame(sent_seq++));
	net_tx_flush(nif);
	ck_assert_uint_eq(nif->tx.held_n, 200);
	ck_assert_uint_eq(nif->cnt.tx_held, 200);
	ck_assert_uint_eq(nif->cnt.tx_pkts, RING_SLOTS);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_FULL], 0);
	/* still full: a flush sends nothing, and says so (an idle turn) */
	ck_assert_uint_eq(net_tx_flush(nif), 0);
	/* room for 100: the oldest held go first, new frames queue behind the rest */
	ck_assert_uint_eq(drain(100, &next), 100);
	net_tx(nif, seq_frame(sent_seq++));
	ck_assert_uint_eq(net_tx_flush(nif), 100);
	ck_assert_uint_eq(nif->tx.held_n, 101);
	/* everything arrives, each frame once, in the order it was sent */
	while (next < sent_seq) {
		drain(RING_SLOTS, &next);
		net_tx_flush(nif);
	}
	ck_assert_uint_eq(nif->tx.held_n, 0);
	ck_assert_uint_eq(nif->cnt.tx_pkts, sent_seq);
	ck_assert_uint_eq(nif->cnt.tx_bytes, (uint64_t)sent_seq * 64);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_FULL], 0);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

START_TEST(test_hold_overflow_drops_newest)
{
	struct net_if *nif = ring_nif();
	uint32_t next = 0, seq = 0;
	for (unsigned i = 0; i < RING_SLOTS + NET_TX_HOLD + 10; i++)
		net_tx(nif, seq_frame(seq++));
	net_tx_flush(nif);
	ck_assert_uint_eq(nif->tx.held_n, NET_TX_HOLD);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_FULL], 10);
	/* what was kept still goes out in order: the first ring + hold's worth */
	while (drain(RING_SLOTS, &next) > 0)
		net_tx_flush(nif);
	ck_assert_uint_eq(next, RING_SLOTS + NET_TX_HOLD);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

START_TEST(test_fini_frees_held)
{
	struct net_if *nif = ring_nif();
	uint32_t next = 0;
	for (unsigned i = 0; i < RING_SLOTS + 50; i++)
		net_tx(nif, seq_frame(i));
	net_tx_flush(nif);
	ck_assert_uint_eq(nif->tx.held_n, 50);
	tenv_nif_free(nif);  /* the 50 held frames go back to the pool; the ring keeps its own */
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), RING_SLOTS);
	ck_assert_uint_eq(drain(RING_SLOTS, &next), RING_SLOTS);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

int main(void)
{
	tenv_eal("--vdev=net_ring0");
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_get_port_by_name("net_ring0", &port) != 0 ||
	    rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 64, SOCKET_ID_ANY, NULL, tenv_pool) != 0 ||
	    rte_eth_tx_queue_setup(port, 0, 64, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(port) != 0) {
		fprintf(stderr, "tx_hold_test: no net_ring0 port\n");
		return 1;
	}
	Suite *s = suite_create("tx_hold");
	TCase *tc = tcase_create("tx_hold");
	tcase_add_test(tc, test_full_queue_holds_in_order);
	tcase_add_test(tc, test_hold_overflow_drops_newest);
	tcase_add_test(tc, test_fini_frees_held);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
