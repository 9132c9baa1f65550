// SPDX-License-Identifier: MIT
/*
 * tls_gcm.c: the hook from crypto/tls to the batched AES-GCM record layer (crypto/gcm). After
 * a handshake that negotiated AES-128-GCM or AES-256-GCM (TLS 1.2 or 1.3) on a core whose
 * tls_core_cfg.gcm_records is set, the connection's records are sealed and opened by
 * crypto/gcm (gcm_link) instead of OpenSSL's record layer; the SSL object is kept only for
 * the handshake result. Everything else (ChaCha20, other suites, a 1.3 client connection that
 * wants its NewSessionTicket for resumption) stays on OpenSSL for the whole session.
 * Ciphertext leaves through the connection's own BIO (so it queues exactly like OpenSSL's).
 */
#include "tls/tls_int.h"

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

	return BIO_write(SSL_get_wbio(tc->ssl), rec, (int)n) == (int)n ? 0 : -1;
}

static bool on_data(void *ctx, const uint8_t *p, size_t n)
{
	struct tls_conn *tc = ctx;

	tc->core->stats.role[tc->role].bytes_in += n;
	return tls_conn_deliver(tc, p, n);
}

void tls_gcm_takeover(struct tls_conn *tc)
{
	struct gcm_link *gl;

	if (!tc->core->gcm || tc->gcm)
		return;
	/* a 1.3 client that may reuse its session needs OpenSSL to read the ticket */
	if (tc->role == TLS_ROLE_CLIENT && SSL_version(tc->ssl) == TLS1_3_VERSION && tc->skey[0])
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
	tc->gcm = gl;
	tc->core->stats.role[tc->role].gcm_sessions++;
}

void tls_gcm_free(struct tls_conn *tc)
{
	if (!tc->gcm)
		return;
	gcm_sess_wipe(&tc->gcm->s);
	free(tc->gcm);
	tc->gcm = NULL;
}

int tls_gcm_read(struct tls_conn *tc)
{
	const struct gcm_link_io io = {.ctx = tc, .on_data = on_data, .emit = emit};
	ssize_t used;

	if (!tc->in || tc->in_off >= tc->in_len)
		return 0;
	used = gcm_link_input(tc->core->gcm, tc->gcm, tc->in + tc->in_off, tc->in_len - tc->in_off,
			      &io);
	if (used < 0)
		return -1;
	tc->in_off += (size_t)used;
	if (tc->gcm->s.peer_closed && !tc->close_notify_in) {
		tc->close_notify_in = tc->eof_seen = true;
		tc->core->stats.role[tc->role].close_notify_in++;
	}
	return 0;
}

int tls_gcm_seal(struct tls_conn *tc, const void *p, size_t n)
{
	const struct gcm_link_io io = {.ctx = tc, .on_data = on_data, .emit = emit};

	return gcm_link_send(tc->core->gcm, tc->gcm, p, n, &io) == (ssize_t)n ? 0 : -1;
}

void tls_gcm_close_notify(struct tls_conn *tc)
{
	const struct gcm_link_io io = {.ctx = tc, .on_data = on_data, .emit = emit};

	gcm_link_alert(tc->core->gcm, tc->gcm, GCM_ALERT_CLOSE_NOTIFY, &io);
}
