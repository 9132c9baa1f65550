// SPDX-License-Identifier: MIT
/*
 * gcm_alink.c: a TLS connection's records in across-sessions mode. Where gcm_link.c seals or
 * opens the records of one call as one burst and flushes before returning, here every record
 * is copied into a pooled buffer (struct gcm_arec) and queued on the lcore's engine, so the
 * records of all sessions of a loop turn run as one intel-ipsec-mb burst (flushed when full
 * or by the owner once per turn). The price is one copy of the ciphertext on input (a
 * transport's receive span is only valid during its on_data call) and asynchronous
 * completion, which this file makes safe:
 *   - per link two FIFOs (received, sealed) in preparation order; a completion only marks its
 *     record done, and records leave a FIFO at the head only, so output is emitted and input
 *     finished in sequence-number order whatever the burst boundaries were;
 *   - completions (called from inside an engine flush, possibly from another session's call)
 *     emit sealed records through io->emit and call io->ready; plaintext goes up only from
 *     gcm_alink_deliver, which the owner calls from its own context, never from a completion;
 *   - an in-flight count keeps a released link alive until its last op completed.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer pool (per lcore) --------------------------------------------------------------- */

static struct gcm_arec *rec_get(struct gcm_lcore *lc, size_t need)
{
	unsigned c = need <= GCM_AREC_SMALL ? 0 : 1;
	uint32_t cap = c ? GCM_AREC_BIG : GCM_AREC_SMALL;
	struct gcm_arec *r = lc->free[c];

	if (need > GCM_AREC_BIG)
		return NULL;
	if (r) {
		lc->free[c] = r->next;
		lc->n_free[c]--;
	} else {
		r = malloc(sizeof(*r) + 2 * (size_t)cap);
		if (!r)
			return NULL;
		r->cap = cap;
	}
	r->next = NULL;
	r->done = false;
	r->fill = 0;
	return r;
}

static void rec_put(struct gcm_lcore *lc, struct gcm_arec *r)
{
	unsigned c = r->cap == GCM_AREC_BIG;

	if (lc->n_free[c] >= GCM_AREC_CACHE) {
		free(r);
		return;
	}
	r->next = lc->free[c];
	lc->free[c] = r;
	lc->n_free[c]++;
}

/* Frees the pool (gcm_lcore_free). */
void gcm_arec_pool_free(struct gcm_lcore *lc)
{
	for (unsigned c = 0; c < 2; c++)
		while (lc->free[c]) {
			struct gcm_arec *r = lc->free[c];

			lc->free[c] = r->next;
			free(r);
		}
	lc->n_free[0] = lc->n_free[1] = 0;
}

static void q_init(struct gcm_arec_q *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void q_push(struct gcm_arec_q *q, struct gcm_arec *r)
{
	r->next = NULL;
	*q->tail = r;
	q->tail = &r->next;
}

static struct gcm_arec *q_pop(struct gcm_arec_q *q)
{
	struct gcm_arec *r = q->head;

	if (r) {
		q->head = r->next;
		if (!q->head)
			q->tail = &q->head;
	}
	return r;
}

/* ---- completion ---------------------------------------------------------------------------- */

static void link_destroy(struct gcm_link *l)
{
	struct gcm_arec *r;

	while ((r = q_pop(&l->inq)))
		rec_put(l->lc, r);
	while ((r = q_pop(&l->outq)))
		rec_put(l->lc, r);
	if (l->rpart)
		rec_put(l->lc, l->rpart);
	gcm_sess_wipe(&l->s);
	free(l);
}

/* Emits the sealed records at the head of outq that completed, in order. */
static void out_walk(struct gcm_link *l)
{
	struct gcm_arec *r;

	while ((r = l->outq.head) && r->done) {
		q_pop(&l->outq);
		l->out_bytes -= r->rec_len;
		if (r->op.status) {
			l->err = -EIO;
		} else if (!l->err) {
			gcm_seal_finish(&r->op);
			if (l->io.emit(l->io.ctx, r->buf, r->rec_len) < 0)
				l->err = -EPIPE;
		}
		rec_put(l->lc, r);
	}
}

static void rec_done(struct gcm_op *op, void *arg)
{
	struct gcm_arec *r = arg;
	struct gcm_link *l = r->l;

	(void)op;
	l->inflight--;
	r->done = true;
	if (l->orphan) {
		if (l->inflight == 0)
			link_destroy(l);
		return;
	}
	if (!r->open)
		out_walk(l);
	l->io.ready(l->io.ctx);
}

static void rec_enqueue(struct gcm_link *l, struct gcm_arec *r, uint64_t now)
{
	r->done = false;
	r->op.done = rec_done;
	r->op.arg = r;
	r->l = l;
	l->inflight++;
	gcm_engine_enqueue(l->lc->e, &r->op, now);
}

/* Queues a sealed record of n bytes (prepared in r) behind the others of l. */
static void out_push(struct gcm_link *l, struct gcm_arec *r, int n, uint64_t now)
{
	r->open = false;
	r->rec_len = (uint32_t)n;
	q_push(&l->outq, r);
	l->out_bytes += (size_t)n;
	rec_enqueue(l, r, now);
}

/* ---- output -------------------------------------------------------------------------------- */

void gcm_alink_start(struct gcm_link *l, struct gcm_lcore *lc, const struct gcm_link_io *io)
{
	l->async = true;
	l->lc = lc;
	l->io = *io;
	q_init(&l->inq);
	q_init(&l->outq);
}

int gcm_alink_alert(struct gcm_link *l, uint8_t desc, uint64_t now)
{
	struct gcm_arec *r = rec_get(l->lc, 2 + gcm_rec_overhead(&l->s) + l->s.pad_to);
	int n;

	if (!r)
		return -ENOMEM;
	n = gcm_alert_seal(&l->s, &r->op, r->buf, desc);
	if (n < 0) {
		rec_put(l->lc, r);
		return n;
	}
	out_push(l, r, n, now);
	return 0;
}

/* Seals a KeyUpdate; the flush runs every op under the older key slot before it is reused. */
static int key_update(struct gcm_link *l, bool requested, uint64_t now)
{
	struct gcm_arec *r = rec_get(l->lc, 5 + gcm_rec_overhead(&l->s) + l->s.pad_to);
	int n;

	if (!r)
		return -ENOMEM;
	n = gcm_key_update_prep(&l->s, &r->op, r->buf, requested);
	if (n < 0) {
		rec_put(l->lc, r);
		return n;
	}
	out_push(l, r, n, now);
	gcm_engine_flush(l->lc->e);
	if (l->err)
		return l->err;
	return gcm_key_update_commit(&l->s, 0);
}

ssize_t gcm_alink_send(struct gcm_link *l, const void *buf, size_t len, uint64_t now)
{
	const uint8_t *p = buf;
	size_t done = 0, hdr = gcm_rec_hdr_len(&l->s), over = gcm_rec_overhead(&l->s);
	int rc;

	if (l->err)
		return l->err;
	if (gcm_sess_key_update_wanted(&l->s) && (rc = key_update(l, false, now)) < 0)
		return rc;
	while (done < len) {
		size_t k = len - done > GCM_TLS_MAX_PLAIN ? GCM_TLS_MAX_PLAIN : len - done;
		struct gcm_arec *r = rec_get(l->lc, k + over + l->s.pad_to);
		int n;

		if (!r)
			return done ? (ssize_t)done : -ENOMEM;
		memcpy(r->buf + hdr, p + done, k);
		n = gcm_seal_prep(&l->s, &r->op, GCM_CT_APPDATA, r->buf, k);
		if (n < 0) {
			rec_put(l->lc, r);
			return done ? (ssize_t)done : n;
		}
		out_push(l, r, n, now);
		done += k;
	}
	return (ssize_t)done;
}

size_t gcm_alink_out_bytes(const struct gcm_link *l)
{
	return l->out_bytes;
}

/* After a failure: the alert goes out once, now (flushed); returns rc. */
static int fail_out(struct gcm_link *l, int rc, uint64_t now)
{
	if (l->s.alert_out != 0xff && !l->alert_sent) {
		l->alert_sent = true;
		if (gcm_alink_alert(l, l->s.alert_out, now) == 0)
			gcm_engine_flush(l->lc->e);
	}
	return rc;
}

/* ---- input --------------------------------------------------------------------------------- */

static int open_push(struct gcm_link *l, struct gcm_arec *r, uint64_t now)
{
	if (gcm_open_prep(&l->s, &r->op, r->buf, r->rec_len, r->buf + r->cap)) {
		rec_put(l->lc, r);
		return fail_out(l, -EPROTO, now);
	}
	r->open = true;
	q_push(&l->inq, r);
	l->n_in++;
	rec_enqueue(l, r, now);
	return 0;
}

/* Starts a record from the 5 header bytes in l->rhdr. */
static int rec_start(struct gcm_link *l, uint64_t now)
{
	uint8_t alert = 0;
	int rc = gcm_rec_frame(&l->s, l->rhdr, GCM_TLS_HDR, &alert);
	size_t total;

	if (rc < 0) {
		if (l->s.state != GCM_SESS_FAILED) {
			l->s.alert_out = alert;
			gcm_sess_enter(&l->s, GCM_SESS_FAILED);
		}
		return fail_out(l, rc, now);
	}
	total = GCM_TLS_HDR + ((size_t)l->rhdr[3] << 8 | l->rhdr[4]);
	l->rpart = rec_get(l->lc, total);
	if (!l->rpart)
		return -ENOMEM;
	memcpy(l->rpart->buf, l->rhdr, GCM_TLS_HDR);
	l->rpart->rec_len = (uint32_t)total;
	l->rpart->fill = GCM_TLS_HDR;
	l->rhdr_len = 0;
	return 0;
}

ssize_t gcm_alink_input(struct gcm_link *l, const uint8_t *data, size_t len, uint64_t now)
{
	size_t off = 0;
	int rc;

	if (l->s.state == GCM_SESS_FAILED)
		return -EPIPE;
	while (off < len && l->n_in < GCM_ALINK_MAX_IN) {
		struct gcm_arec *r = l->rpart;
		size_t k;

		if (!r) {
			k = GCM_TLS_HDR - l->rhdr_len;
			k = k < len - off ? k : len - off;
			memcpy(l->rhdr + l->rhdr_len, data + off, k);
			l->rhdr_len += (uint8_t)k;
			off += k;
			if (l->rhdr_len < GCM_TLS_HDR)
				break;
			if ((rc = rec_start(l, now)) < 0)
				return rc;
			r = l->rpart;
		}
		k = r->rec_len - r->fill;
		k = k < len - off ? k : len - off;
		memcpy(r->buf + r->fill, data + off, k);
		r->fill += (uint32_t)k;
		off += k;
		if (r->fill < r->rec_len)
			break;
		l->rpart = NULL;
		if ((rc = open_push(l, r, now)) < 0)
			return rc;
	}
	return (ssize_t)off;
}

bool gcm_alink_in_pending(const struct gcm_link *l)
{
	return l->inq.head && !l->s.peer_closed && l->s.state != GCM_SESS_FAILED;
}

/* Drops received records that completed (after close_notify or a failure). */
static void in_drop_done(struct gcm_link *l)
{
	struct gcm_arec *r;

	while ((r = l->inq.head) && r->done) {
		q_pop(&l->inq);
		l->n_in--;
		rec_put(l->lc, r);
	}
}

/*
 * A KeyUpdate changed the read key: every record queued after it was prepared under the
 * retired one (or with its sequence numbers). Re-prepares them now, in order, so that input
 * arriving later takes the sequence numbers after theirs. Records still in the engine are
 * run first (their op may not be touched while queued); the re-prepared ones run at once
 * (KeyUpdates are rare; the caller's delivery loop then goes on with them).
 */
static int reprep_from(struct gcm_link *l, struct gcm_arec *from, uint64_t now)
{
	struct gcm_arec *r;
	bool again = false;

	for (r = from; r; r = r->next)
		if (!r->done) {
			gcm_engine_flush(l->lc->e);
			break;
		}
	for (r = from; r; r = r->next) {
		if (r->op.gen == l->s.rd.gen)
			continue;
		if (gcm_open_reprep(&l->s, &r->op))
			return fail_out(l, -EPROTO, now);
		rec_enqueue(l, r, now);
		again = true;
	}
	/* run them now: delivery goes on in this call instead of waiting for the next turn */
	if (again)
		gcm_engine_flush(l->lc->e);
	return 0;
}

/* Finishes the record r at the head; *stop set when the caller must stop. */
static int deliver_one(struct gcm_link *l, struct gcm_arec *r, uint64_t now, bool *stop)
{
	uint32_t gen = l->s.rd.gen;
	const uint8_t *pt;
	size_t pl;
	int ev = gcm_open_finish(&l->s, &r->op, &pt, &pl);

	if (ev == GCM_EV_REOPEN)
		return reprep_from(l, r, now); /* r is done again: the loop finishes it */
	if (ev < 0)
		return fail_out(l, ev, now);
	q_pop(&l->inq);
	l->n_in--;
	if (l->s.rd.gen != gen && reprep_from(l, l->inq.head, now) < 0) {
		rec_put(l->lc, r);
		return -EPROTO;
	}
	if (l->s.key_update_due && key_update(l, false, now) < 0) {
		rec_put(l->lc, r);
		return -EPIPE;
	}
	if (ev == GCM_EV_DATA && pl > 0 && !l->io.on_data(l->io.ctx, pt, pl))
		*stop = true;
	rec_put(l->lc, r);
	if (ev == GCM_EV_CLOSE_NOTIFY)
		*stop = true;
	return ev == GCM_EV_ALERT ? -ECONNRESET : 0;
}

int gcm_alink_deliver(struct gcm_link *l, uint64_t now)
{
	struct gcm_arec *r;
	bool stop = false;
	int rc = 0;

	while (rc == 0 && !stop && !l->s.peer_closed && l->s.state != GCM_SESS_FAILED &&
	       (r = l->inq.head) && r->done)
		rc = deliver_one(l, r, now, &stop);
	if (l->s.peer_closed || l->s.state == GCM_SESS_FAILED)
		in_drop_done(l);
	if (rc == 0 && l->err)
		rc = l->err;
	return rc;
}

/* ---- release ------------------------------------------------------------------------------- */

void gcm_alink_release(struct gcm_link *l)
{
	if (!l)
		return;
	l->orphan = true;
	if (l->inflight == 0)
		link_destroy(l);
}
