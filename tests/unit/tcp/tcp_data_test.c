/* SPDX-License-Identifier: MIT */
/* tcp_data_test.c: data transfer in the deterministic harness: delayed and immediate ACKs,
 * out-of-order data with SACK blocks, receive backpressure and window updates, the initial
 * window, slow start, RTO timing and backoff, fast retransmit and NewReno recovery, zero-window
 * probes, give-up, on_sendable, PAWS. */
#include "tcp_harness.h"

static const struct h_opt opt_sack = { .mss = 1000, .ws = 0, .sack_ok = 1 };

START_TEST(delayed_ack_and_every_second_segment)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &opt_sack, 65535);
	uint8_t buf[1460];
	h_pattern(buf, sizeof(buf), 0);
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, 65535, buf, 1000);
	ck_assert_uint_eq(h->app.rx_len, 1000);
	h_none(h);
	h_advance(h, 39);
	h_none(h);
	h_advance(h, 2);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->ack, p.snd_nxt + 1000);
	p.snd_nxt += 1000;
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, 65535, buf, 1000);
	h_none(h);
	h_in(h, TCP_ACK, p.snd_nxt + 1000, p.rcv_nxt, 65535, buf, 1000);
	ck_assert_uint_eq(h_out(h)->ack, p.snd_nxt + 2000);
	h_free(h);
}
END_TEST

START_TEST(out_of_order_sack_and_fill)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &opt_sack, 65535);
	uint8_t buf[4000];
	h_pattern(buf, sizeof(buf), 0);
	uint32_t s0 = p.snd_nxt;
	h_in(h, TCP_ACK, s0 + 1000, p.rcv_nxt, 65535, buf + 1000, 1000);
	struct h_seg *d1 = h_out(h);
	ck_assert_uint_eq(d1->ack, s0);
	ck_assert_uint_eq(d1->opt.nsack, 1);
	ck_assert_uint_eq(d1->opt.sack[0][0], s0 + 1000);
	ck_assert_uint_eq(d1->opt.sack[0][1], s0 + 2000);
	h_in(h, TCP_ACK, s0 + 3000, p.rcv_nxt, 65535, buf + 3000, 1000);
	struct h_seg *d2 = h_out(h);
	ck_assert_uint_eq(d2->opt.nsack, 2);
	ck_assert_uint_eq(d2->opt.sack[0][0], s0 + 3000); /* most recent first */
	ck_assert_uint_eq(d2->opt.sack[1][0], s0 + 1000);
	/* overlapping duplicate of the second block */
	h_in(h, TCP_ACK, s0 + 1500, p.rcv_nxt, 65535, buf + 1500, 1000);
	struct h_seg *d3 = h_out(h);
	ck_assert_uint_eq(d3->opt.sack[0][0], s0 + 1000);
	ck_assert_uint_eq(d3->opt.sack[0][1], s0 + 2500);
	ck_assert_uint_eq(h->app.rx_len, 0);
	/* fill the first hole: immediate ACK up to the next hole */
	h_in(h, TCP_ACK, s0, p.rcv_nxt, 65535, buf, 1000);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->ack, s0 + 2500);
	ck_assert_uint_eq(a->opt.nsack, 1);
	h_in(h, TCP_ACK, s0 + 2500, p.rcv_nxt, 65535, buf + 2500, 500);
	a = h_out(h);
	ck_assert_uint_eq(a->ack, s0 + 4000);
	ck_assert_uint_eq(a->opt.nsack, 0);
	ck_assert_uint_eq(h->app.rx_len, 4000);
	ck_assert_mem_eq(h->app.rx, buf, 4000);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->rx_ooo_segs, 3);
	h_free(h);
}
END_TEST

START_TEST(backpressure_closes_window_and_updates)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.rcv_buf = 8000;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	h->app.consume_max = 0;
	uint8_t buf[1000];
	h_pattern(buf, sizeof(buf), 0);
	uint32_t edge = 0;
	for (int i = 0; i < 8; i++) {
		h_in(h, TCP_ACK | TCP_PSH, p.snd_nxt, p.rcv_nxt, 65535, buf, 1000);
		p.snd_nxt += 1000;
		h_advance(h, 50);
		while (h_pending(h)) {
			struct h_seg *a = h_out(h);
			uint32_t e = a->ack + a->win;
			ck_assert(edge == 0 || tcp_seq_geq(e, edge)); /* never shrinks */
			edge = e;
		}
	}
	ck_assert_uint_eq(edge, p.snd_nxt); /* window fully closed */
	/* data beyond the closed window is not accepted */
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, 65535, buf, 1000);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->ack, p.snd_nxt);
	ck_assert_uint_eq(a->win, 0);
	/* the application drains: a window update goes out */
	h->app.consume_max = SIZE_MAX;
	conn_resume_read(h->app.c);
	ck_assert_uint_eq(h_pending(h), 0); /* never from inside resume_read */
	h_poll(h);
	ck_assert_uint_eq(h->app.rx_len, 8000);
	a = h_out(h);
	ck_assert_uint_eq(a->ack, p.snd_nxt);
	ck_assert_uint_ge(a->win, 7000);
	h_free(h);
}
END_TEST

/* Sends n bytes from the application and returns them. */
static uint8_t *app_send(struct h *h, size_t n)
{
	uint8_t *b = malloc(n);
	h_pattern(b, n, 0);
	ck_assert_int_eq(conn_send(h->app.c, b, n), (ssize_t)n);
	return b;
}

START_TEST(initial_window_and_slow_start)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t *b = app_send(h, 60000);
	h_poll(h);
	ck_assert_uint_eq(h_pending(h), 10);
	for (int i = 0; i < 10; i++) {
		struct h_seg *d = h_out(h);
		ck_assert_uint_eq(d->len, 1460);
		ck_assert_uint_eq(d->seq, p.rcv_nxt + 1460u * i);
		ck_assert_mem_eq(d->data, b + 1460 * i, 1460);
	}
	/* one ACK for two segments grows cwnd by one MSS: 3 new segments */
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt + 2920, 65535, NULL, 0);
	ck_assert_uint_eq(h_pending(h), 3);
	free(b);
	h_free(h);
}
END_TEST

START_TEST(rto_timing_backoff_and_giveup)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.user_timeout_ms = 10000;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t *b = app_send(h, 3000);
	h_poll(h);
	struct h_seg *d = h_out(h);
	h_out(h);
	h_out(h);
	/* the handshake measured ~0 RTT: RTO is the 200 ms floor */
	h_advance(h, 199);
	h_none(h);
	h_advance(h, 2);
	struct h_seg *r1 = h_out(h);
	ck_assert_uint_eq(r1->seq, d->seq);
	ck_assert_uint_eq(r1->len, 1460);
	h_none(h); /* cwnd is one segment after a timeout */
	h_advance(h, 398);
	h_none(h);
	h_advance(h, 3);
	struct h_seg *r2 = h_out(h);
	ck_assert_uint_eq(r2->seq, d->seq);
	ck_assert(r2->at - r1->at >= 400000 && r2->at - r1->at <= 402000);
	ck_assert_uint_eq(tcp_conn_of(h->app.c)->cwnd, 1460);
	h_advance(h, 12000);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_TIMEOUT);
	(void)p;
	free(b);
	h_free(h);
}
END_TEST

START_TEST(rto_recovery_go_back_n)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t *b = app_send(h, 5000);
	h_poll(h);
	ck_assert_uint_eq(h_pending(h), 4);
	h->rd = h->nout;
	h_advance(h, 201);
	struct h_seg *r = h_out(h);
	ck_assert_uint_eq(r->seq, p.rcv_nxt);
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt + 1460, 65535, NULL, 0);
	/* cwnd 2 segments now: the next two go out again */
	ck_assert_uint_eq(h_pending(h), 2);
	ck_assert_uint_eq(h_out(h)->seq, p.rcv_nxt + 1460);
	ck_assert_uint_eq(h_out(h)->seq, p.rcv_nxt + 2920);
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt + 5000, 65535, NULL, 0);
	ck_assert_uint_eq(tcp_conn_of(h->app.c)->sndq.len, 0);
	free(b);
	h_free(h);
}
END_TEST

START_TEST(fast_retransmit_and_newreno)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t *b = app_send(h, 14600 * 2);
	h_poll(h);
	ck_assert_uint_eq(h_pending(h), 10);
	h->rd = h->nout;
	uint32_t s0 = p.rcv_nxt, mss = 1460;
	/* segment 1 and 4 lost: ACK s0+mss, then duplicates */
	h_in(h, TCP_ACK, p.snd_nxt, s0 + mss, 65535, NULL, 0);
	unsigned before = h_pending(h);
	h->rd = h->nout;
	ck_assert_uint_eq(before, 2); /* slow start after the new ACK */
	h_in(h, TCP_ACK, p.snd_nxt, s0 + mss, 65535, NULL, 0);
	/* limited transmit: one new segment per early duplicate */
	ck_assert_uint_eq(h_pending(h), 1);
	h->rd = h->nout;
	h_in(h, TCP_ACK, p.snd_nxt, s0 + mss, 65535, NULL, 0);
	ck_assert_uint_eq(h_pending(h), 1);
	h->rd = h->nout;
	h_in(h, TCP_ACK, p.snd_nxt, s0 + mss, 65535, NULL, 0);
	struct h_seg *fr = h_out(h);
	ck_assert_uint_eq(fr->seq, s0 + mss);
	ck_assert(tcp_conn_of(h->app.c)->flags & TF_RECOVERY);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->fast_rtx, 1);
	h->rd = h->nout;
	/* partial ACK (up to the second hole): the next hole is retransmitted at once */
	h_in(h, TCP_ACK, p.snd_nxt, s0 + 3 * mss, 65535, NULL, 0);
	struct h_seg *pr = h_out(h);
	ck_assert_uint_eq(pr->seq, s0 + 3 * mss);
	ck_assert(tcp_conn_of(h->app.c)->flags & TF_RECOVERY);
	h->rd = h->nout;
	/* full ACK of everything sent: recovery ends, cwnd deflated to ssthresh or less */
	struct tcp_conn *tc = tcp_conn_of(h->app.c);
	h_in(h, TCP_ACK, p.snd_nxt, tc->snd_max, 65535, NULL, 0);
	ck_assert(!(tc->flags & TF_RECOVERY));
	ck_assert_uint_le(tc->cwnd, tc->ssthresh);
	free(b);
	h_free(h);
}
END_TEST

/*
 * Regression (issue 3, the intermittent RSTs of tcp_interop.sh): when a stalled dpmaild
 * resumed, Linux had retransmitted (go-back-N after its RTO) data we already had. Those old
 * duplicates were trimmed to zero length for their ACK and then counted as duplicate ACKs
 * (RFC 5681 2 excludes segments that carry data), so three of them started a spurious fast
 * retransmit; NewReno then resent the segment at SND.UNA on every ACK of the recovery. At the
 * end of the echo flow that burst was still in flight when the peer's final ACK released our
 * LAST_ACK connection; the peer, in TIME_WAIT, acknowledged every one of those data segments,
 * and each ACK of the closed flow drew a RST.
 */
START_TEST(peer_retransmissions_are_not_duplicate_acks)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	const struct tcp_counters *cnt = tcp_stack_counters(h->st);
	uint8_t in[3][1000];
	for (int i = 0; i < 3; i++) {
		h_pattern(in[i], sizeof(in[i]), (size_t)i * 1000);
		h_in(h, TCP_ACK | TCP_PSH, p.snd_nxt + (uint32_t)i * 1000, p.rcv_nxt, 65535, in[i], 1000);
	}
	h_poll(h);
	ck_assert_uint_eq(h->app.rx_len, 3000);
	uint8_t *b = app_send(h, 14600);
	h_poll(h);
	ck_assert_uint_ge(h_pending(h), 10);
	h->rd = h->nout;
	uint32_t s0 = p.rcv_nxt, mss = 1460;
	/* the peer resends its three segments (our ACKs were late): each is answered by a bare
	 * ACK, and none counts as a duplicate ACK */
	for (int i = 0; i < 3; i++)
		h_in(h, TCP_ACK | TCP_PSH, p.snd_nxt + (uint32_t)i * 1000, s0, 65535, in[i], 1000);
	while (h_pending(h)) {
		struct h_seg *a = h_out(h);
		ck_assert_uint_eq(a->len, 0);
		ck_assert_uint_eq(a->ack, p.snd_nxt + 3000);
	}
	ck_assert_uint_eq(cnt->dupacks_rx, 0);
	ck_assert_uint_eq(cnt->fast_rtx, 0);
	ck_assert(!(tcp_conn_of(h->app.c)->flags & TF_RECOVERY));
	/* the peer then acknowledges our data two segments at a time: nothing is resent */
	for (uint32_t k = 2; k <= 10; k += 2)
		h_in(h, TCP_ACK, p.snd_nxt + 3000, s0 + k * mss, 65535, NULL, 0);
	ck_assert_uint_eq(cnt->rtx_segs, 0);
	ck_assert_uint_eq(cnt->partial_acks, 0);
	/* orderly passive close; afterwards nothing of ours is left in flight */
	h->app.close_on_eof = 1;
	h_in(h, TCP_ACK | TCP_FIN, p.snd_nxt + 3000, s0 + 14600, 65535, NULL, 0);
	h_poll(h);
	struct h_seg *f = h_out(h);
	ck_assert(f->flags & TCP_FIN);
	ck_assert_uint_eq(f->seq, s0 + 14600);
	h->rd = h->nout;
	h_in(h, TCP_ACK, p.snd_nxt + 3001, s0 + 14601, 65535, NULL, 0);
	h_poll(h);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_uint_eq(cnt->rtx_segs, 0);
	ck_assert_uint_eq(cnt->tx_rst, 0);
	free(b);
	h_free(h);
}
END_TEST

/* With SACK, an ACK is a duplicate only if it SACKs something new (RFC 6675 2): D-SACKs for
 * copies the peer got twice, and block-less ACKs, never start a recovery. */
START_TEST(dsack_and_blockless_acks_are_not_duplicates)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_opt so = { .mss = 1460, .ws = -1, .sack_ok = 1 };
	struct h_peer p = h_accept(h, &so, 65535);
	const struct tcp_counters *cnt = tcp_stack_counters(h->st);
	uint8_t *b = app_send(h, 14600);
	h_poll(h);
	h->rd = h->nout;
	uint32_t s0 = p.rcv_nxt, mss = 1460;
	h_in(h, TCP_ACK, p.snd_nxt, s0 + 2 * mss, 65535, NULL, 0);
	h->rd = h->nout;
	struct h_opt d = { .nsack = 1, .sack = { { s0, s0 + mss } } }; /* D-SACK, below SND.UNA */
	for (int i = 0; i < 4; i++)
		h_in_full(h, H_PEER_PORT, TCP_ACK, p.snd_nxt, s0 + 2 * mss, 65535, &d, NULL, 0);
	for (int i = 0; i < 4; i++)
		h_in(h, TCP_ACK, p.snd_nxt, s0 + 2 * mss, (uint16_t)(65535 - i), NULL, 0);
	ck_assert_uint_eq(cnt->fast_rtx, 0);
	ck_assert_uint_eq(cnt->rtx_segs, 0);
	/* a real loss report (new SACKed data) still counts */
	for (uint32_t k = 3; k < 6; k++) {
		struct h_opt l = { .nsack = 1, .sack = { { s0 + 3 * mss, s0 + k * mss + mss } } };
		h_in_full(h, H_PEER_PORT, TCP_ACK, p.snd_nxt, s0 + 2 * mss, 65535, &l, NULL, 0);
	}
	ck_assert_uint_eq(cnt->fast_rtx, 1);
	free(b);
	h_free(h);
}
END_TEST

START_TEST(zero_window_probes)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 0);
	uint8_t *b = app_send(h, 3000);
	h_poll(h);
	h_none(h);
	h_advance(h, 201);
	struct h_seg *z1 = h_out(h);
	ck_assert_uint_eq(z1->seq, p.rcv_nxt - 1);
	ck_assert_uint_eq(z1->len, 0);
	/* answered with a still-closed window: probes continue with backoff */
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, 0, NULL, 0);
	h_none(h);
	h_advance(h, 401);
	struct h_seg *z2 = h_out(h);
	ck_assert(z2->at - z1->at >= 400000);
	/* the window opens: data flows */
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt, 65535, NULL, 0);
	ck_assert_uint_eq(h_pending(h), 3);
	ck_assert_uint_eq(h_out(h)->len, 1460);
	/* an unanswered persist never ends the connection early; a long-dead peer does */
	free(b);
	h_free(h);
}
END_TEST

START_TEST(sendable_after_full_buffer)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.snd_buf = 8000;
	struct h *h = h_new(&t);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t buf[10000];
	h_pattern(buf, sizeof(buf), 0);
	ck_assert_int_eq(conn_send(h->app.c, buf, sizeof(buf)), 8000);
	ck_assert_uint_eq(conn_send_space(h->app.c), 0);
	h_poll(h);
	ck_assert_int_eq(h->app.sendable, 0);
	h_in(h, TCP_ACK, p.snd_nxt, p.rcv_nxt + 4380, 65535, NULL, 0);
	ck_assert_int_eq(h->app.sendable, 1);
	ck_assert_uint_eq(conn_send_space(h->app.c), 4380);
	h_free(h);
}
END_TEST

START_TEST(paws_drops_old_timestamp)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_opt o = { .mss = 1460, .ws = 2, .ts = 1, .tsval = 1000 };
	struct h_peer p = h_accept(h, &o, 65535);
	struct h_opt d = { .ts = 1, .tsval = 2000 };
	h_in_full(h, H_PEER_PORT, TCP_ACK | TCP_PSH, p.snd_nxt, p.rcv_nxt, 65535, &d, "abcd", 4);
	ck_assert_uint_eq(h->app.rx_len, 4);
	/* an old duplicate carrying an older timestamp and new-looking sequence: PAWS drop */
	struct h_opt old = { .ts = 1, .tsval = 1500 };
	h_in_full(h, H_PEER_PORT, TCP_ACK, p.snd_nxt + 4, p.rcv_nxt, 65535, &old, "efgh", 4);
	ck_assert_uint_eq(h->app.rx_len, 4);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->rx_paws_drop, 1);
	struct h_seg *a = h_out(h);
	ck_assert(a->opt.has_ts);
	ck_assert_uint_eq(a->opt.tsecr, 2000);
	h_free(h);
}
END_TEST

START_TEST(bad_checksum_and_malformed_options_dropped)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	static const uint8_t bad[] = { 2, 4, 5 }; /* MSS option running past the header */
	uint8_t raw[4] = { 2, 4, 5, 0 };
	(void)bad;
	struct h_opt o = { .raw = raw, .rawlen = 4 };
	raw[1] = 3; /* MSS with length 3: malformed */
	h_in_full(h, H_PEER_PORT, TCP_SYN, 5, 0, 100, &o, NULL, 0);
	h_none(h);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->rx_bad_opts, 1);
	uint8_t unk[8] = { 1, 99, 4, 0, 0, 1, 0, 0 }; /* NOP, unknown kind 99 len 4, NOP, EOL */
	struct h_opt u = { .raw = unk, .rawlen = 8 };
	h_in_full(h, H_PEER_PORT, TCP_SYN, 5, 0, 100, &u, NULL, 0);
	ck_assert_uint_eq(h_out(h)->flags, TCP_SYN | TCP_ACK);
	/* a corrupted checksum is counted and dropped */
	struct rte_mbuf *m = rte_pktmbuf_alloc(h_mp);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, 20);
	ck_assert_ptr_nonnull(th);
	memset(th, 0, 20);
	th->src_port = htons(1);
	th->dst_port = htons(H_LPORT);
	th->data_off = 5 << 4;
	th->tcp_flags = TCP_SYN;
	th->cksum = 0x1234;
	tcp_input(h->st, m, H_PEER_IP, H_LOCAL_IP, h->now);
	ck_assert_uint_eq(tcp_stack_counters(h->st)->rx_bad_csum, 1);
	h_none(h);
	h_free(h);
}
END_TEST

START_TEST(icmp_frag_needed_lowers_mss)
{
	struct h *h = h_new(NULL);
	h_listen(h);
	struct h_peer p = h_accept(h, &h_opt_plain, 65535);
	uint8_t *b = app_send(h, 4000);
	h_poll(h);
	struct h_seg *d = h_out(h);
	ck_assert_uint_eq(d->len, 1460);
	h->rd = h->nout;
	/* RFC 1191: a router says the next hop's MTU is 1000 */
	tcp_icmp_error(h->st, H_LOCAL_IP, H_PEER_IP, htons(H_LPORT), htons(H_PEER_PORT), d->seq, 3,
		       4, 1000);
	h_poll(h);
	ck_assert_uint_ge(h_pending(h), 1);
	while (h_pending(h)) {
		struct h_seg *r = h_out(h);
		ck_assert_uint_le(r->len, 960);
	}
	/* an ICMP error quoting a sequence number we never sent is ignored */
	tcp_icmp_error(h->st, H_LOCAL_IP, H_PEER_IP, htons(H_LPORT), htons(H_PEER_PORT),
		       d->seq + 100000, 3, 4, 600);
	ck_assert_uint_eq(tcp_conn_of(h->app.c)->mss, 960);
	(void)p;
	free(b);
	h_free(h);
}
END_TEST

START_TEST(icmp_unreachable_is_soft_error)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.syn_timeout_ms = 5000;
	struct h *h = h_new(&t);
	struct conn_addr dst = { .family = AF_INET, .port = htons(H_LPORT), .ip.v4 = H_PEER_IP };
	int err;
	struct conn *c = tcp_connect(h->st, &dst, NULL, &h_handler, &h->app, &err);
	struct h_seg *syn = h_out(h);
	tcp_icmp_error(h->st, H_LOCAL_IP, H_PEER_IP, c->local.port, htons(H_LPORT), syn->seq, 3, 3,
		       0);
	ck_assert_int_eq(h->app.closed, 0); /* soft: the connection keeps trying */
	h_advance(h, 8000);
	ck_assert_int_eq(h->app.closed, 1);
	ck_assert_int_eq(h->app.why, CONN_CLOSED_REFUSED);
	h_free(h);
}
END_TEST

/* A stack with stretch ACKs (as tcp_lcore sets it) and an accepted SACK connection. */
static struct h *stretch_h(struct tcp_tunables *t, struct h_peer *p)
{
	tcp_tunables_defaults(t);
	t->stretch_ack = 1;
	struct h *h = h_new(t);
	h_listen(h);
	*p = h_accept(h, &opt_sack, 65535);
	return h;
}

/* Stretch ACKs (tunables.stretch_ack): in-order segments of one loop turn get one ACK at
 * tcp_poll; out-of-order data is still acknowledged at once (RFC 5681 4.2), a filled hole too,
 * and more than rcv_buf/4 unacknowledged forces an ACK within the turn. */
START_TEST(stretch_ack_once_per_turn)
{
	struct tcp_tunables t;
	struct h_peer p;
	struct h *h = stretch_h(&t, &p);
	uint8_t buf[1460];
	h_pattern(buf, sizeof(buf), 0);
	uint32_t seq = p.snd_nxt;
	for (int i = 0; i < 6; i++, seq += 1000)
		h_in(h, TCP_ACK, seq, p.rcv_nxt, 65535, buf, 1000);
	ck_assert_uint_eq(h->app.rx_len, 6000);
	h_none(h);
	h_poll(h);
	struct h_seg *a = h_out(h);
	ck_assert_uint_eq(a->ack, seq);
	h_none(h);
	/* a single segment: delayed ACK as before */
	h_in(h, TCP_ACK, seq, p.rcv_nxt, 65535, buf, 1000);
	seq += 1000;
	h_poll(h);
	h_none(h);
	h_advance(h, 41);
	ck_assert_uint_eq(h_out(h)->ack, seq);
	/* out of order: an immediate duplicate ACK, without waiting for the poll */
	h_in(h, TCP_ACK, seq + 1000, p.rcv_nxt, 65535, buf, 1000);
	ck_assert_uint_eq(h_out(h)->ack, seq);
	h_in(h, TCP_ACK, seq, p.rcv_nxt, 65535, buf, 1000);
	ck_assert_uint_eq(h_out(h)->ack, seq + 2000); /* the hole filled: at once */
	seq += 2000;
	h_none(h);
	/* a long burst: an ACK once rcv_buf/4 is unacknowledged, without a poll */
	uint32_t start = seq;
	while (seq - start < t.rcv_buf / 4 + 2000 && h_pending(h) == 0) {
		h_in(h, TCP_ACK, seq, p.rcv_nxt, 65535, buf, 1000);
		seq += 1000;
	}
	ck_assert_uint_eq(h_pending(h), 1);
	a = h_out(h);
	ck_assert_uint_eq(a->ack, seq);
	ck_assert_uint_ge(seq - start, t.rcv_buf / 4);
	h_free(h);
}
END_TEST

/* conn_flush sends what is new at once (carrying an ACK owed for the turn), and nothing when
 * nothing is new: upper layers flush after every piece they queue. */
START_TEST(flush_sends_only_what_is_new)
{
	struct tcp_tunables t;
	struct h_peer p;
	struct h *h = stretch_h(&t, &p);
	uint8_t buf[1000];
	h_pattern(buf, sizeof(buf), 0);
	uint32_t seq = p.snd_nxt;
	for (int i = 0; i < 2; i++, seq += 1000)
		h_in(h, TCP_ACK, seq, p.rcv_nxt, 65535, buf, 1000);
	h_none(h); /* the ACK is owed at the end of the turn */
	ck_assert_int_eq(conn_send(h->app.c, "250 ok\r\n", 8), 8);
	conn_flush(h->app.c);
	struct h_seg *d = h_out(h);
	ck_assert_uint_eq(d->len, 8);
	ck_assert_uint_eq(d->ack, seq); /* the owed ACK rode on the reply */
	conn_flush(h->app.c);
	conn_flush(h->app.c);
	h_poll(h);
	h_none(h);
	h_in(h, TCP_ACK, seq, p.rcv_nxt + 8, 65535, NULL, 0);
	conn_flush(h->app.c);
	h_none(h);
	conn_shutdown(h->app.c);
	conn_flush(h->app.c);
	h_poll(h);
	d = h_out(h);
	ck_assert_uint_eq(d->flags & TCP_FIN, TCP_FIN);
	ck_assert_uint_eq(d->seq, p.rcv_nxt + 8);
	h_none(h);
	h_free(h);
}
END_TEST

int main(void)
{
	h_eal("tcp_data");
	Suite *s = suite_create("tcp_data");
	TCase *tc = tcase_create("data");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, delayed_ack_and_every_second_segment);
	tcase_add_test(tc, stretch_ack_once_per_turn);
	tcase_add_test(tc, flush_sends_only_what_is_new);
	tcase_add_test(tc, out_of_order_sack_and_fill);
	tcase_add_test(tc, backpressure_closes_window_and_updates);
	tcase_add_test(tc, initial_window_and_slow_start);
	tcase_add_test(tc, rto_timing_backoff_and_giveup);
	tcase_add_test(tc, rto_recovery_go_back_n);
	tcase_add_test(tc, fast_retransmit_and_newreno);
	tcase_add_test(tc, peer_retransmissions_are_not_duplicate_acks);
	tcase_add_test(tc, dsack_and_blockless_acks_are_not_duplicates);
	tcase_add_test(tc, zero_window_probes);
	tcase_add_test(tc, sendable_after_full_buffer);
	tcase_add_test(tc, paws_drops_old_timestamp);
	tcase_add_test(tc, bad_checksum_and_malformed_options_dropped);
	tcase_add_test(tc, icmp_frag_needed_lowers_mss);
	tcase_add_test(tc, icmp_unreachable_is_soft_error);
	suite_add_tcase(s, tc);
	return h_run(s);
}
