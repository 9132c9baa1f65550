/* SPDX-License-Identifier: MIT */
/* ip_test.c: checksums, IPv4 header validation (every malformed kind dropped and counted by
 * reason), L4 registration and delivery, routing and ip_output. */
#include "net_testenv.h"

/* ---- checksums --------------------------------------------------------------------------- */

START_TEST(test_cksum_rfc1071)
{
	/* RFC 1071 section 3 example: sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, checksum 220d */
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	ck_assert_uint_eq(ip_cksum_add(0, b, sizeof(b)) % 0xffff, 0x2ddf0 % 0xffff);
	ck_assert_uint_eq(ntohs(ip_cksum_fold(ip_cksum_add(0, b, sizeof(b)))), 0x220d);
	/* odd length: the last byte is padded with zero */
	const uint8_t c[] = { 0x12, 0x34, 0x56 };
	ck_assert_uint_eq(ip_cksum_add(0, c, 3), 0x1234 + 0x5600);
	/* sums of chunks add up: an even split gives the same checksum as the whole */
	uint8_t big[1000];
	for (int i = 0; i < 1000; i++)
		big[i] = (uint8_t)(i * 131 + 7);
	for (size_t cut = 0; cut <= 1000; cut += 2)
		ck_assert_uint_eq(ip_cksum_fold(ip_cksum_add(ip_cksum_add(0, big, cut), big + cut, 1000 - cut)),
				  ip_cksum_fold(ip_cksum_add(0, big, 1000)));
	/* and every length agrees with a byte-wise reference */
	for (size_t len = 0; len <= 200; len++) {
		uint32_t ref = 0;
		for (size_t i = 0; i + 1 < len; i += 2)
			ref += (uint32_t)(big[i] << 8 | big[i + 1]);
		if (len & 1)
			ref += (uint32_t)(big[len - 1] << 8);
		ck_assert_uint_eq(ip_cksum_fold(ip_cksum_add(0, big, len)), ip_cksum_fold(ref));
	}
}
END_TEST

START_TEST(test_cksum_matches_dpdk)
{
	uint8_t f[200];
	for (int i = 0; i < 50; i++) {
		uint16_t plen = (uint16_t)(i * 3);
		size_t len = tenv_ping(f, plen);
		struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)(f + 14);
		h->packet_id = htons((uint16_t)(i * 7919));
		h->hdr_checksum = 0;
		uint16_t ours = ip_hdr_cksum(h, 20);
		ck_assert_uint_eq(ours, rte_ipv4_cksum(h));
		h->hdr_checksum = ours;
		ck_assert_uint_eq(ip_hdr_cksum(h, 20), 0);
		/* L4 checksum over pseudo-header: compare with DPDK's TCP/UDP helper */
		h->next_proto_id = IPPROTO_UDP;
		uint8_t *l4 = f + 34;
		l4[6] = l4[7] = 0;
		uint16_t l4len = (uint16_t)(len - 34);
		uint16_t dp = rte_ipv4_udptcp_cksum(h, l4);
		uint16_t mine = ip_l4_cksum(h->src_addr, h->dst_addr, IPPROTO_UDP, l4, l4len);
		if (dp != 0xffff)   /* DPDK maps 0 to 0xffff for UDP */
			ck_assert_uint_eq(mine, dp);
		ck_assert_uint_eq(ip_phdr_cksum(h->src_addr, h->dst_addr, IPPROTO_UDP, l4len),
				  rte_ipv4_phdr_cksum(h, 0));
	}
}
END_TEST

/* ---- input validation ---------------------------------------------------------------------- */

static struct rte_mbuf *got;
static struct ip_rx_info got_info;
static void l4_sink(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	(void)ctx;
	got = m;
	got_info = *info;
}

/* frame: eth + valid IPv4 to us, proto 253, payload 10 bytes; then edit and re-checksum. */
static size_t base(uint8_t *f, uint8_t proto)
{
	memset(f, 0, 128);
	size_t off = tenv_eth(f, RTE_ETHER_TYPE_IPV4);
	off += tenv_ipv4(f + off, tenv_ip("198.18.0.1"), tenv_ip("198.18.0.2"), proto, 10);
	memcpy(f + off, "0123456789", 10);
	return off + 10;
}

static void recksum(uint8_t *f)
{
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)(f + 14);
	h->hdr_checksum = 0;
	h->hdr_checksum = ip_hdr_cksum(h, (size_t)(h->version_ihl & 0xf) * 4);
}

START_TEST(test_deliver)
{
	struct net_if *nif = tenv_nif();
	ip_register_l4(nif, 253, l4_sink, NULL);
	uint8_t f[128];
	size_t len = base(f, 253);
	got = NULL;
	tenv_rx(nif, f, len + 6);   /* link padding after the datagram */
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(got), 10);
	ck_assert_int_eq(memcmp(rte_pktmbuf_mtod(got, void *), "0123456789", 10), 0);
	ck_assert_uint_eq(got_info.l4_len, 10);
	ck_assert_uint_eq(got_info.proto, 253);
	ck_assert_uint_eq(got_info.src, tenv_ip("198.18.0.1"));
	ck_assert_uint_eq(got_info.dst, tenv_ip("198.18.0.2"));
	ck_assert_uint_eq(got_info.ttl, 64);
	ck_assert_uint_eq(got->l3_len, 20);
	rte_pktmbuf_free(got);
	ck_assert_uint_eq(nif->cnt.ip_rx, 1);
	ck_assert_uint_eq(net_drops_total(&nif->cnt), 0);
	/* unregistered: counted and freed */
	ip_register_l4(nif, 253, NULL, NULL);
	tenv_rx(nif, f, len);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_IP_PROTO], 1);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

struct bad { const char *name; enum net_drop why; void (*edit)(uint8_t *f, size_t *len); };

static void e_short(uint8_t *f, size_t *len) { (void)f; *len = 14 + 19; }
static void e_version(uint8_t *f, size_t *len) { (void)len; f[14] = 0x65; recksum(f); }
static void e_ihl_small(uint8_t *f, size_t *len) { (void)len; f[14] = 0x44; }
static void e_ihl_big(uint8_t *f, size_t *len) { (void)len; f[14] = 0x4f; }
static void e_len_big(uint8_t *f, size_t *len) { (void)len; f[16] = 0x05; recksum(f); }
static void e_len_small(uint8_t *f, size_t *len) { (void)len; f[16] = 0; f[17] = 19; recksum(f); }
static void e_cksum(uint8_t *f, size_t *len) { (void)len; f[14 + 10] ^= 0x40; }
static void e_ttl(uint8_t *f, size_t *len) { (void)len; f[14 + 8] = 0; recksum(f); }
static void e_mf(uint8_t *f, size_t *len) { (void)len; f[14 + 6] = 0x20; recksum(f); }
static void e_off(uint8_t *f, size_t *len) { (void)len; f[14 + 7] = 0x01; recksum(f); }
static void e_opts(uint8_t *f, size_t *len)
{
	memmove(f + 38, f + 34, 10);
	memset(f + 34, 1, 4);   /* four NOPs */
	f[14] = 0x46;
	f[17] = 34;
	*len += 4;
	recksum(f);
}
static void e_src_bcast(uint8_t *f, size_t *len) { (void)len; f[14 + 15] = 255; recksum(f); }
static void e_src_mcast(uint8_t *f, size_t *len) { (void)len; f[14 + 12] = 224; recksum(f); }
static void e_src_zero(uint8_t *f, size_t *len) { (void)len; f[14 + 12] = 0; recksum(f); }
static void e_src_lo(uint8_t *f, size_t *len) { (void)len; f[14 + 12] = 127; recksum(f); }
static void e_src_us(uint8_t *f, size_t *len) { (void)len; f[14 + 15] = 2; recksum(f); }
static void e_dst(uint8_t *f, size_t *len) { (void)len; f[14 + 19] = 3; recksum(f); }
static void e_dst_bcast(uint8_t *f, size_t *len) { (void)len; f[14 + 19] = 255; recksum(f); }

static const struct bad bads[] = {
	{ "short", NET_DROP_IP_SHORT, e_short },
	{ "version", NET_DROP_IP_VERSION, e_version },
	{ "ihl<5", NET_DROP_IP_IHL, e_ihl_small },
	{ "ihl>frame", NET_DROP_IP_IHL, e_ihl_big },
	{ "len>frame", NET_DROP_IP_LEN, e_len_big },
	{ "len<ihl", NET_DROP_IP_LEN, e_len_small },
	{ "cksum", NET_DROP_IP_CKSUM, e_cksum },
	{ "ttl0", NET_DROP_IP_TTL, e_ttl },
	{ "MF", NET_DROP_IP_FRAG, e_mf },
	{ "offset", NET_DROP_IP_FRAG, e_off },
	{ "options", NET_DROP_IP_OPTIONS, e_opts },
	{ "src bcast", NET_DROP_IP_SRC, e_src_bcast },
	{ "src mcast", NET_DROP_IP_SRC, e_src_mcast },
	{ "src ours", NET_DROP_IP_SRC, e_src_us },
	{ "src 0/8", NET_DROP_IP_SRC, e_src_zero },
	{ "src loopback", NET_DROP_IP_SRC, e_src_lo },
	{ "dst other", NET_DROP_IP_NOT_US, e_dst },
	{ "dst bcast", NET_DROP_IP_NOT_US, e_dst_bcast },
};

START_TEST(test_malformed)
{
	const struct bad *b = &bads[_i];
	struct net_if *nif = tenv_nif();
	ip_register_l4(nif, 253, l4_sink, NULL);
	uint8_t f[128];
	size_t len = base(f, 253);
	b->edit(f, &len);
	got = NULL;
	tenv_rx(nif, f, len);
	ck_assert_msg(got == NULL, "%s delivered", b->name);
	ck_assert_msg(nif->cnt.drop[b->why] == 1, "%s: drop_%s=%lu", b->name, net_drop_name(b->why),
		      (unsigned long)nif->cnt.drop[b->why]);
	ck_assert_uint_eq(net_drops_total(&nif->cnt), 1);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

/* A frame in exactly-sized memory: any read past the end is caught by ASan in the asan build
 * (mbuf data is copied into a heap buffer and checked via the contiguous-mbuf path too). */
START_TEST(test_every_truncation)
{
	struct net_if *nif = tenv_nif();
	ip_register_l4(nif, 253, l4_sink, NULL);
	uint8_t f[128];
	size_t len = base(f, 253);
	for (size_t l = 0; l < len; l++) {
		got = NULL;
		tenv_rx(nif, f, l);
		ck_assert_msg(got == NULL, "truncated to %zu delivered", l);
	}
	ck_assert_uint_eq(net_drops_total(&nif->cnt), len);
	tenv_nif_free(nif);
}
END_TEST

/* ---- output and routing ------------------------------------------------------------------- */

START_TEST(test_route)
{
	struct net_if *nif = tenv_nif();
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.18.0.9")), tenv_ip("198.18.0.9"));
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.19.5.5")), tenv_ip("198.18.0.1"));
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.18.0.255")), 0);
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.18.0.0")), 0);
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.18.0.2")), 0);
	ck_assert_uint_eq(ip_route(nif, tenv_ip("224.0.0.5")), 0);
	nif->gateway = 0;
	ck_assert_uint_eq(ip_route(nif, tenv_ip("198.19.5.5")), 0);
	tenv_nif_free(nif);
}
END_TEST

static struct rte_mbuf *l4_packet(uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tenv_pool);
	ck_assert_uint_ge(rte_pktmbuf_headroom(m), NET_HDR_ROOM);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, len);
	for (uint16_t i = 0; i < len; i++)
		p[i] = (uint8_t)i;
	return m;
}

START_TEST(test_output_via_gateway)
{
	struct net_if *nif = tenv_nif();
	tenv_learn_peer(nif);
	ck_assert_int_eq(ip_output(nif, l4_packet(100), 0, tenv_ip("203.0.113.7"), 253), 0);
	net_tx_flush(nif);
	ck_assert_uint_eq(tenv_ntx, 1);
	struct rte_mbuf *m = tenv_tx[0];
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(m), 14 + 20 + 100);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ck_assert(rte_is_same_ether_addr(&eh->dst_addr, &tenv_peer_mac));   /* the gateway's */
	ck_assert(rte_is_same_ether_addr(&eh->src_addr, &tenv_our_mac));
	struct rte_ipv4_hdr *h = (struct rte_ipv4_hdr *)(eh + 1);
	ck_assert_uint_eq(h->version_ihl, 0x45);
	ck_assert_uint_eq(ntohs(h->total_length), 120);
	ck_assert_uint_eq(h->src_addr, nif->ip);
	ck_assert_uint_eq(h->dst_addr, tenv_ip("203.0.113.7"));
	ck_assert_uint_eq(h->next_proto_id, 253);
	ck_assert_uint_eq(h->time_to_live, 64);
	ck_assert_uint_eq(ntohs(h->fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	ck_assert_uint_eq(ip_hdr_cksum(h, 20), 0);
	ck_assert_uint_eq(nif->cnt.ip_tx, 1);
	tenv_nif_free(nif);
}
END_TEST

START_TEST(test_output_errors)
{
	struct net_if *nif = tenv_nif();
	ck_assert_int_eq(ip_output(nif, l4_packet(1481), 0, tenv_ip("198.18.0.1"), 6), -EMSGSIZE);
	ck_assert_int_eq(ip_output(nif, l4_packet(10), 0, tenv_ip("255.255.255.255"), 6), -ENETUNREACH);
	ck_assert_int_eq(ip_output(nif, l4_packet(10), tenv_ip("198.18.0.3"), tenv_ip("198.18.0.1"), 6),
			 -EADDRNOTAVAIL);
	/* leave only 20 bytes of headroom: no room for Ethernet + IPv4 */
	struct rte_mbuf *m = l4_packet(10);
	rte_pktmbuf_prepend(m, (uint16_t)(rte_pktmbuf_headroom(m) - 20));
	ck_assert_int_eq(ip_output(nif, m, 0, tenv_ip("198.18.0.1"), 6), -ENOSPC);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_NOROUTE], 2);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_SIZE], 1);
	ck_assert_uint_eq(nif->cnt.drop[NET_DROP_TX_HEADROOM], 1);
	tenv_nif_free(nif);
	ck_assert_uint_eq(rte_mempool_in_use_count(tenv_pool), 0);
}
END_TEST

int main(void)
{
	tenv_eal(NULL);
	Suite *s = suite_create("ip");
	TCase *tc = tcase_create("ip");
	tcase_add_test(tc, test_cksum_rfc1071);
	tcase_add_test(tc, test_cksum_matches_dpdk);
	tcase_add_test(tc, test_deliver);
	tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof(bads) / sizeof(bads[0])));
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_route);
	tcase_add_test(tc, test_output_via_gateway);
	tcase_add_test(tc, test_output_errors);
	suite_add_tcase(s, tc);
	return tenv_run(s);
}
