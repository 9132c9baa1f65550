// SPDX-License-Identifier: MIT
/*
 * gcm_link.c: one TLS connection's records on the batched path, in the shape a transport layer
 * (crypto/tls's tls_conn) needs: ciphertext in -> plaintext delivered, plaintext out ->
 * records emitted, KeyUpdate replies and alerts emitted on its own. Each call runs
 * synchronously: the records of one input span or one send are sealed/opened as one engine
 * burst (up to GCM_LINK_BURST) and the engine is flushed before returning, so no op outlives
 * the call and the caller's buffers (a TCP receive span valid only during on_data) need no
 * copy. Scratch for plaintext and records is per lcore (struct gcm_lcore), not per link.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct gcm_lcore *gcm_lcore_new(const struct gcm_engine_cfg *cfg, int *err)
{
	struct gcm_lcore *lc = calloc(1, sizeof(*lc));

	if (!lc) {
		*err = -ENOMEM;
		goto err;
	}
	lc->e = gcm_engine_new(cfg, err);
	if (!lc->e)
		goto err_free;
	lc->buf = malloc((size_t)GCM_LINK_BURST * (GCM_TLS_MAX_RECORD + 512));
	if (!lc->buf) {
		*err = -ENOMEM;
		goto err_engine;
	}
	return lc;
err_engine:
	gcm_engine_free(lc->e);
err_free:
	free(lc);
err:
	return NULL;
}

void gcm_lcore_free(struct gcm_lcore *lc)
{
	if (!lc)
		return;
	gcm_engine_free(lc->e);
	gcm_arec_pool_free(lc);
	free(lc->buf);
	free(lc);
}

static uint8_t *slot(struct gcm_lcore *lc, unsigned i)
{
	return lc->buf + (size_t)i * (GCM_TLS_MAX_RECORD + 512);
}

int gcm_link_init(struct gcm_link *l, struct gcm_lcore *lc, struct ssl_st *ssl,
		  unsigned tickets_written)
{
	struct gcm_secrets sec;
	int rc;

	memset(l, 0, sizeof(*l));
	rc = gcm_ossl_export(ssl, &sec);
	if (rc)
		return rc;
	if (sec.version == GCM_TLS12)
		rc = gcm_sess_init(&l->s, lc->e, &sec, 1, 1);
	else
		rc = gcm_sess_init(&l->s, lc->e, &sec, 0, sec.is_server ? tickets_written : 0);
	memset(&sec, 0, sizeof(sec));
	return rc;
}

/* Seals one record of type ct with plaintext already at slot i; emits nothing yet. */
static int seal_slot(struct gcm_lcore *lc, struct gcm_link *l, unsigned i, uint8_t ct,
		     size_t len)
{
	int n = gcm_seal_prep(&l->s, &lc->ops[i], ct, slot(lc, i), len);

	if (n < 0)
		return n;
	lc->ops[i].done = NULL;
	lc->len[i] = n;
	gcm_engine_enqueue(lc->e, &lc->ops[i], 0);
	return n;
}

/* Runs the burst and emits slots [0, n) in order; -EPIPE when emit refuses. */
static int emit_slots(struct gcm_lcore *lc, unsigned n, const struct gcm_link_io *io)
{
	gcm_engine_flush(lc->e);
	for (unsigned i = 0; i < n; i++) {
		if (lc->ops[i].status)
			return -EIO;
		gcm_seal_finish(&lc->ops[i]);
		if (io->emit(io->ctx, slot(lc, i), (size_t)lc->len[i]) < 0)
			return -EPIPE;
	}
	return 0;
}

int gcm_link_key_update(struct gcm_lcore *lc, struct gcm_link *l, bool requested,
			const struct gcm_link_io *io)
{
	int n = gcm_key_update_seal(&l->s, lc->e, &lc->ops[0], slot(lc, 0), requested, 0);

	if (n < 0)
		return n;
	return io->emit(io->ctx, slot(lc, 0), (size_t)n) < 0 ? -EPIPE : 0;
}

int gcm_link_alert(struct gcm_lcore *lc, struct gcm_link *l, uint8_t desc,
		   const struct gcm_link_io *io)
{
	int n = gcm_alert_seal(&l->s, &lc->ops[0], slot(lc, 0), desc);

	if (n < 0)
		return n;
	lc->len[0] = n;
	gcm_engine_enqueue(lc->e, &lc->ops[0], 0);
	return emit_slots(lc, 1, io);
}

ssize_t gcm_link_send(struct gcm_lcore *lc, struct gcm_link *l, const void *buf, size_t len,
		      const struct gcm_link_io *io)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int rc;

	if (gcm_sess_key_update_wanted(&l->s) && (rc = gcm_link_key_update(lc, l, false, io)) < 0)
		return rc;
	while (done < len) {
		unsigned n = 0;

		while (n < GCM_LINK_BURST && done < len) {
			size_t k = len - done > GCM_TLS_MAX_PLAIN ? GCM_TLS_MAX_PLAIN : len - done;

			memcpy(slot(lc, n) + gcm_rec_hdr_len(&l->s), p + done, k);
			rc = seal_slot(lc, l, n, GCM_CT_APPDATA, k);
			if (rc < 0) {
				gcm_engine_flush(lc->e);
				return done ? (ssize_t)done : rc;
			}
			done += k;
			n++;
		}
		rc = emit_slots(lc, n, io);
		if (rc < 0)
			return rc;
	}
	return (ssize_t)done;
}

ssize_t gcm_link_seal_inplace(struct gcm_lcore *lc, struct gcm_link *l, uint8_t *pt, size_t len,
			      const struct gcm_link_io *io)
{
	uint8_t *rec = pt - gcm_rec_hdr_len(&l->s);
	struct gcm_op *op = &lc->ops[0];
	int rc, n;

	if (len > GCM_TLS_MAX_PLAIN)
		return -EMSGSIZE;
	if (gcm_sess_key_update_wanted(&l->s) && (rc = gcm_link_key_update(lc, l, false, io)) < 0)
		return rc;
	n = gcm_seal_prep(&l->s, op, GCM_CT_APPDATA, rec, len);
	if (n < 0)
		return n;
	op->done = NULL;
	gcm_engine_enqueue(lc->e, op, 0);
	gcm_engine_flush(lc->e);
	if (op->status)
		return -EIO;
	gcm_seal_finish(op);
	return io->emit(io->ctx, rec, (size_t)n) < 0 ? -EPIPE : (ssize_t)len;
}

/* After a failure: the alert goes out once; returns rc. */
static int fail_out(struct gcm_lcore *lc, struct gcm_link *l, const struct gcm_link_io *io,
		    int rc)
{
	if (l->s.alert_out != 0xff && !l->alert_sent) {
		l->alert_sent = true;
		gcm_link_alert(lc, l, l->s.alert_out, io);
	}
	return rc;
}

/* Finishes ops [0, n) in order; *stop set when the upper layer paused or the link ended. */
static int finish_burst(struct gcm_lcore *lc, struct gcm_link *l, unsigned n,
			const struct gcm_link_io *io, unsigned *used, bool *stop)
{
	for (unsigned i = 0; i < n; i++) {
		struct gcm_op *op = &lc->ops[i];
		const uint8_t *pt;
		size_t pl;
		int ev = gcm_open_finish(&l->s, op, &pt, &pl);

		if (ev == GCM_EV_REOPEN) {
			if (gcm_open_reprep(&l->s, op))
				return fail_out(lc, l, io, -EPROTO);
			gcm_engine_enqueue(lc->e, op, 0);
			gcm_engine_flush(lc->e);
			ev = gcm_open_finish(&l->s, op, &pt, &pl);
		}
		if (ev < 0)
			return fail_out(lc, l, io, ev);
		*used = i + 1;
		if (l->s.key_update_due && gcm_link_key_update(lc, l, false, io) < 0)
			return -EPIPE;
		if (ev == GCM_EV_DATA && pl > 0 && !io->on_data(io->ctx, pt, pl)) {
			*stop = true;
			return 0;
		}
		if (ev == GCM_EV_CLOSE_NOTIFY || ev == GCM_EV_ALERT) {
			*stop = true;
			return ev == GCM_EV_ALERT ? -ECONNRESET : 0;
		}
	}
	return 0;
}

ssize_t gcm_link_input(struct gcm_lcore *lc, struct gcm_link *l, const uint8_t *data,
		       size_t len, const struct gcm_link_io *io)
{
	size_t off = 0;
	bool stop = false;

	while (!stop) {
		size_t ends[GCM_LINK_BURST];
		unsigned n = 0, used = 0;
		size_t o = off;
		int rc;

		while (n < GCM_LINK_BURST) {
			uint8_t alert = 0;
			int rl = gcm_rec_frame(&l->s, data + o, len - o, &alert);

			if (rl == 0)
				break;
			if (rl < 0 || gcm_open_prep(&l->s, &lc->ops[n], data + o, (size_t)rl,
						    slot(lc, n))) {
				if (rl < 0 && l->s.state != GCM_SESS_FAILED) {
					l->s.alert_out = alert;
					gcm_sess_enter(&l->s, GCM_SESS_FAILED);
				}
				gcm_engine_flush(lc->e);
				return fail_out(lc, l, io, rl < 0 ? rl : -EPROTO);
			}
			lc->ops[n].done = NULL;
			gcm_engine_enqueue(lc->e, &lc->ops[n], 0);
			o += (size_t)rl;
			ends[n++] = o;
		}
		if (n == 0)
			break;
		gcm_engine_flush(lc->e);
		rc = finish_burst(lc, l, n, io, &used, &stop);
		if (rc < 0)
			return rc;
		/* the upper layer paused: records after it were decrypted but not taken; give
		 * back the sequence numbers they took under the current key so they are opened
		 * again next time (those prepared under a key a KeyUpdate retired took none) */
		for (unsigned i = used; i < n; i++)
			if (lc->ops[i].gen == l->s.rd.gen)
				l->s.rd.seq--;
		off = used ? ends[used - 1] : off;
		if (n < GCM_LINK_BURST && !stop && used == n)
			break;
	}
	return (ssize_t)off;
}
