/* SPDX-License-Identifier: MIT */
/*
 * dkim_keyring.c: the set of signing keys, built and checked by the control plane from its
 * config, immutable afterwards. A keyring is meant to live inside a config snapshot published
 * with RCU: worker lcores read it during a loop turn and never keep a pointer into it across
 * a quiescent state (a message copies the few bytes it needs: uid, domain, selector; the
 * libopendkim handle copies the key). It is freed with the snapshot after a grace period.
 *
 * Loading checks, with errors naming the key file: the private key parses (PEM PKCS#8/PKCS#1,
 * or for ed25519 the base64 32-byte seed that dkimpy and RFC 8463 examples use), it is of the
 * configured algorithm, an RSA modulus has at least 1024 bits (a warning below 2048), and it
 * matches the published public key (TXT record or p= value) when one is given.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim/dkim.h"
#include "dkim/dkim_keycache.h"
#include "log.h"

#define KEY_FILE_MAX (64 * 1024)

struct dkim_keyring {
	size_t n;
	struct dkim_key *keys;		/* sorted by domain, then by configuration order */
	char operator_domain[DKIM_DOMAIN_MAX];
	char **files;			/* copies of the file names (struct dkim_key.file) */
};

static _Atomic uint64_t key_uid_next = 1;

const char *dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" : a == DKIM_ALG_ED25519_SHA256 ?
		"ed25519-sha256" : "unknown";
}

static void set_err(char *err, size_t errlen, const struct dkim_key_conf *c, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "dkim key file %s (domain %s, selector %s, %s): %s",
			 c->key_file ? c->key_file : "(none)", c->domain ? c->domain : "(none)",
			 c->selector ? c->selector : "(none)", dkim_alg_name(c->alg), what);
}

/* Read a whole small file into a NUL-terminated malloc'ed buffer. */
static char *read_file(const char *path, size_t *len, const char **why)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*why = strerror(errno);
		return NULL;
	}
	char *buf = malloc(KEY_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, KEY_FILE_MAX + 1, f) : 0;
	int bad = !buf || ferror(f) || n > KEY_FILE_MAX;
	fclose(f);
	if (bad) {
		*why = !buf ? "out of memory" : n > KEY_FILE_MAX ? "file too large" : "read error";
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Decode base64 (white space ignored) into out[cap]; returns the length or -1. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	char *clean = malloc(len + 1);
	size_t n = 0;
	if (!clean)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (in[i] != ' ' && in[i] != '\t' && in[i] != '\r' && in[i] != '\n' && in[i] != '"')
			clean[n++] = in[i];
	int r = -1;
	if (n % 4 == 0 && n / 4 * 3 <= cap + 2) {
		uint8_t *tmp = malloc(n / 4 * 3 + 1);
		int m = tmp ? EVP_DecodeBlock(tmp, (const unsigned char *)clean, (int)n) : -1;
		if (m >= 0) {
			if (n >= 1 && clean[n - 1] == '=')
				m--;
			if (n >= 2 && clean[n - 2] == '=')
				m--;
			if ((size_t)m <= cap) {
				memcpy(out, tmp, (size_t)m);
				r = m;
			}
		}
		free(tmp);
	}
	free(clean);
	return r;
}

static char *b64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Parse the private key text in any accepted format; NULL with *why set on failure. */
static EVP_PKEY *parse_private(const char *text, size_t len, enum dkim_alg alg, const char **why)
{
	EVP_PKEY *pk = NULL;
	if (strstr(text, "-----BEGIN")) {
		BIO *b = BIO_new_mem_buf(text, (int)len);
		pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (!pk)
			*why = "not a parsable PEM private key (encrypted keys are not supported)";
		return pk;
	}
	uint8_t raw[4096];
	int n = b64_decode(text, len, raw, sizeof(raw));
	if (n < 0) {
		*why = "neither PEM nor base64";
		return NULL;
	}
	if (alg == DKIM_ALG_ED25519_SHA256 && (n == 32 || n == 64)) {
		pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
		if (pk && n == 64) {	/* seed || public key: the halves must agree */
			uint8_t pub[32];
			size_t pl = sizeof(pub);
			if (EVP_PKEY_get_raw_public_key(pk, pub, &pl) != 1 || memcmp(pub, raw + 32, 32)) {
				EVP_PKEY_free(pk);
				*why = "64-byte ed25519 key: public half does not match the seed";
				return NULL;
			}
		}
	} else {
		const unsigned char *p = raw;
		pk = d2i_AutoPrivateKey(NULL, &p, n);
	}
	if (!pk)
		*why = "base64 content is not a private key";
	return pk;
}

/* The p= value a verifier needs: SubjectPublicKeyInfo for RSA, the raw key for ed25519. */
static char *public_b64(EVP_PKEY *pk, enum dkim_alg alg)
{
	if (alg == DKIM_ALG_ED25519_SHA256) {
		uint8_t pub[32];
		size_t pl = sizeof(pub);
		return EVP_PKEY_get_raw_public_key(pk, pub, &pl) == 1 ? b64_encode(pub, pl) : NULL;
	}
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	char *s = n > 0 ? b64_encode(der, (size_t)n) : NULL;
	OPENSSL_free(der);
	return s;
}

/*
 * Does the published key (a TXT record "v=DKIM1; k=rsa; p=..." or a bare p= value) match
 * pk? RSA keys are accepted in both encodings seen in DNS: SubjectPublicKeyInfo and PKCS#1.
 */
static int public_matches(EVP_PKEY *pk, enum dkim_alg alg, const char *txt)
{
	const char *v = txt, *e;
	for (const char *p = txt; (p = strstr(p, "p=")) != NULL; p += 2) {
		if (p == txt || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '"') {
			v = p + 2;
			break;
		}
	}
	e = strchr(v, ';');
	size_t vl = e ? (size_t)(e - v) : strlen(v);
	uint8_t pub[4096];
	int n = b64_decode(v, vl, pub, sizeof(pub));
	if (n <= 0)
		return 0;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		uint8_t mine[32];
		size_t ml = sizeof(mine);
		return EVP_PKEY_get_raw_public_key(pk, mine, &ml) == 1 && n == 32 &&
		       memcmp(mine, pub, 32) == 0;
	}
	int ok = 0;
	unsigned char *der = NULL;
	int dl = i2d_PUBKEY(pk, &der);
	if (dl == n && memcmp(der, pub, (size_t)n) == 0)
		ok = 1;
	OPENSSL_free(der);
	der = NULL;
	dl = i2d_PublicKey(pk, &der);		/* PKCS#1 RSAPublicKey */
	if (dl == n && memcmp(der, pub, (size_t)n) == 0)
		ok = 1;
	OPENSSL_free(der);
	return ok;
}

/* The unencrypted PKCS#8 PEM text of pk (malloc'ed, NUL-terminated; *len without the NUL),
 * the form libopendkim parses. NULL when out of memory. */
char *dkim_pem_of(EVP_PKEY *pk, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *data;
	if (b && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1) {
		long n = BIO_get_mem_data(b, &data);
		out = n > 0 ? malloc((size_t)n + 1) : NULL;
		if (out) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	BIO_free(b);
	return out;
}

static int copy_lower(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i <= n; i++)
		dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
	while (n > 1 && dst[n - 1] == '.')
		dst[--n] = '\0';
	return 0;
}

/* A domain or selector as it goes into d= / s= and the DNS name: printable, no tag
 * separators, no empty label. */
static int dns_name_ok(const char *n)
{
	if (!*n || *n == '.')
		return 0;
	for (const char *p = n; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == ';' || *p == '=' || (*p == '.' && p[1] == '.'))
			return 0;
	return 1;
}

/* Load and check one key into k. Returns 0, or -1 with err filled. */
static int load_key(struct dkim_key *k, const struct dkim_key_conf *c, char *err, size_t errlen)
{
	const char *why = NULL;
	size_t len = 0;
	if (c->alg != DKIM_ALG_RSA_SHA256 && c->alg != DKIM_ALG_ED25519_SHA256)
		return set_err(err, errlen, c, "unknown algorithm"), -1;
	if (copy_lower(k->domain, sizeof(k->domain), c->domain) || !dns_name_ok(k->domain) ||
	    !c->selector || strlen(c->selector) >= sizeof(k->selector) ||
	    !dns_name_ok(c->selector))
		return set_err(err, errlen, c, "bad domain or selector"), -1;
	strcpy(k->selector, c->selector);
	if (!c->key_file)
		return set_err(err, errlen, c, "no key file"), -1;
	char *text = read_file(c->key_file, &len, &why);
	if (!text)
		return set_err(err, errlen, c, why), -1;
	EVP_PKEY *pk = parse_private(text, len, c->alg, &why);
	OPENSSL_cleanse(text, len);
	free(text);
	if (!pk)
		return set_err(err, errlen, c, why), -1;
	int id = EVP_PKEY_get_base_id(pk);
	int rc = -1;
	k->alg = c->alg;
	if (c->alg == DKIM_ALG_RSA_SHA256 && id != EVP_PKEY_RSA) {
		set_err(err, errlen, c, "not an RSA key");
	} else if (c->alg == DKIM_ALG_ED25519_SHA256 && id != EVP_PKEY_ED25519) {
		set_err(err, errlen, c, "not an Ed25519 key");
	} else if (c->alg == DKIM_ALG_RSA_SHA256 && EVP_PKEY_get_bits(pk) < 1024) {
		set_err(err, errlen, c, "RSA key shorter than 1024 bits");
	} else if (!(k->pem = dkim_pem_of(pk, NULL)) || !(k->pub_b64 = public_b64(pk, c->alg))) {
		set_err(err, errlen, c, "out of memory");
	} else if (c->public_txt && !public_matches(pk, c->alg, c->public_txt)) {
		set_err(err, errlen, c, "private key does not match the published public key");
	} else {
		k->bits = (unsigned)EVP_PKEY_get_bits(pk);
		if (c->alg == DKIM_ALG_RSA_SHA256 && k->bits < 2048)
			log_warn("dkim key_file=%s domain=%s selector=%s bits=%u "
				 "msg=\"RSA key under 2048 bits: accepted, rotate it\"",
				 c->key_file, k->domain, k->selector, k->bits);
		k->uid = atomic_fetch_add(&key_uid_next, 1);
		rc = 0;
	}
	EVP_PKEY_free(pk);
	return rc;
}

static int key_cmp(const void *a, const void *b)
{
	const struct dkim_key *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	return c ? c : (x->uid < y->uid ? -1 : x->uid > y->uid);
}

/*
 * Build a keyring from conf: every key loaded and checked. Returns the keyring (owned by the
 * caller; dkim_keyring_free()) or NULL with a message naming the offending file in err.
 */
struct dkim_keyring *dkim_keyring_build(const struct dkim_keyring_conf *conf, char *err,
					size_t errlen)
{
	struct dkim_keyring *kr = calloc(1, sizeof(*kr));
	if (!kr)
		goto err;
	kr->keys = calloc(conf->n_keys ? conf->n_keys : 1, sizeof(*kr->keys));
	kr->files = calloc(conf->n_keys ? conf->n_keys : 1, sizeof(*kr->files));
	if (!kr->keys || !kr->files)
		goto err;
	if (conf->operator_domain &&
	    copy_lower(kr->operator_domain, sizeof(kr->operator_domain), conf->operator_domain)) {
		if (err)
			snprintf(err, errlen, "dkim operator domain \"%s\" is not valid",
				 conf->operator_domain);
		goto err_quiet;
	}
	for (size_t i = 0; i < conf->n_keys; i++) {
		struct dkim_key *k = &kr->keys[kr->n];
		kr->n++;	/* counted first: dkim_keyring_free() releases partial keys */
		if (load_key(k, &conf->keys[i], err, errlen) != 0)
			goto err_quiet;
		kr->files[i] = strdup(conf->keys[i].key_file);
		k->file = kr->files[i];
		for (size_t j = 0; j + 1 < kr->n; j++)
			if (!strcmp(kr->keys[j].domain, k->domain) &&
			    !strcmp(kr->keys[j].selector, k->selector)) {
				set_err(err, errlen, &conf->keys[i], "duplicate domain and selector");
				goto err_quiet;
			}
	}
	qsort(kr->keys, kr->n, sizeof(*kr->keys), key_cmp);
	return kr;
err:
	if (err && errlen)
		snprintf(err, errlen, "dkim keyring: out of memory");
err_quiet:
	dkim_keyring_free(kr);
	return NULL;
}

void dkim_keyring_free(struct dkim_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++) {
		if (kr->keys[i].pem) {
			OPENSSL_cleanse(kr->keys[i].pem, strlen(kr->keys[i].pem));
			free(kr->keys[i].pem);
		}
		free(kr->keys[i].pub_b64);
		free(kr->files[i]);
	}
	free(kr->keys);
	free(kr->files);
	free(kr);
}

size_t dkim_keyring_count(const struct dkim_keyring *kr) { return kr ? kr->n : 0; }

const struct dkim_key *dkim_keyring_key(const struct dkim_keyring *kr, size_t i)
{
	return kr && i < kr->n ? &kr->keys[i] : NULL;
}

/* Index of the first key of exactly this domain, or -1. */
static long find_domain(const struct dkim_keyring *kr, const char *dom)
{
	size_t lo = 0, hi = kr->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(kr->keys[mid].domain, dom) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < kr->n && !strcmp(kr->keys[lo].domain, dom) ? (long)lo : -1;
}

static size_t add_domain(const struct dkim_keyring *kr, long at, const struct dkim_key **out,
			 size_t n, size_t max)
{
	for (size_t i = (size_t)at; i < kr->n && n < max &&
	     !strcmp(kr->keys[i].domain, kr->keys[at].domain); i++)
		out[n++] = &kr->keys[i];
	return n;
}

/*
 * Select the keys to sign a message whose From domain is from_domain (lower case): all keys
 * of the most specific configured domain among from_domain and its parents, then the
 * operator domain's keys unless that is the same domain. Returns the number stored in
 * out[max]. The pointers are valid while kr is (one loop turn under RCU).
 */
size_t dkim_keyring_select(const struct dkim_keyring *kr, const char *from_domain,
			   const struct dkim_key **out, size_t max)
{
	size_t n = 0;
	const char *matched = NULL;
	if (!kr || kr->n == 0)
		return 0;
	for (const char *d = from_domain; d && *d; ) {
		long at = find_domain(kr, d);
		if (at >= 0) {
			n = add_domain(kr, at, out, n, max);
			matched = kr->keys[at].domain;
			break;
		}
		d = strchr(d, '.');
		if (d)
			d++;
	}
	if (kr->operator_domain[0] && (!matched || strcmp(matched, kr->operator_domain))) {
		long at = find_domain(kr, kr->operator_domain);
		if (at >= 0)
			n = add_domain(kr, at, out, n, max);
	}
	return n;
}

/* The key with this uid (whose domain is dom) if it is still in kr, else NULL. */
const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *kr, const char *dom,
					 uint64_t uid)
{
	long at = kr ? find_domain(kr, dom) : -1;
	for (size_t i = (size_t)at; at >= 0 && i < kr->n && !strcmp(kr->keys[i].domain, dom); i++)
		if (kr->keys[i].uid == uid)
			return &kr->keys[i];
	return NULL;
}

int dkim_keyring_has(const struct dkim_keyring *kr, const char *dom, uint64_t uid)
{
	return dkim_keyring_find(kr, dom, uid) != NULL;
}
