/* SPDX-License-Identifier: MIT */
/*
 * smtp_bench.c: micro-benchmarks of the SMTP engines in memory (no sockets): the numbers in
 * docs/smtp.md come from here. One thread, the engine alone:
 *   - server DATA scanning (dot-unstuffing, framing checks) in MB/s, 64 KiB reads;
 *   - server transactions per second (MAIL, RCPT, DATA of 1 KiB, async result) on one session;
 *   - server sessions per second (greeting, EHLO, QUIT);
 *   - client body output in MB/s: canonicalise + dot-stuff (DATA), and canonical text in BDAT
 *     chunks (the relay's common case).
 * Usage: smtp_bench [seconds-per-test, default 1]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp/smtp.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t sink_bytes;
static bool want_result;

static void b_rcpt(void *ctx, struct smtp_server_session *s, const struct smtp_rcpt *r,
		   struct smtp_verdict *v)
{
	*v = (struct smtp_verdict){ 250, "2.1.5", "Ok" };
}

static void b_chunk(void *ctx, struct smtp_server_session *s, const uint8_t *p, size_t n)
{
	sink_bytes += n;
}

static void b_end(void *ctx, struct smtp_server_session *s)
{
	want_result = true;
}

static const struct smtp_server_hooks hooks = { .rcpt = b_rcpt, .data_chunk = b_chunk,
						.data_end = b_end };

static void drain(struct smtp_server_session *s)
{
	size_t n;
	smtp_server_output(s, &n);
	smtp_server_output_consume(s, n);
}

static void feed(struct smtp_server_session *s, const char *p, size_t n)
{
	while (n) {
		size_t u = smtp_server_input(s, (const uint8_t *)p, n, 0);
		drain(s);
		if (want_result) {
			want_result = false;
			struct smtp_verdict v = { 250, "2.0.0", "Ok: queued as X" };
			smtp_server_data_result(s, &v);
			drain(s);
		}
		p += u;
		n -= u;
	}
}

static void bench_data(double secs, const struct smtp_limits *lim)
{
	static struct smtp_server_session s;
	static char buf[64 * 1024];
	/* 78-octet lines, every 7th starting with a stuffed dot */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)('a' + i % 26);
	for (size_t i = 0; i + 80 <= sizeof(buf); i += 80) {
		buf[i + 78] = '\r';
		buf[i + 79] = '\n';
		if ((i / 80) % 7 == 0)
			buf[i] = buf[i + 1] = '.';
	}
	struct smtp_limits l = *lim;
	l.message_max = UINT64_MAX / 2;
	smtp_server_init(&s, &l, &hooks, NULL, "bench");
	smtp_server_start(&s, 0, NULL);
	const char *pre = "EHLO b\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
			  "Subject: bench\r\n\r\n";
	feed(&s, pre, strlen(pre));
	double t0 = now_s(), t;
	uint64_t bytes = 0;
	sink_bytes = 0;
	do {
		for (int k = 0; k < 64; k++) {
			feed(&s, buf, sizeof(buf));
			bytes += sizeof(buf);
		}
	} while ((t = now_s()) - t0 < secs);
	printf("server DATA scan: %.0f MB/s (%llu MB in, %llu MB handed up)\n", bytes / (t - t0) / 1e6,
	       (unsigned long long)(bytes >> 20), (unsigned long long)(sink_bytes >> 20));
}

static void bench_txn(double secs, const struct smtp_limits *lim)
{
	static struct smtp_server_session s;
	static char txn[2048];
	int n = snprintf(txn, sizeof(txn), "MAIL FROM:<alice@example.org> SIZE=1024\r\n"
					   "RCPT TO:<bob@example.net>\r\nDATA\r\n");
	for (int i = 0; i < 1024 / 64; i++)
		n += snprintf(txn + n, sizeof(txn) - (size_t)n, "%062d\r\n", i);
	n += snprintf(txn + n, sizeof(txn) - (size_t)n, ".\r\n");
	struct smtp_limits l = *lim;
	l.commands_max = UINT32_MAX;
	smtp_server_init(&s, &l, &hooks, NULL, "bench");
	smtp_server_start(&s, 0, NULL);
	feed(&s, "EHLO b\r\n", 8);
	double t0 = now_s(), t;
	uint64_t count = 0;
	do {
		for (int k = 0; k < 1000; k++)
			feed(&s, txn, (size_t)n);
		count += 1000;
	} while ((t = now_s()) - t0 < secs);
	printf("server transactions (1 KiB message, pipelined): %.0f /s\n", count / (t - t0));
}

static void bench_sessions(double secs, const struct smtp_limits *lim)
{
	static struct smtp_server_session s;
	static const char in[] = "EHLO client.example\r\nQUIT\r\n";
	double t0 = now_s(), t;
	uint64_t count = 0;
	do {
		for (int k = 0; k < 1000; k++) {
			smtp_server_init(&s, lim, &hooks, NULL, "bench");
			smtp_server_start(&s, 0, NULL);
			feed(&s, in, sizeof(in) - 1);
		}
		count += 1000;
	} while ((t = now_s()) - t0 < secs);
	printf("server sessions (greeting, EHLO, QUIT): %.0f /s\n", count / (t - t0));
}

static bool c_canonical;

/* Body pieces: lines needing work (a leading dot, a bare LF), or with c_canonical mail text in
 * canonical CRLF form as the spool holds it (the relay's common case). */
static long c_body(void *ctx, struct smtp_client_session *c, uint8_t *buf, size_t cap)
{
	static const char line[] = ".stuffed line of mail text with a bare LF at the end\n";
	static const char cline[] =
		"an ordinary line of mail text, seventy-odd octets long, ending in CRLF\r\n";
	const char *l = c_canonical ? cline : line;
	size_t ll = c_canonical ? sizeof(cline) - 1 : sizeof(line) - 1;
	size_t n = 0;
	while (n + ll <= cap) {
		memcpy(buf + n, l, ll);
		n += ll;
	}
	return (long)n;
}

static void bench_client(double secs, bool bdat)
{
	static struct smtp_client_session c;
	struct smtp_client_limits lim;
	static const struct smtp_client_hooks h = { .body_read = c_body };
	static const char *const r[] = { "b@example.net" };
	static const struct smtp_client_msg m = { .from = "a@example.org", .rcpts = r, .nrcpt = 1 };

	c_canonical = bdat;
	smtp_client_limits_defaults(&lim);
	smtp_client_init(&c, &lim, &h, NULL, "bench", SMTP_TLS_NONE, false, 0);
	static const char srv[] = "220 x\r\n250-x\r\n250 PIPELINING\r\n";
	static const char srv_bdat[] = "220 x\r\n250-x\r\n250-CHUNKING\r\n250 PIPELINING\r\n";
	if (bdat)
		smtp_client_input(&c, (const uint8_t *)srv_bdat, sizeof(srv_bdat) - 1, 0);
	else
		smtp_client_input(&c, (const uint8_t *)srv, sizeof(srv) - 1, 0);
	smtp_client_send(&c, &m);
	static const char rep[] = "250 ok\r\n250 ok\r\n354 go\r\n";
	smtp_client_input(&c, (const uint8_t *)rep, bdat ? 16 : sizeof(rep) - 1, 0);
	static const char chunk_ok[] = "250 ok\r\n";
	double t0 = now_s(), t;
	uint64_t bytes = 0;
	do {
		for (int k = 0; k < 1000; k++) {
			size_t n;
			smtp_client_output(&c, &n);
			smtp_client_output_consume(&c, n);
			bytes += n;
			if (bdat) /* each chunk answered, so the next may go (a pipelined client has
				   * several in flight; the octets per second are the same) */
				smtp_client_input(&c, (const uint8_t *)chunk_ok, sizeof(chunk_ok) - 1, 0);
		}
	} while ((t = now_s()) - t0 < secs);
	printf("client body output (%s): %.0f MB/s\n",
	       bdat ? "canonical CRLF text in BDAT chunks" : "canonicalise + dot-stuff", bytes / (t - t0) / 1e6);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	struct smtp_limits lim;

	smtp_limits_defaults(&lim);
	printf("smtp engine micro-benchmarks (one thread, in memory, %.1f s each)\n", secs);
	bench_data(secs, &lim);
	bench_txn(secs, &lim);
	bench_sessions(secs, &lim);
	bench_client(secs, false);
	bench_client(secs, true);
	return 0;
}
