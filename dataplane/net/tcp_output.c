/* SPDX-License-Identifier: MIT */
/*
 * tcp_output.c: building and sending segments. tcp_output() is the one place that decides
 * how much data goes out (min of the peer's window and cwnd, limited transmit, sender-side
 * SWS avoidance, FIN after the last byte) and keeps the retransmission timer running while
 * anything is outstanding. Segments are single mbufs: header, options, and payload copied from
 * the send queue, so the queue stays intact for retransmission and the upper layer is never
 * asked for the bytes again. The checksum is left to the port when it offers TCP checksum
 * offload (tx_cksum_offload), computed in software otherwise.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "net/tcp_impl.h"

uint32_t tcp_ts_now(const struct tcp_stack *st)
{
	return (uint32_t)(st->now / TCP_MS);
}

struct seg_out {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;             /* window field as sent */
	const uint8_t *opt;
	uint32_t optlen;
	struct tcp_mq *q;         /* payload source (NULL: none); its read cursor moves */
	uint32_t qoff, len;
};

/* Builds and sends one segment on key; returns 0 or -errno (counted). */
static int xmit(struct tcp_stack *st, const struct tcp_flow_key *k, const struct seg_out *o)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(st->mp);
	if (!m) {
		st->cnt.tx_nombuf++;
		return -ENOBUFS;
	}
	uint32_t hl = TCP_HDR_LEN + o->optlen;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, (uint16_t)(hl + o->len));
	if (!th) {
		rte_pktmbuf_free(m);
		st->cnt.tx_nombuf++;
		return -ENOBUFS;
	}
	th->src_port = k->lport;
	th->dst_port = k->rport;
	th->sent_seq = rte_cpu_to_be_32(o->seq);
	th->recv_ack = rte_cpu_to_be_32(o->ack);
	th->data_off = (uint8_t)((hl / 4) << 4);
	th->tcp_flags = o->flags;
	th->rx_win = rte_cpu_to_be_16(o->win);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (o->optlen)
		memcpy(th + 1, o->opt, o->optlen);
	if (o->len)
		tcp_mq_copy_out(o->q, o->qoff, (uint8_t *)th + hl, o->len);
	if (st->tun.tx_cksum_offload) {
		/* the PMD completes it: the field holds the pseudo-header sum, not inverted */
		uint32_t sum = (k->laddr & 0xffff) + (k->laddr >> 16) + (k->raddr & 0xffff) +
			       (k->raddr >> 16) + rte_cpu_to_be_16(IPPROTO_TCP) +
			       rte_cpu_to_be_16((uint16_t)m->data_len);
		sum = (sum & 0xffff) + (sum >> 16);
		th->cksum = (uint16_t)((sum & 0xffff) + (sum >> 16));
		m->l4_len = (uint8_t)hl;
		m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
	} else if (!st->tun.trusted_link) {
		th->cksum = tcp_cksum(m, k->laddr, k->raddr);
	}
	st->cnt.tx_segs++;
	st->cnt.tx_bytes += o->len;
	int rc = st->output(st->output_ctx, m, k->laddr, k->raddr);
	if (rc < 0)
		st->cnt.tx_err++;
	return rc;
}

/*
 * The receive window to announce, in bytes (a multiple of 1 << rcv_wscale). It never moves the
 * right edge left (RFC 9293 3.8.6.2.2 / RFC 7323 2.4) and only moves it right by at least
 * min(rcv_buf / 2, MSS) (receiver SWS avoidance). update: record the edge as advertised.
 */
uint32_t tcp_rcv_window(struct tcp_conn *tc, bool update)
{
	const struct tcp_tunables *t = &tc->st->tun;
	uint32_t ws = tc->rcv_wscale;
	uint32_t avail = t->rcv_buf > tc->rcvq.len ? t->rcv_buf - tc->rcvq.len : 0;
	uint32_t maxw = 65535u << ws;
	if (avail > maxw)
		avail = maxw;
	uint32_t edge = tc->rcv_nxt + avail;
	uint32_t sws = t->rcv_buf / 2 < t->mss ? t->rcv_buf / 2 : t->mss;
	if (tcp_seq_lt(edge, tc->rcv_adv) || edge - tc->rcv_adv < sws)
		edge = tcp_seq_max(tc->rcv_adv, tc->rcv_nxt);
	uint32_t w = edge - tc->rcv_nxt;
	w = ((w + (1u << ws) - 1) >> ws) << ws;
	if (w > maxw)
		w = maxw;
	if (update)
		tc->rcv_adv = tcp_seq_max(tc->rcv_adv, tc->rcv_nxt + w);
	return w;
}

/* Sends one segment of tc: seq, len bytes from the send queue at seq, flags. */
static int conn_xmit(struct tcp_conn *tc, uint32_t seq, uint32_t len, uint8_t flags)
{
	struct tcp_stack *st = tc->st;
	uint8_t opt[TCP_OPT_MAX];
	struct seg_out o = { .seq = seq, .flags = flags, .opt = opt, .q = &tc->sndq, .len = len };
	bool ts = tc->flags & TF_TS_OK;
	uint32_t tsval = tcp_ts_now(st) + tc->ts_off;

	if (flags & TCP_SYN) {
		bool syn_ack = flags & TCP_ACK;
		bool want_ws = st->tun.window_scaling && (!syn_ack || (tc->flags & TF_WS_OK));
		ts = st->tun.timestamps && (!syn_ack || (tc->flags & TF_TS_OK));
		bool sack = st->tun.sack && (!syn_ack || (tc->flags & TF_SACK_OK));
		o.optlen = tcp_opts_build_syn(opt, st->tun.mss, want_ws ? tc->rcv_wscale : -1, sack,
					      ts, tsval, ts && syn_ack ? tc->ts_recent : 0);
		o.win = (uint16_t)(st->tun.rcv_buf > 65535 ? 65535 : st->tun.rcv_buf);
	} else {
		uint32_t blk[4][2], nb = 0;
		if ((tc->flags & TF_SACK_OK) && tc->ooo.head)
			nb = tcp_ooo_sack(tc, blk, 4);
		o.optlen = tcp_opts_build(opt, ts, tsval, tc->ts_recent, (const uint32_t (*)[2])blk, nb);
		uint32_t room = tc->mss + (ts ? 12 : 0);
		if (o.len + o.optlen > room && o.optlen <= room) {
			o.len = room - o.optlen;
			flags &= (uint8_t)~TCP_FIN;
			o.flags = flags;
		}
		o.win = (uint16_t)(tcp_rcv_window(tc, true) >> tc->rcv_wscale);
	}
	if (flags & TCP_ACK) {
		o.ack = tc->rcv_nxt;
		tc->last_ack_sent = tc->rcv_nxt;
	}
	o.qoff = seq - tc->snd_una;
	int rc = xmit(st, &tc->f.key, &o);
	if (rc < 0 && rc != -ENOBUFS)
		rc = 0; /* lost on the wire is what retransmission is for */
	if (rc < 0)
		return rc;
	if (flags & TCP_ACK) {
		tc->flags &= ~(TF_ACK_NOW | TF_DELACK | TF_ACK_TURN);
		tc->segs_unacked = 0;
		tc->t_delack = 0;
	}
	tc->last_send = st->now;
	return (int)o.len;
}

void tcp_send_syn(struct tcp_conn *tc)
{
	uint8_t fl = tc->state == TCP_SYN_SENT ? TCP_SYN : TCP_SYN | TCP_ACK;
	conn_xmit(tc, tc->iss, 0, fl);
	tc->snd_nxt = tc->iss + 1;
	if (tcp_seq_gt(tc->snd_nxt, tc->snd_max))
		tc->snd_max = tc->snd_nxt;
}

void tcp_send_ack(struct tcp_conn *tc)
{
	/* snd_max, not snd_nxt: after a timeout pulled snd_nxt back, the peer may already hold
	 * bytes past it and would find the ACK outside its window */
	tc->st->cnt.tx_acks++;
	conn_xmit(tc, tc->snd_max, 0, TCP_ACK);
}

/* RFC 5961 challenge ACK, within the per-second budget. */
void tcp_send_challenge_ack(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	if (!tcp_ratelimit(st, &st->chall_sec, &st->chall_used, st->tun.challenge_ack_per_s)) {
		st->cnt.tx_challenge_limited++;
		return;
	}
	st->cnt.tx_challenge_ack++;
	tcp_send_ack(tc);
}

/* Zero-window probe: a segment just below the window (SND.UNA - 1) provokes an ACK that
 * carries the peer's current window, without touching our sequence state. */
void tcp_send_probe(struct tcp_conn *tc)
{
	tc->st->cnt.tx_zwp++;
	conn_xmit(tc, tc->snd_una - 1, 0, TCP_ACK);
}

/* Resends the first unacknowledged segment (fast retransmit, NewReno partial ACK). */
void tcp_retransmit_una(struct tcp_conn *tc)
{
	uint32_t len = tc->sndq.len < tc->mss ? tc->sndq.len : tc->mss;
	uint8_t fl = TCP_ACK;
	if ((tc->flags & TF_FIN_SENT) && len == tc->sndq.len)
		fl |= TCP_FIN;
	if (len == 0 && !(fl & TCP_FIN))
		return;
	tc->flags &= ~TF_RTT_TIMING; /* Karn */
	tc->st->cnt.rtx_segs++;
	if (conn_xmit(tc, tc->snd_una, len, fl | (len ? TCP_PSH : 0)) >= 0) {
		tc->high_rxt = tcp_seq_max(tc->high_rxt, tc->snd_una + len);
		tc->rtx_mark = tc->snd_max;
	}
}

/* Tail loss probe: resend the last segment sent (RFC 8985 7.3, new data is not sent here:
 * tcp_output already sent what the windows allowed). */
void tcp_send_tlp(struct tcp_conn *tc)
{
	bool fin = (tc->flags & TF_FIN_SENT) && tc->snd_max == tc->fin_seq + 1;
	uint32_t end = tc->snd_max - (fin ? 1 : 0);
	uint32_t flight = end - tc->snd_una;
	uint32_t len = flight < tc->mss ? flight : tc->mss;
	uint8_t fl = TCP_ACK | (len ? TCP_PSH : 0) | (fin ? TCP_FIN : 0);
	if (!len && !fin)
		return;
	tc->flags &= ~TF_RTT_TIMING; /* Karn */
	tc->st->cnt.rtx_segs++;
	conn_xmit(tc, end - len, len, fl);
}

/* Moves the state along when our FIN goes out for the first time. */
static void fin_sent(struct tcp_conn *tc)
{
	tc->flags |= TF_FIN_SENT;
	tc->fin_seq = tc->snd_una + tc->sndq.len;
	if (tc->state == TCP_ESTABLISHED)
		tcp_set_state(tc, TCP_FIN_WAIT_1);
	else if (tc->state == TCP_CLOSE_WAIT)
		tcp_set_state(tc, TCP_LAST_ACK);
}

static bool sack_recovery(const struct tcp_conn *tc)
{
	return (tc->flags & TF_RECOVERY) && tcp_sack_active(tc);
}

/* RFC 6675 NextSeg rule 1: resend holes below the highest SACK while the pipe allows. */
static void sack_holes(struct tcp_conn *tc)
{
	uint32_t seq, len;
	while (tcp_sack_pipe(tc) + tc->mss <= tc->cwnd && tcp_sack_next_hole(tc, &seq, &len)) {
		if (conn_xmit(tc, seq, len, TCP_ACK) < 0)
			return;
		tc->flags &= ~TF_RTT_TIMING; /* Karn */
		tc->st->cnt.rtx_segs++;
		if (seq == tc->snd_una)
			tc->rtx_mark = tc->snd_max;
		tc->high_rxt = seq + len;
		if (!tc->t_rtx)
			tcp_rtx_arm(tc);
	}
}

/* How many bytes of the next segment may go out now (0: wait). */
static uint32_t next_len(struct tcp_conn *tc, uint32_t unsent)
{
	uint32_t wnd = tc->snd_wnd;
	uint32_t cw = tc->cwnd;
	if (!(tc->flags & TF_RECOVERY) && tc->dupacks && tc->dupacks < 3)
		cw += tc->dupacks * (uint32_t)tc->mss; /* RFC 3042 */
	if (cw < wnd)
		wnd = cw;
	uint32_t used = sack_recovery(tc) ? tcp_sack_pipe(tc) : tc->snd_nxt - tc->snd_una;
	uint32_t usable = wnd > used ? wnd - used : 0;
	uint32_t len = unsent < tc->mss ? unsent : tc->mss;
	if (len > usable)
		len = usable;
	/* sender SWS avoidance (RFC 9293 3.8.6.2.1): a short segment only when it is all we
	 * have, or at least half the largest window the peer offered */
	if (len < tc->mss && len < unsent && len < tc->max_snd_wnd / 2)
		return 0;
	return len;
}

/*
 * Sends what the windows allow from snd_nxt, then the FIN if the application shut down and
 * every byte is out; keeps the retransmission timer running, or the persist timer when the
 * peer's window is closed; sends a pending ACK if no segment carried it.
 */
void tcp_output(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	if (tc->state < TCP_ESTABLISHED || tc->state == TCP_TIME_WAIT) {
		if (tc->flags & TF_ACK_NOW && tc->state != TCP_SYN_SENT && tc->state != TCP_CLOSED)
			tcp_send_ack(tc);
		return;
	}
	tcp_cc_idle_check(tc);
	uint32_t data_end = tc->snd_una + tc->sndq.len;
	/* Most calls find nothing new (upper layers flush after every piece they queue, several
	 * times per relayed message; every ACK tries again): nothing unsent, no FIN owed and no
	 * recovery is exactly the case where the code below sends nothing and arms nothing. */
	if (!(tc->flags & (TF_FIN_WANTED | TF_RECOVERY)) && tc->snd_nxt == data_end) {
		if (tc->flags & TF_ACK_NOW)
			tcp_send_ack(tc);
		return;
	}
	if (sack_recovery(tc))
		sack_holes(tc);
	for (;;) {
		uint32_t gap = tcp_sack_skip(tc);
		uint32_t unsent = tcp_seq_lt(tc->snd_nxt, data_end) ? data_end - tc->snd_nxt : 0;
		/* the FIN (re)goes out when snd_nxt has not passed it: first time, or after a
		 * timeout pulled snd_nxt back */
		bool fin = (tc->flags & TF_FIN_WANTED) &&
			   (!(tc->flags & TF_FIN_SENT) || tcp_seq_leq(tc->snd_nxt, tc->fin_seq));
		uint32_t len = next_len(tc, unsent);
		if (len == 0 && !(fin && unsent == 0))
			break;
		if (len > gap)
			len = gap;
		fin = fin && len == unsent;
		uint8_t fl = TCP_ACK | (len && len == unsent ? TCP_PSH : 0) | (fin ? TCP_FIN : 0);
		bool rtx = tcp_seq_lt(tc->snd_nxt, tc->snd_max);
		int n = conn_xmit(tc, tc->snd_nxt, len, fl);
		if (n < 0)
			break;
		if ((uint32_t)n < len)
			fin = false;
		if (rtx)
			st->cnt.rtx_segs++;
		else if (!(tc->flags & TF_RTT_TIMING) && n) {
			tc->flags |= TF_RTT_TIMING;
			tc->rtt_seq = tc->snd_nxt;
			tc->rtt_start = st->now;
		}
		tc->snd_nxt += (uint32_t)n;
		if (fin) {
			if (!(tc->flags & TF_FIN_SENT))
				fin_sent(tc);
			tc->snd_nxt++;
		}
		if (tcp_seq_gt(tc->snd_nxt, tc->snd_max))
			tc->snd_max = tc->snd_nxt;
		if (!tc->t_rtx || (tc->flags & TF_PERSIST)) {
			tc->flags &= ~TF_PERSIST;
			tcp_rtx_arm(tc);
		}
		if (fin)
			break;
	}
	uint32_t unsent = tcp_seq_lt(tc->snd_nxt, data_end) ? data_end - tc->snd_nxt : 0;
	if (tc->snd_una == tc->snd_max && unsent && !tc->t_rtx) {
		/* nothing in flight but data waiting: the peer's window is closed (or too small
		 * to be worth a segment); probe it */
		tc->flags |= TF_PERSIST;
		tcp_rtx_arm(tc);
	}
	if (tc->flags & TF_ACK_NOW)
		tcp_send_ack(tc);
}

/* A RST (or RST|ACK) from raw values, for tuples we have no connection for. */
void tcp_send_rst(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq, uint32_t ack,
		  uint8_t flags)
{
	struct seg_out o = { .seq = seq, .ack = ack, .flags = (uint8_t)(TCP_RST | flags) };
	st->cnt.tx_rst++;
	xmit(st, k, &o);
}

/* The RST that answers segment s for which no connection exists (RFC 9293 3.10.7.1). */
void tcp_send_rst_reply(struct tcp_stack *st, const struct tcp_seg *s)
{
	if (s->flags & TCP_RST)
		return;
	if (!tcp_ratelimit(st, &st->rst_sec, &st->rst_used, st->tun.rst_per_s)) {
		st->cnt.tx_rst_limited++;
		return;
	}
	if (s->flags & TCP_ACK)
		tcp_send_rst(st, &s->key, s->ack, 0, 0);
	else
		tcp_send_rst(st, &s->key, 0, s->seq + tcp_seg_seqlen(s), TCP_ACK);
}

/* A bare ACK from raw values (TIME_WAIT entries). */
void tcp_send_raw_ack(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq,
		      uint32_t ack, uint16_t win, bool ts, uint32_t tsval, uint32_t tsecr)
{
	uint8_t opt[TCP_OPT_MAX];
	struct seg_out o = { .seq = seq, .ack = ack, .flags = TCP_ACK, .win = win, .opt = opt };
	o.optlen = tcp_opts_build(opt, ts, tsval, tsecr, NULL, 0);
	st->cnt.tx_acks++;
	xmit(st, k, &o);
}

/* A SYN-ACK from raw values, for a connection the stack keeps no state for (SYN cookies):
 * the options and window a SYN_RCVD connection's SYN-ACK would carry. ws: our shift, -1 for
 * no window-scale option. */
void tcp_send_raw_synack(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq,
			 uint32_t ack, int ws, bool sack, bool ts, uint32_t tsval, uint32_t tsecr)
{
	uint8_t opt[TCP_OPT_MAX];
	struct seg_out o = { .seq = seq, .ack = ack, .flags = TCP_SYN | TCP_ACK, .opt = opt };
	o.optlen = tcp_opts_build_syn(opt, st->tun.mss, ws, sack, ts, tsval, tsecr);
	o.win = (uint16_t)(st->tun.rcv_buf > 65535 ? 65535 : st->tun.rcv_buf);
	xmit(st, k, &o);
}
