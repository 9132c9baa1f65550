/* SPDX-License-Identifier: MIT */
/*
 * spool_body.c: reading a queued message back for delivery, one record per request, through the
 * spool's io_uring (no blocking read on the lcore). The reader first reads the commit record
 * (prefix header, chunk list, inline tail), then each chunk record in order; every record's CRC
 * (and GCM tag) is checked, chunks must carry the message's queue id and their index, and the
 * end is reported only when the total length and CRC32C of the body match the commit record.
 * An open reader pins the message's first segment, which keeps every later segment too (the
 * segment collector only deletes a prefix).
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum body_state { BODY_COMMIT = 0, BODY_PREFIX, BODY_CHUNK, BODY_TAIL, BODY_END, BODY_DONE };

struct spool_body {
	struct spool *sp;
	struct spool_body *next_ready;
	struct spool_seg *home;
	uint64_t qid, cookie;
	uint32_t commit_seq, commit_off;
	uint8_t *commit;              /* the commit record (the view points into it) */
	uint32_t commit_len;
	struct spool_commit_view v;
	uint8_t *buf;                 /* the chunk record being read */
	uint32_t cap;
	struct spool_chunk_ref cur;
	uint32_t next_chunk;
	uint64_t got;
	uint32_t crc;
	enum body_state st;
	bool busy, closing, queued;
	int res;                      /* piece to report from the ready list */
	const uint8_t *data;
	uint32_t len;
	bool is_prefix;
	spool_body_fn fn;             /* internal reader (compaction): reports here */
	void *fn_arg;
};

void spool_body_set_fn(struct spool_body *b, spool_body_fn fn, void *arg)
{
	b->fn = fn;
	b->fn_arg = arg;
}

struct spool_body *spool_body_open(struct spool *sp, uint64_t qid, int *err)
{
	struct spool_msg *m = spool_index_get(sp, qid);
	struct spool_seg *home = m ? spool_seg_find(sp, m->home_seq) : NULL;
	if (!m || !home) {
		*err = -ENOENT;
		return NULL;
	}
	struct spool_body *b = calloc(1, sizeof(*b));
	if (b)
		b->commit = malloc(m->commit_len);
	if (!b || !b->commit) {
		free(b);
		*err = -ENOMEM;
		return NULL;
	}
	b->sp = sp;
	b->home = home;
	home->readers++;
	b->qid = qid;
	b->commit_seq = m->commit_seq;
	b->commit_off = m->commit_off;
	b->commit_len = m->commit_len;
	*err = 0;
	return b;
}

static void body_free(struct spool_body *b)
{
	if (b->home->readers)
		b->home->readers--;
	free(b->commit);
	free(b->buf);
	free(b);
}

void spool_body_close(struct spool_body *b)
{
	if (b->busy || b->queued) {
		b->closing = true; /* the kernel still writes into our buffer: free on completion */
		return;
	}
	body_free(b);
}

static int submit_read(struct spool_body *b, uint32_t seq, uint32_t off, uint8_t *dst, uint32_t len)
{
	struct spool *sp = b->sp;
	struct spool_seg *s = spool_seg_find(sp, seq);
	if (!s || spool_seg_rfd(s) < 0)
		return -ENOENT;
	if (spool_rcache_get(sp, seq, off, dst, len)) {
		/* fresh record (direct mode): complete the read now; the piece still reaches the
		 * caller from spool_poll through the ready list */
		sp->st.read_cache_hits++;
		b->busy = true;
		spool_body_read_done(sp, b, (int)len);
		return 0;
	}
	struct io_uring_sqe *sqe = spool_sqe(sp, b, SPOOL_OP_READ);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, spool_seg_rfd(s), dst, len, off);
	sp->st.read_disk++;
	b->busy = true;
	return 0;
}

static void make_ready(struct spool_body *b, int res, const uint8_t *data, uint32_t len)
{
	b->res = res;
	b->data = data;
	b->len = len;
	b->is_prefix = false;
	if (!b->queued) {
		b->queued = true;
		b->next_ready = b->sp->ready;
		b->sp->ready = b;
	}
}

/* Moves to the next piece: either in memory (queued for the next poll) or a read submitted. */
static int advance(struct spool_body *b)
{
	for (;;) {
		switch (b->st) {
		case BODY_COMMIT:
			return submit_read(b, b->commit_seq, b->commit_off, b->commit, b->commit_len);
		case BODY_PREFIX:
			b->st = BODY_CHUNK;
			if (b->v.prefix_len) {
				make_ready(b, (int)b->v.prefix_len, b->v.prefix, b->v.prefix_len);
				b->is_prefix = true;
				return 0;
			}
			break;
		case BODY_CHUNK:
			if (b->next_chunk == b->v.nchunks) {
				b->st = BODY_TAIL;
				break;
			}
			spool_commit_chunk(&b->v, b->next_chunk, &b->cur);
			if (b->cur.reclen > b->cap) {
				uint8_t *n = realloc(b->buf, b->cur.reclen);
				if (!n)
					return -ENOMEM;
				b->buf = n;
				b->cap = b->cur.reclen;
			}
			return submit_read(b, b->cur.seq, b->cur.off, b->buf, b->cur.reclen);
		case BODY_TAIL:
			b->st = BODY_END;
			if (b->v.tail_len) {
				b->got += b->v.tail_len;
				b->crc = spool_crc32c(b->crc, b->v.tail, b->v.tail_len);
				make_ready(b, (int)b->v.tail_len, b->v.tail, b->v.tail_len);
				return 0;
			}
			break;
		case BODY_END:
			b->st = BODY_DONE;
			make_ready(b, b->got == b->v.body_len && b->crc == b->v.body_crc ? 0 : -EBADMSG,
				   NULL, 0);
			return 0;
		case BODY_DONE:
			return -EINVAL;
		}
	}
}

int spool_body_next(struct spool_body *b, uint64_t cookie)
{
	if (b->busy || b->queued || b->closing)
		return -EBUSY;
	b->cookie = cookie;
	return advance(b);
}

/* Checks a record read from disk: header, CRC/tag, expected type and length. */
static int open_rec(struct spool *sp, uint32_t seq, uint32_t off, uint8_t *rec, uint32_t reclen,
		    uint8_t type, uint8_t **pl, uint32_t *plen)
{
	struct spool_rec_hdr h;
	spool_rec_hdr_get(rec, &h);
	if (h.magic != SPOOL_REC_MAGIC || h.type != type || h.len != reclen - SPOOL_REC_HDR)
		return -EBADMSG;
	return spool_rec_open(sp, seq, off, rec, &h, pl, plen);
}

static int read_commit(struct spool_body *b)
{
	uint8_t *pl;
	uint32_t plen;
	int e = open_rec(b->sp, b->commit_seq, b->commit_off, b->commit, b->commit_len,
			 SPOOL_REC_COMMIT, &pl, &plen);
	if (e || (e = spool_commit_decode(pl, plen, &b->v)))
		return e;
	if (b->v.qid != b->qid)
		return -EBADMSG;
	b->st = BODY_PREFIX;
	return advance(b);
}

static int read_chunk(struct spool_body *b)
{
	uint8_t *pl;
	uint32_t plen;
	int e = open_rec(b->sp, b->cur.seq, b->cur.off, b->buf, b->cur.reclen, SPOOL_REC_CHUNK, &pl,
			 &plen);
	if (e)
		return e;
	struct spool_rbuf r = { .p = pl, .len = plen };
	uint64_t qid = spool_get64(&r);
	uint32_t idx = spool_get32(&r);
	if (r.bad || qid != b->qid || idx != b->next_chunk)
		return -EBADMSG;
	uint32_t n = plen - r.off;
	b->got += n;
	b->crc = spool_crc32c(b->crc, pl + r.off, n);
	b->next_chunk++;
	make_ready(b, (int)n, pl + r.off, n);
	return 0;
}

void spool_body_read_done(struct spool *sp, struct spool_body *b, int res)
{
	b->busy = false;
	if (b->closing) {
		body_free(b);
		return;
	}
	bool commit = b->st == BODY_COMMIT;
	uint32_t want = commit ? b->commit_len : b->cur.reclen;
	int e = res < 0 ? res : (uint32_t)res != want ? -EIO : commit ? read_commit(b) : read_chunk(b);
	if (e)
		make_ready(b, e, NULL, 0);
	(void)sp;
}

int spool_body_ready_run(struct spool *sp)
{
	int n = 0;
	struct spool_body *list = sp->ready;
	sp->ready = NULL;
	while (list) {
		struct spool_body *b = list;
		list = b->next_ready;
		b->queued = false;
		if (b->closing) {
			body_free(b); /* closed while its piece waited here */
			continue;
		}
		if (b->res < 0)
			b->st = BODY_DONE;
		/* the callback may call spool_body_next (re-queues) or spool_body_close (frees b) */
		if (b->fn)
			b->fn(b->fn_arg, b, b->res, b->data, b->len, b->is_prefix);
		else
			sp->cb.body(sp->cb.arg, b->cookie, b->res, b->data, b->len);
		n++;
	}
	return n;
}

void spool_body_drop_ready(struct spool *sp)
{
	while (sp->ready) {
		struct spool_body *b = sp->ready;
		sp->ready = b->next_ready;
		b->queued = false;
		if (b->closing)
			body_free(b);
	}
}
