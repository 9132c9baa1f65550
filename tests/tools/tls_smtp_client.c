/* SPDX-License-Identifier: MIT */
/*
 * tls_smtp_client.c: delivers one test message (or -n of them, one connection each) to an SMTP
 * server on 127.0.0.1 with STARTTLS through tls_conn_client_new(), under an outbound policy;
 * over the posix conn backend (dataplane/sock); the stand-in for the delivery engine in tests/integration/tls_client.sh. Like the real client
 * engine it drops whatever the server sent after its 220 to STARTTLS (CVE-2021-38371) and asks
 * tls_policy_* whether plaintext is acceptable when STARTTLS is missing.
 *
 *   tls_smtp_client -p PORT -H MXHOST [-P none|opportunistic|verify|dane|mta-sts] [-c CAFILE]
 *                   [-a "U S M HEX"]... [-m enforce|testing] [-x MXPATTERN]... [-n COUNT]
 * Prints "result=delivered tls=... version=... cipher=... verified=... dane=... resumed=..."
 * or "result=defer reason=..." per connection. Exit: 0 all delivered, 75 deferred, 1 error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sock/sock.h"
#include "tls/tls.h"

enum step { ST_GREET = 0, ST_EHLO, ST_STARTTLS, ST_EHLO2, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY,
	    ST_QUIT, ST_DONE };

struct cli {
	struct conn *c;
	enum step step;
	bool tls, offered_tls, done, deferred;
	struct tls_result res;
	bool have_res;
	char reason[256];
	char line[1024];
	size_t line_len;
	bool multiline_more;
};

static struct tls_core *core;
static struct tls_client_ctx *cctx;
static struct tls_policy pol;
static struct tls_policy_eval ev;
static const char *mx_host = "mx.test";
static uint8_t tlsa_data[TLS_MAX_TLSA][64];
static struct tls_tlsa tlsa[TLS_MAX_TLSA];

static const struct conn_handler cli_handler;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void say(struct cli *s, const char *text)
{
	conn_send(s->c, text, strlen(text));
	conn_flush(s->c);
}

static void defer(struct cli *s, const char *why)
{
	snprintf(s->reason, sizeof(s->reason), "%s", why);
	s->deferred = true;
	s->step = ST_DONE;
	conn_close(s->c);
}

static void on_result(void *ctx, const struct tls_result *r)
{
	struct cli *s = ctx;
	s->res = *r;
	s->have_res = true;
	if (!r->ok)
		snprintf(s->reason, sizeof(s->reason), "tls %s: %s", tls_fail_str(r->fail), r->reason);
}

static void start_tls(struct cli *s)
{
	struct tls_conn_opts o = { .now = now_us(), .handshake_timeout = 10000000,
				   .on_result = on_result, .host = mx_host, .policy = &pol };
	int err = 0;
	struct conn *t = tls_conn_client_new(core, s->c, cctx, &cli_handler, s, &o, &err);
	if (!t) {
		defer(s, "tls setup failed");
		return;
	}
	s->c = t;
	s->tls = true;
	s->step = ST_EHLO2;
}

/* TCP connected: wait for the greeting. TLS connected: EHLO again (RFC 3207 §4.2). */
static void on_connected(void *ctx, struct conn *c)
{
	struct cli *s = ctx;
	if (s->tls)
		say(s, "EHLO client.test\r\n");
}

/* One complete reply (last line). Returns true when the rest of the input must be dropped. */
static bool on_reply(struct cli *s, int code, const char *text)
{
	switch (s->step) {
	case ST_GREET:
		if (code != 220)
			return defer(s, "greeting"), true;
		say(s, "EHLO client.test\r\n");
		s->step = ST_EHLO;
		break;
	case ST_EHLO:
		if (s->offered_tls && ev.starttls) {
			say(s, "STARTTLS\r\n");
			s->step = ST_STARTTLS;
		} else if (tls_policy_allows_plaintext(&ev)) {
			say(s, "MAIL FROM:<sender@client.test>\r\n");
			s->step = ST_MAIL;
		} else {
			defer(s, "STARTTLS not offered, policy requires TLS");
			return true;
		}
		break;
	case ST_STARTTLS:
		if (code != 220) {
			if (!tls_policy_allows_plaintext(&ev))
				return defer(s, "STARTTLS refused"), true;
			say(s, "MAIL FROM:<sender@client.test>\r\n");
			s->step = ST_MAIL;
			break;
		}
		start_tls(s);
		return true;              /* drop anything sent after the 220 (CVE-2021-38371) */
	case ST_EHLO2:
		if (code != 250)
			return defer(s, "EHLO after TLS"), true;
		say(s, "MAIL FROM:<sender@client.test>\r\n");
		s->step = ST_MAIL;
		break;
	case ST_MAIL:
		say(s, "RCPT TO:<rcpt@mx.test>\r\n");
		s->step = ST_RCPT;
		break;
	case ST_RCPT:
		if (code != 250)
			return defer(s, text), true;
		say(s, "DATA\r\n");
		s->step = ST_DATA;
		break;
	case ST_DATA:
		say(s, "Subject: tls test\r\n\r\nhello over tls\r\n.\r\n");
		s->step = ST_BODY;
		break;
	case ST_BODY:
		if (code != 250)
			return defer(s, text), true;
		say(s, "QUIT\r\n");
		s->step = ST_QUIT;
		break;
	case ST_QUIT:
		s->done = true;
		s->step = ST_DONE;
		conn_close(s->c);
		return true;
	case ST_DONE:
		return true;
	}
	return false;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct cli *s = ctx;
	for (size_t i = 0; i < len; i++) {
		if (d[i] != '\n') {
			if (s->line_len < sizeof(s->line) - 1)
				s->line[s->line_len++] = (char)d[i];
			continue;
		}
		s->line[s->line_len] = '\0';
		s->line_len = 0;
		printf("S: %s\n", s->line);
		if (s->step == ST_EHLO && strncasecmp(s->line + 4, "STARTTLS", 8) == 0)
			s->offered_tls = true;
		if (strlen(s->line) >= 4 && s->line[3] == '-')
			continue;
		if (on_reply(s, atoi(s->line), s->line)) {
			if (len - i - 1 > 0)
				printf("discarded=%zu\n", len - i - 1);
			return len;
		}
	}
	return len;
}

static void on_eof(void *ctx, struct conn *c)
{
	struct cli *s = ctx;
	if (s->step != ST_DONE)
		defer(s, "connection closed by server");
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct cli *s = ctx;
	if (!s->done && !s->deferred) {
		s->deferred = true;
		if (!s->reason[0])
			snprintf(s->reason, sizeof(s->reason), "closed: %s", conn_close_reason_str(why));
	}
	s->c = NULL;
	s->step = ST_DONE;
}

static const struct conn_handler cli_handler = {
	.on_connected = on_connected, .on_data = on_data, .on_eof = on_eof, .on_closed = on_closed,
};

static int add_tlsa(const char *spec)
{
	unsigned u, sel, mt;
	char hex[160];
	if (pol.n_tlsa >= TLS_MAX_TLSA || sscanf(spec, "%u %u %u %159s", &u, &sel, &mt, hex) != 4)
		return -1;
	size_t n = strlen(hex) / 2;
	if (n > sizeof(tlsa_data[0]))
		return -1;
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &tlsa_data[pol.n_tlsa][i]);
	tlsa[pol.n_tlsa] = (struct tls_tlsa){ (uint8_t)u, (uint8_t)sel, (uint8_t)mt,
					      tlsa_data[pol.n_tlsa], n };
	pol.tlsa = tlsa;
	pol.n_tlsa++;
	return 0;
}

static int deliver_once(struct sock_net *net, int port)
{
	struct cli s = { 0 };
	struct conn_addr dst = { .family = AF_INET, .port = htons((uint16_t)port),
				 .ip.v4 = htonl(INADDR_LOOPBACK) };
	struct conn_addr src = { .family = AF_INET };
	int err = 0;
	s.c = sock_net_connect(net, &dst, &src, &cli_handler, &s, &err);
	if (!s.c) {
		printf("result=defer reason=\"connect failed: %d\"\n", err);
		return 75;
	}
	uint64_t deadline = now_us() + 20000000;
	while (s.c && now_us() < deadline) {
		sock_net_poll(net, now_us(), 20);
		tls_core_poll(core, now_us());
	}
	if (s.c) {
		conn_abort(s.c);
		snprintf(s.reason, sizeof(s.reason), "timeout");
		s.deferred = true;
	}
	if (s.done) {
		printf("result=delivered tls=%d version=%s cipher=%s verified=%d dane=%d resumed=%d\n",
		       s.tls && s.res.ok, s.tls ? s.res.version : "", s.tls ? s.res.cipher : "",
		       s.res.verified, s.res.dane, s.res.resumed);
		return 0;
	}
	printf("result=defer reason=\"%s\"%s%s\n", s.reason, s.have_res ? " fail=" : "",
	       s.have_res ? tls_fail_str(s.res.fail) : "");
	return 75;
}

int main(int argc, char **argv)
{
	struct tls_client_cfg cfg;
	struct tls_core_cfg ccfg;
	char err[512];
	int port = 0, count = 1, opt, rc = 0, serr = 0;
	tls_client_cfg_defaults(&cfg);
	pol.mode = TLS_POLICY_OPPORTUNISTIC;
	while ((opt = getopt(argc, argv, "p:H:P:c:a:m:x:n:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'H': mx_host = optarg; break;
		case 'P':
			if (tls_policy_mode_parse(optarg) < 0)
				return 2;
			pol.mode = (enum tls_policy_mode)tls_policy_mode_parse(optarg);
			break;
		case 'c': cfg.ca_file = optarg; cfg.use_system_store = false; break;
		case 'a':
			if (add_tlsa(optarg) < 0)
				return 2;
			break;
		case 'm': pol.sts_mode = strcmp(optarg, "enforce") == 0 ? TLS_STS_ENFORCE : TLS_STS_TESTING; break;
		case 'x':
			if (pol.n_sts_mx < TLS_MAX_STS_MX)
				pol.sts_mx[pol.n_sts_mx++] = optarg;
			break;
		case 'n': count = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!port)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	tls_core_cfg_defaults(&ccfg);
	ccfg.gcm_batch_sessions = getenv("DPMAIL_GCM_BATCH_SESSIONS") != NULL;
	core = tls_core_new(&ccfg);
	cctx = tls_client_ctx_new(&cfg, err, sizeof(err));
	struct sock_net *net = sock_net_create(NULL, &serr);
	if (!core || !cctx || !net) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	tls_policy_eval(&pol, mx_host, &ev);
	if (ev.reason && !ev.report_only) {
		printf("result=defer reason=\"%s\"\n", ev.reason);
		rc = 75;
		count = 0;
	}
	for (int i = 0; i < count; i++)
		if (deliver_once(net, port) != 0)
			rc = 75;
	char buf[4096];
	tls_stats_format(tls_core_stats(core), buf, sizeof(buf));
	fputs(buf, stdout);
	sock_net_free(net);
	tls_client_ctx_free(cctx);
	tls_core_free(core);
	return rc;
}
