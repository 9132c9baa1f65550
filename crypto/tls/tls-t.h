/* SPDX-License-Identifier: MIT */
/*
 * tls-t.h: types of crypto/tls, the TLS layer between the conn API and the SMTP engines
 * (see tls.h for the functions and docs/tls.md for the design). Contexts (struct tls_server_ctx,
 * struct tls_client_ctx) are built by the control plane and are immutable afterwards; per-core
 * state (struct tls_core: counters, client session cache, the run list) belongs to one lcore.
 */
#ifndef DPMAIL_TLS_T_H
#define DPMAIL_TLS_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_CERTS      4      /* certificate/key pairs per identity (ECDSA, RSA, ...) */
#define TLS_MAX_IDENTITIES 16     /* SNI identities per server context */
#define TLS_MAX_TICKET_KEYS 4     /* ring: [0] encrypts, all decrypt */
#define TLS_MAX_TLSA       8      /* TLSA records per connection */
#define TLS_MAX_STS_MX     8      /* MTA-STS mx patterns */
#define TLS_NAME_MAX       256

struct tls_server_ctx;
struct tls_client_ctx;
struct tls_core;

/* Tunables shared by server and client contexts. NULL strings take the built-in defaults. */
struct tls_ctx_cfg {
	const char *ciphers;          /* TLS 1.2 cipher list (OpenSSL syntax) */
	const char *ciphersuites;     /* TLS 1.3 suites */
	const char *groups;           /* key exchange groups */
	int min_version;              /* TLS1_2_VERSION */
	int max_version;              /* 0 = highest supported */
	uint32_t ticket_lifetime_s;   /* server: session ticket lifetime hint */
	bool tickets;                 /* server: issue stateless session tickets */
};

/* One certificate chain (PEM, leaf first) and its private key (PEM). */
struct tls_certkey {
	const char *cert_file;
	const char *key_file;
};

/* One server identity: up to TLS_MAX_CERTS chains of different key types (ECDSA and RSA
 * together: OpenSSL picks per handshake from the client's signature algorithms/ciphers). The
 * first identity is the default; the others are chosen by SNI against their certificate names. */
struct tls_identity {
	struct tls_certkey certs[TLS_MAX_CERTS];
	unsigned n_certs;
};

/* A session ticket key (RFC 5077 layout: name, AES-256-CBC key, HMAC-SHA256 key). */
struct tls_ticket_key {
	uint8_t name[16];
	uint8_t aes_key[32];
	uint8_t hmac_key[32];
};

/* Client context: trust anchors. ca_file/ca_path NULL and use_system_store: OpenSSL's
 * default store (Debian: /etc/ssl/certs). */
struct tls_client_cfg {
	struct tls_ctx_cfg base;
	const char *ca_file;
	const char *ca_path;
	bool use_system_store;
};

/* Outbound policy for one destination, decided by delivery from config, DNS and MTA-STS. */
enum tls_policy_mode {
	TLS_POLICY_NONE = 0,          /* never STARTTLS */
	TLS_POLICY_OPPORTUNISTIC,     /* encrypt if offered; no verification (default) */
	TLS_POLICY_VERIFY,            /* TLS required; chain + host name verified, else defer */
	TLS_POLICY_DANE,              /* TLS required; authenticated by TLSA records (RFC 7672) */
	TLS_POLICY_MTA_STS,           /* RFC 8461: MX must match, WebPKI verification */
	TLS_POLICY__MAX
};

enum tls_sts_mode { TLS_STS_NONE = 0, TLS_STS_TESTING, TLS_STS_ENFORCE };

/* One TLSA record (RFC 6698) as delivered by the resolver. data points to the caller's
 * memory and must stay valid until tls_conn_client_new() returns (it is copied into the SSL). */
struct tls_tlsa {
	uint8_t usage;                /* 2 = DANE-TA, 3 = DANE-EE (0/1 are unusable for SMTP) */
	uint8_t selector;             /* 0 = full cert, 1 = SPKI */
	uint8_t mtype;                /* 0 = full, 1 = SHA-256, 2 = SHA-512 */
	const uint8_t *data;
	size_t len;
};

struct tls_policy {
	enum tls_policy_mode mode;
	/* TLS_POLICY_DANE */
	const struct tls_tlsa *tlsa;
	unsigned n_tlsa;
	/* TLS_POLICY_MTA_STS: the policy's mode and "mx:" patterns ("mx.example.com",
	 * "*.example.net") */
	enum tls_sts_mode sts_mode;
	const char *sts_mx[TLS_MAX_STS_MX];
	unsigned n_sts_mx;
	/* The message carries REQUIRETLS (RFC 8689): TLS with a verified peer (PKIX or DANE)
	 * whatever the mode says; never in clear. */
	bool requiretls;
	/* TLS_POLICY_VERIFY / MTA_STS: extra acceptable names (besides the MX host name) */
	const char *match_names[4];
	unsigned n_match_names;
};

/* What the policy asks of one connection after tls_policy_eval(). */
struct tls_policy_eval {
	enum tls_policy_mode mode;
	bool starttls;                /* try STARTTLS when offered */
	bool require_tls;             /* no STARTTLS / handshake failure -> defer */
	bool require_auth;            /* an unauthenticated peer -> defer */
	bool dane;                    /* authenticate with TLSA records */
	bool report_only;             /* MTA-STS testing: failures are reported, not enforced */
	const char *reason;           /* set when the policy refuses this MX before connecting */
};

/* Why a handshake (or a session) failed; counted per core. */
enum tls_fail {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_GARBAGE,             /* bytes that are not TLS (plaintext, HTTP, noise) */
	TLS_FAIL_VERSION,             /* no protocol version in common */
	TLS_FAIL_NO_SHARED_CIPHER,    /* no cipher / group / sigalg in common */
	TLS_FAIL_ALERT,               /* the peer sent a fatal alert */
	TLS_FAIL_ABORTED,             /* the transport closed during the handshake */
	TLS_FAIL_TIMEOUT,             /* the handshake deadline passed */
	TLS_FAIL_VERIFY,              /* certificate chain or name verification failed */
	TLS_FAIL_DANE,                /* no TLSA record matched */
	TLS_FAIL_PROTOCOL,            /* any other TLS protocol error */
	TLS_FAIL_NOMEM,               /* allocation failed */
	TLS_FAIL_CLOSED,              /* closed by the upper layer before the handshake ended */
	TLS_FAIL__MAX
};

enum tls_role { TLS_ROLE_SERVER = 0, TLS_ROLE_CLIENT, TLS_ROLE__MAX };

/* The outcome of a handshake, for the session and the accounting record. Strings are static
 * (OpenSSL's names) and valid for the life of the process. */
struct tls_result {
	bool ok;                      /* handshake completed and the policy is satisfied */
	bool resumed;
	bool verified;                /* peer authenticated (chain+name, or DANE) */
	bool dane;                    /* verified through a TLSA record */
	enum tls_fail fail;           /* TLS_FAIL_NONE when ok */
	const char *version;          /* "TLSv1.3", "TLSv1.2" or "" */
	const char *cipher;           /* OpenSSL cipher name or "" */
	const char *reason;           /* human-readable failure reason or "" */
	long verify_error;            /* X509_V_* of the peer chain (client side) */
	char peer_cn[64];             /* client: subject CN of the peer certificate */
	char sni[TLS_NAME_MAX];       /* server: name the client asked for */
};

/* Per-connection options of tls_conn_*_new(). */
struct tls_conn_opts {
	uint64_t now;                 /* current time, us (monotonic), from the lcore loop */
	uint64_t handshake_timeout;   /* us; 0 = no deadline */
	/* Optional: called exactly once when the handshake succeeded (before on_connected) or
	 * failed (before on_closed); r is valid during the call only. */
	void (*on_result)(void *ctx, const struct tls_result *r);
	/* Client only: SNI and the name verified (the MX host), and the session cache key (the
	 * destination, e.g. "mx1.example.net:25"; NULL = host; "" = no session reuse). */
	const char *host;
	const char *session_key;
	const struct tls_policy *policy;
};

/* Version/cipher buckets counted per core. */
enum tls_ver_idx { TLS_VER_12 = 0, TLS_VER_13, TLS_VER_OTHER, TLS_VER__MAX };
enum tls_cipher_idx {
	TLS_CIPH_AES128_GCM = 0, TLS_CIPH_AES256_GCM, TLS_CIPH_CHACHA20, TLS_CIPH_OTHER,
	TLS_CIPH__MAX
};

/* Per-core counters, one set per role. Plain integers: one lcore writes, the control plane
 * reads a possibly torn-free (naturally aligned 64-bit) snapshot. */
struct tls_role_stats {
	uint64_t handshakes_full;
	uint64_t handshakes_resumed;
	uint64_t fail[TLS_FAIL__MAX];
	uint64_t version[TLS_VER__MAX];
	uint64_t cipher[TLS_CIPH__MAX];
	uint64_t verified;            /* client: peers authenticated */
	uint64_t unverified;          /* client: encrypted but not authenticated */
	uint64_t bytes_in;            /* plaintext delivered up */
	uint64_t bytes_out;           /* plaintext accepted from above */
	uint64_t records_out;         /* application records written */
	uint64_t alerts_after_hs;     /* fatal alert or protocol error after the handshake */
	uint64_t truncated;           /* EOF without close_notify after the handshake */
	uint64_t close_notify_in;
	uint64_t gcm_sessions;        /* records taken over by crypto/gcm after the handshake */
	uint64_t active;              /* tls conns alive now (gauge) */
};

struct tls_stats {
	struct tls_role_stats role[TLS_ROLE__MAX];
	uint64_t sess_cache_hits;
	uint64_t sess_cache_misses;
	uint64_t sess_cache_stores;
};

/* Tunables of one lcore's TLS state. */
struct tls_core_cfg {
	unsigned session_cache_slots; /* client session cache size, power of two */
	size_t send_limit;            /* bytes buffered per conn (plaintext + ciphertext) */
	uint64_t close_timeout;       /* us: a graceful close still waiting for the transport to
				       * take queued ciphertext is turned into an abort after this */
	bool gcm_records;             /* AES-GCM records of established sessions sealed/opened
				       * by crypto/gcm instead of OpenSSL (tls_gcm.c) */
	bool gcm_batch_sessions;      /* with gcm_records: the records of every session of the
				       * core go into one engine burst per loop turn (copied,
				       * completed from tls_core_poll) instead of one per call */
};

#endif
