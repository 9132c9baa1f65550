/* SPDX-License-Identifier: MIT */
/*
 * spool_aead.c: AES-256-GCM through OpenSSL EVP for spool records. The key schedule is done once
 * per context at creation; each record only sets its nonce. Contexts are per key and per lcore.
 */
#include "spool/spool_aead.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <openssl/evp.h>

struct spool_aead {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

struct spool_aead *spool_aead_create(const uint8_t key[SPOOL_AEAD_KEY])
{
	struct spool_aead *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->enc = EVP_CIPHER_CTX_new();
	if (!a->enc || !EVP_EncryptInit_ex(a->enc, EVP_aes_256_gcm(), NULL, key, NULL))
		goto err;
	a->dec = EVP_CIPHER_CTX_new();
	if (!a->dec || !EVP_DecryptInit_ex(a->dec, EVP_aes_256_gcm(), NULL, key, NULL))
		goto err;
	return a;
err:
	spool_aead_free(a);
	return NULL;
}

void spool_aead_free(struct spool_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->dec);
	EVP_CIPHER_CTX_free(a->enc);
	free(a);
}

int spool_aead_seal(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    uint8_t tag[SPOOL_AEAD_TAG])
{
	int n;
	if (len > INT_MAX || aad_len > INT_MAX ||
	    !EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) ||
	    !EVP_EncryptUpdate(a->enc, NULL, &n, aad, (int)aad_len) ||
	    (len && !EVP_EncryptUpdate(a->enc, buf, &n, buf, (int)len)) ||
	    !EVP_EncryptFinal_ex(a->enc, buf + len, &n) ||
	    !EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, SPOOL_AEAD_TAG, tag))
		return -EIO;
	return 0;
}

int spool_aead_open(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    const uint8_t tag[SPOOL_AEAD_TAG])
{
	int n;
	if (len > INT_MAX || aad_len > INT_MAX ||
	    !EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) ||
	    !EVP_DecryptUpdate(a->dec, NULL, &n, aad, (int)aad_len) ||
	    (len && !EVP_DecryptUpdate(a->dec, buf, &n, buf, (int)len)) ||
	    !EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, SPOOL_AEAD_TAG, (void *)tag) ||
	    EVP_DecryptFinal_ex(a->dec, buf + len, &n) <= 0)
		return -EBADMSG;
	return 0;
}
