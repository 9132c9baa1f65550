/* SPDX-License-Identifier: MIT */
/*
 * spool_body.c: reading a queued message back for delivery, one record per request, through the
 * spool's io_uring (no blocking read on the lcore). The reader first reads the commit record
 * (prefix header, chunk list, inline tail), then each chunk record in order; every record's CRC
 * (and GCM tag) is checked, chunks must carry the message's queue id and their index, and the
 * end is reported only when the total length and CRC32C of the body match the commit record.
 * An open reader pins the message's first segment, which keeps every later segment too (the
 * segment collector only deletes a prefix).
 * A record still in the read cache is not copied: the reader holds a reference on the cached
 * batch buffer and hands out pointers into it (sealed records are copied and opened: GCM
 * decrypts in place). Its CRC is not checked again: those are the bytes this process staged and
 * wrote, in memory since. Records read from the file are checked (CRC, GCM tag). The body's
 * end-to-end CRC costs no pass over the bytes either: each piece's CRC is derived from its
 * record's (the piece ends the record: CRC(piece) = CRC(record) ^ CRC(head) * x^(8 |piece|),
 * with the head a few dozen bytes), and combined.
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
	const uint8_t *commit;        /* the commit record (the view points into it): cbuf or cache */
	uint8_t *cbuf;                /* owned copy of the commit record (read from the file) */
	struct spool_rcbuf *cref;     /* cached commit record: held while the reader is open */
	uint32_t commit_len;
	struct spool_commit_view v;
	uint32_t tail_crc;            /* CRC32C of the commit record's inline tail */
	const uint8_t *chunk;         /* the chunk record being read: buf or cache */
	uint8_t *buf;                 /* owned chunk record buffer (reads from the file) */
	uint32_t cap;
	struct spool_rcbuf *kref;     /* cached chunk record: held until the next request */
	bool cached;                  /* the record just read came from the read cache */
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
	if (!b) {
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
	spool_rcache_unref(b->sp, b->cref);
	spool_rcache_unref(b->sp, b->kref);
	free(b->cbuf);
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

/* The reader's own buffer for the commit record or a chunk record of len bytes. */
static uint8_t *own_buf(struct spool_body *b, bool commit, uint32_t len)
{
	if (commit) {
		if (!b->cbuf)
			b->cbuf = malloc(b->commit_len);
		return b->cbuf;
	}
	if (len > b->cap) {
		uint8_t *n = realloc(b->buf, len);
		if (!n)
			return NULL;
		b->buf = n;
		b->cap = len;
	}
	return b->buf;
}

/* Reads the commit record (commit) or the current chunk record: from the read cache when it is
 * there (completes at once; the piece still reaches the caller from spool_poll through the
 * ready list), else through io_uring into the reader's buffer. */
static int submit_read(struct spool_body *b, bool commit, uint32_t seq, uint32_t off, uint32_t len)
{
	struct spool *sp = b->sp;
	struct spool_seg *s = spool_seg_find(sp, seq);
	if (!s || spool_seg_rfd(s) < 0)
		return -ENOENT;
	struct spool_rcbuf *ref = NULL;
	const uint8_t *p = spool_rcache_ref(sp, seq, off, len, &ref);
	uint8_t *dst = NULL;
	if (p && len > 9 && (p[9] & SPOOL_RF_SEALED)) {
		/* sealed: GCM decrypts in place, so into our own buffer */
		if ((dst = own_buf(b, commit, len)))
			memcpy(dst, p, len);
		spool_rcache_unref(sp, ref);
		p = dst;
		ref = NULL;
	}
	if (p) {
		sp->st.read_cache_hits++;
		if (commit) {
			b->commit = p;
			b->cref = ref;
		} else {
			b->chunk = p;
			b->kref = ref;
		}
		b->cached = true;
		b->busy = true;
		spool_body_read_done(sp, b, (int)len);
		return 0;
	}
	if (!(dst = own_buf(b, commit, len)))
		return -ENOMEM;
	if (commit)
		b->commit = dst;
	else
		b->chunk = dst;
	b->cached = false;
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
			return submit_read(b, true, b->commit_seq, b->commit_off, b->commit_len);
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
			return submit_read(b, false, b->cur.seq, b->cur.off, b->cur.reclen);
		case BODY_TAIL:
			b->st = BODY_END;
			if (b->v.tail_len) {
				b->got += b->v.tail_len;
				b->crc = spool_crc32c_combine(b->crc, b->tail_crc, b->v.tail_len);
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
	spool_rcache_unref(b->sp, b->kref); /* the previous piece is the caller's no more */
	b->kref = NULL;
	return advance(b);
}

/* Checks a record: header, expected type and length; CRC and GCM tag when read from the file
 * (a cached record is what this process wrote: a sealed one is still opened, to decrypt it). */
static int open_rec(struct spool_body *b, uint32_t seq, uint32_t off, const uint8_t *rec,
		    uint32_t reclen, uint8_t type, struct spool_rec_hdr *h, const uint8_t **pl,
		    uint32_t *plen)
{
	spool_rec_hdr_get(rec, h);
	if (h->magic != SPOOL_REC_MAGIC || h->type != type || h->len != reclen - SPOOL_REC_HDR)
		return -EBADMSG;
	if (b->cached && !(h->flags & SPOOL_RF_SEALED)) {
		*pl = rec + SPOOL_REC_HDR;
		*plen = h->len;
		return b->sp->t.encrypt ? -EBADMSG : 0;
	}
	/* from the file, or sealed (then rec is our own copy: decrypted in place) */
	uint8_t *p;
	int e = spool_rec_open(b->sp, seq, off, (uint8_t *)rec, h, &p, plen, !b->cached);
	*pl = p;
	return e;
}

/* CRC32C of the piece that ends record rec: derived from the record's CRC (plaintext records:
 * only the header and the pre payload bytes before the piece are read), or computed over the
 * plaintext of a sealed record (its CRC covers the ciphertext). */
static uint32_t piece_crc(const uint8_t *rec, const struct spool_rec_hdr *h, uint32_t pre,
			  const uint8_t *piece, uint32_t n)
{
	if (h->flags & SPOOL_RF_SEALED)
		return spool_crc32c(0, piece, n);
	uint32_t c = spool_crc32c(spool_crc32c(0, rec, 12), rec + SPOOL_REC_HDR, pre);
	return spool_crc32c_combine(c, h->crc, n);
}

static int read_commit(struct spool_body *b)
{
	struct spool_rec_hdr h;
	const uint8_t *pl;
	uint32_t plen;
	int e = open_rec(b, b->commit_seq, b->commit_off, b->commit, b->commit_len,
			 SPOOL_REC_COMMIT, &h, &pl, &plen);
	if (e || (e = spool_commit_decode(pl, plen, &b->v)))
		return e;
	if (b->v.qid != b->qid)
		return -EBADMSG;
	b->tail_crc = piece_crc(b->commit, &h, (uint32_t)(b->v.tail - pl), b->v.tail, b->v.tail_len);
	b->st = BODY_PREFIX;
	return advance(b);
}

static int read_chunk(struct spool_body *b)
{
	struct spool_rec_hdr h;
	const uint8_t *pl;
	uint32_t plen;
	int e = open_rec(b, b->cur.seq, b->cur.off, b->chunk, b->cur.reclen, SPOOL_REC_CHUNK, &h,
			 &pl, &plen);
	if (e)
		return e;
	struct spool_rbuf r = { .p = pl, .len = plen };
	uint64_t qid = spool_get64(&r);
	uint32_t idx = spool_get32(&r);
	if (r.bad || qid != b->qid || idx != b->next_chunk)
		return -EBADMSG;
	uint32_t n = plen - r.off;
	b->got += n;
	b->crc = spool_crc32c_combine(b->crc, piece_crc(b->chunk, &h, r.off, pl + r.off, n), n);
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
