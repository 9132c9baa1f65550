/* SPDX-License-Identifier: MIT */
/*
 * tls_conn_test.c: crypto/tls end to end in memory: a server and a client tls conn over an
 * in-memory conn pair (tests/lib/tls_mpipe), with a test PKI made at start. Covers TLS 1.2 and
 * 1.3, ECDSA and RSA chosen by the client's offer, SNI, resumption and ticket-key rotation,
 * coalescing, both kinds of backpressure, failures by reason (garbage, version, timeout,
 * aborted, alert), STARTTLS injection, close_notify and every client policy incl. DANE.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/tls_mpipe.h"
#include "../../lib/tls_testcert.h"
#include "tls/tls_int.h"

static char dir[64];
static char p_ca[128], p_ec[128], p_eck[128], p_rsa[128], p_rsak[128], p_oth[128], p_othk[128],
	p_rogue[128], p_roguek[128];

struct side {
	struct conn *c;
	struct tls_result res;
	int n_results;
	bool connected, closed, eof;
	enum conn_close_reason why;
	uint8_t rx[1 << 21];
	size_t rx_len;
	size_t take;                  /* max bytes consumed per on_data (0 = all) */
	bool hold;                    /* consume nothing */
	int sendable;
};

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
	ck_assert_uint_le(s->rx_len + n, sizeof(s->rx));
	memcpy(s->rx + s->rx_len, d, n);
	s->rx_len += n;
	return n;
}

static void up_eof(void *ctx, struct conn *c)
{
	((struct side *)ctx)->eof = true;
}

static void up_sendable(void *ctx, struct conn *c)
{
	((struct side *)ctx)->sendable++;
}

static void up_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct side *s = ctx;
	ck_assert(!s->closed);
	s->closed = true;
	s->why = why;
	s->c = NULL;
}

static void up_result(void *ctx, const struct tls_result *r)
{
	struct side *s = ctx;
	s->res = *r;
	s->n_results++;
}

static const struct conn_handler up_h = {
	.on_connected = up_connected, .on_data = up_data, .on_eof = up_eof,
	.on_sendable = up_sendable, .on_closed = up_closed,
};

/* The raw handler of a pipe end before TLS takes it over. */
static const struct conn_handler raw_h = {
	.on_data = up_data, .on_eof = up_eof, .on_closed = up_closed,
};

struct fx {
	struct tls_core *core;
	struct tls_server_ctx *sc;
	struct tls_client_ctx *cc;
	struct tls_mpipe pipe;
	struct side *srv, *cli;
	struct tls_ticket_key keys[2];
	uint64_t now;
};

static struct fx F;

static void pki_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-tls-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tls_testcert_make(dir), 0);
#define P(v, n) snprintf(v, sizeof(v), "%s/%s", dir, n)
	P(p_ca, "ca.pem");
	P(p_ec, "ecdsa.pem");
	P(p_eck, "ecdsa.key");
	P(p_rsa, "rsa.pem");
	P(p_rsak, "rsa.key");
	P(p_oth, "other.pem");
	P(p_othk, "other.key");
	P(p_rogue, "rogue.pem");
	P(p_roguek, "rogue.key");
#undef P
}

static void pki_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct tls_server_ctx *server_ctx(const char *cert, const char *key, unsigned nkeys)
{
	struct tls_ctx_cfg cfg;
	struct tls_identity ids[2] = {
		{ .certs = { { p_ec, p_eck }, { p_rsa, p_rsak } }, .n_certs = 2 },
		{ .certs = { { p_oth, p_othk } }, .n_certs = 1 },
	};
	char err[256];
	tls_ctx_cfg_defaults(&cfg);
	if (cert) {
		ids[0].certs[0].cert_file = cert;
		ids[0].certs[0].key_file = key;
		ids[0].n_certs = 1;
	}
	struct tls_server_ctx *sc = tls_server_ctx_new(&cfg, ids, 2, F.keys, nkeys, err, sizeof(err));
	ck_assert_msg(sc != NULL, "%s", err);
	return sc;
}

/* The second tcase runs every test with the records of all sessions in one burst per turn. */
static bool batch_sessions;

static void setup(void)
{
	struct tls_core_cfg ccfg;
	struct tls_client_cfg cfg;
	char err[256];
	memset(&F, 0, sizeof(F));
	tls_core_cfg_defaults(&ccfg);
	ccfg.gcm_batch_sessions = batch_sessions;
	F.core = tls_core_new(&ccfg);
	ck_assert_ptr_nonnull(F.core);
	tls_ticket_key_generate(&F.keys[0]);
	tls_ticket_key_generate(&F.keys[1]);
	F.sc = server_ctx(NULL, NULL, 1);
	tls_client_cfg_defaults(&cfg);
	cfg.ca_file = p_ca;
	cfg.use_system_store = false;
	F.cc = tls_client_ctx_new(&cfg, err, sizeof(err));
	ck_assert_msg(F.cc != NULL, "%s", err);
	F.srv = calloc(1, sizeof(*F.srv));
	F.cli = calloc(1, sizeof(*F.cli));
	F.now = 1000000;
}

static void setup_batched(void)
{
	batch_sessions = true;
	setup();
}

static void teardown(void)
{
	tls_mpipe_fini(&F.pipe);
	tls_server_ctx_free(F.sc);
	tls_client_ctx_free(F.cc);
	tls_core_free(F.core);
	free(F.srv);
	free(F.cli);
}

/* Runs both pipe ends and the core until nothing happens. */
static void run(void)
{
	int idle = 0;
	for (int i = 0; i < 100000 && idle < 3; i++) {
		int n = tls_mpipe_poll(&F.pipe);
		tls_core_poll(F.core, F.now);
		idle = (n == 0 && tls_core_next_deadline(F.core) != 0) ? idle + 1 : 0;
	}
}

static void reset_sides(void)
{
	tls_mpipe_fini(&F.pipe);
	memset(F.srv, 0, sizeof(*F.srv));
	memset(F.cli, 0, sizeof(*F.cli));
}

/* A fresh pipe; the server side becomes TLS, the client side TLS too unless raw_client. */
static void connect_pair(struct tls_server_ctx *sc, const char *host, const struct tls_policy *pol,
			 bool raw_client)
{
	struct tls_conn_opts so = { .now = F.now, .handshake_timeout = 5000000, .on_result = up_result };
	struct tls_conn_opts co = { .now = F.now, .handshake_timeout = 5000000, .on_result = up_result,
				    .host = host, .policy = pol };
	int err = 0;
	reset_sides();
	tls_mpipe_init(&F.pipe, 256 * 1024, &raw_h, F.cli, &raw_h, F.srv);
	F.srv->c = tls_conn_server_new(F.core, &F.pipe.b.conn, sc, &up_h, F.srv, &so, &err);
	ck_assert_ptr_nonnull(F.srv->c);
	if (raw_client) {
		F.cli->c = &F.pipe.a.conn;
		return;
	}
	F.cli->c = tls_conn_client_new(F.core, &F.pipe.a.conn, F.cc, &up_h, F.cli, &co, &err);
	ck_assert_ptr_nonnull(F.cli->c);
}

static void close_both(void)
{
	if (F.cli->c)
		conn_close(F.cli->c);
	run();
	if (F.srv->c)
		conn_close(F.srv->c);
	run();
	ck_assert(F.cli->closed);
	ck_assert(F.srv->closed);
}

static const struct tls_role_stats *st(enum tls_role r)
{
	return &tls_core_stats(F.core)->role[r];
}

START_TEST(test_handshake_tls13_ecdsa)
{
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.srv->connected && F.cli->connected);
	ck_assert_int_eq(F.srv->n_results, 1);
	ck_assert(F.cli->res.ok && F.srv->res.ok);
	ck_assert_str_eq(F.cli->res.version, "TLSv1.3");
	ck_assert_str_eq(F.cli->res.cipher, "TLS_AES_128_GCM_SHA256");
	ck_assert(F.cli->res.verified);       /* CA file given, name matches */
	ck_assert_str_eq(F.cli->res.peer_cn, "mx.test");
	ck_assert_str_eq(F.srv->res.sni, "mx.test");
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->handshakes_full, 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->version[TLS_VER_13], 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->cipher[TLS_CIPH_AES128_GCM], 1);
	/* data both ways */
	ck_assert_int_eq(conn_send(F.cli->c, "EHLO a\r\n", 8), 8);
	conn_flush(F.cli->c);
	run();
	ck_assert_uint_eq(F.srv->rx_len, 8);
	ck_assert_int_eq(conn_send(F.srv->c, "250 ok\r\n", 8), 8);
	conn_flush(F.srv->c);
	run();
	ck_assert_uint_eq(F.cli->rx_len, 8);
	ck_assert_int_eq(memcmp(F.cli->rx, "250 ok\r\n", 8), 0);
	/* graceful close: close_notify reaches the peer as EOF, not as truncation */
	conn_close(F.cli->c);
	run();
	ck_assert(F.srv->eof);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->close_notify_in, 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->truncated, 0);
	close_both();
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->active, 0);
}
END_TEST

/* The client's offer picks the certificate: an RSA-only TLS 1.2 cipher gets the RSA chain. */
START_TEST(test_tls12_rsa_by_offer)
{
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(F.cc->ctx, TLS1_2_VERSION), 1);
	ck_assert_int_eq(SSL_CTX_set_cipher_list(F.cc->ctx, "ECDHE-RSA-AES256-GCM-SHA384"), 1);
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok);
	ck_assert_str_eq(F.cli->res.version, "TLSv1.2");
	ck_assert_str_eq(F.cli->res.cipher, "ECDHE-RSA-AES256-GCM-SHA384");
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->version[TLS_VER_12], 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->cipher[TLS_CIPH_AES256_GCM], 1);
	close_both();
}
END_TEST

/* TLS 1.3 with RSA-PSS only in the client's signature algorithms gets the RSA certificate. */
START_TEST(test_tls13_rsa_by_sigalgs)
{
	ck_assert_int_eq(SSL_CTX_set1_sigalgs_list(F.cc->ctx, "rsa_pss_rsae_sha256:rsa_pss_pss_sha256"), 1);
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok);
	ck_assert_str_eq(F.cli->res.version, "TLSv1.3");
	close_both();
}
END_TEST

START_TEST(test_sni_second_identity)
{
	connect_pair(F.sc, "other.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok);
	ck_assert_str_eq(F.cli->res.peer_cn, "other.test");
	ck_assert(F.cli->res.verified);
	ck_assert_str_eq(F.srv->res.sni, "other.test");
	close_both();
}
END_TEST

START_TEST(test_resumption_and_rotation)
{
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok && !F.cli->res.resumed);
	close_both();
	ck_assert_uint_eq(tls_core_stats(F.core)->sess_cache_stores, 1);
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok && F.cli->res.resumed && F.srv->res.resumed);
	ck_assert(F.cli->res.verified);       /* inherited from the cached, verified session */
	close_both();
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->handshakes_resumed, 1);
	/* rotation: new context with ring [new, old] still resumes (and renews the ticket) */
	struct tls_ticket_key old = F.keys[0];
	F.keys[0] = F.keys[1];
	F.keys[1] = old;
	struct tls_server_ctx *sc2 = server_ctx(NULL, NULL, 2);
	connect_pair(sc2, "mx.test", NULL, false);
	run();
	ck_assert_msg(F.cli->res.ok && F.cli->res.resumed, "ok=%d resumed=%d hits=%llu stores=%llu",
		      F.cli->res.ok, F.cli->res.resumed,
		      (unsigned long long)tls_core_stats(F.core)->sess_cache_hits,
		      (unsigned long long)tls_core_stats(F.core)->sess_cache_stores);
	close_both();
	/* the old key retired: full handshake */
	tls_ticket_key_generate(&F.keys[0]);
	struct tls_server_ctx *sc3 = server_ctx(NULL, NULL, 1);
	connect_pair(sc3, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok && !F.cli->res.resumed);
	close_both();
	tls_server_ctx_free(sc2);
	tls_server_ctx_free(sc3);
}
END_TEST

/* Small sends coalesce into one record; a big send goes out as full records. */
START_TEST(test_coalescing_and_bulk)
{
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	uint64_t rec0 = st(TLS_ROLE_SERVER)->records_out;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(conn_send(F.srv->c, "250-line\r\n", 10), 10);
	conn_flush(F.srv->c);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->records_out - rec0, 1);
	run();
	ck_assert_uint_eq(F.cli->rx_len, 1000);
	/* no flush: the record goes out at the end of the loop turn (tls_core_poll) */
	ck_assert_int_eq(conn_send(F.srv->c, "250 x\r\n", 7), 7);
	run();
	ck_assert_uint_eq(F.cli->rx_len, 1007);
	/* bulk with a tiny transport buffer: ciphertext waits, order kept, nothing re-encrypted */
	F.pipe.a.limit = 3000;
	static uint8_t big[1 << 20];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	size_t sent = 0;
	F.cli->rx_len = 0;
	for (int i = 0; i < 100000 && F.cli->rx_len < sizeof(big); i++) {
		if (sent < sizeof(big)) {
			ssize_t n = conn_send(F.srv->c, big + sent, sizeof(big) - sent);
			ck_assert_int_ge(n, 0);
			sent += (size_t)n;
			conn_flush(F.srv->c);
		}
		tls_mpipe_poll(&F.pipe);
		tls_core_poll(F.core, F.now);
	}
	ck_assert_uint_eq(F.cli->rx_len, sizeof(big));
	ck_assert_int_eq(memcmp(F.cli->rx, big, sizeof(big)), 0);
	ck_assert_int_gt(F.srv->sendable, 0);
	close_both();
}
END_TEST

/* The upper layer consumes a few bytes at a time, then nothing, then resumes. */
START_TEST(test_upper_backpressure)
{
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	static uint8_t msg[50000];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i % 253);
	F.srv->hold = true;
	ck_assert_int_eq(conn_send(F.cli->c, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	conn_flush(F.cli->c);
	run();
	ck_assert_uint_eq(F.srv->rx_len, 0);
	F.srv->hold = false;
	F.srv->take = 777;
	for (int i = 0; i < 1000 && F.srv->rx_len < sizeof(msg); i++) {
		conn_resume_read(F.srv->c);
		ck_assert_uint_le(F.srv->rx_len, sizeof(msg));
		run();
	}
	ck_assert_uint_eq(F.srv->rx_len, sizeof(msg));
	ck_assert_int_eq(memcmp(F.srv->rx, msg, sizeof(msg)), 0);
	close_both();
}
END_TEST

static void raw_send(const void *p, size_t n)
{
	ck_assert_int_eq(conn_send(&F.pipe.a.conn, p, n), (ssize_t)n);
}

START_TEST(test_fail_garbage)
{
	connect_pair(F.sc, NULL, NULL, true);
	raw_send("EHLO plaintext\r\n", 16);
	run();
	ck_assert(F.srv->closed);
	ck_assert_int_eq(F.srv->why, CONN_CLOSED_PROTO);
	ck_assert_int_eq(F.srv->res.fail, TLS_FAIL_GARBAGE);
	ck_assert_uint_eq(F.srv->rx_len, 0);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->fail[TLS_FAIL_GARBAGE], 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->active, 0);
	conn_close(&F.pipe.a.conn);
	run();
}
END_TEST

/* STARTTLS injection: plaintext left behind by the SMTP layer is TLS input, never commands. */
START_TEST(test_starttls_injection_server)
{
	struct tls_conn_opts so = { .now = F.now, .on_result = up_result };
	int err;
	reset_sides();
	tls_mpipe_init(&F.pipe, 65536, &raw_h, F.cli, &raw_h, F.srv);
	raw_send("STARTTLS\r\nMAIL FROM:<evil@x>\r\n", 30);
	F.srv->take = 10;                 /* the SMTP layer consumed "STARTTLS\r\n" only */
	tls_mpipe_poll(&F.pipe);
	ck_assert_uint_eq(F.srv->rx_len, 10);
	F.srv->take = 0;
	F.srv->c = tls_conn_server_new(F.core, &F.pipe.b.conn, F.sc, &up_h, F.srv, &so, &err);
	conn_resume_read(&F.pipe.b.conn);
	F.srv->rx_len = 0;
	run();
	ck_assert_uint_eq(F.srv->rx_len, 0);  /* "MAIL FROM" never delivered */
	ck_assert(F.srv->closed);
	ck_assert_int_eq(F.srv->res.fail, TLS_FAIL_GARBAGE);
	conn_close(&F.pipe.a.conn);
	run();
}
END_TEST

/* CVE-2021-38371 at this layer: plaintext that follows the server's 220 is TLS input to the
 * client (a failed handshake), never a reply handed to the SMTP client. */
START_TEST(test_starttls_injection_client)
{
	struct tls_conn_opts co = { .now = F.now, .on_result = up_result, .host = "mx.test" };
	int err;
	reset_sides();
	tls_mpipe_init(&F.pipe, 65536, &raw_h, F.cli, &raw_h, F.srv);
	F.cli->c = tls_conn_client_new(F.core, &F.pipe.a.conn, F.cc, &up_h, F.cli, &co, &err);
	ck_assert_ptr_nonnull(F.cli->c);
	ck_assert_int_eq(conn_send(&F.pipe.b.conn, "250-injected\r\n250 ok\r\n", 23), 23);
	run();
	ck_assert(F.cli->closed);
	ck_assert_uint_eq(F.cli->rx_len, 0);
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_GARBAGE);
	ck_assert_uint_eq(st(TLS_ROLE_CLIENT)->fail[TLS_FAIL_GARBAGE], 1);
	conn_close(&F.pipe.b.conn);
	run();
}
END_TEST

START_TEST(test_fail_timeout_and_aborted)
{
	connect_pair(F.sc, NULL, NULL, true);
	run();
	ck_assert(!F.srv->closed);
	ck_assert_uint_eq(tls_core_next_deadline(F.core), F.now + 5000000);
	F.now += 5000000;
	run();
	ck_assert(F.srv->closed);
	ck_assert_int_eq(F.srv->why, CONN_CLOSED_TIMEOUT);
	ck_assert_int_eq(F.srv->res.fail, TLS_FAIL_TIMEOUT);
	run();
	/* aborted: the client goes away in the middle */
	connect_pair(F.sc, NULL, NULL, true);
	raw_send("\x16\x03\x01\x00\x40\x01\x00\x00", 8);   /* half a ClientHello */
	conn_close(&F.pipe.a.conn);
	run();
	ck_assert(F.srv->closed);
	ck_assert_int_eq(F.srv->res.fail, TLS_FAIL_ABORTED);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->fail[TLS_FAIL_ABORTED], 1);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->fail[TLS_FAIL_TIMEOUT], 1);
}
END_TEST

START_TEST(test_fail_version)
{
	SSL_CTX_set_min_proto_version(F.cc->ctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(F.cc->ctx, TLS1_1_VERSION);
	SSL_CTX_set_security_level(F.cc->ctx, 0);
	SSL_CTX_set_cipher_list(F.cc->ctx, "DEFAULT@SECLEVEL=0");
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.srv->closed && F.cli->closed);
	ck_assert_int_eq(F.srv->res.fail, TLS_FAIL_VERSION);
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_ALERT);
}
END_TEST

/* A record the server cannot authenticate in the middle of the session: alert, close. */
START_TEST(test_alert_after_handshake)
{
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	ck_assert(F.srv->connected);
	/* a forged application-data record under the client's pipe end */
	static const uint8_t forged[] = { 0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8,
					  9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					  23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
	raw_send(forged, sizeof(forged));
	run();
	ck_assert(F.srv->closed);
	ck_assert_int_eq(F.srv->why, CONN_CLOSED_PROTO);
	ck_assert_uint_eq(st(TLS_ROLE_SERVER)->alerts_after_hs, 1);
	/* the client saw the server's alert */
	ck_assert(F.cli->closed);
}
END_TEST

START_TEST(test_policy_verify_fail_and_opportunistic)
{
	struct tls_policy verify = { .mode = TLS_POLICY_VERIFY };
	connect_pair(F.sc, "wrong.test", &verify, false);
	run();
	ck_assert(F.cli->closed);
	ck_assert_int_eq(F.cli->why, CONN_CLOSED_PROTO);
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_VERIFY);
	ck_assert(!F.cli->connected);
	ck_assert_uint_eq(F.cli->rx_len, 0);
	/* rogue (self-signed) server: opportunistic encrypts, unverified */
	struct tls_server_ctx *rogue = server_ctx(p_rogue, p_roguek, 0);
	connect_pair(rogue, "mx.test", NULL, false);
	run();
	ck_assert(F.cli->res.ok && !F.cli->res.verified);
	close_both();
	/* same server under verify: deferred */
	connect_pair(rogue, "mx.test", &verify, false);
	run();
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_VERIFY);
	tls_server_ctx_free(rogue);
	ck_assert_uint_eq(st(TLS_ROLE_CLIENT)->fail[TLS_FAIL_VERIFY], 2);
}
END_TEST

/* SHA-256 of the leaf's SPKI (3 1 1) or of the CA certificate (2 0 1). */
static size_t digest_of(const char *pem, bool spki, uint8_t out[32])
{
	FILE *f = fopen(pem, "r");
	ck_assert_ptr_nonnull(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	unsigned char *der = NULL;
	int n = spki ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : i2d_X509(x, &der);
	unsigned len = 0;
	EVP_Digest(der, (size_t)n, out, &len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(x);
	return len;
}

START_TEST(test_policy_dane)
{
	uint8_t ee[32], ta[32], bad[32] = { 1 };
	digest_of(p_ec, true, ee);
	digest_of(p_ca, false, ta);
	struct tls_tlsa r_ee = { 3, 1, 1, ee, 32 }, r_ta = { 2, 0, 1, ta, 32 }, r_bad = { 3, 1, 1, bad, 32 };
	struct tls_policy p = { .mode = TLS_POLICY_DANE, .tlsa = &r_ee, .n_tlsa = 1 };
	/* DANE-EE 3 1 1: names are not checked, the key is */
	connect_pair(F.sc, "any-name.example", &p, false);
	run();
	ck_assert_msg(F.cli->res.ok, "%s", F.cli->res.reason);
	ck_assert(F.cli->res.verified && F.cli->res.dane);
	close_both();
	/* DANE-TA 2 0 1: chain to the named CA and the MX name */
	p.tlsa = &r_ta;
	connect_pair(F.sc, "mx.test", &p, false);
	run();
	ck_assert_msg(F.cli->res.ok, "%s", F.cli->res.reason);
	ck_assert(F.cli->res.dane);
	close_both();
	/* mismatch: deferred */
	p.tlsa = &r_bad;
	connect_pair(F.sc, "mx.test", &p, false);
	run();
	ck_assert(!F.cli->res.ok);
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_DANE);
	ck_assert_int_eq(F.cli->why, CONN_CLOSED_PROTO);
	ck_assert_uint_eq(st(TLS_ROLE_CLIENT)->fail[TLS_FAIL_DANE], 1);
}
END_TEST

START_TEST(test_policy_eval_and_sts)
{
	struct tls_policy_eval ev;
	tls_policy_eval(NULL, "mx.test", &ev);
	ck_assert(ev.starttls && !ev.require_tls && tls_policy_allows_plaintext(&ev));
	struct tls_policy none = { .mode = TLS_POLICY_NONE };
	tls_policy_eval(&none, "mx.test", &ev);
	ck_assert(!ev.starttls);
	struct tls_policy v = { .mode = TLS_POLICY_VERIFY };
	tls_policy_eval(&v, "mx.test", &ev);
	ck_assert(!tls_policy_allows_plaintext(&ev));
	struct tls_policy sts = { .mode = TLS_POLICY_MTA_STS, .sts_mode = TLS_STS_ENFORCE,
				  .sts_mx = { "*.mx.test", "mail.example.com" }, .n_sts_mx = 2 };
	tls_policy_eval(&sts, "a.mx.test", &ev);
	ck_assert(ev.require_tls && ev.require_auth && !ev.reason);
	tls_policy_eval(&sts, "a.b.mx.test", &ev);
	ck_assert_ptr_nonnull(ev.reason);
	tls_policy_eval(&sts, "MAIL.example.com.", &ev);
	ck_assert_ptr_null(ev.reason);
	sts.sts_mode = TLS_STS_TESTING;
	tls_policy_eval(&sts, "other.test", &ev);
	ck_assert(ev.report_only && !ev.require_tls);
	struct tls_policy rt = { .mode = TLS_POLICY_OPPORTUNISTIC, .requiretls = true };
	tls_policy_eval(&rt, "mx.test", &ev);
	ck_assert(ev.require_tls && ev.require_auth && !tls_policy_allows_plaintext(&ev));
	ck_assert_int_eq(ev.mode, TLS_POLICY_VERIFY);
	rt.mode = TLS_POLICY_NONE;
	tls_policy_eval(&rt, "mx.test", &ev);
	ck_assert(ev.starttls && ev.require_auth);
	ck_assert(tls_policy_mx_match("*.mx.test", "x.mx.test"));
	ck_assert(!tls_policy_mx_match("*.mx.test", "mx.test"));
	ck_assert_int_eq(tls_policy_mode_parse("dane"), TLS_POLICY_DANE);
	ck_assert_int_eq(tls_policy_mode_parse("bogus"), -1);
}
END_TEST

START_TEST(test_policy_sts_enforce_connection)
{
	struct tls_policy sts = { .mode = TLS_POLICY_MTA_STS, .sts_mode = TLS_STS_ENFORCE,
				  .sts_mx = { "*.mx.test" }, .n_sts_mx = 1 };
	connect_pair(F.sc, "a.mx.test", &sts, false);
	run();
	ck_assert_msg(F.cli->res.ok && F.cli->res.verified, "%s", F.cli->res.reason);
	close_both();
	struct tls_server_ctx *rogue = server_ctx(p_rogue, p_roguek, 0);
	connect_pair(rogue, "mx.test", &sts, false);
	run();
	ck_assert_int_eq(F.cli->res.fail, TLS_FAIL_VERIFY);
	/* testing mode: reported, not enforced */
	sts.sts_mode = TLS_STS_TESTING;
	connect_pair(rogue, "mx.test", &sts, false);
	run();
	ck_assert(F.cli->res.ok && !F.cli->res.verified);
	close_both();
	tls_server_ctx_free(rogue);
}
END_TEST

/* A graceful close behind a peer that never reads turns into an abort after close_timeout. */
START_TEST(test_close_stalled_peer)
{
	static uint8_t big[200000];
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	F.srv->hold = true;
	F.pipe.b.limit = 4096;
	ck_assert_int_gt(conn_send(F.cli->c, big, sizeof(big)), 0);
	conn_flush(F.cli->c);
	run();
	conn_close(F.cli->c);
	run();
	ck_assert(!F.cli->closed);            /* ciphertext still queued: the close waits */
	F.now += 30000001;
	run();
	ck_assert(F.cli->closed);
	ck_assert(F.srv->closed);             /* the peer saw the abort */
	ck_assert_int_eq(F.srv->why, CONN_CLOSED_RESET);
}
END_TEST

/* The upper closes from inside its callbacks; the conn is freed only once, later. */
static size_t close_in_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	conn_close(c);
	return n;
}

START_TEST(test_close_inside_callback)
{
	static const struct conn_handler h = { .on_data = close_in_data, .on_closed = up_closed };
	connect_pair(F.sc, "mx.test", NULL, false);
	run();
	conn_set_handler(F.srv->c, &h, F.srv);
	conn_send(F.cli->c, "QUIT\r\n", 6);
	conn_flush(F.cli->c);
	run();
	ck_assert(F.srv->closed);
	ck_assert(F.cli->eof);
	conn_abort(F.cli->c);
	ck_assert(F.cli->closed);
	run();
}
END_TEST

START_TEST(test_server_ctx_errors)
{
	struct tls_ctx_cfg cfg;
	struct tls_identity id = { .certs = { { "/nonexistent.pem", "/nonexistent.key" } }, .n_certs = 1 };
	char err[256];
	tls_ctx_cfg_defaults(&cfg);
	ck_assert_ptr_null(tls_server_ctx_new(&cfg, &id, 1, NULL, 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent.pem"));
	id.certs[0].cert_file = p_ec;
	id.certs[0].key_file = p_rsak;    /* key of another certificate */
	ck_assert_ptr_null(tls_server_ctx_new(&cfg, &id, 1, NULL, 0, err, sizeof(err)));
	cfg.ciphers = "NOT-A-CIPHER";
	id.certs[0].key_file = p_eck;
	ck_assert_ptr_null(tls_server_ctx_new(&cfg, &id, 1, NULL, 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "cipher"));
	char buf[4096];
	struct tls_stats s = { 0 };
	s.role[0].fail[TLS_FAIL_GARBAGE] = 3;
	tls_stats_format(&s, buf, sizeof(buf));
	ck_assert_str_eq(buf, "tls.server.fail.garbage=3\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("conn");
	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake_tls13_ecdsa);
	tcase_add_test(tc, test_tls12_rsa_by_offer);
	tcase_add_test(tc, test_tls13_rsa_by_sigalgs);
	tcase_add_test(tc, test_sni_second_identity);
	tcase_add_test(tc, test_resumption_and_rotation);
	tcase_add_test(tc, test_coalescing_and_bulk);
	tcase_add_test(tc, test_upper_backpressure);
	tcase_add_test(tc, test_fail_garbage);
	tcase_add_test(tc, test_starttls_injection_server);
	tcase_add_test(tc, test_starttls_injection_client);
	tcase_add_test(tc, test_fail_timeout_and_aborted);
	tcase_add_test(tc, test_fail_version);
	tcase_add_test(tc, test_alert_after_handshake);
	tcase_add_test(tc, test_policy_verify_fail_and_opportunistic);
	tcase_add_test(tc, test_policy_dane);
	tcase_add_test(tc, test_policy_eval_and_sts);
	tcase_add_test(tc, test_policy_sts_enforce_connection);
	tcase_add_test(tc, test_close_inside_callback);
	tcase_add_test(tc, test_close_stalled_peer);
	tcase_add_test(tc, test_server_ctx_errors);
	suite_add_tcase(s, tc);
	TCase *tb = tcase_create("conn-batched");
	tcase_add_unchecked_fixture(tb, pki_setup, pki_teardown);
	tcase_add_checked_fixture(tb, setup_batched, teardown);
	tcase_add_test(tb, test_handshake_tls13_ecdsa);
	tcase_add_test(tb, test_tls12_rsa_by_offer);
	tcase_add_test(tb, test_tls13_rsa_by_sigalgs);
	tcase_add_test(tb, test_sni_second_identity);
	tcase_add_test(tb, test_resumption_and_rotation);
	tcase_add_test(tb, test_coalescing_and_bulk);
	tcase_add_test(tb, test_upper_backpressure);
	tcase_add_test(tb, test_fail_garbage);
	tcase_add_test(tb, test_starttls_injection_server);
	tcase_add_test(tb, test_starttls_injection_client);
	tcase_add_test(tb, test_fail_timeout_and_aborted);
	tcase_add_test(tb, test_fail_version);
	tcase_add_test(tb, test_alert_after_handshake);
	tcase_add_test(tb, test_policy_verify_fail_and_opportunistic);
	tcase_add_test(tb, test_policy_dane);
	tcase_add_test(tb, test_policy_eval_and_sts);
	tcase_add_test(tb, test_policy_sts_enforce_connection);
	tcase_add_test(tb, test_close_inside_callback);
	tcase_add_test(tb, test_close_stalled_peer);
	tcase_add_test(tb, test_server_ctx_errors);
	suite_add_tcase(s, tb);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
