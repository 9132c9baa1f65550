/* SPDX-License-Identifier: MIT */
/* tcp_syncookie_test.c: SYN cookies in the deterministic harness: with a listener's backlog
 * (or the stack's max_syn_rcvd) full, a SYN gets a cookie SYN-ACK and no state; the ACK that
 * returns the cookie creates an accepted ESTABLISHED connection with the encoded MSS, window
 * scale and SACK (timestamps) or without them (no timestamps); forged, foreign and expired
 * cookies are answered with RST and counted; tcp.syncookies off keeps dropping. */
#include "tcp_harness.h"

#define CK_PORT 50000

/* A stack whose listener has a backlog of 4, filled by SYNs from ports 1024.. (their
 * SYN-ACKs popped). Half-open connections live long enough for the time-window tests. */
static struct h *full_listener(struct tcp_tunables *t)
{
	t->syn_timeout_ms = 600000;
	struct h *h = h_new(t);
	h_listen(h);
	for (uint16_t i = 0; i < 4; i++) {
		h_in_full(h, (uint16_t)(1024 + i), TCP_SYN, 1000u * i, 0, 8192, NULL, NULL, 0);
		ck_assert_uint_eq(h_out(h)->flags, TCP_SYN | TCP_ACK);
	}
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 4);
	return h;
}

static struct h *full_backlog(void)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.backlog = 4;
	return full_listener(&t);
}

/* Sends a SYN from port pport (options o) and returns the cookie SYN-ACK; checks that no
 * state was created. */
static struct h_seg *cookie_syn(struct h *h, uint16_t pport, uint32_t irs, const struct h_opt *o)
{
	uint32_t n = tcp_stack_nconns(h->st);
	uint64_t sent = tcp_stack_counters(h->st)->syncookies_sent;
	uint64_t dropped = tcp_stack_counters(h->st)->syn_dropped_full;
	h_in_full(h, pport, TCP_SYN, irs, 0, 65535, o, NULL, 0);
	struct h_seg *sa = h_out(h);
	ck_assert_uint_eq(sa->flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(sa->ack, irs + 1);
	ck_assert_uint_eq(sa->dport, pport);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), n);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_sent, sent + 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syn_dropped_full, dropped);
	h_none(h);
	return sa;
}

/* Expects the RST that answers a rejected cookie ACK (ack number a); nothing accepted. */
static void expect_rejected(struct h *h, uint32_t a, uint64_t failed)
{
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST);
	ck_assert_uint_eq(r->seq, a);
	h_none(h);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_failed, failed);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_ok, 0);
	ck_assert_int_eq(h->app.accepted, 0);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 4);
}

START_TEST(cookie_with_timestamps_keeps_wscale_and_sack)
{
	struct h *h = full_backlog();
	struct h_opt o = { .mss = 1400, .ws = 7, .sack_ok = 1, .ts = 1, .tsval = 7000 };
	struct h_seg *sa = cookie_syn(h, CK_PORT, 5000, &o);
	ck_assert(sa->opt.has_mss && sa->opt.mss == 1460);
	ck_assert(sa->opt.has_ws && sa->opt.wscale == 3);
	ck_assert(sa->opt.sack_ok);
	ck_assert(sa->opt.has_ts && sa->opt.tsecr == 7000);
	ck_assert_uint_eq(sa->opt.tsval & 0x1f, 7 | 0x10); /* wscale 7, SACK-permitted */
	uint32_t cookie = sa->seq, tsval = sa->opt.tsval;
	h_advance(h, 30);
	h_none(h);
	/* the third segment carries data already: it is delivered with the accept */
	struct h_opt a = { .ts = 1, .tsval = 7030, .tsecr = tsval };
	h_in_full(h, CK_PORT, TCP_ACK | TCP_PSH, 5001, cookie + 1, 1000, &a, "EHLO x\r\n", 8);
	ck_assert_int_eq(h->app.accepted, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_ok, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->accepted, 1);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 5);
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	ck_assert_int_eq(tc->state, TCP_ESTABLISHED);
	ck_assert_uint_eq(tc->mss, 1400 - 12);
	ck_assert(tc->flags & TF_WS_OK);
	ck_assert_uint_eq(tc->snd_wscale, 7);
	ck_assert_uint_eq(tc->rcv_wscale, 3);
	ck_assert_uint_eq(tc->snd_wnd, 1000u << 7);
	ck_assert(tc->flags & TF_SACK_OK);
	ck_assert(tc->flags & TF_TS_OK);
	ck_assert_uint_eq(tc->srtt_us, 0); /* no RTT sample from a stateless handshake */
	ck_assert_uint_eq(h->app.rx_len, 8);
	ck_assert_mem_eq(h->app.rx, "EHLO x\r\n", 8);
	/* and back: our first byte follows the cookie, timestamps go on from the SYN-ACK's */
	ck_assert_int_eq(conn_send(h->app.c, "250 ok\r\n", 8), 8);
	conn_flush(h->app.c);
	struct h_seg *d = h_out(h);
	ck_assert_uint_eq(d->seq, cookie + 1);
	ck_assert_uint_eq(d->ack, 5009);
	ck_assert_uint_eq(d->len, 8);
	ck_assert_mem_eq(d->data, "250 ok\r\n", 8);
	ck_assert(d->opt.has_ts && d->opt.tsecr == 7030);
	ck_assert(tcp_seq_geq(d->opt.tsval, tsval + 30));
	ck_assert(tcp_seq_lt(d->opt.tsval, tsval + 30 + 32));
	ck_assert_uint_eq(d->win, 262144u >> 3);
	/* the peer SACKs out-of-order data: a SACK connection answers with blocks */
	struct h_opt a2 = { .ts = 1, .tsval = 7040, .tsecr = d->opt.tsval };
	h_in_full(h, CK_PORT, TCP_ACK, 5109, cookie + 9, 1000, &a2, "later", 5);
	struct h_seg *sk = h_out(h);
	ck_assert_uint_eq(sk->ack, 5009);
	ck_assert_uint_eq(sk->opt.nsack, 1);
	ck_assert_uint_eq(sk->opt.sack[0][0], 5109);
	h_free(h);
}
END_TEST

START_TEST(cookie_without_timestamps_has_no_wscale_or_sack)
{
	/* here the stack-wide bound is the full one */
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.max_syn_rcvd = 4;
	struct h *h = full_listener(&t);
	struct h_opt o = { .mss = 1450, .ws = 7, .sack_ok = 1 };
	struct h_seg *sa = cookie_syn(h, CK_PORT, 9000, &o);
	ck_assert(sa->opt.has_mss && !sa->opt.has_ts && !sa->opt.has_ws && !sa->opt.sack_ok);
	ck_assert_uint_eq(sa->win, 65535);
	h_in_full(h, CK_PORT, TCP_ACK, 9001, sa->seq + 1, 4000, NULL, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	ck_assert_int_eq(tc->state, TCP_ESTABLISHED);
	ck_assert_uint_eq(tc->mss, 1440); /* the largest table MSS below 1450 */
	ck_assert(!(tc->flags & (TF_WS_OK | TF_SACK_OK | TF_TS_OK)));
	ck_assert_uint_eq(tc->rcv_wscale, 0);
	ck_assert_uint_eq(tc->snd_wscale, 0);
	ck_assert_uint_eq(tc->snd_wnd, 4000);
	ck_assert_int_eq(conn_send(h->app.c, "220 x\r\n", 7), 7);
	conn_flush(h->app.c);
	struct h_seg *d = h_out(h);
	ck_assert_uint_eq(d->seq, sa->seq + 1);
	ck_assert(!d->opt.has_ts);
	ck_assert_uint_eq(d->win, 65535);
	h_free(h);
}
END_TEST

START_TEST(cookie_jumbo_mss_and_small_mss)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.backlog = 4; /* (the harness pool's mbufs are too small for a stack MSS of 8960) */
	struct h *h = full_listener(&t);
	/* a SYN whose MSS is below every table entry cannot be described: dropped, counted */
	struct h_opt small = { .mss = 200, .ws = -1 };
	h_in_full(h, CK_PORT + 1, TCP_SYN, 1, 0, 65535, &small, NULL, 0);
	h_none(h);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syn_dropped_full, 1);
	struct h_opt o = { .mss = 8960, .ws = 2, .ts = 1, .tsval = 1 };
	struct h_seg *sa = cookie_syn(h, CK_PORT, 77, &o);
	ck_assert_uint_eq(sa->opt.mss, 1460);
	ck_assert_uint_eq(sa->opt.tsval & 0x1f, 2); /* wscale 2, no SACK */
	struct h_opt a = { .ts = 1, .tsval = 2, .tsecr = sa->opt.tsval };
	h_in_full(h, CK_PORT, TCP_ACK, 78, sa->seq + 1, 100, &a, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	ck_assert_uint_eq(tc->peer_mss, 8960); /* the table's jumbo entry */
	ck_assert_uint_eq(tc->mss, 1460 - 12);
	ck_assert_uint_eq(tc->snd_wscale, 2);
	ck_assert(!(tc->flags & TF_SACK_OK));
	h_free(h);
}
END_TEST

START_TEST(forged_and_foreign_cookies_rejected)
{
	struct h *h = full_backlog();
	struct h_seg *sa = cookie_syn(h, CK_PORT, 5000, &h_opt_plain);
	uint32_t cookie = sa->seq;
	/* a random acknowledgement number */
	h_in_full(h, CK_PORT, TCP_ACK, 5001, cookie ^ 0x5a5a0000u, 100, NULL, NULL, 0);
	expect_rejected(h, cookie ^ 0x5a5a0000u, 1);
	/* the right cookie from another port */
	h_in_full(h, CK_PORT + 1, TCP_ACK, 5001, cookie + 1, 100, NULL, NULL, 0);
	expect_rejected(h, cookie + 1, 2);
	/* the right cookie and port with another peer ISN */
	h_in_full(h, CK_PORT, TCP_ACK, 6001, cookie + 1, 100, NULL, NULL, 0);
	expect_rejected(h, cookie + 1, 3);
	/* another MSS index under the same hash */
	h_in_full(h, CK_PORT, TCP_ACK, 5001, (cookie ^ 7) + 1, 100, NULL, NULL, 0);
	expect_rejected(h, (cookie ^ 7) + 1, 4);
	/* a TSecr that is not one of our SYN-ACK TSvals (far in the future) */
	struct h_opt tso = { .mss = 1460, .ws = 7, .ts = 1, .tsval = 1 };
	struct h_seg *sb = cookie_syn(h, CK_PORT + 2, 100, &tso);
	struct h_opt bad = { .ts = 1, .tsval = 2, .tsecr = sb->opt.tsval + 1000000 };
	h_in_full(h, CK_PORT + 2, TCP_ACK, 101, sb->seq + 1, 100, &bad, NULL, 0);
	expect_rejected(h, sb->seq + 1, 5);
	/* the genuine ACK still works afterwards */
	h_in_full(h, CK_PORT, TCP_ACK, 5001, cookie + 1, 100, NULL, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_ok, 1);
	h_free(h);
}
END_TEST

START_TEST(cookie_lives_one_to_two_periods)
{
	struct h *h = full_backlog();
	struct h_seg *sa = cookie_syn(h, CK_PORT, 5000, &h_opt_plain);
	uint32_t old = sa->seq;
	/* 100 s later (one period boundary crossed) a cookie is still good: take a second one
	 * now, from another port, and let the first one expire */
	h->now += 100ull * 1000000;
	h_poll(h);
	h->rd = h->nout; /* SYN-ACK retransmissions of the half-open four */
	struct h_seg *sb = cookie_syn(h, CK_PORT + 1, 8000, &h_opt_plain);
	uint32_t young = sb->seq;
	h->now += 30ull * 1000000; /* 130 s after the first cookie: expired */
	h_poll(h);
	h->rd = h->nout;
	h_in_full(h, CK_PORT, TCP_ACK, 5001, old + 1, 100, NULL, NULL, 0);
	expect_rejected(h, old + 1, 1);
	/* 30 s old: accepted */
	h_in_full(h, CK_PORT + 1, TCP_ACK, 8001, young + 1, 100, NULL, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_ok, 1);
	h_free(h);
}
END_TEST

START_TEST(accept_path_limits_apply)
{
	/* the connection pool is full too: a valid cookie creates nothing, the client hears a
	 * RST at once instead of waiting for a greeting, and the shortage is counted */
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.backlog = 4;
	t.max_conns = 4;
	struct h *h = full_listener(&t);
	struct h_seg *sa = cookie_syn(h, CK_PORT, 5000, &h_opt_plain);
	h_in_full(h, CK_PORT, TCP_ACK, 5001, sa->seq + 1, 100, NULL, NULL, 0);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->conn_nomem, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_ok, 0);
	ck_assert_int_eq(h->app.accepted, 0);
	h_free(h);
}
END_TEST

START_TEST(accept_refused_resets_cookie_connection)
{
	struct h *h = full_backlog();
	h->app.refuse = 1;
	struct h_seg *sa = cookie_syn(h, CK_PORT, 5000, &h_opt_plain);
	h_in_full(h, CK_PORT, TCP_ACK, 5001, sa->seq + 1, 100, NULL, NULL, 0);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST);
	ck_assert_uint_eq(r->seq, sa->seq + 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->accept_refused, 1);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 4);
	h_free(h);
}
END_TEST

START_TEST(syncookies_off_drops_as_before)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.backlog = 4;
	t.syncookies = 0;
	struct h *h = full_listener(&t);
	h_in_full(h, CK_PORT, TCP_SYN, 5000, 0, 65535, &h_opt_plain, NULL, 0);
	h_none(h);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syn_dropped_full, 1);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_sent, 0);
	/* an ACK for the listener is not even hashed: the usual RST */
	h_in_full(h, CK_PORT, TCP_ACK, 5001, 12345, 100, NULL, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_RST);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syncookies_failed, 0);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 4);
	h_free(h);
}
END_TEST

START_TEST(no_cookie_work_when_backlog_has_room)
{
	/* cookies on, queue not full: the normal SYN_RCVD path, and stray ACKs cost no hash */
	struct h *h = h_new(NULL);
	h_listen(h);
	h_in_full(h, CK_PORT, TCP_ACK, 1, 12345, 100, NULL, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_RST);
	struct h_peer p = h_accept(h, &h_opt_plain, 8192);
	(void)p;
	const struct tcp_counters *c = tcp_stack_counters(h->st);
	ck_assert_uint_eq(c->syncookies_sent + c->syncookies_failed + c->syncookies_ok, 0);
	ck_assert_uint_eq(c->syn_rcvd, 1);
	h_free(h);
}
END_TEST

int main(void)
{
	h_eal("syck_unit");
	Suite *s = suite_create("tcp_syncookie");
	TCase *tc = tcase_create("syncookie");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cookie_with_timestamps_keeps_wscale_and_sack);
	tcase_add_test(tc, cookie_without_timestamps_has_no_wscale_or_sack);
	tcase_add_test(tc, cookie_jumbo_mss_and_small_mss);
	tcase_add_test(tc, forged_and_foreign_cookies_rejected);
	tcase_add_test(tc, cookie_lives_one_to_two_periods);
	tcase_add_test(tc, accept_path_limits_apply);
	tcase_add_test(tc, accept_refused_resets_cookie_connection);
	tcase_add_test(tc, syncookies_off_drops_as_before);
	tcase_add_test(tc, no_cookie_work_when_backlog_has_room);
	suite_add_tcase(s, tc);
	return h_run(s);
}
