/* SPDX-License-Identifier: MIT */
/*
 * spool_int.h: the private state of one per-core spool, shared by the files of dataplane/spool
 * only (spool.c: life cycle and the poll loop; spool_stage.c: staging and group commit;
 * spool_seg.c: segment files; spool_txn.c: messages being received; spool_msg.c: the index of
 * queued messages; spool_recover.c: start-up scan; spool_body.c: body readers).
 */
#ifndef DPMAIL_SPOOL_INT_H
#define DPMAIL_SPOOL_INT_H

#include <liburing.h>

#include "spool/spool.h"
#include "spool/spool_aead.h"
#include "spool/spool_record.h"

#define SPOOL_MAX_KEYS 8u
#define SPOOL_QID_CTR_BITS 24u

/* io_uring user_data: an object pointer (8-byte aligned) with the operation kind in the low bits. */
enum spool_op {
	SPOOL_OP_IGNORE = 0,   /* close before unlink etc.: result only counted */
	SPOOL_OP_WRITE,        /* struct spool_batch */
	SPOOL_OP_FSYNC,        /* struct spool_batch */
	SPOOL_OP_SPARE_OPEN,   /* struct spool */
	SPOOL_OP_SPARE_DSYNC,  /* struct spool */
	SPOOL_OP_UNLINK,       /* struct spool_seg (freed on completion) */
	SPOOL_OP_READ,         /* struct spool_body */
	SPOOL_OP_ZERO,         /* struct spool_seg: zero-fill write or its fdatasync */
};

struct spool_key {
	uint16_t id;
	struct spool_aead *aead;
};

struct spool_seg {
	uint32_t seq;
	int fd;                 /* writes (O_DIRECT in direct mode) */
	int rfd;                /* direct mode: a buffered descriptor for reads; else -1 */
	uint64_t size;          /* bytes allocated: the offset of the next record */
	uint32_t live;          /* messages and open transactions whose first record is here */
	uint32_t readers;       /* open body readers */
	uint16_t keys[4];       /* key ids used by records here (keys_many: more than 4) */
	uint8_t nkeys;
	bool keys_many;
	bool poisoned;          /* a write or sync failed: nothing more is appended */
	bool dirty;             /* written since its last completed fdatasync */
	uint8_t zpending;       /* zero-fill operations in flight (write + fdatasync) */
	int zres;               /* first error of the zero-fill in flight */
	uint64_t zeroed;        /* direct mode: blocks below this are allocated, written and durable */
	uint64_t zstart, zend;  /* the zero-fill in flight */
	char name[48];
};

/* What a batch must report or redo when it completes. */
enum spool_bent_kind { SPOOL_BENT_COMMIT = 1, SPOOL_BENT_STATE, SPOOL_BENT_RELOC };
struct spool_bent {
	uint64_t cookie;        /* COMMIT: the caller's cookie; STATE, RELOC: the queue id */
	struct spool_msg *msg;  /* COMMIT: the message, live once the batch is durable */
	uint8_t kind;
	struct spool_chunk_ref at; /* RELOC: the new commit record */
	uint32_t home;          /* RELOC: the new first segment (pinned by the copy) */
};

/* One group-commit batch: records staged contiguously for one segment, written with one write
 * and made durable by one fdatasync linked after it. */
/* A batch buffer (spool_rcache.c): a private mapping of `size` bytes (a power of two),
 * page-aligned; hwm is how much of it from mem was ever written (a page multiple): the memory
 * it really holds, which the read cache and the spares account. */
struct spool_buf {
	uint8_t *mem;
	uint32_t size, hwm;
};

struct spool_batch {
	struct spool_buf bb;    /* the buffer; bb.mem (aligned for direct I/O) is where the write
				 * starts */
	uint8_t *buf;           /* = bb.mem + head: the records */
	uint32_t len, cap;      /* record bytes staged, room for records */
	uint32_t head;          /* direct mode: bytes of the segment's last partial block copied in
				 * front of the records (the write starts at an aligned offset) */
	uint32_t wlen;          /* bytes submitted (direct mode: head + len padded to the block) */
	struct spool_seg *seg;  /* NULL while empty */
	uint64_t off;           /* where buf lands in seg */
	uint64_t gen;
	bool sync;              /* holds records that must be durable */
	bool dsync;             /* direct mode: made durable by its write (RWF_DSYNC), no fdatasync */
	bool readable;          /* holds body records (chunk, commit): worth the read cache */
	uint64_t sync_since;    /* when its first commit was staged (commit_delay_us) */
	struct spool_seg *also_sync; /* a previous segment with unsynced chunks to sync too */
	struct spool_bent *ents;
	uint32_t nents, entcap;
	int result;
	uint8_t pending;        /* io_uring operations not yet completed */
};

enum spool_spare_state { SPOOL_SPARE_NONE = 0, SPOOL_SPARE_OPENING, SPOOL_SPARE_OPENING_R,
			 SPOOL_SPARE_SYNCING, SPOOL_SPARE_READY };

/* A queued message: packed, strings and recipient states follow in data[]:
 * data[0..env_len) is the envelope blob (spool_record.h), then nrcpt status bytes. */
struct spool_msg {
	uint64_t qid;
	uint64_t next_attempt_us;
	uint64_t body_len;
	uint32_t home_seq;      /* segment of its first record: it keeps the segment alive */
	uint32_t commit_seq;
	uint32_t commit_off;
	uint32_t commit_len;    /* whole commit record */
	uint32_t env_len;
	uint16_t nrcpt;
	uint16_t nfinal;
	uint16_t attempts;
	uint32_t flags;         /* enum spool_msg_flag, from the envelope's extension */
	uint8_t marks;          /* enum spool_mark, carried by STATE records */
	uint8_t data[];
} __attribute__((packed));

struct spool_txn {
	struct spool *sp;
	struct spool_txn *next_free;
	uint64_t qid;
	uint8_t *env;
	uint32_t env_len, env_cap;
	uint16_t nrcpt;
	uint8_t *buf;           /* body bytes not yet in a chunk record (chunk_bytes) */
	uint32_t buf_len;
	uint64_t body_len;
	uint32_t body_crc;      /* CRC32C of the body in chunk records staged so far */
	uint32_t buf_crc;       /* CRC32C of buf[0..buf_len): the body is CRC'd once, here, and
				 * the record's and the whole body's CRC are combined from it */
	struct spool_chunk_ref *chunks;
	uint32_t nchunks, chunkcap;
	struct spool_seg *home;
	uint64_t first_gen;     /* batch generation of its first chunk (0: none) */
	int err;                /* sticky: a chunk could not be staged */
};

struct spool {
	struct spool_tunables t;
	char *dir, *qdir;
	int dirfd;
	uint16_t core;
	struct spool_callbacks cb;
	struct io_uring ring;
	bool ring_ok;
	/* direct I/O (spool_dio.c) */
	bool direct;
	uint32_t align;         /* direct mode: offset, length and memory alignment of writes */
	uint8_t *zeros;         /* direct mode: an aligned zero buffer for zero-fill */
	uint8_t *tailblk;       /* the last partial block of the last batch staged (align bytes) */
	uint32_t tail_seq;      /* its segment (0: none) */
	uint64_t tail_off;      /* its aligned offset in the segment */
	uint64_t zero_retry_us;
	struct spool_rcache *rc; /* read cache of recent batches */
	struct spool_bufslab *slabs; /* batch buffer memory (spool_buf.c) */
	uint32_t nslabs;
	uint32_t inflight;      /* io_uring operations submitted and not reaped */
	/* segments, sorted by seq; the last one is the active segment */
	struct spool_seg **segs;
	uint32_t nsegs, segcap;
	uint32_t next_seq;
	uint32_t qid_seq;       /* queue ids are core | qid_seq | qid_ctr: qid_seq is a durable, */
	uint32_t qid_ctr;       /* never reused segment sequence number */
	struct spool_seg *spare;
	enum spool_spare_state spare_state;
	uint64_t spare_retry_us;
	/* group commit */
	struct spool_batch b[2];
	struct spool_batch *stage, *flight;
	uint64_t batch_gen, fail_gen;
	struct spool_seg *prev_dirty; /* previous segment with unsynced chunks after a rollover */
	/* index of live messages: open addressing on qid */
	struct spool_msg **tab;
	uint32_t tabmask;
	uint32_t count;
	/* keys */
	struct spool_key keys[SPOOL_MAX_KEYS];
	uint32_t nkeys;
	int cur_key;            /* index into keys, -1 none */
	/* free-space guard */
	uint64_t avail;
	uint64_t space_next_us;
	uint64_t now;
	struct spool_txn *txn_free;
	struct spool_body *ready; /* readers whose next piece is in memory */
	struct spool_compact *compact; /* relocation of the oldest segment's last messages */
	struct spool_stats st;
	spool_fault_fn fault;
	void *fault_arg;
	char *trace;
	size_t trace_cap, trace_len;
};

/* spool.c */
void spool_trace(struct spool *sp, char ev);
void spool_space_refresh(struct spool *sp, uint64_t now);
struct io_uring_sqe *spool_sqe(struct spool *sp, void *obj, enum spool_op op);
struct spool_key *spool_key_find(struct spool *sp, uint16_t id);
void spool_nonce(const struct spool *sp, uint32_t seq, uint64_t off, uint8_t nonce[12]);
/* Opens (verifies and decrypts in place) a record image rec[0..SPOOL_REC_HDR+h->len) located at
 * (seq, off); on success payload and plen give the plaintext. -EBADMSG on any mismatch.
 * check_crc false: the caller has checked the CRC already (recovery's classification) or the
 * bytes are what this process wrote (read cache); the GCM tag is always checked. */
int spool_rec_open(struct spool *sp, uint32_t seq, uint64_t off, uint8_t *rec,
		   const struct spool_rec_hdr *h, uint8_t **payload, uint32_t *plen, bool check_crc);

/* spool_stage.c */
struct spool_part {
	const void *p;
	uint32_t len;
	bool has_crc;           /* crc is CRC32C(p, len), already computed by the caller: the */
	uint32_t crc;           /* record's CRC combines it instead of reading the bytes again */
};
/* Stages one record built from parts. chunk: subject to the stage_bytes limit (-EAGAIN).
 * On success *where (optional) gets the record's position. */
int spool_stage_rec(struct spool *sp, uint8_t type, const struct spool_part *parts, unsigned n,
		    bool chunk, struct spool_chunk_ref *where);
int spool_stage_ent(struct spool *sp, uint8_t kind, uint64_t cookie, struct spool_msg *m);
void spool_stage_flush(struct spool *sp);
/* True while the stage waits for its group commit window (commit_delay_us). */
bool spool_stage_waiting(const struct spool *sp);
/* Whether spool_stage_flush() submits (or fails) the stage now: nothing in flight, records
 * staged, the commit window over and, with direct I/O, the write clear of the zero-fill step
 * in flight. spool_runnable() and the flush share it, so "runnable" never means "waiting". */
bool spool_stage_flushable(const struct spool *sp);
void spool_batch_done(struct spool *sp, struct spool_batch *b, enum spool_op op, int res);
int spool_stage_init(struct spool *sp);
void spool_stage_fini(struct spool *sp);

/* spool_seg.c */
int spool_seg_open_active(struct spool *sp, uint64_t now_us);
struct spool_seg *spool_seg_find(const struct spool *sp, uint32_t seq);
struct spool_seg *spool_seg_active(const struct spool *sp);
struct spool_seg *spool_seg_for_stage(struct spool *sp);
int spool_seg_insert(struct spool *sp, struct spool_seg *s);
void spool_seg_name(const struct spool *sp, uint32_t seq, char *buf, size_t cap);
void spool_seg_unref(struct spool *sp, struct spool_seg *s);
void spool_seg_gc(struct spool *sp);
void spool_seg_spare_kick(struct spool *sp);
void spool_seg_spare_done(struct spool *sp, enum spool_op op, int res);
void spool_seg_unlinked(struct spool *sp, struct spool_seg *s, int res);
void spool_seg_note_key(struct spool_seg *s, uint16_t key_id);
void spool_seg_free_all(struct spool *sp);
int spool_seg_next_qid(struct spool *sp, uint64_t *qid);

/* spool_msg.c */
struct spool_msg *spool_msg_new(const uint8_t *env, uint32_t env_len, uint16_t nrcpt);
int spool_index_init(struct spool *sp, uint32_t slots);
int spool_index_put(struct spool *sp, struct spool_msg *m);
struct spool_msg *spool_index_get(const struct spool *sp, uint64_t qid);
void spool_index_del(struct spool *sp, struct spool_msg *m);
void spool_index_fini(struct spool *sp);
void spool_msg_kill(struct spool *sp, struct spool_msg *m);
uint8_t *spool_msg_states(struct spool_msg *m);
int spool_msg_set_status(struct spool *sp, struct spool_msg *m, uint16_t idx, uint8_t st);
int spool_stage_state(struct spool *sp, struct spool_msg *m);

/* spool_txn.c */
void spool_txn_free_all(struct spool *sp);
/* A transaction re-writing live message m under its own queue id (compaction). */
struct spool_txn *spool_txn_begin_copy(struct spool *sp, const struct spool_msg *m, int *err);
/* Stages the copy's commit record and its STATE; completion updates the message in place. */
int spool_txn_commit_copy(struct spool_txn *tx, const void *prefix, size_t prefix_len);

/* spool_dio.c */
/* Decides direct I/O for the spool from a freshly created segment fd (statx alignment); logs
 * the outcome once. Returns 0, or -EINVAL when direct_io is ON and unsupported. */
int spool_dio_setup(struct spool *sp, int fd);
/* Opens segment `name` for writing (O_DIRECT in direct mode) and reading; blocking. */
int spool_dio_open_seg(struct spool *sp, struct spool_seg *s, int flags);
/* The descriptor body readers use. */
int spool_seg_rfd(const struct spool_seg *s);
/* Submits the next zero-fill step of the active segment when it is due. */
void spool_dio_prezero(struct spool *sp);
void spool_dio_zero_done(struct spool *sp, struct spool_seg *s, int res);
/* True when a write of [off, end) must wait for the zero-fill in flight (it overlaps). */
bool spool_dio_overlaps_zero(const struct spool_seg *s, uint64_t off, uint64_t end);
uint32_t spool_dio_round(const struct spool *sp, uint64_t v); /* v rounded up to align */
/* Read cache (spool_rcache.c): holds the buffers of completed batches, without copying them. */
struct spool_rcbuf;
int spool_rcache_init(struct spool *sp);
void spool_rcache_free(struct spool *sp);
/* Takes ownership of a completed batch's buffer bb whose records data[0..len) lie at
 * (seq, off). Returns false when it did not take it (no cache, too large, no memory): the caller
 * keeps bb. */
bool spool_rcache_adopt(struct spool *sp, uint32_t seq, uint64_t off, struct spool_buf bb,
			const uint8_t *data, uint32_t len);
/* Batch buffers: a buffer of at least `bytes` (and at least SPOOL_BUF_STD: the spares then
 * match), zero-filled when new, a kept spare when there is one (the one whose pages best fit
 * `expect`, the bytes the batch will likely write); -ENOMEM. put hands one back (a spare, or
 * its memory to spool_buf.c); mem NULL is ignored. Never free() them. */
#define SPOOL_BUF_STD (2u << 20)
int spool_buf_get(struct spool *sp, uint32_t bytes, uint32_t expect, struct spool_buf *out);
/* spool_buf.c: cold batch buffer memory. A SPOOL_BUF_STD buffer is a slot of a larger mapping
 * (a slab), so the process keeps a few VMAs however many buffers the cache holds; a larger one
 * is a mapping of its own. take: 0 or -ENOMEM (hwm 0). give: the pages go back to the kernel
 * (the slot stays mapped until its slab is empty). fini: unmaps everything. */
int spool_bufmem_take(struct spool *sp, uint32_t size, struct spool_buf *out);
void spool_bufmem_give(struct spool *sp, struct spool_buf bb);
void spool_bufmem_fini(struct spool *sp);
/* ASan does not see into these mappings: memory nobody may use (a spare waiting, a free slot)
 * is poisoned, so a reader that kept a pointer past its last reference is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SPOOL_BUF_POISON(m, n)   ASAN_POISON_MEMORY_REGION(m, n)
#define SPOOL_BUF_UNPOISON(m, n) ASAN_UNPOISON_MEMORY_REGION(m, n)
#else
#define SPOOL_BUF_POISON(m, n)   ((void)(m), (void)(n))
#define SPOOL_BUF_UNPOISON(m, n) ((void)(m), (void)(n))
#endif
void spool_buf_put(struct spool *sp, struct spool_buf bb);
/* Records that a batch used `written` bytes of bb from its start: hwm covers them. */
void spool_buf_touched(struct spool_buf *bb, uint64_t written);
/* The whole record (seq, off, len) in cached memory, or NULL. On success *ref holds a reference
 * that keeps those bytes valid and unchanged (even after eviction) until spool_rcache_unref. */
const uint8_t *spool_rcache_ref(struct spool *sp, uint32_t seq, uint64_t off, uint32_t len,
				struct spool_rcbuf **ref);
void spool_rcache_unref(struct spool *sp, struct spool_rcbuf *ref); /* NULL: nothing */

/* spool_compact.c */
void spool_compact_poll(struct spool *sp);
void spool_compact_free(struct spool *sp);
void spool_compact_done(struct spool *sp, const struct spool_bent *e, int result);

/* spool_body.c */
void spool_body_read_done(struct spool *sp, struct spool_body *b, int res);
int spool_body_ready_run(struct spool *sp);
/* Internal readers report to fn instead of the caller's body callback; is_prefix tells the
 * stored prefix from body bytes. */
typedef void (*spool_body_fn)(void *arg, struct spool_body *b, int result, const uint8_t *data,
			      uint32_t len, bool is_prefix);
void spool_body_set_fn(struct spool_body *b, spool_body_fn fn, void *arg);
/* Shutdown: empties the ready list, freeing readers already closed. */
void spool_body_drop_ready(struct spool *sp);

#endif
