// SPDX-License-Identifier: MIT
/*
 * smtp_addr.c: RFC 5321 section 4.1.2 paths ("<@route:local@domain>", "<>", quoted local
 * parts, address literals), RFC 6531 UTF-8 mailboxes, ESMTP parameter tokens and RFC 3461
 * xtext. Addresses are data: the parser only validates and copies; it never interprets "%" or
 * "!" routing, so "user%host@us" is a local part at "us" and nothing else.
 */
#include <arpa/inet.h>
#include <string.h>

#include "smtp/smtp.h"

static bool is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/*
 * Validates UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
 * Returns true for well-formed input.
 */
bool smtp_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* Domain = sub-domain *("." sub-domain); labels of letters, digits, hyphens (not at either
 * end), or UTF-8 U-labels. Returns the length consumed (stops at the first octet that cannot
 * continue a domain), or 0 if no valid domain starts at p. */
static size_t domain_span(const char *p, const char *end)
{
	const char *q = p;

	for (;;) {
		const char *label = q;
		while (q < end && (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) ||
				   *q == '-' || (unsigned char)*q >= 0x80))
			q++;
		size_t ll = (size_t)(q - label);
		if (ll == 0 || ll > 63 || *label == '-' || q[-1] == '-')
			return 0;
		if (q < end && *q == '.' && q + 1 < end && *(q + 1) != '>' && *(q + 1) != ',' &&
		    *(q + 1) != ':') {
			q++;
			continue;
		}
		return (size_t)(q - p);
	}
}

/* "[1.2.3.4]" or "[IPv6:...]". Returns the length consumed including brackets, or 0. */
static size_t literal_span(const char *p, const char *end)
{
	char tmp[64];
	const char *close = memchr(p, ']', (size_t)(end - p));

	if (!close || close - p - 1 >= (long)sizeof(tmp) || close - p - 1 <= 0)
		return 0;
	size_t n = (size_t)(close - p - 1);
	memcpy(tmp, p + 1, n);
	tmp[n] = '\0';
	uint8_t a[16];
	if (n > 5 && strncasecmp(tmp, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, tmp + 5, a) != 1)
			return 0;
	} else if (inet_pton(AF_INET, tmp, a) != 1) {
		return 0;
	}
	return n + 2;
}

/* Quoted-string per RFC 5321 (qtextSMTP, quoted-pairSMTP) plus UTF-8 octets (RFC 6531).
 * Returns the length including both quotes, or 0. */
static size_t quoted_span(const char *p, const char *end)
{
	const char *q = p + 1;

	while (q < end) {
		unsigned char c = (unsigned char)*q;
		if (c == '"')
			return (size_t)(q + 1 - p);
		if (c == '\\') {
			if (q + 1 >= end || (unsigned char)q[1] < 32 || (unsigned char)q[1] > 126)
				return 0;
			q += 2;
			continue;
		}
		if (c < 32 || c == 127)
			return 0;
		q++;
	}
	return 0;
}

/* Dot-string: Atom *("." Atom). Returns the length, or 0. */
static size_t dotstring_span(const char *p, const char *end)
{
	const char *q = p;

	for (;;) {
		const char *atom = q;
		while (q < end && (is_atext((unsigned char)*q) || (unsigned char)*q >= 0x80))
			q++;
		if (q == atom)
			return 0;
		if (q < end && *q == '.') {
			q++;
			continue;
		}
		return (size_t)(q - p);
	}
}

/* Skips "@d1,@d2:" (A-d-l). Returns the length, 0 if absent, or -1 on bad syntax. */
static long route_span(const char *p, const char *end)
{
	const char *q = p;

	if (q >= end || *q != '@')
		return 0;
	for (;;) {
		if (q >= end || *q != '@')
			return -1;
		q++;
		size_t d = domain_span(q, end);
		if (d == 0)
			return -1;
		q += d;
		if (q < end && *q == ',') {
			q++;
			continue;
		}
		if (q < end && *q == ':')
			return (long)(q + 1 - p);
		return -1;
	}
}

static int path_store(struct smtp_path *out, const char *local, size_t ll, const char *dom,
		      size_t dl)
{
	if (ll + 1 + dl > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	memcpy(out->addr, local, ll);
	out->local_len = (uint16_t)ll;
	size_t n = ll;
	if (dl) {
		out->addr[n++] = '@';
		out->domain_off = (uint16_t)n;
		for (size_t i = 0; i < dl; i++) {
			char c = dom[i];
			out->addr[n++] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
		}
	} else {
		out->domain_off = (uint16_t)n;
	}
	out->addr[n] = '\0';
	out->len = (uint16_t)n;
	return SMTP_ADDR_OK;
}

/*
 * Parses a path starting at p ("<...>"). allow_null: "<>" accepted (reverse path).
 * allow_postmaster: "<Postmaster>" without a domain accepted (RFC 5321 4.5.1).
 * On success fills out and *used (octets consumed, through '>'). UTF-8 octets are accepted
 * and flagged (out->utf8); the caller refuses them without SMTPUTF8.
 * Returns SMTP_ADDR_OK or a negative enum smtp_addr_err.
 */
int smtp_path_parse(const char *p, size_t len, bool allow_null, bool allow_postmaster,
		    struct smtp_path *out, size_t *used)
{
	const char *end = p + len, *q = p;

	out->addr[0] = '\0';
	out->len = out->local_len = out->domain_off = 0;
	out->null_path = out->utf8 = out->ip_literal = out->quoted = out->route_stripped = false;
	if (q >= end || *q++ != '<')
		return SMTP_ADDR_SYNTAX;
	if (q < end && *q == '>') {
		if (!allow_null)
			return SMTP_ADDR_SYNTAX;
		out->null_path = true;
		*used = 2;
		return SMTP_ADDR_OK;
	}
	long r = route_span(q, end);
	if (r < 0)
		return SMTP_ADDR_SYNTAX;
	out->route_stripped = r > 0;
	q += r;
	const char *local = q;
	size_t ll = (q < end && *q == '"') ? quoted_span(q, end) : dotstring_span(q, end);
	if (ll == 0)
		return SMTP_ADDR_SYNTAX;
	out->quoted = *q == '"';
	q += ll;
	const char *dom = NULL;
	size_t dl = 0;
	if (q < end && *q == '@') {
		dom = ++q;
		dl = (q < end && *q == '[') ? literal_span(q, end) : domain_span(q, end);
		if (dl == 0)
			return SMTP_ADDR_SYNTAX;
		out->ip_literal = *q == '[';
		q += dl;
	} else if (!(allow_postmaster && ll == 10 && strncasecmp(local, "postmaster", 10) == 0)) {
		return SMTP_ADDR_SYNTAX;
	}
	if (q >= end || *q != '>')
		return SMTP_ADDR_SYNTAX;
	q++;
	if (ll > SMTP_LOCAL_MAX || dl > SMTP_DOMAIN_MAX || (size_t)(q - p) > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	for (const char *c = p; c < q; c++) {
		if ((unsigned char)*c >= 0x80) {
			out->utf8 = true;
			break;
		}
	}
	if (out->utf8 && !smtp_utf8_valid((const uint8_t *)p, (size_t)(q - p)))
		return SMTP_ADDR_SYNTAX;
	*used = (size_t)(q - p);
	return path_store(out, local, ll, dom, dl);
}

/*
 * Next ESMTP parameter in [*pos, end): skips spaces, then keyword [ "=" value ].
 * Returns 1 with *out filled, 0 at the end, SMTP_ADDR_SYNTAX on bad syntax.
 */
int smtp_param_next(const char **pos, const char *end, struct smtp_param *out)
{
	const char *q = *pos;

	while (q < end && *q == ' ')
		q++;
	if (q >= end)
		return 0;
	out->kw = q;
	while (q < end && (is_alpha((unsigned char)*q) || is_digit((unsigned char)*q) ||
			   (*q == '-' && q != out->kw)))
		q++;
	out->kw_len = (size_t)(q - out->kw);
	out->val = NULL;
	out->val_len = 0;
	if (out->kw_len == 0)
		return SMTP_ADDR_SYNTAX;
	if (q < end && *q == '=') {
		out->val = ++q;
		while (q < end && *q != ' ' && *q != '=' &&
		       ((unsigned char)*q > 32 && (unsigned char)*q != 127))
			q++;
		out->val_len = (size_t)(q - out->val);
		if (out->val_len == 0)
			return SMTP_ADDR_SYNTAX;
	}
	if (q < end && *q != ' ')
		return SMTP_ADDR_SYNTAX;
	*pos = q;
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes RFC 3461 xtext (xchar = "!".."~" except "+" and "="; hexchar = "+" 2 upper-case
 * HEX) into dst (NUL-terminated, at most cap-1 octets). Returns the decoded length or -1 on
 * bad syntax or overflow.
 */
long smtp_xtext_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		int v;
		if (c == '+') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hexval(src[i + 1]);
			lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			v = hi * 16 + lo;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return -1;
		} else {
			v = c;
		}
		if (n + 1 >= cap)
			return -1;
		dst[n++] = (char)v;
	}
	if (cap)
		dst[n] = '\0';
	return (long)n;
}

/* Encodes src as xtext into dst (NUL-terminated). Returns the length or -1 if it does not fit. */
long smtp_xtext_encode(const char *src, size_t len, char *dst, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (n + 2 > cap)
				return -1;
			dst[n++] = (char)c;
		} else {
			if (n + 4 > cap)
				return -1;
			dst[n++] = '+';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	if (n + 1 > cap)
		return -1;
	dst[n] = '\0';
	return (long)n;
}
