// SPDX-License-Identifier: MIT
/*
 * gcm_record_test.c: the record layer against the RFC 8448 §3 trace (traffic keys and IVs from
 * the application traffic secrets, the sealed application-data records byte for byte, opening
 * them back), the burst engine's flush rules on a virtual clock, framing limits, tampering,
 * padding, alerts and KeyUpdate between two sessions of this layer.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s) {
		unsigned v;

		if (*s == ' ' || *s == '\n') {
			s++;
			continue;
		}
		ck_assert(sscanf(s, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* RFC 8448 §3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256 */
static const char *S_HS = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
static const char *C_AP = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
static const char *S_AP = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";
static const char *C_REC =
	"17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa"
	"66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2"
	"97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
static const char *S_REC =
	"17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f"
	"82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2"
	"1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";

static struct gcm_engine *eng;

static void setup(void)
{
	struct gcm_engine_cfg cfg;
	int err = 0;

	gcm_engine_cfg_defaults(&cfg);
	eng = gcm_engine_new(&cfg, &err);
	ck_assert_msg(eng, "engine: %d", err);
}

static void teardown(void)
{
	gcm_engine_free(eng);
}

static void rfc_secrets(struct gcm_secrets *sec, bool server)
{
	memset(sec, 0, sizeof(*sec));
	sec->version = GCM_TLS13;
	sec->suite = GCM_AES128_SHA256;
	sec->is_server = server;
	unhex(C_AP, sec->client);
	unhex(S_AP, sec->server);
	sec->have_client = sec->have_server = true;
}

/* Seals one record synchronously; returns its length. */
static int seal_sync(struct gcm_sess *s, uint8_t ct, uint8_t *rec, const void *pt, size_t len)
{
	struct gcm_op op = {0};
	int n;

	memcpy(rec + gcm_rec_hdr_len(s), pt, len);
	n = gcm_seal_prep(s, &op, ct, rec, len);
	if (n < 0)
		return n;
	gcm_engine_enqueue(eng, &op, 0);
	gcm_engine_flush(eng);
	ck_assert_int_eq(op.status, 0);
	gcm_seal_finish(&op);
	return n;
}

/* Opens one record synchronously: the event, or -errno. */
static int open_sync(struct gcm_sess *s, const uint8_t *rec, size_t len, uint8_t *out,
		     const uint8_t **pt, size_t *pt_len)
{
	struct gcm_op op = {0};
	int rc = gcm_open_prep(s, &op, rec, len, out);

	if (rc)
		return rc;
	gcm_engine_enqueue(eng, &op, 0);
	gcm_engine_flush(eng);
	return gcm_open_finish(s, &op, pt, pt_len);
}

START_TEST(rfc8448_keys)
{
	uint8_t secret[48], key[16], iv[12], want[32];

	unhex(S_HS, secret);
	ck_assert_int_eq(gcm_tls13_traffic_keys(GCM_AES128_SHA256, secret, key, iv), 0);
	unhex("3fce516009c21727d0f2e4e86ee403bc", want);
	ck_assert_mem_eq(key, want, 16);
	unhex("5d313eb2671276ee13000b30", want);
	ck_assert_mem_eq(iv, want, 12);

	unhex(S_AP, secret);
	ck_assert_int_eq(gcm_tls13_traffic_keys(GCM_AES128_SHA256, secret, key, iv), 0);
	unhex("9f02283b6c9c07efc26bb9f2ac92e356", want);
	ck_assert_mem_eq(key, want, 16);
	unhex("cf782b88dd83549aadf1e984", want);
	ck_assert_mem_eq(iv, want, 12);

	unhex(C_AP, secret);
	ck_assert_int_eq(gcm_tls13_traffic_keys(GCM_AES128_SHA256, secret, key, iv), 0);
	unhex("17422dda596ed5d9acd890e3c63f5051", want);
	ck_assert_mem_eq(key, want, 16);
	unhex("5b78923dee08579033e523d9", want);
	ck_assert_mem_eq(iv, want, 12);
}
END_TEST

START_TEST(rfc8448_records)
{
	struct gcm_secrets sec;
	struct gcm_sess srv, cli;
	uint8_t pt[50], rec[256], want[256], out[256];
	const uint8_t *p;
	size_t plen, wl;
	int n;

	for (unsigned i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	/* server: its NewSessionTicket used write seq 0, the data record is seq 1 */
	rfc_secrets(&sec, true);
	ck_assert_int_eq(gcm_sess_init(&srv, eng, &sec, 0, 1), 0);
	rfc_secrets(&sec, false);
	ck_assert_int_eq(gcm_sess_init(&cli, eng, &sec, 1, 0), 0);

	n = seal_sync(&srv, GCM_CT_APPDATA, rec, pt, sizeof(pt));
	wl = unhex(S_REC, want);
	ck_assert_int_eq(n, (int)wl);
	ck_assert_mem_eq(rec, want, wl);
	ck_assert_int_eq(open_sync(&cli, rec, (size_t)n, out, &p, &plen), GCM_EV_DATA);
	ck_assert_uint_eq(plen, sizeof(pt));
	ck_assert_mem_eq(p, pt, sizeof(pt));

	n = seal_sync(&cli, GCM_CT_APPDATA, rec, pt, sizeof(pt));
	wl = unhex(C_REC, want);
	ck_assert_int_eq(n, (int)wl);
	ck_assert_mem_eq(rec, want, wl);
	ck_assert_int_eq(open_sync(&srv, rec, (size_t)n, out, &p, &plen), GCM_EV_DATA);
	ck_assert_mem_eq(p, pt, sizeof(pt));
	gcm_sess_wipe(&srv);
	gcm_sess_wipe(&cli);
}
END_TEST

static void pair(struct gcm_sess *a, struct gcm_sess *b, enum gcm_tls_version v,
		 enum gcm_suite suite)
{
	struct gcm_secrets sec;

	memset(&sec, 0, sizeof(sec));
	sec.version = v;
	sec.suite = suite;
	memset(sec.client, 0x11, sizeof(sec.client));
	memset(sec.server, 0x22, sizeof(sec.server));
	memset(sec.master, 0x33, sizeof(sec.master));
	memset(sec.client_random, 0x44, 32);
	memset(sec.server_random, 0x55, 32);
	sec.have_client = sec.have_server = true;
	sec.is_server = true;
	ck_assert_int_eq(gcm_sess_init(a, eng, &sec, 1, 1), 0);
	sec.is_server = false;
	ck_assert_int_eq(gcm_sess_init(b, eng, &sec, 1, 1), 0);
}

START_TEST(roundtrip_sizes_tamper)
{
	static uint8_t rec[GCM_TLS_MAX_RECORD + 512], out[GCM_TLS_MAX_RECORD], pt[16385];
	static const size_t sizes[] = {0, 1, 15, 16, 17, 64, 1024, 16383, 16384};
	enum gcm_tls_version v = _i & 1 ? GCM_TLS12 : GCM_TLS13;
	enum gcm_suite suite = _i & 2 ? GCM_AES256_SHA384 : GCM_AES128_SHA256;
	struct gcm_sess a, b;
	const uint8_t *p;
	size_t plen;
	int n;

	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7);
	pair(&a, &b, v, suite);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		a.pad_to = i == 3 ? 256 : 0;
		n = seal_sync(&a, GCM_CT_APPDATA, rec, pt, sizes[i]);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_DATA);
		ck_assert_uint_eq(plen, sizes[i]);
		ck_assert(plen == 0 || memcmp(p, pt, plen) == 0);
	}
	ck_assert_int_eq(seal_sync(&a, GCM_CT_APPDATA, rec, pt, 16385), -EMSGSIZE);
	/* a flipped bit anywhere in the record body fails the tag: bad_record_mac */
	n = seal_sync(&a, GCM_CT_APPDATA, rec, pt, 100);
	rec[n - 20] ^= 4;
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), -EBADMSG);
	ck_assert_int_eq(b.alert_out, GCM_ALERT_BAD_RECORD_MAC);
	ck_assert_int_eq(b.state, GCM_SESS_FAILED);
	ck_assert_uint_eq(b.stats.bad_mac, 1);
}
END_TEST

START_TEST(replay_and_reorder_rejected)
{
	static uint8_t r1[256], r2[256], out[256];
	struct gcm_sess a, b;
	const uint8_t *p;
	size_t plen;
	int n1, n2;

	pair(&a, &b, GCM_TLS13, GCM_AES128_SHA256);
	n1 = seal_sync(&a, GCM_CT_APPDATA, r1, "one", 3);
	n2 = seal_sync(&a, GCM_CT_APPDATA, r2, "two", 3);
	ck_assert_int_eq(open_sync(&b, r2, (size_t)n2, out, &p, &plen), -EBADMSG);
	(void)n1;
}
END_TEST

START_TEST(framing)
{
	struct gcm_sess a, b;
	uint8_t hdr[5] = {23, 3, 3, 0x41, 0x01}, alert = 0;

	pair(&a, &b, GCM_TLS13, GCM_AES128_SHA256);
	ck_assert_int_eq(gcm_rec_frame(&a, hdr, 4, &alert), 0);
	ck_assert_int_eq(gcm_rec_frame(&a, hdr, 5, &alert), -EMSGSIZE);
	ck_assert_int_eq(alert, GCM_ALERT_RECORD_OVERFLOW);
	hdr[3] = 0x41;
	hdr[4] = 0x00; /* 16640 = 2^14 + 256: the largest 1.3 ciphertext */
	ck_assert_int_eq(gcm_rec_frame(&a, hdr, 5, &alert), 0);
	hdr[0] = GCM_CT_CCS;
	ck_assert_int_eq(gcm_rec_frame(&a, hdr, 5, &alert), -EPROTO);
	ck_assert_int_eq(alert, GCM_ALERT_UNEXPECTED_MESSAGE);
	hdr[0] = 23;
	hdr[1] = 2;
	ck_assert_int_eq(gcm_rec_frame(&a, hdr, 5, &alert), -EPROTO);
	ck_assert_int_eq(alert, GCM_ALERT_PROTOCOL_VERSION);
	{
		uint8_t two[10] = {23, 3, 3, 0, 0, 23, 3, 3, 0, 0};

		ck_assert_uint_eq(gcm_rec_count(two, 10), 2);
		ck_assert_uint_eq(gcm_rec_count(two, 9), 1);
	}
}
END_TEST

START_TEST(key_update_between_sessions)
{
	static uint8_t rec[512], rec2[512], out[512], out2[512];
	struct gcm_sess a, b;
	struct gcm_op op = {0}, o1 = {0}, o2 = {0};
	const uint8_t *p;
	size_t plen;
	int n, n2;

	pair(&a, &b, GCM_TLS13, GCM_AES256_SHA384);
	/* b asks for an update; a's read key changes and it owes one back */
	n = gcm_key_update_seal(&b, eng, &op, rec, true, 0);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(b.wr.gen, 1);
	/* b's next data record (new key) travels in the same burst as the KeyUpdate */
	n2 = seal_sync(&b, GCM_CT_APPDATA, rec2, "after", 5);
	ck_assert_int_eq(gcm_open_prep(&a, &o1, rec, (size_t)n, out), 0);
	ck_assert_int_eq(gcm_open_prep(&a, &o2, rec2, (size_t)n2, out2), 0);
	gcm_engine_enqueue(eng, &o1, 0);
	gcm_engine_enqueue(eng, &o2, 0);
	gcm_engine_flush(eng);
	ck_assert_int_eq(gcm_open_finish(&a, &o1, &p, &plen), GCM_EV_NONE);
	ck_assert(a.key_update_due);
	ck_assert(gcm_sess_key_update_wanted(&a));
	ck_assert_int_eq(gcm_open_finish(&a, &o2, &p, &plen), GCM_EV_REOPEN);
	ck_assert_int_eq(gcm_open_reprep(&a, &o2), 0);
	gcm_engine_enqueue(eng, &o2, 0);
	gcm_engine_flush(eng);
	ck_assert_int_eq(gcm_open_finish(&a, &o2, &p, &plen), GCM_EV_DATA);
	ck_assert_mem_eq(p, "after", 5);

	n = gcm_key_update_seal(&a, eng, &op, rec, false, 0);
	ck_assert_int_gt(n, 0);
	ck_assert(!a.key_update_due);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_NONE);
	ck_assert(!b.key_update_due);
	n = seal_sync(&a, GCM_CT_APPDATA, rec, "back", 4);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_DATA);
	ck_assert_mem_eq(p, "back", 4);
	ck_assert_uint_eq(a.stats.key_updates_in, 1);
	ck_assert_uint_eq(b.stats.key_updates_out, 1);
}
END_TEST

START_TEST(alerts_and_tickets)
{
	static uint8_t rec[512], out[512];
	struct gcm_sess a, b;
	struct gcm_op op = {0};
	const uint8_t *p;
	size_t plen;
	int n;
	/* two NewSessionTickets and nothing else, coalesced; the second split over records */
	uint8_t nst[] = {4, 0, 0, 3, 1, 2, 3, 4, 0, 0, 2, 9, 9};

	pair(&a, &b, GCM_TLS13, GCM_AES128_SHA256);
	n = seal_sync(&a, GCM_CT_HANDSHAKE, rec, nst, 10);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_NONE);
	n = seal_sync(&a, GCM_CT_HANDSHAKE, rec, nst + 10, 3);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_NONE);
	ck_assert_uint_eq(b.stats.tickets_in, 2);
	ck_assert_uint_eq(b.hs_skip, 0);

	n = gcm_alert_seal(&a, &op, rec, GCM_ALERT_CLOSE_NOTIFY);
	ck_assert_int_gt(n, 0);
	gcm_engine_enqueue(eng, &op, 0);
	gcm_engine_flush(eng);
	gcm_seal_finish(&op);
	ck_assert_int_eq(a.state, GCM_SESS_CLOSED);
	ck_assert_int_eq(seal_sync(&a, GCM_CT_APPDATA, out, "x", 1), -EPIPE);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_CLOSE_NOTIFY);
	ck_assert_int_eq(b.state, GCM_SESS_PEER_CLOSED);
	/* b may still write after the peer closed */
	n = seal_sync(&b, GCM_CT_APPDATA, rec, "bye", 3);
	ck_assert_int_eq(open_sync(&a, rec, (size_t)n, out, &p, &plen), GCM_EV_DATA);

	/* a fatal alert from the peer */
	pair(&a, &b, GCM_TLS12, GCM_AES128_SHA256);
	n = gcm_alert_seal(&a, &op, rec, GCM_ALERT_INTERNAL_ERROR);
	gcm_engine_enqueue(eng, &op, 0);
	gcm_engine_flush(eng);
	gcm_seal_finish(&op);
	ck_assert_int_eq(a.state, GCM_SESS_FAILED);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), GCM_EV_ALERT);
	ck_assert_int_eq(b.peer_alert, GCM_ALERT_INTERNAL_ERROR);
	ck_assert_int_eq(b.state, GCM_SESS_FAILED);

	/* TLS 1.2 renegotiation (HelloRequest) is refused */
	pair(&a, &b, GCM_TLS12, GCM_AES128_SHA256);
	n = seal_sync(&a, GCM_CT_HANDSHAKE, rec, "\0\0\0\0", 4);
	ck_assert_int_eq(open_sync(&b, rec, (size_t)n, out, &p, &plen), -EPROTO);
	ck_assert_int_eq(b.alert_out, GCM_ALERT_NO_RENEGOTIATION);
}
END_TEST

static unsigned order[8], n_order;
static void note_done(struct gcm_op *op, void *arg)
{
	order[n_order++] = (unsigned)(uintptr_t)arg;
}

START_TEST(engine_flush_rules)
{
	struct gcm_engine_cfg cfg;
	struct gcm_engine *e;
	struct gcm_key k;
	struct gcm_op ops[5];
	uint8_t key[16] = {1}, buf[5][64];
	int err;

	gcm_engine_cfg_defaults(&cfg);
	cfg.burst = 4;
	cfg.flush_us = 4;
	e = gcm_engine_new(&cfg, &err);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(gcm_key_set(e, &k, key, 16), 0);
	ck_assert_int_eq(gcm_key_set(e, &k, key, 15), -EINVAL);
	memset(ops, 0, sizeof(ops));
	for (unsigned i = 0; i < 5; i++) {
		ops[i].key = &k;
		ops[i].src = ops[i].dst = buf[i];
		ops[i].len = 64;
		ops[i].done = note_done;
		ops[i].arg = (void *)(uintptr_t)i;
	}
	n_order = 0;
	ck_assert_uint_eq(gcm_engine_next_deadline(e), UINT64_MAX);
	gcm_engine_enqueue(e, &ops[0], 100);
	gcm_engine_enqueue(e, &ops[1], 102);
	ck_assert_uint_eq(gcm_engine_next_deadline(e), 104);
	ck_assert_uint_eq(gcm_engine_poll(e, 103), 0);
	ck_assert_uint_eq(n_order, 0);
	ck_assert_uint_eq(gcm_engine_poll(e, 104), 2);
	ck_assert_uint_eq(e->stats.flush_deadline, 1);
	for (unsigned i = 0; i < 4; i++)
		gcm_engine_enqueue(e, &ops[i + 1], 200);
	ck_assert_uint_eq(e->stats.flush_full, 1);
	ck_assert_uint_eq(n_order, 6);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_eq(order[i], i < 2 ? i : i - 1);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(ops[i].status, 0);
	gcm_engine_free(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gcm_record");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rfc8448_keys);
	tcase_add_test(tc, rfc8448_records);
	tcase_add_loop_test(tc, roundtrip_sizes_tamper, 0, 4);
	tcase_add_test(tc, replay_and_reorder_rejected);
	tcase_add_test(tc, framing);
	tcase_add_test(tc, key_update_between_sessions);
	tcase_add_test(tc, alerts_and_tickets);
	tcase_add_test(tc, engine_flush_rules);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
