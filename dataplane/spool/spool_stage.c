/* SPDX-License-Identifier: MIT */
/*
 * spool_stage.c: staging and group commit. Records of one loop turn are laid out contiguously in
 * the stage buffer, bound to the active segment at the offset they will occupy; spool_poll()
 * hands the buffer to io_uring as ONE write, followed (IOSQE_IO_LINK) by ONE fdatasync when the
 * batch holds anything that must be durable (commits, outcomes). Only one batch is in flight:
 * while it syncs, the next turn's records accumulate, so batches grow with load and the cost of
 * an fdatasync is shared by every message of the batch. Acknowledgements leave only from
 * spool_batch_done(), i.e. after the completion of the fdatasync that covers them.
 * In direct mode (spool_dio.c) the write starts at the block boundary before the batch (the
 * segment's last partial block is copied in front of the records) and ends padded with zeros,
 * and a batch that must be durable is usually ONE write with RWF_DSYNC instead of write +
 * fdatasync.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BATCH_PAD 4096u /* room for the head block and the padding besides the records */
#define BATCH_MIN_CAP (32u << 10) /* record bytes a stage buffer has at least (SPOOL_BUF_STD) */

static void batch_reset(struct spool_batch *b)
{
	b->head = 0;
	b->buf = b->bb.mem;
	b->wlen = 0;
	b->len = 0;
	b->seg = NULL;
	b->off = 0;
	b->sync = false;
	b->dsync = false;
	b->readable = false;
	b->also_sync = NULL;
	b->nents = 0;
	b->result = 0;
	b->pending = 0;
}

/* (Re)allocates the buffer of b for at least cap record bytes, aligned for direct I/O, keeping
 * what is staged (the old buffer goes back to the spool's spares). Layout: mem (aligned: where
 * the write starts) = the head block (direct mode), then the records at buf = mem + head, then
 * the zero padding to the next block. b->cap is what the buffer holds. */
static int batch_alloc(struct spool *sp, struct spool_batch *b, uint32_t cap)
{
	struct spool_buf nb;
	if (spool_buf_get(sp, cap + 2u * BATCH_PAD, cap + 2u * BATCH_PAD, &nb))
		return -ENOMEM;
	if (b->bb.mem) {
		memcpy(nb.mem, b->bb.mem, b->head + b->len);
		spool_buf_touched(&nb, b->head + b->len);
		spool_buf_touched(&b->bb, b->head + b->len);
		spool_buf_put(sp, b->bb);
	}
	b->bb = nb;
	b->buf = nb.mem + b->head;
	b->cap = nb.size - 2u * BATCH_PAD;
	return 0;
}

int spool_stage_init(struct spool *sp)
{
	if (!sp->tailblk && !(sp->tailblk = malloc(BATCH_PAD)))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		struct spool_batch *b = &sp->b[i];
		b->entcap = 256;
		b->ents = malloc(b->entcap * sizeof(*b->ents));
		if (!b->ents || batch_alloc(sp, b, sp->rc ? BATCH_MIN_CAP : 1u << 20))
			return -ENOMEM;
		batch_reset(b);
	}
	sp->stage = &sp->b[0];
	sp->flight = NULL;
	return 0;
}

void spool_stage_fini(struct spool *sp)
{
	for (int i = 0; i < 2; i++) {
		struct spool_batch *b = &sp->b[i];
		/* Messages of unfinished batches were never acknowledged: drop them silently. */
		for (uint32_t k = 0; k < b->nents; k++)
			if (b->ents[k].kind == SPOOL_BENT_COMMIT)
				free(b->ents[k].msg);
		spool_buf_put(sp, b->bb);
		b->bb.mem = NULL;
		free(b->ents);
	}
	free(sp->tailblk);
}

static int grow(struct spool *sp, struct spool_batch *b, uint32_t need)
{
	if (need <= b->cap)
		return 0;
	uint32_t cap = b->cap;
	while (cap < need)
		cap *= 2;
	return batch_alloc(sp, b, cap);
}

/* Binds an empty stage to the segment its records go to; a fresh segment starts with SEGHDR. */
static int stage_bind(struct spool *sp)
{
	struct spool_batch *b = sp->stage;
	struct spool_seg *s = spool_seg_for_stage(sp);
	if (!s)
		return -EIO;
	b->seg = s;
	b->off = s->size;
	b->gen = ++sp->batch_gen;
	if (sp->direct && s->size % sp->align) {
		/* the write starts at the block boundary: the partial block already written is
		 * written again, identical, in front of the records */
		uint32_t head = (uint32_t)(s->size % sp->align);
		if (sp->tail_seq != s->seq || sp->tail_off != s->size - head)
			return -EIO; /* never: every batch leaves its last block in tailblk */
		memcpy(b->bb.mem, sp->tailblk, head);
		b->head = head;
		b->buf = b->bb.mem + head;
	}
	if (s->size == 0) {
		uint8_t hdr[18];
		struct spool_wbuf w = { .p = hdr };
		spool_put32(&w, SPOOL_FORMAT);
		spool_put16(&w, sp->core);
		spool_put32(&w, s->seq);
		spool_put64(&w, sp->now);
		struct spool_part p = { .p = hdr, .len = w.len };
		return spool_stage_rec(sp, SPOOL_REC_SEGHDR, &p, 1, false, NULL);
	}
	return 0;
}

int spool_stage_rec(struct spool *sp, uint8_t type, const struct spool_part *parts, unsigned n,
		    bool chunk, struct spool_chunk_ref *where)
{
	struct spool_batch *b = sp->stage;
	bool sealed = sp->t.encrypt;
	if (sealed && sp->cur_key < 0)
		return -ENOKEY;
	uint32_t plen = 0;
	for (unsigned i = 0; i < n; i++)
		plen += parts[i].len;
	uint32_t len = plen + (sealed ? SPOOL_REC_TAG : 0);
	uint32_t reclen = SPOOL_REC_HDR + len;
	if (len > SPOOL_REC_MAX)
		return -EFBIG;
	if (chunk && b->len + reclen > sp->t.stage_bytes)
		return -EAGAIN;
	int e;
	if (!b->seg && (e = stage_bind(sp)))
		return e;
	if ((e = grow(sp, b, b->len + reclen)))
		return e;
	struct spool_seg *s = b->seg;
	uint64_t off = s->size;
	uint8_t *rec = b->buf + b->len;
	if (type == SPOOL_REC_CHUNK || type == SPOOL_REC_COMMIT)
		b->readable = true;
	struct spool_rec_hdr h = { .magic = SPOOL_REC_MAGIC, .len = len, .type = type };
	if (sealed) {
		h.flags = SPOOL_RF_SEALED;
		h.key_id = sp->keys[sp->cur_key].id;
	}
	spool_rec_hdr_put(rec, &h); /* bytes 0..11 are the AAD and part of the CRC */
	/* Plaintext: the CRC is computed while the parts are copied, and a part whose CRC the
	 * caller already has (the body, CRC'd as it was appended) is combined, not read again. */
	uint32_t crc = spool_crc32c(0, rec, 12), at = SPOOL_REC_HDR;
	for (unsigned i = 0; i < n; i++) {
		uint32_t pl = parts[i].len;
		if (pl)
			memcpy(rec + at, parts[i].p, pl);
		if (!sealed)
			crc = parts[i].has_crc ? spool_crc32c_combine(crc, parts[i].crc, pl)
					       : spool_crc32c(crc, rec + at, pl);
		at += pl;
	}
	if (sealed) {
		/* the CRC covers ciphertext and tag */
		struct spool_key *k = &sp->keys[sp->cur_key];
		uint8_t nonce[12];
		spool_nonce(sp, s->seq, off, nonce);
		if ((e = spool_aead_seal(k->aead, nonce, rec, 12, rec + SPOOL_REC_HDR, plen,
					 rec + SPOOL_REC_HDR + plen)))
			return e;
		spool_seg_note_key(s, k->id);
		crc = spool_crc32c(crc, rec + SPOOL_REC_HDR, len);
	}
	h.crc = crc;
	spool_rec_hdr_put(rec, &h);
	b->len += reclen;
	s->size += reclen;
	sp->avail = sp->avail > reclen ? sp->avail - reclen : 0;
	if (where) {
		where->seq = s->seq;
		where->off = (uint32_t)off;
		where->reclen = reclen;
	}
	return 0;
}

int spool_stage_ent(struct spool *sp, uint8_t kind, uint64_t cookie, struct spool_msg *m)
{
	struct spool_batch *b = sp->stage;
	if (b->nents == b->entcap) {
		struct spool_bent *ne = realloc(b->ents, 2u * b->entcap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		b->ents = ne;
		b->entcap *= 2;
	}
	b->ents[b->nents++] = (struct spool_bent){ .cookie = cookie, .msg = m, .kind = kind };
	if (!b->sync)
		b->sync_since = sp->now;
	b->sync = true;
	return 0;
}

#define COMMIT_WINDOW_MAX 256u /* commits that end the window early */

bool spool_stage_waiting(const struct spool *sp)
{
	const struct spool_batch *b = sp->stage;
	return sp->t.commit_delay_us && b->sync && b->nents < COMMIT_WINDOW_MAX &&
	       b->len < sp->t.stage_bytes / 2 && sp->now < b->sync_since + sp->t.commit_delay_us;
}

static void batch_complete(struct spool *sp, struct spool_batch *b);

/* Direct mode: pads the write to the block and keeps its last partial block for the next batch
 * of the segment (which starts by writing it again). */
static void keep_tail(struct spool *sp, struct spool_batch *b, uint64_t wstart)
{
	uint32_t end = b->head + b->len, full = end & ~(sp->align - 1);
	uint8_t *w = b->bb.mem;
	memset(w + end, 0, b->wlen - end);
	sp->tail_seq = 0;
	if (end == full)
		return;
	memcpy(sp->tailblk, w + full, end - full);
	sp->tail_seq = b->seg->seq;
	sp->tail_off = wstart + full;
}

bool spool_stage_flushable(const struct spool *sp)
{
	const struct spool_batch *b = sp->stage;
	if (sp->flight || b->len == 0 || spool_stage_waiting(sp))
		return false;
	if (!sp->direct || b->seg->poisoned)
		return true; /* a poisoned segment fails the batch at once */
	uint64_t wstart = b->off - b->head;
	return !spool_dio_overlaps_zero(b->seg, wstart, wstart + spool_dio_round(sp, b->head + b->len));
}

void spool_stage_flush(struct spool *sp)
{
	struct spool_batch *b = sp->stage;
	if (!spool_stage_flushable(sp))
		return; /* nothing staged, in flight, commit window, or the zero-fill step ahead */
	struct spool_seg *s = b->seg;
	if (s->poisoned) {
		/* Staged for a segment whose previous write or sync failed meanwhile: nothing more is
		 * appended to it, so this batch fails as a whole (its messages get 451). */
		b->result = -EIO;
		sp->flight = b;
		sp->stage = b == &sp->b[0] ? &sp->b[1] : &sp->b[0];
		batch_reset(sp->stage);
		batch_complete(sp, b);
		return;
	}
	/* A segment that reached its size is synced now: the next batch goes to a new segment and
	 * must never leave chunks of this one unsynced behind it. */
	if (s->size >= sp->t.segment_bytes)
		b->sync = true;
	if (b->sync && sp->prev_dirty && sp->prev_dirty != s && !sp->prev_dirty->poisoned)
		b->also_sync = sp->prev_dirty;
	uint64_t wstart = b->off - b->head;
	b->wlen = sp->direct ? spool_dio_round(sp, b->head + b->len) : b->len;
	if (io_uring_sq_space_left(&sp->ring) < 3)
		io_uring_submit(&sp->ring);
	if (sp->direct)
		keep_tail(sp, b, wstart);
	struct io_uring_sqe *sqe = spool_sqe(sp, b, SPOOL_OP_WRITE);
	io_uring_prep_write(sqe, s->fd, b->bb.mem, b->wlen, wstart);
	b->pending = 1;
	if (b->sync && sp->direct && !s->dirty && !b->also_sync) {
		/* one durable write: RWF_DSYNC completes after the device cache flush (or as a FUA
		 * write); with no io-wq hand-off for a separate fdatasync. Only when nothing written
		 * before in this segment waits for a sync: a FUA write makes itself durable, not
		 * earlier writes (those batches take the fdatasync below). */
		sqe->rw_flags = RWF_DSYNC;
		b->dsync = true;
		sp->st.fdatasyncs++;
	} else if (b->sync) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = spool_sqe(sp, b, SPOOL_OP_FSYNC);
		io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
		b->pending++;
		sp->st.fdatasyncs++;
		if (b->also_sync) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = spool_sqe(sp, b, SPOOL_OP_FSYNC);
			io_uring_prep_fsync(sqe, b->also_sync->fd, IORING_FSYNC_DATASYNC);
			b->pending++;
			sp->st.fdatasyncs++;
			sp->prev_dirty = NULL;
		}
	}
	s->dirty = !b->sync;
	spool_trace(sp, 'W');
	sp->st.batches++;
	sp->st.bytes_written += b->wlen;
	sp->flight = b;
	sp->stage = b == &sp->b[0] ? &sp->b[1] : &sp->b[0];
	batch_reset(sp->stage);
}

/* Hands the buffer of a written batch to the read cache (no copy) and gives the batch a new one
 * (a spare: the cache accounts what a buffer holds, not its size). Without a cache, or when
 * either step fails, the batch keeps its buffer and the records are simply not cached. A batch
 * of state records only (delivery outcomes: half the batches at a low rate) is never read
 * back: it keeps its buffer rather than take a cache entry and a mapping. */
static void batch_to_cache(struct spool *sp, struct spool_batch *b)
{
	if (!sp->rc || b->len == 0 || !b->readable)
		return;
	struct spool_buf nb;
	uint32_t used = b->wlen > b->head + b->len ? b->wlen : b->head + b->len;
	/* the next batch will likely write about what this one did */
	if (spool_buf_get(sp, BATCH_MIN_CAP + 2u * BATCH_PAD, used, &nb))
		return;
	spool_buf_touched(&b->bb, used);
	if (!spool_rcache_adopt(sp, b->seg->seq, b->off, b->bb, b->buf, b->len)) {
		spool_buf_put(sp, nb);
		return;
	}
	b->bb = nb;
	b->buf = nb.mem;
	b->head = 0;
	b->cap = nb.size - 2u * BATCH_PAD;
}

static void batch_complete(struct spool *sp, struct spool_batch *b)
{
	int r = b->result;
	sp->flight = NULL;
	if (r < 0) {
		b->seg->poisoned = true;
		if (b->also_sync)
			b->also_sync->poisoned = true;
		sp->st.io_errors++;
		if (b->gen > sp->fail_gen)
			sp->fail_gen = b->gen;
		log_warn("spool core=%u seg=%s op=commit err=%d msgs=%u: segment closed",
			 sp->core, b->seg->name, r, b->nents);
	}
	if (r == 0)
		batch_to_cache(sp, b); /* before readers start */
	for (uint32_t i = 0; i < b->nents; i++) {
		struct spool_bent *e = &b->ents[i];
		struct spool_msg *m = e->msg;
		if (e->kind == SPOOL_BENT_RELOC) {
			spool_compact_done(sp, e, r);
			continue;
		}
		if (e->kind == SPOOL_BENT_STATE) {
			struct spool_msg *lm = r < 0 ? spool_index_get(sp, e->cookie) : NULL;
			if (lm)
				spool_stage_state(sp, lm); /* redo in the next batch, new segment */
			continue;
		}
		uint64_t qid = m->qid;
		int rr = r == 0 ? spool_index_put(sp, m) : r;
		if (rr == 0) {
			sp->st.committed++;
			spool_trace(sp, 'A');
			sp->cb.committed(sp->cb.arg, e->cookie, 0, qid);
			continue;
		}
		spool_seg_unref(sp, spool_seg_find(sp, m->home_seq));
		free(m);
		sp->st.commit_failed++;
		spool_trace(sp, 'E');
		sp->cb.committed(sp->cb.arg, e->cookie, rr, qid);
	}
	batch_reset(b);
}

void spool_batch_done(struct spool *sp, struct spool_batch *b, enum spool_op op, int res)
{
	if (op == SPOOL_OP_WRITE && res >= 0 && (uint32_t)res != b->wlen)
		res = -EIO; /* short write: the tail is not on disk */
	if (res == -ECANCELED)
		res = -EIO; /* a linked operation after a failed one */
	if (res < 0 && b->result == 0)
		b->result = res;
	if ((op == SPOOL_OP_FSYNC || (op == SPOOL_OP_WRITE && b->dsync)) && res >= 0)
		spool_trace(sp, 'S'); /* durable */
	if (--b->pending == 0)
		batch_complete(sp, b);
}
