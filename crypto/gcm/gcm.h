/* SPDX-License-Identifier: MIT */
/*
 * gcm.h: batched AES-GCM for dpmail. Two layers:
 *   engine (gcm_engine.c): per-lcore burst of AES-GCM ops over intel-ipsec-mb, flushed when
 *     full or when the oldest op waited flush_us; generic (TLS records, spool at rest).
 *   TLS record layer (gcm_kdf.c, gcm_record.c, gcm_post.c): keys from traffic secrets,
 *     seal/open of TLS 1.2 and 1.3 AES-GCM records as engine ops, alerts, KeyUpdate.
 *   OpenSSL bridge (gcm_ossl.c): exports the secrets of a finished OpenSSL handshake.
 * See docs/gcm.md for design, contracts and measurements.
 */
#ifndef DPMAIL_GCM_H
#define DPMAIL_GCM_H

#include <sys/types.h>

#include "gcm/gcm-t.h"

struct ssl_st;

/* ---- engine (gcm_engine.c) ---------------------------------------------------------------- */

void gcm_engine_cfg_defaults(struct gcm_engine_cfg *cfg);
/* One per lcore, at start-up (malloc). NULL and *err = -errno on failure. */
struct gcm_engine *gcm_engine_new(const struct gcm_engine_cfg *cfg, int *err);
/* Runs what is queued, then frees. */
void gcm_engine_free(struct gcm_engine *e);
/*
 * Expands key (16 or 32 bytes) into k. Control path (once per key). 0 or -EINVAL.
 * k is used by reference by ops until they completed.
 */
int gcm_key_set(struct gcm_engine *e, struct gcm_key *k, const uint8_t *key, size_t len);
/* Wipes k. */
void gcm_key_wipe(struct gcm_key *k);
/*
 * Queues op (ownership: the caller's until op->done ran). The first op of a burst sets the
 * deadline now + flush_us; a full burst is run at once (completions are called from here).
 */
void gcm_engine_enqueue(struct gcm_engine *e, struct gcm_op *op, uint64_t now);
/* Once per loop turn: runs the burst when its deadline passed. Returns ops completed. */
unsigned gcm_engine_poll(struct gcm_engine *e, uint64_t now);
/* Runs whatever is queued now (KeyUpdate, shutdown, synchronous callers). Returns ops run. */
unsigned gcm_engine_flush(struct gcm_engine *e);
/* Deadline of the queued burst (us), UINT64_MAX when empty (for a poller's sleep). */
uint64_t gcm_engine_next_deadline(const struct gcm_engine *e);
/* Constant-time tag comparison: true when equal. */
bool gcm_tag_equal(const uint8_t *a, const uint8_t *b);

/* ---- key schedule (gcm_kdf.c; control path, OpenSSL) --------------------------------------- */

/* HKDF-Expand-Label(secret, label, context, out_len) of RFC 8446 §7.1 ("tls13 " prefix added);
 * hash by suite. 0 or -EINVAL. */
int gcm_hkdf_expand_label(enum gcm_suite suite, const uint8_t *secret, const char *label,
			  const uint8_t *ctx, size_t ctx_len, uint8_t *out, size_t out_len);
/* Key and IV of a TLS 1.3 traffic secret (RFC 8446 §7.3). key gets 16 or 32 bytes. */
int gcm_tls13_traffic_keys(enum gcm_suite suite, const uint8_t *secret, uint8_t *key,
			   uint8_t iv[GCM_IV_LEN]);
/* TLS 1.2 key block (RFC 5246 §6.3, RFC 5288 §3): client/server write key and 4-byte salt. */
int gcm_tls12_key_block(enum gcm_suite suite, const uint8_t master[48],
			const uint8_t client_random[32], const uint8_t server_random[32],
			uint8_t *ckey, uint8_t *skey, uint8_t csalt[4], uint8_t ssalt[4]);
/* Key length and hash length of a suite. */
size_t gcm_suite_key_len(enum gcm_suite suite);
size_t gcm_suite_hash_len(enum gcm_suite suite);

/* ---- TLS record layer (gcm_record.c) --------------------------------------------------------- */

/*
 * Sets up s from exported secrets (wiped by the caller afterwards). rd_seq/wr_seq: records
 * already protected under these keys (TLS 1.3 server: the NewSessionTickets OpenSSL sent;
 * TLS 1.2: 1, the Finished). 0 or -EINVAL.
 */
int gcm_sess_init(struct gcm_sess *s, struct gcm_engine *e, const struct gcm_secrets *sec,
		  uint64_t rd_seq, uint64_t wr_seq);
/* Wipes keys and secrets. No op of s may be queued. */
void gcm_sess_wipe(struct gcm_sess *s);
const char *gcm_sess_state_str(enum gcm_sess_state st);

/*
 * Resumable record framing: looks at the first len bytes of a stream. Returns the length of
 * the complete record at buf (header included), 0 when more bytes are needed, or -EPROTO
 * (bad version/type for s->version: *alert says which) / -EMSGSIZE (record_overflow).
 */
int gcm_rec_frame(const struct gcm_sess *s, const uint8_t *buf, size_t len, uint8_t *alert);
/* Bytes before the payload of a sealed record (5, or 13 for TLS 1.2) and overhead in total. */
size_t gcm_rec_hdr_len(const struct gcm_sess *s);
size_t gcm_rec_overhead(const struct gcm_sess *s);

/*
 * Prepares op to seal one record of type ct whose plaintext (len bytes, <= 16384) the caller
 * already placed at rec + gcm_rec_hdr_len(s) (zero copy); rec must have room for
 * len + gcm_rec_overhead(s) + s->pad_to bytes. Writes the header, the 1.3 inner type and
 * padding, consumes a sequence number. The record is complete once op->done ran (the tag is
 * copied into place by gcm_seal_finish, which done must call). Returns the record length or
 * -EMSGSIZE / -EPIPE (session closed or failed).
 */
int gcm_seal_prep(struct gcm_sess *s, struct gcm_op *op, uint8_t ct, uint8_t *rec, size_t len);
/*
 * TLS 1.3: seals the handshake message at rec + 5 (len bytes) as the *peer* would have, under
 * the current read key at sequence number seq, without touching s: re-encrypts a
 * post-handshake message (a NewSessionTicket) for the OpenSSL object that owns the session's
 * ticket store. rec room: len + 22. Complete after op->done/flush + gcm_seal_finish. Returns
 * the record length or -EINVAL.
 */
int gcm_reseal_read13(const struct gcm_sess *s, uint64_t seq, struct gcm_op *op, uint8_t *rec,
		      size_t len);
/* Completes a sealed record: copies the tag after the ciphertext. */
void gcm_seal_finish(struct gcm_op *op);

/*
 * Prepares op to open the complete record rec (rec_len from gcm_rec_frame) into out (room for
 * rec_len bytes; out may equal rec + gcm_rec_hdr_len(s) for in place, but then GCM_EV_REOPEN
 * cannot be honoured, see gcm_open_finish). Consumes a read sequence number. 0, or -EPROTO
 * (alert set) for a record that cannot be opened at all.
 */
int gcm_open_prep(struct gcm_sess *s, struct gcm_op *op, const uint8_t *rec, size_t rec_len,
		  uint8_t *out);
/*
 * After op->done: checks the tag against the record's, strips 1.3 padding and inner type and
 * handles post-handshake content (alerts, KeyUpdate, NewSessionTicket). Records of a session
 * must be finished in the order they were prepared (the engine completes in submission order).
 * Returns an event (>= 0) with *pt and *pt_len set for GCM_EV_DATA, or -EBADMSG (bad_record_mac),
 * -EPROTO (unexpected content, decode error, renegotiation), -EMSGSIZE (record_overflow):
 * s is then FAILED and s->alert_out says which alert to send (gcm_alert_seal).
 * GCM_EV_REOPEN: a KeyUpdate earlier in the same burst changed the read key; the record was
 * decrypted with the old one: call gcm_open_reprep and enqueue it again.
 */
int gcm_open_finish(struct gcm_sess *s, struct gcm_op *op, const uint8_t **pt, size_t *pt_len);
/* Re-prepares a GCM_EV_REOPEN op under the current read key (out of place only). */
int gcm_open_reprep(struct gcm_sess *s, struct gcm_op *op);

/* ---- post-handshake messages (gcm_post.c) ---------------------------------------------------- */

/*
 * Seals an alert (close_notify moves s to CLOSED, others to FAILED) into rec (room for
 * 2 + gcm_rec_overhead(s) + s->pad_to). The caller enqueues op. Returns the record length.
 */
int gcm_alert_seal(struct gcm_sess *s, struct gcm_op *op, uint8_t *rec, uint8_t desc);
/*
 * TLS 1.3: seals a KeyUpdate (request_update = requested) into rec under the current key,
 * enqueues it on e, flushes e (so no op still references the older slot) and switches the
 * write key. rec room: 4 + gcm_rec_overhead(s) + s->pad_to. Returns the record length or
 * -EPROTO (TLS 1.2) / -EPIPE. Clears key_update_due.
 */
int gcm_key_update_seal(struct gcm_sess *s, struct gcm_engine *e, struct gcm_op *op,
			uint8_t *rec, bool requested, uint64_t now);
/* The two halves of gcm_key_update_seal for callers that complete asynchronously: prep
 * seals the KeyUpdate (returns the record length); after the engine was flushed (the record
 * and every op under the older slot completed), commit switches the write key. 0 or -EIO. */
int gcm_key_update_prep(struct gcm_sess *s, struct gcm_op *op, uint8_t *rec, bool requested);
int gcm_key_update_commit(struct gcm_sess *s, int status);
/* True when the write side should start a KeyUpdate (seq_limit reached) or owes one. */
bool gcm_sess_key_update_wanted(const struct gcm_sess *s);
/* Internal to the record layer: handles a decrypted handshake/alert payload. */
int gcm_post_input(struct gcm_sess *s, uint8_t ct, const uint8_t *p, size_t len);
/* Derives the next traffic secret and keys of one direction (RFC 8446 §7.2). */
int gcm_dir_update(struct gcm_sess *s, struct gcm_dir_state *d);
void gcm_sess_enter(struct gcm_sess *s, enum gcm_sess_state st);

/* ---- one connection on the batched path (gcm_link.c) --------------------------------------- */

/* Per lcore, start-up: engine + scratch. NULL and *err = -errno on failure. */
struct gcm_lcore *gcm_lcore_new(const struct gcm_engine_cfg *cfg, int *err);
void gcm_lcore_free(struct gcm_lcore *lc);
/*
 * Takes over ssl's records right after its handshake completed (the keylog hook installed
 * on its context). tickets_written: records OpenSSL wrote in the handshake call that
 * finished (TLS 1.3 server; gcm_rec_count). 0, or -EOPNOTSUPP/-ENOENT: stay on OpenSSL.
 * Ownership: ssl stays the caller's and is not used for records afterwards.
 */
int gcm_link_init(struct gcm_link *l, struct gcm_lcore *lc, struct ssl_st *ssl,
		  unsigned tickets_written);
/*
 * Opens the complete records at data (a transport's receive span; partial records are left
 * for the next call), delivering plaintext through io->on_data in order and emitting
 * KeyUpdate replies. Returns the bytes consumed, or -errno after a fatal error (the alert was
 * emitted, -ECONNRESET for a fatal alert from the peer). l->s.state says PEER_CLOSED after
 * close_notify.
 */
ssize_t gcm_link_input(struct gcm_lcore *lc, struct gcm_link *l, const uint8_t *data,
		       size_t len, const struct gcm_link_io *io);
/* Seals len bytes as records of up to 16 KiB and emits them. Bytes sealed or -errno. */
ssize_t gcm_link_send(struct gcm_lcore *lc, struct gcm_link *l, const void *buf, size_t len,
		      const struct gcm_link_io *io);
/*
 * Seals len (<= GCM_TLS_MAX_PLAIN) bytes at pt as one record in place and emits it: the record
 * is built around them (header in the GCM_LINK_HEADROOM octets before pt, the buffer holding
 * GCM_LINK_INPLACE_CAP octets from pt on), so plaintext a caller staged there is never copied
 * again. The octets at pt are ciphertext afterwards. Bytes sealed or -errno.
 */
ssize_t gcm_link_seal_inplace(struct gcm_lcore *lc, struct gcm_link *l, uint8_t *pt, size_t len,
			      const struct gcm_link_io *io);
/* Starts a TLS 1.3 KeyUpdate (requested: the peer must answer with its own). 0 or -errno. */
int gcm_link_key_update(struct gcm_lcore *lc, struct gcm_link *l, bool requested,
			const struct gcm_link_io *io);
/* Emits an alert (close_notify closes our side; any other ends the session). */
int gcm_link_alert(struct gcm_lcore *lc, struct gcm_link *l, uint8_t desc,
		   const struct gcm_link_io *io);

/* ---- one connection, records of every session of the lcore in one burst (gcm_alink.c) ------ */

/*
 * Switches l (after gcm_link_init) to across-sessions mode: records are queued on the lcore's
 * engine and complete when its burst runs (full, or the owner's gcm_engine_flush/poll once per
 * loop turn). io is copied; io->ready is required. Sealed records are emitted through
 * io->emit in order from the completion; received ones are handed up by gcm_alink_deliver.
 */
void gcm_alink_start(struct gcm_link *l, struct gcm_lcore *lc, const struct gcm_link_io *io);
/*
 * Copies plaintext into records and queues them (the caller's buffer is free on return).
 * Returns bytes accepted (all of len unless buffers ran out) or -errno (-EPIPE: closed/failed).
 */
ssize_t gcm_alink_send(struct gcm_link *l, const void *buf, size_t len, uint64_t now);
/*
 * Copies the records of a receive span (a record may be split across spans) and queues them
 * for opening. Returns bytes consumed (less than len when GCM_ALINK_MAX_IN records wait for
 * delivery), or -errno after a framing error (the alert was queued and flushed).
 */
ssize_t gcm_alink_input(struct gcm_link *l, const uint8_t *data, size_t len, uint64_t now);
/*
 * Hands up the opened records at the head of the queue, in order, through io->on_data; stops
 * when on_data returns false or at a record still in the engine. Answers KeyUpdates. 0, or
 * -errno when the session failed (alert queued and flushed; -ECONNRESET: the peer's alert).
 * After close_notify (l->s.peer_closed) the rest of the queue is dropped.
 */
int gcm_alink_deliver(struct gcm_link *l, uint64_t now);
/* Queues an alert (close_notify closes our side, any other ends the session). 0 or -errno. */
int gcm_alink_alert(struct gcm_link *l, uint8_t desc, uint64_t now);
/* Received records not handed up yet (false after close_notify). */
bool gcm_alink_in_pending(const struct gcm_link *l);
/* Sealed bytes waiting for their burst (for the transport's send-space accounting). */
size_t gcm_alink_out_bytes(const struct gcm_link *l);
/*
 * Ownership: takes l (malloc'd by the caller). Wiped and freed now, or when its last op in the
 * engine completed (no callback of io is called any more from this call on).
 */
void gcm_alink_release(struct gcm_link *l);
/* Frees the lcore's record buffer pool (gcm_lcore_free). */
void gcm_arec_pool_free(struct gcm_lcore *lc);

/* ---- OpenSSL bridge (gcm_ossl.c) ------------------------------------------------------------- */

/* Allocates the SSL ex_data slot; start-up, once per process. 0 or -ENOMEM. */
int gcm_ossl_init(void);
/* SSL_CTX keylog callback that records TLS 1.3 application traffic secrets per SSL (install with
 * SSL_CTX_set_keylog_callback on contexts whose sessions may take the batched path). */
void gcm_ossl_keylog_cb(const struct ssl_st *ssl, const char *line);
/*
 * After the handshake of ssl completed: fills sec when the session is TLS 1.2/1.3 with
 * AES-128-GCM or AES-256-GCM and the secrets are known; wipes the stored copy. 0, or
 * -EOPNOTSUPP (other cipher/version: stay on OpenSSL's record layer) / -ENOENT (no secrets).
 */
int gcm_ossl_export(struct ssl_st *ssl, struct gcm_secrets *sec);
/* Counts complete TLS records in buf (for the write sequence number at takeover). */
unsigned gcm_rec_count(const uint8_t *buf, size_t len);

#endif
