/* SPDX-License-Identifier: MIT */
/* tcp_units_test.c: the stack's pure parts: sequence arithmetic across the wrap, the option
 * codec (round trips, any order, unknown kinds, malformed input), the RTO estimator (RFC 6298
 * arithmetic, floor, ceiling, backoff), the out-of-order queue (overlaps, duplicates, cap)
 * and the SACK blocks it produces, the send-queue byte queue, and SipHash test vectors. */
#include <rte_ip.h>

#include "tcp_harness.h"

START_TEST(seq_arithmetic_wraps)
{
	ck_assert(tcp_seq_lt(0xfffffff0u, 0x10));
	ck_assert(tcp_seq_gt(0x10, 0xfffffff0u));
	ck_assert(tcp_seq_leq(5, 5) && tcp_seq_geq(5, 5));
	ck_assert(!tcp_seq_lt(5, 5));
	ck_assert(tcp_seq_in(0xffffffffu, 0xfffffff0u, 0x10));
	ck_assert(tcp_seq_in(0, 0xfffffff0u, 0x10));
	ck_assert(!tcp_seq_in(0x10, 0xfffffff0u, 0x10));
	ck_assert_uint_eq(tcp_seq_max(0xfffffff0u, 3), 3);
	ck_assert_uint_eq(tcp_seq_min(0xfffffff0u, 3), 0xfffffff0u);
	ck_assert(tcp_seq_lt(0, 0x7fffffffu));
	ck_assert(tcp_seq_gt(0, 0x80000001u));
}
END_TEST

START_TEST(options_round_trip)
{
	uint8_t b[40];
	struct tcp_opts o;
	uint32_t n = tcp_opts_build_syn(b, 1460, 7, true, true, 123, 456);
	ck_assert_uint_eq(n % 4, 0);
	ck_assert_uint_le(n, 20);
	ck_assert_int_eq(tcp_opts_parse(b, n, &o), 0);
	ck_assert(o.has_mss && o.mss == 1460 && o.has_ws && o.wscale == 7 && o.sack_ok);
	ck_assert(o.has_ts && o.tsval == 123 && o.tsecr == 456);
	for (int mask = 0; mask < 8; mask++) {
		n = tcp_opts_build_syn(b, 536, (mask & 1) ? 2 : -1, mask & 2, mask & 4, 9, 0);
		ck_assert_int_eq(tcp_opts_parse(b, n, &o), 0);
		ck_assert_uint_eq(o.has_ws, !!(mask & 1));
		ck_assert_uint_eq(o.sack_ok, !!(mask & 2));
		ck_assert_uint_eq(o.has_ts, !!(mask & 4));
	}
	uint32_t blk[4][2] = { { 1, 2 }, { 3, 4 }, { 5, 6 }, { 7, 8 } };
	n = tcp_opts_build(b, true, 1, 2, (const uint32_t (*)[2])blk, 4);
	ck_assert_uint_le(n, 40);
	ck_assert_int_eq(tcp_opts_parse(b, n, &o), 0);
	ck_assert_uint_eq(o.nsack, 3); /* only three fit beside timestamps */
	ck_assert_uint_eq(o.sack[2][1], 6);
	n = tcp_opts_build(b, false, 0, 0, (const uint32_t (*)[2])blk, 4);
	ck_assert_int_eq(tcp_opts_parse(b, n, &o), 0);
	ck_assert_uint_eq(o.nsack, 4);
	/* timestamps alone (the parser's fast path): nothing else set, as the general loop */
	n = tcp_opts_build(b, true, 0xdeadbeef, 7, NULL, 0);
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(tcp_opts_parse(b, n, &o), 0);
	ck_assert(o.has_ts && o.tsval == 0xdeadbeef && o.tsecr == 7);
	ck_assert(!o.has_mss && !o.has_ws && !o.sack_ok && o.nsack == 0);
	b[3] = 12; /* the same layout with a TS length running past the options: malformed */
	ck_assert_int_lt(tcp_opts_parse(b, n, &o), 0);
}
END_TEST

START_TEST(options_any_order_unknown_and_eol)
{
	struct tcp_opts o;
	const uint8_t a[] = { 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 9, 4, 2, 253, 4, 1, 1,
			      2, 4, 0x05, 0xb4 };
	ck_assert_int_eq(tcp_opts_parse(a, sizeof(a), &o), 0);
	ck_assert(o.has_ts && o.tsval == 1 && o.tsecr == 2);
	ck_assert(o.has_ws && o.wscale == 9 && o.sack_ok && o.has_mss && o.mss == 1460);
	const uint8_t eol[] = { 0, 2, 1 }; /* after EOL nothing is parsed */
	ck_assert_int_eq(tcp_opts_parse(eol, sizeof(eol), &o), 0);
	ck_assert(!o.has_mss);
	const uint8_t ws_big[] = { 3, 3, 20, 0 };
	ck_assert_int_eq(tcp_opts_parse(ws_big, sizeof(ws_big), &o), 0);
	ck_assert_uint_eq(o.wscale, 14);
	ck_assert_int_eq(tcp_opts_parse(NULL, 0, &o), 0);
}
END_TEST

START_TEST(options_malformed)
{
	struct tcp_opts o;
	const uint8_t *bad[] = {
		(const uint8_t[]){ 2 },                /* kind without length */
		(const uint8_t[]){ 2, 1 },             /* length < 2 */
		(const uint8_t[]){ 2, 0 },             /* zero length */
		(const uint8_t[]){ 2, 6, 0, 0 },       /* runs past the end */
		(const uint8_t[]){ 2, 3, 0, 1 },       /* MSS of length 3 */
		(const uint8_t[]){ 8, 8, 0, 0, 0, 0, 0, 0 }, /* TS of length 8 */
		(const uint8_t[]){ 5, 6, 0, 0, 0, 0, 1, 1 }, /* SACK not a multiple of 8 */
		(const uint8_t[]){ 4, 3, 0, 1 },       /* SACK-permitted of length 3 */
		(const uint8_t[]){ 99, 9, 0, 0 },      /* unknown running past */
	};
	const uint32_t lens[] = { 1, 2, 2, 4, 4, 8, 8, 4, 4 };
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		ck_assert_msg(tcp_opts_parse(bad[i], lens[i], &o) < 0, "case %u accepted", i);
}
END_TEST

START_TEST(rto_estimator)
{
	struct h *h = h_new(NULL);
	struct tcp_conn tc = { .st = h->st };
	ck_assert_uint_eq(tcp_rto_backed_off(&tc), 1000000); /* initial 1 s */
	tcp_rtt_sample(&tc, 100000);                        /* first: srtt=R, rttvar=R/2 */
	ck_assert_uint_eq(tc.srtt_us, 100000);
	ck_assert_uint_eq(tc.rttvar_us, 50000);
	ck_assert_uint_eq(tc.rto_us, 300000);
	tcp_rtt_sample(&tc, 200000);
	ck_assert_uint_eq(tc.rttvar_us, (3 * 50000 + 100000) / 4);
	ck_assert_uint_eq(tc.srtt_us, (7 * 100000 + 200000) / 8);
	ck_assert_uint_eq(tc.rto_us, tc.srtt_us + 4 * tc.rttvar_us);
	struct tcp_conn t2 = { .st = h->st };
	tcp_rtt_sample(&t2, 1000);                          /* tiny RTT: 200 ms floor */
	ck_assert_uint_eq(t2.rto_us, 200000);
	t2.rtx_count = 3;
	ck_assert_uint_eq(tcp_rto_backed_off(&t2), 1600000);
	t2.rtx_count = 12;
	ck_assert_uint_eq(tcp_rto_backed_off(&t2), 60000000); /* 60 s ceiling */
	struct tcp_conn t3 = { .st = h->st };
	tcp_rtt_sample(&t3, 90000000);
	ck_assert_uint_eq(t3.rto_us, 60000000);
	h_free(h);
}
END_TEST

/* An mbuf holding len bytes of the pattern at stream offset off. */
static struct rte_mbuf *seg(uint32_t off, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(h_mp);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	ck_assert_ptr_nonnull(p);
	h_pattern(p, len, off);
	return m;
}

START_TEST(ooo_queue_and_sack)
{
	struct h *h = h_new(NULL);
	struct tcp_conn tc = { .st = h->st, .rcv_nxt = 1000 };
	uint32_t b[4][2];
	tcp_ooo_insert(&tc, seg(2000, 500), 3000);   /* [3000,3500) */
	tcp_ooo_insert(&tc, seg(4000, 500), 5000);   /* [5000,5500) */
	ck_assert_uint_eq(tcp_ooo_sack(&tc, b, 4), 2);
	ck_assert_uint_eq(b[0][0], 5000);            /* most recent first */
	ck_assert_uint_eq(b[1][0], 3000);
	tcp_ooo_insert(&tc, seg(2200, 100), 3200);   /* duplicate inside */
	ck_assert_uint_eq(tc.ooo.nsegs, 2);
	ck_assert_uint_eq(tcp_ooo_sack(&tc, b, 4), 2);
	ck_assert_uint_eq(b[0][0], 3000);            /* the block it fell into is most recent */
	tcp_ooo_insert(&tc, seg(2400, 1200), 3400);  /* bridges [3400,4600): merges on report */
	ck_assert_uint_eq(tcp_ooo_sack(&tc, b, 4), 2);
	ck_assert_uint_eq(b[0][0], 3000);
	ck_assert_uint_eq(b[0][1], 4600);
	tcp_ooo_insert(&tc, seg(1500, 1500), 2500);  /* covers one, overlaps the next */
	ck_assert_uint_eq(tcp_ooo_sack(&tc, b, 4), 2);
	ck_assert_uint_eq(b[0][0], 2500);
	ck_assert_uint_eq(b[0][1], 4600);
	tcp_ooo_insert(&tc, seg(3600, 400), 4600);   /* closes the last gap */
	ck_assert_uint_eq(tcp_ooo_sack(&tc, b, 4), 1);
	ck_assert_uint_eq(b[0][0], 2500);
	ck_assert_uint_eq(b[0][1], 5500);
	ck_assert_uint_eq(tc.ooo.len, 3000);
	/* the hole fills: everything moves in order, bytes intact */
	tc.rcv_nxt = 2600; /* as if [1000,2600) had arrived in order */
	tcp_ooo_pull(&tc);
	ck_assert_uint_eq(tc.rcv_nxt, 5500);
	ck_assert_uint_eq(tc.ooo.nsegs, 0);
	ck_assert_uint_eq(tc.rcvq.len, 2900);
	uint8_t got[2900], want[2900];
	tcp_mq_copy_out(&tc.rcvq, 0, got, 2900);
	h_pattern(want, 2900, 1600);
	ck_assert_mem_eq(got, want, 2900);
	tcp_mq_free(&tc.rcvq);
	h->st->rcv_mem = 0;
	h_free(h);
}
END_TEST

START_TEST(ooo_cap)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.ooo_max_segs = 4;
	struct h *h = h_new(&t);
	struct tcp_conn tc = { .st = h->st, .rcv_nxt = 0 };
	for (uint32_t i = 0; i < 10; i++)
		tcp_ooo_insert(&tc, seg(0, 10), 100 + 20 * i);
	ck_assert_uint_eq(tc.ooo.nsegs, 4);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->rx_ooo_drop, 6);
	tcp_ooo_free(&tc);
	ck_assert_uint_eq(h->st->rcv_mem, 0);
	h_free(h);
}
END_TEST

START_TEST(byte_queue)
{
	struct tcp_mq q = { 0 };
	uint8_t src[10000], dst[10000];
	h_pattern(src, sizeof(src), 0);
	ck_assert_uint_eq(tcp_mq_append_copy(&q, h_mp, src, 3000), 3000);
	ck_assert_uint_eq(tcp_mq_append_copy(&q, h_mp, src + 3000, 7000), 7000);
	ck_assert_uint_eq(q.len, 10000);
	tcp_mq_copy_out(&q, 1234, dst, 5000);
	ck_assert_mem_eq(dst, src + 1234, 5000);
	tcp_mq_trim_front(&q, 4321);
	ck_assert_uint_eq(q.len, 10000 - 4321);
	tcp_mq_copy_out(&q, 0, dst, q.len);
	ck_assert_mem_eq(dst, src + 4321, q.len);
	tcp_mq_trim_front(&q, q.len);
	ck_assert_ptr_null(q.head);
	ck_assert_uint_eq(q.nsegs, 0);
	tcp_mq_free(&q);
}
END_TEST

/* The read cursor of tcp_mq_copy_out: sequential, backwards (retransmissions) and random reads
 * interleaved with appends and front trims always return the right bytes. */
START_TEST(byte_queue_cursor)
{
	struct tcp_mq q = { 0 };
	static uint8_t src[200000], dst[4000];
	h_pattern(src, sizeof(src), 0);
	uint32_t queued = 0, trimmed = 0, r = 12345;
	for (int step = 0; step < 3000; step++) {
		r = r * 1103515245u + 12345u;
		uint32_t op = (r >> 16) % 8;
		if (op == 0 && queued < sizeof(src) - 3000) {
			uint32_t n = 1 + (r >> 8) % 3000;
			ck_assert_uint_eq(tcp_mq_append_copy(&q, h_mp, src + queued, n), n);
			queued += n;
		} else if (op == 1 && q.len) {
			uint32_t n = (r >> 8) % (q.len < 2500 ? q.len + 1 : 2500);
			tcp_mq_trim_front(&q, n);
			trimmed += n;
		} else if (q.len) {
			uint32_t off = op < 6 ? (uint32_t)((r >> 4) % q.len) : q.len / 2;
			uint32_t len = 1 + (r >> 12) % 1460;
			if (off + len > q.len)
				len = q.len - off;
			tcp_mq_copy_out(&q, off, dst, len);
			ck_assert_mem_eq(dst, src + trimmed + off, len);
		}
		ck_assert_uint_eq(q.len, queued - trimmed);
	}
	tcp_mq_free(&q);
}
END_TEST

/* tcp_sum16 equals rte_raw_cksum for every length and alignment (it replaced it for speed). */
START_TEST(sum16_matches_rte_raw_cksum)
{
	static uint8_t buf[2100];
	uint32_t r = 7;
	for (size_t i = 0; i < sizeof(buf); i++) {
		r = r * 1103515245u + 12345u;
		buf[i] = (uint8_t)(r >> 24);
	}
	for (uint32_t a = 0; a < 8; a++)
		for (uint32_t len = 0; len <= 2000; len++)
			ck_assert_uint_eq(tcp_sum16(buf + a, len), rte_raw_cksum(buf + a, len));
	for (uint32_t a = 0; a < 8; a++) /* the path of CPUs without AVX2 */
		for (uint32_t len = 0; len <= 2000; len += 7)
			ck_assert_uint_eq(tcp_sum16_scalar(buf + a, len), rte_raw_cksum(buf + a, len));
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(tcp_sum16(buf, 1460), rte_raw_cksum(buf, 1460));
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(tcp_sum16(buf, 1460), rte_raw_cksum(buf, 1460));
}
END_TEST

/* Jumbo segments and the largest IPv4 payload: the vector accumulators' lanes must not
 * overflow (all-ones words are the worst case), at every alignment and length class. */
START_TEST(sum16_large_ranges)
{
	static uint8_t buf[65536 + 64];
	uint32_t r = 11;
	for (size_t i = 0; i < sizeof(buf); i++) {
		r = r * 1103515245u + 12345u;
		buf[i] = (uint8_t)(r >> 24);
	}
	static const uint32_t lens[] = { 8960, 8961, 9000, 9023, 16384, 32767, 65495, 65535 };
	for (uint32_t a = 0; a < 4; a++)
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			ck_assert_uint_eq(tcp_sum16(buf + a, lens[i]), rte_raw_cksum(buf + a, lens[i]));
	memset(buf, 0xff, sizeof(buf));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ck_assert_uint_eq(tcp_sum16(buf + 1, lens[i]), rte_raw_cksum(buf + 1, lens[i]));
		ck_assert_uint_eq(tcp_sum16_scalar(buf + 1, lens[i]), rte_raw_cksum(buf + 1, lens[i]));
	}
}
END_TEST

START_TEST(siphash_vector)
{
	/* the reference vector of SipHash-2-4: key 00..0f, message 00..0e -> a129ca6149be45e5 */
	uint8_t key[16], msg[15];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(tcp_siphash(key, msg, 15), 0xa129ca6149be45e5ull);
	ck_assert_uint_eq(tcp_siphash(key, msg, 0), 0x726fdb47dd0e0e31ull);
}
END_TEST

START_TEST(isn_depends_on_tuple_and_clock)
{
	struct h *h = h_new(NULL);
	struct tcp_flow_key a = { 1, 2, 3, 4 }, b = { 1, 2, 3, 5 };
	uint32_t ia = tcp_isn(h->st, &a), ib = tcp_isn(h->st, &b);
	ck_assert_uint_ne(ia, ib);
	h->st->now += 4000; /* 4 ms later: the clock part moved by 1000 */
	ck_assert_uint_eq(tcp_isn(h->st, &a) - ia, 1000);
	h_free(h);
}
END_TEST

int main(void)
{
	h_eal("tcp_units");
	Suite *s = suite_create("tcp_units");
	TCase *tc = tcase_create("units");
	tcase_add_test(tc, seq_arithmetic_wraps);
	tcase_add_test(tc, options_round_trip);
	tcase_add_test(tc, options_any_order_unknown_and_eol);
	tcase_add_test(tc, options_malformed);
	tcase_add_test(tc, rto_estimator);
	tcase_add_test(tc, ooo_queue_and_sack);
	tcase_add_test(tc, ooo_cap);
	tcase_add_test(tc, byte_queue);
	tcase_add_test(tc, byte_queue_cursor);
	tcase_add_test(tc, sum16_matches_rte_raw_cksum);
	tcase_add_test(tc, sum16_large_ranges);
	tcase_add_test(tc, siphash_vector);
	tcase_add_test(tc, isn_depends_on_tuple_and_clock);
	suite_add_tcase(s, tc);
	return h_run(s);
}
