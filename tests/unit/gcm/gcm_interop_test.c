// SPDX-License-Identifier: MIT
/*
 * gcm_interop_test.c: the batched record layer against a real OpenSSL peer in process. OpenSSL
 * client and server handshake over memory BIOs (tests/tools/gcm_pair.h); then one side (server
 * or client) is taken over by crypto/gcm and the other stays OpenSSL. For TLS 1.2 and 1.3,
 * AES-128-GCM and AES-256-GCM: records of 1 byte to 16 KiB both ways, many records opened in
 * one burst, NewSessionTickets consumed, KeyUpdate started by the peer and by us, tampered
 * records rejected with bad_record_mac both ways, close_notify both ways.
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

static char dir[64], cert[128], key[128];
static struct gcm_engine *eng;

static void global_setup(void)
{
	struct gcm_engine_cfg cfg;
	int err;

	snprintf(dir, sizeof(dir), "/tmp/dpmail-gcm-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tls_testcert_make(dir), 0);
	snprintf(cert, sizeof(cert), "%s/ecdsa.pem", dir);
	snprintf(key, sizeof(key), "%s/ecdsa.key", dir);
	gcm_engine_cfg_defaults(&cfg);
	eng = gcm_engine_new(&cfg, &err);
	ck_assert_ptr_nonnull(eng);
}

static void global_teardown(void)
{
	char cmd[128];

	gcm_engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* One connection: our gcm side and the OpenSSL peer. */
struct link {
	struct gcm_pair p;
	struct gcm_sess s;
	struct gcm_pend *ours, *peer;
	uint8_t in[1 << 20]; /* our received bytes not yet framed */
	size_t in_len;
};

static void link_open(struct link *l, int v, bool aes256, bool server)
{
	ck_assert_int_eq(gcm_pair_open(&l->p, v, aes256, cert, key), 0);
	l->ours = server ? &l->p.srv : &l->p.cli;
	l->peer = server ? &l->p.cli : &l->p.srv;
	l->in_len = 0;
	ck_assert_int_eq(gcm_pair_takeover(&l->p, server, eng, &l->s), 0);
}

static void link_close(struct link *l)
{
	gcm_sess_wipe(&l->s);
	gcm_pair_close(&l->p);
}

/* Seals records into the peer's input, all in one burst (ops done after the flush). */
static void send_recs(struct link *l, uint8_t ct, const uint8_t *pt, const size_t *lens,
		      unsigned n)
{
	static uint8_t recs[64][GCM_TLS_MAX_RECORD + 512];
	struct gcm_op ops[64];
	int len[64];

	ck_assert_uint_le(n, 64);
	memset(ops, 0, sizeof(ops));
	for (unsigned i = 0; i < n; i++) {
		memcpy(recs[i] + gcm_rec_hdr_len(&l->s), pt, lens[i]);
		len[i] = gcm_seal_prep(&l->s, &ops[i], ct, recs[i], lens[i]);
		ck_assert_int_gt(len[i], 0);
		gcm_engine_enqueue(eng, &ops[i], 0);
	}
	gcm_engine_flush(eng);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(ops[i].status, 0);
		gcm_seal_finish(&ops[i]);
		BIO_write(l->peer->in, recs[i], len[i]);
	}
}

static void send_one(struct link *l, const void *pt, size_t len)
{
	send_recs(l, GCM_CT_APPDATA, pt, &len, 1);
}

static void send_alert(struct link *l, uint8_t desc)
{
	uint8_t rec[128];
	struct gcm_op op = {0};
	int n = gcm_alert_seal(&l->s, &op, rec, desc);

	ck_assert_int_gt(n, 0);
	gcm_engine_enqueue(eng, &op, 0);
	gcm_engine_flush(eng);
	gcm_seal_finish(&op);
	BIO_write(l->peer->in, rec, n);
}

/*
 * Receives what the peer wrote: frames every complete record, opens them all in one burst,
 * re-opens after a KeyUpdate, appends application data to out. Returns the last event or
 * -errno; *n_data counts data bytes.
 */
static int recv_all(struct link *l, uint8_t *out, size_t *n_data)
{
	static uint8_t plain[256][GCM_TLS_MAX_RECORD];
	struct gcm_op ops[256];
	size_t off = 0;
	unsigned n = 0;
	int last = GCM_EV_NONE, rc;

	gcm_pair_pump(l->peer, l->ours);
	for (;;) {
		int r = BIO_read(l->ours->in, l->in + l->in_len, (int)(sizeof(l->in) - l->in_len));

		if (r <= 0)
			break;
		l->in_len += (size_t)r;
	}
	memset(ops, 0, sizeof(ops));
	while (n < 256) {
		uint8_t alert;
		int rl = gcm_rec_frame(&l->s, l->in + off, l->in_len - off, &alert);

		if (rl == 0)
			break;
		if (rl < 0)
			return rl;
		rc = gcm_open_prep(&l->s, &ops[n], l->in + off, (size_t)rl, plain[n]);
		if (rc)
			return rc;
		gcm_engine_enqueue(eng, &ops[n], 0);
		off += (size_t)rl;
		n++;
	}
	gcm_engine_flush(eng);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p;
		size_t pl;

		rc = gcm_open_finish(&l->s, &ops[i], &p, &pl);
		if (rc == GCM_EV_REOPEN) {
			ck_assert_int_eq(gcm_open_reprep(&l->s, &ops[i]), 0);
			gcm_engine_enqueue(eng, &ops[i], 0);
			gcm_engine_flush(eng);
			rc = gcm_open_finish(&l->s, &ops[i], &p, &pl);
		}
		if (rc < 0)
			return rc;
		if (rc == GCM_EV_DATA) {
			memcpy(out + *n_data, p, pl);
			*n_data += pl;
		}
		last = rc;
	}
	memmove(l->in, l->in + off, l->in_len - off);
	l->in_len -= off;
	return last;
}

static void peer_read_expect(struct link *l, const uint8_t *want, size_t len)
{
	static uint8_t buf[1 << 17];
	size_t got = 0;

	while (got < len) {
		int r = SSL_read(l->peer->ssl, buf + got, (int)(len - got));

		ck_assert_msg(r > 0, "SSL_read: %d err %d", r, SSL_get_error(l->peer->ssl, r));
		got += (size_t)r;
	}
	ck_assert_mem_eq(buf, want, len);
}

static uint8_t pattern[1 << 16];

START_TEST(interop)
{
	static struct link l;
	static uint8_t got[1 << 18];
	static const size_t sizes[] = {1, 64, 1000, 1024, 4096, 16383, 16384};
	const unsigned ns = sizeof(sizes) / sizeof(sizes[0]);
	int v = _i & 1 ? TLS1_2_VERSION : TLS1_3_VERSION;
	bool aes256 = _i & 2, server = _i & 4;
	size_t nd, tot = 0;

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 131 + 7);
	link_open(&l, v, aes256, server);

	/* us -> OpenSSL: one burst of records of every size */
	send_recs(&l, GCM_CT_APPDATA, pattern, sizes, ns);
	for (unsigned i = 0; i < ns; i++)
		peer_read_expect(&l, pattern, sizes[i]);

	/* OpenSSL -> us: many records, opened in one burst (1.3 client: the tickets first) */
	for (unsigned i = 0; i < ns; i++) {
		ck_assert_int_eq(SSL_write(l.peer->ssl, pattern, (int)sizes[i]), (int)sizes[i]);
		tot += sizes[i];
	}
	nd = 0;
	ck_assert_int_eq(recv_all(&l, got, &nd), GCM_EV_DATA);
	ck_assert_uint_eq(nd, tot);
	for (unsigned i = 0, off = 0; i < ns; off += (unsigned)sizes[i], i++)
		ck_assert_mem_eq(got + off, pattern, sizes[i]);
	if (v == TLS1_3_VERSION && !server)
		ck_assert_uint_ge(l.s.stats.tickets_in, 1);

	if (v == TLS1_3_VERSION) {
		struct gcm_op op = {0};
		uint8_t rec[128];
		int n;

		/* the peer updates its key and asks for ours; its next record shares the burst */
		ck_assert_int_eq(SSL_key_update(l.peer->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		ck_assert_int_eq(SSL_write(l.peer->ssl, "after-ku", 8), 8);
		nd = 0;
		ck_assert_int_eq(recv_all(&l, got, &nd), GCM_EV_DATA);
		ck_assert_uint_eq(nd, 8);
		ck_assert_mem_eq(got, "after-ku", 8);
		ck_assert_uint_eq(l.s.stats.key_updates_in, 1);
		ck_assert(gcm_sess_key_update_wanted(&l.s));
		n = gcm_key_update_seal(&l.s, eng, &op, rec, false, 0);
		ck_assert_int_gt(n, 0);
		BIO_write(l.peer->in, rec, n);
		send_one(&l, "new-key", 7);
		peer_read_expect(&l, (const uint8_t *)"new-key", 7);

		/* we start one (update_requested): OpenSSL answers with its own */
		n = gcm_key_update_seal(&l.s, eng, &op, rec, true, 0);
		ck_assert_int_gt(n, 0);
		BIO_write(l.peer->in, rec, n);
		send_one(&l, "ours", 4);
		peer_read_expect(&l, (const uint8_t *)"ours", 4);
		ck_assert_int_eq(SSL_write(l.peer->ssl, "reply", 5), 5);
		nd = 0;
		ck_assert_int_eq(recv_all(&l, got, &nd), GCM_EV_DATA);
		ck_assert_mem_eq(got, "reply", 5);
		ck_assert_uint_eq(l.s.stats.key_updates_in, 2);
		ck_assert_uint_eq(l.s.stats.key_updates_out, 2);
	}

	/* close_notify both ways */
	ck_assert_int_eq(SSL_shutdown(l.peer->ssl), 0);
	nd = 0;
	ck_assert_int_eq(recv_all(&l, got, &nd), GCM_EV_CLOSE_NOTIFY);
	ck_assert_int_eq(l.s.state, GCM_SESS_PEER_CLOSED);
	send_alert(&l, GCM_ALERT_CLOSE_NOTIFY);
	ck_assert_int_eq(l.s.state, GCM_SESS_CLOSED);
	{
		char b[16];
		int r = SSL_read(l.peer->ssl, b, sizeof(b));

		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(SSL_get_error(l.peer->ssl, r), SSL_ERROR_ZERO_RETURN);
	}
	link_close(&l);
}
END_TEST

START_TEST(tamper)
{
	static struct link l;
	static uint8_t got[1 << 16];
	int v = _i & 1 ? TLS1_2_VERSION : TLS1_3_VERSION;
	size_t nd = 0;
	unsigned long e;
	char b[64];
	int r;

	/* OpenSSL -> us, one bit flipped: bad_record_mac, and OpenSSL hears it */
	link_open(&l, v, _i & 2, true);
	ck_assert_int_eq(SSL_write(l.peer->ssl, pattern, 300), 300);
	gcm_pair_pump(l.peer, l.ours);
	{
		uint8_t rec[1024];
		int n = BIO_read(l.ours->in, rec, sizeof(rec));

		ck_assert_int_gt(n, 300);
		rec[n - 40] ^= 0x10;
		BIO_write(l.ours->in, rec, n);
	}
	ck_assert_int_eq(recv_all(&l, got, &nd), -EBADMSG);
	ck_assert_int_eq(l.s.alert_out, GCM_ALERT_BAD_RECORD_MAC);
	send_alert(&l, l.s.alert_out);
	r = SSL_read(l.peer->ssl, b, sizeof(b));
	ck_assert_int_le(r, 0);
	ck_assert_int_eq(SSL_get_error(l.peer->ssl, r), SSL_ERROR_SSL);
	e = ERR_get_error();
	ck_assert_int_eq(ERR_GET_REASON(e), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
	ERR_clear_error();
	link_close(&l);

	/* us -> OpenSSL, tampered: OpenSSL refuses it and its alert reaches us */
	link_open(&l, v, _i & 2, false);
	{
		size_t len = 200;

		send_recs(&l, GCM_CT_APPDATA, pattern, &len, 1);
	}
	{
		uint8_t rec[1024];
		int n = BIO_read(l.peer->in, rec, sizeof(rec));

		rec[n - 3] ^= 1;
		BIO_write(l.peer->in, rec, n);
	}
	r = SSL_read(l.peer->ssl, b, sizeof(b));
	ck_assert_int_le(r, 0);
	e = ERR_peek_last_error(); /* 1.2: the provider's own error comes first */
	ck_assert_int_eq(ERR_GET_LIB(e), ERR_LIB_SSL);
	ck_assert_int_eq(ERR_GET_REASON(e), SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
	ERR_clear_error();
	nd = 0;
	ck_assert_int_eq(recv_all(&l, got, &nd), GCM_EV_ALERT);
	ck_assert_int_eq(l.s.peer_alert, GCM_ALERT_BAD_RECORD_MAC);
	ck_assert_int_eq(l.s.state, GCM_SESS_FAILED);
	link_close(&l);
}
END_TEST

/* gcm_link: an upper layer that pauses after every other record, across a KeyUpdate. */
struct lk_ctx {
	struct link *l;
	uint8_t got[1 << 17];
	size_t got_len;
	unsigned calls;
};

static bool lk_data(void *ctx, const uint8_t *p, size_t n)
{
	struct lk_ctx *c = ctx;

	memcpy(c->got + c->got_len, p, n);
	c->got_len += n;
	return ++c->calls % 2 != 0;
}

static int lk_emit(void *ctx, const uint8_t *rec, size_t n)
{
	struct lk_ctx *c = ctx;

	return BIO_write(c->l->peer->in, rec, (int)n) == (int)n ? 0 : -1;
}

START_TEST(link_pause_key_update)
{
	static struct link l;
	static struct lk_ctx c;
	struct gcm_engine_cfg cfg;
	struct gcm_lcore *lc;
	struct gcm_link gl;
	struct gcm_link_io io = {.ctx = &c, .on_data = lk_data, .emit = lk_emit};
	size_t want = 0, off = 0;
	int err, rounds = 0;

	gcm_engine_cfg_defaults(&cfg);
	lc = gcm_lcore_new(&cfg, &err);
	ck_assert_ptr_nonnull(lc);
	memset(&c, 0, sizeof(c));
	c.l = &l;
	ck_assert_int_eq(gcm_pair_open(&l.p, _i ? TLS1_2_VERSION : TLS1_3_VERSION, false, cert, key), 0);
	l.ours = &l.p.srv;
	l.peer = &l.p.cli;
	ck_assert_int_eq(gcm_link_init(&gl, lc, l.p.srv.ssl, l.p.srv_tickets), 0);
	for (unsigned i = 0; i < 9; i++) {
		if (i == 5 && !_i)
			ck_assert_int_eq(SSL_key_update(l.peer->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
		ck_assert_int_eq(SSL_write(l.peer->ssl, pattern + i, 100 + (int)i), 100 + (int)i);
		memcpy(l.in + want, pattern + i, 100 + i); /* l.in: the expected plaintext */
		want += 100 + i;
	}
	gcm_pair_pump(l.peer, l.ours);
	{
		static uint8_t ct[1 << 16];
		int n = BIO_read(l.ours->in, ct, sizeof(ct));

		ck_assert_int_gt(n, 0);
		while (off < (size_t)n && rounds++ < 20) {
			ssize_t used = gcm_link_input(lc, &gl, ct + off, (size_t)n - off, &io);

			ck_assert_int_ge(used, 0);
			off += (size_t)used;
		}
		ck_assert_uint_eq(off, (size_t)n);
	}
	ck_assert_uint_eq(c.got_len, want);
	ck_assert_mem_eq(c.got, l.in, want);
	ck_assert_uint_eq(gl.s.stats.key_updates_in, _i ? 0 : 1);
	ck_assert_uint_eq(gl.s.stats.key_updates_out, _i ? 0 : 1);
	/* our answer and the data after it reach OpenSSL */
	ck_assert_int_eq(gcm_link_send(lc, &gl, pattern, 40000, &io), 40000);
	peer_read_expect(&l, pattern, 40000);
	/* sealed in place around staged plaintext: a full record, a short one; too long refused */
	{
		static uint8_t stage[GCM_LINK_HEADROOM + GCM_LINK_INPLACE_CAP];
		size_t lens[] = { GCM_TLS_MAX_PLAIN, 37 };

		for (unsigned k = 0; k < 2; k++) {
			memcpy(stage + GCM_LINK_HEADROOM, pattern + k, lens[k]);
			ck_assert_int_eq(gcm_link_seal_inplace(lc, &gl, stage + GCM_LINK_HEADROOM,
							       lens[k], &io), (ssize_t)lens[k]);
			peer_read_expect(&l, pattern + k, lens[k]);
		}
		ck_assert_int_eq(gcm_link_seal_inplace(lc, &gl, stage + GCM_LINK_HEADROOM,
						       GCM_TLS_MAX_PLAIN + 1, &io), -EMSGSIZE);
	}
	ck_assert_int_eq(gcm_link_alert(lc, &gl, GCM_ALERT_CLOSE_NOTIFY, &io), 0);
	{
		char b[8];
		int r = SSL_read(l.peer->ssl, b, sizeof(b));

		ck_assert_int_eq(SSL_get_error(l.peer->ssl, r), SSL_ERROR_ZERO_RETURN);
	}
	gcm_sess_wipe(&gl.s);
	gcm_pair_close(&l.p);
	gcm_lcore_free(lc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcm_interop");
	TCase *tc = tcase_create("openssl");
	SRunner *sr;
	int nf;

	tcase_add_unchecked_fixture(tc, global_setup, global_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, interop, 0, 8);
	tcase_add_loop_test(tc, tamper, 0, 4);
	tcase_add_loop_test(tc, link_pause_key_update, 0, 2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
