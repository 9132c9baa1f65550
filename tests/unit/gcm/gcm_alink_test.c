// SPDX-License-Identifier: MIT
/*
 * gcm_alink_test.c: across-sessions mode (gcm_alink.c) against real OpenSSL peers in process.
 * 24 sessions (OpenSSL clients, our servers taken over) share one engine: every "loop turn"
 * feeds each session a randomly cut piece of what its peer wrote (records split across
 * spans), runs the engine once and delivers. Checked byte for byte both ways, for TLS 1.2 and
 * 1.3, with the upper layer pausing, KeyUpdates requested by peers in the middle of the
 * stream (answered in order), a tampered record (bad_record_mac reaches OpenSSL), close_notify,
 * and links released with ops still in the engine (freed when they complete: ASan checks).
 */
#include <check.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/tls_testcert.h"
#include "../../tools/gcm_pair.h"
#include "gcm/gcm.h"

#define NSESS 24
#define STREAM (200 * 1024)

static char dir[64], cert[128], key[128];
static uint8_t pattern[STREAM + 65536];

struct sess {
	struct gcm_pair p;
	struct gcm_link *l;
	uint8_t *ct;          /* what the peer wrote, not yet fed */
	size_t ct_len, ct_off;
	uint8_t *got;         /* plaintext handed up */
	size_t got_len;
	unsigned calls, ready;
	bool pausing, paused;
};

static void global_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-gc2-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tls_testcert_make(dir), 0);
	snprintf(cert, sizeof(cert), "%s/ecdsa.pem", dir);
	snprintf(key, sizeof(key), "%s/ecdsa.key", dir);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 131 + (i >> 9));
}

static void global_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static bool on_data(void *ctx, const uint8_t *p, size_t n)
{
	struct sess *s = ctx;

	ck_assert_uint_le(s->got_len + n, STREAM);
	memcpy(s->got + s->got_len, p, n);
	s->got_len += n;
	s->calls++;
	if (s->pausing && s->calls % 3 == 0) {
		s->paused = true;
		return false;
	}
	return true;
}

static int emit(void *ctx, const uint8_t *rec, size_t n)
{
	struct sess *s = ctx;

	return BIO_write(s->p.cli.in, rec, (int)n) == (int)n ? 0 : -1;
}

static void ready(void *ctx)
{
	((struct sess *)ctx)->ready++;
}

static const struct gcm_link_io io_tmpl = {.on_data = on_data, .emit = emit, .ready = ready};

/* Moves what the OpenSSL client wrote into s->ct. */
static void collect(struct sess *s)
{
	int n;

	while ((n = BIO_read(s->p.cli.out, s->ct + s->ct_len, 65536)) > 0)
		s->ct_len += (size_t)n;
}

static void sess_open(struct sess *s, struct gcm_lcore *lc, int v, bool aes256, unsigned i)
{
	struct gcm_link_io io = io_tmpl;

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(gcm_pair_open(&s->p, v, aes256, cert, key), 0);
	s->l = malloc(sizeof(*s->l));
	ck_assert_ptr_nonnull(s->l);
	ck_assert_int_eq(gcm_link_init(s->l, lc, s->p.srv.ssl, s->p.srv_tickets), 0);
	io.ctx = s;
	gcm_alink_start(s->l, lc, &io);
	s->ct = malloc(STREAM * 2);
	s->got = malloc(STREAM);
	ck_assert(s->ct && s->got);
	s->pausing = i % 4 == 1;
}

static void sess_close(struct sess *s)
{
	gcm_alink_release(s->l);
	gcm_pair_close(&s->p);
	free(s->ct);
	free(s->got);
}

/* The peer writes the stream in records of varied sizes, with KeyUpdates (1.3) between. */
static void peer_write(struct sess *s, unsigned i, bool tls13)
{
	size_t off = 0;
	unsigned k = 0;

	while (off < STREAM) {
		size_t n = (size_t)(1 + (k * 7919 + i * 104729) % (k % 5 == 0 ? 16384 : 1500));

		if (n > STREAM - off)
			n = STREAM - off;
		if (tls13 && i % 3 == 0 && k % 17 == 5)
			ck_assert_int_eq(SSL_key_update(s->p.cli.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		ck_assert_int_eq(SSL_write(s->p.cli.ssl, pattern + off, (int)n), (int)n);
		off += n;
		k++;
	}
	collect(s);
}

/* One loop turn: each session gets a piece of its input; the engine runs once; delivery. */
static void turn(struct sess *ss, struct gcm_lcore *lc, unsigned t, uint64_t now)
{
	for (unsigned i = 0; i < NSESS; i++) {
		struct sess *s = &ss[i];
		size_t cut = 1 + (size_t)((t * 2654435761u + i * 40503u) % 9000);
		ssize_t u;

		if (s->paused || s->ct_off >= s->ct_len)
			continue;
		if (cut > s->ct_len - s->ct_off)
			cut = s->ct_len - s->ct_off;
		u = gcm_alink_input(s->l, s->ct + s->ct_off, cut, now);
		ck_assert_int_ge(u, 0);
		s->ct_off += (size_t)u;
	}
	gcm_engine_flush(lc->e);
	for (unsigned i = 0; i < NSESS; i++) {
		ss[i].paused = false;
		ck_assert_int_eq(gcm_alink_deliver(ss[i].l, now), 0);
	}
}

START_TEST(many_sessions)
{
	static struct sess ss[NSESS];
	bool tls13 = _i < 2;
	struct gcm_engine_cfg cfg;
	struct gcm_lcore *lc;
	uint64_t now = 1000;
	int err;

	gcm_engine_cfg_defaults(&cfg);
	lc = gcm_lcore_new(&cfg, &err);
	ck_assert_ptr_nonnull(lc);
	for (unsigned i = 0; i < NSESS; i++) {
		sess_open(&ss[i], lc, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION, _i & 1, i);
		peer_write(&ss[i], i, tls13);
	}
	for (unsigned t = 0; t < 20000; t++) {
		bool left = false;

		turn(ss, lc, t, now += 5);
		for (unsigned i = 0; i < NSESS; i++)
			left |= ss[i].got_len < STREAM;
		if (!left)
			break;
	}
	for (unsigned i = 0; i < NSESS; i++) {
		struct sess *s = &ss[i];

		ck_assert_uint_eq(s->got_len, STREAM);
		ck_assert_mem_eq(s->got, pattern, STREAM);
		ck_assert_uint_gt(s->ready, 0);
		if (tls13 && i % 3 == 0)
			ck_assert_uint_gt(s->l->s.stats.key_updates_out, 0);
		/* the other way: every session sends, the engine runs full bursts and the rest
		 * at the end of the turn; each OpenSSL peer reads its bytes in order */
		ck_assert_int_eq(gcm_alink_send(s->l, pattern + i, 70000 + i, now), 70000 + (int)i);
	}
	gcm_engine_flush(lc->e);
	for (unsigned i = 0; i < NSESS; i++) {
		struct sess *s = &ss[i];
		static uint8_t buf[80000];
		size_t got = 0;
		int r;

		ck_assert_uint_eq(gcm_alink_out_bytes(s->l), 0);
		while ((r = SSL_read(s->p.cli.ssl, buf + got, (int)(sizeof(buf) - got))) > 0)
			got += (size_t)r;
		ck_assert_uint_eq(got, 70000 + i);
		ck_assert_mem_eq(buf, pattern + i, got);
	}
	/* close_notify from our side: OpenSSL sees a clean end */
	for (unsigned i = 0; i < NSESS; i++)
		ck_assert_int_eq(gcm_alink_alert(ss[i].l, GCM_ALERT_CLOSE_NOTIFY, now), 0);
	gcm_engine_flush(lc->e);
	for (unsigned i = 0; i < NSESS; i++) {
		char b[8];
		int r = SSL_read(ss[i].p.cli.ssl, b, sizeof(b));

		ck_assert_int_eq(SSL_get_error(ss[i].p.cli.ssl, r), SSL_ERROR_ZERO_RETURN);
	}
	/* released with ops still queued: freed by their completion */
	for (unsigned i = 0; i < NSESS; i++) {
		ck_assert_int_eq(gcm_alink_send(ss[i].l, pattern, 300, now), -EPIPE);
		ck_assert_int_eq(SSL_write(ss[i].p.cli.ssl, pattern, 500), 500);
		collect(&ss[i]);
		ck_assert_int_gt(gcm_alink_input(ss[i].l, ss[i].ct + ss[i].ct_off,
						 ss[i].ct_len - ss[i].ct_off, now), 0);
		ck_assert(ss[i].l->inflight > 0);
		sess_close(&ss[i]);
	}
	gcm_engine_flush(lc->e);
	gcm_lcore_free(lc);
}
END_TEST

START_TEST(tamper_and_close_notify)
{
	static struct sess s;
	struct gcm_engine_cfg cfg;
	struct gcm_lcore *lc;
	char b[64];
	int err, r;

	gcm_engine_cfg_defaults(&cfg);
	lc = gcm_lcore_new(&cfg, &err);
	ck_assert_ptr_nonnull(lc);
	/* close_notify from the peer, then more records after it: dropped, no failure */
	sess_open(&s, lc, TLS1_3_VERSION, false, 0);
	ck_assert_int_eq(SSL_write(s.p.cli.ssl, "hello", 5), 5);
	ck_assert_int_eq(SSL_shutdown(s.p.cli.ssl), 0);
	collect(&s);
	ck_assert_int_eq(gcm_alink_input(s.l, s.ct, s.ct_len, 1), (ssize_t)s.ct_len);
	ck_assert(gcm_alink_in_pending(s.l));
	gcm_engine_flush(lc->e);
	ck_assert_int_eq(gcm_alink_deliver(s.l, 1), 0);
	ck_assert(s.l->s.peer_closed);
	ck_assert(!gcm_alink_in_pending(s.l));
	ck_assert_uint_eq(s.got_len, 5);
	sess_close(&s);
	/* a flipped ciphertext bit: bad_record_mac, and OpenSSL receives the alert */
	for (int v = 0; v < 2; v++) {
		sess_open(&s, lc, v ? TLS1_2_VERSION : TLS1_3_VERSION, true, 0);
		ck_assert_int_eq(SSL_write(s.p.cli.ssl, pattern, 3000), 3000);
		collect(&s);
		s.ct[s.ct_len - 20] ^= 1;
		ck_assert_int_eq(gcm_alink_input(s.l, s.ct, s.ct_len, 1), (ssize_t)s.ct_len);
		gcm_engine_flush(lc->e);
		ck_assert_int_eq(gcm_alink_deliver(s.l, 1), -EBADMSG);
		ck_assert_uint_eq(s.got_len, 0);
		r = SSL_read(s.p.cli.ssl, b, sizeof(b));
		ck_assert_int_eq(SSL_get_error(s.p.cli.ssl, r), SSL_ERROR_SSL);
		ck_assert_int_eq(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
		ERR_clear_error();
		sess_close(&s);
	}
	gcm_lcore_free(lc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcm_alink");
	TCase *tc = tcase_create("openssl");
	SRunner *sr;
	int nf;

	tcase_add_unchecked_fixture(tc, global_setup, global_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, many_sessions, 0, 4);
	tcase_add_test(tc, tamper_and_close_notify);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
