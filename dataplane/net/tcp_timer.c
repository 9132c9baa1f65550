/* SPDX-License-Identifier: MIT */
/*
 * tcp_timer.c: the per-core timer wheel and what the connection timers do. Each connection has
 * one wheel node armed at the earliest of its deadlines (retransmission/persist, delayed ACK,
 * lifetime); when it fires, every due deadline is handled and the node is re-armed. The wheel
 * has 1 ms slots and one lap of TCP_WHEEL_SLOTS; a node due after more than a lap sits in its
 * slot and is skipped until its lap comes, so arming is O(1) at any distance.
 */
#include "log.h"
#include "net/tcp_impl.h"

static void tn_unlink(struct tcp_tnode *n)
{
	if (n->next) {
		n->next->prev = n->prev;
		n->prev->next = n->next;
		n->next = n->prev = NULL;
	}
}

static void tn_link(struct tcp_tnode *head, struct tcp_tnode *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

void tcp_wheel_init(struct tcp_wheel *w, uint64_t now)
{
	for (uint32_t i = 0; i < TCP_WHEEL_SLOTS; i++)
		w->slot[i].next = w->slot[i].prev = &w->slot[i];
	w->tick = now / TCP_MS;
}

/* Re-arms tc's wheel node at the earliest of its deadlines (or disarms it). */
void tcp_timer_update(struct tcp_conn *tc)
{
	uint64_t e = 0;
	const uint64_t d[3] = { tc->t_rtx, tc->t_delack, tc->t_life };
	for (int i = 0; i < 3; i++)
		if (d[i] && (!e || d[i] < e))
			e = d[i];
	if (e == tc->tn.expire && (e == 0 || tc->tn.next))
		return;
	tn_unlink(&tc->tn);
	tc->tn.expire = e;
	if (!e)
		return;
	struct tcp_wheel *w = &tc->st->wheel;
	uint64_t tick = (e + TCP_MS - 1) / TCP_MS;
	if (tick <= w->tick)
		tick = w->tick + 1;
	tn_link(&w->slot[tick % TCP_WHEEL_SLOTS], &tc->tn);
}

void tcp_timer_stop(struct tcp_conn *tc)
{
	tc->t_rtx = tc->t_delack = tc->t_life = 0;
	tn_unlink(&tc->tn);
	tc->tn.expire = 0;
}

/*
 * Tail loss probe timeout (RFC 8985 7.2), or 0 when no probe applies: only with SACK (the
 * probe's feedback must be able to show the loss), outside recovery and backoff, once per
 * episode, before our FIN, and when it comes before the RTO.
 */
static uint64_t tlp_timeout(const struct tcp_conn *tc, uint64_t rto)
{
	/* not once our FIN is out: a probed FIN that crosses the peer's ACK draws an ACK after we
	 * released the connection, and that ACK a RST */
	if (!(tc->flags & TF_SACK_OK) ||
	    (tc->flags & (TF_RECOVERY | TF_PERSIST | TF_TLP_SENT | TF_FIN_SENT)) ||
	    tc->rtx_count || !tc->srtt_us || tc->state < TCP_ESTABLISHED)
		return 0;
	uint64_t pto = 2ull * tc->srtt_us;
	if (pto < 10 * TCP_MS)
		pto = 10 * TCP_MS;
	if (tcp_flight(tc) <= tc->mss) /* one segment: the peer may delay its ACK */
		pto += tc->srtt_us / 2 + (uint64_t)tc->st->tun.delack_ms * TCP_MS;
	return pto < rto ? pto : 0;
}

/* (Re)starts the retransmission timer at the current backed-off RTO, or the earlier tail
 * loss probe timeout. */
void tcp_rtx_arm(struct tcp_conn *tc)
{
	uint64_t rto = tcp_rto_backed_off(tc), pto = tlp_timeout(tc, rto);
	tc->flags &= ~TF_TLP;
	if (pto)
		tc->flags |= TF_TLP;
	tc->t_rtx = tc->st->now + (pto ? pto : rto);
	tcp_timer_update(tc);
}

/* Give-up deadline of the current retransmission episode. */
static bool rtx_gave_up(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	uint64_t limit = (tc->state == TCP_SYN_SENT || tc->state == TCP_SYN_RCVD)
				 ? st->tun.syn_timeout_ms : st->tun.user_timeout_ms;
	if (!tc->rtx_since)
		tc->rtx_since = st->now;
	return st->now - tc->rtx_since >= limit * TCP_MS;
}

/* The retransmission (or persist) deadline passed. */
static void on_rtx(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	tc->t_rtx = 0;
	if (tc->flags & TF_PERSIST) {
		if (rtx_gave_up(tc))
			goto timeout;
		tcp_send_probe(tc);
		if (tc->rtx_count < 16)
			tc->rtx_count++;
		tcp_rtx_arm(tc);
		return;
	}
	if (tc->snd_una == tc->snd_max)
		return;
	if (tc->flags & TF_TLP) {
		tc->flags = (tc->flags & ~TF_TLP) | TF_TLP_SENT;
		st->cnt.tlp_probes++;
		tcp_send_tlp(tc);
		tcp_rtx_arm(tc); /* the full RTO from now */
		return;
	}
	if (rtx_gave_up(tc))
		goto timeout;
	st->cnt.rtx_timeouts++;
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn=%llu event=tcp_rto una=%u nxt=%u max=%u sndq=%u cwnd=%u ssthresh=%u "
			  "dupacks=%u recovery=%d recover=%u nsb=%u rtx_count=%u rto_us=%u srtt_us=%u",
			  (unsigned long long)tc->c.id, tc->snd_una, tc->snd_nxt, tc->snd_max,
			  tc->sndq.len, tc->cwnd, tc->ssthresh, tc->dupacks,
			  !!(tc->flags & TF_RECOVERY), tc->recover, tc->nsb, tc->rtx_count,
			  tc->rto_us, tc->srtt_us);
	if (tc->rtx_count < 16)
		tc->rtx_count++;
	if (tc->state == TCP_SYN_SENT || tc->state == TCP_SYN_RCVD) {
		st->cnt.rtx_syn++;
		tcp_send_syn(tc);
		tcp_rtx_arm(tc);
		return;
	}
	tcp_cc_timeout(tc);
	tcp_output(tc); /* go-back-N from snd_una; arms the timer */
	if (!tc->t_rtx)
		tcp_rtx_arm(tc);
	return;
timeout:
	st->cnt.conn_timeouts++;
	tcp_conn_drop(tc, tc->soft_err ? (enum conn_close_reason)tc->soft_err : CONN_CLOSED_TIMEOUT);
}

/* A connection's wheel node fired: handle what is due, re-arm the rest. */
static void conn_fire(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	uint64_t now = st->now;
	if (tc->t_life && tc->t_life <= now) {
		tc->t_life = 0;
		if (tc->state == TCP_TIME_WAIT) { /* the application never finished reading */
			tcp_conn_drop(tc, CONN_CLOSED_PEER);
			return;
		}
		if (tc->state == TCP_FIN_WAIT_2)
			st->cnt.fw2_timeouts++;
		else
			st->cnt.conn_timeouts++;
		tcp_conn_drop(tc, CONN_CLOSED_TIMEOUT);
		return;
	}
	if (tc->t_rtx && tc->t_rtx <= now) {
		on_rtx(tc);
		if (tc->state == TCP_CLOSED)
			return;
	}
	if (tc->t_delack && tc->t_delack <= now) {
		tc->t_delack = 0;
		if (tc->flags & TF_DELACK) {
			st->cnt.tx_delacks++;
			tcp_send_ack(tc);
		}
	}
	tcp_timer_update(tc);
}

/* Runs every slot from the last processed tick up to now (at most one lap). */
void tcp_wheel_run(struct tcp_stack *st, uint64_t now)
{
	struct tcp_wheel *w = &st->wheel;
	uint64_t to = now / TCP_MS;
	if (to <= w->tick)
		return;
	uint64_t from = w->tick + 1;
	if (to - from >= TCP_WHEEL_SLOTS)
		from = to - TCP_WHEEL_SLOTS + 1;
	for (uint64_t t = from; t <= to; t++) {
		struct tcp_tnode *head = &w->slot[t % TCP_WHEEL_SLOTS];
		struct tcp_tnode due = { .next = &due, .prev = &due };
		/* move what is due to a private list first: firing re-arms into the wheel */
		for (struct tcp_tnode *n = head->next, *nx; n != head; n = nx) {
			nx = n->next;
			if (n->expire <= now) {
				tn_unlink(n);
				tn_link(&due, n);
			}
		}
		w->tick = t;
		while (due.next != &due) {
			struct tcp_tnode *n = due.next;
			tn_unlink(n);
			n->expire = 0;
			struct tcp_conn *tc = (struct tcp_conn *)((char *)n - offsetof(struct tcp_conn, tn));
			conn_fire(tc);
		}
	}
	w->tick = to;
}
