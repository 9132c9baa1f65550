// SPDX-License-Identifier: MIT
/*
 * spool_aead.c: AES-256-GCM for spool records through crypto/gcm's engine (intel-ipsec-mb,
 * VAES/AVX-512 where the CPU has it). The key is expanded once per context (round keys and
 * GHASH tables in a struct gcm_key); each record is one engine op run at once (the spool
 * computes the record's CRC over the ciphertext and tag right after sealing, so the op cannot
 * wait for a burst). The on-disk format is the one the OpenSSL EVP version wrote: standard
 * AES-256-GCM with the caller's 12-byte nonce, AAD and 16-byte tag, so either implementation
 * opens the other's records (tests/unit/spool/spool_aead_test.c checks both ways).
 * Contexts are per key and per lcore (an engine is not shareable between threads).
 */
#include "spool/spool_aead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"

struct spool_aead {
	struct gcm_key key; /* first: 64-byte aligned */
	struct gcm_engine *e;
};

struct spool_aead *spool_aead_create(const uint8_t key[SPOOL_AEAD_KEY])
{
	struct gcm_engine_cfg cfg;
	struct spool_aead *a;
	int err;

	a = aligned_alloc(64, (sizeof(*a) + 63) & ~(size_t)63);
	if (!a)
		goto err;
	memset(a, 0, sizeof(*a));
	gcm_engine_cfg_defaults(&cfg);
	a->e = gcm_engine_new(&cfg, &err);
	if (!a->e)
		goto err_free;
	if (gcm_key_set(a->e, &a->key, key, SPOOL_AEAD_KEY))
		goto err_engine;
	return a;
err_engine:
	gcm_engine_free(a->e);
err_free:
	free(a);
err:
	return NULL;
}

void spool_aead_free(struct spool_aead *a)
{
	if (!a)
		return;
	gcm_engine_free(a->e);
	gcm_key_wipe(&a->key);
	free(a);
}

/* Runs one op over buf[0..len) in place; 0 or -EIO (library error, AAD over 16 bytes). */
static int run(struct spool_aead *a, struct gcm_op *op, enum gcm_dir dir,
	       const uint8_t nonce[SPOOL_AEAD_NONCE], const uint8_t *aad, size_t aad_len,
	       uint8_t *buf, size_t len)
{
	if (aad_len > sizeof(op->aad) || len > UINT32_MAX)
		return -EIO;
	memset(op, 0, sizeof(*op));
	op->key = &a->key;
	op->dir = dir;
	memcpy(op->iv, nonce, GCM_IV_LEN);
	if (aad_len)
		memcpy(op->aad, aad, aad_len);
	op->aad_len = (uint32_t)aad_len;
	op->src = op->dst = buf;
	op->len = (uint32_t)len;
	gcm_engine_enqueue(a->e, op, 0);
	gcm_engine_flush(a->e);
	return op->status ? -EIO : 0;
}

int spool_aead_seal(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    uint8_t tag[SPOOL_AEAD_TAG])
{
	struct gcm_op op;
	int rc = run(a, &op, GCM_ENCRYPT, nonce, aad, aad_len, buf, len);

	if (rc == 0)
		memcpy(tag, op.tag, SPOOL_AEAD_TAG);
	return rc;
}

int spool_aead_open(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    const uint8_t tag[SPOOL_AEAD_TAG])
{
	struct gcm_op op;

	if (run(a, &op, GCM_DECRYPT, nonce, aad, aad_len, buf, len))
		return -EBADMSG;
	return gcm_tag_equal(op.tag, tag) ? 0 : -EBADMSG;
}
