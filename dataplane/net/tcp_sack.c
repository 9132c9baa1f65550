/* SPDX-License-Identifier: MIT */
/*
 * tcp_sack.c: the sender's SACK scoreboard and loss recovery (RFC 6675), used when the peer
 * agreed to SACK. The scoreboard keeps up to TCP_SB_MAX SACKed ranges above snd_una (sorted,
 * merged; when full, the range farthest from snd_una is forgotten, which only makes us
 * retransmit more). In recovery every hole below the highest SACKed byte counts as lost
 * (a conservative simplification of IsLost()), the pipe is what is neither SACKed nor lost
 * plus what we retransmitted, and holes are resent before new data while pipe < cwnd.
 * After a retransmission timeout the scoreboard is cleared (RFC 2018 8: the receiver may
 * renege). SACK information never frees send-queue bytes: only the cumulative ACK does.
 */
#include <string.h>

#include "net/tcp_impl.h"

/* Inserts [s, e) into the sorted, disjoint scoreboard, merging neighbours. */
static void sb_insert(struct tcp_conn *tc, uint32_t s, uint32_t e)
{
	uint32_t n = tc->nsb, i = 0;
	while (i < n && tcp_seq_lt(tc->sb[i][1], s))
		i++;
	uint32_t j = i;
	while (j < n && tcp_seq_leq(tc->sb[j][0], e)) {
		s = tcp_seq_min(s, tc->sb[j][0]);
		e = tcp_seq_max(e, tc->sb[j][1]);
		j++;
	}
	/* ranges i..j-1 collapse into one at i */
	uint32_t tail = n - j;
	if (j == i) {
		if (n == TCP_SB_MAX) {
			if (i == n)
				return; /* farther than everything kept: forget it */
			n--;    /* drop the farthest range to make room */
			tail = n - i;
		}
		memmove(&tc->sb[i + 1], &tc->sb[i], tail * sizeof(tc->sb[0]));
		tc->nsb = (uint8_t)(n + 1);
	} else {
		memmove(&tc->sb[i + 1], &tc->sb[j], tail * sizeof(tc->sb[0]));
		tc->nsb = (uint8_t)(i + 1 + tail);
	}
	tc->sb[i][0] = s;
	tc->sb[i][1] = e;
}

/* Adds the SACK blocks of an arriving ACK (only sane ones: inside (snd_una, snd_max]). */
void tcp_sack_update(struct tcp_conn *tc, const struct tcp_opts *o)
{
	for (uint32_t k = 0; k < o->nsack; k++) {
		uint32_t s = o->sack[k][0], e = o->sack[k][1];
		if (!tcp_seq_lt(s, e) || tcp_seq_leq(e, tc->snd_una) || tcp_seq_gt(e, tc->snd_max))
			continue; /* D-SACK, stale or bogus */
		if (tcp_seq_lt(s, tc->snd_una))
			s = tc->snd_una;
		sb_insert(tc, s, e);
	}
}

/*
 * Lost retransmission detection: the path delivers in order, so when the peer SACKs data we
 * sent three segments after retransmitting the hole at snd_una and still lacks that hole,
 * the retransmission was lost too. Rewind HighRxt so the holes go out again (otherwise only
 * the retransmission timer would find it). Returns true when it rewound.
 */
bool tcp_sack_rtx_lost(struct tcp_conn *tc)
{
	if (!(tc->flags & TF_RECOVERY) || !tcp_sack_active(tc) ||
	    tcp_seq_leq(tc->high_rxt, tc->snd_una))
		return false;
	uint32_t high = tc->sb[tc->nsb - 1][1];
	if (tcp_seq_leq(high, tc->rtx_mark + 3u * tc->mss))
		return false;
	tc->high_rxt = tc->snd_una;
	tc->rtx_mark = tc->snd_max;
	tc->st->cnt.rtx_lost++;
	return true;
}

/* Forgets what the cumulative ACK now covers. */
void tcp_sack_trim(struct tcp_conn *tc)
{
	uint32_t i = 0;
	while (i < tc->nsb && tcp_seq_leq(tc->sb[i][1], tc->snd_una))
		i++;
	if (i) {
		memmove(&tc->sb[0], &tc->sb[i], (tc->nsb - i) * sizeof(tc->sb[0]));
		tc->nsb = (uint8_t)(tc->nsb - i);
	}
	if (tc->nsb && tcp_seq_lt(tc->sb[0][0], tc->snd_una))
		tc->sb[0][0] = tc->snd_una;
	if (tcp_seq_lt(tc->high_rxt, tc->snd_una))
		tc->high_rxt = tc->snd_una;
}

uint32_t tcp_sack_bytes(const struct tcp_conn *tc)
{
	uint32_t b = 0;
	for (uint32_t i = 0; i < tc->nsb; i++)
		b += tc->sb[i][1] - tc->sb[i][0];
	return b;
}

/* Whether the scoreboard drives recovery (SACK agreed and something SACKed). */
bool tcp_sack_active(const struct tcp_conn *tc)
{
	return (tc->flags & TF_SACK_OK) && tc->nsb;
}

/*
 * RFC 6675 pipe under "every hole below the highest SACK is lost": bytes above the highest
 * SACKed byte that are in flight, plus hole bytes retransmitted in this recovery.
 */
uint32_t tcp_sack_pipe(const struct tcp_conn *tc)
{
	if (!tc->nsb)
		return tc->snd_nxt - tc->snd_una;
	uint32_t high = tc->sb[tc->nsb - 1][1];
	uint32_t pipe = tcp_seq_gt(tc->snd_nxt, high) ? tc->snd_nxt - high : 0;
	/* retransmitted hole bytes: [snd_una, high_rxt) minus what is SACKed there */
	uint32_t r = tcp_seq_gt(tc->high_rxt, tc->snd_una) ? tc->high_rxt - tc->snd_una : 0;
	for (uint32_t i = 0; i < tc->nsb && r; i++) {
		uint32_t s = tc->sb[i][0], e = tcp_seq_min(tc->sb[i][1], tc->high_rxt);
		if (tcp_seq_lt(s, e))
			r -= tcp_seq_min(e - s, r);
	}
	return pipe + r;
}

/*
 * NextSeg() rule 1: the first byte at or after high_rxt that is in a hole below the highest
 * SACKed byte; *len gets how much of that hole (up to one MSS) to resend. false: none.
 */
bool tcp_sack_next_hole(const struct tcp_conn *tc, uint32_t *seq, uint32_t *len)
{
	uint32_t x = tcp_seq_max(tc->high_rxt, tc->snd_una);
	for (uint32_t i = 0; i < tc->nsb; i++) {
		if (tcp_seq_geq(x, tc->sb[i][1]))
			continue;
		if (tcp_seq_geq(x, tc->sb[i][0])) {
			x = tc->sb[i][1]; /* inside a SACKed range: skip it */
			continue;
		}
		uint32_t n = tc->sb[i][0] - x;
		*seq = x;
		*len = n < tc->mss ? n : tc->mss;
		return true;
	}
	return false;
}

/*
 * Go-back-N after a timeout resends from snd_nxt < snd_max: moves snd_nxt past ranges the
 * peer SACKed since (the scoreboard is rebuilt from the ACKs that arrive after the timeout,
 * RFC 6675 5.1) and returns how many bytes may go before the next SACKed range
 * (UINT32_MAX: no limit).
 */
uint32_t tcp_sack_skip(struct tcp_conn *tc)
{
	if (!tcp_sack_active(tc) || !tcp_seq_lt(tc->snd_nxt, tc->snd_max))
		return UINT32_MAX;
	for (uint32_t i = 0; i < tc->nsb; i++) {
		if (tcp_seq_leq(tc->sb[i][1], tc->snd_nxt))
			continue;
		if (tcp_seq_geq(tc->snd_nxt, tc->sb[i][0]))
			tc->snd_nxt = tcp_seq_min(tc->sb[i][1], tc->snd_max);
		else
			return tc->sb[i][0] - tc->snd_nxt;
	}
	return UINT32_MAX;
}
