/* SPDX-License-Identifier: MIT */
/* eth_test.c: Ethernet filtering (our MAC, broadcast, others), short frames, ethertypes,
 * chained mbufs, and the counters' formatting. */
#include "net_testenv.h"

START_TEST(test_filter)
{
	struct net_if *nif = tenv_nif();
	uint8_t f[128];
	size_t len = tenv_ping(f, 8);
	tenv_rx(nif, f, 13);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ETH_SHORT], 1);
	tenv_rx(nif, f, 0);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ETH_SHORT], 2);
	f[5] = 0x77;                                 /* another unicast MAC */
	tenv_rx(nif, f, len);
	f[0] = 0x01;                                 /* multicast */
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ETH_DST], 2);
	len = tenv_ping(f, 8);
	f[12] = 0x86;
	f[13] = 0xdd;                                /* IPv6 */
	tenv_rx(nif, f, len);
	f[12] = 0x81;
	f[13] = 0x00;                                /* VLAN */
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ETH_TYPE], 2);
	ck_assert_uint_eq(nif->cnt.rx_pkts, 6);
	/* broadcast IPv4 reaches IP (and is dropped there: not our address) */
	len = tenv_ping(f, 8);
	memset(f, 0xff, 6);
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_ETH_DST], 2);
	ck_assert_uint_eq(nif->cnt.icmp_echo_rx, 1);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

START_TEST(test_chained_mbuf_dropped)
{
	struct net_if *nif = tenv_nif();
	uint8_t f[128];
	size_t len = tenv_ping(f, 8);
	struct rte_mbuf *a = tenv_mbuf(f, 20), *b = tenv_mbuf(f + 20, len - 20);
	ck_assert_int_eq(rte_pktmbuf_chain(a, b), 0);
	net_rx(nif, &a, 1);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_NONLINEAR], 1);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

START_TEST(test_counters_format)
{
	struct net_counters c, t;
	memset(&c, 0, sizeof(c));
	memset(&t, 0, sizeof(t));
	c.rx_pkts = 7;
	c.drop[NET_DROP_IP_CKSUM] = 3;
	c.drop[NET_DROP_ETH_DST] = 2;
	net_counters_add(&t, &c);
	net_counters_add(&t, &c);
	char buf[4096];
	int n = net_counters_format(&t, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_nonnull(strstr(buf, "rx=14 "));
	ck_assert_ptr_nonnull(strstr(buf, " drops=10 "));
	ck_assert_ptr_nonnull(strstr(buf, " drop_ip_cksum=6"));
	ck_assert_ptr_nonnull(strstr(buf, " drop_nombuf=0"));
	for (int i = 0; i < NET_DROP__MAX; i++)
		ck_assert_str_ne(net_drop_name(i), "unknown");
	ck_assert_str_eq(net_drop_name(NET_DROP__MAX), "unknown");
	/* truncation is safe and reports the needed length */
	char small[16];
	ck_assert_int_eq(net_counters_format(&t, small, sizeof(small)), n);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

int main(void)
{
	tenv_eal(NULL);
	Suite *s = suite_create("eth");
	TCase *tc = tcase_create("eth");
	tcase_add_test(tc, test_filter);
	tcase_add_test(tc, test_chained_mbuf_dropped);
	tcase_add_test(tc, test_counters_format);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
