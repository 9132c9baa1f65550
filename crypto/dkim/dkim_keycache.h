/* SPDX-License-Identifier: MIT */
/*
 * dkim_keycache.h: parsed private keys of one lcore (private to crypto/dkim).
 *
 * Why: libopendkim takes the private key as text on every signing handle and parses it in
 * dkim_privkey_load() with PEM_read_bio_PrivateKey(). With OpenSSL 3.0's decoders that parse
 * costs ~0.4 ms, more than the RSA-2048 signature itself (~0.25 ms). We keep one parsed
 * EVP_PKEY per key per lcore and hand it to libopendkim: this file defines
 * PEM_read_bio_PrivateKey(), which the executable exports ahead of libcrypto's, and which
 * returns the cached key when, and only when, the calling thread is inside
 * dkim_keycache_load() and the BIO holds exactly that key's PEM text. Every other call is
 * forwarded unchanged to PEM_read_bio_PrivateKey_ex(), the same function underneath.
 *
 * Ownership: whether libopendkim releases the key after a signature differs per algorithm in
 * 2.11 (it frees RSA keys, it leaks ed25519 ones), so a one-time probe at start-up finds out
 * (EVP_PKEY ex_data free callback) and we either give the library a reference or lend it
 * ours. Either way no reference is leaked and none is dropped twice.
 */
#ifndef DPMAIL_DKIM_KEYCACHE_H
#define DPMAIL_DKIM_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <opendkim/dkim.h>

#include "dkim/dkim-t.h"

struct dkim_keycache_ent {
	uint64_t uid;
	uint64_t last_use;
	char *pem;
	size_t pem_len;
	EVP_PKEY *pk;
	EVP_MD_CTX *sign_tmpl;	/* pk's EVP_DigestSignInit() done once (see dkim_keycache_eom) */
	enum dkim_alg alg;
};

struct dkim_keycache {
	struct dkim_keycache_ent *ent;
	unsigned n;
	unsigned cap;
	uint64_t tick;
};

char *dkim_pem_of(EVP_PKEY *pk, size_t *len);	/* in dkim_keyring.c */
/* Process-wide, once: find how libopendkim treats the keys it is given. 0 or -1. */
int dkim_keycache_global_init(void);
int dkim_keycache_init(struct dkim_keycache *kc, unsigned cap);
void dkim_keycache_fini(struct dkim_keycache *kc);
/*
 * Load key k into handle h (fresh from dkim_sign() with k->pem). *hold receives a reference
 * the caller must EVP_PKEY_free() after dkim_free(h) (NULL when none is needed). *hit tells
 * whether the cached key was used (0: parsed now, slow). Returns 0 or -1 (key unusable).
 */
int dkim_keycache_load(struct dkim_keycache *kc, const struct dkim_key *k, DKIM *h,
		       EVP_PKEY **hold, int *hit);

/*
 * dkim_eom(h) for a handle whose key k was loaded by dkim_keycache_load(). While it runs,
 * libopendkim's EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) on k's cached key (its
 * ed25519 path; RSA goes through RSA_sign) is served by copying a context initialised once
 * per key and lcore: OpenSSL 3.0 re-fetches the signature algorithm and walks its whole name
 * map (EVP_PKEY_CTX_new_from_pkey -> EVP_KEYMGMT_names_do_all) on every init, ~3-4 us per
 * message, against ~0.2 us for the copy. This file defines EVP_DigestSignInit() for that; every
 * other call goes to libcrypto's (dlsym RTLD_NEXT, resolved once; EVP_DigestSignInit_ex if
 * it is not found). A start-up probe checks that a signature made from a copy equals a fresh
 * one (ed25519 is deterministic); if not, copies are never used. *tmpl tells whether the
 * template served this signature.
 */
DKIM_STAT dkim_keycache_eom(struct dkim_keycache *kc, const struct dkim_key *k, DKIM *h,
			    int *tmpl);

#endif
