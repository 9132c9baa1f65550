/* SPDX-License-Identifier: MIT */
/*
 * spool.c: life cycle of a per-core spool and its poll loop: creation (directory, io_uring),
 * keys for encryption at rest, the completion dispatcher, the free-space guard and counters.
 * Staging and group commit live in spool_stage.c, segment files in spool_seg.c.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"

void spool_tunables_defaults(struct spool_tunables *t)
{
	memset(t, 0, sizeof(*t));
	t->dir = "spool";
	t->segment_bytes = 64ull << 20;
	t->chunk_bytes = 32u << 10;
	t->stage_bytes = 16u << 20;
	t->ring_entries = 256;
	t->min_free_bytes = 256ull << 20;
	t->space_check_us = 1000000;
	t->max_rcpts = 1000;
	t->compact_min_segments = 8;
	t->compact_max_live = 64;
	t->encrypt = false;
	t->direct_io = SPOOL_DIO_AUTO;
	t->prezero_bytes = 4u << 20;
	t->read_cache_bytes = 64u << 20;
}

static int check_tunables(const struct spool_tunables *t)
{
	if (!t->dir || t->segment_bytes < 4096 || t->segment_bytes > (3ull << 30) ||
	    t->chunk_bytes < 512 || t->chunk_bytes > (1u << 20) ||
	    t->stage_bytes < 4 * t->chunk_bytes || t->stage_bytes > (256u << 20) ||
	    t->ring_entries < 16 || t->max_rcpts == 0 || (unsigned)t->direct_io > SPOOL_DIO_OFF ||
	    t->read_cache_bytes > (1u << 30))
		return -EINVAL;
	return 0;
}

static int mkdir_p(const char *d)
{
	if (mkdir(d, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

struct spool *spool_create(const struct spool_tunables *t, unsigned core,
			   const struct spool_callbacks *cb, int *err)
{
	int e = check_tunables(t);
	if (e || core > 255) {
		*err = -EINVAL;
		return NULL;
	}
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!sp) {
		*err = -ENOMEM;
		return NULL;
	}
	sp->t = *t;
	sp->core = (uint16_t)core;
	sp->cb = *cb;
	sp->dirfd = -1;
	sp->cur_key = -1;
	sp->dir = strdup(t->dir);
	if (t->quarantine_dir)
		sp->qdir = strdup(t->quarantine_dir);
	else if (sp->dir && asprintf(&sp->qdir, "%s/quarantine", t->dir) < 0)
		sp->qdir = NULL;
	e = -ENOMEM;
	if (!sp->dir || !sp->qdir)
		goto err;
	sp->t.dir = sp->dir;
	sp->t.quarantine_dir = sp->qdir;
	if ((e = mkdir_p(sp->dir)) || (e = mkdir_p(sp->qdir)))
		goto err;
	sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		e = -errno;
		goto err;
	}
	/* No IORING_SETUP_COOP_TASKRUN: a DPDK lcore may make no syscall for a long time, and
	 * cooperative task running would hold completions back until it does (with TASKRUN_FLAG
	 * and io_uring_get_events it works, but measured no better here: docs/spool.md). */
	e = io_uring_queue_init(t->ring_entries, &sp->ring, 0);
	if (e < 0)
		goto err;
	sp->ring_ok = true;
	if ((e = spool_rcache_init(sp)) || (e = spool_stage_init(sp)) ||
	    (e = spool_index_init(sp, 1024)))
		goto err;
	sp->space_next_us = 0;
	*err = 0;
	return sp;
err:
	spool_free(sp);
	*err = e;
	return NULL;
}

/* Waits for every operation still in the kernel (buffers must outlive them) and releases what
 * the completions own, without calling back: nothing unreported was ever acknowledged. */
static void drain(struct spool *sp)
{
	io_uring_submit(&sp->ring);
	while (sp->inflight) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&sp->ring, &cqe))
			break;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&sp->ring, cqe);
		sp->inflight--;
		enum spool_op op = (enum spool_op)(ud & 7u);
		void *obj = (void *)(uintptr_t)(ud & ~(uint64_t)7u);
		if (op == SPOOL_OP_UNLINK)
			free(obj);
		else if (op == SPOOL_OP_READ)
			spool_body_read_done(sp, obj, -ECANCELED);
		else if (op == SPOOL_OP_SPARE_OPEN && res >= 0 && sp->spare && sp->spare->fd < 0)
			sp->spare->fd = res;
		else if (op == SPOOL_OP_SPARE_OPEN && res >= 0 && sp->spare)
			sp->spare->rfd = res;
	}
	spool_body_drop_ready(sp); /* readers not closed by the caller are the caller's leak */
}

void spool_free(struct spool *sp)
{
	if (!sp)
		return;
	if (sp->nsegs) /* recovered: it ran */
		log_info("spool core=%u stats committed=%" PRIu64 " batches=%" PRIu64 " syncs=%" PRIu64
			 " bytes_written=%" PRIu64 " zero_bytes=%" PRIu64 " read_cache_hits=%" PRIu64
			 " read_disk=%" PRIu64 " buf_maps=%" PRIu64 " io_errors=%" PRIu64, sp->core,
			 sp->st.committed, sp->st.batches, sp->st.fdatasyncs, sp->st.bytes_written,
			 sp->st.zero_bytes, sp->st.read_cache_hits, sp->st.read_disk, sp->st.buf_maps,
			 sp->st.io_errors);
	spool_compact_free(sp); /* before drain: readers still reading are freed by it */
	if (sp->ring_ok) {
		drain(sp);
		io_uring_queue_exit(&sp->ring);
	}
	spool_txn_free_all(sp);
	spool_index_fini(sp);
	spool_stage_fini(sp);
	spool_seg_free_all(sp);
	spool_rcache_free(sp);
	spool_bufmem_fini(sp); /* after everything that gives buffers back */
	free(sp->zeros);
	for (uint32_t i = 0; i < sp->nkeys; i++)
		spool_aead_free(sp->keys[i].aead);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->dir);
	free(sp->qdir);
	free(sp);
}

/* ---- keys ---- */

struct spool_key *spool_key_find(struct spool *sp, uint16_t id)
{
	for (uint32_t i = 0; i < sp->nkeys; i++)
		if (sp->keys[i].id == id)
			return &sp->keys[i];
	return NULL;
}

int spool_key_add(struct spool *sp, uint16_t id, const uint8_t key[32])
{
	if (id == 0 || spool_key_find(sp, id))
		return -EEXIST;
	if (sp->nkeys == SPOOL_MAX_KEYS)
		return -ENOSPC;
	struct spool_aead *a = spool_aead_create(key);
	if (!a)
		return -ENOMEM;
	sp->keys[sp->nkeys].id = id;
	sp->keys[sp->nkeys].aead = a;
	sp->nkeys++;
	return 0;
}

int spool_key_use(struct spool *sp, uint16_t id)
{
	for (uint32_t i = 0; i < sp->nkeys; i++)
		if (sp->keys[i].id == id) {
			sp->cur_key = (int)i;
			return 0;
		}
	return -ENOENT;
}

bool spool_key_in_use(const struct spool *sp, uint16_t id)
{
	if (sp->cur_key >= 0 && sp->keys[sp->cur_key].id == id)
		return true;
	for (uint32_t i = 0; i < sp->nsegs; i++) {
		const struct spool_seg *s = sp->segs[i];
		if (s->keys_many)
			return true;
		for (uint8_t k = 0; k < s->nkeys; k++)
			if (s->keys[k] == id)
				return true;
	}
	return false;
}

int spool_key_remove(struct spool *sp, uint16_t id)
{
	struct spool_key *k = spool_key_find(sp, id);
	if (!k)
		return -ENOENT;
	if (spool_key_in_use(sp, id))
		return -EBUSY;
	uint32_t i = (uint32_t)(k - sp->keys);
	int cur_id = sp->cur_key >= 0 ? sp->keys[sp->cur_key].id : -1;
	spool_aead_free(k->aead);
	memmove(&sp->keys[i], &sp->keys[i + 1], (sp->nkeys - i - 1) * sizeof(sp->keys[0]));
	sp->nkeys--;
	sp->cur_key = -1;
	if (cur_id >= 0)
		spool_key_use(sp, (uint16_t)cur_id);
	return 0;
}

/* Nonce of the record at (core, seq, off): unique because a segment sequence number is never
 * reused (the highest one always stays on disk) and recovered segments are never appended to. */
void spool_nonce(const struct spool *sp, uint32_t seq, uint64_t off, uint8_t nonce[12])
{
	uint64_t a = (uint64_t)seq | (uint64_t)sp->core << 32 | (uint64_t)0x5350 << 48;
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(a >> (8 * i));
	for (int i = 0; i < 4; i++)
		nonce[8 + i] = (uint8_t)(off >> (8 * i));
}

int spool_rec_open(struct spool *sp, uint32_t seq, uint64_t off, uint8_t *rec,
		   const struct spool_rec_hdr *h, uint8_t **payload, uint32_t *plen, bool check_crc)
{
	if (check_crc && spool_rec_crc(rec, h->len) != h->crc)
		return -EBADMSG;
	*payload = rec + SPOOL_REC_HDR;
	*plen = h->len;
	if (!(h->flags & SPOOL_RF_SEALED))
		return sp->t.encrypt ? -EBADMSG : 0; /* with encryption on, plaintext is refused */
	struct spool_key *k = spool_key_find(sp, h->key_id);
	if (!k || h->len < SPOOL_REC_TAG)
		return -EBADMSG;
	uint8_t nonce[12];
	spool_nonce(sp, seq, off, nonce);
	*plen = h->len - SPOOL_REC_TAG;
	return spool_aead_open(k->aead, nonce, rec, 12, *payload, *plen, *payload + *plen);
}

/* ---- io_uring plumbing ---- */

struct io_uring_sqe *spool_sqe(struct spool *sp, void *obj, enum spool_op op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sp->ring);
	if (!sqe) {
		io_uring_submit(&sp->ring); /* full SQ: hand what we have to the kernel */
		sqe = io_uring_get_sqe(&sp->ring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)obj | (uint64_t)op);
	sp->inflight++;
	return sqe;
}

void spool_trace(struct spool *sp, char ev)
{
	if (sp->trace && sp->trace_len + 1 < sp->trace_cap) {
		sp->trace[sp->trace_len++] = ev;
		sp->trace[sp->trace_len] = '\0';
	}
}

static int fault(struct spool *sp, enum spool_fault_point pt, int res)
{
	return sp->fault ? sp->fault(sp->fault_arg, pt, res) : res;
}

static void dispatch(struct spool *sp, uint64_t ud, int res)
{
	enum spool_op op = (enum spool_op)(ud & 7u);
	void *obj = (void *)(uintptr_t)(ud & ~(uint64_t)7u);
	switch (op) {
	case SPOOL_OP_WRITE:
		res = fault(sp, SPOOL_FAULT_WRITE, res);
		if (((struct spool_batch *)obj)->dsync)
			res = fault(sp, SPOOL_FAULT_FSYNC, res); /* the durable write is the sync too */
		spool_batch_done(sp, obj, op, res);
		break;
	case SPOOL_OP_FSYNC:
		spool_batch_done(sp, obj, op, fault(sp, SPOOL_FAULT_FSYNC, res));
		break;
	case SPOOL_OP_SPARE_OPEN:
	case SPOOL_OP_SPARE_DSYNC:
		spool_seg_spare_done(sp, op, res);
		break;
	case SPOOL_OP_UNLINK:
		spool_seg_unlinked(sp, obj, res);
		break;
	case SPOOL_OP_READ:
		spool_body_read_done(sp, obj, res);
		break;
	case SPOOL_OP_ZERO:
		spool_dio_zero_done(sp, obj, res);
		break;
	case SPOOL_OP_IGNORE:
		break;
	}
}

void spool_space_refresh(struct spool *sp, uint64_t now)
{
	if (now < sp->space_next_us)
		return;
	/* fstatvfs reads in-memory superblock counters (no disk I/O): about a microsecond, once per
	 * space_check_us; between refreshes the spool subtracts what it writes itself. */
	struct statvfs vs;
	if (fstatvfs(sp->dirfd, &vs) == 0)
		sp->avail = (uint64_t)vs.f_bavail * vs.f_frsize;
	sp->space_next_us = now + sp->t.space_check_us;
}

int spool_poll(struct spool *sp, uint64_t now)
{
	int n = 0;
	sp->now = now;
	spool_space_refresh(sp, now);
	/* Reader pieces chain within one turn: a piece in memory (prefix, inline tail, end) is
	 * handed out at once, and a record read submitted by a reader's callback usually
	 * completes inside io_uring_submit (page cache), so it is reaped in the next round
	 * instead of the next turn: a small message streams to its delivery connection in one
	 * turn, one TLS record and one write instead of one per piece. Bounded rounds. */
	for (int round = 0; round < 4; round++) {
		struct io_uring_cqe *cqe;
		while (io_uring_peek_cqe(&sp->ring, &cqe) == 0) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(&sp->ring, cqe);
			sp->inflight--;
			dispatch(sp, ud, res);
			n++;
		}
		int r = spool_body_ready_run(sp);
		n += r;
		if (r == 0 && !sp->ready)
			break;
		if (io_uring_sq_ready(&sp->ring))
			io_uring_submit(&sp->ring);
	}
	spool_compact_poll(sp);
	spool_stage_flush(sp);
	spool_dio_prezero(sp);
	spool_seg_spare_kick(sp);
	spool_seg_gc(sp);
	if (io_uring_sq_ready(&sp->ring))
		io_uring_submit(&sp->ring);
	return n;
}

bool spool_busy(const struct spool *sp)
{
	return sp->inflight > 0 || sp->stage->len > 0 || sp->ready != NULL;
}

/* Work the next spool_poll() does, never a wait: a stage held by a write, fdatasync or zero-fill
 * step in flight is not runnable (their completion ends the loop's idle wait; reporting it as
 * work spun the loop without progress until the step's fdatasync completed). */
bool spool_runnable(const struct spool *sp)
{
	return sp->ready != NULL || spool_stage_flushable(sp);
}

int spool_wakeup_fd(const struct spool *sp)
{
	return sp->ring.ring_fd;
}

int spool_space_check(const struct spool *sp, uint64_t size_hint)
{
	return sp->avail >= sp->t.min_free_bytes + size_hint ? 0 : -ENOSPC;
}

size_t spool_reply(int result, uint64_t qid, char *buf, size_t cap)
{
	char q[17];
	int n;
	if (result == 0)
		n = snprintf(buf, cap, "250 2.0.0 Ok: queued as %s\r\n", spool_qid_str(qid, q));
	else if (result == -ENOSPC)
		n = snprintf(buf, cap, "452 4.3.1 Insufficient system storage\r\n");
	else
		n = snprintf(buf, cap, "451 4.3.0 Local error in processing\r\n");
	if (n < 0 || cap == 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* By hand, not snprintf: called for every reply, log line and delivery of a message (a
 * printf of "%016X" costs ~950 instructions, this ~50). */
char *spool_qid_str(uint64_t qid, char *buf)
{
	static const char hex[16] = "0123456789ABCDEF";
	for (int i = 15; i >= 0; i--, qid >>= 4)
		buf[i] = hex[qid & 15];
	buf[16] = '\0';
	return buf;
}

void spool_stats(const struct spool *sp, struct spool_stats *out)
{
	*out = sp->st;
	out->live = sp->count;
}

void spool_set_fault_hook(struct spool *sp, spool_fault_fn fn, void *arg)
{
	sp->fault = fn;
	sp->fault_arg = arg;
}

void spool_set_trace(struct spool *sp, char *buf, size_t cap)
{
	sp->trace = buf;
	sp->trace_cap = cap;
	sp->trace_len = 0;
	if (buf && cap)
		buf[0] = '\0';
}
