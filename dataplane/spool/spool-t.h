/* SPDX-License-Identifier: MIT */
/*
 * spool-t.h: public types of the durable per-core spool. One `struct spool` per worker lcore
 * owns an append-only log of segment files named with its core id; nothing in it is shared
 * with another lcore. Messages stream into it while DATA arrives (chunk records written without
 * a sync), and become live only when their commit record is covered by an fdatasync that has
 * completed (group commit: one write and one fdatasync per loop turn covers every message that
 * finished in that turn). See docs/spool.md for the format and the contracts.
 */
#ifndef DPMAIL_SPOOL_T_H
#define DPMAIL_SPOOL_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conn/conn-t.h"

/* How segments are written (docs/spool.md "Direct I/O"). AUTO: O_DIRECT when the filesystem
 * reports direct-I/O alignment (statx STATX_DIOALIGN: ext4, xfs, btrfs), else buffered writes
 * (tmpfs) with a log line; ON: direct I/O or start-up fails; OFF: buffered writes. */
enum spool_direct_io { SPOOL_DIO_AUTO = 0, SPOOL_DIO_ON, SPOOL_DIO_OFF };

/* Limits and tunables (spool_tunables_defaults() fills the defaults). */
struct spool_tunables {
	const char *dir;              /* spool directory: segments; created if missing */
	const char *quarantine_dir;   /* NULL: <dir>/quarantine */
	uint64_t segment_bytes;       /* soft size of one segment file (64 MiB) */
	uint32_t chunk_bytes;         /* body bytes buffered per message before a chunk record (32 KiB) */
	uint32_t stage_bytes;         /* bytes staged per turn; past it appends get -EAGAIN (16 MiB) */
	uint32_t ring_entries;        /* io_uring SQ size (256) */
	uint64_t min_free_bytes;      /* free-space guard: below it new mail is refused (256 MiB) */
	uint64_t space_check_us;      /* how often spool_poll refreshes the free space (1 s) */
	uint16_t max_rcpts;           /* per message (1000) */
	uint32_t compact_min_segments; /* compaction only with more segments than this (8) */
	uint32_t compact_max_live;    /* copy forward the oldest segment's messages when at most
				       * this many pin it (64); 0 disables compaction */
	bool encrypt;                 /* seal records with AES-256-GCM (needs spool_key_add/use) */
	enum spool_direct_io direct_io; /* AUTO */
	uint32_t prezero_bytes;       /* direct I/O: the active segment is zero-filled (and that made
				       * durable) this far ahead of the write position, so commits
				       * overwrite allocated blocks and their fdatasync has no metadata
				       * to write (4 MiB; 0: no zero-fill) */
	uint32_t read_cache_bytes;    /* the buffers of the most recently written batches kept in
				       * memory for body readers (fresh mail is delivered from here,
				       * not read back from disk); whole buffers count (64 MiB; 0:
				       * none). Buffers a reader still holds live on past it. */
	uint32_t commit_delay_us;     /* group commit window: a batch with commits is written this
				       * long after its first commit (or at 256 commits), so more
				       * messages share one durable write: latency for CPU (0: at the
				       * next spool_poll) */
};

/* A string given by the caller as (pointer, length); it need not be NUL-terminated. */
struct spool_str {
	const char *p;
	uint16_t len;
};

/* DSN parameters of one recipient (RFC 3461). */
enum spool_notify {
	SPOOL_NOTIFY_SUCCESS = 1u << 0,
	SPOOL_NOTIFY_FAILURE = 1u << 1,
	SPOOL_NOTIFY_DELAY = 1u << 2,
	SPOOL_NOTIFY_NEVER = 1u << 3,
};

enum spool_ret { SPOOL_RET_NONE = 0, SPOOL_RET_FULL, SPOOL_RET_HDRS };

/* What the message asked of every hop (MAIL FROM parameters as received); delivery honours
 * them (docs/deliver.md "Message flags"). Unknown bits read from disk are kept and ignored. */
enum spool_msg_flag {
	SPOOL_MF_8BITMIME = 1u << 0,    /* BODY=8BITMIME (RFC 6152) */
	SPOOL_MF_BINARYMIME = 1u << 1,  /* BODY=BINARYMIME (RFC 3030); not accepted inbound today */
	SPOOL_MF_SMTPUTF8 = 1u << 2,    /* SMTPUTF8 (RFC 6531) */
	SPOOL_MF_REQUIRETLS = 1u << 3,  /* REQUIRETLS (RFC 8689) */
};

/* Per-message delivery marks kept with the retry state (durable through spool_mark()). */
enum spool_mark {
	SPOOL_MARK_DELAY_WARNED = 1u << 0,  /* a "delayed" DSN was sent (RFC 3464) */
};

struct spool_rcpt {
	struct spool_str addr;        /* forward-path, without <> */
	struct spool_str orcpt;       /* ORCPT= value as received (xtext), may be empty */
	uint8_t notify;               /* enum spool_notify bits, 0 = not given */
};

/* The envelope of a message; copied by spool_msg_begin(), the caller keeps ownership. */
struct spool_envelope {
	uint64_t arrival_us;          /* wall clock (unix microseconds), given by the caller */
	uint32_t snapshot;            /* config snapshot version that accepted the message */
	struct conn_addr client;      /* submitting client */
	struct spool_str sender;      /* reverse-path, may be empty (null sender) */
	struct spool_str envid;       /* ENVID= (xtext), may be empty */
	uint8_t ret;                  /* enum spool_ret */
	uint16_t nrcpt;
	const struct spool_rcpt *rcpts;
	uint32_t flags;               /* enum spool_msg_flag bits; 0 = none */
	struct spool_str tenant;      /* the relay.clients entry that accepted it; may be empty */
};

/* Per-recipient state; everything but PENDING is final. */
enum spool_rcpt_status {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_DELIVERED,
	SPOOL_RCPT_BOUNCED,
	SPOOL_RCPT_EXPIRED,
	SPOOL_RCPT__MAX
};

/*
 * Callbacks, all invoked from spool_poll() only (never from inside the call that queued the
 * work), so a caller may free its session from a callback.
 *   committed: result 0 = the message is on stable storage under queue id `qid` (answer 250);
 *              -ENOSPC = out of space (452 4.3.1); any other -errno = not accepted (451 4.3.0).
 *   body:      a body reader's piece: result > 0 is the number of bytes at data (valid until the
 *              next spool call on that reader); 0 = end of body, integrity verified; -errno =
 *              unreadable (the message cannot be delivered from this spool).
 */
struct spool_callbacks {
	void (*committed)(void *arg, uint64_t cookie, int result, uint64_t qid);
	void (*body)(void *arg, uint64_t cookie, int result, const uint8_t *data, uint32_t len);
	void *arg;
};

/* Counters (per core; read by the control plane through spool_stats()). */
struct spool_stats {
	uint64_t committed;           /* messages acknowledged */
	uint64_t commit_failed;       /* messages answered with an error */
	uint64_t batches;             /* writes submitted */
	uint64_t fdatasyncs;          /* fdatasyncs submitted */
	uint64_t bytes_written;
	uint64_t outcomes;
	uint64_t dead;                /* messages whose recipients all became final */
	uint64_t segments_created;
	uint64_t segments_deleted;
	uint64_t io_errors;           /* failed writes or syncs */
	uint64_t space_refused;       /* begin/append refused by the free-space guard */
	uint64_t relocated;           /* messages copied forward by compaction */
	uint64_t live;                /* messages queued now */
	uint64_t live_bytes;          /* memory held by queued messages (structs + envelopes) */
	/* recovery */
	uint64_t rec_records;
	uint64_t rec_messages;
	uint64_t rec_torn;            /* torn tails truncated */
	uint64_t rec_quarantined;     /* segment tails moved to quarantine */
	uint64_t rec_incomplete;      /* commit records whose chunks were missing */
	uint64_t rec_copies;          /* later copies of a message (compaction) applied */
	/* direct I/O */
	uint64_t direct;              /* 1 when segments are written with O_DIRECT */
	uint64_t zero_bytes;          /* bytes zero-filled ahead of the write position */
	uint64_t read_cache_hits;     /* record reads served from the read cache */
	uint64_t read_disk;           /* record reads submitted to the kernel */
	uint64_t buf_maps;            /* cold batch buffers taken (not a warm spare) */
};

/* Test-build fault hook: called with each write/fsync completion result; returns the result to
 * use (e.g. -EIO to simulate a failed write). Used by the fault-injection tests (libfiu). A
 * durable write (direct I/O, RWF_DSYNC: no separate fdatasync) passes through both points. */
enum spool_fault_point { SPOOL_FAULT_WRITE = 0, SPOOL_FAULT_FSYNC };
typedef int (*spool_fault_fn)(void *arg, enum spool_fault_point pt, int res);

struct spool;
struct spool_msg;
struct spool_txn;
struct spool_body;

/* A recipient as stored in a queued message (pointers into the message; valid while live). */
struct spool_rcpt_view {
	struct spool_str addr;
	struct spool_str orcpt;
	uint8_t notify;
	uint8_t status;               /* enum spool_rcpt_status */
};

#endif
