// SPDX-License-Identifier: MIT
/*
 * gcm_kdf.c: key schedule pieces the record layer needs once a handshake is done: TLS 1.3
 * HKDF-Expand-Label for traffic keys, IVs and KeyUpdate (RFC 8446 §7.1-7.3) and the TLS 1.2
 * key block of AES-GCM suites (RFC 5246 §6.3, RFC 5288 §3). Control path (once per session or
 * per KeyUpdate): OpenSSL's EVP_KDF does the HMAC work.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

size_t gcm_suite_key_len(enum gcm_suite suite)
{
	return suite == GCM_AES256_SHA384 ? 32 : 16;
}

size_t gcm_suite_hash_len(enum gcm_suite suite)
{
	return suite == GCM_AES256_SHA384 ? 48 : 32;
}

static const char *suite_digest(enum gcm_suite suite)
{
	return suite == GCM_AES256_SHA384 ? "SHA384" : "SHA256";
}

/* Runs the named KDF with params; 0 or -EINVAL. */
static int kdf_run(const char *name, OSSL_PARAM *params, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int rc = -EINVAL;

	if (kctx && EVP_KDF_derive(kctx, out, out_len, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

int gcm_hkdf_expand_label(enum gcm_suite suite, const uint8_t *secret, const char *label,
			  const uint8_t *ctx, size_t ctx_len, uint8_t *out, size_t out_len)
{
	/* HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label, opaque ctx<0..255> */
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t llen = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[5];

	if (6 + llen > 255 || ctx_len > 255 || out_len > 0xffff)
		return -EINVAL;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + llen);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, llen);
	n += llen;
	info[n++] = (uint8_t)ctx_len;
	if (ctx_len)
		memcpy(info + n, ctx, ctx_len);
	n += ctx_len;

	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)suite_digest(suite), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
						      gcm_suite_hash_len(suite));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	return kdf_run("HKDF", params, out, out_len);
}

int gcm_tls13_traffic_keys(enum gcm_suite suite, const uint8_t *secret, uint8_t *key,
			   uint8_t iv[GCM_IV_LEN])
{
	int rc = gcm_hkdf_expand_label(suite, secret, "key", NULL, 0, key,
				       gcm_suite_key_len(suite));

	return rc ? rc : gcm_hkdf_expand_label(suite, secret, "iv", NULL, 0, iv, GCM_IV_LEN);
}

int gcm_tls12_key_block(enum gcm_suite suite, const uint8_t master[48],
			const uint8_t client_random[32], const uint8_t server_random[32],
			uint8_t *ckey, uint8_t *skey, uint8_t csalt[4], uint8_t ssalt[4])
{
	/* key_block = PRF(master, "key expansion", server_random + client_random); AEAD suites
	 * have no MAC keys: client key, server key, client salt, server salt */
	static const char label[] = "key expansion";
	uint8_t seed[sizeof(label) - 1 + 64], kb[2 * 32 + 8];
	size_t kl = gcm_suite_key_len(suite);
	OSSL_PARAM params[4];
	int rc;

	memcpy(seed, label, sizeof(label) - 1);
	memcpy(seed + sizeof(label) - 1, server_random, 32);
	memcpy(seed + sizeof(label) - 1 + 32, client_random, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)suite_digest(suite), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, 48);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	params[3] = OSSL_PARAM_construct_end();
	rc = kdf_run("TLS1-PRF", params, kb, 2 * kl + 8);
	if (rc == 0) {
		memcpy(ckey, kb, kl);
		memcpy(skey, kb + kl, kl);
		memcpy(csalt, kb + 2 * kl, 4);
		memcpy(ssalt, kb + 2 * kl + 4, 4);
	}
	OPENSSL_cleanse(kb, sizeof(kb));
	return rc;
}
