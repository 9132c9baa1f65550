/* SPDX-License-Identifier: MIT */
/*
 * tcp_cc.c: the RTO estimator (RFC 6298) and NewReno congestion control (RFC 5681, RFC 6582,
 * initial window per RFC 6928, limited transmit per RFC 3042). Pure arithmetic on the
 * connection; the callers decide what to send.
 */
#include "net/tcp_impl.h"

uint32_t tcp_flight(const struct tcp_conn *tc)
{
	return tc->snd_max - tc->snd_una;
}

static uint32_t initial_window(const struct tcp_conn *tc)
{
	uint32_t iw = TCP_IW_SEGS * (uint32_t)tc->mss;
	uint32_t cap = 2 * (uint32_t)tc->mss > 14600 ? 2 * (uint32_t)tc->mss : 14600;
	return iw < cap ? iw : cap;
}

/* Sets the congestion state once the send MSS is known (end of the handshake). */
void tcp_cc_init(struct tcp_conn *tc)
{
	tc->cwnd = initial_window(tc);
	tc->ssthresh = UINT32_MAX / 2;
	tc->recover = tc->snd_una;
	tc->bytes_acked = 0;
	tc->dupacks = 0;
}

/* One RTT measurement in microseconds (RFC 6298 2.2/2.3, alpha 1/8, beta 1/4). */
void tcp_rtt_sample(struct tcp_conn *tc, uint32_t r)
{
	const struct tcp_tunables *t = &tc->st->tun;
	if (r == 0)
		r = 1;
	if (tc->srtt_us == 0) {
		tc->srtt_us = r;
		tc->rttvar_us = r / 2;
	} else {
		uint32_t d = tc->srtt_us > r ? tc->srtt_us - r : r - tc->srtt_us;
		tc->rttvar_us = (3 * tc->rttvar_us + d) / 4;
		tc->srtt_us = (7 * tc->srtt_us + r) / 8;
	}
	uint64_t rto = (uint64_t)tc->srtt_us + (4 * tc->rttvar_us > 1000 ? 4 * tc->rttvar_us : 1000);
	if (rto < t->rto_min_ms * TCP_MS)
		rto = t->rto_min_ms * TCP_MS;
	if (rto > t->rto_max_ms * TCP_MS)
		rto = t->rto_max_ms * TCP_MS;
	tc->rto_us = (uint32_t)rto;
}

/* The RTO with exponential backoff applied for the consecutive timeouts so far (5.5). */
uint32_t tcp_rto_backed_off(const struct tcp_conn *tc)
{
	uint64_t rto = tc->rto_us ? tc->rto_us : tc->st->tun.rto_init_ms * TCP_MS;
	uint64_t max = (uint64_t)tc->st->tun.rto_max_ms * TCP_MS;
	for (uint8_t i = 0; i < tc->rtx_count && rto < max; i++)
		rto <<= 1;
	return (uint32_t)(rto < max ? rto : max);
}

static uint32_t half_flight(const struct tcp_conn *tc)
{
	uint32_t h = tcp_flight(tc) / 2, m2 = 2 * (uint32_t)tc->mss;
	return h > m2 ? h : m2;
}

/*
 * acked new bytes arrived (snd_una already advanced). Slow start / congestion avoidance with
 * byte counting, or NewReno's partial/full ACK handling in recovery.
 */
void tcp_cc_ack(struct tcp_conn *tc, uint32_t acked)
{
	uint32_t mss = tc->mss;
	tc->dupacks = 0;
	if (tc->flags & TF_RECOVERY) {
		if (tcp_seq_geq(tc->snd_una, tc->recover)) {
			/* full ACK: deflate (RFC 6582 3.2 step 3, option 1) */
			uint32_t f = tcp_flight(tc) + mss;
			tc->cwnd = tc->ssthresh < f ? tc->ssthresh : f;
			tc->flags &= ~TF_RECOVERY;
		} else if (tcp_sack_active(tc)) {
			tc->st->cnt.partial_acks++; /* holes go out from tcp_output (RFC 6675) */
		} else {
			/* partial ACK: retransmit the next hole, deflate by what was acked */
			tc->st->cnt.partial_acks++;
			tcp_retransmit_una(tc);
			tc->cwnd = tc->cwnd > acked ? tc->cwnd - acked : 0;
			if (acked >= mss)
				tc->cwnd += mss;
			if (tc->cwnd < mss)
				tc->cwnd = mss;
		}
		return;
	}
	if (tc->cwnd < tc->ssthresh) {
		tc->cwnd += acked < mss ? acked : mss;
	} else {
		tc->bytes_acked += acked;
		if (tc->bytes_acked >= tc->cwnd) {
			tc->bytes_acked -= tc->cwnd;
			tc->cwnd += mss;
		}
	}
	if (tc->cwnd > (1u << 30))
		tc->cwnd = 1u << 30;
}

/*
 * A duplicate ACK (RFC 5681 definition, checked by the caller). Returns true when the caller
 * may send new data now (limited transmit, or window inflation in recovery).
 */
bool tcp_cc_dupack(struct tcp_conn *tc)
{
	uint32_t mss = tc->mss;
	tc->st->cnt.dupacks_rx++;
	if (tc->dupacks < 255)
		tc->dupacks++;
	if (tc->flags & TF_RECOVERY) {
		if (!tcp_sack_active(tc))
			tc->cwnd += mss; /* NewReno inflation; with SACK the pipe shrinks instead */
		return true;
	}
	if (tc->dupacks < 3)
		return true; /* limited transmit: tcp_output allows dupacks * mss past cwnd */
	if (tc->dupacks == 3 && tcp_seq_gt(tc->snd_una, tc->recover - 1) ) {
		/* RFC 6582 3.2 step 2: only when the ACK covers more than recover */
		tc->ssthresh = half_flight(tc);
		tc->recover = tc->snd_max;
		tc->flags |= TF_RECOVERY;
		tc->st->cnt.fast_rtx++;
		tc->high_rxt = tc->snd_una;
		tcp_retransmit_una(tc);
		tc->cwnd = tcp_sack_active(tc) ? tc->ssthresh : tc->ssthresh + 3 * mss;
		return true;
	}
	return false;
}

/* The retransmission timer expired: collapse to one segment and go back to snd_una. */
void tcp_cc_timeout(struct tcp_conn *tc)
{
	tc->ssthresh = half_flight(tc);
	tc->cwnd = tc->mss;
	tc->bytes_acked = 0;
	tc->recover = tc->snd_max;
	tc->flags &= ~(TF_RECOVERY | TF_RTT_TIMING);
	tc->dupacks = 0;
	tc->snd_nxt = tc->snd_una;
	tc->nsb = 0; /* RFC 2018 8: the receiver may have reneged; ACKs rebuild it */
	tc->high_rxt = tc->snd_una;
}

/* RFC 5681 4.1: after an idle period longer than the RTO, restart from the initial window. */
void tcp_cc_idle_check(struct tcp_conn *tc)
{
	if (tcp_flight(tc) == 0 && tc->last_send &&
	    tc->st->now - tc->last_send > tcp_rto_backed_off(tc)) {
		uint32_t iw = initial_window(tc);
		if (tc->cwnd > iw)
			tc->cwnd = iw;
	}
}
