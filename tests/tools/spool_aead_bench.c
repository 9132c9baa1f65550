// SPDX-License-Identifier: MIT
/*
 * spool_aead_bench.c: what sealing a spool record costs, spool_aead (crypto/gcm's engine,
 * intel-ipsec-mb) against the OpenSSL EVP sequence the spool used before (one init with the
 * nonce, AAD, update, final, get tag per record on a context keyed once), in the same run.
 * Thread CPU time; best of 3 rounds. Usage: spool_aead_bench [SECONDS_PER_CASE]
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool/spool_aead.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t buf[65536 + 64], key[32], nonce[12], aad[12], tag[16];

static double run_evp(EVP_CIPHER_CTX *c, size_t len, double secs)
{
	double t0 = cpu_s(), t;
	unsigned long n = 0;
	int k;

	do {
		for (int i = 0; i < 64; i++, n++) {
			nonce[0] = (uint8_t)n;
			if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) ||
			    !EVP_EncryptUpdate(c, NULL, &k, aad, 12) ||
			    !EVP_EncryptUpdate(c, buf, &k, buf, (int)len) ||
			    !EVP_EncryptFinal_ex(c, buf + len, &k) ||
			    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag))
				return -1;
		}
	} while ((t = cpu_s() - t0) < secs);
	return (double)n * (double)len / t / 1e6;
}

static double run_gcm(struct spool_aead *a, size_t len, double secs)
{
	double t0 = cpu_s(), t;
	unsigned long n = 0;

	do {
		for (int i = 0; i < 64; i++, n++) {
			nonce[0] = (uint8_t)n;
			if (spool_aead_seal(a, nonce, aad, 12, buf, len, tag))
				return -1;
		}
	} while ((t = cpu_s() - t0) < secs);
	return (double)n * (double)len / t / 1e6;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {256, 4096, 65536};
	double secs = argc > 1 ? atof(argv[1]) : 0.5, best[3][2] = {{0}};
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	struct spool_aead *a = spool_aead_create(key);

	if (!c || !a || !EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL))
		return 1;
	for (int r = 0; r < 3; r++)
		for (int s = 0; s < 3; s++) {
			double e = run_evp(c, sizes[s], secs), g = run_gcm(a, sizes[s], secs);

			best[s][0] = e > best[s][0] ? e : best[s][0];
			best[s][1] = g > best[s][1] ? g : best[s][1];
		}
	for (int s = 0; s < 3; s++)
		printf("size=%zu evp_MB_per_s=%.0f gcm_MB_per_s=%.0f ratio=%.2f evp_us_per_rec=%.2f "
		       "gcm_us_per_rec=%.2f\n", sizes[s], best[s][0], best[s][1],
		       best[s][1] / best[s][0], (double)sizes[s] / best[s][0],
		       (double)sizes[s] / best[s][1]);
	spool_aead_free(a);
	EVP_CIPHER_CTX_free(c);
	return 0;
}
