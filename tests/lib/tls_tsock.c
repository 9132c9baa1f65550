/* SPDX-License-Identifier: MIT */
/* tls_tsock.c: the kernel-socket test conn of tls_tsock.h. */
#include "tls_tsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TS_RX_CAP   65536
#define TS_TX_LIMIT (256 * 1024)

struct tsock {
	struct conn conn;
	struct tls_tsock_loop *loop;
	struct tsock *next;
	int fd;
	uint8_t rx[TS_RX_CAP];
	size_t rx_len;
	uint8_t *tx;
	size_t tx_len, tx_cap;
	bool paused, eof_in, eof_told, shut_req, shut_done, closing, dead, want_sendable, pollout;
	enum conn_close_reason why;
};

struct tls_tsock_loop {
	int epfd;
	int lfd;
	conn_accept_fn accept;
	void *accept_ctx;
	struct tsock *conns;
	unsigned n;
	uint64_t next_id;
};

#define TS(c) ((struct tsock *)(c))

uint64_t tls_tsock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void ts_events(struct tsock *s)
{
	struct epoll_event ev = { .data.ptr = s };
	if (!s->paused && !s->eof_in && s->rx_len < TS_RX_CAP)
		ev.events |= EPOLLIN;
	if (s->tx_len > 0)
		ev.events |= EPOLLOUT;
	epoll_ctl(s->loop->epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void ts_write(struct tsock *s)
{
	while (s->tx_len > 0 && !s->dead) {
		ssize_t n = send(s->fd, s->tx, s->tx_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				s->dead = true, s->why = CONN_CLOSED_RESET;
			break;
		}
		memmove(s->tx, s->tx + n, s->tx_len - (size_t)n);
		s->tx_len -= (size_t)n;
	}
	if (s->tx_len == 0 && s->shut_req && !s->shut_done) {
		shutdown(s->fd, SHUT_WR);
		s->shut_done = true;
	}
	ts_events(s);
}

static ssize_t ts_send(struct conn *c, const void *buf, size_t len)
{
	struct tsock *s = TS(c);
	if (s->closing || s->shut_req)
		return -ENOTCONN;
	if (s->dead)
		return -EPIPE;
	size_t room = TS_TX_LIMIT - s->tx_len;
	size_t n = len < room ? len : room;
	if (s->tx_len + n > s->tx_cap) {
		size_t cap = s->tx_cap ? s->tx_cap : 16384;
		while (cap < s->tx_len + n)
			cap *= 2;
		uint8_t *nb = realloc(s->tx, cap);
		if (!nb)
			return -ENOMEM;
		s->tx = nb;
		s->tx_cap = cap;
	}
	memcpy(s->tx + s->tx_len, buf, n);
	s->tx_len += n;
	if (n < len)
		s->want_sendable = true;
	ts_events(s);
	return (ssize_t)n;
}

static void ts_flush(struct conn *c)
{
	ts_write(TS(c));
}

static size_t ts_send_space(const struct conn *c)
{
	const struct tsock *s = TS(c);
	return s->closing || s->shut_req || s->dead ? 0 : TS_TX_LIMIT - s->tx_len;
}

static void ts_resume_read(struct conn *c)
{
	TS(c)->paused = false;
	ts_events(TS(c));
}

static void ts_shutdown(struct conn *c)
{
	TS(c)->shut_req = true;
	ts_write(TS(c));
}

static void ts_close(struct conn *c)
{
	struct tsock *s = TS(c);
	s->closing = true;
	s->shut_req = true;
	ts_write(s);
}

static void ts_abort(struct conn *c)
{
	struct tsock *s = TS(c);
	struct linger lg = { 1, 0 };
	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	s->tx_len = 0;
	s->closing = s->dead = true;
	s->why = CONN_CLOSED_LOCAL;
	shutdown(s->fd, SHUT_RDWR);
	/* on_closed before returning, as the contract says */
	s->conn.handler->on_closed(s->conn.handler_ctx, &s->conn, CONN_CLOSED_LOCAL);
	s->conn.handler = NULL;
}

static const struct conn_ops ts_ops = {
	.name = "tsock", .send = ts_send, .flush = ts_flush, .send_space = ts_send_space,
	.resume_read = ts_resume_read, .shutdown = ts_shutdown, .close = ts_close,
	.abort = ts_abort,
};

static struct tsock *ts_new(struct tls_tsock_loop *l, int fd)
{
	struct tsock *s = calloc(1, sizeof(*s));
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;
	if (!s)
		return NULL;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	s->loop = l;
	s->conn.ops = &ts_ops;
	s->conn.id = ++l->next_id;
	if (getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		s->conn.local = (struct conn_addr){ .family = AF_INET, .port = a.sin_port,
						    .ip.v4 = a.sin_addr.s_addr };
	al = sizeof(a);
	if (getpeername(fd, (struct sockaddr *)&a, &al) == 0)
		s->conn.remote = (struct conn_addr){ .family = AF_INET, .port = a.sin_port,
						     .ip.v4 = a.sin_addr.s_addr };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
	s->next = l->conns;
	l->conns = s;
	l->n++;
	return s;
}

struct tls_tsock_loop *tls_tsock_loop_new(void)
{
	struct tls_tsock_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->lfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void tls_tsock_loop_free(struct tls_tsock_loop *l)
{
	while (l->conns) {
		struct tsock *s = l->conns;
		l->conns = s->next;
		close(s->fd);
		free(s->tx);
		free(s);
	}
	if (l->lfd >= 0)
		close(l->lfd);
	close(l->epfd);
	free(l);
}

unsigned tls_tsock_loop_conns(const struct tls_tsock_loop *l)
{
	return l->n;
}

int tls_tsock_listen(struct tls_tsock_loop *l, uint16_t port, conn_accept_fn accept, void *ctx)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
	l->lfd = fd;
	l->accept = accept;
	l->accept_ctx = ctx;
	return 0;
}

struct conn *tls_tsock_connect(struct tls_tsock_loop *l, uint16_t port,
			       const struct conn_handler *h, void *ctx)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return NULL;
	}
	struct tsock *s = ts_new(l, fd);
	if (!s) {
		close(fd);
		return NULL;
	}
	conn_set_handler(&s->conn, h, ctx);
	return &s->conn;
}

static void ts_accept(struct tls_tsock_loop *l)
{
	int fd;
	while ((fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct tsock *s = ts_new(l, fd);
		if (!s) {
			close(fd);
			continue;
		}
		if (l->accept(l->accept_ctx, &s->conn) != 0 || !s->conn.handler) {
			s->conn.handler = NULL;
			s->dead = s->closing = true;
		}
	}
}

static void ts_read(struct tsock *s)
{
	while (!s->paused && !s->eof_in && !s->dead && s->rx_len < TS_RX_CAP) {
		ssize_t n = recv(s->fd, s->rx + s->rx_len, TS_RX_CAP - s->rx_len, 0);
		if (n > 0) {
			s->rx_len += (size_t)n;
			break;
		}
		if (n == 0)
			s->eof_in = true;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN)
			s->dead = true, s->why = errno == ECONNRESET ? CONN_CLOSED_RESET : CONN_CLOSED_PEER;
		break;
	}
}

/* Runs the callbacks one conn is due; returns true when the conn must be freed. */
static bool ts_service(struct tsock *s)
{
	const struct conn_handler *h = s->conn.handler;
	if (!h)
		return true;
	if (s->rx_len > 0 && !s->paused && !s->closing && !s->dead) {
		size_t used = h->on_data(s->conn.handler_ctx, &s->conn, s->rx, s->rx_len);
		h = s->conn.handler;
		if (!h)
			return true;
		if (used > s->rx_len)
			used = s->rx_len;
		memmove(s->rx, s->rx + used, s->rx_len - used);
		s->rx_len -= used;
		if (s->rx_len > 0)
			s->paused = true;
	}
	if (s->eof_in && s->rx_len == 0 && !s->eof_told && !s->closing && !s->dead) {
		s->eof_told = true;
		if (h->on_eof)
			h->on_eof(s->conn.handler_ctx, &s->conn);
		if (!(h = s->conn.handler))
			return true;
	}
	if (s->want_sendable && s->tx_len < TS_TX_LIMIT / 2 && !s->closing && !s->dead) {
		s->want_sendable = false;
		if (h->on_sendable)
			h->on_sendable(s->conn.handler_ctx, &s->conn);
		if (!(h = s->conn.handler))
			return true;
	}
	if (s->dead || (s->closing && s->tx_len == 0)) {
		enum conn_close_reason why = s->dead ? s->why : CONN_CLOSED_LOCAL;
		s->conn.handler = NULL;
		h->on_closed(s->conn.handler_ctx, &s->conn, why);
		return true;
	}
	ts_events(s);
	return false;
}

void tls_tsock_loop_run(struct tls_tsock_loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct tsock *s = evs[i].data.ptr;
		if (!s) {
			ts_accept(l);
			continue;
		}
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			ts_read(s);
		if (evs[i].events & EPOLLOUT)
			ts_write(s);
	}
	for (struct tsock **pp = &l->conns; *pp;) {
		struct tsock *s = *pp;
		if (ts_service(s)) {
			*pp = s->next;
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
			close(s->fd);
			free(s->tx);
			free(s);
			l->n--;
			continue;
		}
		pp = &s->next;
	}
}
