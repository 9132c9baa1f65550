/* SPDX-License-Identifier: MIT */
/*
 * dkim_hdr.c: the header scanner and the From parser. Both read untrusted input (the message
 * as the client sent it), so they are written to be total: every byte sequence gives an
 * answer, nothing reads outside [buf, buf+len), nothing allocates. The scanner finds the end
 * of the header section (resumably, as the section arrives in chunks) and iterates the fields
 * (RFC 5322 §2.2: a field is a line with a colon plus its folded continuation lines). The From
 * parser extracts the domain that selects the signing key from an address-list with display
 * names, quoted strings, comments, encoded words, groups and folding (RFC 5322 §3.4).
 */
#include <errno.h>
#include <string.h>

#include "dkim/dkim.h"

static int is_wsp(uint8_t c) { return c == ' ' || c == '\t'; }

/*
 * Find the end of the header section in buf[0..len). *scan is where the previous call stopped
 * (0 at first); the caller keeps it between calls as the section grows. Returns the offset of
 * the first body byte (after the empty line) when the section is complete, 0 when more input
 * is needed. A buffer starting with CRLF has no header fields: the body starts at 2.
 */
size_t dkim_hdr_end(const uint8_t *buf, size_t len, size_t *scan)
{
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 2;
	size_t i = *scan > 3 ? *scan - 3 : 0;
	for (; i + 4 <= len; i++) {
		const uint8_t *p = memchr(buf + i, '\r', len - 3 - i);
		if (!p)
			break;
		i = (size_t)(p - buf);
		if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
			return i + 4;
	}
	*scan = len;
	return 0;
}

/*
 * Iterate the fields of a header section buf[0..len) (which may or may not include the empty
 * line). *off is the cursor (0 at first). Returns 1 and fills *f for each field, 0 at the end
 * of the section, -EINVAL for a line that has no colon or starts with white space (a
 * continuation without a field). A field without a final CRLF at the end of buf is returned
 * as is.
 */
int dkim_hdr_next(const uint8_t *buf, size_t len, size_t *off, struct dkim_hdr_field *f)
{
	size_t s = *off;
	if (s >= len || (s + 1 < len && buf[s] == '\r' && buf[s + 1] == '\n') ||
	    (s + 1 == len && buf[s] == '\r'))
		return 0;
	if (is_wsp(buf[s]))
		return -EINVAL;
	/* the field ends at a CRLF not followed by WSP */
	size_t e = s;
	for (;;) {
		const uint8_t *p = memchr(buf + e, '\n', len - e);
		if (!p) {
			e = len;
			*off = len;
			break;
		}
		size_t nl = (size_t)(p - buf);
		if (nl + 1 < len && is_wsp(buf[nl + 1])) {
			e = nl + 1;
			continue;
		}
		e = (nl > s && buf[nl - 1] == '\r') ? nl - 1 : nl;
		*off = nl + 1;
		break;
	}
	const uint8_t *colon = memchr(buf + s, ':', e - s);
	if (!colon)
		return -EINVAL;
	f->raw = buf + s;
	f->raw_len = e - s;
	f->name = buf + s;
	f->name_len = (size_t)(colon - (buf + s));
	while (f->name_len > 0 && is_wsp(f->name[f->name_len - 1]))
		f->name_len--;
	f->value = colon + 1;
	f->value_len = e - (size_t)(colon + 1 - buf);
	return f->name_len > 0 ? 1 : -EINVAL;
}

/* Case-insensitive compare of a field name against a lower-case literal. */
int dkim_hdr_name_is(const struct dkim_hdr_field *f, const char *lower)
{
	size_t n = strlen(lower);
	if (f->name_len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = f->name[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (uint8_t)lower[i])
			return 0;
	}
	return 1;
}

/* ---- From parsing ------------------------------------------------------------------------ */

/* A cursor over one field body with the lexical rules of RFC 5322 §3.2. */
struct lex {
	const uint8_t *p;
	const uint8_t *end;
	int bad;
};

/* Skip a comment starting at '(' (nested, with quoted-pairs). */
static void skip_comment(struct lex *x)
{
	int depth = 0;
	while (x->p < x->end) {
		uint8_t c = *x->p++;
		if (c == '\\') {
			if (x->p < x->end)
				x->p++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth == 0)
				return;
		}
	}
	x->bad = 1;
}

/* Skip a quoted string starting at '"'. */
static void skip_quoted(struct lex *x)
{
	x->p++;
	while (x->p < x->end) {
		uint8_t c = *x->p++;
		if (c == '\\') {
			if (x->p < x->end)
				x->p++;
		} else if (c == '"') {
			return;
		}
	}
	x->bad = 1;
}

/* Skip folding white space and comments. */
static void skip_cfws(struct lex *x)
{
	while (x->p < x->end && !x->bad) {
		uint8_t c = *x->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			x->p++;
		else if (c == '(')
			skip_comment(x);
		else
			break;
	}
}

/*
 * Extract the domain of one addr-spec in [p, end) (comments and white space allowed around
 * tokens). The '@' that counts is the last one outside quoted strings and comments; the
 * domain is what follows it, without CFWS, lower-cased. Returns 0 or -EINVAL.
 */
static int addr_domain(const uint8_t *p, const uint8_t *end, char *dom, size_t cap)
{
	struct lex x = { p, end, 0 };
	const uint8_t *at = NULL;
	skip_cfws(&x);
	p = x.p;	/* the local part starts here and must not be empty */
	while (x.p < x.end && !x.bad) {
		uint8_t c = *x.p;
		if (c == '"')
			skip_quoted(&x);
		else if (c == '(')
			skip_comment(&x);
		else {
			if (c == '@')
				at = x.p;
			x.p++;
		}
	}
	if (x.bad || !at || at == p)
		return -EINVAL;
	struct lex d = { at + 1, end, 0 };
	size_t n = 0;
	for (;;) {
		skip_cfws(&d);
		if (d.bad)
			return -EINVAL;
		if (d.p >= d.end)
			break;
		uint8_t c = *d.p++;
		/* dot-atom text or a domain literal; specials other than . [ ] end it */
		if (c == '@' || c == ',' || c == ';' || c == '<' || c == '>' || c == '"' ||
		    c == ':' || c == '\\' || c < 0x21 || c == 0x7f)
			return -EINVAL;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (n + 1 >= cap)
			return -EINVAL;
		dom[n++] = (char)c;
	}
	while (n > 0 && dom[n - 1] == '.')	/* a trailing root dot is the same domain */
		n--;
	if (n == 0 || dom[0] == '.')
		return -EINVAL;
	dom[n] = '\0';
	return 0;
}

/*
 * Split the address-list at top-level separators and hand each mailbox's addr-spec to
 * addr_domain(). Group syntax ("name: a@b, c@d;") is flattened. Counts mailboxes in *n and
 * checks that all share one domain.
 */
static enum dkim_from_status from_walk(struct lex *x, char *dom, size_t cap, unsigned *n)
{
	char cur[DKIM_DOMAIN_MAX];
	const uint8_t *elem = x->p, *lt = NULL, *gt = NULL;
	for (;;) {
		uint8_t c = x->p < x->end ? *x->p : ',';
		int at_end = x->p >= x->end;
		if (!at_end && c == '"') {
			skip_quoted(x);
		} else if (!at_end && c == '(') {
			skip_comment(x);
		} else if (!at_end && c == '<') {
			if (lt)
				return DKIM_FROM_BAD;
			lt = x->p++;
		} else if (!at_end && c == '>') {
			if (!lt || gt)
				return DKIM_FROM_BAD;
			gt = x->p++;
		} else if (!at_end && c == ':' && !lt) {
			elem = ++x->p;		/* group display name ends: mailboxes follow */
		} else if (c == ',' || c == ';') {
			if (lt && !gt)
				return DKIM_FROM_BAD;
			const uint8_t *a = lt ? lt + 1 : elem, *b = lt ? gt : x->p;
			if (lt) {	/* obsolete route "@a,@b:" before the addr-spec */
				struct lex r = { a, b, 0 };
				skip_cfws(&r);
				if (!r.bad && r.p < b && *r.p == '@') {
					const uint8_t *colon = memchr(r.p, ':', (size_t)(b - r.p));
					if (!colon)
						return DKIM_FROM_BAD;
					a = colon + 1;
				}
			}
			struct lex t = { a, b, 0 };
			skip_cfws(&t);
			if (!t.bad && t.p < b) {
				if (addr_domain(a, b, cur, sizeof(cur)) != 0)
					return DKIM_FROM_BAD;
				if (*n == 0) {
					if (strlen(cur) >= cap)
						return DKIM_FROM_BAD;
					strcpy(dom, cur);
				} else if (strcmp(dom, cur) != 0) {
					return DKIM_FROM_MULTI;
				}
				(*n)++;
			} else if (lt) {
				return DKIM_FROM_BAD;	/* "<>" */
			}
			if (at_end)
				return DKIM_FROM_OK;
			x->p++;
			elem = x->p;
			lt = gt = NULL;
		} else {
			x->p++;
		}
		if (x->bad)
			return DKIM_FROM_BAD;
	}
}

/*
 * Parse a From field body (value[0..len), folding included) and store its domain, lower-cased
 * and NUL-terminated, in dom[cap]. Returns DKIM_FROM_OK, or why there is no single domain.
 * Encoded words (RFC 2047) in display names are opaque atoms here: they never contribute an
 * address, because an address is only taken from <...> or from a bare addr-spec.
 */
enum dkim_from_status dkim_from_domain(const uint8_t *value, size_t len, char *dom, size_t cap)
{
	struct lex x = { value, value + len, 0 };
	unsigned n = 0;
	if (cap == 0)
		return DKIM_FROM_BAD;
	dom[0] = '\0';
	enum dkim_from_status st = from_walk(&x, dom, cap, &n);
	if (st != DKIM_FROM_OK)
		return st;
	return n == 0 ? DKIM_FROM_NONE : DKIM_FROM_OK;
}
