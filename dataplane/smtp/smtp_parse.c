// SPDX-License-Identifier: MIT
/*
 * smtp_parse.c: the server's resumable parsers. Input may split anywhere (inside CRLF, inside
 * <CRLF>.<CRLF>); all state lives in the session.
 *
 * Command lines: a line ends only at LF; CRLF is required (bare LF: rejected, or accepted under
 * the normalise policy); NUL and bare CR inside a command are always rejected. Complete lines
 * are returned zero-copy from the input; only a partial tail is carried in the session's
 * bounded buffer. A line longer than the limit is skipped to its end and reported once; it is
 * never truncated and executed.
 *
 * Message content (DATA, BDAT): a byte-level state machine that removes dot-stuffing, finds the
 * one true end <CRLF>.<CRLF>, and enforces the newline policy uniformly: under "reject" a bare
 * CR or LF poisons the message but never ends it, so "\n.\n", "\r.\r\n" and friends are data
 * (the SMTP smuggling defence); under "normalise" bare CR and bare LF both become CRLF, for the
 * end-of-data test and for the content alike, so what we accept is exactly what we relay.
 * Content is emitted zero-copy as runs of the input; the header section is tracked on the
 * emitted (canonical) octets for its size limit and the From: check.
 */
#include <string.h>
#include <strings.h>

#include "smtp/smtp_priv.h"
#include "smtp/smtp_scan.h"

#define RUN_NONE ((size_t)-1)

static bool has_bad_char(const char *p, size_t n)
{
	return memchr(p, '\0', n) != NULL || memchr(p, '\r', n) != NULL;
}

enum smtp_line_result smtp_line_next(struct smtp_server_session *s, const uint8_t *data,
				     size_t len, size_t *used, const char **line, size_t *n)
{
	const uint8_t *lf = memchr(data, '\n', len);
	uint32_t max = s->lim->cmd_line_max < SMTP_LINE_BUF_MAX ? s->lim->cmd_line_max
								 : SMTP_LINE_BUF_MAX;

	if (!lf) {
		*used = len;
		if (!s->discard_line && s->line_len + len > max) {
			s->discard_line = true;
			s->line_len = 0;
		}
		if (!s->discard_line) {
			memcpy(s->line + s->line_len, data, len);
			s->line_len += (uint32_t)len;
		}
		return SMTP_LINE_NEED;
	}
	size_t k = (size_t)(lf - data);
	*used = k + 1;
	if (s->discard_line || s->line_len + k + 1 > max) {
		s->discard_line = false;
		s->line_len = 0;
		return SMTP_LINE_TOO_LONG;
	}
	const char *l = (const char *)data;
	size_t ln = k;
	if (s->line_len) {
		memcpy(s->line + s->line_len, data, k);
		l = s->line;
		ln = s->line_len + k;
		s->line_len = 0;
	}
	bool crlf = ln > 0 && l[ln - 1] == '\r';
	if (crlf)
		ln--;
	if (has_bad_char(l, ln))
		return SMTP_LINE_BAD_CHAR;
	if (!crlf && s->lim->newline == SMTP_NL_REJECT)
		return SMTP_LINE_BARE_LF;
	*line = l;
	*n = ln;
	return SMTP_LINE_OK;
}

void smtp_dscan_init(struct smtp_dscan *ds, bool bdat)
{
	ds->st = SMTP_D_BOL;
	ds->bdat = bdat;
	ds->cr_in_chunk = false;
	ds->line_len = 0;
	ds->size = 0;
	ds->bad = SMTP_DATA_OK;
	ds->hst = SMTP_H_BOL;
	ds->hdr_size = 0;
	ds->hdr_pfx_len = 0;
	ds->from_seen = ds->from_overflow = ds->from_active = false;
	ds->from_len = 0;
}

static void dscan_bad(struct smtp_dscan *ds, enum smtp_data_error why)
{
	if (ds->bad == SMTP_DATA_OK)
		ds->bad = why;
}

/* End of the header section: the From: check runs now, before the body streams on. */
static void hdr_done(struct smtp_server_session *s)
{
	struct smtp_dscan *ds = &s->ds;

	ds->hst = SMTP_H_DONE;
	if (!s->hooks->from_header || ds->bad != SMTP_DATA_OK)
		return;
	struct smtp_verdict v = { 250, "2.0.0", "Ok" };
	if (ds->from_overflow)
		v = (struct smtp_verdict){ 550, "5.7.1", "From: header too long or repeated" };
	else
		s->hooks->from_header(s->ctx, s, ds->from_seen ? ds->from_val : NULL, ds->from_len,
				      &v);
	if (v.code >= 400) {
		ds->bad = SMTP_DATA_FROM_DENIED;
		s->defer_reply.code = v.code;
		/* verdict strings are borrowed only during the hook: keep our own static text */
		s->defer_reply.ecode = v.code >= 500 ? "5.7.1" : "4.7.1";
		s->defer_reply.text = "Sender address in From: header not authorised";
	}
}

static void from_append(struct smtp_dscan *ds, char c)
{
	if ((size_t)ds->from_len + 1 >= sizeof(ds->from_val)) {
		ds->from_overflow = true;
		return;
	}
	ds->from_val[ds->from_len++] = c;
	ds->from_val[ds->from_len] = '\0';
}

/* Header-section tracking over canonical octets (every CR is followed by LF here). */
static void hdr_feed(struct smtp_server_session *s, const uint8_t *p, size_t n)
{
	struct smtp_dscan *ds = &s->ds;

	for (size_t i = 0; i < n && ds->hst != SMTP_H_DONE; i++) {
		char c = (char)p[i];
		if (++ds->hdr_size > s->lim->header_max) {
			dscan_bad(ds, SMTP_DATA_HEADER_TOO_BIG);
			ds->hst = SMTP_H_DONE;
			return;
		}
		switch (ds->hst) {
		case SMTP_H_BOL:
			if (ds->hdr_pfx_len == 0 && c == '\r') {
				hdr_done(s);
				return;
			}
			if (ds->hdr_pfx_len == 0 && (c == ' ' || c == '\t')) {
				/* folded continuation: stays with the previous field */
				ds->hst = ds->from_active ? SMTP_H_FROM : SMTP_H_LINE;
				if (ds->hst == SMTP_H_FROM)
					from_append(ds, c);
				break;
			}
			ds->from_active = false;
			ds->hdr_pfx[ds->hdr_pfx_len++] = c;
			if (strncasecmp(ds->hdr_pfx, "from:", ds->hdr_pfx_len) != 0) {
				ds->hst = SMTP_H_LINE;
			} else if (ds->hdr_pfx_len == 5) {
				if (ds->from_seen)
					ds->from_overflow = true; /* two From: fields */
				ds->from_seen = ds->from_active = true;
				ds->hst = SMTP_H_FROM;
			}
			break;
		case SMTP_H_LINE:
			if (c != '\n') {
				/* the rest of a field that is not From: matters only for its length:
				 * skip to its LF at once (c is counted already) */
				const uint8_t *nl = memchr(p + i, '\n', n - i);
				size_t k = nl ? (size_t)(nl - (p + i)) : n - i;
				if (ds->hdr_size - 1 + k > s->lim->header_max) {
					dscan_bad(ds, SMTP_DATA_HEADER_TOO_BIG);
					ds->hst = SMTP_H_DONE;
					return;
				}
				ds->hdr_size += (uint32_t)(k - 1);
				i += k - 1;
				break;
			}
			ds->hst = SMTP_H_BOL;
			ds->hdr_pfx_len = 0;
			break;
		case SMTP_H_FROM:
			if (c == '\n') {
				ds->hst = SMTP_H_BOL;
				ds->hdr_pfx_len = 0;
			} else if (c != '\r') {
				from_append(ds, c);
			}
			break;
		case SMTP_H_DONE:
			break;
		}
	}
}

/* Hands canonical content up, after the size and header checks. Errors are detected in
 * octet order whatever the split: the header is checked up to the size limit first. */
static void emit(struct smtp_server_session *s, const uint8_t *p, size_t n)
{
	struct smtp_dscan *ds = &s->ds;

	if (n == 0 || ds->bad != SMTP_DATA_OK)
		return;
	uint64_t room = ds->size < s->lim->message_max ? s->lim->message_max - ds->size : 0;
	size_t take = n <= room ? n : (size_t)room;
	if (ds->hst != SMTP_H_DONE)
		hdr_feed(s, p, take);
	if (ds->bad != SMTP_DATA_OK)
		return;
	ds->size += take;
	if (take < n) {
		dscan_bad(ds, SMTP_DATA_TOO_BIG);
		return;
	}
	if (s->hooks->data_chunk)
		s->hooks->data_chunk(s->ctx, s, p, n);
}

static void emit_run(struct smtp_server_session *s, const uint8_t *p, size_t *run, size_t to)
{
	if (*run != RUN_NONE && to > *run)
		emit(s, p + *run, to - *run);
	*run = RUN_NONE;
}

/* A content error at octet i: what came before is checked (emitted) first, so the error
 * reported is the first in octet order however the input was split. */
static void scan_bad(struct smtp_server_session *s, const uint8_t *p, size_t *run, size_t i,
		     enum smtp_data_error why)
{
	if (s->ds.bad == SMTP_DATA_OK)
		emit_run(s, p, run, i);
	dscan_bad(&s->ds, why);
}

/* Octets allowed in a text line before its CRLF. */
static uint32_t text_cap(const struct smtp_limits *l)
{
	return l->text_line_max > 3 ? l->text_line_max - 2 : 1;
}

static void count_octet(struct smtp_server_session *s, const uint8_t *p, size_t *run, size_t i)
{
	struct smtp_dscan *ds = &s->ds;

	if (++ds->line_len > text_cap(s->lim) && s->lim->text_line_reject)
		scan_bad(s, p, run, i, SMTP_DATA_LINE_TOO_LONG);
}

/* A bare CR was seen before octet i (state SMTP_D_CR); p[i] is processed again afterwards. */
static void bare_cr(struct smtp_server_session *s, const uint8_t *p, size_t *run, size_t i)
{
	struct smtp_dscan *ds = &s->ds;

	if (s->lim->newline == SMTP_NL_REJECT) {
		scan_bad(s, p, run, ds->cr_in_chunk ? i - 1 : i, SMTP_DATA_BARE_NEWLINE);
		ds->st = SMTP_D_MID;
		return;
	}
	if (ds->cr_in_chunk)
		emit_run(s, p, run, i);
	else
		emit(s, (const uint8_t *)"\r", 1);
	emit(s, (const uint8_t *)"\n", 1);
	*run = RUN_NONE;
	ds->st = SMTP_D_BOL;
	ds->line_len = 0;
}

/* Inside a line (also the first octet of one). Returns octets consumed (0 or 1). */
static size_t in_line(struct smtp_server_session *s, const uint8_t *p, size_t *run, size_t i)
{
	struct smtp_dscan *ds = &s->ds;
	uint8_t c = p[i];

	ds->st = SMTP_D_MID;
	if (c == '\r') {
		if (*run == RUN_NONE)
			*run = i;
		ds->st = SMTP_D_CR;
		ds->cr_in_chunk = true;
	} else if (c == '\n') {
		if (s->lim->newline == SMTP_NL_REJECT) {
			scan_bad(s, p, run, i, SMTP_DATA_BARE_NEWLINE);
		} else {
			emit_run(s, p, run, i);
			emit(s, (const uint8_t *)"\r\n", 2);
			ds->st = SMTP_D_BOL;
			ds->line_len = 0;
		}
	} else if (c == '\0') {
		scan_bad(s, p, run, i, SMTP_DATA_NUL);
	} else {
		count_octet(s, p, run, i);
		if (*run == RUN_NONE)
			*run = i;
	}
	return 1;
}

/*
 * Fast path inside a line: skips ordinary octets (not CR, LF or NUL) up to the line-length
 * limit, extending the run. Returns how many were skipped; the octet that stopped it goes
 * through in_line(). Same result as in_line() octet by octet, about 15 times faster (SIMD scan).
 */
static size_t plain_run(struct smtp_server_session *s, const uint8_t *p, size_t len,
			size_t *run, size_t i)
{
	struct smtp_dscan *ds = &s->ds;
	uint32_t max = text_cap(s->lim);
	size_t room = len - i, j = i;

	if (s->lim->text_line_reject)
		room = ds->line_len >= max ? 0 : (max - ds->line_len < room ? max - ds->line_len : room);
	j = (size_t)(smtp_scan_special(p + i, p + i + room, true) - p);
	if (j > i) {
		if (*run == RUN_NONE)
			*run = i;
		ds->line_len += (uint32_t)(j - i);
	}
	return j - i;
}

/*
 * Inside a line (SMTP_D_MID): the rest of it and every following ordinary line, that is up to
 * the first octet that needs the state machine (a CR not followed by LF in this chunk, a bare
 * LF, a NUL, a line-length stop, a dot at the beginning of a line, the end of the chunk).
 * Same result as plain_run() + in_line() and the SMTP_D_CR and SMTP_D_BOL steps octet by
 * octet; content is mostly such lines, and this takes each in one SIMD scan and two compares
 * instead of four trips through the state switch. Returns octets consumed.
 */
static size_t lines(struct smtp_server_session *s, const uint8_t *p, size_t len, size_t *run,
		    size_t i)
{
	struct smtp_dscan *ds = &s->ds;
	size_t i0 = i;

	for (;;) {
		i += plain_run(s, p, len, run, i);
		if (i + 1 >= len || p[i] != '\r' || p[i + 1] != '\n')
			break;
		if (*run == RUN_NONE)
			*run = i; /* an empty line: the run starts at its CR */
		i += 2;
		ds->st = SMTP_D_BOL;
		ds->line_len = 0;
		if (i >= len || (!ds->bdat && p[i] == '.') || p[i] == '\r' || p[i] == '\n' ||
		    p[i] == '\0')
			return i - i0;
		ds->st = SMTP_D_MID;
	}
	if (i < len)
		i += in_line(s, p, run, i);
	return i - i0;
}

/*
 * Scans content octets. For DATA it stops after the terminating <CRLF>.<CRLF> (*end = true)
 * and returns the octets consumed including it; for BDAT it consumes everything given.
 */
size_t smtp_dscan_feed(struct smtp_server_session *s, const uint8_t *p, size_t len, bool *end)
{
	struct smtp_dscan *ds = &s->ds;
	size_t i = 0, run = RUN_NONE;

	*end = false;
	ds->cr_in_chunk = false;
	while (i < len && !*end) {
		uint8_t c = p[i];
		switch (ds->st) {
		case SMTP_D_BOL:
			if (!ds->bdat && c == '.') {
				emit_run(s, p, &run, i); /* the stuffed dot is dropped */
				count_octet(s, p, &run, i);
				ds->st = SMTP_D_DOT;
				i++;
			} else if (c == '\r' || c == '\n' || c == '\0') {
				i += in_line(s, p, &run, i);
			} else {
				ds->st = SMTP_D_MID;
				i += lines(s, p, len, &run, i);
			}
			break;
		case SMTP_D_MID:
			i += lines(s, p, len, &run, i);
			break;
		case SMTP_D_CR:
			if (c == '\n') {
				if (!ds->cr_in_chunk) {
					emit(s, (const uint8_t *)"\r", 1);
					run = i;
				}
				ds->st = SMTP_D_BOL;
				ds->line_len = 0;
				i++;
			} else {
				bare_cr(s, p, &run, i);
			}
			break;
		case SMTP_D_DOT:
			if (c == '\r') {
				ds->st = SMTP_D_DOT_CR;
				i++;
			} else if (c == '\n' && s->lim->newline == SMTP_NL_NORMALISE) {
				*end = true;
				i++;
			} else {
				if (c == '\n')
					scan_bad(s, p, &run, i, SMTP_DATA_BARE_NEWLINE);
				ds->st = SMTP_D_MID;
				if (c == '\n')
					i++;
			}
			break;
		case SMTP_D_DOT_CR:
			if (c == '\n') {
				*end = true;
				i++;
			} else if (s->lim->newline == SMTP_NL_NORMALISE) {
				*end = true; /* ".\r" is ".\r\n": c starts the next command */
			} else {
				scan_bad(s, p, &run, i, SMTP_DATA_BARE_NEWLINE);
				ds->st = SMTP_D_MID;
			}
			break;
		}
	}
	size_t to = i;
	if (!*end && ds->st == SMTP_D_CR && ds->cr_in_chunk)
		to = i - 1; /* the CR waits for its LF */
	emit_run(s, p, &run, to);
	return i;
}

void smtp_dscan_finish(struct smtp_server_session *s)
{
	struct smtp_dscan *ds = &s->ds;

	if (ds->bdat && ds->st == SMTP_D_CR) {
		if (s->lim->newline == SMTP_NL_REJECT) {
			dscan_bad(ds, SMTP_DATA_BARE_NEWLINE);
		} else {
			emit(s, (const uint8_t *)"\r\n", 2);
		}
		ds->st = SMTP_D_BOL;
	}
	if (ds->hst != SMTP_H_DONE && ds->bad == SMTP_DATA_OK)
		hdr_done(s);
}
