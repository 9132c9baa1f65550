/* SPDX-License-Identifier: MIT */
/*
 * dkim-t.h: types of the DKIM signing module (crypto/dkim). The module signs relayed
 * messages with libopendkim: one DKIM_LIB per lcore (struct dkim_signer_ctx), one signing
 * handle per signature per message (struct dkim_msg), keys selected by the From domain from an
 * immutable keyring (struct dkim_keyring, held in the control plane's RCU snapshot), and the
 * expensive end-of-message step batched after the I/O of a loop turn (struct dkim_batch).
 * See docs/dkim.md for the design and the measurements.
 */
#ifndef DPMAIL_DKIM_T_H
#define DPMAIL_DKIM_T_H

#include <stddef.h>
#include <stdint.h>

/* Most signatures one message gets: the From domain's keys (e.g. rsa + ed25519) plus the
 * operator's keys. */
#define DKIM_MAX_SIGS 4
/* Longest domain name we select keys for (RFC 1035: 253 characters + NUL). */
#define DKIM_DOMAIN_MAX 256
/* Longest selector (a DNS label sequence; generous). */
#define DKIM_SELECTOR_MAX 64

enum dkim_alg {
	DKIM_ALG_RSA_SHA256 = 0,	/* rsa-sha256 (RFC 6376) */
	DKIM_ALG_ED25519_SHA256,	/* ed25519-sha256 (RFC 8463) */
	DKIM_ALG__MAX
};

enum dkim_canon {
	DKIM_CANON_SIMPLE_ = 0,		/* "simple" (trailing underscore: libopendkim owns the name) */
	DKIM_CANON_RELAXED_,		/* "relaxed" */
};

/*
 * Outcome of signing one message. Everything but DKIM_RES_SIGNED leaves the message unsigned;
 * the caller decides by policy what to do (see docs/dkim.md, "Results and policy").
 */
enum dkim_result {
	DKIM_RES_SIGNED = 0,	/* at least one DKIM-Signature produced */
	DKIM_RES_NO_KEY,	/* no key for the From domain nor an operator key: pass unsigned */
	DKIM_RES_NO_FROM,	/* zero From fields: reject (550 5.7.x) or pass+log, by policy */
	DKIM_RES_MULTI_FROM,	/* several From fields, or mailboxes of several domains: same */
	DKIM_RES_BAD_FROM,	/* From present but no address could be parsed from it: same */
	DKIM_RES_BAD_HEADER,	/* a header line without a colon, or headers over the limit */
	DKIM_RES_KEY_REMOVED,	/* every key it was being signed with left the keyring before the
				 * signature was made: tempfail (451) so the retry is signed anew */
	DKIM_RES_ERROR,		/* libopendkim/OpenSSL failure (counted, logged by the caller) */
	DKIM_RES__MAX
};

/* What the SMTP session does with a message at the end of data, given its dkim_result and
 * the operator's policy (dkim_result_action()). */
enum dkim_action {
	DKIM_ACT_SPOOL = 0,	/* spool it (signed, or unsigned because no key applies) */
	DKIM_ACT_SPOOL_LOG,	/* spool it unsigned and log why (policy allows) */
	DKIM_ACT_REJECT,	/* 5xx: the message cannot be signed as it is */
	DKIM_ACT_TEMPFAIL,	/* 4xx: try again (keys changed mid-message, internal error) */
};

/* The operator's choices for messages that cannot be signed. */
struct dkim_policy {
	int reject_unsignable;	/* no/several From, bad From or headers: 550 instead of pass+log */
	int tempfail_on_error;	/* key removed mid-message or libopendkim error: 451 instead of
				 * pass+log */
};

/* Tunables of one signer context (per lcore). Filled by dkim_params_defaults(); control/config
 * maps YAML keys onto them. */
struct dkim_params {
	enum dkim_canon hdr_canon;	/* default relaxed */
	enum dkim_canon body_canon;	/* default relaxed */
	uint32_t expire_s;		/* x= is t= + this; 0 = no x= (default 0) */
	uint32_t header_max;		/* header section buffered before key selection (64 KiB) */
	uint32_t batch_max;		/* messages finished per dkim_batch_run() call
					 * (DKIM_BATCH_CAP: the cost bound below decides) */
	uint32_t batch_cost_max;	/* signing work per dkim_batch_run() call, in DKIM_COST_*
					 * units (64: eight RSA-2048 or 64 ed25519 signatures,
					 * ~2 ms); a message costing more is still signed alone */
	uint32_t key_cache_max;		/* parsed private keys cached per lcore (64) */
	uint32_t arena_chunks_max;	/* arena chunks kept for reuse per lcore (64) */
};

/* One configured key, as the control plane's config gives it. Strings are borrowed for the
 * duration of dkim_keyring_build(). */
struct dkim_key_conf {
	const char *domain;	/* signing domain (d=), e.g. "example.com" */
	const char *selector;	/* s= */
	enum dkim_alg alg;
	const char *key_file;	/* PEM private key (PKCS#8 or PKCS#1); for ed25519 also a
				 * dkimpy/RFC 8463-style file holding the base64 32-byte seed */
	const char *public_txt;	/* optional: the published TXT record or just its p= value;
				 * when given the private key must match it */
};

struct dkim_keyring_conf {
	const struct dkim_key_conf *keys;
	size_t n_keys;
	/* Optional: the operator's own domain. Every message is also signed with this domain's
	 * keys (a second signature), unless the From domain already selected them. */
	const char *operator_domain;
};

/* One loaded, checked key. Immutable once the keyring is built. */
struct dkim_key {
	uint64_t uid;			/* unique in the process: identifies the key across keyrings */
	enum dkim_alg alg;
	unsigned bits;			/* RSA modulus size; 256 for ed25519 */
	char domain[DKIM_DOMAIN_MAX];	/* lower case */
	char selector[DKIM_SELECTOR_MAX];
	char *pem;			/* NUL-terminated PEM (PKCS#8) handed to libopendkim */
	char *pub_b64;			/* the p= value that matches this key */
	const char *file;		/* for messages; points into names[] storage */
};

/* struct dkim_keyring, struct dkim_signer_ctx and struct dkim_msg are opaque (dkim_*.c). */
struct dkim_keyring;
struct dkim_signer_ctx;
struct dkim_msg;

/* One header field found by the scanner: pointers into the caller's buffer (zero copy). */
struct dkim_hdr_field {
	const uint8_t *raw;	/* the whole field, folding included, final CRLF excluded */
	size_t raw_len;
	const uint8_t *name;	/* field name, trailing WSP (obsolete syntax) trimmed */
	size_t name_len;
	const uint8_t *value;	/* after the colon, folding included, final CRLF excluded */
	size_t value_len;
};

/* Outcome of parsing a From field body for its domain. */
enum dkim_from_status {
	DKIM_FROM_OK = 0,	/* one domain (several mailboxes of that one domain are fine) */
	DKIM_FROM_NONE,		/* no mailbox at all (empty, or an empty group) */
	DKIM_FROM_MULTI,	/* mailboxes of different domains */
	DKIM_FROM_BAD,		/* unparsable: unbalanced quotes/comments/brackets, no @ ... */
};

/* Called by dkim_batch_run() once per message, after its signature(s) are made. The message
 * stays owned by the caller (dkim_msg_free() it after copying the signature text). */
typedef void (*dkim_done_fn)(void *arg, struct dkim_msg *m, enum dkim_result res);

#define DKIM_BATCH_CAP 64

/* The batch bound counts signing work, not messages: one unit is about one ed25519
 * signature (~0.04 ms here); an RSA signature costs DKIM_COST_RSA2048 * (bits / 2048)^3
 * (a private-key operation is about cubic in the modulus size: 1024 bits 1 unit, 2048 8,
 * 3072 27, 4096 64), measured 0.245 ms RSA-2048 vs 0.037 ms ed25519 with `openssl speed`. A
 * count of signatures would stall the lcore for 8 RSA signatures (2 ms) or leave 8 ed25519
 * ones (0.3 ms) per turn and push the rest of a wave of messages into the next turn and its
 * own group commit. */
#define DKIM_COST_ED25519 1u
#define DKIM_COST_RSA2048 8u

/* Messages that finished DATA during one loop turn, signed together after the turn's I/O. */
struct dkim_batch {
	struct dkim_batch_ent {
		struct dkim_msg *m;
		dkim_done_fn done;
		void *arg;
		uint64_t queued_us;
	} ent[DKIM_BATCH_CAP];
	unsigned head;		/* FIFO ring over ent[] */
	unsigned n;
	/* statistics */
	uint64_t runs;
	uint64_t signed_msgs;
	uint64_t max_wait_us;	/* longest time a message waited in the batch */
	uint64_t max_run_msgs;	/* most messages signed in one run */
	uint64_t max_run_cost;	/* most signing work (DKIM_COST_* units) in one run */
};

/* Counters of one signer context (per lcore; read by the control plane for metrics). */
struct dkim_stats {
	uint64_t msgs;			/* dkim_msg_new() calls */
	uint64_t res[DKIM_RES__MAX];	/* outcomes */
	uint64_t sigs;			/* signatures produced */
	uint64_t sigs_dropped_removed;	/* signatures dropped: key left the keyring mid-message */
	uint64_t key_cache_hits;	/* private key served parsed from the per-lcore cache */
	uint64_t key_cache_misses;	/* ... parsed (slow: ~0.4 ms with OpenSSL 3.0 decoders) */
	uint64_t sign_tmpl_hits;	/* ed25519 signatures whose EVP context was a copy of the
					 * key's template (no per-message algorithm fetch) */
	uint64_t lib_errors;		/* libopendkim returned an error */
	uint64_t arena_peak;		/* largest arena of one message (bytes) */
};

#endif
