/* SPDX-License-Identifier: MIT */
/*
 * tls_stats.c: per-core TLS counters (handshakes full/resumed, failures by reason, versions,
 * ciphers, bytes) and the mapping of OpenSSL errors onto failure reasons. Counters are plain
 * integers written by one lcore; the control plane reads and sums them.
 */
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static const char *const fail_names[TLS_FAIL__MAX] = {
	[TLS_FAIL_NONE] = "none",          [TLS_FAIL_GARBAGE] = "garbage",
	[TLS_FAIL_VERSION] = "version",    [TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
	[TLS_FAIL_ALERT] = "alert",        [TLS_FAIL_ABORTED] = "aborted",
	[TLS_FAIL_TIMEOUT] = "timeout",    [TLS_FAIL_VERIFY] = "verify",
	[TLS_FAIL_DANE] = "dane",          [TLS_FAIL_PROTOCOL] = "protocol",
	[TLS_FAIL_NOMEM] = "nomem",        [TLS_FAIL_CLOSED] = "closed",
};

const char *tls_fail_str(enum tls_fail f)
{
	return (unsigned)f < TLS_FAIL__MAX ? fail_names[f] : "unknown";
}

/* Maps the last OpenSSL error of a failed handshake to a reason; *reason gets OpenSSL's text. */
enum tls_fail tls_fail_classify(unsigned long err, bool dane, const char **reason)
{
	int reason_code = ERR_GET_REASON(err);
	*reason = err ? ERR_reason_error_string(err) : NULL;
	if (!err)
		return TLS_FAIL_PROTOCOL;
	if (ERR_GET_LIB(err) == ERR_LIB_SSL && reason_code >= SSL_AD_REASON_OFFSET &&
	    reason_code < SSL_AD_REASON_OFFSET + 256)
		return TLS_FAIL_ALERT;    /* the peer's fatal alert */
	if (ERR_GET_LIB(err) != ERR_LIB_SSL)
		return ERR_GET_REASON(err) == ERR_R_MALLOC_FAILURE ? TLS_FAIL_NOMEM : TLS_FAIL_PROTOCOL;
	switch (reason_code) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_UNKNOWN_PROTOCOL:
	case SSL_R_BAD_PACKET_LENGTH:
	case SSL_R_BAD_RECORD_TYPE:
	case SSL_R_UNEXPECTED_RECORD:
	case SSL_R_LENGTH_TOO_SHORT:
		return TLS_FAIL_GARBAGE;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		return TLS_FAIL_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
	case SSL_R_NO_CIPHERS_AVAILABLE:
		return TLS_FAIL_NO_SHARED_CIPHER;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return dane ? TLS_FAIL_DANE : TLS_FAIL_VERIFY;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return TLS_FAIL_ABORTED;
	default:
		return TLS_FAIL_PROTOCOL;
	}
}

static enum tls_cipher_idx cipher_idx(const char *name)
{
	if (strstr(name, "AES128-GCM") || strstr(name, "AES_128_GCM"))
		return TLS_CIPH_AES128_GCM;
	if (strstr(name, "AES256-GCM") || strstr(name, "AES_256_GCM"))
		return TLS_CIPH_AES256_GCM;
	if (strstr(name, "CHACHA20"))
		return TLS_CIPH_CHACHA20;
	return TLS_CIPH_OTHER;
}

void tls_stats_handshake(struct tls_stats *s, enum tls_role role, const SSL *ssl, bool resumed)
{
	struct tls_role_stats *r = &s->role[role];
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int v = SSL_version(ssl);
	if (resumed)
		r->handshakes_resumed++;
	else
		r->handshakes_full++;
	r->version[v == TLS1_3_VERSION ? TLS_VER_13 : v == TLS1_2_VERSION ? TLS_VER_12 : TLS_VER_OTHER]++;
	r->cipher[c ? cipher_idx(SSL_CIPHER_get_name(c)) : TLS_CIPH_OTHER]++;
}

static size_t put(char *buf, size_t len, size_t off, const char *role, const char *name,
		  uint64_t v)
{
	if (v == 0 || off >= len)
		return off;
	int n = snprintf(buf + off, len - off, "tls.%s%s%s=%llu\n", role, role[0] ? "." : "", name,
			 (unsigned long long)v);
	if (n < 0)
		return off;
	return off + (size_t)n >= len ? len - 1 : off + (size_t)n;
}

size_t tls_stats_format(const struct tls_stats *s, char *buf, size_t len)
{
	static const char *const roles[TLS_ROLE__MAX] = { "server", "client" };
	static const char *const vers[TLS_VER__MAX] = { "version.tls1_2", "version.tls1_3",
							"version.other" };
	static const char *const ciph[TLS_CIPH__MAX] = { "cipher.aes128_gcm", "cipher.aes256_gcm",
							 "cipher.chacha20", "cipher.other" };
	char name[64];
	size_t off = 0;
	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (int i = 0; i < TLS_ROLE__MAX; i++) {
		const struct tls_role_stats *r = &s->role[i];
		const char *ro = roles[i];
		off = put(buf, len, off, ro, "handshakes_full", r->handshakes_full);
		off = put(buf, len, off, ro, "handshakes_resumed", r->handshakes_resumed);
		for (int f = 1; f < TLS_FAIL__MAX; f++) {
			snprintf(name, sizeof(name), "fail.%s", fail_names[f]);
			off = put(buf, len, off, ro, name, r->fail[f]);
		}
		for (int v = 0; v < TLS_VER__MAX; v++)
			off = put(buf, len, off, ro, vers[v], r->version[v]);
		for (int c = 0; c < TLS_CIPH__MAX; c++)
			off = put(buf, len, off, ro, ciph[c], r->cipher[c]);
		off = put(buf, len, off, ro, "verified", r->verified);
		off = put(buf, len, off, ro, "unverified", r->unverified);
		off = put(buf, len, off, ro, "bytes_in", r->bytes_in);
		off = put(buf, len, off, ro, "bytes_out", r->bytes_out);
		off = put(buf, len, off, ro, "records_out", r->records_out);
		off = put(buf, len, off, ro, "alerts_after_handshake", r->alerts_after_hs);
		off = put(buf, len, off, ro, "truncated", r->truncated);
		off = put(buf, len, off, ro, "close_notify_in", r->close_notify_in);
		off = put(buf, len, off, ro, "gcm_sessions", r->gcm_sessions);
		off = put(buf, len, off, ro, "active", r->active);
	}
	off = put(buf, len, off, "", "session_cache.hits", s->sess_cache_hits);
	off = put(buf, len, off, "", "session_cache.misses", s->sess_cache_misses);
	off = put(buf, len, off, "", "session_cache.stores", s->sess_cache_stores);
	return off;
}
