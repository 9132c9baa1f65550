/* SPDX-License-Identifier: MIT */
/*
 * dkim.h: DKIM signing API (crypto/dkim). Types in dkim-t.h; design in docs/dkim.md.
 *
 * Life of a message on a worker lcore:
 *   m = dkim_msg_new(ctx, id)                       at DATA
 *   dkim_msg_feed(m, kr, chunk, len, now) ...       per unstuffed chunk (split anywhere)
 *   dkim_batch_add(&batch, m, done, arg, now)       at end of data (cheap)
 *   dkim_batch_run(&batch, kr, now)                 once per loop turn, after the I/O:
 *       makes the signatures, calls done(arg, m, result) per message
 *   dkim_msg_sig(m, &len)                           the DKIM-Signature field(s) to prepend
 *   dkim_msg_free(m)
 * kr is the keyring of the config snapshot current in that loop turn, passed on every call
 * and never kept: a key removed by a published snapshot is never used for a new signature.
 * None of these calls blocks, reads the clock or takes a lock.
 */
#ifndef DPMAIL_DKIM_H
#define DPMAIL_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "dkim/dkim-t.h"

/* ---- tunables ---- */
void dkim_params_defaults(struct dkim_params *p);
const char *dkim_result_str(enum dkim_result r);
/* Map a message's result to the session's action under policy pol; *reply receives the SMTP
 * reply text (static, without CRLF) for REJECT/TEMPFAIL, NULL otherwise. */
enum dkim_action dkim_result_action(enum dkim_result r, const struct dkim_policy *pol,
				    const char **reply);
const char *dkim_alg_name(enum dkim_alg a);

/* ---- keyring (control plane) ---- */

/* Load and check every key of conf. Returns a new keyring (caller frees with
 * dkim_keyring_free(), after an RCU grace period when it was published) or NULL with a
 * message naming the key file in err[errlen]. Warns (log) for RSA keys under 2048 bits. */
struct dkim_keyring *dkim_keyring_build(const struct dkim_keyring_conf *conf, char *err,
					size_t errlen);
void dkim_keyring_free(struct dkim_keyring *kr);
size_t dkim_keyring_count(const struct dkim_keyring *kr);
const struct dkim_key *dkim_keyring_key(const struct dkim_keyring *kr, size_t i);
/* Keys for a From domain (exact, then parent domains) plus the operator's; see the .c. */
size_t dkim_keyring_select(const struct dkim_keyring *kr, const char *from_domain,
			   const struct dkim_key **out, size_t max);
/* The key uid (of domain dom) if it is in kr, else NULL; dkim_keyring_has() as a boolean. */
const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *kr, const char *dom,
					 uint64_t uid);
int dkim_keyring_has(const struct dkim_keyring *kr, const char *dom, uint64_t uid);

/* ---- header scanner and From parser (untrusted input; pure functions) ---- */
size_t dkim_hdr_end(const uint8_t *buf, size_t len, size_t *scan);
int dkim_hdr_next(const uint8_t *buf, size_t len, size_t *off, struct dkim_hdr_field *f);
int dkim_hdr_name_is(const struct dkim_hdr_field *f, const char *lower);
enum dkim_from_status dkim_from_domain(const uint8_t *value, size_t len, char *dom, size_t cap);

/* ---- per-lcore signer context ---- */

/* Create the context of one lcore: its own DKIM_LIB configured from p (copied). wall_offset_us
 * is CLOCK_REALTIME - CLOCK_MONOTONIC in microseconds (t= and x= are wall-clock seconds while
 * the data path only sees the monotonic "now"). Start-up only (allocates). NULL on failure. */
struct dkim_signer_ctx *dkim_signer_new(const struct dkim_params *p, int64_t wall_offset_us);
void dkim_signer_free(struct dkim_signer_ctx *ctx);
void dkim_signer_set_wall_offset(struct dkim_signer_ctx *ctx, int64_t wall_offset_us);
const struct dkim_stats *dkim_signer_stats(const struct dkim_signer_ctx *ctx);
/* params.batch_max / params.batch_cost_max, at least 1 */
unsigned dkim_signer_batch_max(const struct dkim_signer_ctx *ctx);
unsigned dkim_signer_batch_cost_max(const struct dkim_signer_ctx *ctx);

/* ---- one message ---- */

/* Start signing a message (at DATA). id is a printable message id for libopendkim's errors
 * (copied). Returns NULL when out of memory (the caller passes the message unsigned). */
struct dkim_msg *dkim_msg_new(struct dkim_signer_ctx *ctx, const char *id);
/* Feed the next chunk of the message as it will be spooled (dot-unstuffed, CRLF lines; the
 * terminating ".\r\n" excluded). The header section is buffered (up to params.header_max)
 * until its end, then keys are selected from kr by the From domain and the body is hashed as
 * it streams. Returns 0 (also when the message turned out not to be signable: see
 * dkim_msg_result()), never fails the caller. */
int dkim_msg_feed(struct dkim_msg *m, const struct dkim_keyring *kr, const uint8_t *data,
		  size_t len, uint64_t now);
/* End of data: make the signatures now (expensive: ~0.25 ms per RSA-2048 signature; prefer
 * dkim_batch_add()). Signatures whose key is no longer in kr are dropped. */
enum dkim_result dkim_msg_finish(struct dkim_msg *m, const struct dkim_keyring *kr, uint64_t now);
/* The outcome so far (final after dkim_msg_finish()). */
enum dkim_result dkim_msg_result(const struct dkim_msg *m);
/* After DKIM_RES_SIGNED: the "DKIM-Signature: ...\r\n" field(s) to prepend to the message,
 * valid until dkim_msg_free(). NULL (len 0) otherwise. */
const char *dkim_msg_sig(const struct dkim_msg *m, size_t *len);
/* The From domain found (lower case), or "" before the header end / when none. */
const char *dkim_msg_from_domain(const struct dkim_msg *m);
/* Number of signatures in dkim_msg_sig(). */
unsigned dkim_msg_nsigs(const struct dkim_msg *m);
/* The signing work dkim_msg_finish() has left for m, in DKIM_COST_* units: the sum over its
 * open signatures (0 when it will not be signed or is finished). */
unsigned dkim_msg_cost(const struct dkim_msg *m);
/* The cost of one signature with key k, in DKIM_COST_* units (>= 1). */
unsigned dkim_key_cost(const struct dkim_key *k);
void dkim_msg_free(struct dkim_msg *m);

/* ---- batching (one per lcore) ---- */
void dkim_batch_init(struct dkim_batch *b);
/* Queue m, whose data has ended, for signing in the next dkim_batch_run(). Cheap. Returns 0,
 * or -ENOSPC when DKIM_BATCH_CAP messages are queued (the caller runs the batch first). */
int dkim_batch_add(struct dkim_batch *b, struct dkim_msg *m, dkim_done_fn done, void *arg,
		   uint64_t now);
/* Finish queued messages oldest first, calling done() for each, until params.batch_max
 * messages or params.batch_cost_max units of signing work (dkim_msg_cost) are done; the first
 * message is always finished, whatever its cost. Call once per loop turn after its RX
 * processing, before the spool's group commit (the signed messages join it). Returns the
 * number finished; the others wait for the next turn (bounded stall for everyone else on the
 * lcore). */
unsigned dkim_batch_run(struct dkim_batch *b, struct dkim_signer_ctx *ctx,
			const struct dkim_keyring *kr, uint64_t now);
static inline unsigned dkim_batch_pending(const struct dkim_batch *b) { return b->n; }

#endif
