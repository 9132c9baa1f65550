/* SPDX-License-Identifier: MIT */
/*
 * dkim_keycache.c: per-lcore parsed private keys handed to libopendkim without re-parsing
 * (see dkim_keycache.h for why and how). The cache is a small array with LRU eviction:
 * a relay signs for a bounded set of domains per lcore, and a miss only costs one parse.
 */
#include <dlfcn.h>
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

/* The key whose sign template the current thread may use: set only inside
 * dkim_keycache_eom(). */
static __thread struct dkim_keycache_ent *cur_sign;
static __thread int cur_sign_served;	/* a copy of the template was handed out */

typedef int digest_sign_init_fn(EVP_MD_CTX *, EVP_PKEY_CTX **, const EVP_MD *, ENGINE *,
				EVP_PKEY *);
static digest_sign_init_fn *real_sign_init;	/* libcrypto's (NULL: not found) */
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static int tmpl_ok;				/* the template probe passed */

static void real_resolve(void)
{
	real_sign_init = (digest_sign_init_fn *)dlsym(RTLD_NEXT, "EVP_DigestSignInit");
}

/* libcrypto's EVP_DigestSignInit(); should dlsym not find it, the _ex form it wraps. */
static int real_init(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
		     EVP_PKEY *pkey)
{
	pthread_once(&real_once, real_resolve);
	if (real_sign_init)
		return real_sign_init(ctx, pctx, type, e, pkey);
	if (e)
		return 0;
	return EVP_DigestSignInit_ex(ctx, pctx, type ? EVP_MD_get0_name(type) : NULL, NULL, NULL,
				     pkey, NULL);
}

int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e,
		       EVP_PKEY *pkey)
{
	struct dkim_keycache_ent *s = cur_sign;
	if (s && s->sign_tmpl && s->pk == pkey && !pctx && !type && !e &&
	    EVP_MD_CTX_copy_ex(ctx, s->sign_tmpl) == 1) {
		cur_sign_served = 1;
		return 1;
	}
	return real_init(ctx, pctx, type, e, pkey);
}

/* A context of EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) to copy from, or NULL. */
static EVP_MD_CTX *sign_tmpl_new(EVP_PKEY *pk)
{
	EVP_MD_CTX *t = EVP_MD_CTX_new();
	if (t && real_init(t, NULL, NULL, NULL, pk) != 1) {
		EVP_MD_CTX_free(t);
		t = NULL;
	}
	return t;
}

/* Does an ed25519 signature made from a copied template equal one from a fresh init? */
static int tmpl_probe(EVP_PKEY *ed)
{
	static const unsigned char msg[32] = "dpmail sign template probe";
	unsigned char a[64], b[64];
	size_t la = sizeof(a), lb = sizeof(b);
	EVP_MD_CTX *t = sign_tmpl_new(ed), *c = EVP_MD_CTX_new(), *f = EVP_MD_CTX_new();
	int ok = t && c && f && EVP_MD_CTX_copy_ex(c, t) == 1 &&
		 EVP_DigestSign(c, a, &la, msg, sizeof(msg)) == 1 &&
		 real_init(f, NULL, NULL, NULL, ed) == 1 &&
		 EVP_DigestSign(f, b, &lb, msg, sizeof(msg)) == 1 && la == lb &&
		 memcmp(a, b, la) == 0;
	EVP_MD_CTX_free(t);
	EVP_MD_CTX_free(c);
	EVP_MD_CTX_free(f);
	return ok;
}

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
	tmpl_ok = tmpl_probe(ed);
	if (!tmpl_ok)
		log_warn("dkim msg=\"sign template probe failed: every ed25519 signature initialises its context\"");
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
	EVP_MD_CTX_free(e->sign_tmpl);	/* holds a reference to pk */
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

DKIM_STAT dkim_keycache_eom(struct dkim_keycache *kc, const struct dkim_key *k, DKIM *h,
			    int *tmpl)
{
	struct dkim_keycache_ent *e = NULL;
	for (unsigned i = 0; i < kc->n && !e; i++)
		if (kc->ent[i].uid == k->uid)
			e = &kc->ent[i];
	if (e && tmpl_ok && e->alg == DKIM_ALG_ED25519_SHA256 && !e->sign_tmpl)
		e->sign_tmpl = sign_tmpl_new(e->pk);	/* once per key and lcore */
	cur_sign = e;
	cur_sign_served = 0;
	DKIM_STAT st = dkim_eom(h, NULL);
	cur_sign = NULL;
	*tmpl = cur_sign_served;
	return st;
}
