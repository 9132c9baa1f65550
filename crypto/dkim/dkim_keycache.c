/* SPDX-License-Identifier: MIT */
/*
 * dkim_keycache.c: per-lcore parsed private keys handed to libopendkim without re-parsing
 * (see dkim_keycache.h for why and how). The cache is a small array with LRU eviction:
 * a relay signs for a bounded set of domains per lcore, and a miss only costs one parse.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "dkim/dkim_arena.h"
#include "dkim/dkim_keycache.h"
#include "log.h"

/* What the current thread may hand out: set only inside dkim_keycache_load(). */
struct lend {
	const struct dkim_keycache_ent *e;
	int give;	/* 1: the library frees what it gets, so give it its own reference */
	int served;
};
static __thread struct lend *cur_lend;

/* Per algorithm: does libopendkim EVP_PKEY_free() the key it loaded? Set once at start-up. */
static int lib_frees[DKIM_ALG__MAX];
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_rc = -1;

EVP_PKEY *PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
	struct lend *l = cur_lend;
	if (l && l->e && !x && BIO_method_type(bp) == BIO_TYPE_MEM) {
		char *data = NULL;
		long n = BIO_get_mem_data(bp, &data);
		if (n == (long)l->e->pem_len && data && memcmp(data, l->e->pem, (size_t)n) == 0) {
			if (l->give && EVP_PKEY_up_ref(l->e->pk) != 1)
				return NULL;
			l->served = 1;
			return l->e->pk;
		}
	}
	return PEM_read_bio_PrivateKey_ex(bp, x, cb, u, NULL, NULL);
}

static void probe_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr)
		*(int *)ptr = 1;
}

/* Sign one tiny message lending pk (no extra reference) and report whether the library
 * released it: 1 yes, 0 no, -1 the probe itself failed. */
static int probe_alg(int ex_idx, enum dkim_alg alg, EVP_PKEY *pk)
{
	int freed = 0, rc = -1;
	struct dkim_keycache_ent e = { .pk = pk, .alg = alg };
	struct lend l = { .e = &e, .give = 0 };
	DKIM_STAT st;
	struct dkim_chunk_pool pool = { .max_free = 0 };
	struct dkim_arena arena;
	DKIM_LIB *lib = dkim_init(dkim_arena_lib_malloc, dkim_arena_lib_free);
	dkim_arena_init(&arena, &pool);
	e.pem = dkim_pem_of(pk, &e.pem_len);
	if (!lib || !e.pem || EVP_PKEY_set_ex_data(pk, ex_idx, &freed) != 1)
		goto out;
	DKIM *h = dkim_sign(lib, (const unsigned char *)"probe", &arena, (dkim_sigkey_t)e.pem,
			    (const unsigned char *)"probe", (const unsigned char *)"probe.invalid",
			    DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
			    alg == DKIM_ALG_RSA_SHA256 ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256,
			    -1, &st);
	if (!h)
		goto out;
	cur_lend = &l;
	st = dkim_privkey_load(h);
	cur_lend = NULL;
	char from[] = "From: probe@probe.invalid";
	unsigned char crlf[] = "\r\n";
	if (st == DKIM_STAT_OK && l.served &&
	    dkim_header(h, (unsigned char *)from, sizeof(from) - 1) == DKIM_STAT_OK &&
	    dkim_eoh(h) == DKIM_STAT_OK && dkim_body(h, crlf, 2) == DKIM_STAT_OK &&
	    dkim_eom(h, NULL) == DKIM_STAT_OK)
		rc = 0;
	dkim_free(h);
out:
	if (!freed) {
		EVP_PKEY_set_ex_data(pk, ex_idx, NULL);
		EVP_PKEY_free(pk);
	}
	free(e.pem);
	dkim_arena_reset(&arena);
	if (lib)
		dkim_close(lib);
	return rc < 0 ? -1 : freed;
}

static void probe(void)
{
	int idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EVP_PKEY, 0, NULL, NULL, NULL,
					  probe_freed);
	EVP_PKEY *rsa = EVP_RSA_gen(1024);	/* a throwaway key; 1024 is libopendkim's floor */
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (idx < 0 || !rsa || !ed) {
		EVP_PKEY_free(rsa);
		EVP_PKEY_free(ed);
		log_err("dkim msg=\"key probe: OpenSSL key generation failed\"");
		return;
	}
	int r = probe_alg(idx, DKIM_ALG_RSA_SHA256, rsa);
	int e = probe_alg(idx, DKIM_ALG_ED25519_SHA256, ed);
	if (r < 0 || e < 0) {
		log_err("dkim msg=\"key probe: libopendkim did not sign with a lent key\"");
		return;
	}
	lib_frees[DKIM_ALG_RSA_SHA256] = r;
	lib_frees[DKIM_ALG_ED25519_SHA256] = e;
	probe_rc = 0;
}

int dkim_keycache_global_init(void)
{
	pthread_once(&probe_once, probe);
	return probe_rc;
}

int dkim_keycache_init(struct dkim_keycache *kc, unsigned cap)
{
	kc->ent = calloc(cap ? cap : 1, sizeof(*kc->ent));
	kc->n = 0;
	kc->cap = cap ? cap : 1;
	kc->tick = 0;
	return kc->ent ? 0 : -1;
}

static void ent_clear(struct dkim_keycache_ent *e)
{
	EVP_PKEY_free(e->pk);
	if (e->pem) {
		OPENSSL_cleanse(e->pem, e->pem_len);
		free(e->pem);
	}
	memset(e, 0, sizeof(*e));
}

void dkim_keycache_fini(struct dkim_keycache *kc)
{
	for (unsigned i = 0; i < kc->n; i++)
		ent_clear(&kc->ent[i]);
	free(kc->ent);
	kc->ent = NULL;
	kc->n = 0;
}

/* The cache entry for k: found, or parsed into a free/least recently used slot. */
static struct dkim_keycache_ent *lookup(struct dkim_keycache *kc, const struct dkim_key *k,
					int *hit)
{
	struct dkim_keycache_ent *victim = NULL;
	for (unsigned i = 0; i < kc->n; i++) {
		if (kc->ent[i].uid == k->uid) {
			*hit = 1;
			return &kc->ent[i];
		}
		if (!victim || kc->ent[i].last_use < victim->last_use)
			victim = &kc->ent[i];
	}
	*hit = 0;
	struct dkim_keycache_ent *e = kc->n < kc->cap ? &kc->ent[kc->n] : victim;
	size_t len = strlen(k->pem);
	char *pem = malloc(len + 1);
	BIO *b = BIO_new_mem_buf(k->pem, (int)len);
	EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!pem || !pk) {
		free(pem);
		EVP_PKEY_free(pk);
		return NULL;
	}
	if (e == &kc->ent[kc->n])
		kc->n++;
	else
		ent_clear(e);	/* a message still signing with it holds its own reference */
	memcpy(pem, k->pem, len + 1);
	e->uid = k->uid;
	e->pem = pem;
	e->pem_len = len;
	e->pk = pk;
	e->alg = k->alg;
	return e;
}

int dkim_keycache_load(struct dkim_keycache *kc, const struct dkim_key *k, DKIM *h,
		       EVP_PKEY **hold, int *hit)
{
	*hold = NULL;
	*hit = 0;
	if (probe_rc != 0)
		return dkim_privkey_load(h) == DKIM_STAT_OK ? 0 : -1;
	struct dkim_keycache_ent *e = lookup(kc, k, hit);
	if (!e)
		return dkim_privkey_load(h) == DKIM_STAT_OK ? 0 : -1;
	e->last_use = ++kc->tick;
	struct lend l = { .e = e, .give = lib_frees[k->alg] };
	/* lent, not given: keep a reference for the message so eviction cannot pull it away */
	if (!l.give && EVP_PKEY_up_ref(e->pk) != 1)
		return -1;
	cur_lend = &l;
	DKIM_STAT st = dkim_privkey_load(h);
	cur_lend = NULL;
	if (!l.give) {
		if (l.served)
			*hold = e->pk;
		else
			EVP_PKEY_free(e->pk);
	}
	*hit = *hit && l.served;
	return st == DKIM_STAT_OK ? 0 : -1;
}
