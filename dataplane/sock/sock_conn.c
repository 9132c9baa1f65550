/* SPDX-License-Identifier: MIT */
/*
 * sock_conn.c: one kernel socket behind the conn API: the send queue (one pooled block,
 * written at flush or at the end of the loop turn), zero-copy input with consumed-count
 * backpressure (reads land in the net's scratch block; only unconsumed bytes are copied into a
 * block of the conn's own), half-close, graceful close with lingering input drain, abort with
 * RST, and the connection state machine (sock_conn_enter is its one transition function).
 */
#include "sock/sock_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static const char *const sock_state_names[SOCK_S__MAX] = {
	[SOCK_S_CONNECTING] = "connecting", [SOCK_S_ESTABLISHED] = "established",
	[SOCK_S_CLOSING] = "closing",       [SOCK_S_LINGER] = "linger",
	[SOCK_S_DEAD] = "dead",
};

void sock_conn_enter(struct sock_conn *sc, enum sock_state next)
{
	if (log_get_level() >= LOG_LVL_DEBUG)
		log_debug("conn=%lu sock_state %s -> %s", (unsigned long)sc->base.id,
			  sock_state_names[sc->state], sock_state_names[next]);
	sc->state = next;
}

enum conn_close_reason sock_errno_reason(int err)
{
	switch (err) {
	case ECONNREFUSED: return CONN_CLOSED_REFUSED;
	case ETIMEDOUT: return CONN_CLOSED_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN: return CONN_CLOSED_UNREACHABLE;
	case ENOMEM:
	case ENOBUFS: return CONN_CLOSED_NOMEM;
	default: return CONN_CLOSED_RESET; /* ECONNRESET, EPIPE and the unexpected */
	}
}

struct sock_conn *sock_conn_new(struct sock_net *n, int fd, const struct conn_handler *h,
				void *ctx)
{
	struct sock_conn *sc = n->free_conns;
	if (sc)
		n->free_conns = sc->base.handler_ctx;
	else if (!(sc = malloc(sizeof(*sc))))
		return NULL;
	memset(sc, 0, sizeof(*sc));
	sc->base.ops = &sock_conn_ops;
	sc->base.handler = h;
	sc->base.handler_ctx = ctx;
	sc->base.id = ++n->next_id;
	sc->ep.kind = SOCK_EP_CONN;
	sc->net = n;
	sc->fd = fd;
	sc->state = SOCK_S_CONNECTING;
	TAILQ_INSERT_TAIL(&n->all, sc, all_link);
	n->st.conns_open++;
	return sc;
}

int sock_conn_fd(const struct conn *c)
{
	return ((const struct sock_conn *)c)->fd;
}

/* ---- bookkeeping -------------------------------------------------------------------------- */

void sock_conn_defer(struct sock_conn *sc, uint32_t what)
{
	sc->deferred |= what;
	if (!sc->in_defer) {
		TAILQ_INSERT_TAIL(&sc->net->defer, sc, defer_link);
		sc->in_defer = true;
	}
}

static void sock_conn_mark_dirty(struct sock_conn *sc)
{
	if (!sc->in_dirty) {
		TAILQ_INSERT_TAIL(&sc->net->dirty, sc, dirty_link);
		sc->in_dirty = true;
	}
}

static void sock_conn_untime(struct sock_conn *sc)
{
	if (sc->in_timed) {
		TAILQ_REMOVE(&sc->net->timed, sc, timed_link);
		sc->in_timed = false;
	}
	sc->deadline_us = 0;
}

/* Registers the epoll interest the state calls for (a syscall only when it changes). */
void sock_conn_interest(struct sock_conn *sc)
{
	uint32_t want = 0;
	switch (sc->state) {
	case SOCK_S_CONNECTING:
		want = EPOLLOUT;
		break;
	case SOCK_S_ESTABLISHED:
	case SOCK_S_CLOSING:
		if (!sc->rd_paused && !sc->eof_seen)
			want |= EPOLLIN;
		if (sc->tx_blocked)
			want |= EPOLLOUT;
		break;
	case SOCK_S_LINGER:
		want = EPOLLIN;
		break;
	default:
		return;
	}
	if (sc->ev_registered && want == sc->ev_mask)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = &sc->ep };
	int op = sc->ev_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(sc->net->epfd, op, sc->fd, &ev) == 0) {
		sc->ev_registered = true;
		sc->ev_mask = want;
	}
}

/* Stops watching the fd: used when the peer hung up while we do not read (EPOLLHUP cannot be
 * masked and would fire every turn). sock_conn_interest() adds it back. */
static void sock_conn_unwatch(struct sock_conn *sc)
{
	if (sc->ev_registered && epoll_ctl(sc->net->epfd, EPOLL_CTL_DEL, sc->fd, NULL) == 0)
		sc->ev_registered = false;
}

/* Releases everything but the struct, which the graveyard recycles at the end of the turn. */
static void sock_conn_bury(struct sock_conn *sc, bool rst)
{
	struct sock_net *n = sc->net;
	if (rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(sc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(sc->fd);
	sc->fd = -1;
	sock_conn_untime(sc);
	if (sc->in_dirty)
		TAILQ_REMOVE(&n->dirty, sc, dirty_link);
	if (sc->in_defer)
		TAILQ_REMOVE(&n->defer, sc, defer_link);
	if (sc->in_starved)
		TAILQ_REMOVE(&n->starved, sc, starved_link);
	sc->in_dirty = sc->in_defer = sc->in_starved = false;
	if (sc->rx)
		sock_buf_put(n, sc->rx);
	if (sc->tx)
		sock_buf_put(n, sc->tx);
	sc->rx = sc->tx = NULL;
	sock_conn_enter(sc, SOCK_S_DEAD);
	TAILQ_REMOVE(&n->all, sc, all_link);
	TAILQ_INSERT_TAIL(&n->grave, sc, all_link);
	n->st.conns_open--;
}

/* Tells the upper layer (once) that the conn is gone. */
static void sock_conn_notify(struct sock_conn *sc, enum conn_close_reason why)
{
	if (sc->notified)
		return;
	sc->notified = true;
	sc->net->st.closed[why]++;
	if (sc->base.handler && sc->base.handler->on_closed)
		sc->base.handler->on_closed(sc->base.handler_ctx, &sc->base, why);
}

/* The connection failed (from inside poll): close the fd and report why. */
void sock_conn_fail(struct sock_conn *sc, enum conn_close_reason why)
{
	if (sc->state == SOCK_S_DEAD)
		return;
	sock_conn_bury(sc, false);
	sock_conn_notify(sc, why);
}

/* ---- output ------------------------------------------------------------------------------- */

static size_t sock_tx_used(const struct sock_conn *sc)
{
	return sc->tx ? sc->tx->tail - sc->tx->head : 0;
}

/*
 * Accounts one send of the queue's unsent bytes: res bytes went to the kernel, or -errno.
 * Returns 1 when bytes are left that may go now, 0 when the queue is empty or the kernel's
 * buffer is full (tx_blocked), -errno on a write error (the caller reports it). Never calls back.
 */
int sock_conn_sent(struct sock_conn *sc, long res)
{
	struct sock_buf *b = sc->tx;
	if (res < 0) {
		if (res == -EINTR)
			return 1;
		if (res == -EAGAIN) {
			sc->tx_blocked = true;
			return 0;
		}
		return (int)res;
	}
	sc->net->st.writes++;
	sc->net->st.bytes_out += (uint64_t)res;
	b->head += (uint32_t)res;
	if (b->tail > b->head)
		return 1;
	sc->tx_blocked = false;
	sc->tx = NULL;
	sock_buf_put(sc->net, b);
	return 0;
}

/* Bytes queued and not yet handed to the kernel. */
bool sock_conn_has_output(const struct sock_conn *sc)
{
	return sc->tx && sc->tx->tail > sc->tx->head;
}

/*
 * Writes the send queue to the kernel with send(2) until it is empty or the kernel's buffer is
 * full; never calls back. Returns 0, or -errno on a write error (the caller reports it).
 */
int sock_conn_write(struct sock_conn *sc)
{
	if (!sock_conn_has_output(sc)) {
		sc->tx_blocked = false;
		if (sc->tx) {
			sock_buf_put(sc->net, sc->tx);
			sc->tx = NULL;
		}
		return 0;
	}
	int r;
	do {
		struct sock_buf *b = sc->tx;
		ssize_t w = send(sc->fd, b->data + b->head, b->tail - b->head, MSG_NOSIGNAL);
		r = sock_conn_sent(sc, w < 0 ? -errno : w);
	} while (r == 1);
	return r;
}

static void sock_conn_finish_close(struct sock_conn *sc);
static void sock_conn_eof_check(struct sock_conn *sc);

/*
 * What follows a write, from poll context only (may call back): report a write error, send the
 * FIN of a shutdown or close once the queue is empty, wake a sender that came up short.
 */
static void sock_conn_progress(struct sock_conn *sc, int werr)
{
	if (werr < 0) {
		sock_conn_fail(sc, sock_errno_reason(-werr));
		return;
	}
	if (sock_tx_used(sc) == 0) {
		if (sc->state == SOCK_S_CLOSING) {
			sock_conn_finish_close(sc);
			return;
		}
		if (sc->shut_req && !sc->shut_done) {
			shutdown(sc->fd, SHUT_WR);
			sc->shut_done = true;
			sock_conn_eof_check(sc);
			if (sc->state == SOCK_S_DEAD)
				return;
		}
	}
	sock_conn_interest(sc);
	uint32_t room = sc->net->t.buf_bytes - (uint32_t)sock_tx_used(sc);
	if (sc->want_sendable && sc->state == SOCK_S_ESTABLISHED && !sc->shut_req &&
	    room >= sc->net->t.buf_bytes / 4) {
		sc->want_sendable = false;
		if (sc->base.handler->on_sendable)
			sc->base.handler->on_sendable(sc->base.handler_ctx, &sc->base);
	}
}

/*
 * What follows a write of the queue (werr: its result). From poll context (callbacks true) this
 * is sock_conn_progress; elsewhere (a wait, which runs no callbacks) the same work is deferred
 * to the next poll.
 */
void sock_conn_wrote(struct sock_conn *sc, int werr, bool callbacks)
{
	if (sc->state != SOCK_S_ESTABLISHED && sc->state != SOCK_S_CLOSING)
		return;
	if (callbacks) {
		sock_conn_progress(sc, werr);
	} else if (werr < 0) {
		sc->fail_reason = sock_errno_reason(-werr);
		sock_conn_defer(sc, SOCK_D_FAIL);
	} else if (sc->tx_blocked) {
		sock_conn_interest(sc);
	} else if (sc->want_sendable || sc->state == SOCK_S_CLOSING || sc->shut_req) {
		sock_conn_defer(sc, SOCK_D_PROGRESS);
	}
}

static ssize_t sock_op_send(struct conn *c, const void *buf, size_t len)
{
	struct sock_conn *sc = sock_conn_of(c);
	if (sc->state != SOCK_S_ESTABLISHED || sc->shut_req)
		return -ENOTCONN;
	if (sc->deferred & SOCK_D_FAIL)
		return -EPIPE;
	if (len == 0)
		return 0;
	struct sock_buf *b = sc->tx;
	if (!b) {
		b = sc->tx = sock_buf_get(sc->net);
		if (!b) {
			sc->net->st.nomem++;
			sc->want_sendable = true;
			if (!sc->in_starved) {
				TAILQ_INSERT_TAIL(&sc->net->starved, sc, starved_link);
				sc->in_starved = true;
			}
			return 0;
		}
	}
	uint32_t cap = sc->net->t.buf_bytes;
	if (b->tail + len > cap && b->head > 0) {
		memmove(b->data, b->data + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	size_t n = cap - b->tail;
	if (n > len)
		n = len;
	memcpy(b->data + b->tail, buf, n);
	b->tail += (uint32_t)n;
	if (n < len)
		sc->want_sendable = true;
	if (!sc->tx_blocked)
		sock_conn_mark_dirty(sc);
	return (ssize_t)n;
}

/*
 * Marks the queue for the next flush point instead of writing now: the end of the current
 * poll turn (from a callback), else the start of the next sock_net_poll() or sock_net_wait(),
 * which the loop reaches right after the turn's last module ran. All queues flushed in one
 * turn then leave together (one io_uring submission when there are batch_min or more).
 */
static void sock_op_flush(struct conn *c)
{
	struct sock_conn *sc = sock_conn_of(c);
	if (sc->state != SOCK_S_ESTABLISHED && sc->state != SOCK_S_CLOSING)
		return;
	if (sc->tx_blocked || sock_tx_used(sc) == 0)
		return;
	sc->flush_req = true;
	sc->net->flush_pending = true;
	sock_conn_mark_dirty(sc);
}

static size_t sock_op_send_space(const struct conn *c)
{
	const struct sock_conn *sc = (const struct sock_conn *)c;
	if (sc->state != SOCK_S_ESTABLISHED || sc->shut_req)
		return 0;
	if (!sc->tx)
		return sc->net->st.bufs_in_use < sc->net->t.max_bufs || sc->net->free_bufs
			       ? sc->net->t.buf_bytes
			       : 0;
	return sc->net->t.buf_bytes - sock_tx_used(sc);
}

/* ---- input -------------------------------------------------------------------------------- */

/* Delivers on_eof once the peer's FIN was read and every byte before it was consumed; closes
 * with PEER when our FIN is out too. */
static void sock_conn_eof_check(struct sock_conn *sc)
{
	if (!sc->eof_seen || sc->state != SOCK_S_ESTABLISHED || (sc->rx && sc->rx->tail > sc->rx->head))
		return;
	if (!sc->eof_delivered) {
		sc->eof_delivered = true;
		if (sc->base.handler->on_eof)
			sc->base.handler->on_eof(sc->base.handler_ctx, &sc->base);
		if (sc->state != SOCK_S_ESTABLISHED)
			return;
	}
	if (sc->shut_done) {
		sock_conn_bury(sc, false);
		sock_conn_notify(sc, CONN_CLOSED_PEER);
	}
}

/*
 * Offers data to the upper layer; keeps what it left unconsumed in the conn's own block (data
 * may point into the scratch block or into sc->rx).
 */
static void sock_conn_deliver(struct sock_conn *sc, const uint8_t *data, size_t len)
{
	size_t used = sc->base.handler->on_data(sc->base.handler_ctx, &sc->base, data, len);
	if (used > len)
		used = len; /* a broken upper layer must not walk us off the buffer */
	if (sc->state != SOCK_S_ESTABLISHED)
		return; /* closed or aborted from inside on_data: input no longer matters */
	if (used == len) {
		if (sc->rx) {
			sock_buf_put(sc->net, sc->rx);
			sc->rx = NULL;
		}
		return;
	}
	sc->rd_paused = true;
	if (sc->rx) {
		sc->rx->head += (uint32_t)used;
		return;
	}
	struct sock_buf *b = sock_buf_get(sc->net);
	if (!b) {
		sc->net->st.nomem++;
		sock_conn_fail(sc, CONN_CLOSED_NOMEM);
		return;
	}
	memcpy(b->data, data + used, len - used);
	b->tail = (uint32_t)(len - used);
	sc->rx = b;
}

/* Readable (or hung up): one read(2), then hand the bytes up. */
static void sock_conn_read(struct sock_conn *sc)
{
	struct sock_net *n = sc->net;
	uint8_t *dst = n->scratch;
	size_t room = n->t.buf_bytes;
	if (sc->rx) {
		struct sock_buf *b = sc->rx;
		if (b->head > 0) {
			memmove(b->data, b->data + b->head, b->tail - b->head);
			b->tail -= b->head;
			b->head = 0;
		}
		dst = b->data + b->tail;
		room = n->t.buf_bytes - b->tail;
		if (room == 0)
			return; /* full and paused: the kernel's window closes on the peer */
	}
	ssize_t r = read(sc->fd, dst, room);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			sock_conn_fail(sc, sock_errno_reason(errno));
		return;
	}
	if (r == 0) {
		sc->eof_seen = true;
		sock_conn_interest(sc);
		sock_conn_eof_check(sc);
		return;
	}
	n->st.reads++;
	n->st.bytes_in += (uint64_t)r;
	if (sc->rx) {
		sc->rx->tail += (uint32_t)r;
		if (sc->rd_paused)
			return; /* keep it; offered again after resume_read() */
		sock_conn_deliver(sc, sc->rx->data, sc->rx->tail);
	} else {
		sock_conn_deliver(sc, dst, (size_t)r);
	}
	if (sc->state == SOCK_S_ESTABLISHED)
		sock_conn_interest(sc);
}

/* Lingering after our close: discard input until EOF so the kernel never answers with RST. */
static void sock_conn_drain(struct sock_conn *sc)
{
	for (int i = 0; i < 4; i++) {
		ssize_t r = read(sc->fd, sc->net->scratch, sc->net->t.buf_bytes);
		if (r > 0)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		sock_conn_bury(sc, false);
		return;
	}
}

static void sock_op_resume_read(struct conn *c)
{
	struct sock_conn *sc = sock_conn_of(c);
	if (sc->state == SOCK_S_ESTABLISHED && sc->rd_paused)
		sock_conn_defer(sc, SOCK_D_RESUME);
}

static void sock_conn_resume(struct sock_conn *sc)
{
	sc->rd_paused = false;
	if (sc->rx && sc->rx->tail > sc->rx->head)
		sock_conn_deliver(sc, sc->rx->data + sc->rx->head, sc->rx->tail - sc->rx->head);
	if (sc->state != SOCK_S_ESTABLISHED)
		return;
	sock_conn_interest(sc);
	sock_conn_eof_check(sc);
}

/* ---- events, deferred work, deadlines ----------------------------------------------------- */

static void sock_conn_connect_done(struct sock_conn *sc)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(sc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		sock_conn_fail(sc, sock_errno_reason(err));
		return;
	}
	sock_conn_untime(sc);
	sock_conn_enter(sc, SOCK_S_ESTABLISHED);
	sock_net_connected(sc);
	sock_conn_interest(sc);
	if (sc->base.handler->on_connected)
		sc->base.handler->on_connected(sc->base.handler_ctx, &sc->base);
}

void sock_conn_event(struct sock_conn *sc, uint32_t events)
{
	switch (sc->state) {
	case SOCK_S_CONNECTING:
		sock_conn_connect_done(sc);
		return;
	case SOCK_S_LINGER:
		sock_conn_drain(sc);
		return;
	case SOCK_S_ESTABLISHED:
	case SOCK_S_CLOSING:
		break;
	default:
		return; /* died earlier in this turn */
	}
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(sc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			sock_conn_fail(sc, sock_errno_reason(err));
			return;
		}
	}
	if ((events & EPOLLOUT) && sc->tx_blocked) {
		sc->tx_blocked = false;
		sock_conn_progress(sc, sock_conn_write(sc));
		if (sc->state != SOCK_S_ESTABLISHED && sc->state != SOCK_S_CLOSING)
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (sc->rd_paused || sc->eof_seen || sc->state == SOCK_S_CLOSING) {
			if (events & EPOLLHUP)
				sock_conn_unwatch(sc);
			return;
		}
		sock_conn_read(sc);
	}
}

void sock_conn_run_deferred(struct sock_conn *sc)
{
	uint32_t d = sc->deferred;
	sc->deferred = 0;
	if (sc->state == SOCK_S_DEAD)
		return;
	if (d & SOCK_D_FAIL) {
		sock_conn_fail(sc, sc->fail_reason);
		return;
	}
	if ((d & SOCK_D_RESUME) && sc->state == SOCK_S_ESTABLISHED) {
		sock_conn_resume(sc);
		if (sc->state == SOCK_S_DEAD)
			return;
	}
	if (d & (SOCK_D_PROGRESS | SOCK_D_SENDABLE)) {
		if (d & SOCK_D_SENDABLE)
			sc->want_sendable = true;
		if (sc->state == SOCK_S_ESTABLISHED || sc->state == SOCK_S_CLOSING)
			sock_conn_progress(sc, 0);
	}
}

void sock_conn_deadline(struct sock_conn *sc)
{
	sock_conn_untime(sc);
	if (sc->state == SOCK_S_CONNECTING)
		sock_conn_fail(sc, CONN_CLOSED_TIMEOUT);
	else if (sc->state == SOCK_S_LINGER)
		sock_conn_bury(sc, false);
}

/* ---- closing ------------------------------------------------------------------------------ */

/* The queue is empty after close(): FIN, tell the upper layer, then linger unless the peer
 * already finished. */
static void sock_conn_finish_close(struct sock_conn *sc)
{
	shutdown(sc->fd, SHUT_WR);
	sc->shut_done = true;
	if (sc->eof_seen) {
		sock_conn_bury(sc, false);
		sock_conn_notify(sc, CONN_CLOSED_LOCAL);
		return;
	}
	sock_conn_enter(sc, SOCK_S_LINGER);
	if (sc->rx) {
		sock_buf_put(sc->net, sc->rx);
		sc->rx = NULL;
	}
	sc->deadline_us = sc->net->now_us + (uint64_t)sc->net->t.linger_ms * 1000;
	TAILQ_INSERT_TAIL(&sc->net->timed, sc, timed_link);
	sc->in_timed = true;
	sock_conn_interest(sc);
	sock_conn_notify(sc, CONN_CLOSED_LOCAL);
}

/*
 * After shutdown()/close(): the FIN follows the queue. With bytes queued, the write that
 * empties the queue (this turn's flush point, or the EPOLLOUT write when the kernel's buffer is
 * full) runs sock_conn_progress, which sends it; a deferred progress run before that write
 * would only switch the epoll interest off and on again (two epoll_ctl per connection). With
 * nothing queued, the next poll sends the FIN. A blocked queue gets the interest of its state
 * now (close stops reading: a level-triggered EPOLLIN must not fire every turn meanwhile).
 */
static void sock_conn_fin_after_queue(struct sock_conn *sc)
{
	if (sock_tx_used(sc) == 0)
		sock_conn_defer(sc, SOCK_D_PROGRESS);
	else if (sc->tx_blocked)
		sock_conn_interest(sc);
	else
		sock_conn_mark_dirty(sc);
}

static void sock_op_shutdown(struct conn *c)
{
	struct sock_conn *sc = sock_conn_of(c);
	if (sc->state != SOCK_S_ESTABLISHED || sc->shut_req)
		return;
	sc->shut_req = true;
	sock_conn_fin_after_queue(sc);
}

static void sock_op_close(struct conn *c)
{
	struct sock_conn *sc = sock_conn_of(c);
	switch (sc->state) {
	case SOCK_S_CONNECTING:
		sc->fail_reason = CONN_CLOSED_LOCAL;
		sock_conn_defer(sc, SOCK_D_FAIL);
		return;
	case SOCK_S_ESTABLISHED:
		sock_conn_enter(sc, SOCK_S_CLOSING);
		sc->rd_paused = true; /* no more on_data; lingering discards the rest */
		sock_conn_fin_after_queue(sc);
		return;
	default:
		return;
	}
}

static void sock_op_abort(struct conn *c)
{
	struct sock_conn *sc = sock_conn_of(c);
	if (sc->state == SOCK_S_DEAD)
		return;
	bool told = sc->notified || sc->state == SOCK_S_LINGER;
	sock_conn_bury(sc, true);
	if (!told)
		sock_conn_notify(sc, CONN_CLOSED_LOCAL);
}

const struct conn_ops sock_conn_ops = {
	.name = "sock",
	.send = sock_op_send,
	.flush = sock_op_flush,
	.send_space = sock_op_send_space,
	.resume_read = sock_op_resume_read,
	.shutdown = sock_op_shutdown,
	.close = sock_op_close,
	.abort = sock_op_abort,
};
