// SPDX-License-Identifier: MIT
/*
 * smtp_reply.c: the output buffer both engines write into and the reply builder of the server.
 * Replies are "code SP ecode SP text CRLF" (or "code-..." for all but the last line of a
 * multi-line reply). Text is data: control octets in it (CR, LF, NUL, ...) are replaced so a
 * hook or an echoed address can never inject a reply line.
 */
#include <string.h>

#include "smtp/smtp.h"

void smtp_obuf_reset(struct smtp_obuf *ob)
{
	ob->head = ob->tail = 0;
	ob->overflow = false;
}

size_t smtp_obuf_space(const struct smtp_obuf *ob)
{
	return sizeof(ob->buf) - (ob->tail - ob->head);
}

/* Pending output: pointer and length (valid until the next call on this buffer). */
const char *smtp_obuf_data(const struct smtp_obuf *ob, size_t *len)
{
	*len = ob->tail - ob->head;
	return ob->buf + ob->head;
}

void smtp_obuf_consume(struct smtp_obuf *ob, size_t n)
{
	if (n > ob->tail - ob->head)
		n = ob->tail - ob->head;
	ob->head += (uint32_t)n;
	if (ob->head == ob->tail)
		ob->head = ob->tail = 0;
}

/* Makes room at the tail by moving pending bytes to the front. */
static void obuf_compact(struct smtp_obuf *ob)
{
	if (ob->head == 0)
		return;
	memmove(ob->buf, ob->buf + ob->head, ob->tail - ob->head);
	ob->tail -= ob->head;
	ob->head = 0;
}

/* Appends n bytes; all or nothing. Returns 0, or -1 (and sets overflow) when they do not fit. */
int smtp_obuf_append(struct smtp_obuf *ob, const void *p, size_t n)
{
	if (sizeof(ob->buf) - ob->tail < n)
		obuf_compact(ob);
	if (sizeof(ob->buf) - ob->tail < n) {
		ob->overflow = true;
		return -1;
	}
	memcpy(ob->buf + ob->tail, p, n);
	ob->tail += (uint32_t)n;
	return 0;
}

/* Contiguous free room at the tail, after compaction: for writers that fill in place. */
char *smtp_obuf_tail(struct smtp_obuf *ob, size_t *room)
{
	obuf_compact(ob);
	*room = sizeof(ob->buf) - ob->tail;
	return ob->buf + ob->tail;
}

void smtp_obuf_commit(struct smtp_obuf *ob, size_t n)
{
	ob->tail += (uint32_t)n;
}

/* Copies text with control octets replaced by '?', at most max octets. Returns the length. */
static size_t text_clean(char *dst, const char *src, size_t max)
{
	size_t n = 0;

	for (; src && *src && n < max; src++) {
		unsigned char c = (unsigned char)*src;
		dst[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	return n;
}

/*
 * One reply line. ecode may be NULL or "" (greeting and EHLO keyword lines carry none).
 * last=false gives "code-" (continuation). Returns 0 or -1 on output overflow.
 */
int smtp_reply_line(struct smtp_obuf *ob, unsigned code, const char *ecode, const char *text,
		    bool last)
{
	char line[560];
	code %= 1000;	/* three digits, formatted by hand: a reply or more per message */
	line[0] = (char)('0' + code / 100);
	line[1] = (char)('0' + code / 10 % 10);
	line[2] = (char)('0' + code % 10);
	line[3] = last ? ' ' : '-';
	size_t len = 4;

	if (ecode && *ecode) {
		len += text_clean(line + len, ecode, 15);
		line[len++] = ' ';
	}
	len += text_clean(line + len, text, 500 - len);
	line[len++] = '\r';
	line[len++] = '\n';
	return smtp_obuf_append(ob, line, len);
}

int smtp_reply_verdict(struct smtp_obuf *ob, const struct smtp_verdict *v)
{
	return smtp_reply_line(ob, v->code, v->ecode, v->text, true);
}

/* True when ecode has the RFC 3463 shape class.subject.detail with class 2, 4 or 5. */
bool smtp_ecode_valid(const char *e)
{
	if (!e || (e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.')
		return false;
	const char *p = e + 2;
	for (int part = 0; part < 2; part++) {
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 4) {
			p++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return false;
		if (part == 0 && *p++ != '.')
			return false;
	}
	return *p == '\0';
}
