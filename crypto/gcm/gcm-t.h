/* SPDX-License-Identifier: MIT */
/*
 * gcm-t.h: types of the batched AES-GCM engine and of the TLS record layer built on it. The
 * engine (struct gcm_engine, one per lcore) collects AES-GCM operations from any user (TLS
 * records of every session of the core, spool encryption at rest) into buf[GCM_BURST_MAX] and
 * runs them through intel-ipsec-mb's burst API when the burst is full or when a deadline of a
 * few microseconds passes. The TLS record layer (struct gcm_sess) keeps per-direction keys,
 * IVs and sequence numbers of one established TLS 1.2 or 1.3 AES-GCM session.
 */
#ifndef DPMAIL_GCM_T_H
#define DPMAIL_GCM_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the library's pre-0.53 compatibility names (SHA1, AES_128_BYTES...) clash with OpenSSL */
#ifndef NO_COMPAT_IMB_API_053
#define NO_COMPAT_IMB_API_053
#endif
#include <intel-ipsec-mb.h>

#define GCM_BURST_MAX 64
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define GCM_MAX_SECRET 48 /* SHA-384 */

/* TLS record limits (RFC 8446 §5.1/§5.2, RFC 5246 §6.2). */
#define GCM_TLS_HDR 5
#define GCM_TLS_MAX_PLAIN 16384
#define GCM_TLS13_MAX_CIPHER (GCM_TLS_MAX_PLAIN + 256)
#define GCM_TLS12_MAX_CIPHER (GCM_TLS_MAX_PLAIN + 2048)
#define GCM_TLS12_EXPLICIT 8
/* Largest record this layer writes or accepts, header included. */
#define GCM_TLS_MAX_RECORD (GCM_TLS_HDR + GCM_TLS12_MAX_CIPHER)
/* A caller staging plaintext for gcm_link_seal_inplace: room in front of the plaintext for
 * the record header (and TLS 1.2's explicit nonce), and the octets the buffer must hold from
 * the plaintext's start on (1.3 inner type and padding, the tag). */
#define GCM_LINK_HEADROOM (GCM_TLS_HDR + GCM_TLS12_EXPLICIT)
#define GCM_LINK_INPLACE_CAP (GCM_TLS_MAX_PLAIN + 1 + GCM_TAG_LEN)

/* An expanded AES-GCM key (round keys + GHASH tables); 64-byte aligned for the library. */
struct gcm_key {
	struct gcm_key_data kd;
	uint32_t key_len; /* 16 or 32 */
} __attribute__((aligned(64)));

enum gcm_dir { GCM_ENCRYPT, GCM_DECRYPT };

struct gcm_op;
/* Completion: called once per op, in submission order, after its burst ran. May enqueue. */
typedef void (*gcm_done_fn)(struct gcm_op *op, void *arg);

/*
 * One AES-GCM operation. Owned by the submitter, which keeps it (and the buffers and key it
 * points to) alive until done() was called. Encrypt writes the tag to tag; decrypt writes the
 * computed tag to tag and the caller compares it (gcm_tag_equal): the engine does not know
 * where a protocol keeps the received tag.
 */
struct gcm_op {
	const struct gcm_key *key;
	enum gcm_dir dir;
	uint8_t iv[GCM_IV_LEN];
	uint8_t tag[GCM_TAG_LEN];
	uint8_t aad[16];      /* copied AAD (TLS needs at most 13 bytes) */
	uint32_t aad_len;
	const uint8_t *src;
	uint8_t *dst;         /* may equal src (in place) */
	uint32_t len;
	uint32_t gen;         /* key generation the op was prepared with (record layer) */
	int status;           /* 0, or -EIO when the library rejected the job */
	gcm_done_fn done;
	void *arg;
};

/* Tunables (control/config maps keys onto them). */
struct gcm_engine_cfg {
	unsigned burst;    /* ops per burst, 1..GCM_BURST_MAX (default 32) */
	uint64_t flush_us; /* max wait of a queued op before the burst is flushed (default 4) */
	bool enabled;      /* the batched TLS record path (tls: fall back to OpenSSL when false) */
};

struct gcm_engine_stats {
	uint64_t ops, bytes, bursts, flush_full, flush_deadline, flush_forced, errors;
};

struct gcm_engine {
	IMB_MGR *mgr;
	unsigned n, burst;
	uint64_t flush_us;
	uint64_t deadline; /* us; valid when n > 0 */
	bool enabled;
	struct gcm_engine_stats stats;
	struct gcm_op *buf[GCM_BURST_MAX];
};

/* ---- TLS record layer ---------------------------------------------------------------- */

enum gcm_tls_version { GCM_TLS12 = 0x0303, GCM_TLS13 = 0x0304 };
enum gcm_suite { GCM_AES128_SHA256, GCM_AES256_SHA384 };

enum gcm_content { GCM_CT_CCS = 20, GCM_CT_ALERT = 21, GCM_CT_HANDSHAKE = 22, GCM_CT_APPDATA = 23 };

/* Alert descriptions this layer sends or reacts to (RFC 8446 §6). */
enum gcm_alert {
	GCM_ALERT_CLOSE_NOTIFY = 0,
	GCM_ALERT_UNEXPECTED_MESSAGE = 10,
	GCM_ALERT_BAD_RECORD_MAC = 20,
	GCM_ALERT_RECORD_OVERFLOW = 22,
	GCM_ALERT_DECODE_ERROR = 50,
	GCM_ALERT_PROTOCOL_VERSION = 70,
	GCM_ALERT_INTERNAL_ERROR = 80,
	GCM_ALERT_NO_RENEGOTIATION = 100,
};

/* Session state: one transition function (gcm_sess_enter) logs old -> new. */
enum gcm_sess_state {
	GCM_SESS_OPEN,       /* both directions carry data */
	GCM_SESS_PEER_CLOSED, /* close_notify received; we may still write */
	GCM_SESS_CLOSED,     /* we sent close_notify (and maybe got one) */
	GCM_SESS_FAILED,     /* fatal alert sent or received; no more records */
};

/* What a decrypted record was (gcm_open_finish). */
enum gcm_event {
	GCM_EV_DATA,          /* application data at *pt, *pt_len (may be 0) */
	GCM_EV_NONE,          /* consumed internally (KeyUpdate, NewSessionTicket, warning alert) */
	GCM_EV_CLOSE_NOTIFY,  /* peer closed its write side */
	GCM_EV_ALERT,         /* fatal alert from the peer (sess->peer_alert) */
	GCM_EV_REOPEN,        /* prepared under a superseded read key: gcm_open_prep it again */
};

/* One direction of a session. Two key slots so that ops already queued under the previous key
 * stay valid across a KeyUpdate (the record layer flushes before reusing a slot). */
struct gcm_dir_state {
	struct gcm_key keys[2];
	uint8_t iv[GCM_IV_LEN];          /* 1.3: static IV; 1.2: 4-byte salt, rest 0 */
	uint8_t secret[GCM_MAX_SECRET];  /* 1.3: current traffic secret (KeyUpdate) */
	uint64_t seq;
	uint32_t gen;                    /* key generation; keys[gen & 1] is current */
};

struct gcm_sess_stats {
	uint64_t rec_out, rec_in, bytes_out, bytes_in, key_updates_in, key_updates_out, tickets_in,
		tickets_kept, bad_mac;
};

struct gcm_sess {
	struct gcm_dir_state wr, rd;
	struct gcm_engine *eng;  /* the lcore's engine (key expansion on KeyUpdate) */
	enum gcm_tls_version version;
	enum gcm_suite suite;
	enum gcm_sess_state state;
	bool is_server;
	bool peer_closed;      /* close_notify received */
	bool key_update_due;   /* peer asked for update_requested: seal one (gcm_key_update_seal) */
	uint8_t peer_alert;    /* last alert description received */
	uint8_t alert_out;     /* alert to send after a failure (gcm_alert_seal) */
	uint16_t pad_to;       /* TLS 1.3: pad inner plaintext to a multiple of this (0 = none) */
	uint64_t seq_limit;    /* records per key before a KeyUpdate is due (RFC 8446 §5.5) */
	uint8_t hs_buf[8];     /* header (+ KeyUpdate body) of a post-handshake message */
	uint8_t hs_len;
	uint32_t hs_skip;      /* body bytes of a NewSessionTicket still to skip */
	/* TLS 1.3 client: a NewSessionTicket whole within one record is handed here (header
	 * included; valid during the call) instead of being dropped; NULL: dropped */
	void (*on_ticket)(void *ctx, const uint8_t *msg, size_t len);
	void *ticket_ctx;
	struct gcm_sess_stats stats;
};

/* Traffic secrets exported from OpenSSL after its handshake (gcm_ossl.c). */
struct gcm_secrets {
	enum gcm_tls_version version;
	enum gcm_suite suite;
	bool is_server;
	/* 1.3: client/server application traffic secrets; 1.2: master secret + randoms */
	uint8_t client[GCM_MAX_SECRET], server[GCM_MAX_SECRET];
	uint8_t master[48], client_random[32], server_random[32];
	bool have_client, have_server;
};


/* ---- one connection on the batched path (gcm_link.c) --------------------------------------- */

#define GCM_LINK_BURST 16 /* records sealed/opened per engine burst within one call */

/* Across-sessions mode (gcm_alink.c): records live in pooled buffers until their burst ran. */
#define GCM_AREC_SMALL 2048 /* record bytes of the small buffer class (64 B..1.9 KiB payload) */
#define GCM_AREC_BIG (GCM_TLS_MAX_RECORD + 256) /* any record, 1.3 padding included */
#define GCM_ALINK_MAX_IN 64  /* received records queued per link before input pushes back */
#define GCM_AREC_CACHE 256   /* free buffers kept per class and lcore */

struct gcm_link;

/*
 * One record of a link in across-sessions mode: its op, the record (received copy or sealed
 * output) at buf[0..cap) and, for opening, the plaintext at buf[cap..2 cap) (out of place, so
 * a record decrypted under a key a KeyUpdate retired can be opened again).
 */
struct gcm_arec {
	struct gcm_op op;
	struct gcm_arec *next;   /* link queue, or the lcore's free list */
	struct gcm_link *l;
	uint32_t cap;            /* GCM_AREC_SMALL or GCM_AREC_BIG */
	uint32_t rec_len;        /* whole record length (received: from its header) */
	uint32_t fill;           /* received bytes so far (a record split across spans) */
	bool open, done;
	uint8_t buf[];
};

/* A FIFO of records (head pops, tail appends). */
struct gcm_arec_q {
	struct gcm_arec *head, **tail;
};

/* Per-lcore: the engine and scratch for GCM_LINK_BURST records (about 290 KB); the record
 * buffer pool of across-sessions mode. */
struct gcm_lcore {
	struct gcm_engine *e;
	uint8_t *buf;
	struct gcm_op ops[GCM_LINK_BURST];
	int len[GCM_LINK_BURST];
	struct gcm_arec *free[2];
	unsigned n_free[2];
};

/* What the transport provides to a link call. */
struct gcm_link_io {
	void *ctx;
	/* Plaintext of one record (valid during the call). The callee takes or stashes all of
	 * it; false asks the link to stop after this record (upper layer paused). */
	bool (*on_data)(void *ctx, const uint8_t *p, size_t n);
	/* One sealed record to send, in order; < 0 when the transport cannot take it. */
	int (*emit)(void *ctx, const uint8_t *rec, size_t n);
	/* Across-sessions mode: a queued record of this link completed (called from inside an
	 * engine flush: may only schedule work, e.g. put the connection on a run list). */
	void (*ready)(void *ctx);
	/* TLS 1.3 client: one complete NewSessionTicket message (header included), for a
	 * transport that keeps tickets (NULL: tickets are counted and dropped). */
	void (*on_ticket)(void *ctx, const uint8_t *msg, size_t n);
};

struct gcm_link {
	struct gcm_sess s;
	bool alert_sent;
	/* across-sessions mode (gcm_alink.c) */
	bool async, orphan;
	struct gcm_lcore *lc;
	struct gcm_link_io io;
	struct gcm_arec_q inq, outq;  /* in preparation order */
	struct gcm_arec *rpart;       /* a received record still missing bytes */
	uint8_t rhdr[GCM_TLS_HDR];
	uint8_t rhdr_len;
	unsigned inflight, n_in;      /* ops in the engine; records in inq */
	size_t out_bytes;             /* sealed bytes not emitted yet */
	int err;                      /* emit or engine failure (-errno), sticky */
};
#endif
