/* SPDX-License-Identifier: MIT */
/*
 * tls_int.h: private to crypto/tls: the context wrappers, the per-core state, the session cache
 * and the accounting helpers shared by the module's files. Nothing outside crypto/tls includes
 * this header.
 */
#ifndef DPMAIL_TLS_INT_H
#define DPMAIL_TLS_INT_H

#include <openssl/ssl.h>
#include <sys/queue.h>

#include "tls/tls.h"

#define TLS_RECORD_MAX 16384      /* plaintext bytes per TLS record */

/* Server context: lifetime tied to the default SSL_CTX's refcount (ex_data free callback). */
struct tls_server_ctx {
	SSL_CTX *ctx;                                   /* identity 0, session context */
	SSL_CTX *id_ctx[TLS_MAX_IDENTITIES];            /* [0] == ctx (no extra reference) */
	X509 *leaf[TLS_MAX_IDENTITIES][TLS_MAX_CERTS];  /* for SNI matching */
	unsigned n_leaf[TLS_MAX_IDENTITIES];
	unsigned n_ids;
	struct tls_ticket_key keys[TLS_MAX_TICKET_KEYS];
	unsigned n_keys;
	EVP_CIPHER *tick_cipher;          /* AES-256-CBC fetched once: no per-ticket provider lookup */
};

struct tls_client_ctx {
	SSL_CTX *ctx;
};

/* Client session cache entry: one destination+policy, direct-mapped by hash. */
struct tls_sess_ent {
	uint64_t hash;
	SSL_SESSION *sess;
	bool verified;
	bool dane;
	char key[160];
};

struct tls_conn;
TAILQ_HEAD(tls_conn_list, tls_conn);

struct tls_core {
	struct tls_core_cfg cfg;
	struct tls_stats stats;
	struct tls_conn_list hs;          /* handshaking conns, by deadline (earliest first) */
	struct tls_conn_list run;         /* conns with work for tls_core_poll */
	unsigned n_run;
	struct tls_sess_ent *sess;        /* cfg.session_cache_slots entries */
};

/* tls_ctx.c */
struct tls_server_ctx *tls_server_ctx_of(SSL *ssl);

/* tls_sess.c: per-core client session cache */
int tls_sess_init(struct tls_core *core);
void tls_sess_fini(struct tls_core *core);
/* Builds the cache key of a connection: destination, policy mode and TLSA data. */
void tls_sess_key(char *buf, size_t len, const char *dest, const struct tls_policy *p);
/* Returns a borrowed session for key (NULL on miss) and the entry's verified/dane flags. */
SSL_SESSION *tls_sess_get(struct tls_core *core, const char *key, bool *verified, bool *dane);
/* Stores sess (takes the caller's reference). */
void tls_sess_put(struct tls_core *core, const char *key, SSL_SESSION *sess, bool verified,
		  bool dane);

/* tls_policy.c: applies ev to a client SSL; returns the number of usable TLSA records or
 * -1 on failure (DANE mode only counts). */
int tls_policy_apply(SSL *ssl, const struct tls_policy *p, struct tls_policy_eval *ev,
		     const char *host);

/* tls_stats.c */
void tls_stats_handshake(struct tls_stats *s, enum tls_role role, const SSL *ssl, bool resumed);
enum tls_fail tls_fail_classify(unsigned long err, bool dane, const char **reason);

#endif
