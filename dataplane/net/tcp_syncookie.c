/* SPDX-License-Identifier: MIT */
/*
 * tcp_syncookie.c: SYN cookies (RFC 4987 3.6). When a listener's backlog or the stack's
 * max_syn_rcvd is full, a SYN is answered with a SYN-ACK whose ISN encodes everything the
 * connection needs later, and no state is kept; the client's ACK (ack - 1 = the cookie) is
 * checked with one keyed hash and, when valid, creates the connection directly through the
 * normal SYN_RCVD -> ESTABLISHED path (tcp_passive_conn, then tcp_conn_input), so accept,
 * limits and counters are those of every passive connection.
 *
 * The cookie (our ISN), 32 bits:
 *   bits 31..4  28 bits of SipHash-2-4 under the stack secret of (local address, remote
 *               address, ports, the peer's ISN, the full time counter T, the MSS index, and
 *               a domain constant that separates it from ISNs and timestamp offsets)
 *   bit  3      T & 1, so that validation knows which of the two live counters to hash
 *   bits 2..0   index into cookie_mss[] of the largest MSS not above the peer's
 * T counts 64 s periods of the stack clock; a cookie is valid while T is its own or the next
 * one: for 64 to 128 s. With timestamps, the low 5 bits of our SYN-ACK's TSval carry the
 * peer's window scale (4 bits, 15 = none) and SACK-permitted (1 bit); the ACK's TSecr brings
 * them back. The TSval is our usual per-tuple clock (tcp_ts_now + ts_off) rounded down to
 * fit those bits, so the connection's later TSvals never go backwards. Without timestamps
 * the SYN-ACK offers neither window scaling nor SACK (there is nowhere to keep them).
 */
#include <rte_byteorder.h>

#include "net/tcp_impl.h"

#define COOKIE_PERIOD_US (64ull * 1000000)
#define COOKIE_DOMAIN 3u         /* tcp_stack.c's keyed() uses 1 (ISN) and 2 (TS offset) */
#define COOKIE_TS_BITS 5
#define COOKIE_TS_MASK ((1u << COOKIE_TS_BITS) - 1)
#define COOKIE_WS_NONE 0xfu
#define COOKIE_TS_SACK 0x10u
/* a TSecr older than this cannot echo a live cookie's SYN-ACK (two periods, and the rounding) */
#define COOKIE_TS_MAX_AGE_MS (2 * COOKIE_PERIOD_US / TCP_MS + COOKIE_TS_MASK + 1)

/* Ethernet-family links: IPv4 minimum, IPv6-in-tunnel, tunnels/VPNs, PPPoE-ish, 1500, and
 * the 9000-byte memif/jumbo MTU used between our own processes. Ascending. */
static const uint16_t cookie_mss[8] = { 256, 536, 1220, 1360, 1400, 1440, 1460, 8960 };

static uint32_t cookie_period(const struct tcp_stack *st)
{
	return (uint32_t)(st->now / COOKIE_PERIOD_US);
}

/* The cookie for tuple k, peer ISN irs, period t and MSS index idx. */
static uint32_t cookie_make(const struct tcp_stack *st, const struct tcp_flow_key *k,
			    uint32_t irs, uint32_t t, uint32_t idx)
{
	uint32_t in[6] = { k->laddr, k->raddr, (uint32_t)k->lport << 16 | k->rport, irs, t,
			   idx | COOKIE_DOMAIN << 8 };
	uint32_t h = (uint32_t)tcp_siphash(st->secret, in, sizeof(in));
	return (h << 4) | (t & 1) << 3 | idx;
}

/* Index of the largest table MSS the peer accepts; -1 when it announced less than all. */
static int mss_index(uint16_t peer_mss)
{
	for (int i = 7; i >= 0; i--)
		if (cookie_mss[i] <= peer_mss)
			return i;
	return -1;
}

/*
 * Answers SYN s (a listener's, its SYN queue full) with a cookie SYN-ACK. Keeps no state.
 * Returns false, sending nothing, when no cookie can describe the peer (an MSS below the
 * table): the caller counts the drop.
 */
bool tcp_syncookie_send(struct tcp_stack *st, const struct tcp_seg *s)
{
	const struct tcp_tunables *t = &st->tun;
	int idx = mss_index(s->opt.has_mss ? s->opt.mss : TCP_DEFAULT_PEER_MSS);
	if (idx < 0)
		return false;
	uint32_t iss = cookie_make(st, &s->key, s->seq, cookie_period(st), (uint32_t)idx);
	bool ts = t->timestamps && s->opt.has_ts;
	bool ws = ts && t->window_scaling && s->opt.has_ws;
	bool sack = ts && t->sack && s->opt.sack_ok;
	uint32_t tsval = 0;
	if (ts) {
		uint32_t bits = (ws ? s->opt.wscale : COOKIE_WS_NONE) | (sack ? COOKIE_TS_SACK : 0);
		uint32_t real = tcp_ts_now(st) + tcp_ts_offset(st, &s->key);
		tsval = (real & ~COOKIE_TS_MASK) | bits;
		if (tcp_seq_gt(tsval, real))
			tsval -= COOKIE_TS_MASK + 1; /* never ahead of the clock the connection uses */
	}
	tcp_send_raw_synack(st, &s->key, iss, s->seq + 1, ws ? tcp_rcv_wscale_for(st) : -1, sack,
			    ts, tsval, s->opt.tsval);
	st->cnt.syncookies_sent++;
	st->cookie_sent_at = st->now ? st->now : 1;
	return true;
}

/*
 * Decodes the cookie that ACK s carries into the options of the peer's SYN (o).
 * False when s->ack - 1 is no live cookie of this tuple, or its TSecr cannot be ours.
 */
static bool cookie_check(struct tcp_stack *st, const struct tcp_seg *s, struct tcp_opts *o)
{
	uint32_t cookie = s->ack - 1, irs = s->seq - 1, idx = cookie & 7;
	uint32_t t = cookie_period(st);
	if ((t & 1) != ((cookie >> 3) & 1))
		t--;
	if (cookie_make(st, &s->key, irs, t, idx) != cookie)
		return false;
	*o = (struct tcp_opts){ .mss = cookie_mss[idx], .has_mss = 1 };
	if (!st->tun.timestamps || !s->opt.has_ts)
		return true;
	uint32_t tsecr = s->opt.tsecr;
	if (tcp_ts_now(st) + tcp_ts_offset(st, &s->key) - tsecr > COOKIE_TS_MAX_AGE_MS)
		return false;
	uint32_t ws = tsecr & COOKIE_WS_NONE;
	if (ws != COOKIE_WS_NONE) {
		if (!st->tun.window_scaling || ws > 14)
			return false;
		o->has_ws = 1;
		o->wscale = (uint8_t)ws;
	}
	if (tsecr & COOKIE_TS_SACK) {
		if (!st->tun.sack)
			return false;
		o->sack_ok = 1;
	}
	o->has_ts = 1;
	o->tsval = s->opt.tsval;
	o->tsecr = 0;
	return true;
}

/*
 * An ACK (no SYN, no RST) for listener l matching no connection. While cookies were sent in
 * the last two periods, checks s->ack - 1 as a cookie; a valid one creates the connection
 * and processes s through it (its data too) as the ACK that ends a SYN_RCVD handshake.
 * Returns true when s was consumed; false when the caller answers as for any segment without
 * a connection (RST), counted in syncookies_failed when it was checked.
 */
bool tcp_syncookie_input(struct tcp_stack *st, struct tcp_listener *l, struct tcp_seg *s)
{
	if (!st->cookie_sent_at || st->now - st->cookie_sent_at > 2 * COOKIE_PERIOD_US)
		return false; /* no cookie can be alive: no hash for stray ACKs */
	struct tcp_opts o;
	if (!cookie_check(st, s, &o)) {
		st->cnt.syncookies_failed++;
		return false;
	}
	struct tcp_conn *tc = tcp_passive_conn(st, l, &s->key, s->seq - 1, &o, s->wnd, 0);
	if (!tc) {
		/* the client believes it is connected: a RST tells it now, not at its timeout */
		tcp_send_rst_reply(st, s);
		return true;
	}
	st->cnt.syncookies_ok++;
	tc->iss = s->ack - 1;
	tc->snd_una = tc->iss;
	tc->snd_nxt = tc->snd_max = tc->iss + 1;
	tc->last_ack_sent = tc->rcv_nxt; /* what our SYN-ACK acknowledged: TS.Recent updates */
	tc->rtx_count = 1; /* when the SYN-ACK left is unknown: no RTT sample from the handshake */
	tcp_conn_input(tc, s);
	if (tc->state == TCP_SYN_RCVD)
		tcp_conn_release(tc); /* not reached with a valid cookie; never leave it half-open */
	return true;
}
