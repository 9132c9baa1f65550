/* SPDX-License-Identifier: MIT */
/*
 * tls_bio.c: the BIO between OpenSSL and the lower conn. Reads come straight out of the lower
 * conn's on_data() span (no copy into a memory BIO; what the SSL did not take stays
 * unconsumed in the lower conn). Writes go straight into conn_send() of the lower conn, so a
 * record enters the transport's send buffer exactly once; what the lower conn refuses waits
 * in the conn's ciphertext queue, in order, for on_sendable().
 */
#include "tls/tls_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static BIO_METHOD *bio_meth;
static int ssl_idx = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int cbuf_append(struct tls_conn *tc, const void *data, size_t len)
{
	if (tc->coff > 0 && tc->coff == tc->clen)
		tc->coff = tc->clen = 0;
	if (tc->clen + len > tc->ccap) {
		size_t ncap = tc->ccap ? tc->ccap : 4096;
		if (tc->coff > 0) {
			memmove(tc->cbuf, tc->cbuf + tc->coff, tc->clen - tc->coff);
			tc->clen -= tc->coff;
			tc->coff = 0;
		}
		while (ncap < tc->clen + len)
			ncap *= 2;
		if (ncap != tc->ccap) {
			uint8_t *n = realloc(tc->cbuf, ncap);
			if (!n)
				return -ENOMEM;
			tc->cbuf = n;
			tc->ccap = ncap;
		}
	}
	memcpy(tc->cbuf + tc->clen, data, len);
	tc->clen += len;
	return 0;
}

static int bio_write(BIO *b, const char *data, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	ssize_t n = 0;
	BIO_clear_retry_flags(b);
	if (!tc->lower || tc->lower_closing)
		return -1;
	if (tc->state == TLS_ST_HANDSHAKE)
		tls_gcm_count_out(tc, (const uint8_t *)data, (size_t)len);
	if (tc->clen == tc->coff) {       /* nothing queued ahead: straight into the transport */
		n = conn_send(tc->lower, data, (size_t)len);
		if (n < 0)
			return -1;
	}
	if ((size_t)n < (size_t)len && cbuf_append(tc, data + n, (size_t)len - (size_t)n) < 0)
		return -1;
	return len;
}

static int bio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	size_t avail = tc->in ? tc->in_len - tc->in_off : 0;
	BIO_clear_retry_flags(b);
	if (avail == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	if ((size_t)len > avail)
		len = (int)avail;
	memcpy(buf, tc->in + tc->in_off, (size_t)len);
	tc->in_off += (size_t)len;
	return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void once_init(void)
{
	bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "dpmail-conn");
	if (bio_meth) {
		BIO_meth_set_write(bio_meth, bio_write);
		BIO_meth_set_read(bio_meth, bio_read);
		BIO_meth_set_ctrl(bio_meth, bio_ctrl);
		BIO_meth_set_create(bio_meth, bio_create);
	}
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* ---- failure and close ------------------------------------------------------------------- */

int tls_bio_init(void)
{
	pthread_once(&once, once_init);
	return bio_meth && ssl_idx >= 0 ? 0 : -1;
}

BIO_METHOD *tls_bio_method(void)
{
	return bio_meth;
}

int tls_bio_ssl_idx(void)
{
	return ssl_idx;
}
