/* SPDX-License-Identifier: MIT */
/*
 * tls_smtp_server.c: a minimal SMTP server with STARTTLS over crypto/tls, for the integration
 * tests (openssl s_client -starttls smtp, swaks --tls, testssl.sh). Not the real SMTP engine:
 * just enough ESMTP for those peers: 220, EHLO/HELO, STARTTLS, MAIL, RCPT, DATA, RSET, NOOP,
 * QUIT, over the posix conn backend (dataplane/sock). It follows the rules the real engine must follow around STARTTLS: input buffered
 * behind the STARTTLS line is discarded (CVE-2011-0411), the envelope is reset, and after the
 * handshake only decrypted bytes are commands.
 *
 *   tls_smtp_server -p PORT -d CERTDIR [-s STATSFILE] [-t HS_TIMEOUT_MS] [-i]
 *     PORT 0: an ephemeral port, printed as "event=listening port=N" (tests run concurrently
 *     in several work trees, so fixed ports collide)
 *     CERTDIR holds ecdsa.pem/key, rsa.pem/key (identity 1) and other.pem/key (SNI identity 2)
 *     -i  inject "250-injected" in clear right after the 220 to STARTTLS (client-side test)
 *   SIGUSR1 rotates the ticket key (new context, ring [new, old]); SIGTERM exits.
 * Log lines (stderr): "conn=N event=... key=value".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sock/sock.h"
#include "tls/tls.h"

enum sess_state { SS_CMD = 0, SS_DATA, SS_CLOSING };

struct sess {
	struct sess *prev, *next;     /* all sessions, aborted at exit (leak-free under ASan) */
	struct conn *c;
	uint64_t id;
	enum sess_state state;
	bool tls;
	bool mail;
	unsigned rcpts;
	size_t msg_bytes;
	char line[1024];
	size_t line_len;
};

static struct sess *sessions;
static struct tls_core *core;
static struct tls_server_ctx *sctx;
static struct tls_ticket_key ring[2];
static const char *certdir, *stats_path;
static uint64_t hs_timeout = 10000000;
static bool inject;
static volatile sig_atomic_t rotate_req, stop_req;
static struct tls_ctx_cfg ctx_cfg;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		rotate_req = 1;
	else
		stop_req = 1;
}

static void write_stats(void)
{
	char buf[8192], tmp[512];
	if (!stats_path)
		return;
	size_t n = tls_stats_format(tls_core_stats(core), buf, sizeof(buf));
	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fwrite(buf, 1, n, f);
	fclose(f);
	rename(tmp, stats_path);
}

static struct tls_server_ctx *build_ctx(unsigned nkeys)
{
	char p[6][512], err[512];
	snprintf(p[0], 512, "%s/ecdsa.pem", certdir);
	snprintf(p[1], 512, "%s/ecdsa.key", certdir);
	snprintf(p[2], 512, "%s/rsa.pem", certdir);
	snprintf(p[3], 512, "%s/rsa.key", certdir);
	snprintf(p[4], 512, "%s/other.pem", certdir);
	snprintf(p[5], 512, "%s/other.key", certdir);
	struct tls_identity ids[2] = {
		{ .certs = { { p[0], p[1] }, { p[2], p[3] } }, .n_certs = 2 },
		{ .certs = { { p[4], p[5] } }, .n_certs = 1 },
	};
	struct tls_server_ctx *sc = tls_server_ctx_new(&ctx_cfg, ids, 2, ring, nkeys, err, sizeof(err));
	if (!sc)
		fprintf(stderr, "event=ctx_error %s\n", err);
	return sc;
}

static void reply(struct sess *s, const char *text)
{
	conn_send(s->c, text, strlen(text));
}

static const struct conn_handler sess_handler;

static void on_tls_result(void *ctx, const struct tls_result *r)
{
	struct sess *s = ctx;
	if (r->ok)
		fprintf(stderr, "conn=%llu event=tls_ok version=%s cipher=%s resumed=%d sni=%s\n",
			(unsigned long long)s->id, r->version, r->cipher, r->resumed, r->sni);
	else
		fprintf(stderr, "conn=%llu event=tls_fail fail=%s reason=\"%s\"\n",
			(unsigned long long)s->id, tls_fail_str(r->fail), r->reason);
}

/* STARTTLS: reply in clear, then every byte of the transport is TLS. */
static void start_tls(struct sess *s)
{
	struct tls_conn_opts o = { .now = now_us(), .handshake_timeout = hs_timeout,
				   .on_result = on_tls_result };
	int err = 0;
	reply(s, "220 2.0.0 Ready to start TLS\r\n");
	if (inject)
		reply(s, "250-injected\r\n");
	conn_flush(s->c);
	struct conn *t = tls_conn_server_new(core, s->c, sctx, &sess_handler, s, &o, &err);
	if (!t) {
		fprintf(stderr, "conn=%llu event=tls_new_error err=%d\n", (unsigned long long)s->id, err);
		conn_abort(s->c);
		return;
	}
	s->c = t;
	s->tls = true;
	s->mail = false;
	s->rcpts = 0;
	s->line_len = 0;
}

static void ehlo(struct sess *s, const char *verb)
{
	if (strcasecmp(verb, "HELO") == 0) {
		reply(s, "250 dpmail-test\r\n");
		return;
	}
	reply(s, "250-dpmail-test\r\n250-PIPELINING\r\n250-8BITMIME\r\n");
	if (!s->tls)
		reply(s, "250-STARTTLS\r\n");
	reply(s, "250 SIZE 10485760\r\n");
}

/* One command line (without CRLF). Returns true when the rest of the input must be dropped. */
static bool command(struct sess *s, char *line)
{
	char verb[16] = "";
	sscanf(line, "%15s", verb);
	fprintf(stderr, "conn=%llu event=cmd tls=%d verb=%s\n", (unsigned long long)s->id, s->tls, verb);
	if (!strcasecmp(verb, "EHLO") || !strcasecmp(verb, "HELO")) {
		s->mail = false;
		ehlo(s, verb);
	} else if (!strcasecmp(verb, "STARTTLS")) {
		if (s->tls) {
			reply(s, "503 5.5.1 TLS already active\r\n");
			return false;
		}
		start_tls(s);
		return true;
	} else if (!strncasecmp(line, "MAIL FROM:", 10)) {
		s->mail = true;
		s->rcpts = 0;
		reply(s, "250 2.1.0 Ok\r\n");
	} else if (!strncasecmp(line, "RCPT TO:", 8)) {
		if (!s->mail) {
			reply(s, "503 5.5.1 Error: need MAIL command\r\n");
		} else {
			s->rcpts++;
			reply(s, "250 2.1.5 Ok\r\n");
		}
	} else if (!strcasecmp(verb, "DATA")) {
		if (!s->rcpts) {
			reply(s, "503 5.5.1 Error: need RCPT command\r\n");
		} else {
			s->state = SS_DATA;
			s->msg_bytes = 0;
			reply(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
		}
	} else if (!strcasecmp(verb, "RSET")) {
		s->mail = false;
		reply(s, "250 2.0.0 Ok\r\n");
	} else if (!strcasecmp(verb, "NOOP")) {
		reply(s, "250 2.0.0 Ok\r\n");
	} else if (!strcasecmp(verb, "QUIT")) {
		reply(s, "221 2.0.0 Bye\r\n");
		s->state = SS_CLOSING;
		conn_close(s->c);
		return true;
	} else {
		reply(s, "500 5.5.2 Error: command not recognized\r\n");
	}
	return false;
}

static void data_line(struct sess *s, const char *line)
{
	if (strcmp(line, ".") == 0) {
		s->state = SS_CMD;
		s->mail = false;
		fprintf(stderr, "conn=%llu event=message tls=%d bytes=%zu\n", (unsigned long long)s->id,
			s->tls, s->msg_bytes);
		reply(s, "250 2.0.0 Ok: queued\r\n");
		return;
	}
	s->msg_bytes += strlen(line) + 2;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct sess *s = ctx;
	size_t i;
	for (i = 0; i < len && s->state != SS_CLOSING; i++) {
		if (d[i] != '\n') {
			if (s->line_len < sizeof(s->line) - 1)
				s->line[s->line_len++] = (char)d[i];
			continue;
		}
		if (s->line_len && s->line[s->line_len - 1] == '\r')
			s->line_len--;
		s->line[s->line_len] = '\0';
		s->line_len = 0;
		if (s->state == SS_DATA) {
			data_line(s, s->line);
			continue;
		}
		if (command(s, s->line)) {
			if (s->state != SS_CLOSING && len - i - 1 > 0)
				fprintf(stderr, "conn=%llu event=discarded bytes=%zu\n",
					(unsigned long long)s->id, len - i - 1);
			conn_flush(s->c);
			return len;       /* everything behind STARTTLS/QUIT is dropped */
		}
	}
	if (s->state != SS_CLOSING)
		conn_flush(s->c);
	return len;
}

static void on_eof(void *ctx, struct conn *c)
{
	struct sess *s = ctx;
	if (s->state != SS_CLOSING) {
		s->state = SS_CLOSING;
		conn_close(c);
	}
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct sess *s = ctx;
	fprintf(stderr, "conn=%llu event=closed why=%s\n", (unsigned long long)s->id,
		conn_close_reason_str(why));
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
	write_stats();
}

static const struct conn_handler sess_handler = {
	.on_data = on_data, .on_eof = on_eof, .on_closed = on_closed,
};

static int on_accept(void *ctx, struct conn *c)
{
	struct sess *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->c = c;
	s->id = c->id;
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	conn_set_handler(c, &sess_handler, s);
	reply(s, "220 dpmail-test ESMTP\r\n");
	conn_flush(c);
	fprintf(stderr, "conn=%llu event=accept\n", (unsigned long long)s->id);
	return 0;
}

static void rotate(void)
{
	ring[1] = ring[0];
	tls_ticket_key_generate(&ring[0]);
	struct tls_server_ctx *n = build_ctx(2);
	if (!n)
		return;
	tls_server_ctx_free(sctx);        /* live conns keep the old one through their SSL */
	sctx = n;
	fprintf(stderr, "event=ticket_key_rotated\n");
}

int main(int argc, char **argv)
{
	struct tls_core_cfg ccfg;
	struct sock_net *net;
	int port = -1, opt, err = 0;
	while ((opt = getopt(argc, argv, "p:d:s:t:i")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'd': certdir = optarg; break;
		case 's': stats_path = optarg; break;
		case 't': hs_timeout = strtoull(optarg, NULL, 10) * 1000; break;
		case 'i': inject = true; break;
		default: return 2;
		}
	}
	if (port < 0 || !certdir) {
		fprintf(stderr, "usage: %s -p PORT -d CERTDIR [-s STATS] [-t MS] [-i]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	tls_ctx_cfg_defaults(&ctx_cfg);
	tls_core_cfg_defaults(&ccfg);
	ccfg.gcm_batch_sessions = getenv("DPMAIL_GCM_BATCH_SESSIONS") != NULL;
	tls_ticket_key_generate(&ring[0]);
	core = tls_core_new(&ccfg);
	sctx = build_ctx(1);
	net = sock_net_create(NULL, &err);
	struct conn_addr la = { .family = AF_INET, .port = htons((uint16_t)port),
				.ip.v4 = htonl(INADDR_LOOPBACK) };
	int bound = net ? sock_net_listen_addr(net, &la, on_accept, NULL) : -1;
	if (!core || !sctx || !net || bound < 0) {
		fprintf(stderr, "event=startup_error port=%d errno=%d\n", port, errno);
		return 1;
	}
	write_stats();
	fprintf(stderr, "event=listening port=%d\n", bound);
	while (!stop_req) {
		if (rotate_req) {
			rotate_req = 0;
			rotate();
		}
		uint64_t now = now_us(), dl = tls_core_next_deadline(core);
		int ms = dl == 0 ? 0 : dl == UINT64_MAX ? 100 : dl <= now ? 0 : (int)((dl - now) / 1000) + 1;
		sock_net_poll(net, now, ms < 100 ? ms : 100);
		tls_core_poll(core, now_us());
	}
	while (sessions)
		conn_abort(sessions->c);  /* on_closed unlinks and frees the session */
	write_stats();
	sock_net_free(net);
	tls_server_ctx_free(sctx);
	tls_core_free(core);
	return 0;
}
