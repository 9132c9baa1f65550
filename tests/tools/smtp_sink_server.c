/* SPDX-License-Identifier: MIT */
/*
 * smtp_sink_server.c: a test driver that runs the SMTP server engine over kernel sockets, so
 * real clients (swaks, python smtplib, postfix smtp-source) can talk to it. One poll() loop,
 * non-blocking sockets, one engine session per connection. Relay is allowed for clients in
 * 127.0.0.0/8 only (others get the engine's default 554 5.7.1). Each accepted message is
 * written to DIR/<id>.eml (the exact octets handed up by the engine) with its envelope in
 * DIR/<id>.env; the .env is written first and the .eml renamed into place last, so a reader
 * that sees the .eml sees both. The answer is "250 2.0.0 Ok: queued as <id>".
 *
 *   smtp_sink_server -p PORT -d DIR [-n] [-m MAXSIZE]
 *     -n  newline policy "normalise" (default: reject bare CR/LF)
 * Stops on SIGTERM/SIGINT. A test tool: it reads the clock itself and may block on disk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp/smtp.h"

#define MAX_CONNS 256
#define IN_BUF (64 * 1024)

struct sink_conn {
	int fd;
	struct sockaddr_in peer;
	struct smtp_server_session s;
	FILE *msg;
	char tmp[512];
	char env[16384];
	size_t env_len;
	size_t in_len;
	uint8_t in[IN_BUF];
};

struct sink {
	const char *dir;
	struct smtp_limits lim;
	struct smtp_server_hooks hooks;
	unsigned long seq;
	struct sink_conn *conns[MAX_CONNS];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct sink *G; /* test tool: one sink per process */

static void env_add(struct sink_conn *c, const char *a, const char *b, const char *d)
{
	int n = snprintf(c->env + c->env_len, sizeof(c->env) - c->env_len, "%s%s%s\n", a, b, d);
	if (n > 0 && (size_t)n < sizeof(c->env) - c->env_len)
		c->env_len += (size_t)n;
}

static void hk_mail(void *ctx, struct smtp_server_session *s, const struct smtp_mail *m,
		    struct smtp_verdict *v)
{
	struct sink_conn *c = ctx;
	char p[400];

	snprintf(p, sizeof(p), " size=%llu body=%d smtputf8=%d ret=%d envid=%s requiretls=%d",
		 (unsigned long long)m->size, m->body, m->smtputf8, m->ret, m->envid, m->requiretls);
	c->env_len = 0;
	env_add(c, "MAIL FROM:<", m->from.addr, ">");
	env_add(c, "PARAMS", p, "");
}

static void hk_rcpt(void *ctx, struct smtp_server_session *s, const struct smtp_rcpt *r,
		    struct smtp_verdict *v)
{
	struct sink_conn *c = ctx;
	char p[700];

	if ((ntohl(c->peer.sin_addr.s_addr) >> 24) != 127)
		return; /* default deny stays */
	*v = (struct smtp_verdict){ 250, "2.1.5", "Ok" };
	snprintf(p, sizeof(p), "> notify=%u orcpt=%s;%s", r->notify, r->orcpt_type, r->orcpt);
	env_add(c, "RCPT TO:<", r->to.addr, p);
}

static void hk_data_begin(void *ctx, struct smtp_server_session *s, struct smtp_verdict *v)
{
	struct sink_conn *c = ctx;

	snprintf(c->tmp, sizeof(c->tmp), "%s/.tmp.%d.%lu", G->dir, c->fd, ++G->seq);
	c->msg = fopen(c->tmp, "wb");
	if (!c->msg)
		*v = (struct smtp_verdict){ 451, "4.3.0", "Error: cannot create queue file" };
}

static void hk_chunk(void *ctx, struct smtp_server_session *s, const uint8_t *p, size_t n)
{
	struct sink_conn *c = ctx;

	if (c->msg)
		fwrite(p, 1, n, c->msg);
}

static void hk_abort(void *ctx, struct smtp_server_session *s, enum smtp_data_error why)
{
	struct sink_conn *c = ctx;

	if (c->msg) {
		fclose(c->msg);
		c->msg = NULL;
		unlink(c->tmp);
	}
}

static void hk_data_end(void *ctx, struct smtp_server_session *s)
{
	struct sink_conn *c = ctx;
	char id[32], path[600], text[64];
	struct smtp_verdict v = { 250, "2.0.0", text };

	snprintf(id, sizeof(id), "Q%06lu", ++G->seq);
	snprintf(text, sizeof(text), "Ok: queued as %s", id);
	bool ok = c->msg && fflush(c->msg) == 0 && !ferror(c->msg);
	if (c->msg)
		fclose(c->msg);
	c->msg = NULL;
	snprintf(path, sizeof(path), "%s/%s.env", G->dir, id);
	FILE *e = ok ? fopen(path, "w") : NULL;
	ok = e && fwrite(c->env, 1, c->env_len, e) == c->env_len;
	if (e)
		ok = fclose(e) == 0 && ok;
	snprintf(path, sizeof(path), "%s/%s.eml", G->dir, id);
	if (!ok || rename(c->tmp, path) != 0) {
		unlink(c->tmp);
		v = (struct smtp_verdict){ 451, "4.3.0", "Error: queue file write error" };
	}
	smtp_server_data_result(s, &v);
}

/* Writes what the engine has; returns -1 when the peer is gone. */
static int conn_write(struct sink_conn *c)
{
	size_t n;
	const char *o = smtp_server_output(&c->s, &n);

	while (n) {
		ssize_t w = send(c->fd, o, n, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		smtp_server_output_consume(&c->s, (size_t)w);
		o = smtp_server_output(&c->s, &n);
	}
	return 0;
}

static void hk_flush(void *ctx, struct smtp_server_session *s)
{
	conn_write(ctx);
}

static void conn_free(struct sink *k, int i)
{
	struct sink_conn *c = k->conns[i];

	smtp_server_peer_closed(&c->s);
	close(c->fd);
	free(c);
	k->conns[i] = NULL;
}

static void conn_accept(struct sink *k, int lfd)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CONNS; i++) {
		if (k->conns[i])
			continue;
		struct sink_conn *c = calloc(1, sizeof(*c));
		if (!c)
			break;
		c->fd = fd;
		c->peer = peer;
		k->conns[i] = c;
		smtp_server_init(&c->s, &k->lim, &k->hooks, c, "sink.test");
		smtp_server_start(&c->s, now_us(), NULL);
		conn_write(c);
		return;
	}
	close(fd);
}

/* Reads and feeds the engine. Returns -1 when the connection is to be dropped. */
static int conn_read(struct sink_conn *c)
{
	ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (r > 0)
		c->in_len += (size_t)r;
	while (c->in_len) {
		size_t n = smtp_server_input(&c->s, c->in, c->in_len, now_us());
		memmove(c->in, c->in + n, c->in_len - n);
		c->in_len -= n;
		if (conn_write(c) < 0)
			return -1;
		if (n == 0)
			break; /* output not drained (peer slow): wait for POLLOUT */
	}
	return 0;
}

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "smtp_sink_server: cannot listen on 127.0.0.1:%d: %s\n", port,
			strerror(errno));
		exit(1);
	}
	return fd;
}

static void loop(struct sink *k, int lfd)
{
	struct pollfd pfd[MAX_CONNS + 1];
	int idx[MAX_CONNS + 1];

	while (!stop) {
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++) {
			struct sink_conn *c = k->conns[i];
			if (!c)
				continue;
			size_t ol;
			smtp_server_output(&c->s, &ol);
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = (short)(POLLIN | (ol ? POLLOUT : 0)) };
		}
		if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			conn_accept(k, lfd);
		for (int j = 1; j < n; j++) {
			struct sink_conn *c = k->conns[idx[j]];
			int bad = 0;
			if (pfd[j].revents & (POLLOUT))
				bad = conn_write(c) < 0 || conn_read(c) < 0;
			if (!bad && (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)))
				bad = conn_read(c) < 0;
			smtp_server_tick(&c->s, now_us());
			size_t ol;
			smtp_server_output(&c->s, &ol);
			if (bad || (smtp_server_want_close(&c->s) && ol == 0))
				conn_free(k, idx[j]);
		}
	}
}

int main(int argc, char **argv)
{
	static struct sink k;
	int port = 0, opt;

	smtp_limits_defaults(&k.lim);
	while ((opt = getopt(argc, argv, "p:d:nm:")) != -1) {
		if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 'd')
			k.dir = optarg;
		else if (opt == 'n')
			k.lim.newline = SMTP_NL_NORMALISE;
		else if (opt == 'm')
			k.lim.message_max = strtoull(optarg, NULL, 10);
	}
	if (!port || !k.dir) {
		fprintf(stderr, "usage: smtp_sink_server -p PORT -d DIR [-n] [-m MAXSIZE]\n");
		return 2;
	}
	G = &k;
	k.hooks = (struct smtp_server_hooks){
		.mail = hk_mail,
		.rcpt = hk_rcpt,
		.data_begin = hk_data_begin,
		.data_chunk = hk_chunk,
		.data_end = hk_data_end,
		.data_abort = hk_abort,
		.flush = hk_flush,
	};
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	int lfd = listen_on(port);
	fprintf(stderr, "smtp_sink_server: listening on 127.0.0.1:%d dir=%s\n", port, k.dir);
	loop(&k, lfd);
	for (int i = 0; i < MAX_CONNS; i++)
		if (k.conns[i])
			conn_free(&k, i);
	close(lfd);
	return 0;
}
