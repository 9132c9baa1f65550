/* SPDX-License-Identifier: MIT */
/*
 * smtp_send.c: a test driver that runs the SMTP client engine over a kernel socket, to test it
 * against real servers (postfix smtp-sink, python aiosmtpd, our sink). Sends one file N times
 * on one connection (RSET between messages), streaming the body through the engine's pull
 * hook, then QUIT and waits for the server's close. Prints one line per result:
 *   rcpt <idx> <code> <ecode> <text>  /  msg <code> <ecode> <text>  /  done <code> ...
 * Exit status 0 when every message got 2xx.
 *
 *   smtp_send -s 127.0.0.1:PORT -f FROM -t TO [-t TO...] -F FILE [-n COUNT] [-B] [-8] [-u]
 *     -B  never use BDAT; -8 the message needs 8BITMIME; -u it needs SMTPUTF8
 * Loopback only: the address must be in 127.0.0.0/8.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp/smtp.h"

struct sender {
	int fd;
	struct smtp_client_session c;
	FILE *body;
	const char *file;
	struct smtp_client_msg msg;
	int left, failed;
	bool done;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void hk_ready(void *ctx, struct smtp_client_session *c)
{
	struct sender *s = ctx;

	if (s->left-- > 0) {
		s->body = fopen(s->file, "rb");
		if (!s->body) {
			perror(s->file);
			exit(2);
		}
		smtp_client_send(c, &s->msg);
	} else {
		smtp_client_quit(c);
	}
}

static long hk_body(void *ctx, struct smtp_client_session *c, uint8_t *buf, size_t cap)
{
	struct sender *s = ctx;
	size_t n = fread(buf, 1, cap, s->body);

	return ferror(s->body) ? -EIO : (long)n;
}

static void show(const char *what, long idx, const struct smtp_reply *r)
{
	if (idx >= 0)
		printf("%s %ld %u %s %s\n", what, idx, r->code, r->ecode[0] ? r->ecode : "-", r->text);
	else
		printf("%s %u %s %s\n", what, r->code, r->ecode[0] ? r->ecode : "-", r->text);
	fflush(stdout);
}

static void hk_rcpt(void *ctx, struct smtp_client_session *c, uint32_t i, const struct smtp_reply *r)
{
	show("rcpt", (long)i, r);
}

static void hk_msg(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	struct sender *s = ctx;

	show("msg", -1, r);
	if (r->code < 200 || r->code >= 300)
		s->failed++;
	if (s->body)
		fclose(s->body);
	s->body = NULL;
}

static void hk_done(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	struct sender *s = ctx;

	show("done", -1, r);
	s->done = true;
	if (r->code != 221)
		s->failed++;
}

/* Sends what the engine has; returns -1 on a dead socket. */
static int pump_out(struct sender *s)
{
	for (;;) {
		size_t n;
		const char *o = smtp_client_output(&s->c, &n);
		if (!n)
			return 0;
		ssize_t w = send(s->fd, o, n, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		smtp_client_output_consume(&s->c, (size_t)w);
	}
}

static int connect_to(const char *hp)
{
	char host[64];
	const char *colon = strrchr(hp, ':');
	struct sockaddr_in a = { .sin_family = AF_INET };

	if (!colon || (size_t)(colon - hp) >= sizeof(host))
		return -1;
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "smtp_send: loopback addresses only\n");
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		return -1;
	}
	return fd;
}

static void run(struct sender *s)
{
	uint8_t buf[16384];
	bool eof = false;

	while (!eof) {
		if (pump_out(s) < 0)
			break;
		size_t pending;
		smtp_client_output(&s->c, &pending);
		struct pollfd p = { .fd = s->fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0)) };
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			break;
		smtp_client_tick(&s->c, now_us());
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			eof = true; /* after QUIT: the server's close we wait for */
			smtp_client_peer_closed(&s->c);
			break;
		}
		smtp_client_input(&s->c, buf, (size_t)r, now_us());
	}
}

int main(int argc, char **argv)
{
	static struct sender s;
	static const char *rcpts[64];
	struct smtp_client_limits lim;
	const char *server = NULL;
	int opt;

	smtp_client_limits_defaults(&lim);
	s.left = 1;
	while ((opt = getopt(argc, argv, "s:f:t:F:n:B8u")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'f': s.msg.from = optarg; break;
		case 't': if (s.msg.nrcpt < 64) rcpts[s.msg.nrcpt++] = optarg; break;
		case 'F': s.file = optarg; break;
		case 'n': s.left = atoi(optarg); break;
		case 'B': lim.use_bdat = false; break;
		case '8': s.msg.needs_8bit = true; break;
		case 'u': s.msg.needs_smtputf8 = true; break;
		default: return 2;
		}
	}
	if (!server || !s.msg.from || !s.msg.nrcpt || !s.file) {
		fprintf(stderr, "usage: smtp_send -s HOST:PORT -f FROM -t TO -F FILE [-n N] [-B] [-8] [-u]\n");
		return 2;
	}
	s.msg.rcpts = rcpts;
	s.fd = connect_to(server);
	if (s.fd < 0)
		return 2;
	static const struct smtp_client_hooks hooks = {
		.ready = hk_ready, .body_read = hk_body, .rcpt_result = hk_rcpt,
		.msg_result = hk_msg, .done = hk_done,
	};
	smtp_client_init(&s.c, &lim, &hooks, &s, "sender.test", SMTP_TLS_NONE, false, now_us());
	run(&s);
	close(s.fd);
	if (!s.done)
		s.failed++;
	return s.failed ? 1 : 0;
}
