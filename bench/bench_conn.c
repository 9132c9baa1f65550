/* SPDX-License-Identifier: MIT */
/*
 * bench_conn.c: one non-blocking kernel socket with optional TLS (OpenSSL on the fd), shared by
 * the load generator and the sink. Output is a queue of three segments sent in order: the
 * owned buffer (commands, replies, message headers), a borrowed extent (the message body, sent
 * from the shared template without copying) and a short owned tail (the ".\r\n" of DATA).
 * A bench_conn with cnet set runs over the conn API instead (bench_cnet.c): the same calls
 * dispatch there, so the SMTP state machines of the load and the sink serve both transports.
 */
#include "bench.h"
#include "bench_cnet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>

#define WBUF_MAX (1u << 20)

int bench_conn_init(struct bench_conn *c, int fd, size_t rcap, size_t wcap)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->rbuf = malloc(rcap);
	c->wbuf = malloc(wcap);
	if (!c->rbuf || !c->wbuf) {
		free(c->rbuf);
		free(c->wbuf);
		c->rbuf = c->wbuf = NULL;
		return -1;
	}
	c->rcap = rcap;
	c->wcap = wcap;
	return 0;
}

/* Closes the socket (the kernel removes it from epoll) and frees the buffers. */
void bench_conn_free(struct bench_conn *c)
{
	if (c->cnet)
		bench_cn_release(c);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int bench_conn_queue(struct bench_conn *c, const void *data, size_t len)
{
	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if (c->wlen + len > c->wcap) {
		if (c->woff > 0) {
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
		}
		if (c->wlen + len > c->wcap) {
			size_t cap = c->wcap;
			while (cap < c->wlen + len)
				cap *= 2;
			if (cap > WBUF_MAX)
				return -1;
			uint8_t *n = realloc(c->wbuf, cap);
			if (!n)
				return -1;
			c->wbuf = n;
			c->wcap = cap;
		}
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
	c->want_write = true;
	return 0;
}

int bench_conn_queuef(struct bench_conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return bench_conn_queue(c, buf, (size_t)n);
}

/* One write of p[0, len): bytes written, 0 when the socket (or TLS) would block, -1 on error. */
static ssize_t conn_write_some(struct bench_conn *c, const void *p, size_t len)
{
	if (c->cnet)
		return bench_cn_write(c, p, len);
	if (c->ssl) {
		size_t w = 0;
		ERR_clear_error();
		if (SSL_write_ex(c->ssl, p, len, &w) == 1)
			return (ssize_t)w;
		int e = SSL_get_error(c->ssl, 0);
		return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -1;
	}
	for (;;) {
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -1;
	}
}

int bench_conn_flush(struct bench_conn *c)
{
	if (c->cnet) {
		int r = bench_cn_flush_ready(c);
		if (r <= 0)
			return r;
	}
	for (;;) {
		const uint8_t *p;
		size_t len;
		int seg;
		if (c->wlen > c->woff) {
			p = c->wbuf + c->woff, len = c->wlen - c->woff, seg = 0;
		} else if (c->ext_len) {
			p = c->ext, len = c->ext_len, seg = 1;
		} else if (c->tail_len) {
			p = (const uint8_t *)c->tail, len = c->tail_len, seg = 2;
		} else {
			c->woff = c->wlen = 0;
			c->want_write = false;
			if (c->cnet)
				bench_cn_push(c);
			return 1;
		}
		ssize_t w = conn_write_some(c, p, len);
		if (w < 0)
			return -1;
		if (w == 0) {
			c->want_write = true; /* EPOLLOUT, or on_sendable of the conn */
			if (c->cnet)
				bench_cn_push(c);
			return 0;
		}
		c->bytes_out += (uint64_t)w;
		if (seg == 0) {
			c->woff += (size_t)w;
		} else if (seg == 1) {
			c->ext += w;
			c->ext_len -= (size_t)w;
		} else {
			memmove(c->tail, c->tail + w, c->tail_len - (size_t)w);
			c->tail_len -= (size_t)w;
		}
	}
}

ssize_t bench_conn_read(struct bench_conn *c)
{
	if (c->cnet)
		return bench_cn_read(c);
	size_t room = c->rcap - c->rlen;
	if (room == 0)
		return -EAGAIN; /* the caller must parse before reading on */
	if (c->ssl) {
		size_t got = 0;
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, c->rbuf + c->rlen, room, &got) == 1) {
			c->rlen += got;
			c->bytes_in += got;
			return (ssize_t)got;
		}
		int e = SSL_get_error(c->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return -EAGAIN;
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
			return 0;
		return -1;
	}
	for (;;) {
		ssize_t r = read(c->fd, c->rbuf + c->rlen, room);
		if (r > 0) {
			c->rlen += (size_t)r;
			c->bytes_in += (uint64_t)r;
			return r;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? -EAGAIN : -1;
	}
}

void bench_conn_consume(struct bench_conn *c, size_t n)
{
	if (n >= c->rlen) {
		c->rlen = 0;
		return;
	}
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

int bench_conn_start_tls(struct bench_conn *c, SSL_CTX *ctx, bool server)
{
	if (c->cnet)
		return bench_cn_start_tls(c, server);
	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	if (server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	c->tls_done = false;
	return 0;
}

int bench_conn_handshake(struct bench_conn *c)
{
	if (c->cnet)
		return bench_cn_handshake(c);
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls_done = true;
		c->want_write = c->wlen > c->woff || c->ext_len || c->tail_len;
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->want_write = false;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->want_write = true;
		return 0;
	}
	return -1;
}

void bench_conn_interest(struct bench_conn *c, int epfd, void *tag)
{
	if (c->cnet)
		return; /* the transport calls on_event itself */
	uint32_t want = (c->paused ? 0 : EPOLLIN) | (c->want_write ? EPOLLOUT : 0);
	if (c->registered && want == c->ev_mask)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = tag };
	if (epoll_ctl(epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0) {
		c->registered = true;
		c->ev_mask = want;
	}
}

int bench_conn_connect_error(struct bench_conn *c)
{
	if (c->cnet)
		return c->cn_up ? 0 : ECONNREFUSED;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

SSL_CTX *bench_tls_client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* benchmarks run against test certs */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *bench_tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "dpmail-bench: cannot load TLS certificate %s / key %s\n", cert, key);
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}
