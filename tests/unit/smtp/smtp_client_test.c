/* SPDX-License-Identifier: MIT */
/*
 * smtp_client_test.c: the client engine against our server engine in memory (both directions,
 * with random splits), and against scripted servers: HELO fallback, STARTTLS reply-buffer drop
 * (CVE-2021-38371), hostile replies (CVE-2020-8794 shapes), missing extensions, timeouts.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_harness.h"

struct cpair {
	struct harness h;             /* server side */
	struct smtp_client_session c;
	struct smtp_client_limits cl;
	struct smtp_client_hooks ch;
	size_t srv_mark;              /* server output already given to the client */
	const char *body;
	size_t body_len, body_pos, body_step;
	bool body_eagain;             /* alternate -EAGAIN with data */
	int ready, done, msg_results;
	struct smtp_reply last_msg, last_done;
	struct smtp_reply rcpt[8];
	bool starttls_asked;
	char sent[16384];             /* client output (scripted tests) */
	size_t sent_len;
	unsigned seed;
};

static struct cpair *CP(void *ctx)
{
	return (struct cpair *)ctx;
}

static void ch_ready(void *ctx, struct smtp_client_session *c)
{
	CP(ctx)->ready++;
}

static void ch_starttls(void *ctx, struct smtp_client_session *c)
{
	CP(ctx)->starttls_asked = true;
}

static long ch_body(void *ctx, struct smtp_client_session *c, uint8_t *buf, size_t cap)
{
	struct cpair *p = CP(ctx);
	size_t n = p->body_len - p->body_pos;

	if (p->body_eagain) {
		p->body_eagain = false;
		return -EAGAIN;
	}
	if (n > cap)
		n = cap;
	if (p->body_step && n > p->body_step)
		n = p->body_step;
	memcpy(buf, p->body + p->body_pos, n);
	p->body_pos += n;
	return (long)n;
}

/* body_map: the same pieces as ch_body, borrowed from a scratch buffer that the next call
 * overwrites (an engine that kept a borrowed pointer too long would send the wrong octets) */
static long ch_body_map(void *ctx, struct smtp_client_session *c, size_t cap, const uint8_t **p)
{
	static uint8_t scratch[1 << 16];
	long n = ch_body(ctx, c, scratch, cap < sizeof(scratch) ? cap : sizeof(scratch));

	*p = scratch;
	return n;
}

static void ch_rcpt(void *ctx, struct smtp_client_session *c, uint32_t i, const struct smtp_reply *r)
{
	if (i < 8)
		CP(ctx)->rcpt[i] = *r;
}

static void ch_msg(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	CP(ctx)->msg_results++;
	CP(ctx)->last_msg = *r;
}

static void ch_done(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	CP(ctx)->done++;
	CP(ctx)->last_done = *r;
}

static void cp_init(struct cpair *p, enum smtp_tls_policy tls)
{
	memset(p, 0, sizeof(*p));
	h_init(&p->h);
	p->h.log_events = false;
	smtp_client_limits_defaults(&p->cl);
	p->ch = (struct smtp_client_hooks){
		.ready = ch_ready,
		.starttls = ch_starttls,
		.body_read = ch_body,
		.rcpt_result = ch_rcpt,
		.msg_result = ch_msg,
		.done = ch_done,
	};
	smtp_client_init(&p->c, &p->cl, &p->ch, p, "client.test", tls, false, 1000000);
	p->seed = 42;
}

/* Moves bytes both ways (random piece sizes) until nothing moves. */
static void cp_run(struct cpair *p)
{
	for (int round = 0; round < 100000; round++) {
		bool moved = false;
		size_t n;
		const char *o = smtp_client_output(&p->c, &n);
		if (n) {
			size_t take = 1 + (size_t)rand_r(&p->seed) % n;
			h_feed_split(&p->h, (const uint8_t *)o, take, NULL, 0);
			smtp_client_output_consume(&p->c, take);
			moved = true;
		}
		if (p->h.log_len > p->srv_mark) {
			size_t avail = p->h.log_len - p->srv_mark;
			size_t take = 1 + (size_t)rand_r(&p->seed) % avail;
			size_t used = smtp_client_input(&p->c, (const uint8_t *)p->h.log + p->srv_mark,
							take, p->h.now);
			p->srv_mark += used;
			moved = moved || used;
		}
		if (p->starttls_asked) {
			p->starttls_asked = false;
			smtp_client_tls_started(&p->c, p->h.now);
			moved = true;
		}
		if (!moved) {
			if (p->c.body_wait) {
				smtp_client_body_ready(&p->c);
				continue;
			}
			return;
		}
	}
	ck_abort_msg("pair did not settle");
}

static const char *const rcpts3[] = { "bob@example.net", "eve@denied.test", "dave@example.net" };

static void pair_message(bool bdat, size_t step)
{
	struct cpair p;
	static const char body[] =
		"From: alice@example.org\nSubject: t\r\n\r\n.leading dot\rbare cr\n..two\r\n.\r\nend";
	static const char want[] =
		"From: alice@example.org\r\nSubject: t\r\n\r\n.leading dot\r\nbare cr\r\n..two\r\n.\r\nend\r\n";

	for (unsigned seed = 1; seed < 40; seed++) {
		cp_init(&p, SMTP_TLS_NONE);
		p.seed = seed;
		p.cl.use_bdat = bdat;
		p.cl.bdat_chunk = 7;
		p.body_step = step;
		h_start(&p.h);
		cp_run(&p);
		ck_assert_int_eq(p.ready, 1);
		ck_assert(p.c.ext & SMTP_EXT_PIPELINING);
		for (int m = 0; m < 2; m++) {
			struct smtp_client_msg msg = { .from = "alice@example.org", .rcpts = rcpts3,
						       .nrcpt = 3, .size = sizeof(body) };
			p.body = body;
			p.body_len = sizeof(body) - 1;
			p.body_pos = 0;
			p.body_eagain = seed % 3 == 0;
			ck_assert_int_eq(smtp_client_send(&p.c, &msg), 0);
			cp_run(&p);
			ck_assert_int_eq(p.msg_results, m + 1);
			ck_assert_int_eq(p.last_msg.code, 250);
			ck_assert_str_eq(p.last_msg.ecode, "2.0.0");
			ck_assert_int_eq(p.rcpt[0].code, 250);
			ck_assert_int_eq(p.rcpt[1].code, 554);
			ck_assert_str_eq(p.rcpt[1].ecode, "5.7.1");
			ck_assert_int_eq(p.rcpt[2].code, 250);
			ck_assert_uint_eq(p.h.msg_len, sizeof(want) - 1);
			ck_assert(memcmp(p.h.msg, want, sizeof(want) - 1) == 0);
		}
		smtp_client_quit(&p.c);
		cp_run(&p);
		ck_assert_int_eq(p.done, 1);
		ck_assert_int_eq(p.last_done.code, 221);
		ck_assert(p.h.closed);
		h_free(&p.h);
	}
}

/* The canonicaliser octet by octet, as it was before its fast path for canonical runs: the
 * reference the client's output (after the server's dot-unstuffing) must match. */
static size_t ref_canon(const char *in, size_t n, char *out)
{
	bool last_cr = false, at_bol = true;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char b = in[i];
		if (b == '\n' && last_cr) {
			last_cr = false;
			continue;
		}
		last_cr = b == '\r';
		if (b == '\r' || b == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			at_bol = true;
			continue;
		}
		out[o++] = b;
		at_bol = false;
	}
	if (!at_bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* Random bodies rich in CR, LF, CRLF, dots at line starts and long plain runs, read in random
 * pieces (a CRLF pair and a dot line split across reads), with DATA and with BDAT. */
static void pair_canon_random(bool bdat)
{
	static const char alpha[] = "\r\n.ab";
	static char body[1200], want[2 * sizeof(body) + 2];
	struct cpair p;

	for (unsigned seed = 1; seed < 60; seed++) {
		unsigned r = seed * 2654435761u;
		size_t len = 0;
		while (len < sizeof(body) - 64) {
			r = r * 1103515245u + 12345u;
			unsigned pick = (r >> 16) % 8;
			if (pick < 5) {
				body[len++] = alpha[pick];
			} else if (pick == 5) {
				body[len++] = '\r';
				body[len++] = '\n';
			} else {
				size_t k = 1 + (r >> 8) % 40;
				memset(body + len, 'x', k);
				len += k;
			}
		}
		size_t wlen = ref_canon(body, len, want);

		cp_init(&p, SMTP_TLS_NONE);
		p.seed = seed;
		p.cl.use_bdat = bdat;
		p.body_step = seed % 4 == 0 ? 0 : 1 + seed % 23;
		if (seed % 2)
			p.ch.body_map = ch_body_map;
		h_start(&p.h);
		cp_run(&p);
		ck_assert_int_eq(p.ready, 1);
		struct smtp_client_msg msg = { .from = "alice@example.org", .rcpts = rcpts3,
					       .nrcpt = 1, .size = len };
		p.body = body;
		p.body_len = len;
		p.body_pos = 0;
		ck_assert_int_eq(smtp_client_send(&p.c, &msg), 0);
		cp_run(&p);
		ck_assert_int_eq(p.msg_results, 1);
		ck_assert_int_eq(p.last_msg.code, 250);
		ck_assert_uint_eq(p.h.msg_len, wlen);
		ck_assert(memcmp(p.h.msg, want, wlen) == 0);
		h_free(&p.h);
	}
}

START_TEST(test_pair_canon_random)
{
	pair_canon_random(false);
	pair_canon_random(true);
}
END_TEST

/* The reply parser's feed loop octet by octet, as it was before its run copy: the reference
 * for test_rparse_random. A completed line returns REF_LINE (its validation, line_done, did
 * not change: the test takes the real parser's verdict and state from there). */
#define REF_LINE 99

static int ref_rparse_feed(struct smtp_rparse *rp, uint32_t line_max, const uint8_t *p,
			   size_t len, size_t *used)
{
	uint32_t max = line_max < sizeof(rp->line) - 1 ? line_max : (uint32_t)sizeof(rp->line) - 1;

	*used = 0;
	if (rp->bad)
		return SMTP_RP_BAD;
	if (rp->complete) {
		if (rp->done)
			smtp_rparse_reset(rp);
		rp->line_len = 0;
		rp->complete = false;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '\n') {
			*used = i + 1;
			if (rp->line_len == 0 || rp->line[rp->line_len - 1] != '\r') {
				rp->bad = true;
				return SMTP_RP_BAD;
			}
			rp->line_len--;
			rp->line[rp->line_len] = '\0';
			return REF_LINE;
		}
		if (c == '\0' || (rp->line_len && rp->line[rp->line_len - 1] == '\r') ||
		    rp->line_len + 2 > max) {
			*used = i + 1;
			rp->bad = true;
			return SMTP_RP_BAD;
		}
		rp->line[rp->line_len++] = (char)c;
	}
	*used = len;
	return SMTP_RP_MORE;
}

/* Random reply streams (valid and broken lines, long runs, NUL, bare CR/LF) fed in random
 * pieces with small and large line limits: every call must use the same octets as the
 * reference, hold the same line, and agree on MORE / BAD / a completed line. */
START_TEST(test_rparse_random)
{
	static const char *const parts[] = { "250", "250-", "250 ", "354 ", "5", "421 ", "ok",
					     "\r\n", "\r", "\n", "x", "2", "-" };
	for (unsigned seed = 1; seed < 3000; seed++) {
		uint8_t in[700];
		size_t len = 0;
		unsigned r = seed * 2654435761u;
		while (len < sizeof(in) - 64) {
			r = r * 1103515245u + 12345u;
			unsigned pick = (r >> 16) % 16;
			if (pick < 13) {
				size_t k = strlen(parts[pick]);
				memcpy(in + len, parts[pick], k);
				len += k;
			} else if (pick == 13 && (r >> 8) % 8 == 0) {
				in[len++] = '\0';
			} else {
				size_t k = (r >> 4) % 50;
				memset(in + len, 'a' + (int)(r % 26), k);
				len += k;
			}
		}
		uint32_t line_max = seed % 3 == 0 ? 576 : 4 + seed % 60, lines_max = 1 + seed % 5;
		struct smtp_rparse a, b;
		size_t off = 0;

		smtp_rparse_reset(&a);
		smtp_rparse_reset(&b);
		a.line_len = b.line_len = 0;
		while (off < len) {
			r = r * 1103515245u + 12345u;
			size_t piece = 1 + (r >> 16) % (len - off < 90 ? len - off : 90);
			size_t ua, ub;
			enum smtp_rparse_result ra = smtp_rparse_feed(&a, line_max, lines_max, in + off, piece, &ua);
			int rb = ref_rparse_feed(&b, line_max, in + off, piece, &ub);
			ck_assert_uint_eq(ua, ub);
			ck_assert_uint_eq(a.line_len, b.line_len);
			ck_assert(memcmp(a.line, b.line, a.line_len) == 0);
			if (rb == REF_LINE) {
				ck_assert_int_ne(ra, SMTP_RP_MORE);
				b = a; /* the line's verdict and the reply state: line_done's */
			} else {
				ck_assert_int_eq(ra, rb);
			}
			if (ra == SMTP_RP_BAD)
				break;
			off += ua;
		}
	}
}
END_TEST

START_TEST(test_pair_data)
{
	pair_message(false, 0);
	pair_message(false, 3);
}
END_TEST

START_TEST(test_pair_bdat)
{
	pair_message(true, 0);
	pair_message(true, 5);
}
END_TEST

START_TEST(test_pair_no_valid_rcpt)
{
	static const char *const bad[] = { "x@denied.test" };
	struct cpair p;

	for (int bdat = 0; bdat < 2; bdat++) {
		cp_init(&p, SMTP_TLS_NONE);
		p.cl.use_bdat = bdat;
		h_start(&p.h);
		cp_run(&p);
		struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = bad, .nrcpt = 1 };
		p.body = "x";
		p.body_len = 1;
		smtp_client_send(&p.c, &msg);
		cp_run(&p);
		ck_assert_int_eq(p.msg_results, 1);
		ck_assert_int_eq(p.last_msg.code, 554);
		ck_assert_str_eq(p.last_msg.ecode, "5.7.1");
		ck_assert_int_eq(p.c.state, SMTP_C_IDLE);
		ck_assert_int_eq(p.ready, 2); /* idle again after RSET */
		h_free(&p.h);
	}
}
END_TEST

START_TEST(test_pair_starttls_and_extensions)
{
	struct cpair p;
	static const char *const r1[] = { "bob@example.net" };

	cp_init(&p, SMTP_TLS_REQUIRED);
	h_start(&p.h);
	cp_run(&p);
	ck_assert(p.c.tls);
	ck_assert(p.h.s.tls);
	ck_assert(p.c.ext & SMTP_EXT_REQUIRETLS);
	ck_assert(!(p.c.ext & SMTP_EXT_STARTTLS));
	struct smtp_client_msg msg = { .from = "alice@example.org", .rcpts = r1, .nrcpt = 1,
				       .requiretls = true, .needs_8bit = true, .needs_smtputf8 = true,
				       .ret = SMTP_RET_HDRS, .envid = "ID+2B1" };
	p.body = "Subject: x\r\n\r\nhi\r\n";
	p.body_len = strlen(p.body);
	smtp_client_send(&p.c, &msg);
	cp_run(&p);
	ck_assert_int_eq(p.last_msg.code, 250);
	ck_assert(p.h.s.messages == 1);
	/* the server saw the parameters: check the last envelope through a second message's log */
	h_free(&p.h);
}
END_TEST

/* 300 recipients: more RCPT lines than the output buffer holds at once (pipelining refills). */
START_TEST(test_pair_many_rcpts)
{
	static char names[300][32];
	static const char *rc[300];
	struct cpair p;

	for (int i = 0; i < 300; i++) {
		snprintf(names[i], sizeof(names[i]), "recipient%03d@example.net", i);
		rc[i] = names[i];
	}
	for (int bdat = 0; bdat < 2; bdat++) {
		cp_init(&p, SMTP_TLS_NONE);
		p.cl.use_bdat = bdat;
		p.h.lim.rcpt_max = 1000;
		h_start(&p.h);
		cp_run(&p);
		struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = rc, .nrcpt = 300 };
		p.body = "Subject: many\r\n\r\nx\r\n";
		p.body_len = strlen(p.body);
		smtp_client_send(&p.c, &msg);
		cp_run(&p);
		ck_assert_int_eq(p.msg_results, 1);
		ck_assert_int_eq(p.last_msg.code, 250);
		ck_assert_uint_eq(p.c.rcpt_ok, 300);
		ck_assert_uint_eq(p.h.s.messages, 1);
		h_free(&p.h);
	}
}
END_TEST

/* ---- scripted servers ---- */

static void sc_init(struct cpair *p, enum smtp_tls_policy tls)
{
	cp_init(p, tls);
}

static void sc_say(struct cpair *p, const char *s)
{
	smtp_client_input(&p->c, (const uint8_t *)s, strlen(s), p->h.now);
	size_t n;
	const char *o = smtp_client_output(&p->c, &n);
	if (n && p->sent_len + n < sizeof(p->sent)) {
		memcpy(p->sent + p->sent_len, o, n);
		p->sent_len += n;
		p->sent[p->sent_len] = '\0';
	}
	smtp_client_output_consume(&p->c, n);
}

START_TEST(test_greeting_refused)
{
	struct cpair p;

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "554 5.7.1 go away\r\n");
	ck_assert_int_eq(p.done, 1);
	ck_assert_int_eq(p.last_done.code, 554);
	ck_assert_str_eq(p.last_done.ecode, "5.7.1");
	ck_assert_str_eq(p.sent, "QUIT\r\n");
}
END_TEST

START_TEST(test_helo_fallback)
{
	struct cpair p;

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 old.test\r\n");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\n");
	sc_say(&p, "502 5.5.1 what\r\n");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\nHELO client.test\r\n");
	sc_say(&p, "250 old.test\r\n");
	ck_assert_int_eq(p.ready, 1);
	ck_assert_uint_eq(p.c.ext, 0);
	/* 8BITMIME needed and not offered: 554 5.6.3 without sending anything */
	static const char *const r1[] = { "bob@example.net" };
	struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = r1, .nrcpt = 1,
				       .needs_8bit = true };
	smtp_client_send(&p.c, &msg);
	ck_assert_int_eq(p.last_msg.code, 554);
	ck_assert_str_eq(p.last_msg.ecode, "5.6.3");
	ck_assert_int_eq(p.rcpt[0].code, 554);
	msg.needs_8bit = false;
	msg.needs_smtputf8 = true;
	smtp_client_send(&p.c, &msg);
	ck_assert_int_eq(p.last_msg.code, 553);
	ck_assert_str_eq(p.last_msg.ecode, "5.6.7");
	msg.needs_smtputf8 = false;
	msg.requiretls = true;
	smtp_client_send(&p.c, &msg);
	ck_assert_int_eq(p.last_msg.code, 550);
	ck_assert_str_eq(p.last_msg.ecode, "5.7.30");
	static const char *const inj[] = { "bob@example.net>\r\nRCPT TO:<x@y" };
	msg.requiretls = false;
	msg.rcpts = inj;
	smtp_client_send(&p.c, &msg);
	ck_assert_int_eq(p.last_msg.code, 553);
	ck_assert_str_eq(p.last_msg.ecode, "5.1.3");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\nHELO client.test\r\n");
	/* non-pipelined transaction, DATA with dot-stuffing */
	msg.rcpts = r1;
	p.body = ".x\n";
	p.body_len = 3;
	smtp_client_send(&p.c, &msg);
	sc_say(&p, "250 ok\r\n");
	sc_say(&p, "250 ok\r\n");
	sc_say(&p, "354 go\r\n");
	sc_say(&p, "250 2.0.0 queued\r\n");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\nHELO client.test\r\nMAIL FROM:<a@example.org>\r\n"
				 "RCPT TO:<bob@example.net>\r\nDATA\r\n..x\r\n.\r\n");
	ck_assert_int_eq(p.last_msg.code, 250);
}
END_TEST

/* A reused connection with PIPELINING: RSET leads the next MAIL group (one write, no extra
 * round trip); its reply is consumed first; a refused RSET defers the message and quits. */
START_TEST(test_pipelined_rset)
{
	struct cpair p;
	static const char *const r1[] = { "bob@example.net" };

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250-x\r\n250 PIPELINING\r\n");
	struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = r1, .nrcpt = 1 };
	for (int m = 0; m < 3; m++) {
		p.body = "x\n";
		p.body_len = 2;
		p.body_pos = 0;
		p.sent_len = 0;
		p.sent[0] = '\0';
		ck_assert_int_eq(smtp_client_send(&p.c, &msg), 0);
		if (m == 0) {
			sc_say(&p, "250 ok\r\n250 ok\r\n354 go\r\n");
			ck_assert_str_eq(p.sent, "MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
						 "DATA\r\nx\r\n.\r\n");
		} else if (m == 1) {
			sc_say(&p, "250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n");
			ck_assert_str_eq(p.sent, "RSET\r\nMAIL FROM:<a@example.org>\r\n"
						 "RCPT TO:<bob@example.net>\r\nDATA\r\nx\r\n.\r\n");
		} else {
			sc_say(&p, "502 5.5.1 no RSET here\r\n");
			ck_assert_int_eq(p.msg_results, 3);
			ck_assert_int_eq(p.last_msg.code, 451);
			ck_assert_str_eq(p.last_msg.ecode, "4.4.2");
			ck_assert_int_eq(p.done, 1);
			ck_assert_str_eq(p.sent, "RSET\r\nMAIL FROM:<a@example.org>\r\n"
						 "RCPT TO:<bob@example.net>\r\nDATA\r\nQUIT\r\n");
			break;
		}
		sc_say(&p, "250 2.0.0 queued\r\n");
		ck_assert_int_eq(p.msg_results, m + 1);
		ck_assert_int_eq(p.last_msg.code, 250);
	}
}
END_TEST

/* PIPELINING + CHUNKING: MAIL, RCPTs and the whole body as BDAT ... LAST leave before any
 * reply (one write, one wait); the replies then settle the transaction. */
START_TEST(test_bdat_one_write)
{
	static const char *const r2[] = { "bob@example.net", "eve@example.net" };
	static const char body[] = "Subject: x\r\n\r\nhello\r\n";
	struct cpair p;

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
	ck_assert_int_eq(p.ready, 1);
	for (int m = 0; m < 2; m++) {
		struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = r2, .nrcpt = 2 };
		p.body = body;
		p.body_len = strlen(body);
		p.body_pos = 0;
		p.sent_len = 0;
		p.sent[0] = 0;
		p.body_eagain = m == 1; /* the body is not there yet: the commands wait for it */
		ck_assert_int_eq(smtp_client_send(&p.c, &msg), 0);
		sc_say(&p, "");
		if (m == 1) {
			ck_assert_uint_eq(p.sent_len, 0);
			ck_assert(p.c.body_wait);
			smtp_client_body_ready(&p.c);
			sc_say(&p, "");
		}
		char want[512];
		snprintf(want, sizeof(want), "%sMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.net>\r\n"
			 "RCPT TO:<eve@example.net>\r\nBDAT %zu LAST\r\n%s", m ? "RSET\r\n" : "",
			 strlen(body), body);
		ck_assert_str_eq(p.sent, want);
		/* all replies in one read, the second recipient refused */
		sc_say(&p, m ? "250 reset\r\n250 ok\r\n250 ok\r\n452 4.2.2 full\r\n250 2.0.0 queued\r\n"
			     : "250 ok\r\n250 ok\r\n452 4.2.2 full\r\n250 2.0.0 queued\r\n");
		ck_assert_int_eq(p.msg_results, m + 1);
		ck_assert_int_eq(p.last_msg.code, 250);
		ck_assert_int_eq(p.rcpt[0].code, 250);
		ck_assert_int_eq(p.rcpt[1].code, 452);
		ck_assert_int_eq(p.c.state, SMTP_C_IDLE);
		ck_assert_int_eq(p.ready, m + 2);
	}
}
END_TEST

/* Every RCPT refused with the chunk already sent: the server answers the chunk with an error
 * (RFC 3030: it consumes it), the message fails with the RCPT's reply, then RSET. The same when
 * MAIL itself is refused. A 421 in the middle ends the session with 421 for everything. */
START_TEST(test_bdat_early_failures)
{
	static const char *const r1[] = { "bob@example.net" };
	struct cpair p;

	for (int mode = 0; mode < 3; mode++) {
		sc_init(&p, SMTP_TLS_NONE);
		sc_say(&p, "220 x\r\n");
		sc_say(&p, "250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
		struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = r1, .nrcpt = 1 };
		p.body = "x\r\n";
		p.body_len = 3;
		smtp_client_send(&p.c, &msg);
		sc_say(&p, "");
		ck_assert(strstr(p.sent, "BDAT 3 LAST\r\nx\r\n") != NULL);
		p.sent_len = 0;
		p.sent[0] = 0;
		if (mode == 0)
			sc_say(&p, "250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n");
		else if (mode == 1)
			sc_say(&p, "451 4.3.0 try later\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n");
		else
			sc_say(&p, "250 ok\r\n421 4.3.2 shutting down\r\n");
		ck_assert_int_eq(p.msg_results, 1);
		if (mode == 2) {
			ck_assert_int_eq(p.last_msg.code, 421);
			ck_assert_int_eq(p.rcpt[0].code, 421);
			ck_assert_int_eq(p.done, 1);
			ck_assert_int_eq(p.c.state, SMTP_C_DONE);
			continue;
		}
		ck_assert_int_eq(p.last_msg.code, mode == 0 ? 550 : 451);
		ck_assert_int_eq(p.rcpt[0].code, mode == 0 ? 550 : 451);
		ck_assert_str_eq(p.sent, "RSET\r\n");
		sc_say(&p, "250 reset\r\n");
		ck_assert_int_eq(p.c.state, SMTP_C_IDLE);
		ck_assert_int_eq(p.ready, 2);
	}
}
END_TEST

/* A body larger than the output buffer: several chunks, byte-exact; with chunking turned off
 * (use_bdat false) the same server gets DATA. */
START_TEST(test_bdat_large_and_off)
{
	static const char *const r1[] = { "bob@example.net" };
	static char body[40000];
	struct cpair p;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = i % 77 == 76 ? '\n' : (char)('a' + i % 26);
	for (int bdat = 0; bdat < 2; bdat++) {
		cp_init(&p, SMTP_TLS_NONE);
		p.cl.use_bdat = bdat;
		h_start(&p.h);
		cp_run(&p);
		ck_assert(p.c.ext & SMTP_EXT_CHUNKING);
		struct smtp_client_msg msg = { .from = "a@example.org", .rcpts = r1, .nrcpt = 1 };
		p.body = body;
		p.body_len = sizeof(body);
		smtp_client_send(&p.c, &msg);
		ck_assert(p.c.bdat == bdat);
		cp_run(&p);
		ck_assert_int_eq(p.last_msg.code, 250);
		/* every bare LF became CRLF */
		ck_assert_uint_eq(p.h.msg_len, sizeof(body) + sizeof(body) / 77 + 2);
		h_free(&p.h);
	}
}
END_TEST

START_TEST(test_size_limit_and_params)
{
	struct cpair p;
	static const char *const r1[] = { "bob@example.net" };
	static const uint32_t notify[] = { SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE };
	static const char *const orcpt[] = { "rfc822;bob+40example.net" };

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250-x\r\n250-SIZE 1000\r\n250-DSN\r\n250 8BITMIME\r\n");
	struct smtp_client_msg msg = { .from = "", .rcpts = r1, .nrcpt = 1, .size = 1001 };
	smtp_client_send(&p.c, &msg);
	ck_assert_int_eq(p.last_msg.code, 552);
	ck_assert_str_eq(p.last_msg.ecode, "5.3.4");
	msg.size = 999;
	msg.notify = notify;
	msg.orcpt = orcpt;
	msg.ret = SMTP_RET_FULL;
	msg.envid = "abc";
	msg.needs_8bit = true;
	p.sent_len = 0;
	smtp_client_send(&p.c, &msg);
	sc_say(&p, "");
	ck_assert_str_eq(p.sent, "MAIL FROM:<> SIZE=999 BODY=8BITMIME RET=FULL ENVID=abc\r\n");
	sc_say(&p, "250 ok\r\n");
	ck_assert_str_eq(p.sent, "MAIL FROM:<> SIZE=999 BODY=8BITMIME RET=FULL ENVID=abc\r\n"
				 "RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+40example.net\r\n");
}
END_TEST

START_TEST(test_starttls_drops_buffered_replies)
{
	struct cpair p;

	sc_init(&p, SMTP_TLS_OPPORTUNISTIC);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250-x\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\nSTARTTLS\r\n");
	/* the injected 250 after the 220 must be discarded */
	sc_say(&p, "220 go ahead\r\n250-evil\r\n250 AUTH\r\n");
	ck_assert(p.starttls_asked);
	ck_assert_int_eq(p.c.state, SMTP_C_TLS_WAIT);
	sc_say(&p, "250 more injected\r\n");
	smtp_client_tls_started(&p.c, 2000000);
	sc_say(&p, "");
	ck_assert_str_eq(p.sent, "EHLO client.test\r\nSTARTTLS\r\nEHLO client.test\r\n");
	ck_assert_uint_eq(p.c.ext, 0); /* capabilities from before TLS forgotten */
	sc_say(&p, "250-x\r\n250 8BITMIME\r\n");
	ck_assert_int_eq(p.ready, 1);
	ck_assert_uint_eq(p.c.ext, SMTP_EXT_8BITMIME);
}
END_TEST

START_TEST(test_tls_required_not_offered)
{
	struct cpair p;

	sc_init(&p, SMTP_TLS_REQUIRED);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250-x\r\n250 PIPELINING\r\n");
	ck_assert_int_eq(p.done, 1);
	ck_assert_int_eq(p.last_done.code, 451);
	ck_assert_str_eq(p.last_done.ecode, "4.7.4");
}
END_TEST

/* Hostile replies: each ends the session with a temporary failure, never a crash. */
START_TEST(test_hostile_replies)
{
	static const char *const bad[] = {
		"250-x\r\n251 y\r\n",             /* mismatched codes */
		"abc\r\n",                        /* non-numeric */
		"25\r\n",                         /* short */
		"250x\r\n",                       /* bad separator */
		"250 a\0b\r\n",                   /* NUL (length given explicitly below) */
		"250 bare lf\n",                  /* bare LF */
		"250 bare\rcr\r\n",               /* bare CR */
		"650 what\r\n",                   /* code out of range */
	};
	static const size_t lens[] = { 0, 0, 0, 0, 10, 0, 0, 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cpair p;
		sc_init(&p, SMTP_TLS_NONE);
		sc_say(&p, "220 x\r\n");
		size_t n = lens[i] ? lens[i] : strlen(bad[i]);
		smtp_client_input(&p.c, (const uint8_t *)bad[i], n, 1);
		ck_assert_msg(p.done == 1, "case %zu", i);
		ck_assert_int_eq(p.last_done.code, 451);
		ck_assert_str_eq(p.last_done.ecode, "4.5.0");
	}
	/* over-long line */
	struct cpair p;
	sc_init(&p, SMTP_TLS_NONE);
	char longl[2000];
	memset(longl, 'a', sizeof(longl));
	memcpy(longl, "220 ", 4);
	smtp_client_input(&p.c, (const uint8_t *)longl, sizeof(longl), 1);
	ck_assert_int_eq(p.last_done.code, 451);
	/* endless continuation lines */
	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 x\r\n");
	for (int i = 0; i < 1000 && !p.done; i++)
		sc_say(&p, "250-more\r\n");
	ck_assert_int_eq(p.done, 1);
	ck_assert_int_eq(p.last_done.code, 451);
}
END_TEST

START_TEST(test_timeouts_and_421)
{
	struct cpair p;

	sc_init(&p, SMTP_TLS_NONE);
	ck_assert_int_eq(smtp_client_tick(&p.c, 1000000 + 299000000), 0);
	ck_assert_int_eq(smtp_client_tick(&p.c, 1000000 + 301000000), -ETIMEDOUT);
	ck_assert_int_eq(p.last_done.code, 451);
	ck_assert_str_eq(p.last_done.ecode, "4.4.2");

	sc_init(&p, SMTP_TLS_NONE);
	sc_say(&p, "220 x\r\n");
	sc_say(&p, "250 x\r\n");
	static const char *const r1[] = { "bob@example.net" };
	struct smtp_client_msg msg = { .from = "a@b.example", .rcpts = r1, .nrcpt = 1 };
	smtp_client_send(&p.c, &msg);
	sc_say(&p, "421 4.3.2 shutting down\r\n");
	ck_assert_int_eq(p.done, 1);
	ck_assert_int_eq(p.last_done.code, 421);
	ck_assert_int_eq(p.last_msg.code, 421);
	ck_assert_int_eq(p.rcpt[0].code, 421);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_client");
	TCase *tc = tcase_create("client");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pair_data);
	tcase_add_test(tc, test_pair_bdat);
	tcase_add_test(tc, test_pair_canon_random);
	tcase_add_test(tc, test_rparse_random);
	tcase_add_test(tc, test_pair_no_valid_rcpt);
	tcase_add_test(tc, test_pair_many_rcpts);
	tcase_add_test(tc, test_pair_starttls_and_extensions);
	tcase_add_test(tc, test_greeting_refused);
	tcase_add_test(tc, test_helo_fallback);
	tcase_add_test(tc, test_size_limit_and_params);
	tcase_add_test(tc, test_pipelined_rset);
	tcase_add_test(tc, test_bdat_one_write);
	tcase_add_test(tc, test_bdat_early_failures);
	tcase_add_test(tc, test_bdat_large_and_off);
	tcase_add_test(tc, test_starttls_drops_buffered_replies);
	tcase_add_test(tc, test_tls_required_not_offered);
	tcase_add_test(tc, test_hostile_replies);
	tcase_add_test(tc, test_timeouts_and_421);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
