/* SPDX-License-Identifier: MIT */
/*
 * tcp_listen.c: listeners and the two ways a connection starts. Passive: a SYN for a listening
 * port creates a SYN_RCVD connection, bounded per listener (backlog) and in total
 * (max_syn_rcvd); SYNs beyond either bound are answered with a SYN cookie (tcp_syncookie.c)
 * or, with cookies off, dropped and counted, so a SYN flood costs a hash or a counter, not
 * memory. Active: tcp_connect picks a free ephemeral port and sends the SYN. Both negotiate
 * MSS, window scale, timestamps and SACK-permitted from the peer's SYN (tcp_syn_options).
 */
#include <errno.h>

#include <rte_byteorder.h>

#include "net/tcp_impl.h"

struct tcp_listener *tcp_listener_find(struct tcp_stack *st, uint16_t port)
{
	for (int i = 0; i < TCP_MAX_LISTENERS; i++)
		if (st->lst[i].port == port && port)
			return &st->lst[i];
	return NULL;
}

int tcp_listen(struct tcp_stack *st, uint16_t port, conn_accept_fn accept, void *ctx)
{
	uint16_t p = rte_cpu_to_be_16(port);
	if (!port || !accept)
		return -EINVAL;
	if (tcp_listener_find(st, p))
		return -EADDRINUSE;
	for (int i = 0; i < TCP_MAX_LISTENERS; i++) {
		struct tcp_listener *l = &st->lst[i];
		if (l->port == 0 && l->syn_rcvd == 0) {
			l->port = p;
			l->accept = accept;
			l->accept_ctx = ctx;
			return 0;
		}
	}
	return -ENOSPC;
}

void tcp_unlisten(struct tcp_stack *st, uint16_t port)
{
	struct tcp_listener *l = tcp_listener_find(st, rte_cpu_to_be_16(port));
	if (!l)
		return;
	/* half-open connections of this listener are dropped: nobody would accept them */
	for (uint32_t i = 0; i < st->tun.max_conns; i++) {
		struct tcp_conn *tc = &st->conns[i];
		if (tc->lst == l && tc->state == TCP_SYN_RCVD)
			tcp_conn_release(tc);
	}
	l->port = 0;
	l->accept = NULL;
}

/* Window-scale shift that lets us announce the whole receive buffer. */
uint8_t tcp_rcv_wscale_for(const struct tcp_stack *st)
{
	uint8_t ws = 0;
	while (ws < 14 && (st->tun.rcv_buf >> ws) > 65535)
		ws++;
	return st->tun.window_scaling ? ws : 0;
}

/* Applies the options of the peer's SYN (or SYN-ACK) and sets the send MSS. */
void tcp_syn_options(struct tcp_conn *tc, const struct tcp_opts *o)
{
	const struct tcp_tunables *t = &tc->st->tun;
	tc->peer_mss = o->has_mss ? o->mss : TCP_DEFAULT_PEER_MSS;
	if (t->window_scaling && o->has_ws) {
		tc->flags |= TF_WS_OK;
		tc->snd_wscale = o->wscale;
	} else {
		tc->snd_wscale = 0;
		tc->rcv_wscale = 0;
	}
	if (t->timestamps && o->has_ts) {
		tc->flags |= TF_TS_OK;
		tc->ts_recent = o->tsval;
		tc->ts_recent_at = tc->st->now;
	}
	if (t->sack && o->sack_ok)
		tc->flags |= TF_SACK_OK;
	uint32_t mss = tc->peer_mss < t->mss ? tc->peer_mss : t->mss;
	if (tc->flags & TF_TS_OK)
		mss -= 12;
	tc->mss = (uint16_t)(mss < TCP_MIN_MSS ? TCP_MIN_MSS : mss);
}

/* Fields every new connection starts with. */
static void conn_start(struct tcp_conn *tc, uint32_t min_isn)
{
	struct tcp_stack *st = tc->st;
	tc->iss = tcp_isn(st, &tc->f.key);
	if (min_isn && tcp_seq_lt(tc->iss, min_isn))
		tc->iss = min_isn; /* RFC 6191: above anything of the old incarnation */
	tc->snd_una = tc->snd_nxt = tc->snd_max = tc->iss;
	tc->ts_off = tcp_ts_offset(st, &tc->f.key);
	tc->rcv_wscale = tcp_rcv_wscale_for(st);
	tc->mss = TCP_DEFAULT_PEER_MSS;
	tc->rtt_start = st->now;
}

/*
 * Creates the SYN_RCVD connection of listener l for a SYN from k (peer ISN irs, options o,
 * window field wnd), counted against the listener's backlog until tcp_established() hands it
 * to accept. Sends nothing. NULL (counted in conn_nomem) when the connection pool is empty.
 * Both the SYN path below and an ACK carrying a valid SYN cookie (tcp_syncookie.c) use it.
 */
struct tcp_conn *tcp_passive_conn(struct tcp_stack *st, struct tcp_listener *l,
				  const struct tcp_flow_key *k, uint32_t irs,
				  const struct tcp_opts *o, uint32_t wnd, uint32_t min_isn)
{
	struct tcp_conn *tc = tcp_conn_alloc(st, k);
	if (!tc) {
		st->cnt.conn_nomem++;
		return NULL;
	}
	tc->flags |= TF_PASSIVE;
	tc->lst = l;
	l->syn_rcvd++;
	st->nsyn_rcvd++;
	conn_start(tc, min_isn);
	tcp_set_state(tc, TCP_SYN_RCVD);
	tc->irs = irs;
	tc->rcv_nxt = irs + 1;
	tcp_syn_options(tc, o);
	tc->snd_wnd = wnd;
	tc->snd_wl1 = irs;
	tc->rcv_adv = tc->rcv_nxt + (st->tun.rcv_buf > 65535 ? 65535 : st->tun.rcv_buf);
	return tc;
}

/*
 * A SYN (no ACK, no RST) for listener l. Creates the SYN_RCVD connection and answers with a
 * SYN-ACK; when the listener's backlog or the stack's max_syn_rcvd is full, answers with a
 * SYN cookie instead (tcp.syncookies) or counts the drop. min_isn: nonzero when the SYN reuses
 * a TIME_WAIT tuple (no cookie then: the tuple's ACK would reach the TIME_WAIT entry, and a
 * cookie ISN cannot honour the floor). Frees nothing: s->m stays with the caller.
 */
void tcp_listen_input(struct tcp_stack *st, struct tcp_listener *l, struct tcp_seg *s,
		      uint32_t min_isn)
{
	if ((s->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) {
		if (!(s->flags & TCP_RST) && (s->flags & TCP_ACK))
			tcp_send_rst_reply(st, s);
		return;
	}
	if (l->syn_rcvd >= st->tun.backlog || st->nsyn_rcvd >= st->tun.max_syn_rcvd) {
		if (!st->tun.syncookies || min_isn || !tcp_syncookie_send(st, s))
			st->cnt.syn_dropped_full++;
		return;
	}
	struct tcp_conn *tc = tcp_passive_conn(st, l, &s->key, s->seq, &s->opt, s->wnd, min_isn);
	if (!tc)
		return;
	st->cnt.syn_rcvd++;
	tcp_send_syn(tc);
	tcp_rtx_arm(tc);
}

/*
 * Whether an active open may take over the tuple of TIME_WAIT entry tw (as Linux's
 * tcp_tw_reuse): the old incarnation used timestamps, so the peer's PAWS rejects its old
 * duplicates (our timestamp offset is per tuple, the clock only grows), and it has been quiet
 * for a second. The new ISN is placed above the old sequence space too (RFC 6191 spirit).
 */
static bool tw_reusable(const struct tcp_stack *st, const struct tcp_tw *tw)
{
	uint64_t quiet_since = tw->expire - (uint64_t)st->tun.time_wait_ms * TCP_MS;
	return tw->ts_ok && st->tun.timestamps && st->now >= quiet_since + 1000 * TCP_MS;
}

/* Picks a local port for (laddr, dst) whose replies reach this lcore (tcp_rss): a free one,
 * or one held by a reusable TIME_WAIT entry (freed here; *min_isn gets the ISN floor).
 * 0 when every ephemeral port is taken. */
static uint16_t pick_port(struct tcp_stack *st, struct tcp_flow_key *k, uint32_t *min_isn)
{
	uint32_t span = (uint32_t)st->tun.eph_hi - st->tun.eph_lo + 1;
	for (uint32_t i = 0; i < span; i++) {
		uint16_t p = st->eph_next;
		st->eph_next = p >= st->tun.eph_hi ? st->tun.eph_lo : p + 1;
		k->lport = rte_cpu_to_be_16(p);
		if (!tcp_rss_port_ok(st, k) || tcp_listener_find(st, k->lport))
			continue;
		struct tcp_flow *f = tcp_flow_lookup(st, k);
		if (!f)
			return p;
		if (f->kind == TCP_FLOW_TW && tw_reusable(st, (struct tcp_tw *)f)) {
			*min_isn = ((struct tcp_tw *)f)->snd_nxt + 65536 * 2;
			tcp_tw_free(st, (struct tcp_tw *)f);
			st->cnt.tw_reused++;
			return p;
		}
	}
	return 0;
}

struct conn *tcp_connect(struct tcp_stack *st, const struct conn_addr *dst,
			 const struct conn_addr *src, const struct conn_handler *h, void *ctx,
			 int *err)
{
	struct tcp_flow_key k = { .raddr = dst->ip.v4, .rport = dst->port };
	uint32_t min_isn = 0;
	int e = 0;
	if (!h || !h->on_data || !h->on_closed || !dst->port || !dst->ip.v4) {
		e = -EINVAL;
		goto fail;
	}
	k.laddr = src && src->ip.v4 ? src->ip.v4 : st->laddr;
	if (src && src->port) {
		k.lport = src->port;
		if (tcp_flow_lookup(st, &k)) {
			e = -EADDRINUSE;
			goto fail;
		}
	} else if (!pick_port(st, &k, &min_isn)) {
		e = -EADDRNOTAVAIL;
		goto fail;
	}
	struct tcp_conn *tc = tcp_conn_alloc(st, &k);
	if (!tc) {
		st->cnt.conn_nomem++;
		e = -ENOMEM;
		goto fail;
	}
	st->cnt.active_opens++;
	conn_set_handler(&tc->c, h, ctx);
	conn_start(tc, min_isn);
	tcp_set_state(tc, TCP_SYN_SENT);
	tcp_send_syn(tc);
	tcp_rtx_arm(tc);
	return &tc->c;
fail:
	if (err)
		*err = e;
	return NULL;
}
