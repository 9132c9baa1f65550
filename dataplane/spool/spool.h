/* SPDX-License-Identifier: MIT */
/*
 * spool.h: the API of the durable per-core spool (types in spool-t.h, design in docs/spool.md).
 * Life cycle on one lcore:
 *   spool_create() -> spool_key_add()/spool_key_use() -> spool_recover() (start-up, may block)
 *   -> loop: spool_msg_begin/append/commit, spool_outcome, spool_poll(now) once per turn
 *   -> spool_free().
 * Every call except spool_create/spool_recover/spool_free is non-blocking: disk work goes through
 * the spool's io_uring and completes in a later spool_poll().
 */
#ifndef DPMAIL_SPOOL_H
#define DPMAIL_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

#include "spool/spool-t.h"

void spool_tunables_defaults(struct spool_tunables *t);

/* Creates the spool of lcore `core` (0..255): opens the directory, sets up the io_uring. Does
 * not touch segments (spool_recover does). Returns NULL and sets *err (-errno) on failure;
 * the tunables' strings are copied. */
struct spool *spool_create(const struct spool_tunables *t, unsigned core,
			   const struct spool_callbacks *cb, int *err);
/* Closes files and frees everything; outstanding commits are not reported (the process is
 * stopping: an unreported commit was never acknowledged). */
void spool_free(struct spool *sp);

/* Keys (32-byte AES-256 keys, id 1..65535). spool_key_use selects the key new records are
 * sealed with. A key may be removed only when no live segment holds a record sealed with it
 * (spool_key_in_use); spool_key_remove returns -EBUSY otherwise. */
int spool_key_add(struct spool *sp, uint16_t id, const uint8_t key[32]);
int spool_key_use(struct spool *sp, uint16_t id);
bool spool_key_in_use(const struct spool *sp, uint16_t id);
int spool_key_remove(struct spool *sp, uint16_t id);

/* Start-up helper: marks in present[core] every core id that has segment files in dir (a spool
 * written with more workers than this run has). The caller creates a spool for each such core
 * too and gives it to a worker to poll and deliver from (a worker may own several spools);
 * it empties and its segments go. Returns the number of core ids found or -errno. */
int spool_cores_on_disk(const char *dir, bool present[256]);

/* Start-up: scans this core's segments, rebuilds the queue of live messages, truncates torn
 * tails, quarantines corrupt tails, then opens a fresh segment (recovered segments are never
 * appended to). Blocking; call before the lcore loop. Returns 0 or -errno (fatal: the spool
 * directory is unusable). `now_us` is the monotonic clock. */
int spool_recover(struct spool *sp, uint64_t now_us);

/* The lcore loop calls this once per turn (a dp poll hook): reaps completions (invoking
 * callbacks), flushes the staged records as one write plus one linked fdatasync when durability
 * is needed, prepares the spare segment, compacts and deletes old segments, refreshes the
 * free-space estimate every space_check_us. Returns the work done (completions reaped and reader
 * pieces delivered; 0 = idle). One io_uring_submit at most; completions are peeked, never
 * waited for. Buffered writes that would block and every fdatasync run in the kernel's io-wq
 * workers, never on the lcore. */
int spool_poll(struct spool *sp, uint64_t now);
/* True while work is in flight (for tests and orderly shutdown). */
bool spool_busy(const struct spool *sp);
/* True when the next spool_poll has work that does not wait for the kernel: a staged batch it
 * can submit now (no batch in flight, and with direct I/O clear of the zero-fill step in
 * flight) or reader pieces to hand out. A loop may sleep when this
 * is false even though spool_busy() is true: a write or fdatasync in flight completes in the
 * kernel's io-wq workers whether or not the lcore spins (spinning on it cost a whole core). */
bool spool_runnable(const struct spool *sp);
/* A descriptor that polls readable when a completion waits to be reaped (the io_uring's own
 * fd), so an idle loop blocked in epoll wakes for it; the spool keeps ownership. */
int spool_wakeup_fd(const struct spool *sp);

/* Free-space guard: 0 if `size_hint` more bytes (MAIL SIZE=, or 0) keep the spool above
 * min_free_bytes, else -ENOSPC (answer 452 4.3.1). Cheap: uses the cached estimate. */
int spool_space_check(const struct spool *sp, uint64_t size_hint);

/* --- accepting a message ---
 * spool_msg_begin: copies the envelope; returns a transaction owned by the spool until commit
 * or abort (NULL + *err: -ENOSPC guard, -EINVAL envelope, -EAGAIN staging full, -ENOMEM). */
struct spool_txn *spool_msg_begin(struct spool *sp, const struct spool_envelope *env, int *err);
/* Appends body bytes (already dot-unstuffed, CRLF line ends). Returns the number of bytes
 * consumed, which is less than len when this turn's stage is full (offer the rest after the next
 * spool_poll: consumed-count backpressure, like conn's on_data), or -ENOSPC (free-space guard),
 * or another -errno after which the message can only be aborted. */
ssize_t spool_msg_append(struct spool_txn *tx, const void *data, size_t len);
/* Ends the message: `prefix` (e.g. the DKIM-Signature header, CRLF-terminated) is stored to be
 * sent before the body. The transaction is consumed whatever the result; the outcome arrives as
 * committed(cookie, result, qid) from a later spool_poll. Returns 0 when queued, or -errno when
 * refused at once (then no callback comes). */
int spool_msg_commit(struct spool_txn *tx, const void *prefix, size_t prefix_len, uint64_t cookie);
/* Drops a message in progress (client went away, RSET): nothing of it is ever delivered. */
void spool_msg_abort(struct spool_txn *tx);
/* The queue id the message will have (known from begin on, for Received: headers). */
uint64_t spool_txn_qid(const struct spool_txn *tx);

/* --- queued messages ---
 * Records a recipient's outcome (status final or PENDING) with the remote reply (may be empty).
 * Durable with the next group commit; when all recipients are final the message is dead and its
 * memory freed (its pointer becomes invalid). Returns 0, -ENOENT, -EINVAL, -EAGAIN. */
int spool_outcome(struct spool *sp, uint64_t qid, uint16_t rcpt_idx, enum spool_rcpt_status st,
		  const char *reply, size_t reply_len);
/* Records the retry schedule of a message (durable with the next group commit). */
int spool_retry(struct spool *sp, uint64_t qid, uint64_t next_attempt_us, uint16_t attempts);
/* Adds delivery marks (enum spool_mark) to a message, durable with the next group commit (a
 * STATE record); marks are never cleared. Returns 0 (also when already set), -ENOENT, -EAGAIN. */
int spool_mark(struct spool *sp, uint64_t qid, uint8_t marks);
/* Lookup and read-only accessors of a live message (pointer valid until it dies). */
const struct spool_msg *spool_msg_get(const struct spool *sp, uint64_t qid);
uint64_t spool_msg_qid(const struct spool_msg *m);
uint64_t spool_msg_arrival(const struct spool_msg *m);
uint64_t spool_msg_body_len(const struct spool_msg *m);
uint64_t spool_msg_next_attempt(const struct spool_msg *m);
uint16_t spool_msg_attempts(const struct spool_msg *m);
uint16_t spool_msg_nrcpt(const struct spool_msg *m);
struct spool_str spool_msg_sender(const struct spool_msg *m);
struct spool_str spool_msg_envid(const struct spool_msg *m);
uint32_t spool_msg_flags(const struct spool_msg *m);       /* enum spool_msg_flag */
uint8_t spool_msg_ret(const struct spool_msg *m);          /* enum spool_ret */
struct spool_str spool_msg_tenant(const struct spool_msg *m); /* "" when none was stored */
uint8_t spool_msg_marks(const struct spool_msg *m);        /* enum spool_mark */
int spool_msg_rcpt(const struct spool_msg *m, uint16_t idx, struct spool_rcpt_view *out);
/* Calls fn for every live message (order unspecified); stops when fn returns non-zero. */
void spool_foreach(const struct spool *sp, int (*fn)(void *arg, const struct spool_msg *m), void *arg);

/* --- reading a body for delivery (io_uring reads, one record at a time) ---
 * spool_body_open: a reader of message qid (NULL + *err). spool_body_next: asks for the next
 * piece; it arrives as body(cookie, ...) from a later spool_poll: first the stored prefix, then
 * the body; result 0 marks the verified end. One request at a time per reader. */
struct spool_body *spool_body_open(struct spool *sp, uint64_t qid, int *err);
int spool_body_next(struct spool_body *b, uint64_t cookie);
void spool_body_close(struct spool_body *b);

/* The SMTP reply to DATA for a commit result, CRLF-terminated, into buf: 0 -> "250 2.0.0 Ok:
 * queued as <qid>", -ENOSPC -> "452 4.3.1 Insufficient system storage", anything else ->
 * "451 4.3.0 Local error in processing". Returns the length (truncated to cap - 1). */
size_t spool_reply(int result, uint64_t qid, char *buf, size_t cap);
/* Formats a queue id as 16 hex digits (buf >= 17 bytes); returns buf. */
char *spool_qid_str(uint64_t qid, char *buf);
void spool_stats(const struct spool *sp, struct spool_stats *out);
/* Memory of one queued message besides its envelope strings (for the report). */
size_t spool_msg_overhead(void);
/* Test builds: fault hook on write/fsync completions (NULL to remove). */
void spool_set_fault_hook(struct spool *sp, spool_fault_fn fn, void *arg);
/* Test builds: an ordered log of I/O events ("W" write submitted, "S" fdatasync completed,
 * "A" acknowledgement delivered) appended to buf (NULL disables). */
void spool_set_trace(struct spool *sp, char *buf, size_t cap);

#endif
