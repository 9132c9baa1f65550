// SPDX-License-Identifier: MIT
/*
 * spool_aead_test.c: the spool's AES-256-GCM (crypto/gcm's engine since issue 12) keeps the
 * on-disk format the OpenSSL EVP version wrote: records sealed here open with EVP and records
 * sealed by EVP (what older spool files hold) open here, from 0 bytes to past 64 KiB, with the
 * spool's 12-byte AAD; a flipped bit in the ciphertext, tag or AAD, or another key, is refused.
 */
#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool_aead.h"

static const size_t sizes[] = {0, 1, 15, 16, 17, 255, 4096, 32768, 65536 + 3};

static void evp(bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
		uint8_t *buf, size_t len, uint8_t *tag, int *ok)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n;

	ck_assert_ptr_nonnull(c);
	ck_assert(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc ? 1 : 0));
	ck_assert(EVP_CipherUpdate(c, NULL, &n, aad, 12));
	if (len)
		ck_assert(EVP_CipherUpdate(c, buf, &n, buf, (int)len));
	if (enc) {
		ck_assert(EVP_CipherFinal_ex(c, buf + len, &n));
		ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag));
	} else {
		ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag));
		*ok = EVP_CipherFinal_ex(c, buf + len, &n) > 0;
	}
	EVP_CIPHER_CTX_free(c);
}

START_TEST(format_is_evp)
{
	static uint8_t pt[70000], buf[70000];
	uint8_t key[32], key2[32], nonce[12], aad[12], tag[16];
	struct spool_aead *a, *b;
	int ok = 0;

	for (unsigned i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 29 + 7);
	for (unsigned i = 0; i < 32; i++) {
		key[i] = (uint8_t)(i + 1);
		key2[i] = (uint8_t)(i + 2);
	}
	a = spool_aead_create(key);
	b = spool_aead_create(key2);
	ck_assert(a && b);
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];

		for (unsigned i = 0; i < 12; i++) {
			nonce[i] = (uint8_t)(k * 13 + i);
			aad[i] = (uint8_t)(k + i * 3);
		}
		/* ours -> EVP */
		memcpy(buf, pt, n);
		ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, buf, n, tag), 0);
		if (n)
			ck_assert(memcmp(buf, pt, n) != 0);
		evp(false, key, nonce, aad, buf, n, tag, &ok);
		ck_assert_msg(ok, "EVP refused our record of %zu bytes", n);
		ck_assert_mem_eq(buf, pt, n);
		/* EVP (an older spool file) -> ours */
		evp(true, key, nonce, aad, buf, n, tag, &ok);
		ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, n, tag), 0);
		ck_assert_mem_eq(buf, pt, n);
		/* refused: other key, flipped tag, flipped AAD, flipped ciphertext */
		ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, buf, n, tag), 0);
		ck_assert_int_eq(spool_aead_open(b, nonce, aad, 12, buf, n, tag), -EBADMSG);
		ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, memcpy(buf, pt, n), n, tag), 0);
		tag[3] ^= 0x10;
		ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, n, tag), -EBADMSG);
		ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, memcpy(buf, pt, n), n, tag), 0);
		aad[5] ^= 1;
		ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, n, tag), -EBADMSG);
		aad[5] ^= 1;
		if (n) {
			ck_assert_int_eq(spool_aead_seal(a, nonce, aad, 12, memcpy(buf, pt, n), n, tag), 0);
			buf[n / 2] ^= 0x80;
			ck_assert_int_eq(spool_aead_open(a, nonce, aad, 12, buf, n, tag), -EBADMSG);
		}
	}
	spool_aead_free(a);
	spool_aead_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool_aead");
	TCase *tc = tcase_create("format");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, format_is_evp);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
