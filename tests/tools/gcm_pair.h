/* SPDX-License-Identifier: MIT */
/*
 * gcm_pair.h: an OpenSSL client and server joined by memory BIOs in one process, for the gcm
 * interop tests and the record benchmark: handshake, then one side is taken over by the
 * batched record layer while the other stays a real OpenSSL peer. Header-only (static
 * functions) so that a test and a tool can share it without a library.
 */
#ifndef DPMAIL_GCM_PAIR_H
#define DPMAIL_GCM_PAIR_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"

struct gcm_pend {
	SSL *ssl;
	BIO *in, *out; /* in: bytes for ssl to read; out: bytes ssl wrote */
};

struct gcm_pair {
	SSL_CTX *sctx, *cctx;
	struct gcm_pend srv, cli;
	unsigned srv_tickets; /* records the server wrote when its handshake finished (1.3) */
};

/* Moves everything from a's output to b's input; returns the bytes moved. */
static inline size_t gcm_pair_pump(struct gcm_pend *a, struct gcm_pend *b)
{
	char buf[16384];
	size_t tot = 0;
	int n;

	while ((n = BIO_read(a->out, buf, sizeof(buf))) > 0) {
		BIO_write(b->in, buf, n);
		tot += (size_t)n;
	}
	return tot;
}

static inline int gcm_pend_init(struct gcm_pend *p, SSL_CTX *ctx, bool server)
{
	p->ssl = SSL_new(ctx);
	p->in = BIO_new(BIO_s_mem());
	p->out = BIO_new(BIO_s_mem());
	if (!p->ssl || !p->in || !p->out)
		return -1;
	BIO_set_mem_eof_return(p->in, -1);
	SSL_set_bio(p->ssl, p->in, p->out);
	if (server)
		SSL_set_accept_state(p->ssl);
	else
		SSL_set_connect_state(p->ssl);
	return 0;
}

/*
 * Builds contexts (TLS version v = TLS1_2_VERSION or TLS1_3_VERSION, one AES-GCM suite: 128
 * or 256) with the keylog hook on both, and handshakes. cert/key: PEM paths. 0 or -1.
 */
static inline int gcm_pair_open(struct gcm_pair *p, int v, bool aes256, const char *cert,
				const char *key)
{
	const char *s13 = aes256 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256";
	const char *s12 = aes256 ? "ECDHE-ECDSA-AES256-GCM-SHA384" : "ECDHE-ECDSA-AES128-GCM-SHA256";
	SSL_CTX *ctxs[2];

	memset(p, 0, sizeof(*p));
	if (gcm_ossl_init())
		return -1;
	p->sctx = SSL_CTX_new(TLS_server_method());
	p->cctx = SSL_CTX_new(TLS_client_method());
	ctxs[0] = p->sctx;
	ctxs[1] = p->cctx;
	for (int i = 0; i < 2; i++) {
		if (!ctxs[i] || !SSL_CTX_set_min_proto_version(ctxs[i], v) ||
		    !SSL_CTX_set_max_proto_version(ctxs[i], v) ||
		    !SSL_CTX_set_ciphersuites(ctxs[i], s13) ||
		    !SSL_CTX_set_cipher_list(ctxs[i], s12))
			return -1;
		SSL_CTX_set_keylog_callback(ctxs[i], gcm_ossl_keylog_cb);
	}
	if (SSL_CTX_use_certificate_chain_file(p->sctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(p->sctx, key, SSL_FILETYPE_PEM) != 1)
		return -1;
	if (gcm_pend_init(&p->srv, p->sctx, true) || gcm_pend_init(&p->cli, p->cctx, false))
		return -1;
	for (int round = 0; round < 10; round++) {
		bool was = SSL_is_init_finished(p->srv.ssl);
		int rc;

		SSL_do_handshake(p->cli.ssl);
		gcm_pair_pump(&p->cli, &p->srv);
		rc = SSL_do_handshake(p->srv.ssl);
		if (!was && rc == 1) {
			/* TLS 1.3: the server's last handshake call wrote its NewSessionTickets,
			 * protected under the application key: the takeover's write sequence */
			char buf[8192];
			int n = (int)BIO_ctrl_pending(p->srv.out);

			if (n > 0 && n <= (int)sizeof(buf)) {
				BIO_read(p->srv.out, buf, n);
				if (v == TLS1_3_VERSION)
					p->srv_tickets = gcm_rec_count((uint8_t *)buf, (size_t)n);
				BIO_write(p->cli.in, buf, n);
			}
		}
		gcm_pair_pump(&p->srv, &p->cli);
		if (SSL_is_init_finished(p->cli.ssl) && SSL_is_init_finished(p->srv.ssl))
			return 0;
	}
	ERR_print_errors_fp(stderr);
	return -1;
}

static inline void gcm_pair_close(struct gcm_pair *p)
{
	SSL_free(p->srv.ssl);
	SSL_free(p->cli.ssl);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	memset(p, 0, sizeof(*p));
}

/*
 * Takes over side (server or client) with the batched record layer: exports its secrets and
 * sets up s with the sequence numbers OpenSSL used. The OpenSSL object of that side is left
 * alone from now on. 0 or -errno.
 */
static inline int gcm_pair_takeover(struct gcm_pair *p, bool server, struct gcm_engine *e,
				    struct gcm_sess *s)
{
	struct gcm_secrets sec;
	SSL *ssl = server ? p->srv.ssl : p->cli.ssl;
	uint64_t rd = 0, wr = 0;
	int rc = gcm_ossl_export(ssl, &sec);

	if (rc)
		return rc;
	if (sec.version == GCM_TLS12)
		rd = wr = 1; /* the Finished messages used sequence 0 under these keys */
	else if (server)
		wr = p->srv_tickets;
	rc = gcm_sess_init(s, e, &sec, rd, wr);
	memset(&sec, 0, sizeof(sec));
	return rc;
}

#endif
