/* SPDX-License-Identifier: MIT */
/*
 * tls_ctx.c: builds the OpenSSL contexts of the control plane's snapshot. A server context
 * carries one or more identities (each with ECDSA and/or RSA chains, OpenSSL choosing per
 * handshake from the client's offer), SNI selection between them, TLS 1.2/1.3 with AEAD
 * ciphers only, no renegotiation, no compression, and stateless session tickets sealed with a
 * key ring (keys[0] seals, every key opens; a ticket opened with an older key is renewed).
 * A client context carries the trust store, DANE support and the client session callback.
 *
 * Contexts are immutable once returned. Their lifetime is the default SSL_CTX's reference
 * count: every SSL made from it holds a reference, so a snapshot can drop its context while
 * connections started under it finish with the old certificates and ticket keys.
 */
#include "tls/tls_int.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"

/* TLS 1.2: ECDHE with AEAD only, AES-GCM first (AES-NI), ChaCha20 for clients without it
 * (SSL_OP_PRIORITIZE_CHACHA honours a client that lists it first). */
#define TLS_DEFAULT_CIPHERS                                                                   \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                          \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_DEFAULT_GROUPS "X25519:P-256:P-384"

static int owner_idx = -1;        /* SSL_CTX ex_data owning the wrapper (free callback) */
static int view_idx = -1;         /* SSL_CTX ex_data pointing at the wrapper (no callback) */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

enum wrap_kind { WRAP_SERVER = 1, WRAP_CLIENT = 2 };

static void owner_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		       void *argp)
{
	if (!ptr)
		return;
	if (argl != 0)
		return;
	/* The wrapper kind is stored in the first byte of the allocation header below. */
	int kind = *(int *)ptr;
	void *w = (char *)ptr + sizeof(max_align_t);
	if (kind == WRAP_SERVER) {
		struct tls_server_ctx *sc = w;
		for (unsigned i = 0; i < sc->n_ids; i++) {
			for (unsigned j = 0; j < sc->n_leaf[i]; j++)
				X509_free(sc->leaf[i][j]);
			if (i > 0)
				SSL_CTX_free(sc->id_ctx[i]);
		}
		OPENSSL_cleanse(sc->keys, sizeof(sc->keys));
		EVP_CIPHER_free(sc->tick_cipher);
	}
	free(ptr);
}

static void idx_init(void)
{
	owner_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, owner_free);
	view_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 1, NULL, NULL, NULL, NULL);
}

/* Allocates a wrapper with a hidden kind header (freed by owner_free). */
static void *wrap_alloc(enum wrap_kind kind, size_t size)
{
	char *p = calloc(1, sizeof(max_align_t) + size);
	if (!p)
		return NULL;
	*(int *)p = kind;
	return p + sizeof(max_align_t);
}

static void *wrap_base(void *w)
{
	return (char *)w - sizeof(max_align_t);
}

static void set_err(char *err, size_t errlen, const char *what, const char *arg)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[160] = "";
	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	snprintf(err, errlen, "tls: %s%s%s%s%s", what, arg ? " " : "", arg ? arg : "",
		 e ? ": " : "", ebuf);
	ERR_clear_error();
}

void tls_ctx_cfg_defaults(struct tls_ctx_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ciphers = TLS_DEFAULT_CIPHERS;
	cfg->ciphersuites = TLS_DEFAULT_SUITES;
	cfg->groups = TLS_DEFAULT_GROUPS;
	cfg->min_version = TLS1_2_VERSION;
	cfg->max_version = 0;
	cfg->ticket_lifetime_s = 7200;
	cfg->tickets = true;
}

void tls_client_cfg_defaults(struct tls_client_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tls_ctx_cfg_defaults(&cfg->base);
	/* Outbound: be liberal enough to reach older MX hosts with TLS 1.2 CBC suites (better
	 * than cleartext, RFC 7435), still forward secret and authenticated encryption first. */
	cfg->base.ciphers = TLS_DEFAULT_CIPHERS ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
			    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
			    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";
	cfg->use_system_store = true;
}

/* Settings common to every context we build. */
static int ctx_common(SSL_CTX *ctx, const struct tls_ctx_cfg *cfg, char *err, size_t errlen)
{
	/* crypto/gcm takes over AES-GCM records after the handshake (tls_gcm.c); it needs the
	 * TLS 1.3 traffic secrets, which only the keylog callback exposes */
	if (gcm_ossl_init() < 0) {
		set_err(err, errlen, "gcm ex_data", NULL);
		return -1;
	}
	SSL_CTX_set_keylog_callback(ctx, gcm_ossl_keylog_cb);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	if (!SSL_CTX_set_min_proto_version(ctx, cfg->min_version ? cfg->min_version : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, cfg->max_version)) {
		set_err(err, errlen, "protocol versions", NULL);
		return -1;
	}
	if (cfg->ciphers && !SSL_CTX_set_cipher_list(ctx, cfg->ciphers)) {
		set_err(err, errlen, "cipher list", cfg->ciphers);
		return -1;
	}
	if (cfg->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites)) {
		set_err(err, errlen, "ciphersuites", cfg->ciphersuites);
		return -1;
	}
	if (cfg->groups && !SSL_CTX_set1_groups_list(ctx, cfg->groups)) {
		set_err(err, errlen, "groups", cfg->groups);
		return -1;
	}
	/* Records are pulled from the transport's buffer in one go rather than header, body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	return 0;
}

/* ---- server ------------------------------------------------------------------------------ */

struct tls_server_ctx *tls_server_ctx_of(SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), view_idx);
}

/* SNI: switch to the identity whose certificate names cover the requested name; an unknown
 * name keeps the default identity (an MTA must not refuse mail over a name mismatch). */
static int sni_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_server_ctx *sc = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name || sc->n_ids < 2)
		return SSL_TLSEXT_ERR_OK;
	for (unsigned i = 0; i < sc->n_ids; i++)
		for (unsigned j = 0; j < sc->n_leaf[i]; j++)
			if (X509_check_host(sc->leaf[i][j], name, 0, 0, NULL) == 1) {
				if (i > 0)
					SSL_set_SSL_CTX(ssl, sc->id_ctx[i]);
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK;
}

/* RFC 5077 ticket protection with the ring: seal with keys[0], open with any. */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server_ctx *sc = tls_server_ctx_of(ssl);
	const struct tls_ticket_key *k = NULL;
	unsigned i = 0;
	if (!sc || sc->n_keys == 0 || !sc->tick_cipher)
		return 0;
	if (enc) {
		k = &sc->keys[0];
		if (RAND_bytes(iv, 16) != 1)
			return -1;
		memcpy(key_name, k->name, 16);
	} else {
		for (i = 0; i < sc->n_keys; i++)
			if (memcmp(key_name, sc->keys[i].name, 16) == 0)
				break;
		if (i == sc->n_keys)
			return 0;          /* unknown or retired key: full handshake */
		k = &sc->keys[i];
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_MAC_init(hctx, k->hmac_key, sizeof(k->hmac_key), params))
		return -1;
	if (enc) {
		if (!EVP_EncryptInit_ex2(ectx, sc->tick_cipher, k->aes_key, iv, NULL))
			return -1;
		return 1;
	}
	if (!EVP_DecryptInit_ex2(ectx, sc->tick_cipher, k->aes_key, iv, NULL))
		return -1;
	/* 2 = renew: the ticket was sealed with an old key, or this is TLS 1.3, where OpenSSL's
	 * client uses a ticket once and the server must hand out a fresh one on resumption. */
	return i == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
}

int tls_ticket_key_generate(struct tls_ticket_key *key)
{
	if (RAND_bytes((unsigned char *)key, sizeof(*key)) != 1)
		return -EIO;
	return 0;
}

static int load_identity(struct tls_server_ctx *sc, unsigned i, SSL_CTX *ctx,
			 const struct tls_identity *id, char *err, size_t errlen)
{
	if (id->n_certs == 0 || id->n_certs > TLS_MAX_CERTS) {
		snprintf(err, errlen, "tls: identity %u: 1..%d certificates expected", i, TLS_MAX_CERTS);
		return -1;
	}
	for (unsigned j = 0; j < id->n_certs; j++) {
		const struct tls_certkey *ck = &id->certs[j];
		if (SSL_CTX_use_certificate_chain_file(ctx, ck->cert_file) != 1) {
			set_err(err, errlen, "certificate", ck->cert_file);
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, ck->key_file, SSL_FILETYPE_PEM) != 1) {
			set_err(err, errlen, "private key", ck->key_file);
			return -1;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			set_err(err, errlen, "key does not match certificate", ck->cert_file);
			return -1;
		}
		X509 *leaf = SSL_CTX_get0_certificate(ctx);
		if (leaf && X509_up_ref(leaf))
			sc->leaf[i][sc->n_leaf[i]++] = leaf;
	}
	return 0;
}

static SSL_CTX *server_ctx_build(struct tls_server_ctx *sc, unsigned i,
				 const struct tls_ctx_cfg *cfg, const struct tls_identity *id,
				 char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		set_err(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	if (ctx_common(ctx, cfg, err, errlen) < 0)
		goto err;
	/* client-initiated renegotiation is refused by OpenSSL 3 unless ALLOW_CLIENT_RENEGOTIATION;
	 * SSL_OP_NO_RENEGOTIATION (ctx_common) refuses it altogether */
	SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	/* Stateless resumption only: tickets, no server-side session cache to grow or share. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"dpmail", 6);
	SSL_CTX_set_timeout(ctx, cfg->ticket_lifetime_s);
	if (cfg->tickets && sc->n_keys > 0) {
		SSL_CTX_set_num_tickets(ctx, 1);   /* one connection per session for SMTP */
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (load_identity(sc, i, ctx, id, err, errlen) < 0)
		goto err;
	SSL_CTX_set_ex_data(ctx, view_idx, sc);
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server_ctx *tls_server_ctx_new(const struct tls_ctx_cfg *cfg,
					  const struct tls_identity *ids, unsigned n_ids,
					  const struct tls_ticket_key *keys, unsigned n_keys,
					  char *err, size_t errlen)
{
	struct tls_server_ctx *sc;
	pthread_once(&idx_once, idx_init);
	if (n_ids == 0 || n_ids > TLS_MAX_IDENTITIES || n_keys > TLS_MAX_TICKET_KEYS) {
		snprintf(err, errlen, "tls: 1..%d identities and 0..%d ticket keys expected",
			 TLS_MAX_IDENTITIES, TLS_MAX_TICKET_KEYS);
		return NULL;
	}
	sc = wrap_alloc(WRAP_SERVER, sizeof(*sc));
	if (!sc) {
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	if (n_keys)
		memcpy(sc->keys, keys, n_keys * sizeof(*keys));
	sc->n_keys = n_keys;
	sc->tick_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!sc->tick_cipher) {
		set_err(err, errlen, "AES-256-CBC for session tickets", NULL);
		free(wrap_base(sc));
		return NULL;
	}
	sc->ctx = server_ctx_build(sc, 0, cfg, &ids[0], err, errlen);
	if (!sc->ctx)
		goto err_sc;
	/* From here the default SSL_CTX owns sc: freeing it frees everything. */
	SSL_CTX_set_ex_data(sc->ctx, owner_idx, wrap_base(sc));
	sc->id_ctx[0] = sc->ctx;
	sc->n_ids = 1;
	for (unsigned i = 1; i < n_ids; i++) {
		sc->id_ctx[i] = server_ctx_build(sc, i, cfg, &ids[i], err, errlen);
		sc->n_ids = i + 1;     /* leaves of i are owned even when the build failed */
		if (!sc->id_ctx[i])
			goto err_ctx;
	}
	SSL_CTX_set_tlsext_servername_callback(sc->ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(sc->ctx, sc);
	return sc;
err_ctx:
	SSL_CTX_free(sc->ctx);            /* frees sc through owner_free */
	return NULL;
err_sc:
	for (unsigned j = 0; j < sc->n_leaf[0]; j++)
		X509_free(sc->leaf[0][j]);
	EVP_CIPHER_free(sc->tick_cipher);
	free(wrap_base(sc));
	return NULL;
}

struct tls_server_ctx *tls_server_ctx_ref(struct tls_server_ctx *sc)
{
	SSL_CTX_up_ref(sc->ctx);
	return sc;
}

void tls_server_ctx_free(struct tls_server_ctx *sc)
{
	if (sc)
		SSL_CTX_free(sc->ctx);
}

/* ---- client ------------------------------------------------------------------------------ */

/* The system trust store: the CA bundle loaded once into memory, plus the hashed directory
 * (SSL_CERT_FILE / SSL_CERT_DIR or OpenSSL's defaults). SSL_CTX_set_default_verify_paths() in
 * OpenSSL 3 adds a third lookup, an OSSL_STORE on the same directory, which on every issuer
 * not found in memory (a private or self-signed peer) reads the whole directory: a scan of some
 * hundred entries per outbound handshake. The hashed directory finds the same certificates by
 * subject hash. Falls back to the default paths if neither loads. */
static int load_system_store(SSL_CTX *ctx)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	const char *f = getenv(X509_get_default_cert_file_env());
	const char *d = getenv(X509_get_default_cert_dir_env());
	int ok = X509_STORE_load_file(st, f ? f : X509_get_default_cert_file()) == 1;
	ok |= X509_STORE_load_path(st, d ? d : X509_get_default_cert_dir()) == 1;
	ERR_clear_error();
	return ok ? 1 : SSL_CTX_set_default_verify_paths(ctx);
}

struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_cfg *cfg, char *err,
					  size_t errlen)
{
	struct tls_client_ctx *cc;
	SSL_CTX *ctx;
	pthread_once(&idx_once, idx_init);
	cc = wrap_alloc(WRAP_CLIENT, sizeof(*cc));
	if (!cc) {
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		set_err(err, errlen, "SSL_CTX_new", NULL);
		free(wrap_base(cc));
		return NULL;
	}
	cc->ctx = ctx;
	SSL_CTX_set_ex_data(ctx, owner_idx, wrap_base(cc));
	SSL_CTX_set_ex_data(ctx, view_idx, cc);
	if (ctx_common(ctx, &cfg->base, err, errlen) < 0)
		goto err;
	if (cfg->ca_file || cfg->ca_path) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, cfg->ca_path) != 1) {
			set_err(err, errlen, "trust store", cfg->ca_file ? cfg->ca_file : cfg->ca_path);
			goto err;
		}
	}
	if (cfg->use_system_store && load_system_store(ctx) != 1) {
		set_err(err, errlen, "system trust store", NULL);
		goto err;
	}
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		set_err(err, errlen, "DANE", NULL);
		goto err;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_conn_new_session_cb);
	return cc;
err:
	SSL_CTX_free(ctx);                /* frees cc */
	return NULL;
}

struct tls_client_ctx *tls_client_ctx_ref(struct tls_client_ctx *cc)
{
	SSL_CTX_up_ref(cc->ctx);
	return cc;
}

void tls_client_ctx_free(struct tls_client_ctx *cc)
{
	if (cc)
		SSL_CTX_free(cc->ctx);
}
