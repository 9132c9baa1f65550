/* SPDX-License-Identifier: MIT */
/*
 * tls_conn_fuzz.c: libFuzzer driver for the tls conn state machine. A server and a client tls
 * conn run over the in-memory conn pair (tests/lib/tls_mpipe, compiled in here because fuzz
 * targets link only libdpmail); the input is a program of operations: sends of any size on
 * either side, flushes, single poll steps, clock jumps, upper-layer holds / partial consumption
 * / resumes, closes, aborts and half-closes from outside and from inside callbacks, transport
 * buffer limits, and corruption of bytes in flight. Invariants: no crash, no leak, no use after
 * free (ASan), on_closed exactly once per side, and every byte delivered up is the next byte of
 * what the peer sent (order and integrity; AEAD makes that hold even with corruption).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/tls_mpipe.c"
#include "../lib/tls_testcert.c"
#include "tls/tls.h"

struct side {
	struct conn *c;
	bool closed, connected, hold, close_in_data;
	size_t take;
	uint64_t sent, got;
	int n_closed;
};

static struct tls_core *core;
static struct tls_server_ctx *sc;
static struct tls_client_ctx *cc;

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9));
}

static void up_connected(void *ctx, struct conn *c)
{
	((struct side *)ctx)->connected = true;
}

static size_t up_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	struct side *s = ctx;
	if (s->hold)
		return 0;
	if (s->take && n > s->take)
		n = s->take;
	for (size_t i = 0; i < n; i++)
		if (d[i] != pat(s->got + i))  /* AEAD: even corrupted input never yields wrong bytes */
			abort();          /* reordered, duplicated or lost plaintext */
	s->got += n;
	if (s->close_in_data) {
		s->close_in_data = false;
		conn_close(c);
	}
	return n;
}

static void up_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct side *s = ctx;
	if (++s->n_closed != 1)
		abort();
	s->closed = true;
	s->c = NULL;
}

static const struct conn_handler up_h = {
	.on_connected = up_connected, .on_data = up_data, .on_closed = up_closed,
};
static void raw_closed(void *ctx, struct conn *c, enum conn_close_reason why) {}
static size_t raw_data(void *ctx, struct conn *c, const uint8_t *d, size_t n) { return 0; }
static const struct conn_handler raw_h = { .on_data = raw_data, .on_closed = raw_closed };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[64] = "/tmp/dpmail-tls-fuzz.XXXXXX", a[128], b[128], err[256];
	struct tls_core_cfg ccfg;
	struct tls_ctx_cfg cfg;
	struct tls_client_cfg ccf;
	struct tls_ticket_key k;
	if (!mkdtemp(dir) || tls_testcert_make(dir) < 0)
		abort();
	snprintf(a, sizeof(a), "%s/ecdsa.pem", dir);
	snprintf(b, sizeof(b), "%s/ecdsa.key", dir);
	struct tls_identity id = { .certs = { { a, b } }, .n_certs = 1 };
	tls_ctx_cfg_defaults(&cfg);
	tls_ticket_key_generate(&k);
	sc = tls_server_ctx_new(&cfg, &id, 1, &k, 1, err, sizeof(err));
	tls_client_cfg_defaults(&ccf);
	ccf.use_system_store = false;
	cc = tls_client_ctx_new(&ccf, err, sizeof(err));
	tls_core_cfg_defaults(&ccfg);
	core = tls_core_new(&ccfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!sc || !cc || !core || system(cmd) != 0)
		abort();
	return 0;
}

static void send_some(struct side *s, size_t n)
{
	static uint8_t buf[70000];
	if (!s->c || !s->connected)
		return;
	if (n > sizeof(buf))
		n = sizeof(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(s->sent + i);
	ssize_t r = conn_send(s->c, buf, n);
	if (r > 0)
		s->sent += (uint64_t)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_mpipe p;
	struct side srv = { 0 }, cli = { 0 };
	struct tls_conn_opts so = { .now = 1000, .handshake_timeout = 1000000 };
	struct tls_conn_opts co = { .now = 1000, .handshake_timeout = 1000000, .host = "mx.test",
				    .session_key = "fuzz" };
	uint64_t now = 1000;
	int err;
	tls_mpipe_init(&p, 1 << 20, &raw_h, NULL, &raw_h, NULL);
	srv.c = tls_conn_server_new(core, &p.b.conn, sc, &up_h, &srv, &so, &err);
	cli.c = tls_conn_client_new(core, &p.a.conn, cc, &up_h, &cli, &co, &err);
	for (size_t i = 0; i + 1 < size; i += 2) {
		uint8_t op = data[i], arg = data[i + 1];
		struct side *s = (op & 1) ? &srv : &cli;
		struct tls_mconn *m = (op & 1) ? &p.b : &p.a;
		switch ((op >> 1) % 14) {
		case 0: send_some(s, (size_t)arg * 300); break;
		case 1: if (s->c) conn_flush(s->c); break;
		case 2: tls_mpipe_poll_side(m); break;
		case 3: tls_core_poll(core, now += (uint64_t)arg * 10000); break;
		case 4: s->hold = !s->hold; break;
		case 5: s->take = arg; break;
		case 6: if (s->c) conn_resume_read(s->c); break;
		case 7: if (s->c && arg < 16) conn_close(s->c); break;
		case 8: if (s->c && arg < 8) conn_abort(s->c); break;
		case 9: if (s->c && arg < 16) conn_shutdown(s->c); break;
		case 10: m->limit = 64 + (size_t)arg * 512; break;
		case 11:
			if (m->rx_len > 0 && arg < 4) {
				m->rx[(size_t)arg * 7919 % m->rx_len] ^= 0x5a;
			}
			break;
		case 12: s->close_in_data = arg < 32; break;
		default: tls_mpipe_poll(&p); tls_core_poll(core, now); break;
		}
	}
	/* drain, then tear down whatever is left */
	for (int i = 0; i < 50; i++) {
		srv.hold = cli.hold = false;
		if (srv.c)
			conn_resume_read(srv.c);
		if (cli.c)
			conn_resume_read(cli.c);
		tls_mpipe_poll(&p);
		tls_core_poll(core, now);
	}
	if (cli.c)
		conn_abort(cli.c);
	if (srv.c)
		conn_abort(srv.c);
	for (int i = 0; i < 4; i++) {
		tls_mpipe_poll(&p);
		tls_core_poll(core, now);
	}
	if (!srv.closed || !cli.closed || tls_core_stats(core)->role[0].active ||
	    tls_core_stats(core)->role[1].active)
		abort();
	tls_mpipe_fini(&p);
	return 0;
}
