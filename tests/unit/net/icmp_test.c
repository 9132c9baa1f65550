/* SPDX-License-Identifier: MIT */
/* icmp_test.c: echo replies (content, checksums, addresses), ignored types, malformed ICMP,
 * and the ICMP error hook that TCP uses (fragmentation needed, port unreachable). */
#include "net_testenv.h"

START_TEST(test_echo_reply)
{
	struct net_if *nif = tenv_nif();
	tenv_learn_peer(nif);
	uint8_t f[256];
	size_t len = tenv_ping(f, 56);
	tenv_rx(nif, f, len);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	struct rte_mbuf *m = tenv_tx[0];
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(m), len);
	uint8_t *r = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)(r + 14);
	ck_assert_uint_eq(h->src_addr, tenv_ip("198.18.0.2"));
	ck_assert_uint_eq(h->dst_addr, tenv_ip("198.18.0.1"));
	ck_assert_uint_eq(ip_hdr_cksum(h, 20), 0);
	ck_assert_uint_eq(r[34], 0);                                /* echo reply */
	ck_assert_uint_eq(ip_hdr_cksum(r + 34, len - 34), 0);       /* valid ICMP checksum */
	ck_assert_int_eq(memcmp(r + 38, f + 38, len - 38), 0);      /* id, seq, payload echoed */
	ck_assert(rte_is_same_ether_addr((struct rte_ether_addr *)r, &tenv_peer_mac));
	ck_assert_uint_eq(nif->cnt.icmp_echo_rx, 1);
	ck_assert_uint_eq(nif->cnt.icmp_echo_tx, 1);
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_bad_icmp)
{
	struct net_if *nif = tenv_nif();
	tenv_learn_peer(nif);
	uint8_t f[256];
	size_t len = tenv_ping(f, 16);
	f[40] ^= 1;                              /* payload changed: checksum wrong */
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ICMP_CKSUM], 1);
	/* 4 bytes of ICMP only */
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_IPV4);
	off += tenv_ipv4(f + off, tenv_ip("198.18.0.1"), tenv_ip("198.18.0.2"), IPPROTO_ICMP, 4);
	memset(f + off, 0, 4);
	tenv_rx(nif, f, off + 4);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ICMP_SHORT], 1);
	/* timestamp request (13): ignored */
	len = tenv_ping(f, 16);
	f[34] = 13;
	f[36] = f[37] = 0;
	uint16_t ck = ip_hdr_cksum(f + 34, len - 34);
	memcpy(f + 36, &ck, 2);
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ICMP_TYPE], 1);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 0);
	tenv_nif_free(nif);
}
END_TEST

static struct icmp_err_info seen;
static uint8_t seen_l4[8];
static int nseen;
static void err_hook(void *ctx, const struct icmp_err_info *e)
{
	(void)ctx;
	seen = *e;
	memcpy(seen_l4, e->l4, 8);
	nseen++;
}

/* An ICMP error from a router quoting our TCP segment to 203.0.113.7:25. */
static size_t icmp_error(uint8_t *f, uint8_t type, uint8_t code, uint16_t mtu, uint32_t quoted_src)
{
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_IPV4);
	uint16_t l4 = 8 + 20 + 8;
	off += tenv_ipv4(f + off, tenv_ip("198.18.0.1"), tenv_ip("198.18.0.2"), IPPROTO_ICMP, l4);
	uint8_t *ic = f + off;
	memset(ic, 0, l4);
	ic[0] = type;
	ic[1] = code;
	ic[6] = (uint8_t)(mtu >> 8);
	ic[7] = (uint8_t)mtu;
	tenv_ipv4(ic + 8, quoted_src, tenv_ip("203.0.113.7"), IPPROTO_TCP, 20);
	uint8_t tcp8[8] = { 0xc0, 0x01, 0x00, 0x19, 1, 2, 3, 4 };
	memcpy(ic + 28, tcp8, 8);
	uint16_t ck = ip_hdr_cksum(ic, l4);
	memcpy(ic + 2, &ck, 2);
	return off + l4;
}

START_TEST(test_error_hook)
{
	struct net_if *nif = tenv_nif();
	ip_register_icmp_err(nif, IPPROTO_TCP, err_hook, NULL);
	uint8_t f[256];
	nseen = 0;
	tenv_rx(nif, f, icmp_error(f, 3, 4, 1400, tenv_ip("198.18.0.2")));
	ck_assert_int_eq(nseen, 1);
	ck_assert_uint_eq(seen.type, 3);
	ck_assert_uint_eq(seen.code, 4);
	ck_assert_uint_eq(seen.next_mtu, 1400);
	ck_assert_uint_eq(seen.proto, IPPROTO_TCP);
	ck_assert_uint_eq(seen.src, tenv_ip("198.18.0.2"));
	ck_assert_uint_eq(seen.dst, tenv_ip("203.0.113.7"));
	ck_assert_uint_eq(seen.reporter, tenv_ip("198.18.0.1"));
	ck_assert_uint_ge(seen.l4_len, 8);
	ck_assert_uint_eq(seen_l4[3], 25);
	tenv_rx(nif, f, icmp_error(f, 3, 3, 0, tenv_ip("198.18.0.2")));
	ck_assert_int_eq(nseen, 2);
	ck_assert_uint_eq(seen.next_mtu, 0);
	/* quoting somebody else's datagram: not ours, ignored */
	tenv_rx(nif, f, icmp_error(f, 3, 3, 0, tenv_ip("198.18.0.50")));
	ck_assert_int_eq(nseen, 2);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ICMP_TYPE], 1);
	ck_assert_uint_eq(nif->cnt.icmp_err_rx, 2);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 0);          /* never an error about an error */
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

int main(void)
{
	tenv_eal(NULL);
	Suite *s = suite_create("icmp");
	TCase *tc = tcase_create("icmp");
	tcase_add_test(tc, test_echo_reply);
	tcase_add_test(tc, test_bad_icmp);
	tcase_add_test(tc, test_error_hook);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
