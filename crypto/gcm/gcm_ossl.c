// SPDX-License-Identifier: MIT
/*
 * gcm_ossl.c: the bridge from OpenSSL's finished handshake to the batched record layer.
 * TLS 1.3 secrets come from the keylog callback (CLIENT_TRAFFIC_SECRET_0 and
 * SERVER_TRAFFIC_SECRET_0 lines): OpenSSL 3.0 has no other public way to the application
 * traffic secrets (SSL_export_keying_material derives exporter values, not record keys; the
 * kTLS hand-off is internal). The secrets are parsed as the handshake derives them, kept in
 * the SSL's ex_data and wiped when exported or when the SSL is freed. TLS 1.2 needs no
 * callback: master secret and randoms are public API (SSL_SESSION_get_master_key,
 * SSL_get_client_random/SSL_get_server_random) and the key block is derived in gcm_kdf.c.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct keylog_slot {
	uint8_t client[GCM_MAX_SECRET], server[GCM_MAX_SECRET];
	size_t client_len, server_len;
};

static int ex_idx = -1; /* process-wide, set once at start-up before any lcore runs */

static void slot_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	if (ptr) {
		OPENSSL_cleanse(ptr, sizeof(struct keylog_slot));
		free(ptr);
	}
}

int gcm_ossl_init(void)
{
	if (ex_idx >= 0)
		return 0;
	ex_idx = SSL_get_ex_new_index(0, (void *)"gcm keylog", NULL, NULL, slot_free);
	return ex_idx >= 0 ? 0 : -ENOMEM;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses up to max bytes of hex ending at NUL; returns the length or 0. */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (s[0] && s[1] && n < max) {
		int hi = hexval(s[0]), lo = hexval(s[1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return s[0] ? 0 : n;
}

void gcm_ossl_keylog_cb(const struct ssl_st *cssl, const char *line)
{
	SSL *ssl = (SSL *)cssl;
	struct keylog_slot *k;
	const char *sp;
	bool client;

	if (ex_idx < 0)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		client = true;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		client = false;
	else
		return;
	sp = strchr(line + 24, ' '); /* skip the client random */
	if (!sp)
		return;
	k = SSL_get_ex_data(ssl, ex_idx);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k || !SSL_set_ex_data(ssl, ex_idx, k)) {
			free(k);
			return;
		}
	}
	if (client)
		k->client_len = unhex(sp + 1, k->client, sizeof(k->client));
	else
		k->server_len = unhex(sp + 1, k->server, sizeof(k->server));
}

/* The record protection of ssl's negotiated cipher, or -EOPNOTSUPP. */
static int suite_of(SSL *ssl, enum gcm_suite *suite)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const EVP_MD *md = c ? SSL_CIPHER_get_handshake_digest(c) : NULL;
	int nid = c ? SSL_CIPHER_get_cipher_nid(c) : NID_undef;
	int mdt = md ? EVP_MD_get_type(md) : NID_undef;

	if (nid == NID_aes_128_gcm && mdt == NID_sha256)
		*suite = GCM_AES128_SHA256;
	else if (nid == NID_aes_256_gcm && mdt == NID_sha384)
		*suite = GCM_AES256_SHA384;
	else
		return -EOPNOTSUPP;
	return 0;
}

int gcm_ossl_export(struct ssl_st *ssl, struct gcm_secrets *sec)
{
	int v = SSL_version(ssl);
	size_t hl;

	memset(sec, 0, sizeof(*sec));
	if (!SSL_is_init_finished(ssl) || (v != TLS1_2_VERSION && v != TLS1_3_VERSION))
		return -EOPNOTSUPP;
	if (suite_of(ssl, &sec->suite))
		return -EOPNOTSUPP;
	sec->is_server = SSL_is_server(ssl) == 1;
	hl = gcm_suite_hash_len(sec->suite);
	if (v == TLS1_3_VERSION) {
		struct keylog_slot *k = ex_idx >= 0 ? SSL_get_ex_data(ssl, ex_idx) : NULL;

		sec->version = GCM_TLS13;
		if (!k || k->client_len != hl || k->server_len != hl)
			return -ENOENT;
		memcpy(sec->client, k->client, hl);
		memcpy(sec->server, k->server, hl);
		sec->have_client = sec->have_server = true;
		OPENSSL_cleanse(k, sizeof(*k));
		return 0;
	}
	sec->version = GCM_TLS12;
	if (SSL_SESSION_get_master_key(SSL_get_session(ssl), sec->master, 48) != 48 ||
	    SSL_get_client_random(ssl, sec->client_random, 32) != 32 ||
	    SSL_get_server_random(ssl, sec->server_random, 32) != 32) {
		OPENSSL_cleanse(sec, sizeof(*sec));
		return -ENOENT;
	}
	return 0;
}

unsigned gcm_rec_count(const uint8_t *buf, size_t len)
{
	unsigned n = 0;

	while (len >= GCM_TLS_HDR) {
		size_t r = GCM_TLS_HDR + ((size_t)buf[3] << 8 | buf[4]);

		if (r > len)
			break;
		n++;
		buf += r;
		len -= r;
	}
	return n;
}
