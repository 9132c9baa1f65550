// SPDX-License-Identifier: MIT
/*
 * tls_gcm.c: the hook from crypto/tls to the batched AES-GCM record layer (crypto/gcm). After
 * a handshake that negotiated AES-128-GCM or AES-256-GCM (TLS 1.2 or 1.3) on a core whose
 * tls_core_cfg.gcm_records is set, the connection's records are sealed and opened by
 * crypto/gcm (gcm_link) instead of OpenSSL's record layer; the SSL object is kept only for
 * the handshake result (and, for a TLS 1.3 client, for the tickets: ticket_in). Everything
 * else (ChaCha20, other suites) stays on OpenSSL for the whole session.
 * Ciphertext leaves through the connection's own BIO (so it queues exactly like OpenSSL's).
 */
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"

/* Tracks record boundaries in what the BIO writes during one handshake call, so the TLS 1.3
 * server knows how many records (its NewSessionTickets) used the application write key. */
void tls_gcm_count_out(struct tls_conn *tc, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (tc->gcm_hdr_fill < 5) {
			tc->gcm_hdr[tc->gcm_hdr_fill++] = *p++;
			n--;
			if (tc->gcm_hdr_fill == 5) {
				tc->gcm_body_left = (size_t)tc->gcm_hdr[3] << 8 | tc->gcm_hdr[4];
				tc->gcm_hs_records++;
				if (tc->gcm_body_left == 0)
					tc->gcm_hdr_fill = 0;
			}
			continue;
		}
		size_t k = n < tc->gcm_body_left ? n : tc->gcm_body_left;

		p += k;
		n -= k;
		tc->gcm_body_left -= k;
		if (tc->gcm_body_left == 0)
			tc->gcm_hdr_fill = 0;
	}
}

void tls_gcm_hs_call(struct tls_conn *tc)
{
	tc->gcm_hs_records = 0; /* counts the records of the call about to run */
	/* read-ahead would pull the records after Finished into OpenSSL's own buffer, out of
	 * reach of the takeover: read record by record (from memory: a few more BIO calls) */
	if (tc->core->gcm)
		SSL_set_read_ahead(tc->ssl, 0);
}

static int emit(void *ctx, const uint8_t *rec, size_t n)
{
	struct tls_conn *tc = ctx;

	return BIO_write(tc->gcm_bio, rec, (int)n) == (int)n ? 0 : -1;
}

static bool on_data(void *ctx, const uint8_t *p, size_t n)
{
	struct tls_conn *tc = ctx;

	tc->core->stats.role[tc->role].bytes_in += n;
	return tls_conn_deliver(tc, p, n);
}

/* Across-sessions mode: a record of tc completed inside an engine flush (maybe another
 * session's call): only schedule; tls_conn_run flushes the lower conn and delivers. */
static void ready(void *ctx)
{
	struct tls_conn *tc = ctx;

	tc->gcm_kick = true;
	tls_run_add(tc);
}

static const struct gcm_link_io link_io = {
	.on_data = on_data, .emit = emit, .ready = ready,
};

static bool batched(const struct tls_conn *tc)
{
	return tc->gcm && tc->gcm->async;
}

/*
 * TLS 1.3 client keeping tickets: a NewSessionTicket our opener decrypted is sealed again
 * exactly as the server sealed it (same key, OpenSSL's next read sequence number) and read by
 * the SSL object from a memory BIO, so OpenSSL builds the SSL_SESSION (resumption secret,
 * ticket nonce, lifetime, early-data limits) and calls the context's new-session callback
 * (tls_conn_new_session_cb: the session cache) as it would have on its own record layer.
 * OpenSSL's read key is the first application key: only tickets before any KeyUpdate from the
 * server can be handed over (servers send them right after the handshake); later ones are
 * dropped. The SSL's write side is a null BIO: nothing it could write reaches the peer.
 */
static void ticket_in(void *ctx, const uint8_t *msg, size_t len)
{
	struct tls_conn *tc = ctx;
	struct gcm_link *l = tc->gcm;
	struct gcm_op op;
	uint8_t *rec, b;
	size_t got;
	int n;

	if (tc->gcm_feed_off || l->s.rd.gen != 0 || !(rec = malloc(len + 32)))
		return;
	memset(&op, 0, sizeof(op));
	memcpy(rec + 5, msg, len);
	n = gcm_reseal_read13(&l->s, tc->gcm_feed_seq, &op, rec, len);
	if (n > 0) {
		gcm_engine_enqueue(tc->core->gcm->e, &op, tc->core->now);
		gcm_engine_flush(tc->core->gcm->e);
		gcm_seal_finish(&op);
	}
	if (n > 0 && op.status == 0 && BIO_write(SSL_get_rbio(tc->ssl), rec, n) == n) {
		tc->gcm_feed_seq++;
		ERR_clear_error();
		if (SSL_read_ex(tc->ssl, &b, 1, &got) == 1 ||
		    SSL_get_error(tc->ssl, 0) != SSL_ERROR_WANT_READ)
			tc->gcm_feed_off = true;
		ERR_clear_error();
	} else {
		tc->gcm_feed_off = true;
	}
	free(rec);
}

/* Gives the SSL of a ticket-keeping 1.3 client a memory BIO to read re-sealed tickets from
 * and a null BIO to write into; our conn BIO stays in tc->gcm_bio. */
static void keep_tickets(struct tls_conn *tc, struct gcm_link *gl)
{
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_null());

	if (!r || !w) {
		BIO_free(r);
		BIO_free(w);
		return; /* tickets are dropped: the session just is not resumed */
	}
	BIO_set_mem_eof_return(r, -1);
	SSL_set_bio(tc->ssl, r, w);
	gl->s.on_ticket = ticket_in;
	gl->s.ticket_ctx = tc;
}

void tls_gcm_takeover(struct tls_conn *tc)
{
	struct gcm_link *gl;

	if (!tc->core->gcm || tc->gcm)
		return;
	/* bytes OpenSSL already buffered cannot be handed over: stay on OpenSSL */
	if (SSL_has_pending(tc->ssl))
		return;
	gl = malloc(sizeof(*gl));
	if (!gl)
		return;
	if (gcm_link_init(gl, tc->core->gcm, tc->ssl, tc->gcm_hs_records) < 0) {
		free(gl);
		return;
	}
	tc->gcm_bio = SSL_get_wbio(tc->ssl);
	BIO_up_ref(tc->gcm_bio);
	if (tc->role == TLS_ROLE_CLIENT && SSL_version(tc->ssl) == TLS1_3_VERSION && tc->skey[0])
		keep_tickets(tc, gl);
	if (tc->core->cfg.gcm_batch_sessions) {
		struct gcm_link_io io = link_io;

		io.ctx = tc;
		gcm_alink_start(gl, tc->core->gcm, &io);
	}
	tc->gcm = gl;
	tc->core->stats.role[tc->role].gcm_sessions++;
}

void tls_gcm_free(struct tls_conn *tc)
{
	if (!tc->gcm)
		return;
	if (tc->gcm->async) {
		gcm_alink_release(tc->gcm); /* freed once its records left the engine */
	} else {
		gcm_sess_wipe(&tc->gcm->s);
		free(tc->gcm);
	}
	free(tc->gcm_rbuf);
	BIO_free(tc->gcm_bio);
	tc->gcm_bio = NULL;
	tc->gcm = NULL;
}

/* Across-sessions mode: hands up opened records, then queues the records of tc->in. */
static int read_batched(struct tls_conn *tc)
{
	struct gcm_link *l = tc->gcm;
	ssize_t u;

	if (gcm_alink_deliver(l, tc->core->now) < 0)
		return -1;
	if (l->s.peer_closed && !tc->close_notify_in) {
		tc->close_notify_in = tc->eof_seen = true;
		tc->core->stats.role[tc->role].close_notify_in++;
	}
	if (!tc->in || tc->upper_paused || tc->close_notify_in || tc->state != TLS_ST_OPEN)
		return 0;
	u = gcm_alink_input(l, tc->in + tc->in_off, tc->in_len - tc->in_off, tc->core->now);
	if (u < 0)
		return -1;
	tc->in_off += (size_t)u;
	return 0;
}

bool tls_gcm_in_pending(const struct tls_conn *tc)
{
	return batched(tc) && gcm_alink_in_pending(tc->gcm);
}

size_t tls_gcm_out_bytes(const struct tls_conn *tc)
{
	return batched(tc) ? gcm_alink_out_bytes(tc->gcm) : 0;
}

void tls_gcm_flush(struct tls_conn *tc)
{
	if (batched(tc))
		gcm_engine_flush(tc->core->gcm->e);
}

int tls_gcm_kicked(struct tls_conn *tc)
{
	if (!tc->gcm_kick)
		return 0;
	tc->gcm_kick = false;
	return tc->gcm && tc->gcm->err ? -1 : 1;
}

/* Completes the record held in gcm_rbuf from the span; 1 when it is whole, 0 when the span
 * ran out (all of it taken). */
static int rbuf_fill(struct tls_conn *tc)
{
	for (;;) {
		uint8_t alert;
		int need = gcm_rec_frame(&tc->gcm->s, tc->gcm_rbuf, tc->gcm_rlen, &alert);
		size_t want, k;

		if (need != 0)
			return 1; /* whole, or invalid: gcm_link_input reports it */
		want = tc->gcm_rlen < 5 ? 5 - tc->gcm_rlen : 0;
		if (!want)
			want = 5 + ((size_t)tc->gcm_rbuf[3] << 8 | tc->gcm_rbuf[4]) - tc->gcm_rlen;
		k = tc->in_len - tc->in_off < want ? tc->in_len - tc->in_off : want;
		if (k == 0)
			return 0;
		memcpy(tc->gcm_rbuf + tc->gcm_rlen, tc->in + tc->in_off, k);
		tc->gcm_rlen += k;
		tc->in_off += k;
	}
}

static int input(struct tls_conn *tc, const uint8_t *p, size_t n, size_t *used)
{
	struct gcm_link_io io = link_io;
	ssize_t u;

	io.ctx = tc;
	u = gcm_link_input(tc->core->gcm, tc->gcm, p, n, &io);

	if (u < 0)
		return -1;
	*used = (size_t)u;
	if (tc->gcm->s.peer_closed && !tc->close_notify_in) {
		tc->close_notify_in = tc->eof_seen = true;
		tc->core->stats.role[tc->role].close_notify_in++;
	}
	return 0;
}

int tls_gcm_read(struct tls_conn *tc)
{
	size_t used, left;

	if (batched(tc))
		return read_batched(tc);
	if (!tc->in || tc->in_off >= tc->in_len)
		return 0;
	if (tc->gcm_rlen) {
		if (!rbuf_fill(tc))
			return 0;
		if (input(tc, tc->gcm_rbuf, tc->gcm_rlen, &used) < 0)
			return -1;
		tc->gcm_rlen = 0;
		if (tc->upper_paused || tc->close_notify_in || tc->state != TLS_ST_OPEN)
			return 0;
	}
	if (input(tc, tc->in + tc->in_off, tc->in_len - tc->in_off, &used) < 0)
		return -1;
	tc->in_off += used;
	left = tc->in_len - tc->in_off;
	/* a record cut by the transport: keep its start (a short return would mean "paused") */
	if (left && !tc->upper_paused && !tc->close_notify_in && tc->state == TLS_ST_OPEN &&
	    left < GCM_TLS_MAX_RECORD) {
		if (!tc->gcm_rbuf && !(tc->gcm_rbuf = malloc(GCM_TLS_MAX_RECORD)))
			return -1;
		memcpy(tc->gcm_rbuf, tc->in + tc->in_off, left);
		tc->gcm_rlen = left;
		tc->in_off = tc->in_len;
	}
	return 0;
}

int tls_gcm_seal(struct tls_conn *tc, const void *p, size_t n)
{
	struct gcm_link_io io = link_io;

	if (batched(tc))
		return gcm_alink_send(tc->gcm, p, n, tc->core->now) == (ssize_t)n ? 0 : -1;
	io.ctx = tc;
	return gcm_link_send(tc->core->gcm, tc->gcm, p, n, &io) == (ssize_t)n ? 0 : -1;
}

_Static_assert(TLS_OBUF_HEAD >= GCM_LINK_HEADROOM, "tls obuf headroom");
_Static_assert(TLS_OBUF_SIZE - TLS_OBUF_HEAD >= GCM_LINK_INPLACE_CAP, "tls obuf size");
_Static_assert(TLS_RECORD_MAX <= GCM_TLS_MAX_PLAIN, "tls record size");

int tls_gcm_seal_obuf(struct tls_conn *tc, size_t n)
{
	struct gcm_link_io io = link_io;

	if (batched(tc))
		return tls_gcm_seal(tc, tc->obuf + TLS_OBUF_HEAD, n);
	io.ctx = tc;
	return gcm_link_seal_inplace(tc->core->gcm, tc->gcm, tc->obuf + TLS_OBUF_HEAD, n, &io) ==
			       (ssize_t)n ? 0 : -1;
}

void tls_gcm_close_notify(struct tls_conn *tc)
{
	struct gcm_link_io io = link_io;

	/* as SSL_shutdown would: a session freed without it is made non-resumable by OpenSSL */
	SSL_set_shutdown(tc->ssl, SSL_get_shutdown(tc->ssl) | SSL_SENT_SHUTDOWN);

	if (batched(tc)) {
		/* out now: a graceful close waits only for what the BIO already queued */
		if (gcm_alink_alert(tc->gcm, GCM_ALERT_CLOSE_NOTIFY, tc->core->now) == 0)
			gcm_engine_flush(tc->core->gcm->e);
		return;
	}
	io.ctx = tc;
	gcm_link_alert(tc->core->gcm, tc->gcm, GCM_ALERT_CLOSE_NOTIFY, &io);
}

unsigned tls_gcm_core_flush(struct tls_core *core)
{
	if (!core->gcm || !core->cfg.gcm_batch_sessions)
		return 0;
	return gcm_engine_flush(core->gcm->e);
}
