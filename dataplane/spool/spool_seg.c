/* SPDX-License-Identifier: MIT */
/*
 * spool_seg.c: the segment files of one core. Segments are named seg-<core>-<seq> and sorted by
 * seq; the last one is active. A spare segment is always prepared ahead through io_uring (openat,
 * then fsync of the directory), so when the active segment is full the next batch goes to a file
 * whose directory entry is already durable: no record in a segment is acknowledged before its
 * name is. Segments are deleted oldest first once no live message has its first record in them
 * (a message's later records - outcomes, state - are always in the same or newer segments, so
 * deleting a dead prefix never loses the state of a live message). The newest segment is never
 * deleted, which keeps the highest sequence number on disk: seq numbers (and with them record
 * nonces and queue ids) are never reused.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void spool_seg_name(const struct spool *sp, uint32_t seq, char *buf, size_t cap)
{
	snprintf(buf, cap, "seg-%03u-%08x", sp->core, seq);
}

struct spool_seg *spool_seg_find(const struct spool *sp, uint32_t seq)
{
	uint32_t lo = 0, hi = sp->nsegs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sp->segs[mid]->seq == seq)
			return sp->segs[mid];
		if (sp->segs[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct spool_seg *spool_seg_active(const struct spool *sp)
{
	return sp->nsegs ? sp->segs[sp->nsegs - 1] : NULL;
}

/* Keeps segs sorted; recovery inserts in order, the runtime only appends. */
int spool_seg_insert(struct spool *sp, struct spool_seg *s)
{
	if (sp->nsegs == sp->segcap) {
		uint32_t cap = sp->segcap ? 2 * sp->segcap : 64;
		struct spool_seg **n = realloc(sp->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		sp->segs = n;
		sp->segcap = cap;
	}
	uint32_t i = sp->nsegs;
	while (i > 0 && sp->segs[i - 1]->seq > s->seq) {
		sp->segs[i] = sp->segs[i - 1];
		i--;
	}
	sp->segs[i] = s;
	sp->nsegs++;
	if (s->seq >= sp->next_seq)
		sp->next_seq = s->seq + 1;
	return 0;
}

static struct spool_seg *seg_new(struct spool *sp, uint32_t seq)
{
	struct spool_seg *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->seq = seq;
	s->fd = -1;
	s->rfd = -1;
	spool_seg_name(sp, seq, s->name, sizeof(s->name));
	return s;
}

static void activated(struct spool *sp, struct spool_seg *s)
{
	if (s->seq > sp->qid_seq) {
		sp->qid_seq = s->seq;
		sp->qid_ctr = 0;
	}
}

/* Start-up only (blocking): creates the first segment of this run and makes its name durable. */
int spool_seg_open_active(struct spool *sp, uint64_t now_us)
{
	if (sp->next_seq == 0)
		sp->next_seq = 1;
	struct spool_seg *s = seg_new(sp, sp->next_seq);
	if (!s)
		return -ENOMEM;
	int e = spool_dio_open_seg(sp, s, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC);
	if (!e && fsync(sp->dirfd) < 0)
		e = -errno;
	if (!e)
		e = spool_seg_insert(sp, s);
	if (e) {
		if (s->fd >= 0)
			close(s->fd);
		if (s->rfd >= 0)
			close(s->rfd);
		free(s);
		return e;
	}
	sp->st.segments_created++;
	activated(sp, s);
	return 0;
}

int spool_seg_next_qid(struct spool *sp, uint64_t *qid)
{
	if (sp->qid_ctr >= (1u << SPOOL_QID_CTR_BITS)) {
		if (sp->spare_state != SPOOL_SPARE_READY)
			return -EAGAIN;
		activated(sp, sp->spare);
	}
	*qid = (uint64_t)sp->core << 56 | (uint64_t)sp->qid_seq << SPOOL_QID_CTR_BITS | sp->qid_ctr++;
	return 0;
}

struct spool_seg *spool_seg_for_stage(struct spool *sp)
{
	struct spool_seg *a = spool_seg_active(sp);
	bool roll = !a || a->poisoned || a->size >= sp->t.segment_bytes;
	if (!roll)
		return a;
	if (sp->spare_state != SPOOL_SPARE_READY)
		return a && !a->poisoned ? a : NULL; /* size is soft; a poisoned one is never used */
	struct spool_seg *s = sp->spare;
	if (spool_seg_insert(sp, s))
		return NULL;
	sp->spare = NULL;
	sp->spare_state = SPOOL_SPARE_NONE;
	if (a && a->dirty && !a->poisoned)
		sp->prev_dirty = a;
	activated(sp, s);
	return s;
}

void spool_seg_spare_kick(struct spool *sp)
{
	if (sp->spare_state != SPOOL_SPARE_NONE || sp->now < sp->spare_retry_us || sp->nsegs == 0)
		return;
	struct spool_seg *s = seg_new(sp, sp->next_seq++);
	if (!s)
		return;
	sp->spare = s;
	sp->spare_state = SPOOL_SPARE_OPENING;
	struct io_uring_sqe *sqe = spool_sqe(sp, sp, SPOOL_OP_SPARE_OPEN);
	int dio = sp->direct ? O_DIRECT : 0;
	io_uring_prep_openat(sqe, sp->dirfd, s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | dio, 0600);
}

void spool_seg_spare_done(struct spool *sp, enum spool_op op, int res)
{
	struct spool_seg *s = sp->spare;
	if (op == SPOOL_OP_SPARE_OPEN && res >= 0 && sp->spare_state == SPOOL_SPARE_OPENING &&
	    sp->direct) {
		s->fd = res; /* O_DIRECT for writes; then a buffered descriptor for readers */
		sp->spare_state = SPOOL_SPARE_OPENING_R;
		struct io_uring_sqe *sqe = spool_sqe(sp, sp, SPOOL_OP_SPARE_OPEN);
		io_uring_prep_openat(sqe, sp->dirfd, s->name, O_RDONLY | O_CLOEXEC, 0);
		return;
	}
	if (op == SPOOL_OP_SPARE_OPEN && res >= 0) {
		if (sp->spare_state == SPOOL_SPARE_OPENING_R)
			s->rfd = res;
		else
			s->fd = res;
		sp->spare_state = SPOOL_SPARE_SYNCING;
		struct io_uring_sqe *sqe = spool_sqe(sp, sp, SPOOL_OP_SPARE_DSYNC);
		io_uring_prep_fsync(sqe, sp->dirfd, 0);
		return;
	}
	if (op == SPOOL_OP_SPARE_DSYNC && res >= 0) {
		sp->spare_state = SPOOL_SPARE_READY;
		sp->st.segments_created++;
		return;
	}
	log_warn("spool core=%u seg=%s op=%s err=%d: retrying in 1s", sp->core, s->name,
		 op == SPOOL_OP_SPARE_OPEN ? "create" : "dirsync", res);
	sp->st.io_errors++;
	if (s->fd >= 0)
		close(s->fd); /* an empty file: the next recovery removes it */
	if (s->rfd >= 0)
		close(s->rfd);
	free(s);
	sp->spare = NULL;
	sp->spare_state = SPOOL_SPARE_NONE;
	sp->spare_retry_us = sp->now + 1000000;
}

void spool_seg_note_key(struct spool_seg *s, uint16_t key_id)
{
	for (uint8_t i = 0; i < s->nkeys; i++)
		if (s->keys[i] == key_id)
			return;
	if (s->nkeys < 4)
		s->keys[s->nkeys++] = key_id;
	else
		s->keys_many = true;
}

void spool_seg_unref(struct spool *sp, struct spool_seg *s)
{
	if (s && s->live)
		s->live--;
}

static bool seg_busy(const struct spool *sp, const struct spool_seg *s)
{
	return s->live || s->readers || s->zpending || s == sp->stage->seg || (sp->flight && sp->flight->seg == s) ||
	       (sp->flight && sp->flight->also_sync == s) || s == sp->prev_dirty;
}

void spool_seg_gc(struct spool *sp)
{
	while (sp->nsegs > 1 && !seg_busy(sp, sp->segs[0])) {
		struct spool_seg *s = sp->segs[0];
		if (io_uring_sq_space_left(&sp->ring) < 3)
			io_uring_submit(&sp->ring);
		struct io_uring_sqe *sqe;
		if (s->rfd >= 0) {
			sqe = spool_sqe(sp, NULL, SPOOL_OP_IGNORE);
			io_uring_prep_close(sqe, s->rfd);
			s->rfd = -1;
		}
		sqe = spool_sqe(sp, NULL, SPOOL_OP_IGNORE);
		io_uring_prep_close(sqe, s->fd);
		sqe->flags |= IOSQE_IO_LINK;
		sqe = spool_sqe(sp, s, SPOOL_OP_UNLINK);
		io_uring_prep_unlinkat(sqe, sp->dirfd, s->name, 0);
		s->fd = -1;
		memmove(&sp->segs[0], &sp->segs[1], (sp->nsegs - 1) * sizeof(sp->segs[0]));
		sp->nsegs--;
	}
}

void spool_seg_unlinked(struct spool *sp, struct spool_seg *s, int res)
{
	if (res < 0)
		log_warn("spool core=%u seg=%s op=unlink err=%d", sp->core, s->name, res);
	else
		sp->st.segments_deleted++;
	free(s);
}

void spool_seg_free_all(struct spool *sp)
{
	for (uint32_t i = 0; i < sp->nsegs; i++) {
		if (sp->segs[i]->fd >= 0)
			close(sp->segs[i]->fd);
		if (sp->segs[i]->rfd >= 0)
			close(sp->segs[i]->rfd);
		free(sp->segs[i]);
	}
	free(sp->segs);
	sp->segs = NULL;
	sp->nsegs = 0;
	if (sp->spare) {
		if (sp->spare->fd >= 0)
			close(sp->spare->fd);
		if (sp->spare->rfd >= 0)
			close(sp->spare->rfd);
		free(sp->spare);
		sp->spare = NULL;
	}
}
