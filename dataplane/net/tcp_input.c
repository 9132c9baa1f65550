/* SPDX-License-Identifier: MIT */
/*
 * tcp_input.c: segment arrival (RFC 9293 3.10.7) for connections in every state: header and
 * checksum validation, demultiplexing (connection, TIME_WAIT entry, listener, or a RST for a
 * closed port), PAWS (RFC 7323 5), the acceptability test with an ACK for each unacceptable
 * segment, RST and SYN handling hardened per RFC 5961, ACK processing (RTT, congestion
 * control, window update, FIN acknowledgement), in-order and out-of-order data, FIN.
 */
#include <rte_byteorder.h>
#include <rte_ip.h>

#include "log.h"
#include "net/tcp_impl.h"

#define PAWS_IDLE_US (24ull * 24 * 3600 * 1000000) /* RFC 7323 5.5: 24 days */

/* Parses the header of m into s; 0, or -1 when the segment must be dropped (counted). */
static int seg_parse(struct tcp_stack *st, struct rte_mbuf *m, uint32_t src, uint32_t dst,
		     struct tcp_seg *s)
{
	if (m->nb_segs > 1 && rte_pktmbuf_linearize(m) < 0)
		goto bad;
	uint32_t len = m->data_len;
	if (len < TCP_HDR_LEN)
		goto bad;
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	uint32_t hl = (uint32_t)(th->data_off >> 4) * 4;
	if (hl < TCP_HDR_LEN || hl > len || th->src_port == 0 || th->dst_port == 0)
		goto bad;
	if (!(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_GOOD) && !st->tun.trusted_link &&
	    tcp_cksum(m, src, dst) != 0) {
		st->cnt.rx_bad_csum++;
		return -1;
	}
	s->key.laddr = dst;
	s->key.raddr = src;
	s->key.lport = th->dst_port;
	s->key.rport = th->src_port;
	s->seq = rte_be_to_cpu_32(th->sent_seq);
	s->ack = rte_be_to_cpu_32(th->recv_ack);
	s->flags = th->tcp_flags & 0x3f;
	s->wnd = rte_be_to_cpu_16(th->rx_win);
	s->old_dup = false;
	if (tcp_opts_parse((const uint8_t *)(th + 1), hl - TCP_HDR_LEN, &s->opt) < 0) {
		st->cnt.rx_bad_opts++;
		return -1;
	}
	rte_pktmbuf_adj(m, (uint16_t)hl);
	s->len = m->data_len;
	s->m = m;
	return 0;
bad:
	st->cnt.rx_bad_hdr++;
	return -1;
}

/* No connection: a SYN for a listener, an ACK that may carry a SYN cookie, a RST for the
 * rest (RFC 9293 3.10.7.1/3.10.7.2). */
static void no_conn_input(struct tcp_stack *st, struct tcp_seg *s)
{
	struct tcp_listener *l = tcp_listener_find(st, s->key.lport);
	if (l && (s->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
		tcp_listen_input(st, l, s, 0);
		return;
	}
	if (l && (s->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK &&
	    tcp_syncookie_input(st, l, s))
		return;
	st->cnt.rx_no_flow++;
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("event=tcp_no_flow lport=%u rport=%u flags=0x%02x seq=%u ack=%u len=%u",
			  rte_be_to_cpu_16(s->key.lport), rte_be_to_cpu_16(s->key.rport),
			  s->flags, s->seq, s->ack, s->len);
	if (!l && (s->flags & TCP_SYN))
		st->cnt.syn_no_listener++;
	tcp_send_rst_reply(st, s);
}

void tcp_input(struct tcp_stack *st, struct rte_mbuf *m, uint32_t src, uint32_t dst,
	       uint64_t now)
{
	struct tcp_seg s;
	tcp_enter(st, now);
	st->cnt.rx_segs++;
	if (seg_parse(st, m, src, dst, &s) < 0) {
		rte_pktmbuf_free(m);
		goto out;
	}
	st->cnt.rx_bytes += s.len;
	struct tcp_flow *f = tcp_flow_lookup(st, &s.key);
	if (!f)
		no_conn_input(st, &s);
	else if (f->kind == TCP_FLOW_TW)
		tcp_tw_input(st, (struct tcp_tw *)f, &s);
	else
		tcp_conn_input((struct tcp_conn *)((char *)f - offsetof(struct tcp_conn, f)), &s);
	if (s.m)
		rte_pktmbuf_free(s.m);
out:
	tcp_leave(st);
}

/* ---- SYN_SENT -------------------------------------------------------------------------------- */

static void syn_sent_input(struct tcp_conn *tc, struct tcp_seg *s)
{
	struct tcp_stack *st = tc->st;
	bool ack_ok = false;
	if (s->flags & TCP_ACK) {
		if (tcp_seq_leq(s->ack, tc->iss) || tcp_seq_gt(s->ack, tc->snd_max)) {
			if (!(s->flags & TCP_RST))
				tcp_send_rst(st, &s->key, s->ack, 0, 0);
			return;
		}
		ack_ok = true;
	}
	if (s->flags & TCP_RST) {
		if (ack_ok) {
			st->cnt.conn_refused++;
			tcp_conn_drop(tc, CONN_CLOSED_REFUSED);
		}
		return;
	}
	if (!(s->flags & TCP_SYN))
		return;
	tc->irs = s->seq;
	tc->rcv_nxt = s->seq + 1;
	tc->rcv_adv = tc->rcv_nxt;
	tcp_syn_options(tc, &s->opt);
	tc->snd_wnd = s->wnd; /* never scaled in a SYN */
	tc->max_snd_wnd = tc->snd_wnd;
	tc->snd_wl1 = s->seq;
	if (!ack_ok) {
		/* simultaneous open (RFC 9293 3.5 figure 8) */
		tcp_set_state(tc, TCP_SYN_RCVD);
		tcp_send_syn(tc);
		tcp_rtx_arm(tc);
		return;
	}
	tc->snd_una = s->ack;
	tc->snd_wl2 = s->ack;
	if (tc->rtx_count == 0)
		tcp_rtt_sample(tc, (uint32_t)(st->now - tc->rtt_start));
	tc->t_rtx = 0;
	tcp_timer_update(tc);
	tc->flags |= TF_ACK_NOW;
	tcp_established(tc);
	if (tc->state != TCP_CLOSED)
		tcp_output(tc);
}

/* ---- synchronized states ------------------------------------------------------------------- */

/* RFC 9293 3.10.7.4 first check, against the window we advertised. */
static bool seq_acceptable(const struct tcp_conn *tc, const struct tcp_seg *s)
{
	uint32_t wnd = tc->rcv_adv - tc->rcv_nxt;
	uint32_t sl = tcp_seg_seqlen(s);
	if (sl == 0) {
		if (wnd == 0)
			return s->seq == tc->rcv_nxt;
		return tcp_seq_in(s->seq, tc->rcv_nxt, tc->rcv_nxt + wnd);
	}
	if (wnd == 0)
		return false;
	return tcp_seq_in(s->seq, tc->rcv_nxt, tc->rcv_nxt + wnd) ||
	       tcp_seq_in(s->seq + sl - 1, tc->rcv_nxt, tc->rcv_nxt + wnd);
}

/* Wholly left of the window, no SYN or RST: a retransmission of what we already have. */
static bool old_duplicate(const struct tcp_conn *tc, const struct tcp_seg *s)
{
	return !(s->flags & (TCP_SYN | TCP_RST)) && (s->flags & TCP_ACK) &&
	       tcp_seq_leq(s->seq + tcp_seg_seqlen(s), tc->rcv_nxt);
}

/* Our FIN was acknowledged. */
static void fin_acked(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	switch (tc->state) {
	case TCP_FIN_WAIT_1:
		tcp_set_state(tc, TCP_FIN_WAIT_2);
		if (tc->flags & TF_APP_CLOSED) {
			tcp_conn_closed(tc, CONN_CLOSED_LOCAL);
			tc->t_life = st->now + (uint64_t)st->tun.fin_wait2_ms * TCP_MS;
			tcp_timer_update(tc);
		}
		break;
	case TCP_CLOSING:
		tcp_set_state(tc, TCP_TIME_WAIT);
		tcp_proto_done(tc);
		break;
	case TCP_LAST_ACK:
		tcp_proto_done(tc);
		break;
	default:
		break;
	}
}

/* New data acknowledged: RTT, send queue, congestion control, timers. */
static void ack_advance(struct tcp_conn *tc, const struct tcp_seg *s)
{
	struct tcp_stack *st = tc->st;
	uint32_t acked = s->ack - tc->snd_una;
	bool fin = (tc->flags & TF_FIN_SENT) && tcp_seq_gt(s->ack, tc->fin_seq);
	uint32_t data = acked - (fin ? 1 : 0);
	if (data > tc->sndq.len)
		data = tc->sndq.len;

	if ((tc->flags & TF_TS_OK) && s->opt.has_ts && s->opt.tsecr) {
		uint32_t ms = tcp_ts_now(st) + tc->ts_off - s->opt.tsecr;
		if (ms < 600000)
			tcp_rtt_sample(tc, ms ? ms * 1000 : 500);
	} else if ((tc->flags & TF_RTT_TIMING) && tcp_seq_gt(s->ack, tc->rtt_seq)) {
		tcp_rtt_sample(tc, (uint32_t)(st->now - tc->rtt_start));
	}
	if ((tc->flags & TF_RTT_TIMING) && tcp_seq_gt(s->ack, tc->rtt_seq))
		tc->flags &= ~TF_RTT_TIMING;
	tcp_mq_trim_front(&tc->sndq, data);
	tc->snd_una = s->ack;
	if (tcp_seq_lt(tc->snd_nxt, tc->snd_una))
		tc->snd_nxt = tc->snd_una;
	tcp_sack_trim(tc);
	tc->rtx_count = 0;
	tc->rtx_since = 0;
	tc->flags &= ~TF_TLP_SENT;
	tcp_cc_ack(tc, acked);
	if (tc->snd_una == tc->snd_max) {
		tc->t_rtx = 0;
		tc->flags &= ~TF_PERSIST;
		tcp_timer_update(tc);
	} else if (!(tc->flags & TF_PERSIST)) {
		tcp_rtx_arm(tc);
	}
	if (fin)
		fin_acked(tc);
	if (tc->state != TCP_CLOSED && data)
		tcp_sendable_check(tc);
}

/*
 * Whether s (acknowledging exactly SND.UNA) is a duplicate ACK, the loss signal of fast
 * retransmit. RFC 5681 2: data outstanding, no data (a peer's retransmission of data we already
 * had is trimmed to nothing for its ACK but still carried data: old_dup), no SYN/FIN, same
 * window. With SACK (RFC 6675 2), only an ACK whose blocks SACK bytes not SACKed before: a
 * D-SACK or block-less ACK from a SACK receiver reports no loss (the receiver got a copy, or
 * moved its window), and counting those turned duplicates of ours into spurious recoveries.
 */
static bool is_dupack(const struct tcp_conn *tc, const struct tcp_seg *s, bool wnd_changed,
		      uint32_t sacked_new)
{
	if (s->ack != tc->snd_una || s->len || s->old_dup || (s->flags & (TCP_SYN | TCP_FIN)) ||
	    tc->snd_una == tc->snd_max)
		return false;
	if (tc->flags & TF_SACK_OK)
		return sacked_new > 0; /* receivers that autotune move the window on every ACK */
	return !wnd_changed;
}

/* RFC 9293 3.10.7.4 fifth check. Returns false when the segment must go no further. */
static bool ack_input(struct tcp_conn *tc, struct tcp_seg *s)
{
	if (tcp_seq_gt(s->ack, tc->snd_max)) {
		tc->flags |= TF_ACK_NOW; /* acks something not yet sent */
		return false;
	}
	uint32_t floor = tc->max_snd_wnd > 65535 ? tc->max_snd_wnd : 65535;
	if (tcp_seq_lt(s->ack, tc->snd_una - floor)) {
		tcp_send_challenge_ack(tc); /* RFC 5961 5.2 */
		return false;
	}
	uint32_t wnd = s->wnd << tc->snd_wscale;
	bool wnd_changed = false;
	if (tcp_seq_lt(tc->snd_wl1, s->seq) ||
	    (tc->snd_wl1 == s->seq && tcp_seq_leq(tc->snd_wl2, s->ack))) {
		wnd_changed = wnd != tc->snd_wnd;
		if (wnd > tc->snd_wnd)
			tc->flags |= TF_NEED_OUTPUT;
		tc->snd_wnd = wnd;
		tc->snd_wl1 = s->seq;
		tc->snd_wl2 = s->ack;
		if (wnd > tc->max_snd_wnd)
			tc->max_snd_wnd = wnd;
	}
	if (tc->flags & TF_PERSIST)
		tc->rtx_since = 0; /* the peer answers probes: it is alive */
	uint32_t sacked_new = 0;
	if ((tc->flags & TF_SACK_OK) && s->opt.nsack) {
		uint32_t before = tcp_sack_bytes(tc);
		tcp_sack_update(tc, &s->opt);
		uint32_t after = tcp_sack_bytes(tc); /* may shrink: a full board forgets */
		sacked_new = after > before ? after - before : 0;
		if (tcp_sack_rtx_lost(tc))
			tc->flags |= TF_NEED_OUTPUT;
	}
	if (tcp_seq_gt(s->ack, tc->snd_una)) {
		ack_advance(tc, s);
		tc->flags |= TF_NEED_OUTPUT;
	} else if (is_dupack(tc, s, wnd_changed, sacked_new)) {
		/* RFC 6675 5: three segments' worth SACKed counts as the third duplicate; so does
		 * a SACK answering our tail loss probe while snd_una stays (RFC 8985 7.4) */
		if (tc->dupacks < 2 && tcp_sack_active(tc) &&
		    (tcp_sack_bytes(tc) >= 3u * tc->mss || (tc->flags & TF_TLP_SENT)))
			tc->dupacks = 2;
		if (tcp_cc_dupack(tc))
			tc->flags |= TF_NEED_OUTPUT;
	}
	return tc->state != TCP_CLOSED;
}

/* Queues the payload of s (in the window, after any trimming) and handles its FIN. */
static void data_input(struct tcp_conn *tc, struct tcp_seg *s)
{
	struct tcp_stack *st = tc->st;
	bool fin = s->flags & TCP_FIN;
	uint32_t seq = s->seq;
	if (s->len && tcp_seq_lt(seq, tc->rcv_nxt)) {
		uint32_t cut = tc->rcv_nxt - seq;
		if (cut > s->len)
			cut = s->len;
		rte_pktmbuf_adj(s->m, (uint16_t)cut);
		st->cnt.rx_dup_bytes += cut;
		s->len -= cut;
		seq += cut;
		tc->flags |= TF_ACK_NOW;
	}
	if (s->len && tcp_seq_gt(seq + s->len, tc->rcv_adv)) {
		uint32_t over = seq + s->len - tc->rcv_adv;
		if (over > s->len)
			over = s->len;
		rte_pktmbuf_trim(s->m, (uint16_t)over);
		s->len -= over;
		fin = false;
		tc->flags |= TF_ACK_NOW;
	}
	if (s->len) {
		if (st->rcv_mem + s->len > st->tun.rcv_mem_total) {
			st->cnt.rx_mem_drop++;
			tc->flags |= TF_ACK_NOW;
			return;
		}
		if (seq == tc->rcv_nxt) {
			bool hole = tc->ooo.head != NULL;
			st->rcv_mem += s->len;
			tc->rcv_nxt += s->len;
			tcp_mq_append_mbuf(&tc->rcvq, s->m);
			s->m = NULL;
			tcp_ooo_pull(tc);
			tc->flags |= TF_NEED_DELIVER;
			if (hole)
				tc->flags |= TF_ACK_NOW; /* a hole filled: at once (RFC 5681 4.2) */
			else if (++tc->segs_unacked < 2)
				tc->flags |= TF_DELACK;
			else if (st->tun.stretch_ack &&
				 tc->rcv_nxt - tc->last_ack_sent < st->tun.rcv_buf / 4)
				tcp_pending_add(tc, TF_ACK_TURN); /* one ACK per receive burst */
			else
				tc->flags |= TF_ACK_NOW; /* every second segment */
		} else {
			tcp_ooo_insert(tc, s->m, seq);
			s->m = NULL;
			tc->flags |= TF_ACK_NOW; /* immediate duplicate ACK (RFC 5681 4.2) */
			return;
		}
	}
	if (fin && seq + s->len == tc->rcv_nxt && !(tc->flags & TF_FIN_RCVD)) {
		tc->rcv_nxt++;
		tc->flags |= TF_FIN_RCVD | TF_ACK_NOW | TF_NEED_DELIVER;
		switch (tc->state) {
		case TCP_ESTABLISHED:
			tcp_set_state(tc, TCP_CLOSE_WAIT);
			break;
		case TCP_FIN_WAIT_1:
			tcp_set_state(tc, TCP_CLOSING);
			break;
		case TCP_FIN_WAIT_2:
			tcp_set_state(tc, TCP_TIME_WAIT); /* tcp_proto_done() follows the ACK */
			break;
		default:
			break;
		}
	}
}

/* TS.Recent update (RFC 7323 4.3) and PAWS; returns false to drop the segment. */
static bool ts_check(struct tcp_conn *tc, const struct tcp_seg *s)
{
	if (!(tc->flags & TF_TS_OK) || !s->opt.has_ts)
		return true;
	struct tcp_stack *st = tc->st;
	if (!(s->flags & TCP_RST) && tcp_seq_lt(s->opt.tsval, tc->ts_recent) &&
	    st->now - tc->ts_recent_at < PAWS_IDLE_US) {
		st->cnt.rx_paws_drop++;
		tc->flags |= TF_ACK_NOW;
		return false;
	}
	if (tcp_seq_leq(s->seq, tc->last_ack_sent)) {
		tc->ts_recent = s->opt.tsval;
		tc->ts_recent_at = st->now;
	}
	return true;
}

/* RST and SYN checks (RFC 9293 3.10.7.4 second/fourth, RFC 5961 3 and 4). */
static bool rst_syn_check(struct tcp_conn *tc, struct tcp_seg *s)
{
	struct tcp_stack *st = tc->st;
	if (s->flags & TCP_RST) {
		if (s->seq != tc->rcv_nxt) {
			tcp_send_challenge_ack(tc);
			return false;
		}
		if (tc->state == TCP_SYN_RCVD && (tc->flags & TF_PASSIVE)) {
			tcp_conn_release(tc); /* back to LISTEN: nobody was told */
			return false;
		}
		st->cnt.conn_resets++;
		tcp_conn_drop(tc, tc->state == TCP_SYN_RCVD ? CONN_CLOSED_REFUSED : CONN_CLOSED_RESET);
		return false;
	}
	if (s->flags & TCP_SYN) {
		tcp_send_challenge_ack(tc);
		return false;
	}
	return true;
}

/* The rest of segment processing for every state after SYN_SENT. */
void tcp_conn_input(struct tcp_conn *tc, struct tcp_seg *s)
{
	if (tc->state == TCP_SYN_SENT) {
		syn_sent_input(tc, s);
		return;
	}
	if (!ts_check(tc, s))
		goto out;
	if (tc->state == TCP_SYN_RCVD && (s->flags & (TCP_SYN | TCP_RST | TCP_ACK)) == TCP_SYN &&
	    s->seq == tc->irs) {
		tcp_send_syn(tc); /* a retransmitted SYN: our SYN-ACK was lost */
		return;
	}
	if (!seq_acceptable(tc, s)) {
		tc->st->cnt.rx_unacceptable++;
		if (!(s->flags & TCP_RST))
			tc->flags |= TF_ACK_NOW;
		if (!old_duplicate(tc, s))
			goto out;
		/* an old duplicate still carries a current ACK (after a go-back-N retransmission
		 * both sides may only ever send such segments): use the ACK, drop the rest */
		s->old_dup = s->len != 0;
		s->len = 0;
		s->flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
	}
	if (!rst_syn_check(tc, s))
		goto out;
	if (!(s->flags & TCP_ACK))
		goto out;
	if (tc->state == TCP_SYN_RCVD) {
		if (!tcp_seq_gt(s->ack, tc->snd_una) || tcp_seq_gt(s->ack, tc->snd_max)) {
			tcp_send_rst(tc->st, &s->key, s->ack, 0, 0);
			goto out;
		}
		tc->snd_una = tc->iss + 1;
		tc->snd_wnd = s->wnd << tc->snd_wscale;
		tc->max_snd_wnd = tc->snd_wnd;
		tc->snd_wl1 = s->seq;
		tc->snd_wl2 = s->ack;
		if (tc->rtx_count == 0)
			tcp_rtt_sample(tc, (uint32_t)(tc->st->now - tc->rtt_start));
		tc->t_rtx = 0;
		tcp_timer_update(tc);
		tcp_established(tc);
		if (tc->state == TCP_CLOSED)
			return;
	}
	if (!ack_input(tc, s))
		goto out;
	if (tc->state == TCP_ESTABLISHED || tc->state == TCP_FIN_WAIT_1 ||
	    tc->state == TCP_FIN_WAIT_2)
		data_input(tc, s);
	else if (s->flags & TCP_FIN || s->len)
		tc->flags |= TF_ACK_NOW; /* a retransmitted FIN after ours: re-ACK it */
	if (tc->flags & TF_NEED_DELIVER) {
		tc->flags &= ~TF_NEED_DELIVER;
		tcp_deliver(tc);
		if (tc->state == TCP_CLOSED)
			return;
	}
	if (tc->state == TCP_TIME_WAIT && !(tc->flags & TF_PROTO_DONE)) {
		/* FIN_WAIT_2 -> TIME_WAIT: the ACK of the peer's FIN goes out first */
		tcp_output(tc);
		tcp_proto_done(tc);
		return;
	}
out:
	if (tc->state == TCP_CLOSED)
		return;
	if (tc->flags & (TF_NEED_OUTPUT | TF_ACK_NOW)) {
		tc->flags &= ~TF_NEED_OUTPUT;
		tcp_output(tc);
	}
	if ((tc->flags & TF_DELACK) && !tc->t_delack) {
		tc->t_delack = tc->st->now + (uint64_t)tc->st->tun.delack_ms * TCP_MS;
		tcp_timer_update(tc);
	}
}
