/* SPDX-License-Identifier: MIT */
/*
 * tcp_conn.c: one connection as the upper layers see it: the conn_ops vtable (send, flush,
 * resume_read, shutdown, close, abort), delivery of in-order data to on_data() with
 * consumed-count backpressure, end-of-file and close notification, the state transition
 * function, and the per-stack pending list that defers output and delivery to the next poll.
 *
 * Re-entrancy: every callback may call back into conn_* (including close/abort). A released
 * connection keeps its memory until the outermost stack entry point returns (tcp_reap), and
 * its state reads TCP_CLOSED, so code after a callback checks tc->state before going on.
 */
#include <errno.h>

#include "log.h"
#include "net/tcp_impl.h"

static const char *const state_names[TCP_STATE__MAX] = {
	"CLOSED", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
	"CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
};

const char *tcp_state_str(enum tcp_state s)
{
	return (unsigned)s < TCP_STATE__MAX ? state_names[s] : "?";
}

enum tcp_state tcp_conn_state(const struct conn *c)
{
	return ((const struct tcp_conn *)c)->state;
}

/* The one place a connection changes state (counted; traced at debug level). */
void tcp_set_state(struct tcp_conn *tc, enum tcp_state s)
{
	if (tc->state == s)
		return;
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn=%llu tcp_state=%s->%s", (unsigned long long)tc->c.id,
			  tcp_state_str(tc->state), tcp_state_str(s));
	tc->state = s;
	tc->st->cnt.state_enter[s]++;
}

void tcp_pending_add(struct tcp_conn *tc, uint32_t what)
{
	tc->flags |= what;
	if (tc->flags & (TF_PENDING | TF_REAP))
		return;
	tc->flags |= TF_PENDING;
	tc->pnext = tc->st->pending;
	tc->st->pending = tc;
}

/* Runs deferred deliveries and output (once per poll). */
void tcp_pending_run(struct tcp_stack *st)
{
	struct tcp_conn *tc = st->pending, *nx;
	st->pending = NULL;
	for (; tc; tc = nx) {
		nx = tc->pnext;
		tc->flags &= ~TF_PENDING;
		if (tc->flags & TF_REAP) {
			tc->pnext = st->reap;
			st->reap = tc;
			continue;
		}
		if (tc->flags & TF_NEED_DELIVER) {
			tc->flags &= ~TF_NEED_DELIVER;
			tcp_deliver(tc);
		}
		if (tc->flags & TF_ACK_TURN)
			tc->flags = (tc->flags & ~TF_ACK_TURN) | TF_ACK_NOW | TF_NEED_OUTPUT;
		if (tc->state != TCP_CLOSED && (tc->flags & TF_NEED_OUTPUT)) {
			tc->flags &= ~TF_NEED_OUTPUT;
			tcp_output(tc);
		}
	}
}

/* Tells the application (once) that the connection is gone. */
void tcp_conn_closed(struct tcp_conn *tc, enum conn_close_reason why)
{
	if (tc->flags & TF_CLOSED_TOLD)
		return;
	tc->flags |= TF_CLOSED_TOLD;
	tc->close_reason = why;
	if (tc->c.handler && tc->c.handler->on_closed)
		tc->c.handler->on_closed(tc->c.handler_ctx, &tc->c, why);
}

/* Tells the application and releases the connection (no segment is sent). */
void tcp_conn_drop(struct tcp_conn *tc, enum conn_close_reason why)
{
	if (tc->state == TCP_CLOSED)
		return;
	tcp_conn_closed(tc, why);
	tcp_conn_release(tc);
}

/*
 * Called when both FINs are acknowledged (TF_PROTO_DONE) and after each delivery: once the
 * application has seen every byte and the end of file (or has closed), it is told, and the
 * connection shrinks to a TIME_WAIT entry or goes away.
 */
static void maybe_finish(struct tcp_conn *tc)
{
	if (!(tc->flags & TF_PROTO_DONE) || tc->state == TCP_CLOSED)
		return;
	if (!(tc->flags & TF_APP_CLOSED) && (tc->rcvq.len || !(tc->flags & TF_EOF_TOLD)))
		return;
	tcp_conn_closed(tc, (tc->flags & TF_APP_CLOSED) ? CONN_CLOSED_LOCAL : CONN_CLOSED_PEER);
	if (tc->state == TCP_CLOSED)
		return;
	if (tc->state == TCP_TIME_WAIT)
		tcp_tw_enter(tc);
	else
		tcp_conn_release(tc);
}

/* The protocol side is finished (LAST_ACK acknowledged, or TIME_WAIT reached). */
void tcp_proto_done(struct tcp_conn *tc)
{
	tc->flags |= TF_PROTO_DONE;
	tcp_timer_stop(tc);
	if (tc->state == TCP_TIME_WAIT) /* until the application has read everything */
		tc->t_life = tc->st->now + (uint64_t)tc->st->tun.time_wait_ms * TCP_MS;
	tcp_timer_update(tc);
	maybe_finish(tc);
}

/* Whether the window we could offer now is worth a window-update ACK. */
static bool window_update_due(struct tcp_conn *tc)
{
	const struct tcp_tunables *t = &tc->st->tun;
	uint32_t old = tc->rcv_adv - tc->rcv_nxt;
	uint32_t avail = t->rcv_buf > tc->rcvq.len ? t->rcv_buf - tc->rcvq.len : 0;
	/* only a window that throttles the peer (a few segments or less) is worth an ACK of its
	 * own; larger windows are refreshed by the ACKs that data arrival causes anyway */
	return old <= 4u * t->mss && avail >= 2 * old && avail - old >= 2u * t->mss;
}

/*
 * Offers the in-order bytes to on_data() until it consumes less than offered (backpressure:
 * reading pauses until conn_resume_read) or the queue is empty; then the end of file.
 */
void tcp_deliver(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	if (tc->flags & TF_APP_CLOSED) {
		st->rcv_mem -= tc->rcvq.len;
		tcp_mq_free(&tc->rcvq);
	}
	while (tc->rcvq.head && !(tc->flags & (TF_READ_PAUSED | TF_CLOSED_TOLD))) {
		struct rte_mbuf *m = tc->rcvq.head;
		size_t len = m->data_len;
		tc->flags |= TF_IN_DELIVER;
		size_t n = tc->c.handler->on_data(tc->c.handler_ctx, &tc->c,
						  rte_pktmbuf_mtod(m, const uint8_t *), len);
		tc->flags &= ~TF_IN_DELIVER;
		if (tc->state == TCP_CLOSED)
			return;
		if (tc->rcvq.head != m)
			continue; /* re-entered: a nested delivery already moved on */
		if (n > len)
			n = len;
		tcp_mq_trim_front(&tc->rcvq, (uint32_t)n);
		st->rcv_mem -= (uint32_t)n;
		if (n < len)
			tc->flags |= TF_READ_PAUSED;
		if (tc->flags & TF_CLOSE_LATER) {
			/* The application closed while reading what it was just given: decide on
			 * FIN or RST now that its consumption is known (RFC 2525 2.17). */
			tc->flags &= ~TF_CLOSE_LATER;
			tcp_conn_ops.close(&tc->c);
			return;
		}
	}
	if (!tc->rcvq.head && (tc->flags & TF_FIN_RCVD) &&
	    !(tc->flags & (TF_EOF_TOLD | TF_APP_CLOSED | TF_CLOSED_TOLD))) {
		tc->flags |= TF_EOF_TOLD;
		if (tc->c.handler->on_eof)
			tc->c.handler->on_eof(tc->c.handler_ctx, &tc->c);
		if (tc->state == TCP_CLOSED)
			return;
	}
	if (tc->state >= TCP_ESTABLISHED && !(tc->flags & TF_FIN_RCVD) && window_update_due(tc)) {
		st->cnt.tx_win_updates++;
		tc->flags |= TF_ACK_NOW;
		tcp_pending_add(tc, TF_NEED_OUTPUT);
	}
	maybe_finish(tc);
}

/* Room appeared in the send buffer: tell a writer that was turned away. */
void tcp_sendable_check(struct tcp_conn *tc)
{
	const struct tcp_tunables *t = &tc->st->tun;
	if (!(tc->flags & TF_WANT_SENDABLE) || (tc->flags & (TF_APP_CLOSED | TF_CLOSED_TOLD)))
		return;
	if (t->snd_buf - tc->sndq.len < t->snd_buf / 4)
		return;
	tc->flags &= ~TF_WANT_SENDABLE;
	if (tc->c.handler->on_sendable)
		tc->c.handler->on_sendable(tc->c.handler_ctx, &tc->c);
}

/* The handshake completed: hand a passive connection to its listener, or tell the opener. */
void tcp_established(struct tcp_conn *tc)
{
	struct tcp_stack *st = tc->st;
	tcp_set_state(tc, TCP_ESTABLISHED);
	tc->rtx_count = 0;
	tc->rtx_since = 0;
	tc->t_life = 0;
	tcp_cc_init(tc);
	if (tc->flags & TF_PASSIVE) {
		struct tcp_listener *l = tc->lst;
		l->syn_rcvd--;
		st->nsyn_rcvd--;
		tc->lst = NULL;
		int rc = l->accept ? l->accept(l->accept_ctx, &tc->c) : -1;
		if (tc->state == TCP_CLOSED)
			return;
		if (rc != 0 || !tc->c.handler || !tc->c.handler->on_data || !tc->c.handler->on_closed) {
			st->cnt.accept_refused++;
			tc->c.handler = NULL; /* never accepted: no on_closed */
			tcp_send_rst(st, &tc->f.key, tc->snd_nxt, 0, 0);
			tcp_conn_release(tc);
			return;
		}
		st->cnt.accepted++;
	} else if (tc->c.handler->on_connected) {
		tc->c.handler->on_connected(tc->c.handler_ctx, &tc->c);
	}
}

/* ---- conn_ops ------------------------------------------------------------------------------ */

static bool can_send(const struct tcp_conn *tc)
{
	return (tc->state == TCP_ESTABLISHED || tc->state == TCP_CLOSE_WAIT) &&
	       !(tc->flags & (TF_FIN_WANTED | TF_APP_CLOSED));
}

static ssize_t op_send(struct conn *c, const void *buf, size_t len)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	if (!can_send(tc))
		return tc->close_reason == CONN_CLOSED_RESET ? -EPIPE : -ENOTCONN;
	uint32_t space = tc->st->tun.snd_buf - tc->sndq.len;
	uint32_t want = len < space ? (uint32_t)len : space;
	uint32_t n = tcp_mq_append_copy(&tc->sndq, tc->st->mp, buf, want);
	if (n < len)
		tc->flags |= TF_WANT_SENDABLE;
	if (n)
		tcp_pending_add(tc, TF_NEED_OUTPUT);
	return n;
}

static void op_flush(struct conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	if (tc->state >= TCP_ESTABLISHED && tc->state != TCP_TIME_WAIT)
		tcp_output(tc);
}

static size_t op_send_space(const struct conn *c)
{
	const struct tcp_conn *tc = (const struct tcp_conn *)c;
	return can_send(tc) ? tc->st->tun.snd_buf - tc->sndq.len : 0;
}

static void op_resume_read(struct conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	tc->flags &= ~TF_READ_PAUSED;
	tcp_pending_add(tc, TF_NEED_DELIVER);
}

static void op_shutdown(struct conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	if (tc->state == TCP_SYN_SENT || tc->state == TCP_SYN_RCVD) {
		tcp_conn_drop(tc, CONN_CLOSED_LOCAL);
		return;
	}
	if (tc->state != TCP_ESTABLISHED && tc->state != TCP_CLOSE_WAIT)
		return;
	tcp_pending_add(tc, TF_FIN_WANTED | TF_NEED_OUTPUT);
}

static void op_abort(struct conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	if (tc->state == TCP_CLOSED)
		return;
	if (tc->state != TCP_SYN_SENT)
		tcp_send_rst(tc->st, &tc->f.key, tc->snd_nxt, 0, 0);
	tcp_conn_drop(tc, CONN_CLOSED_LOCAL);
}

static void op_close(struct conn *c)
{
	struct tcp_conn *tc = tcp_conn_of(c);
	if (tc->state == TCP_CLOSED || (tc->flags & TF_APP_CLOSED))
		return;
	if (tc->flags & TF_IN_DELIVER) {
		tc->flags |= TF_CLOSE_LATER;
		return;
	}
	/* unread data at close is reset, not silently dropped (RFC 2525 2.17) */
	if (tc->rcvq.len || tc->state == TCP_SYN_SENT) {
		op_abort(c);
		return;
	}
	tc->flags |= TF_APP_CLOSED;
	if (tc->state == TCP_ESTABLISHED || tc->state == TCP_CLOSE_WAIT)
		tcp_pending_add(tc, TF_FIN_WANTED | TF_NEED_OUTPUT);
	if (tc->state == TCP_FIN_WAIT_2) {
		/* our FIN is already acknowledged: the application is done; linger as orphan */
		tcp_conn_closed(tc, CONN_CLOSED_LOCAL);
		tc->t_life = tc->st->now + (uint64_t)tc->st->tun.fin_wait2_ms * TCP_MS;
		tcp_timer_update(tc);
	}
	maybe_finish(tc);
}

const struct conn_ops tcp_conn_ops = {
	.name = "tcp",
	.send = op_send,
	.flush = op_flush,
	.send_space = op_send_space,
	.resume_read = op_resume_read,
	.shutdown = op_shutdown,
	.close = op_close,
	.abort = op_abort,
};
