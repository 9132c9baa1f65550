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
/* The coalescing buffer is record-shaped: plaintext at TLS_OBUF_HEAD (16-byte aligned, room
 * for the record header in front), so crypto/gcm seals it where it lies (header in front, tag
 * behind: gcm_link_seal_inplace) instead of copying it into a record first. TLS_OBUF_SIZE
 * holds a full record's plaintext plus the 1.3 inner type, padding and tag (static asserts in
 * tls_gcm.c tie these to crypto/gcm's limits). */
#define TLS_OBUF_HEAD 16
#define TLS_OBUF_SIZE (TLS_OBUF_HEAD + TLS_RECORD_MAX + 1 + 16)

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
	uint64_t now;                     /* time of the last tls_core_poll */
	struct tls_sess_ent *sess;        /* cfg.session_cache_slots entries */
	struct gcm_lcore *gcm;            /* batched AES-GCM records (cfg.gcm_records), or NULL */
};

/* One TLS connection (tls_conn.c); the upper layer sees only its conn member. */
enum tls_state {
	TLS_ST_HANDSHAKE = 0,
	TLS_ST_OPEN,                  /* handshake done; data flows */
	TLS_ST_CLOSING,               /* close_notify queued; waiting for the lower conn to close */
	TLS_ST_DEAD,                  /* lower conn gone, upper told; freed at depth 0 */
};

struct tls_conn {
	struct conn conn;             /* what the upper layer sees; first member */
	struct tls_core *core;
	struct conn *lower;           /* NULL once the lower conn reported on_closed */
	SSL *ssl;
	enum tls_role role;
	enum tls_state state;
	unsigned depth;
	uint64_t deadline;
	struct tls_result res;
	void (*on_result)(void *ctx, const struct tls_result *r);
	enum conn_close_reason why;   /* reported up when the lower conn closes */
	bool why_set;

	/* input: the lower conn's span during on_data */
	const uint8_t *in;
	size_t in_len, in_off;
	uint8_t *pend;                /* plaintext the upper layer has not consumed yet */
	size_t pend_off, pend_len;
	bool upper_paused;            /* upper returned short; wait for conn_resume_read */
	bool lower_paused;            /* we returned short to lower; it waits for our resume */
	bool eof_seen;                /* close_notify or lower EOF */
	bool eof_told;                /* upper's on_eof called */
	bool close_notify_in;

	/* output */
	uint8_t *obuf;                /* plaintext being coalesced into one record, at TLS_OBUF_HEAD */
	size_t olen;
	uint8_t *cbuf;                /* ciphertext the lower conn did not take yet */
	size_t coff, clen, ccap;
	bool want_sendable;
	bool shut_wr;                 /* conn_shutdown: close_notify sent, no more sends */
	bool lower_close_pending;     /* close lower once cbuf drained */
	bool lower_shut_pending;      /* shutdown lower once cbuf drained */
	bool lower_closing;

	/* client */
	struct tls_policy_eval ev;
	SSL_SESSION *new_sess;        /* ticket received before the policy verdict */
	bool sess_verified;           /* verdict of the cached session offered for resumption */
	bool sess_dane;
	char skey[160];

	/* batched records (tls_gcm.c): set once taken over; records counted per handshake call */
	struct gcm_link *gcm;
	uint8_t *gcm_rbuf;            /* a record split across input spans (GCM_TLS_MAX_RECORD) */
	size_t gcm_rlen;
	unsigned gcm_hs_records;
	uint8_t gcm_hdr[5], gcm_hdr_fill;
	size_t gcm_body_left;
	bool gcm_kick;                /* across-sessions mode: a record completed (tls_gcm_kicked) */
	BIO *gcm_bio;                 /* our conn BIO (a reference): records leave through it */
	uint64_t gcm_feed_seq;        /* 1.3 client: records re-sealed for OpenSSL (tickets) */
	bool gcm_feed_off;            /* OpenSSL refused one: keep no more tickets */

	bool on_run;
	TAILQ_ENTRY(tls_conn) hs_link;
	TAILQ_ENTRY(tls_conn) run_link;
	bool on_hs;
};

/* tls_core.c: per-core lists (a conn is on each at most once) */
void tls_run_add(struct tls_conn *tc);
void tls_run_del(struct tls_conn *tc);
void tls_hs_add(struct tls_conn *tc);
void tls_hs_del(struct tls_conn *tc);

/* tls_conn.c: work called from tls_core_poll */
void tls_conn_run(struct tls_conn *tc);
void tls_conn_expire(struct tls_conn *tc);
int tls_conn_new_session_cb(SSL *ssl, SSL_SESSION *sess);

/* tls_conn.c: hands plaintext up (false: the upper layer paused or the conn closed) */
bool tls_conn_deliver(struct tls_conn *tc, const uint8_t *p, size_t n);

/* tls_gcm.c: the batched AES-GCM record path (crypto/gcm) of established sessions */
struct gcm_lcore;
struct gcm_link;
void tls_gcm_hs_call(struct tls_conn *tc);
void tls_gcm_count_out(struct tls_conn *tc, const uint8_t *p, size_t n);
void tls_gcm_takeover(struct tls_conn *tc);
void tls_gcm_free(struct tls_conn *tc);
/* Opens the complete records of tc->in; 0, or -1 when the session failed (alert sent). */
int tls_gcm_read(struct tls_conn *tc);
/* Seals n bytes as records into the BIO; 0 or -1. */
int tls_gcm_seal(struct tls_conn *tc, const void *p, size_t n);
/* Seals the n (<= TLS_RECORD_MAX) plaintext octets staged at tc->obuf + TLS_OBUF_HEAD (they
 * are clobbered); in place on the per-session path. 0 or -1. */
int tls_gcm_seal_obuf(struct tls_conn *tc, size_t n);
void tls_gcm_close_notify(struct tls_conn *tc);
/* Across-sessions mode (tls_core_cfg.gcm_batch_sessions); neutral on the per-call path. */
bool tls_gcm_in_pending(const struct tls_conn *tc);  /* records not handed up yet */
size_t tls_gcm_out_bytes(const struct tls_conn *tc); /* sealed bytes not emitted yet */
void tls_gcm_flush(struct tls_conn *tc);             /* runs the core's queued burst now */
/* 1 when a record of tc completed since the last call (flush the lower conn), -1 when the
 * link failed (emit refused), 0 otherwise. */
int tls_gcm_kicked(struct tls_conn *tc);
/* tls_core_poll: runs the burst of the turn; returns ops completed. */
unsigned tls_gcm_core_flush(struct tls_core *core);

/* tls_bio.c: the BIO between OpenSSL and the lower conn (process-wide, made once) */
int tls_bio_init(void);
BIO_METHOD *tls_bio_method(void);
int tls_bio_ssl_idx(void);

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
