/* SPDX-License-Identifier: MIT */
/* tcp_handshake_test.c: opening and closing connections in the deterministic harness:
 * handshakes both ways with option negotiation, SYN/SYN-ACK retransmission with backoff,
 * RST rules (closed port, RFC 5961 challenge ACKs), every close path, TIME_WAIT reuse. */
#include "tcp_harness.h"

START_TEST(passive_open_negotiates_options)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_opt o = { .mss = 1400, .ws = 7, .sack_ok = 1, .ts = 1, .tsval = 5000 };
	h_in_full(h, H_PEER_PORT, TCP_SYN, 1000, 0, 65535, &o, NULL, 0);
	struct h_seg *sa = h_out(h);
	ck_assert_uint_eq(sa->flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(sa->ack, 1001);
	ck_assert(sa->opt.has_mss && sa->opt.mss == 1460);
	ck_assert(sa->opt.has_ws && sa->opt.wscale == 3);
	ck_assert(sa->opt.sack_ok);
	ck_assert(sa->opt.has_ts && sa->opt.tsecr == 5000);
	ck_assert_int_eq(h->app.accepted, 0);
	struct h_opt a = { .ts = 1, .tsval = 5001, .tsecr = sa->opt.tsval };
	h_in_full(h, H_PEER_PORT, TCP_ACK, 1001, sa->seq + 1, 1000, &a, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	ck_assert_uint_eq(tc->mss, 1400 - 12);
	ck_assert_uint_eq(tc->snd_wscale, 7);
	ck_assert_uint_eq(tc->snd_wnd, 1000u << 7);
	ck_assert(tc->flags & TF_SACK_OK);
	h_none(h);
	h_free(h);
}
END_TEST

START_TEST(passive_open_without_options)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	h_in(h, TCP_SYN, 1000, 0, 8192, NULL, 0);
	struct h_seg *sa = h_out(h);
	ck_assert(!sa->opt.has_ts && !sa->opt.sack_ok && !sa->opt.has_ws);
	ck_assert(sa->opt.has_mss);
	h_in(h, TCP_ACK, 1001, sa->seq + 1, 8192, NULL, 0);
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	ck_assert_uint_eq(tc->mss, 536);
	ck_assert_uint_eq(tc->rcv_wscale, 0);
	/* data sent now carries no options and an unscaled window */
	ck_assert_int_eq(conn_send(h->app.c, "hello", 5), 5);
	conn_flush(h->app.c);
	struct h_seg *d = h_out(h);
	ck_assert_uint_eq(d->len, 5);
	ck_assert(!d->opt.has_ts);
	ck_assert_uint_eq(d->win, 65535);
	h_free(h);
}
END_TEST

START_TEST(synack_retransmission_backoff)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	h_in(h, TCP_SYN, 1000, 0, 8192, NULL, 0);
	struct h_seg *sa = h_out(h);
	uint64_t t0 = sa->at;
	h_advance(h, 999);
	h_none(h);
	h_advance(h, 2);
	struct h_seg *r1 = h_out(h);
	ck_assert_uint_eq(r1->flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(r1->seq, sa->seq);
	ck_assert(r1->at - t0 >= 1000000 && r1->at - t0 <= 1002000);
	h_advance(h, 2002);
	struct h_seg *r2 = h_out(h);
	ck_assert(r2->at - r1->at >= 2000000 && r2->at - r1->at <= 2002000);
	/* a duplicate SYN answers with the SYN-ACK again */
	h_in(h, TCP_SYN, 1000, 0, 8192, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_SYN | TCP_ACK);
	/* the handshake still completes; the RTT of a retransmitted SYN-ACK is not sampled */
	h_in(h, TCP_ACK, 1001, sa->seq + 1, 8192, NULL, 0);
	ck_assert_int_eq(h->app.accepted, 1);
	ck_assert_uint_eq(tcp_conn_of(h->app.c)->srtt_us, 0);
	h_free(h);
}
END_TEST

START_TEST(half_open_gives_up)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.syn_timeout_ms = 10000;
	struct h *h = h_new(&t);
	h_listen(h);
	h_in(h, TCP_SYN, 1000, 0, 8192, NULL, 0);
	h_advance(h, 40000);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	ck_assert_int_eq(h->app.accepted, 0);
	ck_assert_uint_le(h_pending(h), 6);
	h_free(h);
}
END_TEST

START_TEST(syn_flood_bounded)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.backlog = 8;
	t.syncookies = 0; /* tcp_syncookie_test.c covers the cookie answer */
	struct h *h = h_new(&t);
	h_listen(h);
	for (uint16_t i = 0; i < 100; i++)
		h_in_full(h, (uint16_t)(1024 + i), TCP_SYN, 1000u * i, 0, 8192, NULL, NULL, 0);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 8);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->syn_dropped_full, 92);
	h_free(h);
}
END_TEST

START_TEST(active_open_and_syn_backoff)
{
	struct h *h = h_new(NULL);
	struct conn_addr dst = { .family = AF_INET, .port = htons(H_LPORT), .ip.v4 = H_PEER_IP };
	int err = 0;
	struct conn *c = tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err);
	ck_assert_ptr_nonnull(c);
	h->app.c = c;
	struct h_seg *syn = h_out(h);
	ck_assert_uint_eq(syn->flags, TCP_SYN);
	ck_assert(syn->opt.has_mss && syn->opt.has_ws && syn->opt.has_ts && syn->opt.sack_ok);
	ck_assert_int_eq(conn_send(c, "x", 1), -ENOTCONN);
	h_advance(h, 1001);
	struct h_seg *r1 = h_out(h);
	ck_assert_uint_eq(r1->flags, TCP_SYN);
	ck_assert_uint_eq(r1->seq, syn->seq);
	h_advance(h, 2001);
	h_out(h);
	struct tcp_conn *tc = tcp_conn_of(c);
	ck_assert_uint_eq(tc->state, TCP_SYN_SENT);
	h->lport = syn->sport;
	struct h_opt o = { .mss = 1200, .ws = 2, .sack_ok = 1 };
	h_in_full(h, H_LPORT, TCP_SYN | TCP_ACK, 777, syn->seq + 1, 1000, &o, NULL, 0);
	ck_assert_int_eq(h->app.connected, 1);
	struct h_seg *ack = h_out(h);
	ck_assert_uint_eq(ack->flags, TCP_ACK);
	ck_assert_uint_eq(ack->ack, 778);
	ck_assert(!ack->opt.has_ts);
	ck_assert_uint_eq(tc->mss, 1200);
	ck_assert_uint_eq(tc->snd_wscale, 2);
	ck_assert_uint_eq(tc->snd_wnd, 1000);
	ck_assert_uint_eq(tcp_conn_state(c), TCP_ESTABLISHED);
	ck_assert_int_eq(conn_send(c, "x", 1), 1);
	h_free(h);
}
END_TEST

START_TEST(active_open_refused)
{
	struct h *h = h_new(NULL);
	struct conn_addr dst = { .family = AF_INET, .port = htons(H_LPORT), .ip.v4 = H_PEER_IP };
	struct conn_addr src = { .family = AF_INET, .port = htons(H_PEER_PORT) };
	int err = 0;
	struct conn *c = tcp_connect(h->st, &dst, &src, &h_handler, &h->app, &err);
	ck_assert_ptr_nonnull(c);
	struct h_seg *syn = h_out(h);
	ck_assert_uint_eq(syn->sport, H_PEER_PORT);
	(void)c;
	h->lport = syn->sport;
	h_in_full(h, H_LPORT, TCP_RST | TCP_ACK, 0, syn->seq + 1, 0, NULL, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_REFUSED);
	h_free(h);
}
END_TEST

START_TEST(rst_for_closed_port)
{
	struct h *h = h_new(NULL);
	h_in(h, TCP_SYN, 1000, 0, 8192, "ab", 2);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(r->seq, 0);
	ck_assert_uint_eq(r->ack, 1003);
	h_in(h, TCP_ACK, 1000, 4242, 8192, NULL, 0);
	r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST);
	ck_assert_uint_eq(r->seq, 4242);
	h_in(h, TCP_RST, 1000, 0, 0, NULL, 0);
	h_none(h);
	h_free(h);
}
END_TEST

START_TEST(rst_rules_rfc5961)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	/* RST in the window but not at RCV.NXT: challenge ACK, connection stays */
	h_in(h, TCP_RST, p.snd_nxt + 100, 0, 0, NULL, 0);
	struct h_seg *ca = h_out(h);
	ck_assert_uint_eq(ca->flags, TCP_ACK);
	ck_assert_uint_eq(ca->ack, p.snd_nxt);
	ck_assert_int_eq(h->app.closed, 0);
	/* RST outside the window: dropped silently */
	h_in(h, TCP_RST, p.snd_nxt + 10000000, 0, 0, NULL, 0);
	h_none(h);
	/* SYN on an established connection: challenge ACK */
	h_in(h, TCP_SYN, p.snd_nxt + 5, 0, 0, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_ACK);
	ck_assert_int_eq(h->app.closed, 0);
	/* unacceptable data segment: ACK */
	h_in(h, TCP_ACK, p.snd_nxt - 5000, p.rcv_nxt, 65535, "zz", 2);
	ck_assert_uint_eq(h_out(h)->ack, p.snd_nxt);
	/* Linux's keepalive probe at SND.UNA-1 gets an ACK too */
	h_in(h, TCP_ACK, p.snd_nxt - 1, p.rcv_nxt, 65535, NULL, 0);
	ck_assert_uint_eq(h_out(h)->ack, p.snd_nxt);
	/* exact RST: reset */
	h_in(h, TCP_RST, p.snd_nxt, 0, 0, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_RESET);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	h_free(h);
}
END_TEST

START_TEST(challenge_ack_rate_limited)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.challenge_ack_per_s = 5;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	for (int i = 0; i < 20; i++)
		h_in(h, TCP_RST, p.snd_nxt + 1 + (uint32_t)i, 0, 0, NULL, 0);
	ck_assert_uint_eq(h_pending(h), 5);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->tx_challenge_limited, 15);
	h_free(h);
}
END_TEST

/* Passive close: peer FIN -> on_eof -> app closes -> our FIN -> peer ACK -> CLOSED. */
START_TEST(passive_close)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	h->app.close_on_eof = 1;
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt, p.rcv_nxt, 65535, "bye", 3);
	ck_assert_int_eq(h->app.eof, 1);
	ck_assert_uint_eq(h->app.rx_len, 3);
	struct h_seg *f = h_out(h);
	ck_assert_uint_eq(f->flags, TCP_ACK | TCP_FIN);
	ck_assert_uint_eq(f->ack, p.snd_nxt + 4);
	ck_assert_int_eq(h->app.closed, 0);
	/* lost final ACK: our FIN is retransmitted */
	h_advance(h, 1500);
	struct h_seg *f2 = h_out(h);
	ck_assert_uint_eq(f2->flags & TCP_FIN, TCP_FIN);
	ck_assert_uint_eq(f2->seq, f->seq);
	h_in(h, TCP_ACK, p.snd_nxt + 4, f->seq + 1, 65535, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_LOCAL);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 0);
	h_free(h);
}
END_TEST

/* Active close: app closes -> FIN -> ACK (FIN_WAIT_2) -> peer FIN -> TIME_WAIT entry;
 * a retransmitted FIN is re-ACKed; a new SYN with a higher sequence reuses the tuple. */
START_TEST(active_close_time_wait_reuse)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_close(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	ck_assert_uint_eq(f->flags, TCP_ACK | TCP_FIN);
	h_in(h, TCP_ACK, p.snd_nxt, f->seq + 1, 65535, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_LOCAL);
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt, f->seq + 1, 65535, NULL, 0);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->flags, TCP_ACK);
	ck_assert_uint_eq(a->ack, p.snd_nxt + 1);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 1);
	/* lost final ACK: the peer retransmits its FIN; the TIME_WAIT entry ACKs again */
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt, f->seq + 1, 65535, NULL, 0);
	ck_assert_uint_eq(h_out(h)->ack, p.snd_nxt + 1);
	/* an old-sequence SYN is ignored; a higher one reopens (RFC 6191) */
	h_in(h, TCP_SYN, p.snd_nxt - 10, 0, 65535, NULL, 0);
	h_none(h);
	h->app.accepted = 0;
	h_in(h, TCP_SYN, p.snd_nxt + 100000, 0, 65535, NULL, 0);
	struct h_seg *sa = h_out(h);
	ck_assert_uint_eq(sa->flags, TCP_SYN | TCP_ACK);
	ck_assert(tcp_seq_gt(sa->seq, f->seq + 1));
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 0);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->tw_reused, 1);
	h_free(h);
}
END_TEST

/* Active opens may take over a TIME_WAIT tuple (as Linux's tcp_tw_reuse) once it has been
 * quiet for a second and used timestamps; before that the only port is busy. */
START_TEST(active_open_reuses_quiet_time_wait)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.eph_lo = t.eph_hi = 50000; /* a single ephemeral port */
	struct h *h = h_new(&t);
	struct conn_addr dst = { .family = AF_INET, .port = htons(H_LPORT), .ip.v4 = H_PEER_IP };
	struct h_opt o = { .mss = 1460, .ws = 2, .sack_ok = 1, .ts = 1, .tsval = 100 };
	int err = 0;
	h->app.c = tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err);
	ck_assert_ptr_nonnull(h->app.c);
	struct h_seg *syn = h_out(h);
	h->lport = syn->sport;
	h_in_full(h, H_LPORT, TCP_SYN | TCP_ACK, 777, syn->seq + 1, 65535, &o, NULL, 0);
	h->rd = h->nout;
	conn_close(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	ck_assert(f->flags & TCP_FIN);
	uint32_t old_nxt = f->seq + 1;
	o.tsval = 101;
	o.tsecr = f->opt.tsval;
	h_in_full(h, H_LPORT, TCP_ACK | TCP_FIN, 778, old_nxt, 65535, &o, NULL, 0);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 1);
	h->rd = h->nout;
	h->app.closed = 0;
	h_advance(h, 500);
	ck_assert_ptr_null(tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err));
	ck_assert_int_eq(err, -EADDRNOTAVAIL);
	h_advance(h, 600);
	struct conn *c2 = tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err);
	ck_assert_ptr_nonnull(c2);
	struct h_seg *syn2 = h_out(h);
	ck_assert_uint_eq(syn2->sport, 50000);
	ck_assert(tcp_seq_geq(syn2->seq, old_nxt + 65536 * 2));
	ck_assert(tcp_seq_gt(syn2->opt.tsval, f->opt.tsval));
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 0);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->tw_reused, 1);
	h_free(h);
}
END_TEST

START_TEST(time_wait_expires)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.time_wait_ms = 2000;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_close(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt, f->seq + 1, 65535, NULL, 0);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 1);
	h_advance(h, 1900);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 1);
	h_advance(h, 200);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 0);
	h_free(h);
}
END_TEST

START_TEST(simultaneous_close)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_shutdown(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	ck_assert_uint_eq(f->flags, TCP_ACK | TCP_FIN);
	/* the peer's FIN crosses ours: it does not ACK our FIN */
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt, f->seq, 65535, NULL, 0);
	ck_assert_uint_eq(tcp_conn_state(h->app.c), TCP_CLOSING);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->ack, p.snd_nxt + 1);
	ck_assert_int_eq(h->app.eof, 1);
	h_in(h, TCP_ACK, p.snd_nxt + 1, f->seq + 1, 65535, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_PEER);
	ck_assert_uint_eq(tcp_stack_ntw(h->st), 1);
	h_free(h);
}
END_TEST

START_TEST(lost_fin_retransmitted_with_backoff)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_shutdown(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	h_advance(h, 10000);
	unsigned n = h_pending(h);
	ck_assert_uint_ge(n, 3);
	ck_assert_uint_le(n, 6);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->seq, f->seq);
	ck_assert_uint_eq(r->flags & TCP_FIN, TCP_FIN);
	(void)p;
	h_free(h);
}
END_TEST

START_TEST(fin_wait2_timeout)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.fin_wait2_ms = 3000;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_close(h->app.c);
	h_poll(h);
	struct h_seg *f = h_out(h);
	h_in(h, TCP_ACK, p.snd_nxt, f->seq + 1, 65535, NULL, 0);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 1);
	h_advance(h, 3100);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->fw2_timeouts, 1);
	h_free(h);
}
END_TEST

START_TEST(abort_sends_rst)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	conn_abort(h->app.c);
	ck_assert_int_eq(h->app.closed, 1);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->flags, TCP_RST);
	ck_assert_uint_eq(r->seq, p.rcv_nxt);
	h_free(h);
}
END_TEST

START_TEST(accept_refused_resets)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	h->app.refuse = 1;
	h_in(h, TCP_SYN, 1000, 0, 8192, NULL, 0);
	struct h_seg *sa = h_out(h);
	h_in(h, TCP_ACK, 1001, sa->seq + 1, 8192, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_RST);
	ck_assert_int_eq(h->app.closed, 0);
	ck_assert_uint_eq(tcp_stack_nconns(h->st), 0);
	h_free(h);
}
END_TEST

int main(void)
{
	h_eal("tcp_hs");
	Suite *s = suite_create("tcp_handshake");
	TCase *tc = tcase_create("open_close");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, passive_open_negotiates_options);
	tcase_add_test(tc, passive_open_without_options);
	tcase_add_test(tc, synack_retransmission_backoff);
	tcase_add_test(tc, half_open_gives_up);
	tcase_add_test(tc, syn_flood_bounded);
	tcase_add_test(tc, active_open_and_syn_backoff);
	tcase_add_test(tc, active_open_refused);
	tcase_add_test(tc, rst_for_closed_port);
	tcase_add_test(tc, rst_rules_rfc5961);
	tcase_add_test(tc, challenge_ack_rate_limited);
	tcase_add_test(tc, passive_close);
	tcase_add_test(tc, active_close_time_wait_reuse);
	tcase_add_test(tc, active_open_reuses_quiet_time_wait);
	tcase_add_test(tc, time_wait_expires);
	tcase_add_test(tc, simultaneous_close);
	tcase_add_test(tc, lost_fin_retransmitted_with_backoff);
	tcase_add_test(tc, fin_wait2_timeout);
	tcase_add_test(tc, abort_sends_rst);
	tcase_add_test(tc, accept_refused_resets);
	suite_add_tcase(s, tc);
	return h_run(s);
}
