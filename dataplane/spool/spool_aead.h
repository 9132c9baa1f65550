/* SPDX-License-Identifier: MIT */
/*
 * spool_aead.h: the small AES-256-GCM interface the spool seals records with. It is kept this
 * narrow (one key, seal/open in place with a 12-byte nonce, AAD and a 16-byte tag) so the OpenSSL
 * EVP implementation behind it can later be swapped for the batched intel-ipsec-mb path of
 * crypto/ without touching the spool. One object per key per lcore (EVP contexts are not
 * shareable between threads).
 */
#ifndef DPMAIL_SPOOL_AEAD_H
#define DPMAIL_SPOOL_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_AEAD_KEY   32u
#define SPOOL_AEAD_NONCE 12u
#define SPOOL_AEAD_TAG   16u

struct spool_aead;

/* Returns NULL on failure (OpenSSL error); the key is copied into the cipher contexts. */
struct spool_aead *spool_aead_create(const uint8_t key[SPOOL_AEAD_KEY]);
void spool_aead_free(struct spool_aead *a);
/* Encrypts buf[0..len) in place and writes the tag. Returns 0 or -EIO. */
int spool_aead_seal(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    uint8_t tag[SPOOL_AEAD_TAG]);
/* Decrypts in place; returns 0, or -EBADMSG when the tag does not verify (buf is garbage). */
int spool_aead_open(struct spool_aead *a, const uint8_t nonce[SPOOL_AEAD_NONCE],
		    const uint8_t *aad, size_t aad_len, uint8_t *buf, size_t len,
		    const uint8_t tag[SPOOL_AEAD_TAG]);

#endif
