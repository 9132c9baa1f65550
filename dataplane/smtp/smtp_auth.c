// SPDX-License-Identifier: MIT
/*
 * smtp_auth.c: AUTH PLAIN and AUTH LOGIN (RFC 4954, RFC 4616), offered only under TLS. The
 * credential check is the caller's auth hook; the engine only frames and decodes. Decoded
 * secrets live on the stack for the duration of the hook and are wiped afterwards.
 */
#include <string.h>
#include <strings.h>

#include "smtp/smtp_priv.h"

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (padding required, no whitespace). Returns the decoded length or -1. */
long smtp_b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap)
{
	size_t n = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (src[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_val(src[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		if (n + 3 - (size_t)pad > cap)
			return -1;
		dst[n++] = (uint8_t)(w >> 16);
		if (pad < 2)
			dst[n++] = (uint8_t)(w >> 8);
		if (pad < 1)
			dst[n++] = (uint8_t)w;
	}
	return (long)n;
}

long smtp_b64_encode(const uint8_t *src, size_t len, char *dst, size_t cap)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0;

	if ((len + 2) / 3 * 4 + 1 > cap)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t w = (uint32_t)src[i] << 16;
		if (i + 1 < len)
			w |= (uint32_t)src[i + 1] << 8;
		if (i + 2 < len)
			w |= src[i + 2];
		dst[n++] = tab[w >> 18 & 63];
		dst[n++] = tab[w >> 12 & 63];
		dst[n++] = i + 1 < len ? tab[w >> 6 & 63] : '=';
		dst[n++] = i + 2 < len ? tab[w & 63] : '=';
	}
	dst[n] = '\0';
	return (long)n;
}

static void auth_finish(struct smtp_server_session *s, const char *mech, const char *authzid,
			const char *authcid, const char *pass)
{
	struct smtp_verdict v = { 535, "5.7.8", "Error: authentication failed" };

	if (s->hooks->auth)
		s->hooks->auth(s->ctx, s, mech, authzid, authcid, pass, &v);
	smtp_srv_enter(s, SMTP_S_READY);
	if (v.code == 235) {
		s->authenticated = true;
		strncpy(s->auth_id, authcid, sizeof(s->auth_id) - 1);
		s->auth_id[sizeof(s->auth_id) - 1] = '\0';
	} else {
		s->auth_id[0] = '\0';
	}
	smtp_srv_reply_v(s, &v);
}

/* PLAIN: authzid NUL authcid NUL passwd (RFC 4616). */
static void auth_plain(struct smtp_server_session *s, const char *b64, size_t n)
{
	uint8_t buf[SMTP_LINE_BUF_MAX];
	long len = smtp_b64_decode(b64, n, buf, sizeof(buf) - 1);

	smtp_srv_enter(s, SMTP_S_READY);
	if (len < 0) {
		smtp_srv_reply(s, 501, "5.5.2", "Error: cannot decode response");
		return;
	}
	buf[len] = '\0';
	uint8_t *z1 = memchr(buf, '\0', (size_t)len);
	uint8_t *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(buf + len - z1 - 1)) : NULL;
	if (!z2 || z1[1] == '\0' || z2 + 1 >= buf + len ||
	    memchr(z2 + 1, '\0', (size_t)(buf + len - z2 - 1)) || (size_t)(z2 - z1 - 1) > SMTP_AUTHID_MAX) {
		explicit_bzero(buf, sizeof(buf));
		smtp_srv_reply(s, 501, "5.5.2", "Error: malformed PLAIN response");
		return;
	}
	auth_finish(s, "PLAIN", (char *)buf, (char *)z1 + 1, (char *)z2 + 1);
	explicit_bzero(buf, sizeof(buf));
}

void smtp_auth_start(struct smtp_server_session *s, const char *a, size_t n)
{
	size_t ml = 0;

	while (ml < n && a[ml] != ' ')
		ml++;
	const char *ir = a + ml;
	size_t irn = n - ml;
	while (irn && *ir == ' ') {
		ir++;
		irn--;
	}
	if (ml == 5 && strncasecmp(a, "PLAIN", 5) == 0) {
		if (irn == 1 && ir[0] == '=')
			irn = 0, auth_plain(s, ir, 0);
		else if (irn)
			auth_plain(s, ir, irn);
		else {
			smtp_reply_line(&s->out, 334, NULL, "", true);
			smtp_srv_enter(s, SMTP_S_AUTH_PLAIN);
		}
	} else if (ml == 5 && strncasecmp(a, "LOGIN", 5) == 0) {
		if (irn) {
			smtp_srv_enter(s, SMTP_S_AUTH_LOGIN_USER);
			smtp_auth_continue(s, ir, irn);
		} else {
			smtp_reply_line(&s->out, 334, NULL, "VXNlcm5hbWU6", true); /* "Username:" */
			smtp_srv_enter(s, SMTP_S_AUTH_LOGIN_USER);
		}
	} else {
		smtp_srv_reply(s, 504, "5.5.4", "Error: unsupported authentication mechanism");
	}
}

/* A response line while an AUTH exchange is open. "*" cancels (RFC 4954 4). */
void smtp_auth_continue(struct smtp_server_session *s, const char *line, size_t n)
{
	uint8_t pass[SMTP_LINE_BUF_MAX];

	if (n == 1 && line[0] == '*') {
		smtp_srv_enter(s, SMTP_S_READY);
		smtp_srv_reply(s, 501, "5.7.0", "Error: authentication cancelled");
		return;
	}
	if (s->state == SMTP_S_AUTH_PLAIN) {
		auth_plain(s, line, n);
		return;
	}
	if (s->state == SMTP_S_AUTH_LOGIN_USER) {
		long l = smtp_b64_decode(line, n, (uint8_t *)s->auth_id, sizeof(s->auth_id) - 1);
		if (l <= 0 || memchr(s->auth_id, '\0', (size_t)l)) {
			smtp_srv_enter(s, SMTP_S_READY);
			smtp_srv_reply(s, 501, "5.5.2", "Error: cannot decode response");
			return;
		}
		s->auth_id[l] = '\0';
		smtp_reply_line(&s->out, 334, NULL, "UGFzc3dvcmQ6", true); /* "Password:" */
		smtp_srv_enter(s, SMTP_S_AUTH_LOGIN_PASS);
		return;
	}
	long l = smtp_b64_decode(line, n, pass, sizeof(pass) - 1);
	if (l < 0 || memchr(pass, '\0', (size_t)l)) {
		explicit_bzero(pass, sizeof(pass));
		smtp_srv_enter(s, SMTP_S_READY);
		smtp_srv_reply(s, 501, "5.5.2", "Error: cannot decode response");
		return;
	}
	pass[l] = '\0';
	char user[SMTP_AUTHID_MAX + 1];
	memcpy(user, s->auth_id, sizeof(user));
	auth_finish(s, "LOGIN", "", user, (char *)pass);
	explicit_bzero(pass, sizeof(pass));
}
