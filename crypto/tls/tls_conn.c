/* SPDX-License-Identifier: MIT */
/*
 * tls_conn.c: a struct conn implemented by TLS on top of another struct conn. OpenSSL talks
 * to the lower conn through a small custom BIO (tls_bio.c): reads come straight out of the lower conn's
 * on_data() span (zero copy; what the SSL did not take is returned as unconsumed, which is the
 * lower conn's backpressure), writes go straight into conn_send() of the lower conn, so every
 * encrypted record enters the transport's send buffer exactly once and a retransmission never
 * re-encrypts. Ciphertext that the lower conn refuses (send buffer full) waits in cbuf and is
 * pushed on on_sendable() in order.
 *
 * Plaintext from above is coalesced into full records: conn_send() fills a record buffer, a
 * full record is sealed at once, a partial one on conn_flush() or at the end of the loop turn
 * (tls_core_poll). Plaintext is delivered up only from SSL_read after the handshake, so bytes
 * that arrived before it (a STARTTLS injection) can never reach the SMTP session as commands.
 *
 * Re-entrancy: the lower conn may call on_closed() from inside conn_close()/conn_abort(), and
 * the upper layer may close us from inside any callback. Every entry point brackets its work
 * with enter()/leave(); the struct is freed only at depth 0.
 */
#include "tls/tls_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"


static const struct conn_ops tls_ops;
static const struct conn_handler tls_lower_handler;

#define TC(c) ((struct tls_conn *)(c))


static void tc_free(struct tls_conn *tc)
{
	tls_run_del(tc);
	tls_hs_del(tc);
	if (tc->new_sess)
		SSL_SESSION_free(tc->new_sess);
	tls_gcm_free(tc);
	SSL_free(tc->ssl);                /* frees the BIO */
	free(tc->pend);
	free(tc->obuf);
	free(tc->cbuf);
	free(tc);
}

static void enter(struct tls_conn *tc)
{
	tc->depth++;
}

/* Returns false when tc was freed: the caller must not touch it any more. */
static bool leave(struct tls_conn *tc)
{
	if (--tc->depth == 0 && tc->state == TLS_ST_DEAD) {
		tc_free(tc);
		return false;
	}
	return true;
}

/* ---- failure and close ------------------------------------------------------------------- */

static void result_report(struct tls_conn *tc)
{
	if (tc->on_result) {
		void (*cb)(void *, const struct tls_result *) = tc->on_result;
		tc->on_result = NULL;     /* exactly once */
		cb(tc->conn.handler_ctx, &tc->res);
	}
}

/* Closes the lower conn once queued ciphertext is out (graceful) or now (abortive). */
static void lower_close(struct tls_conn *tc, bool abortive)
{
	if (!tc->lower || tc->lower_closing)
		return;
	if (!abortive && tc->coff < tc->clen) {
		/* a peer that never opens its window must not pin the conn: deadline, then abort */
		tc->lower_close_pending = true;
		if (tc->core->cfg.close_timeout && !tc->on_hs) {
			tc->deadline = tc->core->now + tc->core->cfg.close_timeout;
			tls_hs_add(tc);
		}
		return;
	}
	tc->lower_closing = true;
	if (abortive)
		conn_abort(tc->lower);
	else
		conn_close(tc->lower);
}

/* The handshake failed (or the policy refused the peer): count, report, close. */
static void hs_fail(struct tls_conn *tc, enum tls_fail why, const char *reason, bool abortive)
{
	if (tc->state != TLS_ST_HANDSHAKE)
		return;
	tls_hs_del(tc);
	tc->res.ok = false;
	tc->res.fail = why;
	tc->res.reason = reason ? reason : tls_fail_str(why);
	tc->core->stats.role[tc->role].fail[why]++;
	tc->state = TLS_ST_CLOSING;
	switch (why) {
	case TLS_FAIL_TIMEOUT:
		tc->why = CONN_CLOSED_TIMEOUT;
		tc->why_set = true;
		break;
	case TLS_FAIL_ABORTED:
	case TLS_FAIL_CLOSED:
		break;            /* the transport's own reason (reset, peer, local) goes up */
	default:
		tc->why = CONN_CLOSED_PROTO;
		tc->why_set = true;
	}
	result_report(tc);
	lower_close(tc, abortive);
}

/*
 * A fatal error after the handshake (alert received, bad record): the session is over. The
 * lower conn is closed from tls_core_poll, not here, so that a conn_send() of the upper layer
 * never sees its own on_closed() from inside the call.
 */
static void session_fail(struct tls_conn *tc)
{
	if (tc->state != TLS_ST_OPEN)
		return;
	tc->core->stats.role[tc->role].alerts_after_hs++;
	tc->state = TLS_ST_CLOSING;
	tc->why = CONN_CLOSED_PROTO;
	tc->why_set = true;
	tc->lower_close_pending = true;
	tls_run_add(tc);
}

static void classify_and_fail(struct tls_conn *tc, int ret)
{
	int e = SSL_get_error(tc->ssl, ret);
	unsigned long err = ERR_peek_last_error();
	const char *reason = NULL;
	enum tls_fail f;
	if (e == SSL_ERROR_SSL || err) {
		f = tls_fail_classify(err, tc->ev.dane, &reason);
		if (f == TLS_FAIL_VERIFY && tc->role == TLS_ROLE_CLIENT) {
			tc->res.verify_error = SSL_get_verify_result(tc->ssl);
			reason = X509_verify_cert_error_string(tc->res.verify_error);
		}
	} else {
		f = TLS_FAIL_ABORTED;     /* our BIO failed: the transport is gone */
	}
	ERR_clear_error();
	hs_fail(tc, f, reason, false);
}

/* ---- handshake ------------------------------------------------------------------------------ */

static void fill_result(struct tls_conn *tc)
{
	struct tls_result *r = &tc->res;
	const SSL_CIPHER *ciph = SSL_get_current_cipher(tc->ssl);
	r->resumed = SSL_session_reused(tc->ssl) == 1;
	r->version = SSL_get_version(tc->ssl);
	r->cipher = ciph ? SSL_CIPHER_get_name(ciph) : "";
	if (tc->role == TLS_ROLE_SERVER) {
		const char *sni = SSL_get_servername(tc->ssl, TLSEXT_NAMETYPE_host_name);
		if (sni)
			snprintf(r->sni, sizeof(r->sni), "%s", sni);
		return;
	}
	X509 *peer = SSL_get0_peer_certificate(tc->ssl);
	if (peer)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, r->peer_cn,
					  sizeof(r->peer_cn));
	r->verify_error = SSL_get_verify_result(tc->ssl);
	if (r->resumed) {
		/* A session is cached only after it satisfied the same policy (the key holds the
		 * destination, the mode and the TLSA data), so it inherits that verdict. */
		r->verified = tc->sess_verified;
		r->dane = tc->sess_dane;
	} else if (peer && r->verify_error == X509_V_OK) {
		r->verified = true;
		r->dane = tc->ev.dane && SSL_get0_dane_authority(tc->ssl, NULL, NULL) >= 0;
	}
}

static void hs_done(struct tls_conn *tc)
{
	struct tls_role_stats *st = &tc->core->stats.role[tc->role];
	tls_hs_del(tc);
	fill_result(tc);
	if (tc->role == TLS_ROLE_CLIENT && tc->ev.require_auth && !tc->ev.report_only &&
	    !tc->res.verified) {
		hs_fail(tc, tc->ev.dane ? TLS_FAIL_DANE : TLS_FAIL_VERIFY, NULL, false);
		return;
	}
	tc->state = TLS_ST_OPEN;
	tc->res.ok = true;
	tls_gcm_takeover(tc);             /* AES-GCM records to crypto/gcm when enabled */
	tls_stats_handshake(&tc->core->stats, tc->role, tc->ssl, tc->res.resumed);
	if (tc->role == TLS_ROLE_CLIENT) {
		if (tc->res.verified)
			st->verified++;
		else
			st->unverified++;
		if (tc->new_sess) {
			tls_sess_put(tc->core, tc->skey, tc->new_sess, tc->res.verified, tc->res.dane);
			tc->new_sess = NULL;
		}
	}
	result_report(tc);
	if (tc->state == TLS_ST_OPEN && tc->conn.handler->on_connected)
		tc->conn.handler->on_connected(tc->conn.handler_ctx, &tc->conn);
}

static void do_handshake(struct tls_conn *tc)
{
	ERR_clear_error();
	tls_gcm_hs_call(tc);
	int r = SSL_do_handshake(tc->ssl);
	if (r == 1) {
		hs_done(tc);
		return;
	}
	int e = SSL_get_error(tc->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	classify_and_fail(tc, r);
}

/* Client sessions arrive here (TLS 1.3: after the handshake, in a NewSessionTicket): the
 * SSL_CTX's new-session callback, set in tls_ctx.c. */
int tls_conn_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_conn *tc = SSL_get_ex_data(ssl, tls_bio_ssl_idx());
	if (!tc || tc->role != TLS_ROLE_CLIENT || !tc->skey[0])
		return 0;
	if (tc->state == TLS_ST_OPEN) {
		tls_sess_put(tc->core, tc->skey, sess, tc->res.verified, tc->res.dane);
		return 1;                 /* the cache took the reference */
	}
	if (tc->state != TLS_ST_HANDSHAKE)
		return 0;
	if (tc->new_sess)
		SSL_SESSION_free(tc->new_sess);
	tc->new_sess = sess;              /* kept until the policy verdict */
	return 1;
}

/* ---- input -------------------------------------------------------------------------------- */

/* Offers plaintext up; keeps what the upper layer did not take. false: stop delivering. */
static bool deliver(struct tls_conn *tc, const uint8_t *p, size_t n)
{
	size_t used = tc->conn.handler->on_data(tc->conn.handler_ctx, &tc->conn, p, n);
	if (tc->state != TLS_ST_OPEN)
		return false;
	if (used >= n)
		return true;
	tc->upper_paused = true;
	if (tc->pend && p == tc->pend + tc->pend_off) {
		tc->pend_off += used;
		return false;
	}
	if (!tc->pend) {
		tc->pend = malloc(TLS_RECORD_MAX);
		if (!tc->pend) {
			session_fail(tc);
			return false;
		}
	}
	memcpy(tc->pend, p + used, n - used);
	tc->pend_off = 0;
	tc->pend_len = n - used;
	return false;
}

bool tls_conn_deliver(struct tls_conn *tc, const uint8_t *p, size_t n)
{
	return deliver(tc, p, n);
}

static void tell_eof(struct tls_conn *tc)
{
	if (tc->eof_told || tc->upper_paused || tc->pend_off < tc->pend_len ||
	    tls_gcm_in_pending(tc))
		return;
	tc->eof_told = true;
	if (tc->conn.handler->on_eof)
		tc->conn.handler->on_eof(tc->conn.handler_ctx, &tc->conn);
}

/* Decrypts what the SSL can give and hands it up, until the upper layer pushes back. */
static void read_loop(struct tls_conn *tc)
{
	uint8_t buf[TLS_RECORD_MAX];
	while (tc->state == TLS_ST_OPEN && !tc->upper_paused) {
		if (tc->pend_off < tc->pend_len) {
			if (!deliver(tc, tc->pend + tc->pend_off, tc->pend_len - tc->pend_off))
				return;
			tc->pend_off = tc->pend_len = 0;
			continue;
		}
		if (tc->close_notify_in)
			break;
		if (tc->gcm) {
			if (tls_gcm_read(tc) < 0) {
				session_fail(tc);
				return;
			}
			break;            /* every complete record handed up, or the upper paused */
		}
		size_t got = 0;
		ERR_clear_error();
		if (SSL_read_ex(tc->ssl, buf, sizeof(buf), &got) == 1) {
			tc->core->stats.role[tc->role].bytes_in += got;
			if (!deliver(tc, buf, got))
				return;
			continue;
		}
		int e = SSL_get_error(tc->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return;
		if (e == SSL_ERROR_ZERO_RETURN) {
			tc->close_notify_in = tc->eof_seen = true;
			tc->core->stats.role[tc->role].close_notify_in++;
			break;
		}
		ERR_clear_error();
		session_fail(tc);
		return;
	}
	if (tc->state == TLS_ST_OPEN && tc->eof_seen)
		tell_eof(tc);
}

static size_t lower_on_data(void *ctx, struct conn *lc, const uint8_t *data, size_t len)
{
	struct tls_conn *tc = ctx;
	size_t used;
	if (tc->state == TLS_ST_CLOSING || tc->state == TLS_ST_DEAD)
		return len;               /* draining towards close: nothing more is read */
	if (tc->upper_paused || tc->pend_off < tc->pend_len) {
		tc->lower_paused = true;
		return 0;
	}
	enter(tc);
	tc->in = data;
	tc->in_len = len;
	tc->in_off = 0;
	if (tc->state == TLS_ST_HANDSHAKE)
		do_handshake(tc);
	if (tc->state == TLS_ST_OPEN)
		read_loop(tc);
	used = tc->in_off;
	tc->in = NULL;
	tc->in_len = tc->in_off = 0;
	if (tc->state != TLS_ST_OPEN && tc->state != TLS_ST_HANDSHAKE)
		used = len;
	else if (used < len)
		tc->lower_paused = true;
	if (tc->lower && !tc->lower_closing)
		conn_flush(tc->lower);    /* handshake flights and alerts go out now */
	leave(tc);
	return used;
}

static void lower_on_eof(void *ctx, struct conn *lc)
{
	struct tls_conn *tc = ctx;
	enter(tc);
	if (tc->state == TLS_ST_HANDSHAKE) {
		hs_fail(tc, TLS_FAIL_ABORTED, "peer closed during the handshake", false);
	} else if (tc->state == TLS_ST_OPEN) {
		if (tls_gcm_in_pending(tc)) {
			/* batched records still queued: the last may be the close_notify */
			tls_gcm_flush(tc);
			if (!tc->upper_paused)
				read_loop(tc);
		}
		if (!tc->close_notify_in && !tls_gcm_in_pending(tc) && tc->state == TLS_ST_OPEN)
			tc->core->stats.role[tc->role].truncated++;
		tc->eof_seen = true;
		tell_eof(tc);
	}
	leave(tc);
}

/* ---- output ------------------------------------------------------------------------------- */

/* Seals plaintext into records (staged: the n octets in obuf, sealed in place by crypto/gcm);
 * the BIO hands them to the lower conn. */
static int seal(struct tls_conn *tc, const void *p, size_t n, bool staged)
{
	size_t w = 0;
	int rc;
	if (!tc->gcm)
		ERR_clear_error();        /* crypto/gcm leaves OpenSSL's error queue alone */
	if (tc->gcm)
		rc = staged ? tls_gcm_seal_obuf(tc, n) : tls_gcm_seal(tc, p, n);
	else
		rc = SSL_write_ex(tc->ssl, p, n, &w) == 1 && w == n ? 0 : -1;
	if (rc < 0) {
		ERR_clear_error();
		session_fail(tc);
		return -EPIPE;
	}
	tc->core->stats.role[tc->role].records_out += (n + TLS_RECORD_MAX - 1) / TLS_RECORD_MAX;
	return 0;
}

static int seal_obuf(struct tls_conn *tc)
{
	if (tc->olen == 0)
		return 0;
	size_t n = tc->olen;
	tc->olen = 0;
	return seal(tc, tc->obuf + TLS_OBUF_HEAD, n, true);
}

static size_t tls_send_space(const struct conn *c)
{
	const struct tls_conn *tc = TC(c);
	size_t used = tc->olen + (tc->clen - tc->coff) + tls_gcm_out_bytes(tc);
	if (tc->state != TLS_ST_OPEN || tc->shut_wr || !tc->lower)
		return 0;
	return used >= tc->core->cfg.send_limit ? 0 : tc->core->cfg.send_limit - used;
}

static ssize_t tls_send(struct conn *c, const void *buf, size_t len)
{
	struct tls_conn *tc = TC(c);
	const uint8_t *p = buf;
	size_t n, done = 0;
	if (tc->state != TLS_ST_OPEN || tc->shut_wr)
		return -ENOTCONN;
	if (!tc->lower)
		return -EPIPE;
	n = tls_send_space(c);
	if (n > len)
		n = len;
	enter(tc);
	while (done < n && tc->state == TLS_ST_OPEN) {
		size_t left = n - done;
		if (tc->olen == 0 && left >= TLS_RECORD_MAX) {
			/* full records straight from the caller's buffer, no copy */
			size_t whole = left - left % TLS_RECORD_MAX;
			if (seal(tc, p + done, whole, false) < 0)
				break;
			done += whole;
			continue;
		}
		if (!tc->obuf && !(tc->obuf = malloc(TLS_OBUF_SIZE)))
			break;
		size_t k = TLS_RECORD_MAX - tc->olen;
		if (k > left)
			k = left;
		memcpy(tc->obuf + TLS_OBUF_HEAD + tc->olen, p + done, k);
		tc->olen += k;
		done += k;
		if (tc->olen == TLS_RECORD_MAX && seal_obuf(tc) < 0)
			break;
	}
	tc->core->stats.role[tc->role].bytes_out += done;
	if (done < len)
		tc->want_sendable = true;
	if (tc->olen > 0)
		tls_run_add(tc);              /* sealed by the end of this loop turn at the latest */
	if (!leave(tc))
		return -EPIPE;
	if (tc->state != TLS_ST_OPEN)
		return done ? (ssize_t)done : -EPIPE;
	return (ssize_t)done;
}

static void tls_flush(struct conn *c)
{
	struct tls_conn *tc = TC(c);
	if (tc->state != TLS_ST_OPEN)
		return;
	enter(tc);
	seal_obuf(tc);
	tls_gcm_flush(tc);                /* batched records: their burst runs now */
	if (tc->lower && !tc->lower_closing)
		conn_flush(tc->lower);
	leave(tc);
}

/* Pushes queued ciphertext; then the pending lower close/shutdown, then tells the upper. */
static void lower_on_sendable(void *ctx, struct conn *lc)
{
	struct tls_conn *tc = ctx;
	enter(tc);
	while (tc->lower && tc->coff < tc->clen) {
		ssize_t n = conn_send(tc->lower, tc->cbuf + tc->coff, tc->clen - tc->coff);
		if (n <= 0)
			break;
		tc->coff += (size_t)n;
	}
	if (tc->coff == tc->clen) {
		tc->coff = tc->clen = 0;
		if (tc->lower_shut_pending && tc->lower) {
			tc->lower_shut_pending = false;
			conn_shutdown(tc->lower);
		}
		if (tc->lower_close_pending) {
			tc->lower_close_pending = false;
			lower_close(tc, false);
		}
	}
	if (tc->state == TLS_ST_OPEN && tc->want_sendable && tls_send_space(&tc->conn) > 0) {
		tc->want_sendable = false;
		if (tc->conn.handler->on_sendable)
			tc->conn.handler->on_sendable(tc->conn.handler_ctx, &tc->conn);
	}
	leave(tc);
}

static void lower_on_closed(void *ctx, struct conn *lc, enum conn_close_reason why)
{
	struct tls_conn *tc = ctx;
	enter(tc);
	tc->lower = NULL;
	if (tc->state == TLS_ST_HANDSHAKE)
		hs_fail(tc, why == CONN_CLOSED_TIMEOUT ? TLS_FAIL_TIMEOUT : TLS_FAIL_ABORTED,
			conn_close_reason_str(why), true);
	tc->state = TLS_ST_DEAD;
	tc->core->stats.role[tc->role].active--;
	tls_run_del(tc);
	tls_hs_del(tc);
	tc->conn.handler->on_closed(tc->conn.handler_ctx, &tc->conn, tc->why_set ? tc->why : why);
	leave(tc);
}

static const struct conn_handler tls_lower_handler = {
	.on_data = lower_on_data,
	.on_eof = lower_on_eof,
	.on_sendable = lower_on_sendable,
	.on_closed = lower_on_closed,
};

/* ---- upper-side operations ------------------------------------------------------------------ */

static void tls_resume_read(struct conn *c)
{
	struct tls_conn *tc = TC(c);
	if (!tc->upper_paused)
		return;
	tc->upper_paused = false;
	tls_run_add(tc);                      /* delivery happens in tls_core_poll, not in here */
}

/* Sends close_notify after the queued plaintext. */
static void send_close_notify(struct tls_conn *tc)
{
	if (tc->shut_wr || tc->state != TLS_ST_OPEN)
		return;
	seal_obuf(tc);
	tc->shut_wr = true;
	ERR_clear_error();
	if (tc->gcm)
		tls_gcm_close_notify(tc);
	else
		SSL_shutdown(tc->ssl);
	ERR_clear_error();
}

static void tls_shutdown(struct conn *c)
{
	struct tls_conn *tc = TC(c);
	enter(tc);
	send_close_notify(tc);
	if (tc->lower && !tc->lower_closing) {
		if (tc->coff < tc->clen)
			tc->lower_shut_pending = true;
		else
			conn_shutdown(tc->lower);
	}
	leave(tc);
}

static void tls_close(struct conn *c)
{
	struct tls_conn *tc = TC(c);
	enter(tc);
	if (tc->state == TLS_ST_HANDSHAKE)
		hs_fail(tc, TLS_FAIL_CLOSED, NULL, false);
	if (tc->state == TLS_ST_OPEN) {
		send_close_notify(tc);
		tc->state = TLS_ST_CLOSING;
		lower_close(tc, false);
	}
	leave(tc);
}

static void tls_abort(struct conn *c)
{
	struct tls_conn *tc = TC(c);
	enter(tc);
	if (tc->state == TLS_ST_HANDSHAKE)
		hs_fail(tc, TLS_FAIL_CLOSED, NULL, true);
	if (tc->state != TLS_ST_DEAD) {
		tc->state = TLS_ST_CLOSING;
		tc->lower_closing = false;    /* an abort overrides a pending graceful close */
		tc->coff = tc->clen = 0;
		if (tc->lower) {
			tc->lower_closing = true;
			conn_abort(tc->lower);
		}
	}
	leave(tc);
}

static const struct conn_ops tls_ops = {
	.name = "tls",
	.send = tls_send,
	.flush = tls_flush,
	.send_space = tls_send_space,
	.resume_read = tls_resume_read,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.abort = tls_abort,
};

bool tls_conn_is_tls(const struct conn *c)
{
	return c->ops == &tls_ops;
}

const struct tls_result *tls_conn_result(const struct conn *c)
{
	return &TC(c)->res;
}

/* ---- work from tls_core_poll -------------------------------------------------------------- */

/* Deferred work of one conn: a pending close, resumed delivery, end-of-turn sealing. */
void tls_conn_run(struct tls_conn *tc)
{
	int kick;
	enter(tc);
	kick = tls_gcm_kicked(tc);        /* batched records completed: emitted, or to deliver */
	if (kick < 0)
		session_fail(tc);
	else if (kick > 0 && tc->lower && !tc->lower_closing)
		conn_flush(tc->lower);
	if (tc->lower_close_pending) {
		/* from session_fail; lower_close waits (with a deadline) while ciphertext is queued */
		tc->lower_close_pending = false;
		lower_close(tc, false);
	}
	if (tc->state == TLS_ST_OPEN && !tc->upper_paused) {
		read_loop(tc);
		if (tc->state == TLS_ST_OPEN && !tc->upper_paused && tc->pend_off >= tc->pend_len &&
		    tc->lower_paused && tc->lower) {
			tc->lower_paused = false;
			conn_resume_read(tc->lower);
		}
	}
	if (tc->state == TLS_ST_OPEN && tc->olen > 0) {
		seal_obuf(tc);
		if (tc->lower && !tc->lower_closing)
			conn_flush(tc->lower);
	}
	leave(tc);
}

/* A deadline passed: the handshake's, or that of a close waiting for the transport. */
void tls_conn_expire(struct tls_conn *tc)
{
	enter(tc);
	tls_hs_del(tc);
	if (tc->state == TLS_ST_HANDSHAKE) {
		hs_fail(tc, TLS_FAIL_TIMEOUT, "handshake timeout", true);
	} else if (tc->lower_close_pending) {
		tc->lower_close_pending = false;
		tc->coff = tc->clen = 0;
		lower_close(tc, true);
	}
	leave(tc);
}

/* ---- constructors ------------------------------------------------------------------------- */

static struct tls_conn *tc_new(struct tls_core *core, struct conn *lower, SSL_CTX *ctx,
			       enum tls_role role, const struct conn_handler *h, void *hctx,
			       const struct tls_conn_opts *o, int *err)
{
	struct tls_conn *tc;
	BIO *bio;
	if (tls_bio_init() < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	tc = calloc(1, sizeof(*tc));
	if (!tc)
		goto err;
	tc->ssl = SSL_new(ctx);
	if (!tc->ssl)
		goto err_tc;
	bio = BIO_new(tls_bio_method());
	if (!bio)
		goto err_ssl;
	BIO_set_data(bio, tc);
	SSL_set_bio(tc->ssl, bio, bio);
	SSL_set_ex_data(tc->ssl, tls_bio_ssl_idx(), tc);
	tc->conn.ops = &tls_ops;
	tc->conn.handler = h;
	tc->conn.handler_ctx = hctx;
	tc->conn.local = lower->local;
	tc->conn.remote = lower->remote;
	tc->conn.id = lower->id;
	tc->core = core;
	tc->lower = lower;
	tc->role = role;
	tc->state = TLS_ST_HANDSHAKE;
	tc->on_result = o->on_result;
	tc->res.version = tc->res.cipher = tc->res.reason = "";
	tc->deadline = o->handshake_timeout ? o->now + o->handshake_timeout : 0;
	return tc;
err_ssl:
	SSL_free(tc->ssl);
err_tc:
	free(tc);
err:
	ERR_clear_error();
	*err = -ENOMEM;
	return NULL;
}

/* Takes over lower and starts the clock. */
static void tc_start(struct tls_conn *tc)
{
	conn_set_handler(tc->lower, &tls_lower_handler, tc);
	tls_hs_add(tc);
	tc->core->stats.role[tc->role].active++;
}

struct conn *tls_conn_server_new(struct tls_core *core, struct conn *lower,
				 struct tls_server_ctx *sc, const struct conn_handler *h,
				 void *hctx, const struct tls_conn_opts *o, int *err)
{
	struct tls_conn *tc = tc_new(core, lower, sc->ctx, TLS_ROLE_SERVER, h, hctx, o, err);
	if (!tc)
		return NULL;
	SSL_set_accept_state(tc->ssl);
	tc_start(tc);
	return &tc->conn;
}

static bool is_ip_literal(const char *h)
{
	return strspn(h, "0123456789.") == strlen(h) || strchr(h, ':') != NULL;
}

struct conn *tls_conn_client_new(struct tls_core *core, struct conn *lower,
				 struct tls_client_ctx *cc, const struct conn_handler *h,
				 void *hctx, const struct tls_conn_opts *o, int *err)
{
	struct tls_conn *tc = tc_new(core, lower, cc->ctx, TLS_ROLE_CLIENT, h, hctx, o, err);
	const char *host = o->host ? o->host : "";
	SSL_SESSION *s;
	if (!tc)
		return NULL;
	tls_policy_eval(o->policy, host, &tc->ev);
	SSL_set_connect_state(tc->ssl);
	if (host[0] && !is_ip_literal(host))
		SSL_set_tlsext_host_name(tc->ssl, host);
	if (tls_policy_apply(tc->ssl, o->policy, &tc->ev, host) < 0) {
		SSL_free(tc->ssl);
		free(tc);
		ERR_clear_error();
		*err = -EINVAL;
		return NULL;
	}
	if (!o->session_key || o->session_key[0])  /* "" = no session reuse */
		tls_sess_key(tc->skey, sizeof(tc->skey), o->session_key ? o->session_key : host,
			     o->policy);
	s = tls_sess_get(core, tc->skey, &tc->sess_verified, &tc->sess_dane);
	if (s)
		SSL_set_session(tc->ssl, s);
	tc_start(tc);
	/* ClientHello now; the transport sends it with its next poll. */
	enter(tc);
	do_handshake(tc);
	if (tc->lower && !tc->lower_closing)
		conn_flush(tc->lower);
	if (!leave(tc)) {
		*err = -EPIPE;            /* the transport refused the ClientHello; on_closed ran */
		return NULL;
	}
	return &tc->conn;
}
