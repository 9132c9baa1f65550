/* SPDX-License-Identifier: MIT */
/* tcp_rss_test.c: flow ownership and source-port choice for active opens, checked against
 * rte_softrss computed independently here (and against the Microsoft RSS verification
 * vector), plus the SACK scoreboard's range arithmetic. */
#include <rte_thash.h>

#include "net/tcp_rss.h"
#include "tcp_harness.h"

START_TEST(softrss_reference_vector)
{
	/* Microsoft RSS verification suite, IPv4 with TCP ports:
	 * 66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178 */
	struct tcp_rss r;
	tcp_rss_init_sw(&r, 1, 0);
	uint32_t t[3] = { 0x420995bb, 0xa18e6450, (2794u << 16) | 1766 };
	ck_assert_uint_eq(rte_softrss(t, 3, r.key), 0x51ccc178);
}
END_TEST

START_TEST(active_open_ports_land_on_self)
{
	for (uint16_t nq = 2; nq <= 4; nq += 2) {
		for (uint16_t self = 0; self < nq; self++) {
			struct h *h = h_new(NULL);
			struct tcp_rss r;
			tcp_rss_init_sw(&r, nq, self);
			tcp_stack_set_rss(h->st, &r);
			struct conn_addr dst = { .family = AF_INET, .port = htons(25),
						 .ip.v4 = H_PEER_IP };
			for (int i = 0; i < 50; i++) {
				int err;
				struct conn *c = tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err);
				ck_assert_ptr_nonnull(c);
				/* the reply: from the peer to us, as the NIC would hash it */
				uint32_t t[3] = { ntohl(H_PEER_IP), ntohl(H_LOCAL_IP),
						  (25u << 16) | ntohs(c->local.port) };
				uint32_t hash = rte_softrss(t, 3, r.key);
				ck_assert_uint_eq(r.reta[hash & (r.reta_size - 1)], self);
				ck_assert_uint_eq(tcp_rss_owner(&r, H_PEER_IP, H_LOCAL_IP, htons(25),
							       c->local.port), self);
			}
			h_free(h);
		}
	}
}
END_TEST

START_TEST(owner_spreads_flows)
{
	struct tcp_rss r;
	tcp_rss_init_sw(&r, 4, 0);
	unsigned cnt[4] = { 0 };
	for (uint16_t p = 1024; p < 1024 + 4000; p++)
		cnt[tcp_rss_owner(&r, H_PEER_IP, H_LOCAL_IP, htons(p), htons(25))]++;
	for (int i = 0; i < 4; i++)
		ck_assert_uint_gt(cnt[i], 700);
}
END_TEST

START_TEST(sack_scoreboard)
{
	struct h *h = h_new(NULL);
	struct tcp_conn tc = { .st = h->st, .snd_una = 1000, .snd_nxt = 20000, .snd_max = 20000,
			       .mss = 1000, .flags = TF_SACK_OK, .high_rxt = 1000 };
	struct tcp_opts o = { .nsack = 3 };
	uint32_t blk[3][2] = { { 5000, 6000 }, { 3000, 4000 }, { 500, 2000 } };
	memcpy(o.sack, blk, sizeof(blk));
	tcp_sack_update(&tc, &o);
	ck_assert_uint_eq(tc.nsb, 3);
	ck_assert_uint_eq(tc.sb[0][0], 1000); /* clipped to snd_una */
	ck_assert_uint_eq(tcp_sack_bytes(&tc), 3000);
	uint32_t seq, len;
	ck_assert(tcp_sack_next_hole(&tc, &seq, &len));
	ck_assert_uint_eq(seq, 2000);
	ck_assert_uint_eq(len, 1000);
	/* pipe: above the highest SACK (20000-6000) and nothing retransmitted yet */
	ck_assert_uint_eq(tcp_sack_pipe(&tc), 14000);
	tc.high_rxt = 3000; /* the first hole was resent */
	ck_assert_uint_eq(tcp_sack_pipe(&tc), 15000);
	ck_assert(tcp_sack_next_hole(&tc, &seq, &len));
	ck_assert_uint_eq(seq, 4000);
	/* merging: [4000,5000) joins [3000,4000) and [5000,6000) */
	o.nsack = 1;
	o.sack[0][0] = 4000;
	o.sack[0][1] = 5000;
	tcp_sack_update(&tc, &o);
	ck_assert_uint_eq(tc.nsb, 2);
	ck_assert_uint_eq(tc.sb[1][0], 3000);
	ck_assert_uint_eq(tc.sb[1][1], 6000);
	/* bogus blocks (beyond snd_max, inverted) are ignored */
	o.sack[0][0] = 30000;
	o.sack[0][1] = 31000;
	tcp_sack_update(&tc, &o);
	o.sack[0][0] = 9000;
	o.sack[0][1] = 8000;
	tcp_sack_update(&tc, &o);
	ck_assert_uint_eq(tc.nsb, 2);
	/* many disjoint blocks: bounded, nearest kept */
	for (uint32_t i = 0; i < 10; i++) {
		o.sack[0][0] = 7000 + 1000 * i;
		o.sack[0][1] = 7500 + 1000 * i;
		tcp_sack_update(&tc, &o);
	}
	ck_assert_uint_eq(tc.nsb, TCP_SB_MAX);
	ck_assert_uint_eq(tc.sb[0][0], 1000);
	/* the cumulative ACK passes the first ranges */
	tc.snd_una = 6500;
	tcp_sack_trim(&tc);
	ck_assert_uint_eq(tc.sb[0][0], 7000);
	ck_assert_uint_eq(tc.high_rxt, 6500);
	h_free(h);
}
END_TEST

int main(void)
{
	h_eal("tcp_rss");
	Suite *s = suite_create("tcp_rss");
	TCase *tc = tcase_create("rss");
	tcase_add_test(tc, softrss_reference_vector);
	tcase_add_test(tc, active_open_ports_land_on_self);
	tcase_add_test(tc, owner_spreads_flows);
	tcase_add_test(tc, sack_scoreboard);
	suite_add_tcase(s, tc);
	return h_run(s);
}
