// SPDX-License-Identifier: MIT
/*
 * tls_gcm_test.c: many sessions at once through crypto/tls with the records taken over by
 * crypto/gcm, per call and across sessions (tls_core_cfg.gcm_batch_sessions). 32 client and
 * 32 server tls conns on two cores over in-memory conn pairs with small send buffers: every
 * client streams 96 KiB in uneven pieces (some flushed, some left for the end of the turn),
 * every server echoes what it gets (a short conn_send pauses its reading until on_sendable),
 * TLS 1.2 and 1.3. The echo must come back byte for byte, every session must have been
 * taken over on both sides, and a graceful close must reach both ends. A TLS 1.3 client that
 * keeps its ticket is taken over too, and resumes with it (the ticket handed to OpenSSL).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/tls_mpipe.h"
#include "../../lib/tls_testcert.h"
#include "tls/tls.h"

#define NSESS 32
#define STREAM (96 * 1024)

static char dir[64];
static uint8_t pattern[STREAM + NSESS];

struct side {
	struct conn *c;
	bool connected, closed, eof;
	uint8_t *got;
	size_t got_len, sent;
};

struct pair {
	struct tls_mpipe pipe;
	struct side srv, cli;
};

static void on_connected(void *ctx, struct conn *c)
{
	(void)c;
	((struct side *)ctx)->connected = true;
}

/* Server: echo; what the send buffer refuses stays with the transport (paused). */
static size_t srv_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	ssize_t k = conn_send(c, d, n);

	(void)ctx;
	return k > 0 ? (size_t)k : 0;
}

static void srv_sendable(void *ctx, struct conn *c)
{
	(void)ctx;
	conn_resume_read(c);
}

static size_t cli_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	struct side *s = ctx;

	(void)c;
	ck_assert_uint_le(s->got_len + n, STREAM);
	memcpy(s->got + s->got_len, d, n);
	s->got_len += n;
	return n;
}

static void on_eof(void *ctx, struct conn *c)
{
	(void)c;
	((struct side *)ctx)->eof = true;
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct side *s = ctx;

	(void)c;
	(void)why;
	s->closed = true;
	s->c = NULL;
}

static const struct conn_handler hs = {.on_connected = on_connected, .on_data = srv_data,
				       .on_sendable = srv_sendable, .on_eof = on_eof,
				       .on_closed = on_closed};
static const struct conn_handler hc = {.on_connected = on_connected, .on_data = cli_data,
				       .on_eof = on_eof, .on_closed = on_closed};

static void raw_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	(void)ctx, (void)c, (void)why;
}

static size_t raw_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	(void)ctx, (void)c, (void)d;
	return n;
}

static const struct conn_handler raw = {.on_data = raw_data, .on_closed = raw_closed};

static void global_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-gc2-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tls_testcert_make(dir), 0);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 11));
}

static void global_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void poll_all(struct pair *p, struct tls_core *sc, struct tls_core *cc, uint64_t now)
{
	for (unsigned i = 0; i < NSESS; i++)
		tls_mpipe_poll(&p[i].pipe);
	tls_core_poll(sc, now);
	tls_core_poll(cc, now);
}

/* Server and client contexts on the test PKI; TLS 1.2 only when tls12; tickets when tk. */
static void contexts(bool tls12, const struct tls_ticket_key *tk, struct tls_server_ctx **sc,
		     struct tls_client_ctx **cc)
{
	static char cert[128], key[128], ca[128];
	struct tls_ctx_cfg xc;
	struct tls_client_cfg ccf;
	char err[256];

	snprintf(cert, sizeof(cert), "%s/ecdsa.pem", dir);
	snprintf(key, sizeof(key), "%s/ecdsa.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	struct tls_identity id = {.certs = {{cert, key}}, .n_certs = 1};
	tls_ctx_cfg_defaults(&xc);
	if (tls12)
		xc.max_version = 0x0303;
	*sc = tls_server_ctx_new(&xc, &id, 1, tk, tk ? 1 : 0, err, sizeof(err));
	ck_assert_msg(*sc != NULL, "%s", err);
	tls_client_cfg_defaults(&ccf);
	ccf.ca_file = ca;
	ccf.use_system_store = false;
	*cc = tls_client_ctx_new(&ccf, err, sizeof(err));
	ck_assert_msg(*cc != NULL, "%s", err);
}

/* _i: bit 0 = across sessions, bit 1 = TLS 1.2 */
START_TEST(echo_many)
{
	static struct pair p[NSESS];
	struct tls_core_cfg cfg;
	struct tls_server_ctx *sc;
	struct tls_client_ctx *cc;
	struct tls_core *score, *ccore;
	uint64_t now = 1000;
	bool done = false;

	contexts(_i & 2, NULL, &sc, &cc);
	tls_core_cfg_defaults(&cfg);
	cfg.gcm_batch_sessions = _i & 1;
	cfg.send_limit = 24 * 1024;
	score = tls_core_new(&cfg);
	ccore = tls_core_new(&cfg);
	ck_assert(score && ccore);
	memset(p, 0, sizeof(p));
	for (unsigned i = 0; i < NSESS; i++) {
		struct tls_conn_opts so = {.now = now}, co = {.now = now, .host = "mx.test",
							     .session_key = ""};
		int e;

		tls_mpipe_init(&p[i].pipe, 20000 + 1000 * i, &raw, NULL, &raw, NULL);
		p[i].cli.got = malloc(STREAM);
		p[i].srv.c = tls_conn_server_new(score, &p[i].pipe.b.conn, sc, &hs, &p[i].srv, &so, &e);
		p[i].cli.c = tls_conn_client_new(ccore, &p[i].pipe.a.conn, cc, &hc, &p[i].cli, &co, &e);
		ck_assert(p[i].srv.c && p[i].cli.c);
	}
	for (unsigned t = 0; t < 200000 && !done; t++) {
		done = true;
		for (unsigned i = 0; i < NSESS; i++) {
			struct side *c = &p[i].cli;
			size_t want = 1 + (t * 2654435761u + i * 97u) % 9000;
			ssize_t k;

			done &= c->got_len == STREAM;
			if (!c->connected || c->sent == STREAM)
				continue;
			if (want > STREAM - c->sent)
				want = STREAM - c->sent;
			k = conn_send(c->c, pattern + i + c->sent, want);
			ck_assert_int_ge(k, 0);
			c->sent += (size_t)k;
			if ((t + i) % 3 == 0)
				conn_flush(c->c);
		}
		poll_all(p, score, ccore, now += 3);
	}
	ck_assert_uint_eq(tls_core_stats(score)->role[0].gcm_sessions, NSESS);
	ck_assert_uint_eq(tls_core_stats(ccore)->role[1].gcm_sessions, NSESS);
	for (unsigned i = 0; i < NSESS; i++) {
		ck_assert_uint_eq(p[i].cli.got_len, STREAM);
		ck_assert_mem_eq(p[i].cli.got, pattern + i, STREAM);
		conn_close(p[i].cli.c);
	}
	for (unsigned t = 0; t < 1000; t++) {
		bool all = true;

		for (unsigned i = 0; i < NSESS; i++) {
			if (p[i].srv.eof && p[i].srv.c)
				conn_close(p[i].srv.c);
			all &= p[i].cli.closed && p[i].srv.closed;
		}
		if (all)
			break;
		poll_all(p, score, ccore, now += 3);
	}
	for (unsigned i = 0; i < NSESS; i++) {
		ck_assert(p[i].srv.eof);
		ck_assert(p[i].cli.closed && p[i].srv.closed);
		tls_mpipe_fini(&p[i].pipe);
		free(p[i].cli.got);
	}
	ck_assert_uint_eq(tls_core_stats(score)->role[0].truncated, 0);
	ck_assert_uint_eq(tls_core_stats(score)->role[0].alerts_after_hs, 0);
	tls_core_free(score);
	tls_core_free(ccore);
	tls_server_ctx_free(sc);
	tls_client_ctx_free(cc);
}
END_TEST

/* One session that keeps its ticket: taken over on both sides, resumed the next time.
 * _i: bit 0 = across sessions, bit 1 = TLS 1.2 (session from the handshake, not a ticket) */
START_TEST(ticket_resume)
{
	static struct pair p;
	struct tls_core_cfg cfg;
	struct tls_server_ctx *sc;
	struct tls_client_ctx *cc;
	struct tls_core *score, *ccore;
	struct tls_ticket_key tk;
	uint64_t now = 1000;

	ck_assert_int_eq(tls_ticket_key_generate(&tk), 0);
	contexts(_i & 2, &tk, &sc, &cc);
	tls_core_cfg_defaults(&cfg);
	cfg.gcm_batch_sessions = _i & 1;
	score = tls_core_new(&cfg);
	ccore = tls_core_new(&cfg);
	ck_assert(score && ccore);
	for (int round = 0; round < 2; round++) {
		struct tls_conn_opts so = {.now = now}, co = {.now = now, .host = "mx.test",
							     .session_key = "mx.test:25"};
		int e;

		memset(&p, 0, sizeof(p));
		p.cli.got = malloc(STREAM);
		tls_mpipe_init(&p.pipe, 1 << 20, &raw, NULL, &raw, NULL);
		p.srv.c = tls_conn_server_new(score, &p.pipe.b.conn, sc, &hs, &p.srv, &so, &e);
		p.cli.c = tls_conn_client_new(ccore, &p.pipe.a.conn, cc, &hc, &p.cli, &co, &e);
		ck_assert(p.srv.c && p.cli.c);
		for (int t = 0; t < 50; t++) {
			if (p.cli.connected && p.cli.sent == 0) {
				ck_assert_int_eq(conn_send(p.cli.c, pattern, 5000), 5000);
				conn_flush(p.cli.c);
				p.cli.sent = 5000;
			}
			tls_mpipe_poll(&p.pipe);
			tls_core_poll(score, now += 3);
			tls_core_poll(ccore, now);
		}
		ck_assert_uint_eq(p.cli.got_len, 5000);
		ck_assert_mem_eq(p.cli.got, pattern, 5000);
		ck_assert_int_eq(tls_conn_result(p.cli.c)->resumed, round == 1);
		ck_assert_uint_eq(tls_core_stats(ccore)->role[1].gcm_sessions, (unsigned)round + 1);
		/* 1.3: a ticket per connection (the resumed one gets a fresh one); 1.2: the
		 * session of the full handshake only */
		ck_assert_uint_eq(tls_core_stats(ccore)->sess_cache_stores,
				  (_i & 2) ? 1u : (unsigned)round + 1);
		conn_close(p.cli.c);
		for (int t = 0; t < 50 && !(p.cli.closed && p.srv.closed); t++) {
			if (p.srv.eof && p.srv.c)
				conn_close(p.srv.c);
			tls_mpipe_poll(&p.pipe);
			tls_core_poll(score, now += 3);
			tls_core_poll(ccore, now);
		}
		ck_assert(p.cli.closed && p.srv.closed);
		tls_mpipe_fini(&p.pipe);
		free(p.cli.got);
	}
	ck_assert_uint_eq(tls_core_stats(score)->role[0].handshakes_resumed, 1);
	tls_core_free(score);
	tls_core_free(ccore);
	tls_server_ctx_free(sc);
	tls_client_ctx_free(cc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls_gcm");
	TCase *tc = tcase_create("many");
	SRunner *sr;
	int nf;

	tcase_add_unchecked_fixture(tc, global_setup, global_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, echo_many, 0, 4);
	tcase_add_loop_test(tc, ticket_resume, 0, 4);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
