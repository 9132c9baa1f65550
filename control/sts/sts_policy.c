/* SPDX-License-Identifier: MIT */
/*
 * sts_policy.c: the MTA-STS policy file and TXT record parsers (RFC 8461 3.1, 3.2). Both walk
 * the input once, never read past len, never allocate, and refuse anything outside the
 * grammar that matters for security (mode, mx patterns, max_age); unknown fields are skipped
 * as the RFC asks. Lines end with LF or CRLF (erratum 6253); blank lines are tolerated, a bare
 * CR or a control byte is not. A policy that fails here is a failed fetch: the engine keeps
 * the policy it had (RFC 8461 5.1).
 */
#include "sts/sts_policy.h"

#include <errno.h>
#include <string.h>

const char *sts_mode_str(enum sts_mode m)
{
	static const char *const names[] = { "none", "testing", "enforce" };
	return (unsigned)m < 3 ? names[m] : "unknown";
}

int sts_mode_parse(const char *s)
{
	for (int m = 0; m < 3; m++)
		if (strcmp(s, sts_mode_str((enum sts_mode)m)) == 0)
			return m;
	return -1;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool sts_pattern_ok(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	if (len == 0 || len > STS_HOST_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }

/* One "name: value" line of the policy; the value is trimmed. */
struct line {
	const char *name, *val;
	size_t nlen, vlen;
};

/* Splits [s, s+len) at ':' and checks the bytes: 0, or -1 with *why. */
static int split_line(const char *s, size_t len, struct line *l, const char **why)
{
	size_t i = 0;
	while (i < len && (is_alnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i == 0 || i > 32 || !is_alnum((unsigned char)s[0]) || i == len || s[i] != ':') {
		*why = "malformed field name";
		return -1;
	}
	l->name = s;
	l->nlen = i++;
	while (i < len && is_wsp(s[i]))
		i++;
	size_t end = len;
	while (end > i && is_wsp(s[end - 1]))
		end--;
	for (size_t k = i; k < end; k++) {
		unsigned char c = (unsigned char)s[k];
		if ((c < 0x20 && c != '\t') || c >= 0x7f) {
			*why = "control or non-ASCII byte in a value";
			return -1;
		}
	}
	l->val = s + i;
	l->vlen = end - i;
	return 0;
}

static bool name_is(const struct line *l, const char *n)
{
	return l->nlen == strlen(n) && memcmp(l->name, n, l->nlen) == 0;
}

static bool val_is(const struct line *l, const char *v)
{
	return l->vlen == strlen(v) && memcmp(l->val, v, l->vlen) == 0;
}

enum { SEEN_VERSION = 1, SEEN_MODE = 2, SEEN_MAX_AGE = 4 };

/* Applies one line to p; 0 or -1 with *why. */
static int apply_line(const struct line *l, struct sts_policy *p, unsigned *seen, const char **why)
{
	if (!(*seen & SEEN_VERSION)) {
		*why = "the first field is not \"version: STSv1\"";
		if (!name_is(l, "version") || !val_is(l, "STSv1"))
			return -1;
		*seen |= SEEN_VERSION;
		return 0;
	}
	if (name_is(l, "version")) {
		*why = "version given twice";
		return -1;
	}
	if (name_is(l, "mode")) {
		int m = -1;
		for (int k = 0; k < 3; k++)
			if (val_is(l, sts_mode_str((enum sts_mode)k)))
				m = k;
		*why = (*seen & SEEN_MODE) ? "mode given twice" : "unknown mode";
		if (m < 0 || (*seen & SEEN_MODE))
			return -1;
		p->mode = (enum sts_mode)m;
		*seen |= SEEN_MODE;
		return 0;
	}
	if (name_is(l, "max_age")) {
		uint64_t v = 0;
		*why = "malformed max_age";
		if ((*seen & SEEN_MAX_AGE) || l->vlen == 0 || l->vlen > 10)
			return -1;
		for (size_t k = 0; k < l->vlen; k++) {
			if (l->val[k] < '0' || l->val[k] > '9')
				return -1;
			v = v * 10 + (uint64_t)(l->val[k] - '0');
		}
		*why = "max_age above 31557600";
		if (v > STS_MAX_AGE_MAX)
			return -1;
		p->max_age = (uint32_t)v;
		*seen |= SEEN_MAX_AGE;
		return 0;
	}
	if (name_is(l, "mx")) {
		*why = p->n_mx == STS_MX_MAX ? "too many mx patterns" : "malformed mx pattern";
		if (p->n_mx == STS_MX_MAX || !sts_pattern_ok(l->val, l->vlen))
			return -1;
		char *dst = p->mx[p->n_mx++];
		for (size_t k = 0; k < l->vlen; k++)
			dst[k] = (char)(l->val[k] >= 'A' && l->val[k] <= 'Z' ? l->val[k] + 32 : l->val[k]);
		dst[l->vlen] = '\0';
		return 0;
	}
	return 0; /* an extension field: ignored */
}

int sts_policy_parse(const char *buf, size_t len, struct sts_policy *p, const char **why)
{
	const char *dummy;
	why = why ? why : &dummy;
	memset(p, 0, sizeof(*p));
	if (len > STS_POLICY_BYTES) {
		*why = "policy larger than 64 KiB";
		return -EINVAL;
	}
	unsigned seen = 0;
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len, next = nl ? end + 1 : len;
		if (end > i && buf[end - 1] == '\r')
			end--;
		if (memchr(buf + i, '\r', end - i)) {
			*why = "bare CR";
			return -EINVAL;
		}
		if (end > i) {
			struct line l;
			if (split_line(buf + i, end - i, &l, why) < 0 || apply_line(&l, p, &seen, why) < 0)
				return -EINVAL;
		}
		i = next;
	}
	if ((seen & (SEEN_VERSION | SEEN_MODE | SEEN_MAX_AGE)) != (SEEN_VERSION | SEEN_MODE | SEEN_MAX_AGE)) {
		*why = !(seen & SEEN_VERSION) ? "empty policy" : !(seen & SEEN_MODE) ? "no mode" : "no max_age";
		return -EINVAL;
	}
	if (p->mode != STS_MODE_NONE && p->n_mx == 0) {
		*why = "no mx pattern";
		return -EINVAL;
	}
	return 0;
}

/* ---- TXT record --------------------------------------------------------------------------- */

int sts_txt_parse(const char *s, size_t len, char id[STS_ID_MAX + 1])
{
	static const char v1[] = "v=STSv1";
	id[0] = '\0';
	if (len < sizeof(v1) - 1 || memcmp(s, v1, sizeof(v1) - 1) != 0)
		return 0;
	size_t i = sizeof(v1) - 1;
	if (i < len && s[i] != ';' && !is_wsp(s[i]))
		return 0;   /* "v=STSv10": not ours */
	bool have_id = false, any = false;
	/* sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim] */
	while (i < len) {
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;
		if (s[i] != ';')
			return -EINVAL;
		i++;
		while (i < len && is_wsp(s[i]))
			i++;
		if (i == len)
			break;   /* trailing delimiter */
		size_t n0 = i;
		while (i < len && (is_alnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			i++;
		if (i == n0 || i - n0 > 32 || i == len || s[i] != '=')
			return -EINVAL;
		bool is_id = i - n0 == 2 && memcmp(s + n0, "id", 2) == 0;
		size_t v0 = ++i;
		while (i < len && s[i] > 0x20 && s[i] < 0x7f && s[i] != ';' && s[i] != '=')
			i++;
		if (i == v0)
			return -EINVAL;
		any = true;
		if (is_id) {
			if (have_id || i - v0 > STS_ID_MAX)
				return -EINVAL;
			for (size_t k = v0; k < i; k++)
				if (!is_alnum((unsigned char)s[k]))
					return -EINVAL;
			memcpy(id, s + v0, i - v0);
			id[i - v0] = '\0';
			have_id = true;
		}
	}
	return any && have_id ? 1 : -EINVAL;
}
