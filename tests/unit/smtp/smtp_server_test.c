/* SPDX-License-Identifier: MIT */
/*
 * smtp_server_test.c: the server engine, rule by rule. Each case asserts the exact reply code
 * and enhanced status code. Whole-session behaviour under arbitrary splits is covered by the
 * golden transcripts (smtp_golden_test.c); here are the rules that need a fixed split, a clock,
 * or a look at the engine's internals (STARTTLS input discard, timeouts, backpressure, batches).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_harness.h"

/* Last reply line in s (without CRLF), for assertions. */
static const char *last_reply(const char *s)
{
	static char buf[600];
	const char *best = NULL;

	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			break;
		if (p[0] >= '1' && p[0] <= '5')
			best = p;
		p = e + 1;
	}
	if (!best)
		return "";
	size_t n = strcspn(best, "\r\n");
	snprintf(buf, sizeof(buf), "%.*s", (int)n, best);
	return buf;
}

static bool starts(const char *s, const char *pfx)
{
	return strncmp(s, pfx, strlen(pfx)) == 0;
}

#define EXPECT(h, cmd, pfx)                                                                   \
	do {                                                                                  \
		const char *r_ = last_reply(h_say((h), cmd));                                 \
		ck_assert_msg(starts(r_, pfx), "%s -> '%s', want '%s'", cmd, r_, pfx);        \
	} while (0)

static void ready(struct harness *h)
{
	h_init(h);
	h->log_events = false;
}

static void started(struct harness *h)
{
	ready(h);
	h_start(h);
}

/* One table of rules: a session prefix, then a command and the exact expected reply. */
struct rule {
	const char *setup;
	const char *cmd;
	const char *want;
};

static const struct rule rules[] = {
	/* verbs */
	{ "", "EHLO c.test\r\n", "250 " },
	{ "", "HELO c.test\r\n", "250 mx.test" },
	{ "", "EHLO\r\n", "501 5.5.4" },
	{ "", "NOOP\r\n", "250 2.0.0" },
	{ "", "NOOP anything\r\n", "250 2.0.0" },
	{ "", "RSET\r\n", "250 2.0.0" },
	{ "", "VRFY bob\r\n", "252 2.5.0" },
	{ "", "VRFY\r\n", "501 5.5.4" },
	{ "", "HELP\r\n", "214 2.0.0" },
	{ "", "QUIT\r\n", "221 2.0.0" },
	{ "", "EXPN list\r\n", "500 5.5.1" },
	{ "", "XYZZY\r\n", "500 5.5.1" },
	{ "", "\r\n", "500 5.5.1" },
	/* sequencing */
	{ "", "MAIL FROM:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\n", "RCPT TO:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\n", "DATA\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "DATA\r\n", "554 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "MAIL FROM:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "STARTTLS\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRSET\r\n", "RCPT TO:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nEHLO c\r\n", "RCPT TO:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\n", "RSET x\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "QUIT now\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "530 5.7.0" },
	/* MAIL and its parameters */
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test>\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:<>\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:a@b.test\r\n", "501 5.1.7" },
	{ "EHLO c\r\n", "MAIL TO:<a@b.test>\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> FOO=1\r\n", "555 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> SIZE=52428801\r\n", "552 5.3.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> SIZE=52428800\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> SIZE=x\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> BODY=8BITMIME\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> RET=FULL ENVID=x+2By\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> ENVID=x+2\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> ENVID=a=b\r\n", "501 5.5.4" },
	{ "EHLO c\r\n", "MAIL FROM:<a@b.test> REQUIRETLS\r\n", "530 5.7.10" },
	{ "EHLO c\r\n", "MAIL FROM:<\xc3\xa9@b.test>\r\n", "553 5.6.7" },
	{ "EHLO c\r\n", "MAIL FROM:<\xc3\xa9@b.test> SMTPUTF8\r\n", "250 2.1.0" },
	{ "EHLO c\r\n", "MAIL FROM:<a@spoof.test>\r\n", "550 5.7.1" },
	/* RCPT */
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@b.test>\r\n", "250 2.1.5" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@denied.test>\r\n", "554 5.7.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<>\r\n", "501 5.1.3" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<Postmaster>\r\n", "250 2.1.5" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@b.test> NOTIFY=NEVER\r\n", "250 2.1.5" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@b.test> NOTIFY=NEVER,DELAY\r\n", "501 5.5.4" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@b.test> ORCPT=rfc822;a@b.test\r\n", "250 2.1.5" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<a@b.test> X=Y\r\n", "555 5.5.4" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\n", "RCPT TO:<\xc3\xa9@b.test>\r\n", "553 5.6.7" },
	/* BDAT and DATA mixing */
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nBDAT 1\r\nx", "DATA\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nBDAT 1\r\nx", "MAIL FROM:<a@b.test>\r\n", "503 5.5.1" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\n", "BDAT 3 LAST\r\nabc", "250 2.0.0" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\n", "BDAT 0 LAST\r\n", "250 2.0.0" },
	{ "EHLO c\r\n", "BDAT 2\r\nxy", "503 5.5.1" },
	{ "", "BDAT 2\r\nxy", "503 5.5.1" },
	{ "EHLO c\r\n", "BDAT -1\r\n", "501 5.5.4" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\n", "BDAT 52428801\r\n", "552 5.3.4" },
	{ "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\n", "BDAT 9999999999999999999\r\n", "552 5.3.4" },
	/* framing */
	{ "", "NOOP\n", "500 5.5.2" },
	{ "", "NOOP\rX\r\n", "500 5.5.2" },
};

START_TEST(test_rules)
{
	const struct rule *r = &rules[_i];
	struct harness h;

	started(&h);
	h_feed(&h, r->setup);
	EXPECT(&h, r->cmd, r->want);
	h_free(&h);
}
END_TEST

START_TEST(test_ehlo_capabilities)
{
	struct harness h;

	started(&h);
	const char *r = h_say(&h, "EHLO c\r\n");
	ck_assert(strstr(r, "250-PIPELINING\r\n"));
	ck_assert(strstr(r, "250-SIZE 52428800\r\n"));
	ck_assert(strstr(r, "250-8BITMIME\r\n"));
	ck_assert(strstr(r, "250-SMTPUTF8\r\n"));
	ck_assert(strstr(r, "250-CHUNKING\r\n"));
	ck_assert(strstr(r, "250-ENHANCEDSTATUSCODES\r\n"));
	ck_assert(strstr(r, "250-DSN\r\n"));
	ck_assert(strstr(r, "250 STARTTLS\r\n"));
	ck_assert(!strstr(r, "AUTH"));
	ck_assert(!strstr(r, "REQUIRETLS"));
	/* STARTTLS with pipelined commands in the same read: those are discarded (CVE-2011-0411) */
	r = h_say(&h, "STARTTLS\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
	ck_assert_str_eq(r, "220 2.0.0 Ready to start TLS\r\n");
	ck_assert(h.s.tls);
	EXPECT(&h, "MAIL FROM:<a@b.test>\r\n", "503 5.5.1"); /* EHLO again first */
	r = h_say(&h, "EHLO c\r\n");
	ck_assert(!strstr(r, "STARTTLS"));
	ck_assert(strstr(r, "250-AUTH PLAIN LOGIN\r\n"));
	ck_assert(strstr(r, "250 REQUIRETLS\r\n"));
	EXPECT(&h, "STARTTLS\r\n", "503 5.5.1");
	EXPECT(&h, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", "235 2.7.0");
	r = h_say(&h, "EHLO c\r\n");
	ck_assert(!strstr(r, "AUTH"));
	EXPECT(&h, "MAIL FROM:<a@b.test> REQUIRETLS\r\n", "250 2.1.0");
	ck_assert(h.s.mail.requiretls);
	h_free(&h);
}
END_TEST

START_TEST(test_starttls_partial_line_discarded)
{
	struct harness h;

	started(&h);
	h_feed(&h, "EHLO c\r\n");
	/* a partial command carried in the line buffer must not survive STARTTLS either: what
	 * follows is a new line ("OM:<...>", unknown), not the completion of "MAIL FR" */
	h_say(&h, "STARTTLS\r\nMAIL FR");
	const char *r = h_say(&h, "OM:<a@b.test>\r\n");
	ck_assert_str_eq(last_reply(r), "500 5.5.1 Error: command not recognized");
	h_free(&h);
}
END_TEST

START_TEST(test_auth_login_and_cancel)
{
	struct harness h;

	started(&h);
	smtp_server_tls_started(&h.s, h.now);
	h_feed(&h, "EHLO c\r\n");
	EXPECT(&h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6");
	EXPECT(&h, "YWxpY2U=\r\n", "334 UGFzc3dvcmQ6");
	EXPECT(&h, "c2VjcmV0\r\n", "235 2.7.0");
	ck_assert(h.s.authenticated);
	ck_assert_str_eq(h.s.auth_id, "alice");
	EXPECT(&h, "AUTH LOGIN\r\n", "503 5.5.1");
	h_free(&h);

	started(&h);
	smtp_server_tls_started(&h.s, h.now);
	h_feed(&h, "EHLO c\r\n");
	EXPECT(&h, "AUTH PLAIN\r\n", "334");
	EXPECT(&h, "*\r\n", "501 5.7.0");
	EXPECT(&h, "AUTH LOGIN YWxpY2U=\r\n", "334 UGFzc3dvcmQ6");
	EXPECT(&h, "d3Jvbmc=\r\n", "535 5.7.8");
	EXPECT(&h, "AUTH XOAUTH2\r\n", "504 5.5.4");
	EXPECT(&h, "AUTH PLAIN AGFsaWNl\r\n", "501 5.5.2");
	h_free(&h);
}
END_TEST

START_TEST(test_rcpt_limit)
{
	struct harness h;
	char cmd[64];

	started(&h);
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	ck_assert_uint_ge(h.lim.rcpt_max, 100);
	for (unsigned i = 0; i < h.lim.rcpt_max; i++) {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<r%u@b.test>\r\n", i);
		EXPECT(&h, cmd, "250 2.1.5");
	}
	EXPECT(&h, "RCPT TO:<extra@b.test>\r\n", "452 4.5.3");
	EXPECT(&h, "RCPT TO:<extra2@b.test>\r\n", "452 4.5.3");
	EXPECT(&h, "DATA\r\n", "354");
	EXPECT(&h, "x\r\n.\r\n", "250 2.0.0");
	h_free(&h);
}
END_TEST

START_TEST(test_text_line_limit)
{
	struct harness h;
	char line[1100];

	memset(line, 'a', sizeof(line));
	memcpy(line + 998, "\r\n", 3); /* 998 + CRLF = 1000: allowed */
	started(&h);
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
	h_feed(&h, line);
	EXPECT(&h, ".\r\n", "250 2.0.0");
	memset(line, 'a', sizeof(line));
	memcpy(line + 999, "\r\n", 3); /* 1001 octets */
	h_feed(&h, "MAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
	h_feed(&h, line);
	EXPECT(&h, ".\r\n", "550 5.5.2");
	h_free(&h);

	started(&h);
	h.lim.text_line_reject = false;
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
	h_feed(&h, line);
	EXPECT(&h, ".\r\n", "250 2.0.0");
	h_free(&h);
}
END_TEST

START_TEST(test_command_line_limit)
{
	struct harness h;
	char line[600];

	started(&h);
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 510, "\r\n", 3); /* 512 octets with CRLF: allowed */
	EXPECT(&h, line, "250 2.0.0");
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 511, "\r\n", 3); /* 513 */
	EXPECT(&h, line, "500 5.5.2");
	/* an over-long MAIL is never truncated and executed */
	memset(line, 'a', sizeof(line));
	memcpy(line, "EHLO c\r\nMAIL FROM:<a@b.test>", 28);
	memcpy(line + 560, "\r\nRSET\r\n", 9);
	const char *r = h_say(&h, line);
	ck_assert(strstr(r, "500 5.5.2"));
	ck_assert(!strstr(r, "2.1.0"));
	h_free(&h);
}
END_TEST

START_TEST(test_commands_limit)
{
	struct harness h;

	started(&h);
	h.lim.commands_max = 5;
	for (int i = 0; i < 5; i++)
		EXPECT(&h, "NOOP\r\n", "250 2.0.0");
	EXPECT(&h, "NOOP\r\n", "421 4.7.0");
	ck_assert(h.closed);
	ck_assert(smtp_server_want_close(&h.s));
	ck_assert_str_eq(h_say(&h, "NOOP\r\n"), ""); /* after the end: discarded */
	h_free(&h);
}
END_TEST

START_TEST(test_errors_limit)
{
	struct harness h;

	started(&h);
	h.lim.errors_max = 3;
	EXPECT(&h, "FOO\r\n", "500 5.5.1");
	EXPECT(&h, "FOO\r\n", "500 5.5.1");
	const char *r = h_say(&h, "FOO\r\n");
	ck_assert(strstr(r, "500 5.5.1"));
	ck_assert_str_eq(last_reply(r), "421 4.7.0 Error: too many errors");
	ck_assert(h.closed);
	h_free(&h);
}
END_TEST

START_TEST(test_timeouts)
{
	struct harness h;
	const uint64_t t0 = 1000000, s = 1000000;

	started(&h);
	ck_assert_uint_eq(smtp_server_next_deadline(&h.s), t0 + 300 * s);
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 299 * s), 0);
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 300 * s), -ETIMEDOUT);
	h_drain(&h);
	ck_assert_str_eq(last_reply(h.log), "421 4.4.2 Error: timeout exceeded");
	ck_assert(h.closed);
	h_free(&h);

	/* a partial command does not extend the command deadline (slow-drip commands) */
	started(&h);
	h.now = t0 + 200 * s;
	h_feed(&h, "NO");
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 301 * s), -ETIMEDOUT);
	h_free(&h);

	/* DATA: 3 minutes between blocks, and a minimum rate */
	started(&h);
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
	h.now = t0 + 10 * s;
	h_feed(&h, "Subject: slow\r\n");
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 20 * s), 0);
	/* 30 s window with 15 octets: below 1024 octets/s */
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 31 * s), -ETIMEDOUT);
	h_drain(&h);
	ck_assert_str_eq(last_reply(h.log), "421 4.4.2 Error: data rate too low");
	ck_assert(strstr(h.log, "") != NULL);
	h_free(&h);

	started(&h);
	h.lim.min_data_rate = 0;
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n");
	ck_assert_uint_eq(smtp_server_next_deadline(&h.s), t0 + 180 * s);
	ck_assert_int_eq(smtp_server_tick(&h.s, t0 + 181 * s), -ETIMEDOUT);
	h_free(&h);
}
END_TEST

/* Output backpressure: without draining, the engine stops consuming, never overflows. */
START_TEST(test_backpressure)
{
	struct harness h;
	static char many[20 * 6 * 300 + 1];

	started(&h);
	h.hooks.flush = NULL;
	for (int i = 0; i < 20 * 300; i++)
		memcpy(many + 6 * i, "NOOP\r\n", 6);
	size_t len = strlen(many), off = 0, replies = 0;
	h.lim.commands_max = 100000;
	h.lim.errors_max = 100000;
	while (off < len) {
		size_t n = smtp_server_input(&h.s, (const uint8_t *)many + off, len - off, h.now);
		ck_assert_msg(n > 0, "no progress at %zu", off);
		ck_assert(!h.s.out.overflow);
		off += n;
		size_t ol;
		const char *o = smtp_server_output(&h.s, &ol);
		for (size_t i = 0; i + 1 < ol; i++)
			replies += o[i] == '\r' && o[i + 1] == '\n';
		smtp_server_output_consume(&h.s, ol);
	}
	ck_assert_uint_eq(replies, 20 * 300);
	h_free(&h);
}
END_TEST

/* data_end waits for the answer: pipelined commands after the dot wait too. */
START_TEST(test_async_result)
{
	struct harness h;
	static const char in[] = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\n"
				 "x\r\n.\r\nQUIT\r\n";

	started(&h);
	size_t n = smtp_server_input(&h.s, (const uint8_t *)in, sizeof(in) - 1, h.now);
	ck_assert_uint_eq(n, sizeof(in) - 1 - 6);
	ck_assert_int_eq(h.s.state, SMTP_S_WAIT_RESULT);
	ck_assert(h.want_result);
	ck_assert_int_eq(smtp_server_input(&h.s, (const uint8_t *)in + n, 6, h.now), 0);
	struct smtp_verdict v = { 452, "4.3.1", "Error: insufficient system storage" };
	ck_assert_int_eq(smtp_server_data_result(&h.s, &v), 0);
	ck_assert_int_eq(smtp_server_data_result(&h.s, &v), -EINVAL);
	h_drain(&h);
	ck_assert_str_eq(last_reply(h.log), "452 4.3.1 Error: insufficient system storage");
	ck_assert_uint_eq(smtp_server_input(&h.s, (const uint8_t *)in + n, 6, h.now), 6);
	h_drain(&h);
	ck_assert_str_eq(last_reply(h.log), "221 2.0.0 Bye");
	h_free(&h);
}
END_TEST

static int flushes;
static char batches[8][2048];

static void count_flush(void *ctx, struct smtp_server_session *s)
{
	size_t n;
	const char *o = smtp_server_output(s, &n);
	if (flushes < 8)
		snprintf(batches[flushes], sizeof(batches[0]), "%.*s", (int)n, o);
	flushes++;
	smtp_server_output_consume(s, n);
}

/* RFC 2920: one batch of replies per pipelined group; DATA ends the group. */
START_TEST(test_pipelining_batches)
{
	struct harness h;

	started(&h);
	h_feed(&h, "EHLO c\r\n");
	h.hooks.flush = count_flush;
	flushes = 0;
	h_feed(&h, "MAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<b@denied.test>\r\nDATA\r\n");
	ck_assert_int_eq(flushes, 1);
	ck_assert_str_eq(batches[0], "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.7.1 Error: relay access denied\r\n"
				     "354 End data with <CR><LF>.<CR><LF>\r\n");
	flushes = 0;
	h_feed(&h, "x\r\n.\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\n");
	/* the answer to the message goes out as soon as it is known, then the rest */
	ck_assert_int_eq(flushes, 2);
	ck_assert_str_eq(batches[0], "250 2.0.0 Ok: queued as T1\r\n");
	ck_assert_str_eq(batches[1], "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	h_free(&h);
}
END_TEST

START_TEST(test_peer_closed_and_shutdown)
{
	struct harness h;

	started(&h);
	h.log_events = true;
	h_feed(&h, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<a@b.test>\r\nDATA\r\nhalf a mess");
	smtp_server_peer_closed(&h.s);
	ck_assert(strstr(h.log, "## abort 8"));
	ck_assert(smtp_server_want_close(&h.s));
	h_free(&h);

	started(&h);
	smtp_server_shutdown(&h.s);
	h_drain(&h);
	ck_assert_str_eq(last_reply(h.log), "421 4.3.2 Service shutting down, closing channel");
	ck_assert(h.closed);
	h_free(&h);
}
END_TEST

START_TEST(test_reply_text_is_data)
{
	struct smtp_obuf ob;

	smtp_obuf_reset(&ob);
	smtp_reply_line(&ob, 550, "5.7.1", "evil\r\n250 injected\0", true);
	size_t n;
	const char *o = smtp_obuf_data(&ob, &n);
	ck_assert_uint_eq(n, strlen("550 5.7.1 evil??250 injected\r\n"));
	ck_assert(memcmp(o, "550 5.7.1 evil??250 injected\r\n", n) == 0);
	ck_assert(smtp_ecode_valid("2.1.5"));
	ck_assert(smtp_ecode_valid("5.7.30"));
	ck_assert(!smtp_ecode_valid("3.1.5"));
	ck_assert(!smtp_ecode_valid("5.1"));
	ck_assert(!smtp_ecode_valid("5.1.1234"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_server");
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_rules, 0, (int)(sizeof(rules) / sizeof(rules[0])));
	tcase_add_test(tc, test_ehlo_capabilities);
	tcase_add_test(tc, test_starttls_partial_line_discarded);
	tcase_add_test(tc, test_auth_login_and_cancel);
	tcase_add_test(tc, test_rcpt_limit);
	tcase_add_test(tc, test_text_line_limit);
	tcase_add_test(tc, test_command_line_limit);
	tcase_add_test(tc, test_commands_limit);
	tcase_add_test(tc, test_errors_limit);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_async_result);
	tcase_add_test(tc, test_pipelining_batches);
	tcase_add_test(tc, test_peer_closed_and_shutdown);
	tcase_add_test(tc, test_reply_text_is_data);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
