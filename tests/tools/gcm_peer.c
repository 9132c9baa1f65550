// SPDX-License-Identifier: MIT
/*
 * gcm_peer.c: a TLS peer over loopback TCP whose records, after an OpenSSL handshake, are
 * sealed and opened by crypto/gcm: interop with openssl s_server / s_client and gnutls.
 *   gcm_peer client PORT V SUITE CERT KEY  connects to 127.0.0.1:PORT (e.g. s_server -rev),
 *       sends lines of 1 B..16 KiB and checks each comes back reversed, starts a KeyUpdate
 *       (update_requested) half way, sends "CLOSE" and expects close_notify.
 *   gcm_peer server PORT V SUITE CERT KEY  accepts one connection (e.g. s_client), echoes
 *       application data back until close_notify, answers KeyUpdates, sends close_notify.
 * V is 12 or 13, SUITE 128 or 256. Prints "gcm.<counter>=N" lines at the end; exit 0 on
 * success. Blocking sockets: a test tool, not the data path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gcm/gcm.h"

static int fd = -1;
static SSL *ssl;
static BIO *rb, *wb;
static struct gcm_lcore *lc;
static struct gcm_link *gl;
static bool across; /* DPMAIL_GCM_BATCH_SESSIONS: records through gcm_alink (one burst per turn) */
static uint8_t in[1 << 18];
static size_t in_len;

#define DIE(...) do { fprintf(stderr, "gcm_peer: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static void write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w <= 0)
			DIE("write: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

/* Reads what the socket has (waits up to 10 s); 0 on EOF. */
static ssize_t read_some(uint8_t *b, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 10000) != 1)
		DIE("timeout waiting for the peer");
	return read(fd, b, n);
}

static void flush_wbio(void)
{
	char buf[16384];
	int n;

	while ((n = BIO_read(wb, buf, sizeof(buf))) > 0)
		write_all(buf, (size_t)n);
}

/* Runs the OpenSSL handshake; returns the records written by the call that finished it. */
static unsigned handshake(void)
{
	for (;;) {
		int r = SSL_do_handshake(ssl);
		char buf[16384];
		ssize_t n;

		if (r == 1) {
			int p = (int)BIO_ctrl_pending(wb);
			unsigned recs = 0;

			if (p > 0 && p <= (int)sizeof(buf)) {
				BIO_read(wb, buf, p);
				recs = gcm_rec_count((uint8_t *)buf, (size_t)p);
				write_all(buf, (size_t)p);
			}
			return recs;
		}
		if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) {
			ERR_print_errors_fp(stderr);
			DIE("handshake failed");
		}
		flush_wbio();
		n = read_some((uint8_t *)buf, sizeof(buf));
		if (n <= 0)
			DIE("peer closed during the handshake");
		BIO_write(rb, buf, (int)n);
	}
}

static int emit(void *ctx, const uint8_t *rec, size_t n)
{
	write_all(rec, n);
	return 0;
}

static uint8_t got[1 << 18];
static size_t got_len;

static bool on_data(void *ctx, const uint8_t *p, size_t n)
{
	if (got_len + n > sizeof(got))
		DIE("too much data");
	memcpy(got + got_len, p, n);
	got_len += n;
	return true;
}

static void ready(void *ctx)
{
	(void)ctx;
}

static const struct gcm_link_io io = {.ctx = NULL, .on_data = on_data, .emit = emit,
				      .ready = ready};

/* The two paths behind one call each: per call (gcm_link) or across sessions (gcm_alink, the
 * turn's burst run at once since this peer has one session). */
static ssize_t link_send(const void *p, size_t n)
{
	ssize_t r;

	if (!across)
		return gcm_link_send(lc, gl, p, n, &io);
	r = gcm_alink_send(gl, p, n, 0);
	gcm_engine_flush(lc->e);
	return r;
}

static void link_alert(uint8_t desc)
{
	if (!across) {
		gcm_link_alert(lc, gl, desc, &io);
		return;
	}
	gcm_alink_alert(gl, desc, 0);
	gcm_engine_flush(lc->e);
}

static ssize_t link_input(void)
{
	ssize_t used;

	if (!across)
		return gcm_link_input(lc, gl, in, in_len, &io);
	used = gcm_alink_input(gl, in, in_len, 0);
	gcm_engine_flush(lc->e);
	if (used >= 0 && gcm_alink_deliver(gl, 0) < 0)
		return -EPROTO;
	return used;
}

/* Feeds what is buffered to the link. */
static void drain(void)
{
	ssize_t used;

	do {
		used = link_input();
		if (used < 0)
			DIE("input: %zd (alert %u)", used, gl->s.alert_out);
		memmove(in, in + used, in_len - (size_t)used);
		in_len -= (size_t)used;
	} while (across && used > 0 && in_len > 0); /* 64 records per link at a time */
}

/* Reads the socket once and feeds the link; -EPIPE on EOF. */
static int pump(void)
{
	ssize_t n = read_some(in + in_len, sizeof(in) - in_len);

	if (n <= 0)
		return -EPIPE;
	in_len += (size_t)n;
	drain();
	return 0;
}

static void run_server(void)
{
	while (gl->s.state == GCM_SESS_OPEN) {
		if (!got_len && pump())
			DIE("EOF without close_notify");
		if (got_len && link_send(got, got_len) != (ssize_t)got_len)
			DIE("send");
		got_len = 0;
	}
	if (gl->s.state != GCM_SESS_PEER_CLOSED)
		DIE("session %s", gcm_sess_state_str(gl->s.state));
	link_alert(GCM_ALERT_CLOSE_NOTIFY);
}

/* Waits until a full line came back; checks it is the reverse of want. */
static void expect_reversed(const char *want, size_t len)
{
	while (got_len < len + 1)
		if (pump() || gl->s.state != GCM_SESS_OPEN)
			DIE("no reply");
	for (size_t i = 0; i < len; i++)
		if (got[i] != (uint8_t)want[len - 1 - i])
			DIE("reply %zu differs at %zu", len, i);
	got_len = 0;
}

static void run_client(void)
{
	static const size_t sizes[] = {1, 64, 1024, 4000, 16000};
	static char line[16384];

	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (size_t j = 0; j < sizes[i]; j++)
				line[j] = (char)('a' + (j * 7 + i + k) % 26);
			line[sizes[i]] = '\n';
			if (link_send(line, sizes[i] + 1) != (ssize_t)sizes[i] + 1)
				DIE("send");
			expect_reversed(line, sizes[i]);
		}
		if (k == 0 && gl->s.version == GCM_TLS13 && gcm_link_key_update(lc, gl, true, &io))
			DIE("key update");
	}
	link_send("CLOSE\n", 6);
	while (gl->s.state == GCM_SESS_OPEN)
		if (pump())
			DIE("EOF without close_notify");
	if (gl->s.state != GCM_SESS_PEER_CLOSED)
		DIE("session %s", gcm_sess_state_str(gl->s.state));
	link_alert(GCM_ALERT_CLOSE_NOTIFY);
}

static int tcp_open(bool server, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s0 = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s0 < 0)
		DIE("socket");
	if (!server) {
		if (connect(s0, (struct sockaddr *)&a, sizeof(a)))
			DIE("connect: %s", strerror(errno));
		return s0;
	}
	setsockopt(s0, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s0, (struct sockaddr *)&a, sizeof(a)) || listen(s0, 1))
		DIE("bind/listen: %s", strerror(errno));
	printf("listening\n");
	fflush(stdout);
	int c = accept(s0, NULL, NULL);

	close(s0);
	if (c < 0)
		DIE("accept");
	return c;
}

int main(int argc, char **argv)
{
	struct gcm_engine_cfg cfg;
	SSL_CTX *ctx;
	bool server;
	int v, err;
	unsigned tickets;

	if (argc != 7)
		DIE("usage: gcm_peer client|server PORT 12|13 128|256 CERT KEY");
	server = !strcmp(argv[1], "server");
	v = atoi(argv[3]) == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	gcm_engine_cfg_defaults(&cfg);
	lc = gcm_lcore_new(&cfg, &err);
	if (!lc || gcm_ossl_init())
		DIE("engine");
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, v);
	SSL_CTX_set_max_proto_version(ctx, v);
	if (atoi(argv[4]) == 256) {
		SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384");
		SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES256-GCM-SHA384");
	} else {
		SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
		SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
	}
	SSL_CTX_set_keylog_callback(ctx, gcm_ossl_keylog_cb);
	if (server && (SSL_CTX_use_certificate_chain_file(ctx, argv[5]) != 1 ||
		       SSL_CTX_use_PrivateKey_file(ctx, argv[6], SSL_FILETYPE_PEM) != 1))
		DIE("certificate");
	fd = tcp_open(server, atoi(argv[2]));
	ssl = SSL_new(ctx);
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(ssl, rb, wb);
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	tickets = handshake();
	across = getenv("DPMAIL_GCM_BATCH_SESSIONS") != NULL;
	gl = malloc(sizeof(*gl));
	if (!gl || gcm_link_init(gl, lc, ssl, tickets))
		DIE("takeover");
	if (across)
		gcm_alink_start(gl, lc, &io);
	/* bytes OpenSSL received but did not process belong to the record layer now */
	in_len = 0;
	{
		int n;

		while ((n = BIO_read(rb, in + in_len, (int)(sizeof(in) - in_len))) > 0)
			in_len += (size_t)n;
	}
	drain(); /* what arrived with the end of the handshake (1.3 client: tickets) */
	if (server)
		run_server();
	else
		run_client();
	printf("gcm.rec_in=%llu\ngcm.rec_out=%llu\ngcm.key_updates_in=%llu\n"
	       "gcm.key_updates_out=%llu\ngcm.tickets_in=%llu\n",
	       (unsigned long long)gl->s.stats.rec_in, (unsigned long long)gl->s.stats.rec_out,
	       (unsigned long long)gl->s.stats.key_updates_in,
	       (unsigned long long)gl->s.stats.key_updates_out, (unsigned long long)gl->s.stats.tickets_in);
	if (across) {
		gcm_alink_release(gl);
	} else {
		gcm_sess_wipe(&gl->s);
		free(gl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	gcm_lcore_free(lc);
	close(fd);
	return 0;
}
