/* SPDX-License-Identifier: MIT */
/*
 * bench_smtpd.c: the SMTP server engine of the sink: a resumable, zero-copy parser over the
 * client's bytes that produces replies into a small output block and stops at every point
 * where its owner must act (end of message, STARTTLS, QUIT). No I/O, no clock, no allocation,
 * so it is unit tested and fuzzed directly. It is deliberately lenient where real clients are
 * sloppy (bare LF line ends, any case) and strict where it matters for measurement
 * (transaction order, the end-of-data marker only at a line start, nothing pipelined after
 * STARTTLS).
 */
#include "bench.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define CMD_MAX 1000       /* RFC 5321 4.5.3.1.4 says 512; be generous */
#define MAX_ERRORS 20
#define OUT_RESERVE 512    /* stop parsing while less than this is free in out */

static const char *const state_names[BENCH_SMTPD__MAX] = {
	[BENCH_SMTPD_CMD] = "cmd", [BENCH_SMTPD_DATA] = "data", [BENCH_SMTPD_EOM] = "eom",
	[BENCH_SMTPD_TLS] = "tls", [BENCH_SMTPD_QUIT] = "quit", [BENCH_SMTPD_BDAT] = "bdat",
};

const char *bench_smtpd_state_name(enum bench_smtpd_state st)
{
	return (unsigned)st < BENCH_SMTPD__MAX ? state_names[st] : "?";
}

/* The one transition function (a place for a trace when debugging). */
static void smtpd_enter(struct bench_smtpd *s, enum bench_smtpd_state next)
{
	s->state = next;
}

static void reply(struct bench_smtpd *s, const char *text)
{
	size_t n = strlen(text);
	if (s->out_len + n > sizeof(s->out))
		n = sizeof(s->out) - s->out_len; /* cannot happen with OUT_RESERVE; stay bounded */
	memcpy(s->out + s->out_len, text, n);
	s->out_len += n;
}

void bench_smtpd_init(struct bench_smtpd *s, bool offer_tls, const char *hostname)
{
	memset(s, 0, sizeof(*s));
	s->offer_tls = offer_tls;
	reply(s, "220 ");
	reply(s, hostname);
	reply(s, " ESMTP dpmail-bench sink\r\n");
}

static void reset_txn(struct bench_smtpd *s)
{
	s->mail = false;
	s->rcpts = 0;
	s->msg_bytes = 0;
	s->msgid_len = 0;
	s->msgid[0] = 0;
	s->dkim_signed = false;
	s->bdat_txn = false;
	s->hcarry_on = false;
}

void bench_smtpd_reply_421(struct bench_smtpd *s, const char *why)
{
	reply(s, "421 4.7.0 ");
	reply(s, why);
	reply(s, "\r\n");
	smtpd_enter(s, BENCH_SMTPD_QUIT);
}

void bench_smtpd_tls_started(struct bench_smtpd *s)
{
	s->tls = true;
	s->greeted = false;
	reset_txn(s);
	smtpd_enter(s, BENCH_SMTPD_CMD);
}

void bench_smtpd_eom_reply(struct bench_smtpd *s, unsigned code)
{
	switch (code / 100) {
	case 2: reply(s, "250 2.0.0 Ok: queued\r\n"); break;
	case 4:
		if (code == 421) {
			reset_txn(s);
			bench_smtpd_reply_421(s, "Service not available, closing (bench mix)");
			return;
		}
		reply(s, code == 452 ? "452 4.3.1 Insufficient system storage (bench mix)\r\n"
				     : "451 4.3.0 Temporary failure (bench mix)\r\n");
		break;
	default:
		reply(s, code == 552 ? "552 5.3.4 Message too big (bench mix)\r\n"
				     : "550 5.7.1 Message rejected (bench mix)\r\n");
		break;
	}
	reset_txn(s);
	smtpd_enter(s, BENCH_SMTPD_CMD);
}

/* Does line (without CRLF) start with verb, followed by end or a space / colon? */
static bool verb_is(const char *line, size_t len, const char *verb)
{
	size_t n = strlen(verb);
	return len >= n && strncasecmp(line, verb, n) == 0 &&
	       (len == n || line[n] == ' ' || line[n] == ':');
}

static void bad_command(struct bench_smtpd *s, const char *text)
{
	reply(s, text);
	if (++s->errors >= MAX_ERRORS)
		bench_smtpd_reply_421(s, "Too many errors");
}

static void do_ehlo(struct bench_smtpd *s, bool extended)
{
	s->greeted = true;
	reset_txn(s);
	if (!extended) {
		reply(s, "250 dpmail-bench\r\n");
		return;
	}
	reply(s, "250-dpmail-bench\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n"
		 "250-CHUNKING\r\n");
	if (s->offer_tls && !s->tls)
		reply(s, "250-STARTTLS\r\n");
	reply(s, "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
}

static void bdat_chunk_done(struct bench_smtpd *s);

/*
 * BDAT size [LAST] (RFC 3030). The chunk's octets are read whatever the reply, also without a
 * transaction (then discarded, 503), since the client may have pipelined them; a size that
 * cannot be read leaves no way to find the next command: 501 and close.
 */
static void do_bdat(struct bench_smtpd *s, const char *l, size_t n)
{
	const char *p = l + 4, *end = l + n;
	uint64_t size = 0;
	int digits = 0;
	while (p < end && *p == ' ')
		p++;
	for (; p < end && *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
		size = size * 10 + (uint64_t)(*p - '0');
	while (p < end && *p == ' ')
		p++;
	bool last = end - p == 4 && strncasecmp(p, "LAST", 4) == 0;
	if (digits == 0 || (p < end && !last)) {
		reply(s, "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
		smtpd_enter(s, BENCH_SMTPD_QUIT);
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_discard = !s->mail || s->rcpts == 0;
	if (!s->bdat_discard && !s->bdat_txn) {
		s->bdat_txn = true;
		s->in_headers = true;
		s->line_start = true;
		s->hcarry_on = false;
		s->msg_bytes = 0;
	}
	smtpd_enter(s, BENCH_SMTPD_BDAT);
	if (size == 0)
		bdat_chunk_done(s);
}

/* One complete command line (CR/LF stripped). */
static void command(struct bench_smtpd *s, const char *l, size_t n)
{
	if (verb_is(l, n, "EHLO") || verb_is(l, n, "HELO")) {
		if (n < 6)
			bad_command(s, "501 5.5.4 Syntax: EHLO hostname\r\n");
		else
			do_ehlo(s, toupper((unsigned char)l[0]) == 'E');
	} else if (verb_is(l, n, "MAIL")) {
		if (!s->greeted)
			bad_command(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		else if (s->mail)
			bad_command(s, "503 5.5.1 Error: nested MAIL command\r\n");
		else if (n < 10 || strncasecmp(l + 4, " FROM:", 6) != 0)
			bad_command(s, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		else {
			s->mail = true;
			reply(s, "250 2.1.0 Ok\r\n");
		}
	} else if (verb_is(l, n, "RCPT")) {
		if (!s->mail)
			bad_command(s, "503 5.5.1 Error: need MAIL command\r\n");
		else if (n < 8 || strncasecmp(l + 4, " TO:", 4) != 0)
			bad_command(s, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		else if (s->rcpts >= 1000)
			reply(s, "452 4.5.3 Too many recipients\r\n");
		else {
			s->rcpts++;
			reply(s, "250 2.1.5 Ok\r\n");
		}
	} else if (verb_is(l, n, "BDAT")) {
		do_bdat(s, l, n);
	} else if (verb_is(l, n, "DATA")) {
		if (s->bdat_txn)
			bad_command(s, "503 5.5.1 Error: DATA after BDAT\r\n");
		else if (!s->mail || s->rcpts == 0)
			bad_command(s, "503 5.5.1 Error: need RCPT command\r\n");
		else {
			reply(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
			s->in_headers = true;
			s->line_start = true;
			s->msg_bytes = 0;
			smtpd_enter(s, BENCH_SMTPD_DATA);
		}
	} else if (verb_is(l, n, "RSET")) {
		reset_txn(s);
		reply(s, "250 2.0.0 Ok\r\n");
	} else if (verb_is(l, n, "NOOP")) {
		reply(s, "250 2.0.0 Ok\r\n");
	} else if (verb_is(l, n, "QUIT")) {
		reply(s, "221 2.0.0 Bye\r\n");
		smtpd_enter(s, BENCH_SMTPD_QUIT);
	} else if (verb_is(l, n, "STARTTLS")) {
		if (!s->offer_tls || s->tls)
			bad_command(s, "502 5.5.1 Error: command not implemented\r\n");
		else {
			reply(s, "220 2.0.0 Ready to start TLS\r\n");
			smtpd_enter(s, BENCH_SMTPD_TLS);
		}
	} else if (verb_is(l, n, "VRFY")) {
		reply(s, "252 2.0.0 Cannot VRFY user\r\n");
	} else {
		bad_command(s, "502 5.5.2 Error: command not recognized\r\n");
	}
}

/* Captures the Message-ID header value of a complete header line; notes a DKIM signature. */
static void header_line(struct bench_smtpd *s, const uint8_t *l, size_t n)
{
	static const char name[] = "message-id:", dkim[] = "dkim-signature:";
	if (n >= sizeof(dkim) - 1 && strncasecmp((const char *)l, dkim, sizeof(dkim) - 1) == 0)
		s->dkim_signed = true;
	if (n < sizeof(name) - 1 || strncasecmp((const char *)l, name, sizeof(name) - 1) != 0)
		return;
	size_t i = sizeof(name) - 1;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	size_t end = n;
	while (end > i && (l[end - 1] == '\r' || l[end - 1] == '\n' || l[end - 1] == ' '))
		end--;
	size_t len = end - i;
	if (len > BENCH_MSGID_MAX)
		len = BENCH_MSGID_MAX;
	memcpy(s->msgid, l + i, len);
	s->msgid[len] = 0;
	s->msgid_len = len;
}

/* Appends n octets to the carried header line (an over-long line is not inspected). */
static void hcarry_add(struct bench_smtpd *s, const uint8_t *p, size_t n)
{
	if (s->hcarry_len + n > sizeof(s->hcarry)) {
		s->hcarry_len = sizeof(s->hcarry) + 1; /* too long: marks it, nothing more kept */
		return;
	}
	memcpy(s->hcarry + s->hcarry_len, p, n);
	s->hcarry_len += n;
}

/* BDAT content continuing a header line cut by the previous chunk's end: up to and including
 * its LF (or all of d when there is none) is counted, passed on and added to the carried line;
 * a complete line is then inspected like any header line. Returns bytes consumed. */
static size_t hcarry_input(struct bench_smtpd *s, const uint8_t *d, size_t len)
{
	const uint8_t *lf = memchr(d, '\n', len);
	size_t n = lf ? (size_t)(lf - d) + 1 : len;
	hcarry_add(s, d, n);
	s->msg_bytes += n;
	if (s->on_content)
		s->on_content(s->content_ctx, d, n);
	s->line_start = lf != NULL;
	if (lf) {
		s->hcarry_on = false;
		if (s->hcarry_len <= sizeof(s->hcarry)) {
			if (s->hcarry_len <= 2 && (s->hcarry[0] == '\r' || s->hcarry[0] == '\n'))
				s->in_headers = false;
			else
				header_line(s, s->hcarry, s->hcarry_len);
		}
	}
	return n;
}

/*
 * Message content: returns bytes consumed; stops at EOM or when a line is incomplete. raw is
 * BDAT content: no end marker, no dot-unstuffing, and an incomplete line is waited for only
 * while more octets of the chunk are due (more); a header line the chunk's end cuts is carried
 * into the next chunk (hcarry_input).
 */
static size_t data_input(struct bench_smtpd *s, const uint8_t *d, size_t len, bool raw, bool more)
{
	size_t off = 0;
	while (off < len) {
		const uint8_t *p = d + off;
		size_t rest = len - off;
		if (raw && s->hcarry_on) {
			off += hcarry_input(s, p, rest);
			continue;
		}
		const uint8_t *lf = memchr(p, '\n', rest);
		if (!lf) {
			if (raw && !more && s->in_headers && s->line_start) {
				/* the chunk ends inside a header line: carry it into the next chunk */
				s->hcarry_len = 0;
				s->hcarry_on = true;
				return off + hcarry_input(s, p, rest);
			}
			/* an incomplete line: wait for its end when it may still be the end marker
			 * or a header we inspect; otherwise count it and go on mid-line */
			bool wait = raw ? more && s->in_headers && rest < CMD_MAX
					: rest < 3 || (s->in_headers && rest < CMD_MAX);
			if (s->line_start && wait)
				return off;
			s->msg_bytes += rest;
			if (s->on_content)
				s->on_content(s->content_ctx, p, rest);
			s->line_start = false;
			return len;
		}
		size_t n = (size_t)(lf - p) + 1;
		if (s->line_start) {
			if (!raw && ((n == 3 && p[0] == '.' && p[1] == '\r') || (n == 2 && p[0] == '.'))) {
				smtpd_enter(s, BENCH_SMTPD_EOM);
				return off + n;
			}
			if (s->in_headers) {
				if (n <= 2 && (p[0] == '\r' || p[0] == '\n'))
					s->in_headers = false;
				else
					header_line(s, p, n);
			}
			size_t dot = !raw && p[0] == '.'; /* dot-unstuffing */
			s->msg_bytes += n - dot;
			if (s->on_content)
				s->on_content(s->content_ctx, p + dot, n - dot);
		} else {
			s->msg_bytes += n;
			if (s->on_content)
				s->on_content(s->content_ctx, p, n);
		}
		s->line_start = true;
		off += n;
	}
	return off;
}

/* A BDAT chunk was read whole: LAST ends the message (EOM, the owner replies), others get 250. */
static void bdat_chunk_done(struct bench_smtpd *s)
{
	if (s->bdat_discard) {
		reply(s, "503 5.5.1 Error: need RCPT command\r\n");
		if (s->bdat_last)
			reset_txn(s);
		smtpd_enter(s, BENCH_SMTPD_CMD);
	} else if (s->bdat_last) {
		smtpd_enter(s, BENCH_SMTPD_EOM);
	} else {
		reply(s, "250 2.0.0 chunk received\r\n");
		smtpd_enter(s, BENCH_SMTPD_CMD);
	}
}

/* Octets of a BDAT chunk: at most bdat_left of len; returns bytes consumed. */
static size_t bdat_input(struct bench_smtpd *s, const uint8_t *d, size_t len)
{
	size_t take = len < s->bdat_left ? len : (size_t)s->bdat_left;
	size_t used = take;
	if (!s->bdat_discard)
		used = data_input(s, d, take, true, s->bdat_left > take);
	s->bdat_left -= used;
	if (s->bdat_left == 0)
		bdat_chunk_done(s);
	return used;
}

size_t bench_smtpd_input(struct bench_smtpd *s, const uint8_t *d, size_t len)
{
	size_t off = 0;
	while (off < len && s->out_len + OUT_RESERVE <= sizeof(s->out)) {
		if (s->state == BENCH_SMTPD_BDAT) {
			size_t used = bdat_input(s, d + off, len - off);
			off += used;
			if (s->state == BENCH_SMTPD_BDAT && used == 0)
				return off; /* needs more bytes */
			continue;
		}
		if (s->state == BENCH_SMTPD_DATA) {
			off += data_input(s, d + off, len - off, false, false);
			if (s->state == BENCH_SMTPD_DATA)
				return off; /* needs more bytes */
			continue;
		}
		if (s->state != BENCH_SMTPD_CMD)
			return off;
		const uint8_t *p = d + off;
		const uint8_t *lf = memchr(p, '\n', len - off);
		if (!lf) {
			if (len - off > CMD_MAX) { /* no end in sight: drop it, answer at the LF */
				s->discard_line = true;
				return len;
			}
			return off;
		}
		size_t n = (size_t)(lf - p) + 1;
		off += n;
		if (s->discard_line || n > CMD_MAX + 2) {
			s->discard_line = false;
			bad_command(s, "500 5.5.0 Error: line too long\r\n");
			continue;
		}
		size_t l = n - 1;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		char line[CMD_MAX + 3];
		memcpy(line, p, l);
		line[l] = 0;
		command(s, line, l);
	}
	return off;
}
