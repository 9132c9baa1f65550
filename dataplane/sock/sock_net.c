/* SPDX-License-Identifier: MIT */
/*
 * sock_net.c: one lcore thread's posix backend instance: the epoll set, listeners, active
 * opens, the buffer-block pool and the loop turn (sock_net_poll). Per-connection behaviour
 * lives in sock_conn.c.
 */
#include "sock/sock_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

void sock_tunables_defaults(struct sock_tunables *t)
{
	*t = (struct sock_tunables){
		.max_conns = 16384,
		.buf_bytes = 64 * 1024,
		.max_bufs = 0,
		.listen_backlog = 4096,
		.max_events = 256,
		.accepts_per_event = 64,
		.connect_timeout_ms = 30000,
		.linger_ms = 5000,
		.batch_min = 3,
		.reuseport = 1,
		.nodelay = 1,
	};
}

/* ---- buffer pool -------------------------------------------------------------------------- */

/* A block from the pool, or NULL when max_bufs are in use (the caller degrades or fails). */
struct sock_buf *sock_buf_get(struct sock_net *n)
{
	struct sock_buf *b = n->free_bufs;
	if (b) {
		n->free_bufs = b->next_free;
	} else {
		if (n->st.bufs_allocated >= n->t.max_bufs)
			return NULL;
		b = malloc(sizeof(*b) + n->t.buf_bytes);
		if (!b)
			return NULL;
		n->st.bufs_allocated++;
	}
	b->head = b->tail = 0;
	b->next_free = NULL;
	n->st.bufs_in_use++;
	return b;
}

/* Returns b to the pool and wakes one sender that starved for a block. */
void sock_buf_put(struct sock_net *n, struct sock_buf *b)
{
	b->next_free = n->free_bufs;
	n->free_bufs = b;
	n->st.bufs_in_use--;
	struct sock_conn *sc = TAILQ_FIRST(&n->starved);
	if (sc) {
		TAILQ_REMOVE(&n->starved, sc, starved_link);
		sc->in_starved = false;
		sock_conn_defer(sc, SOCK_D_SENDABLE);
	}
}

/* ---- create / free ------------------------------------------------------------------------ */

struct sock_net *sock_net_create(const struct sock_tunables *t, int *err)
{
	int e = -ENOMEM;
	struct sock_net *n = calloc(1, sizeof(*n));
	if (!n)
		goto err;
	if (t)
		n->t = *t;
	else
		sock_tunables_defaults(&n->t);
	if (n->t.max_conns == 0 || n->t.buf_bytes < 512 || n->t.max_events == 0) {
		e = -EINVAL;
		goto err_net;
	}
	if (n->t.max_bufs == 0)
		n->t.max_bufs = 2 * n->t.max_conns;
	if (n->t.accepts_per_event == 0)
		n->t.accepts_per_event = 1;
	TAILQ_INIT(&n->all);
	TAILQ_INIT(&n->dirty);
	TAILQ_INIT(&n->defer);
	TAILQ_INIT(&n->timed);
	TAILQ_INIT(&n->starved);
	TAILQ_INIT(&n->grave);
	n->scratch = malloc(n->t.buf_bytes);
	n->events = calloc(n->t.max_events, sizeof(*n->events));
	if (!n->scratch || !n->events)
		goto err_mem;
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epfd < 0) {
		e = -errno;
		goto err_mem;
	}
	if ((e = sock_batch_create(n)) < 0)
		goto err_ep;
	return n;
err_ep:
	close(n->epfd);
err_mem:
	free(n->events);
	free(n->scratch);
err_net:
	free(n);
err:
	if (err)
		*err = e;
	return NULL;
}

static void sock_net_reap(struct sock_net *n)
{
	struct sock_conn *sc;
	while ((sc = TAILQ_FIRST(&n->grave))) {
		TAILQ_REMOVE(&n->grave, sc, all_link);
		sc->base.handler_ctx = n->free_conns;
		n->free_conns = sc;
	}
}

void sock_net_free(struct sock_net *n)
{
	if (!n)
		return;
	struct sock_conn *sc;
	while ((sc = TAILQ_FIRST(&n->all)))
		sock_conn_ops.abort(&sc->base); /* moves it to the graveyard */
	sock_net_reap(n);
	while ((sc = n->free_conns)) {
		n->free_conns = sc->base.handler_ctx;
		free(sc);
	}
	struct sock_buf *b;
	while ((b = n->free_bufs)) {
		n->free_bufs = b->next_free;
		free(b);
	}
	for (unsigned i = 0; i < n->nlisteners; i++)
		close(n->listeners[i].fd);
	close(n->epfd);
	sock_batch_free(n);
	free(n->events);
	free(n->scratch);
	free(n);
}

struct sock_stats sock_net_stats(const struct sock_net *n)
{
	struct sock_stats st = n->st;
	st.batch_on = n->batch != NULL;
	return st;
}

/* ---- addresses ---------------------------------------------------------------------------- */

static socklen_t sock_to_sa(const struct conn_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = a->port;
		memcpy(&s6->sin6_addr, a->ip.v6, 16);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = a->port;
	s4->sin_addr.s_addr = a->ip.v4;
	return sizeof(*s4);
}

static void sock_from_sa(const struct sockaddr_storage *ss, struct conn_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->family = AF_INET6;
		a->port = s6->sin6_port;
		memcpy(a->ip.v6, &s6->sin6_addr, 16);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = s4->sin_port;
		a->ip.v4 = s4->sin_addr.s_addr;
	}
}

static void sock_fill_addrs(struct sock_conn *sc)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(sc->fd, (struct sockaddr *)&ss, &len) == 0)
		sock_from_sa(&ss, &sc->base.local);
	len = sizeof(ss);
	if (getpeername(sc->fd, (struct sockaddr *)&ss, &len) == 0)
		sock_from_sa(&ss, &sc->base.remote);
}

static void sock_tune_fd(struct sock_net *n, int fd)
{
	int one = 1;
	if (n->t.nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- listeners ---------------------------------------------------------------------------- */

int sock_net_listen_addr(struct sock_net *n, const struct conn_addr *addr, conn_accept_fn accept,
			 void *ctx)
{
	if (n->nlisteners == SOCK_MAX_LISTENERS)
		return -ENOSPC;
	struct sockaddr_storage ss;
	socklen_t sl = sock_to_sa(addr, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, e;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (n->t.reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, (int)n->t.listen_backlog) < 0)
		goto err;
	struct sock_listener *l = &n->listeners[n->nlisteners];
	*l = (struct sock_listener){ .ep.kind = SOCK_EP_LISTENER, .fd = fd, .accept = accept,
				     .accept_ctx = ctx };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->ep };
	if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto err;
	n->nlisteners++;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	getsockname(fd, (struct sockaddr *)&bound, &bl);
	struct conn_addr b;
	sock_from_sa(&bound, &b);
	return ntohs(b.port);
err:
	e = -errno;
	close(fd);
	return e;
}

static int sock_net_listen_any(void *impl, uint16_t port, conn_accept_fn accept, void *ctx)
{
	struct conn_addr a = { .family = AF_INET, .port = htons(port) };
	int r = sock_net_listen_addr(impl, &a, accept, ctx);
	return r < 0 ? r : 0;
}

/* Hands one accepted socket to the listener's owner; closes it with RST when refused. */
static void sock_net_accept_one(struct sock_net *n, struct sock_listener *l, int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	if (n->st.conns_open >= n->t.max_conns)
		goto refuse;
	sock_tune_fd(n, fd);
	struct sock_conn *sc = sock_conn_new(n, fd, NULL, NULL);
	if (!sc)
		goto refuse;
	sock_fill_addrs(sc);
	n->st.accepted++;
	sock_conn_enter(sc, SOCK_S_ESTABLISHED);
	int r = l->accept(l->accept_ctx, &sc->base);
	if (r != 0 || !sc->base.handler) {
		n->st.accept_refused++;
		sc->notified = true; /* the upper layer refused it: no on_closed */
		sock_conn_ops.abort(&sc->base);
		return;
	}
	if (sc->state != SOCK_S_ESTABLISHED)
		return; /* closed from inside accept() */
	sock_conn_interest(sc);
	if (sc->base.handler->on_connected)
		sc->base.handler->on_connected(sc->base.handler_ctx, &sc->base);
	return;
refuse:
	n->st.accept_refused++;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void sock_net_accept(struct sock_net *n, struct sock_listener *l)
{
	for (uint32_t i = 0; i < n->t.accepts_per_event; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("sock accept err=%d", errno); /* EMFILE: retried next turn */
			return;
		}
		sock_net_accept_one(n, l, fd);
	}
}

/* ---- active open -------------------------------------------------------------------------- */

struct conn *sock_net_connect(struct sock_net *n, const struct conn_addr *dst,
			      const struct conn_addr *src, const struct conn_handler *h, void *ctx,
			      int *err)
{
	struct sockaddr_storage ss;
	int e, one = 1;
	if (n->st.conns_open >= n->t.max_conns) {
		n->st.nomem++;
		e = -ENOBUFS;
		goto err;
	}
	socklen_t sl = sock_to_sa(dst, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = -errno;
		goto err;
	}
	sock_tune_fd(n, fd);
	if (src && (src->ip.v4 != 0 || src->port != 0)) {
		struct sockaddr_storage bs;
		socklen_t bl = sock_to_sa(src, &bs);
		bs.ss_family = ss.ss_family;
		if (src->port == 0) /* many flows from one source address: let connect pick ports */
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&bs, bl) < 0) {
			e = -errno;
			goto err_fd;
		}
	}
	int r = connect(fd, (struct sockaddr *)&ss, sl);
	int cerr = r < 0 ? errno : 0;
	if (cerr == EADDRNOTAVAIL || cerr == EADDRINUSE || cerr == ENOBUFS || cerr == ENOMEM ||
	    cerr == EAFNOSUPPORT || cerr == EINVAL) {
		e = -cerr;
		goto err_fd;
	}
	struct sock_conn *sc = sock_conn_new(n, fd, h, ctx);
	if (!sc) {
		e = -ENOMEM;
		goto err_fd;
	}
	n->st.connects++;
	sc->base.remote = *dst;
	sc->arm_ms = n->t.connect_timeout_ms;
	TAILQ_INSERT_TAIL(&n->timed, sc, timed_link);
	sc->in_timed = true;
	if (cerr != 0 && cerr != EINPROGRESS) {
		sc->fail_reason = sock_errno_reason(cerr); /* reported from the next poll */
		sock_conn_defer(sc, SOCK_D_FAIL);
	} else {
		sock_conn_interest(sc);
	}
	return &sc->base;
err_fd:
	close(fd);
err:
	if (err)
		*err = e;
	return NULL;
}

static struct conn *sock_net_connect_op(void *impl, const struct conn_addr *dst,
					const struct conn_addr *src, const struct conn_handler *h,
					void *ctx, int *err)
{
	return sock_net_connect(impl, dst, src, h, ctx, err);
}

static const struct conn_net_ops sock_net_ops = {
	.name = "sock",
	.listen = sock_net_listen_any,
	.connect = sock_net_connect_op,
};

struct conn_net sock_net_conn_net(struct sock_net *n)
{
	return (struct conn_net){ .ops = &sock_net_ops, .impl = n };
}

/* Called by sock_conn.c once an active open completes. */
void sock_net_connected(struct sock_conn *sc)
{
	sc->net->st.connected++;
	sock_fill_addrs(sc);
}

/* ---- the loop turn ------------------------------------------------------------------------ */

/* Fires due deadlines; returns the ms until the next one (INT32_MAX when none). */
static int sock_net_timers(struct sock_net *n)
{
	uint64_t next = UINT64_MAX;
	struct sock_conn *sc, *tmp;
	for (sc = TAILQ_FIRST(&n->timed); sc; sc = tmp) {
		tmp = TAILQ_NEXT(sc, timed_link); /* a deadline removes only sc itself */
		if (sc->deadline_us == 0)
			sc->deadline_us = n->now_us + (uint64_t)sc->arm_ms * 1000;
		if (sc->deadline_us <= n->now_us)
			sock_conn_deadline(sc);
		else if (sc->deadline_us < next)
			next = sc->deadline_us;
	}
	if (next == UINT64_MAX)
		return INT32_MAX;
	uint64_t ms = (next - n->now_us + 999) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void sock_net_run_deferred(struct sock_net *n)
{
	/* Work deferred while running this list waits for the next turn. */
	struct sock_conn_list batch = TAILQ_HEAD_INITIALIZER(batch);
	TAILQ_CONCAT(&batch, &n->defer, defer_link);
	struct sock_conn *sc;
	while ((sc = TAILQ_FIRST(&batch))) {
		TAILQ_REMOVE(&batch, sc, defer_link);
		sc->in_defer = false;
		sock_conn_run_deferred(sc);
	}
}

int sock_net_watch_wakeup(struct sock_net *n, int fd)
{
	n->wake_ep.kind = SOCK_EP_WAKE;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = &n->wake_ep };
	return epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int sock_net_wait(struct sock_net *n, uint32_t max_us)
{
	if (n->flush_pending) /* conn_flush() since the last turn: out before we block */
		sock_net_write_dirty(n, true, false);
	if (n->events_ready || !TAILQ_EMPTY(&n->defer) || !TAILQ_EMPTY(&n->dirty))
		return n->events_ready; /* work is waiting: do not block */
	struct timespec ts = { .tv_sec = max_us / 1000000, .tv_nsec = (long)(max_us % 1000000) * 1000 };
	int nev = epoll_pwait2(n->epfd, n->events, (int)n->t.max_events, &ts, NULL);
	n->events_ready = nev > 0 ? nev : 0;
	/* nothing became ready while we blocked: polling again right away would find nothing
	 * (a socket that turns ready meanwhile is seen by the next wait or poll, level-triggered) */
	n->skip_epoll = nev == 0;
	return n->events_ready;
}

/*
 * Whether this turn may skip its epoll_wait(0). It may right after a turn that handled events
 * (or a wait that timed out): replies written then are answered a few microseconds later at
 * the earliest, so an immediate epoll_wait mostly returns nothing, and the loop's next idle
 * wait (sock_net_wait) finds whatever did arrive in the same one call, without blocking.
 * Level-triggered: an event not collected now is collected by the next wait or poll. At most
 * every other turn is skipped, so a loop that never idles still polls. Measured in docs/sock.md
 * (one epoll syscall per wake-up instead of two).
 */
static bool sock_net_skip_epoll(struct sock_net *n, int timeout_ms)
{
	bool skip = n->skip_epoll && timeout_ms == 0;
	n->skip_epoll = false;
	return skip;
}

int sock_net_poll(struct sock_net *n, uint64_t now_us, int timeout_ms)
{
	n->now_us = now_us;
	if (n->flush_pending) /* conn_flush() since the last turn (the loop's other modules) */
		sock_net_write_dirty(n, true, true);
	int until = sock_net_timers(n);
	int nev, e = 0;
	if (n->events_ready) {
		/* gathered by sock_net_wait() just before this turn: level-triggered, still valid
		 * (a conn the timers above closed is DEAD and ignores its event; it is reaped below) */
		nev = n->events_ready;
		n->events_ready = 0;
		n->skip_epoll = false;
	} else if (sock_net_skip_epoll(n, timeout_ms)) {
		nev = 0;
	} else {
		if (!TAILQ_EMPTY(&n->defer) || !TAILQ_EMPTY(&n->dirty))
			timeout_ms = 0; /* work queued by the caller since the last turn */
		if (until != INT32_MAX && (timeout_ms < 0 || timeout_ms > until))
			timeout_ms = until;
		nev = epoll_wait(n->epfd, n->events, (int)n->t.max_events, timeout_ms);
		e = nev < 0 ? errno : 0;
	}
	for (int i = 0; i < nev; i++) {
		struct sock_ep *ep = n->events[i].data.ptr;
		if (ep->kind == SOCK_EP_WAKE)
			continue; /* only ends a wait: its owner reaps in its own poll */
		if (ep->kind == SOCK_EP_LISTENER)
			sock_net_accept(n, (struct sock_listener *)ep);
		else
			sock_conn_event((struct sock_conn *)((char *)ep - offsetof(struct sock_conn, ep)),
					n->events[i].events);
	}
	/* a full batch may leave more ready: poll again next turn */
	n->skip_epoll = nev > 0 && nev < (int)n->t.max_events;
	sock_net_run_deferred(n);
	sock_net_write_dirty(n, false, true);
	sock_net_reap(n);
	if (nev < 0)
		return e == EINTR ? 0 : -e;
	return nev;
}
