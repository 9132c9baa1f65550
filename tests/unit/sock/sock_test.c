/* SPDX-License-Identifier: MIT */
/*
 * sock_test.c: the posix backend of the conn API on loopback: echo, backpressure with a big
 * send, half-close, graceful close after the queue drains, abort seen as RST by the peer,
 * connect refused, accept refusal and the conn limit, many connections at once.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sock/sock.h"

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One endpoint's view: what arrived, what happened. */
struct peer {
	struct conn *c;
	uint8_t *in;
	size_t in_len, in_cap;
	int connected, eof, sendable, closed;
	enum conn_close_reason why;
	/* behaviour */
	int echo;              /* send back what arrives */
	size_t take_max;       /* consume at most this per on_data (0 = all) */
	int paused;            /* last on_data left bytes */
	const uint8_t *out;    /* pending bulk output */
	size_t out_len, out_off;
	int close_after_out;   /* conn_close once out is queued */
	int close_on_eof;
};

static void peer_push_out(struct peer *p)
{
	while (p->out && p->out_off < p->out_len) {
		ssize_t n = conn_send(p->c, p->out + p->out_off, p->out_len - p->out_off);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			return;
		p->out_off += (size_t)n;
	}
	if (p->out && p->close_after_out) {
		p->close_after_out = 0;
		conn_close(p->c);
	}
}

static void on_connected(void *ctx, struct conn *c)
{
	struct peer *p = ctx;
	p->c = c;
	p->connected++;
	peer_push_out(p);
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct peer *p = ctx;
	ck_assert_uint_gt(len, 0);
	size_t take = len;
	if (p->take_max && take > p->take_max)
		take = p->take_max;
	if (p->echo) {
		ssize_t n = conn_send(c, d, take);
		ck_assert_int_ge(n, 0);
		take = (size_t)n;
	}
	if (p->in_len + take > p->in_cap) {
		p->in_cap = (p->in_len + take) * 2;
		p->in = realloc(p->in, p->in_cap);
	}
	memcpy(p->in + p->in_len, d, take);
	p->in_len += take;
	p->paused = take < len;
	return take;
}

static void on_eof(void *ctx, struct conn *c)
{
	struct peer *p = ctx;
	p->eof++;
	if (p->close_on_eof)
		conn_close(c);
}

static void on_sendable(void *ctx, struct conn *c)
{
	struct peer *p = ctx;
	p->sendable++;
	if (p->echo && p->paused)
		conn_resume_read(c);
	peer_push_out(p);
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct peer *p = ctx;
	p->closed++;
	p->why = why;
	p->c = NULL;
}

static const struct conn_handler handler = {
	.on_connected = on_connected, .on_data = on_data, .on_eof = on_eof,
	.on_sendable = on_sendable, .on_closed = on_closed,
};

/* The server side: each accepted conn gets the next peer of a table. */
struct server {
	struct peer *peers;
	int n, max;
	int refuse;
	struct peer tmpl;
};

static int accept_cb(void *ctx, struct conn *c)
{
	struct server *s = ctx;
	if (s->refuse || s->n == s->max)
		return -1;
	struct peer *p = &s->peers[s->n++];
	*p = s->tmpl;
	p->c = c;
	conn_set_handler(c, &handler, p);
	return 0;
}

static struct sock_net *net;
static struct server srv;
static uint16_t port;

static void setup_net(uint32_t max_conns, uint32_t buf_bytes)
{
	struct sock_tunables t;
	sock_tunables_defaults(&t);
	t.max_conns = max_conns;
	t.buf_bytes = buf_bytes;
	int err = 0;
	net = sock_net_create(&t, &err);
	ck_assert_ptr_nonnull(net);
	memset(&srv, 0, sizeof(srv));
	srv.max = 600;
	srv.peers = calloc((size_t)srv.max, sizeof(*srv.peers));
	struct conn_addr a = { .family = AF_INET, .port = 0 };
	inet_pton(AF_INET, "127.0.0.1", &a.ip.v4);
	int r = sock_net_listen_addr(net, &a, accept_cb, &srv);
	ck_assert_int_gt(r, 0);
	port = (uint16_t)r;
}

static void setup(void) { setup_net(1024, 64 * 1024); }

static void teardown(void)
{
	sock_net_free(net);
	for (int i = 0; i < srv.n; i++)
		free(srv.peers[i].in);
	free(srv.peers);
}

/* Runs loop turns until *flag reaches want (or 10 s pass). */
static int run_until(const int *flag, int want)
{
	uint64_t end = now_us() + 10 * 1000000u;
	while (*flag < want && now_us() < end)
		ck_assert_int_ge(sock_net_poll(net, now_us(), 10), 0);
	return *flag >= want;
}

static struct conn *dial(struct peer *p, uint16_t to_port)
{
	struct conn_addr dst = { .family = AF_INET, .port = htons(to_port) };
	inet_pton(AF_INET, "127.0.0.1", &dst.ip.v4);
	struct conn_addr src = { .family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &src.ip.v4);
	int err = 0;
	struct conn *c = sock_net_connect(net, &dst, &src, &handler, p, &err);
	ck_assert_msg(c != NULL, "connect err=%d", err);
	p->c = c;
	return c;
}

START_TEST(test_echo)
{
	srv.tmpl.echo = 1;
	struct peer cl = { 0 };
	static const uint8_t msg[] = "EHLO example.test\r\n";
	cl.out = msg;
	cl.out_len = sizeof(msg) - 1;
	dial(&cl, port);
	ck_assert_int_eq(conn_send(cl.c, "x", 1), -ENOTCONN); /* not yet established */
	ck_assert(run_until(&cl.connected, 1));
	ck_assert(run_until((int *)&cl.in_len, (int)cl.out_len));
	ck_assert_mem_eq(cl.in, msg, cl.out_len);
	ck_assert_str_eq(cl.c->ops->name, "sock");
	char buf[64], want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	ck_assert_str_eq(conn_addr_str(&cl.c->remote, buf, sizeof(buf)), want);
	conn_close(cl.c);
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.why, CONN_CLOSED_LOCAL);
	ck_assert(run_until(&srv.peers[0].eof, 1));
	struct sock_stats st = sock_net_stats(net);
	ck_assert_uint_eq(st.accepted, 1);
	ck_assert_uint_eq(st.connected, 1);
	free(cl.in);
}
END_TEST

/* 8 MiB through a 16 KiB send block to a reader that takes 1000 bytes per offer and pauses:
 * the sender sees short sends and on_sendable, every byte arrives in order. */
/* The idle wait: loop turns made of sock_net_wait (blocking) + sock_net_poll(0) carry an echo
 * exchange; a wait with nothing ready returns after about max_us; a wakeup fd (an eventfd
 * here, the spool's io_uring in dpmaild) ends it early and is never dispatched as a conn. */
static int run_until_waiting(const int *flag, int want)
{
	uint64_t end = now_us() + 10 * 1000000u;
	while (*flag < want && now_us() < end) {
		sock_net_wait(net, 20000);
		ck_assert_int_ge(sock_net_poll(net, now_us(), 0), 0);
	}
	return *flag >= want;
}

START_TEST(test_idle_wait)
{
	srv.tmpl.echo = 1;
	struct peer cl = { 0 };
	static const uint8_t msg[] = "NOOP\r\n";
	cl.out = msg;
	cl.out_len = sizeof(msg) - 1;
	dial(&cl, port);
	ck_assert(run_until_waiting(&cl.connected, 1));
	ck_assert(run_until_waiting((int *)&cl.in_len, (int)cl.out_len));
	ck_assert_mem_eq(cl.in, msg, cl.out_len);
	/* nothing pending: the wait times out (about 30 ms, not at once, not forever) */
	for (int i = 0; i < 5; i++)
		sock_net_poll(net, now_us(), 0);
	uint64_t t0 = now_us();
	ck_assert_int_eq(sock_net_wait(net, 30000), 0);
	uint64_t waited = now_us() - t0;
	ck_assert_uint_ge(waited, 25000);
	ck_assert_uint_lt(waited, 2000000);
	/* a wakeup fd ends the wait early */
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(sock_net_watch_wakeup(net, efd), 0);
	uint64_t one = 1;
	ck_assert_int_eq(write(efd, &one, sizeof(one)), (int)sizeof(one));
	t0 = now_us();
	ck_assert_int_eq(sock_net_wait(net, 2000000), 1);
	ck_assert_uint_lt(now_us() - t0, 1000000);
	ck_assert_int_eq(sock_net_poll(net, now_us(), 0), 1); /* seen, ignored */
	conn_close(cl.c);
	ck_assert(run_until_waiting(&cl.closed, 1));
	close(efd);
	free(cl.in);
}
END_TEST

START_TEST(test_backpressure_big_send)
{
	teardown();
	setup_net(64, 16 * 1024);
	const size_t total = 8u << 20;
	uint8_t *big = malloc(total);
	for (size_t i = 0; i < total; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 13));
	srv.tmpl.take_max = 1000;
	struct peer cl = { .out = big, .out_len = total, .close_after_out = 1 };
	dial(&cl, port);
	uint64_t end = now_us() + 20 * 1000000u;
	while ((srv.n == 0 || srv.peers[0].in_len < total) && now_us() < end) {
		ck_assert_int_ge(sock_net_poll(net, now_us(), 10), 0);
		if (srv.n && srv.peers[0].paused) {
			srv.peers[0].paused = 0;
			conn_resume_read(srv.peers[0].c);
		}
	}
	ck_assert_uint_eq(srv.peers[0].in_len, total);
	ck_assert(memcmp(srv.peers[0].in, big, total) == 0);
	ck_assert_int_gt(cl.sendable, 0);
	ck_assert(run_until(&srv.peers[0].eof, 1));
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.why, CONN_CLOSED_LOCAL);
	free(big);
	free(cl.in);
}
END_TEST

/* The client half-closes; the server still answers, then closes: the client sees the answer,
 * EOF and on_closed(PEER). */
START_TEST(test_half_close)
{
	struct peer cl = { 0 };
	dial(&cl, port);
	ck_assert(run_until(&cl.connected, 1));
	ck_assert_int_eq(conn_send(cl.c, "QUIT\r\n", 6), 6);
	conn_shutdown(cl.c);
	ck_assert_int_eq(conn_send(cl.c, "x", 1), -ENOTCONN);
	ck_assert(run_until(&srv.n, 1));
	struct peer *sp = &srv.peers[0];
	ck_assert(run_until(&sp->eof, 1));
	ck_assert_uint_eq(sp->in_len, 6);
	ck_assert_int_eq(conn_send(sp->c, "221 bye\r\n", 9), 9); /* we may still send */
	conn_close(sp->c);
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.eof, 1);
	ck_assert_uint_eq(cl.in_len, 9);
	ck_assert_int_eq(cl.why, CONN_CLOSED_PEER);
	ck_assert(run_until(&sp->closed, 1));
	ck_assert_int_eq(sp->why, CONN_CLOSED_LOCAL);
	free(cl.in);
}
END_TEST

/* A graceful close queued behind 1 MiB: everything arrives before EOF. */
START_TEST(test_close_drains_queue)
{
	const size_t total = 1u << 20;
	uint8_t *big = malloc(total);
	for (size_t i = 0; i < total; i++)
		big[i] = (uint8_t)(i % 251);
	srv.tmpl.out = big;
	srv.tmpl.out_len = total;
	srv.tmpl.close_after_out = 1;
	struct peer cl = { 0 };
	dial(&cl, port);
	ck_assert(run_until(&cl.eof, 1));
	ck_assert_uint_eq(cl.in_len, total);
	ck_assert(memcmp(cl.in, big, total) == 0);
	ck_assert(run_until(&srv.peers[0].closed, 1));
	ck_assert_int_eq(srv.peers[0].why, CONN_CLOSED_LOCAL);
	conn_close(cl.c);
	ck_assert(run_until(&cl.closed, 1));
	free(big);
	free(cl.in);
}
END_TEST

/* conn_abort: on_closed(LOCAL) before it returns; the peer (ours and a plain socket) sees RST. */
START_TEST(test_abort_rst)
{
	struct peer cl = { 0 };
	dial(&cl, port);
	ck_assert(run_until(&srv.n, 1));
	ck_assert(run_until(&cl.connected, 1));
	struct peer *sp = &srv.peers[0];
	conn_send(sp->c, "data", 4);
	conn_abort(sp->c);
	ck_assert_int_eq(sp->closed, 1);
	ck_assert_int_eq(sp->why, CONN_CLOSED_LOCAL);
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.why, CONN_CLOSED_RESET);

	/* a kernel socket as the peer */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert(run_until(&srv.n, 2));
	conn_abort(srv.peers[1].c);
	char b[8];
	ssize_t r = recv(fd, b, sizeof(b), 0);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, ECONNRESET);
	close(fd);
}
END_TEST

START_TEST(test_connect_refused)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd); /* a port nobody listens on */
	struct peer cl = { 0 };
	dial(&cl, ntohs(sa.sin_port));
	ck_assert_int_eq(cl.closed, 0); /* reported from poll, never from connect() */
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.why, CONN_CLOSED_REFUSED);
	ck_assert_int_eq(cl.connected, 0);
	ck_assert_uint_eq(sock_net_stats(net).closed[CONN_CLOSED_REFUSED], 1);
}
END_TEST

/* An active open that never completes (the peer's accept queue is full, so the kernel drops our
 * SYNs) ends with TIMEOUT once the virtual clock passes connect_timeout_ms. */
START_TEST(test_connect_timeout_virtual_clock)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 0), 0); /* room for one pending connection, never accepted */
	socklen_t sl = sizeof(sa);
	getsockname(l, (struct sockaddr *)&sa, &sl);
	int filler[2];
	for (int i = 0; i < 2; i++) {
		filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(filler[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	struct peer cl = { 0 };
	uint64_t t = now_us();
	sock_net_poll(net, t, 0);
	dial(&cl, ntohs(sa.sin_port));
	for (int i = 0; i < 20 && !cl.closed; i++)
		sock_net_poll(net, t, 5); /* arms the deadline; the SYN goes unanswered */
	ck_assert_int_eq(cl.connected, 0);
	ck_assert_int_eq(cl.closed, 0);
	sock_net_poll(net, t + 31 * 1000000u, 0); /* 31 s later on the virtual clock */
	ck_assert_int_eq(cl.closed, 1);
	ck_assert_int_eq(cl.why, CONN_CLOSED_TIMEOUT);
	for (int i = 0; i < 2; i++)
		close(filler[i]);
	close(l);
}
END_TEST

/* The accept callback refusing and the conn limit: the peer sees its connection reset. */
START_TEST(test_accept_refused_and_limit)
{
	srv.refuse = 1;
	struct peer cl = { 0 };
	dial(&cl, port);
	ck_assert(run_until(&cl.closed, 1));
	ck_assert_int_eq(cl.why, CONN_CLOSED_RESET);
	ck_assert_uint_eq(sock_net_stats(net).accept_refused, 1);
	teardown();
	setup_net(2, 4096); /* one client + its server side fill it */
	struct peer a = { 0 }, b = { 0 };
	dial(&a, port);
	ck_assert(run_until(&srv.n, 1));
	int err = 0;
	struct conn_addr dst = { .family = AF_INET, .port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &dst.ip.v4);
	ck_assert_ptr_null(sock_net_connect(net, &dst, NULL, &handler, &b, &err));
	ck_assert_int_eq(err, -ENOBUFS);
}
END_TEST

/*
 * conn_flush() outside a poll (as the TLS layer does at the end of the loop turn) writes at
 * the next flush point: the idle wait writes first and then finds the echoes' readiness
 * instead of blocking; queues of batch_min or more conns go as one io_uring submission (one
 * send each without batching), byte-exact either way.
 */
static void flush_round(uint32_t batch_min)
{
	enum { N = 8 };
	teardown();
	struct sock_tunables t;
	sock_tunables_defaults(&t);
	t.batch_min = batch_min;
	int err = 0;
	net = sock_net_create(&t, &err);
	ck_assert_ptr_nonnull(net);
	memset(&srv, 0, sizeof(srv));
	srv.max = N;
	srv.peers = calloc(N, sizeof(*srv.peers));
	srv.tmpl.echo = 1;
	struct conn_addr a = { .family = AF_INET, .port = 0 };
	inet_pton(AF_INET, "127.0.0.1", &a.ip.v4);
	port = (uint16_t)sock_net_listen_addr(net, &a, accept_cb, &srv);
	static struct peer cls[N];
	static char msgs[N][32];
	memset(cls, 0, sizeof(cls));
	int connected = 0;
	for (int i = 0; i < N; i++)
		dial(&cls[i], port);
	uint64_t end = now_us() + 10 * 1000000u;
	while ((connected < N || srv.n < N) && now_us() < end) {
		sock_net_poll(net, now_us(), 10);
		connected = 0;
		for (int i = 0; i < N; i++)
			connected += cls[i].connected;
	}
	ck_assert_int_eq(srv.n, N);
	struct sock_stats before = sock_net_stats(net);
	for (int i = 0; i < N; i++) {
		int len = snprintf(msgs[i], sizeof(msgs[i]), "RCPT TO:<u%d@example.test>\r\n", i);
		ck_assert_int_eq(conn_send(cls[i].c, msgs[i], (size_t)len), len);
		conn_flush(cls[i].c);
	}
	uint64_t t0 = now_us();
	ck_assert_int_gt(sock_net_wait(net, 2000000), 0); /* written, so the echo side is readable */
	ck_assert_uint_lt(now_us() - t0, 1000000);
	struct sock_stats st = sock_net_stats(net);
	ck_assert_uint_eq(st.writes - before.writes, N);
	if (batch_min && st.batch_on) {
		ck_assert_uint_eq(st.batches - before.batches, 1);
		ck_assert_uint_eq(st.batched_sends - before.batched_sends, N);
	} else {
		ck_assert_uint_eq(st.batches, 0);
	}
	int done = 0;
	end = now_us() + 10 * 1000000u;
	while (done < N && now_us() < end) {
		sock_net_wait(net, 20000);
		sock_net_poll(net, now_us(), 0);
		done = 0;
		for (int i = 0; i < N; i++)
			done += cls[i].in_len == strlen(msgs[i]);
	}
	ck_assert_int_eq(done, N);
	for (int i = 0; i < N; i++) {
		ck_assert_mem_eq(cls[i].in, msgs[i], cls[i].in_len);
		free(cls[i].in);
		/* accept order need not be dial order: each server conn got one whole line */
		ck_assert_uint_gt(srv.peers[i].in_len, 10);
		ck_assert_mem_eq(srv.peers[i].in, "RCPT TO:<u", 10);
		ck_assert_mem_eq(srv.peers[i].in + srv.peers[i].in_len - 2, "\r\n", 2);
	}
}

START_TEST(test_flush_batched)
{
	flush_round(3);
}
END_TEST

START_TEST(test_flush_unbatched)
{
	flush_round(0);
}
END_TEST

/* 250 clients echo at once through one net (500 sockets). */
START_TEST(test_many_connections)
{
	enum { N = 250 };
	srv.tmpl.echo = 1;
	srv.tmpl.close_on_eof = 1;
	static struct peer cls[N];
	static char msgs[N][32];
	memset(cls, 0, sizeof(cls));
	for (int i = 0; i < N; i++) {
		int len = snprintf(msgs[i], sizeof(msgs[i]), "hello %d\r\n", i);
		cls[i].out = (const uint8_t *)msgs[i];
		cls[i].out_len = (size_t)len;
		dial(&cls[i], port);
	}
	uint64_t end = now_us() + 10 * 1000000u;
	int done = 0;
	while (done < N && now_us() < end) {
		ck_assert_int_ge(sock_net_poll(net, now_us(), 10), 0);
		done = 0;
		for (int i = 0; i < N; i++)
			done += cls[i].in_len == cls[i].out_len;
	}
	ck_assert_int_eq(done, N);
	for (int i = 0; i < N; i++) {
		ck_assert_mem_eq(cls[i].in, msgs[i], cls[i].out_len);
		conn_close(cls[i].c);
	}
	end = now_us() + 10 * 1000000u;
	while (sock_net_stats(net).conns_open > 0 && now_us() < end)
		sock_net_poll(net, now_us(), 10);
	struct sock_stats st = sock_net_stats(net);
	ck_assert_uint_eq(st.conns_open, 0);
	ck_assert_uint_eq(st.accepted, N);
	ck_assert_uint_eq(st.bufs_in_use, 0);
	for (int i = 0; i < N; i++)
		free(cls[i].in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sock");
	TCase *tc = tcase_create("loopback");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_echo);
	tcase_add_test(tc, test_idle_wait);
	tcase_add_test(tc, test_backpressure_big_send);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_close_drains_queue);
	tcase_add_test(tc, test_abort_rst);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_connect_timeout_virtual_clock);
	tcase_add_test(tc, test_accept_refused_and_limit);
	tcase_add_test(tc, test_many_connections);
	tcase_add_test(tc, test_flush_batched);
	tcase_add_test(tc, test_flush_unbatched);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
