/* SPDX-License-Identifier: MIT */
/*
 * spool_txn.c: messages being received. spool_msg_begin() copies the envelope and draws the
 * queue id; spool_msg_append() buffers body bytes and stages a chunk record (written in the next
 * group-commit batch, not synced on its own) each time chunk_bytes have gathered, so a message
 * never sits in memory whole; spool_msg_commit() stages the commit record (envelope, prefix
 * header, chunk list, the last partial chunk inline, total length and CRC32C of the body) and
 * the acknowledgement comes from spool_poll() once the fdatasync covering it has completed.
 * Recovery treats chunks without a commit record as never accepted.
 */
#include "spool/spool_int.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct spool_chunk_ref) == 12, "chunk refs are stored as they are in memory");
_Static_assert(__BYTE_ORDER == __LITTLE_ENDIAN, "the record format is little-endian");

static struct spool_txn *txn_get(struct spool *sp)
{
	struct spool_txn *tx = sp->txn_free;
	if (tx) {
		sp->txn_free = tx->next_free;
		return tx;
	}
	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return NULL;
	tx->buf = malloc(sp->t.chunk_bytes);
	if (!tx->buf) {
		free(tx);
		return NULL;
	}
	tx->sp = sp;
	return tx;
}

static void txn_put(struct spool_txn *tx)
{
	struct spool *sp = tx->sp;
	tx->next_free = sp->txn_free;
	sp->txn_free = tx;
}

void spool_txn_free_all(struct spool *sp)
{
	while (sp->txn_free) {
		struct spool_txn *tx = sp->txn_free;
		sp->txn_free = tx->next_free;
		free(tx->buf);
		free(tx->env);
		free(tx->chunks);
		free(tx);
	}
}

static void txn_reset(struct spool_txn *tx)
{
	tx->buf_len = 0;
	tx->body_len = 0;
	tx->body_crc = 0;
	tx->buf_crc = 0;
	tx->nchunks = 0;
	tx->home = NULL;
	tx->first_gen = 0;
	tx->err = 0;
}

static int check_env(const struct spool *sp, const struct spool_envelope *e)
{
	if (e->nrcpt == 0 || e->nrcpt > sp->t.max_rcpts || !e->rcpts)
		return -EINVAL;
	for (uint16_t i = 0; i < e->nrcpt; i++)
		if (e->rcpts[i].addr.len == 0)
			return -EINVAL;
	return 0;
}

struct spool_txn *spool_msg_begin(struct spool *sp, const struct spool_envelope *env, int *err)
{
	int e = sp->nsegs ? 0 : -ENODEV; /* spool_recover() not done */
	if (!e && (e = spool_space_check(sp, 0)))
		sp->st.space_refused++;
	if (!e)
		e = check_env(sp, env);
	struct spool_txn *tx = e ? NULL : txn_get(sp);
	if (!e && !tx)
		e = -ENOMEM;
	if (e) {
		*err = e;
		return NULL;
	}
	uint32_t need = spool_env_size(env);
	if (need > tx->env_cap) {
		uint8_t *n = realloc(tx->env, need);
		if (!n) {
			txn_put(tx);
			*err = -ENOMEM;
			return NULL;
		}
		tx->env = n;
		tx->env_cap = need;
	}
	struct spool_wbuf w = { .p = tx->env };
	spool_env_encode(&w, env);
	tx->env_len = w.len;
	tx->nrcpt = env->nrcpt;
	txn_reset(tx);
	if ((e = spool_seg_next_qid(sp, &tx->qid))) {
		txn_put(tx);
		*err = e;
		return NULL;
	}
	*err = 0;
	return tx;
}

uint64_t spool_txn_qid(const struct spool_txn *tx) { return tx->qid; }

struct spool_txn *spool_txn_begin_copy(struct spool *sp, const struct spool_msg *m, int *err)
{
	struct spool_txn *tx = txn_get(sp);
	if (tx && m->env_len > tx->env_cap) {
		uint8_t *n = realloc(tx->env, m->env_len);
		if (!n) {
			txn_put(tx);
			tx = NULL;
		} else {
			tx->env = n;
			tx->env_cap = m->env_len;
		}
	}
	if (!tx) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(tx->env, m->data, m->env_len);
	tx->env_len = m->env_len;
	tx->nrcpt = m->nrcpt;
	tx->qid = m->qid;
	txn_reset(tx);
	*err = 0;
	return tx;
}

/* The first record of a message pins its segment until the message dies. */
static void pin_home(struct spool_txn *tx, uint32_t seq)
{
	if (tx->home)
		return;
	tx->home = spool_seg_find(tx->sp, seq);
	if (tx->home)
		tx->home->live++;
}

static int stage_chunk(struct spool_txn *tx)
{
	struct spool *sp = tx->sp;
	if (tx->nchunks == tx->chunkcap) {
		uint32_t cap = tx->chunkcap ? 2 * tx->chunkcap : 16;
		struct spool_chunk_ref *n = realloc(tx->chunks, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		tx->chunks = n;
		tx->chunkcap = cap;
	}
	uint8_t fix[12];
	struct spool_wbuf w = { .p = fix };
	spool_put64(&w, tx->qid);
	spool_put32(&w, tx->nchunks);
	struct spool_part p[2] = { { .p = fix, .len = w.len },
				   { .p = tx->buf, .len = tx->buf_len, .has_crc = true, .crc = tx->buf_crc } };
	struct spool_chunk_ref *ref = &tx->chunks[tx->nchunks];
	int e = spool_stage_rec(sp, SPOOL_REC_CHUNK, p, 2, true, ref);
	if (e)
		return e;
	tx->body_crc = spool_crc32c_combine(tx->body_crc, tx->buf_crc, tx->buf_len);
	tx->buf_crc = 0;
	if (!tx->first_gen)
		tx->first_gen = sp->stage->gen;
	pin_home(tx, ref->seq);
	tx->nchunks++;
	tx->buf_len = 0;
	return 0;
}

/* Stages the full buffer as a chunk if the stage has room: 1 done, 0 no room, -errno. */
static int flush_full(struct spool_txn *tx)
{
	struct spool *sp = tx->sp;
	uint32_t reclen = SPOOL_REC_HDR + 12u + tx->buf_len + SPOOL_REC_TAG;
	if (sp->stage->len + reclen > sp->t.stage_bytes)
		return 0;
	if (spool_space_check(sp, reclen)) {
		sp->st.space_refused++;
		return -ENOSPC;
	}
	int e = stage_chunk(tx);
	if (e)
		return tx->err = e; /* the message cannot be completed any more */
	return 1;
}

ssize_t spool_msg_append(struct spool_txn *tx, const void *data, size_t len)
{
	struct spool *sp = tx->sp;
	uint32_t cb = sp->t.chunk_bytes;
	const uint8_t *p = data;
	size_t done = 0;
	if (tx->err)
		return tx->err;
	while (done < len) {
		if (tx->buf_len == cb) {
			int r = flush_full(tx);
			if (r <= 0)
				return r < 0 ? r : (ssize_t)done; /* stage full: the rest next turn */
		}
		uint32_t n = cb - tx->buf_len < len - done ? cb - tx->buf_len : (uint32_t)(len - done);
		tx->buf_crc = spool_crc32c_copy(tx->buf_crc, tx->buf + tx->buf_len, p + done, n);
		tx->buf_len += n;
		tx->body_len += n;
		done += n;
	}
	return (ssize_t)done;
}

void spool_msg_abort(struct spool_txn *tx)
{
	if (tx->home)
		spool_seg_unref(tx->sp, tx->home);
	tx->home = NULL;
	txn_put(tx);
}

/* Stages the commit record of tx; *where gets its position. */
static int stage_commit(struct spool_txn *tx, const void *prefix, size_t prefix_len,
			struct spool_chunk_ref *where)
{
	struct spool *sp = tx->sp;
	/* A failed write or sync since this message's first chunk may have lost that chunk. */
	if (tx->err)
		return tx->err;
	if (tx->first_gen && sp->fail_gen >= tx->first_gen)
		return -EIO;
	if (prefix_len > UINT16_MAX * 16u)
		return -EINVAL;
	uint8_t a[12], b[16], pl[4];
	struct spool_wbuf wa = { .p = a }, wb = { .p = b }, wp = { .p = pl };
	spool_put64(&wa, tx->qid);
	spool_put32(&wa, tx->env_len);
	spool_put32(&wp, (uint32_t)prefix_len);
	spool_put64(&wb, tx->body_len);
	spool_put32(&wb, spool_crc32c_combine(tx->body_crc, tx->buf_crc, tx->buf_len));
	spool_put32(&wb, tx->nchunks);
	struct spool_part p[7] = {
		{ .p = a, .len = wa.len }, { .p = tx->env, .len = tx->env_len }, { .p = pl, .len = 4 },
		{ .p = prefix, .len = (uint32_t)prefix_len }, { .p = b, .len = wb.len },
		{ .p = tx->chunks, .len = tx->nchunks * 12u },
		{ .p = tx->buf, .len = tx->buf_len, .has_crc = true, .crc = tx->buf_crc },
	};
	int e = spool_stage_rec(sp, SPOOL_REC_COMMIT, p, 7, false, where);
	if (!e)
		pin_home(tx, where->seq);
	return e;
}

int spool_msg_commit(struct spool_txn *tx, const void *prefix, size_t prefix_len, uint64_t cookie)
{
	struct spool *sp = tx->sp;
	struct spool_chunk_ref where;
	struct spool_msg *m = spool_msg_new(tx->env, tx->env_len, tx->nrcpt);
	int e = m ? stage_commit(tx, prefix, prefix_len, &where) : -ENOMEM;
	if (e)
		goto err;
	m->qid = tx->qid;
	m->body_len = tx->body_len;
	m->commit_seq = where.seq;
	m->commit_off = where.off;
	m->commit_len = where.reclen;
	m->home_seq = tx->home ? tx->home->seq : where.seq;
	if ((e = spool_stage_ent(sp, SPOOL_BENT_COMMIT, cookie, m)))
		goto err; /* the staged record without its entry is never acknowledged: harmless */
	tx->home = NULL; /* the pin now belongs to the message */
	txn_put(tx);
	return 0;
err:
	free(m);
	spool_msg_abort(tx);
	return e;
}

int spool_txn_commit_copy(struct spool_txn *tx, const void *prefix, size_t prefix_len)
{
	struct spool *sp = tx->sp;
	struct spool_chunk_ref where;
	struct spool_msg *m = spool_index_get(sp, tx->qid);
	int e = m ? stage_commit(tx, prefix, prefix_len, &where) : -ENOENT;
	if (!e)
		e = spool_stage_ent(sp, SPOOL_BENT_RELOC, tx->qid, NULL);
	if (e) {
		spool_msg_abort(tx);
		return e;
	}
	struct spool_bent *ent = &sp->stage->ents[sp->stage->nents - 1];
	ent->at = where;
	ent->home = tx->home ? tx->home->seq : where.seq;
	tx->home = NULL; /* the pin now belongs to the batch entry, then to the message */
	txn_put(tx);
	/* the recipients' state right after the copy, so older segments can go */
	return spool_stage_state(sp, m);
}
