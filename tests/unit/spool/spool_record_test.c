/* SPDX-License-Identifier: MIT */
/* spool_record_test.c: record encoding, CRC32C, classification (ok/end/torn/corrupt), the
 * envelope and commit codecs, and the AES-256-GCM seal/open interface. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "spool/spool-t.h"
#include "spool/spool_aead.h"
#include "spool/spool_record.h"

/* Builds a plaintext record of `plen` bytes of `fill` at p; returns its length. */
static uint32_t mkrec(uint8_t *p, uint8_t type, uint32_t plen, uint8_t fill)
{
	struct spool_rec_hdr h = { .magic = SPOOL_REC_MAGIC, .len = plen, .type = type };
	memset(p + SPOOL_REC_HDR, fill, plen);
	spool_rec_hdr_put(p, &h);
	h.crc = spool_rec_crc(p, plen);
	spool_rec_hdr_put(p, &h);
	return SPOOL_REC_HDR + plen;
}

/* The three-lane CRC32C (long inputs) against a bitwise reference at every length around the
 * lane boundaries and at odd alignments, and chained in pieces. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
	}
	return ~c;
}

START_TEST(test_crc32c_lanes)
{
	static uint8_t buf[20000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	const size_t lens[] = { 0, 1, 7, 8, 767, 768, 769, 1535, 1536, 6143, 6144, 6145, 6912, 10240,
				12288, 12289, 19000 };
	for (size_t a = 0; a < 3; a++)
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
			ck_assert_uint_eq(spool_crc32c(0x1234u, buf + a, lens[i]),
					  crc_ref(0x1234u, buf + a, lens[i]));
	uint32_t c = spool_crc32c(0, buf, 7000);
	ck_assert_uint_eq(spool_crc32c(c, buf + 7000, 13000), crc_ref(0, buf, 20000));
	/* the copying variant: same CRC, the bytes copied exactly, nothing written past them */
	static uint8_t dst[20000 + 8];
	for (size_t a = 0; a < 3; a++)
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			memset(dst, 0xEE, sizeof(dst));
			ck_assert_uint_eq(spool_crc32c_copy(0x1234u, dst + a, buf + a, lens[i]),
					  crc_ref(0x1234u, buf + a, lens[i]));
			ck_assert(memcmp(dst + a, buf + a, lens[i]) == 0);
			ck_assert_uint_eq(dst[a + lens[i]], 0xEE);
			if (a)
				ck_assert_uint_eq(dst[a - 1], 0xEE);
		}
}
END_TEST

/* CRC32C(A || B) combined from CRC32C(A), CRC32C(B) and |B| (what staging does with the body's
 * CRC from append), and the inverse (what a reader does to get the body's CRC from a record's),
 * at split points covering every bit of the shift table. */
START_TEST(test_crc32c_combine)
{
	static uint8_t buf[70000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 11);
	const size_t cuts[][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 12, 10240 }, { 24, 32768 },
				   { 777, 1 }, { 3, 65535 }, { 4096, 4097 }, { 100, 69000 } };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t la = cuts[i][0], lb = cuts[i][1];
		uint32_t ca = crc_ref(0, buf, la), cb = crc_ref(0, buf + la, lb);
		uint32_t cab = crc_ref(0, buf, la + lb);
		ck_assert_uint_eq(spool_crc32c_combine(ca, cb, (uint32_t)lb), cab);
		ck_assert_uint_eq(spool_crc32c_combine(ca, cab, (uint32_t)lb), cb);
	}
	/* single-bit lengths against the definition (zero runs) up to 64 KiB, then every entry of
	 * the shift table (and its wrap at 2^31) as the square of the one before: shifting by n
	 * twice equals shifting by 2n */
	static uint8_t zbuf[(1u << 16) + 6];
	memcpy(zbuf, "dpmail", 6);
	uint32_t ca = crc_ref(0, zbuf, 6);
	for (uint32_t n = 1; n <= sizeof(zbuf) - 6; n <<= 1)
		ck_assert_uint_eq(spool_crc32c_combine(ca, crc_ref(0, zbuf + 6, n), n),
				  crc_ref(0, zbuf, 6 + n));
	for (uint32_t n = 1; n <= 1u << 30; n <<= 1)
		ck_assert_uint_eq(spool_crc32c_combine(spool_crc32c_combine(ca, 0, n), 0, n),
				  spool_crc32c_combine(ca, 0, 2 * n));
}
END_TEST

START_TEST(test_crc32c_vector)
{
	/* the CRC-32C check value (RFC 3720 B.4 family): "123456789" -> 0xE3069283 */
	ck_assert_uint_eq(spool_crc32c(0, "123456789", 9), 0xE3069283u);
	/* incremental equals one-shot */
	uint32_t c = spool_crc32c(0, "12345", 5);
	ck_assert_uint_eq(spool_crc32c(c, "6789", 4), 0xE3069283u);
	uint8_t zeros[32] = { 0 };
	ck_assert_uint_eq(spool_crc32c(0, zeros, 32), 0x8A9136AAu);
}
END_TEST

START_TEST(test_hdr_roundtrip)
{
	uint8_t b[16];
	struct spool_rec_hdr h = { SPOOL_REC_MAGIC, 12345, SPOOL_REC_COMMIT, SPOOL_RF_SEALED, 0xBEEF, 0xCAFEBABE }, g;
	spool_rec_hdr_put(b, &h);
	spool_rec_hdr_get(b, &g);
	ck_assert(memcmp(&h, &g, sizeof(h)) == 0);
	ck_assert_uint_eq(b[0], 'D'); /* little-endian "DSP1" */
	ck_assert_uint_eq(b[3], '1');
}
END_TEST

START_TEST(test_classify)
{
	uint8_t img[4096] = { 0 };
	struct spool_rec_hdr h;
	uint32_t a = mkrec(img, SPOOL_REC_CHUNK, 100, 'a');
	uint32_t b = mkrec(img + a, SPOOL_REC_CHUNK, 50, 'b');
	uint32_t c = mkrec(img + a + b, SPOOL_REC_OUTCOME, 30, 'c');
	size_t len = a + b + c;
	ck_assert_int_eq(spool_rec_classify(img, len, 0, &h), SPOOL_RC_OK);
	ck_assert_uint_eq(h.len, 100);
	ck_assert_int_eq(spool_rec_classify(img, len, a, &h), SPOOL_RC_OK);
	ck_assert_int_eq(spool_rec_classify(img, len, len, &h), SPOOL_RC_END);
	/* zeros after the last record (a preallocated or sparse tail) are the end */
	ck_assert_int_eq(spool_rec_classify(img, len + 200, len, &h), SPOOL_RC_END);
	/* the last record cut short: torn */
	ck_assert_int_eq(spool_rec_classify(img, len - 5, a + b, &h), SPOOL_RC_TORN);
	/* a flipped byte in the middle record with a valid one after it: corrupt */
	img[a + SPOOL_REC_HDR + 7] ^= 1;
	ck_assert_int_eq(spool_rec_classify(img, len, a, &h), SPOOL_RC_CORRUPT);
	/* the same damage in the last record: torn (nothing valid after it) */
	img[a + SPOOL_REC_HDR + 7] ^= 1;
	img[a + b + SPOOL_REC_HDR + 3] ^= 0x40;
	ck_assert_int_eq(spool_rec_classify(img, len, a + b, &h), SPOOL_RC_TORN);
	/* garbage that is not a header, followed by a valid record: corrupt */
	uint8_t g[256];
	memset(g, 0x55, 40);
	mkrec(g + 40, SPOOL_REC_RETRY, 20, 'r');
	ck_assert_int_eq(spool_rec_classify(g, 40 + 36, 0, &h), SPOOL_RC_CORRUPT);
	/* an absurd length never reads out of bounds */
	struct spool_rec_hdr bad = { .magic = SPOOL_REC_MAGIC, .len = 0xFFFFFFF0u, .type = 2 };
	spool_rec_hdr_put(g, &bad);
	ck_assert_int_eq(spool_rec_classify(g, 16, 0, &h), SPOOL_RC_TORN);
}
END_TEST

static const struct spool_rcpt rcpts[2] = {
	{ { "a@example.org", 13 }, { "rfc822;a@example.org", 20 }, SPOOL_NOTIFY_FAILURE },
	{ { "b@example.net", 13 }, { NULL, 0 }, 0 },
};

static void mkenv(struct spool_envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->arrival_us = 1700000000000000ull;
	e->snapshot = 7;
	e->client.family = 2;
	e->client.port = 0x1900;
	e->sender = (struct spool_str){ "s@example.com", 13 };
	e->envid = (struct spool_str){ "ID1", 3 };
	e->ret = SPOOL_RET_HDRS;
	e->nrcpt = 2;
	e->rcpts = rcpts;
}

START_TEST(test_commit_codec)
{
	struct spool_envelope e;
	mkenv(&e);
	uint8_t buf[1024];
	struct spool_wbuf w = { .p = buf };
	uint32_t esz = spool_env_size(&e);
	spool_put64(&w, 0x1122334455667788ull);
	spool_put32(&w, esz);
	spool_env_encode(&w, &e);
	ck_assert_uint_eq(w.len, 12 + esz);
	spool_put32(&w, 5);
	spool_putmem(&w, "DKIM:", 5);
	spool_put64(&w, 10 + 4);
	spool_put32(&w, 0xabcdef01);
	spool_put32(&w, 1);
	spool_put32(&w, 3);
	spool_put32(&w, 4096);
	spool_put32(&w, 26);
	spool_putmem(&w, "tail", 4);
	struct spool_commit_view v;
	ck_assert_int_eq(spool_commit_decode(buf, w.len, &v), 0);
	ck_assert_uint_eq(v.qid, 0x1122334455667788ull);
	ck_assert_int_eq(v.nrcpt, 2);
	ck_assert_uint_eq(v.prefix_len, 5);
	ck_assert_uint_eq(v.nchunks, 1);
	struct spool_chunk_ref c;
	spool_commit_chunk(&v, 0, &c);
	ck_assert_uint_eq(c.seq, 3);
	ck_assert_uint_eq(c.off, 4096);
	ck_assert_uint_eq(c.reclen, 26);
	ck_assert_uint_eq(v.tail_len, 4);
	ck_assert(memcmp(v.tail, "tail", 4) == 0);
	/* every truncation is rejected or decodes within bounds, never crashes */
	for (uint32_t n = 0; n < w.len - 4; n++)
		ck_assert_int_eq(spool_commit_decode(buf, n, &v), -EBADMSG);
	/* an envelope with an empty recipient is refused */
	ck_assert_int_eq(spool_env_check(buf + 12, esz), 2);
	buf[12 + SPOOL_ENV_FIXED + 2 + 3 + 2 + 13 + 2 + 1] = 0;
	buf[12 + SPOOL_ENV_FIXED + 2 + 3 + 2 + 13 + 2 + 2] = 0;
	ck_assert_int_eq(spool_env_check(buf + 12, esz), -EBADMSG);
}
END_TEST

START_TEST(test_aead)
{
	uint8_t k1[32], k2[32], nonce[12] = { 1, 2, 3 }, aad[12] = "header-bits";
	memset(k1, 0x11, 32);
	memset(k2, 0x22, 32);
	struct spool_aead *a = spool_aead_create(k1), *b = spool_aead_create(k2);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	uint8_t msg[100], buf[100], tag[16];
	for (int i = 0; i < 100; i++)
		msg[i] = (uint8_t)i;
	memcpy(buf, msg, 100);
	ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, buf, 100, tag), 0);
	ck_assert(memcmp(buf, msg, 100) != 0);
	uint8_t c[100];
	memcpy(c, buf, 100);
	ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, 100, tag), 0);
	ck_assert(memcmp(buf, msg, 100) == 0);
	/* wrong key, tampered ciphertext, tampered AAD, other nonce: all rejected */
	memcpy(buf, c, 100);
	ck_assert_int_eq(spool_aead_open(b, nonce, aad, 12, buf, 100, tag), -EBADMSG);
	memcpy(buf, c, 100);
	buf[50] ^= 1;
	ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, 100, tag), -EBADMSG);
	memcpy(buf, c, 100);
	aad[0] ^= 1;
	ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, 100, tag), -EBADMSG);
	aad[0] ^= 1;
	nonce[11] = 9;
	memcpy(buf, c, 100);
	ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, 100, tag), -EBADMSG);
	spool_aead_free(a);
	spool_aead_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool_record");
	TCase *tc = tcase_create("record");
	tcase_add_test(tc, test_crc32c_vector);
	tcase_add_test(tc, test_crc32c_lanes);
	tcase_add_test(tc, test_crc32c_combine);
	tcase_add_test(tc, test_hdr_roundtrip);
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_commit_codec);
	tcase_add_test(tc, test_aead);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
