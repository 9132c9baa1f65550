// SPDX-License-Identifier: MIT
/*
 * gcm_bench.c: records/s and MB/s of one core sealing and opening TLS 1.3 AES-GCM records,
 * batched (crypto/gcm: many sessions, one intel-ipsec-mb burst per GCM_BURST ops) against
 * OpenSSL's own record layer (SSL_write / SSL_read over memory BIOs) in the same run.
 *   gcm_bench [-s seconds-per-case] [-n sessions] [-b burst] [-2] (AES-256-GCM with -2)
 * Prints one line per case: "impl=... op=seal size=64 recs_per_s=... mb_per_s=...".
 */
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tls_testcert.h"
#include "gcm/gcm.h"
#include "gcm_pair.h"

static double secs = 0.5;
static unsigned n_sess = 64, burst = 32;
static bool aes256;
static uint8_t plain[16384];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *impl, const char *op, size_t size, uint64_t recs, double t)
{
	printf("impl=%s op=%s size=%zu recs_per_s=%.0f mb_per_s=%.1f\n", impl, op, size,
	       (double)recs / t, (double)recs * (double)size / t / 1e6);
	fflush(stdout);
}

static double openssl_seal(struct gcm_pair *p, size_t size, uint64_t *recs)
{
	double t0, t;
	uint64_t n = 0;

	/* records go to a null BIO: like crypto/tls's own BIO handing them to the transport,
	 * without a memory BIO's copies and growth in the measurement */
	SSL_set0_wbio(p->cli.ssl, BIO_new(BIO_s_null()));
	p->cli.out = NULL;
	t0 = now_s();
	do {
		for (int i = 0; i < 256; i++) {
			if (SSL_write(p->cli.ssl, plain, (int)size) != (int)size)
				abort();
			n++;
		}
	} while ((t = now_s() - t0) < secs);
	*recs = n;
	return t;
}

static double openssl_open(struct gcm_pair *p, size_t size, uint64_t *recs)
{
	static uint8_t buf[16384];
	double t = 0;
	uint64_t n = 0;

	do {
		double t0;

		for (int i = 0; i < 64; i++)
			if (SSL_write(p->cli.ssl, plain, (int)size) != (int)size)
				abort();
		gcm_pair_pump(&p->cli, &p->srv);
		t0 = now_s();
		for (int i = 0; i < 64; i++) {
			if (SSL_read(p->srv.ssl, buf, sizeof(buf)) != (int)size)
				abort();
			n++;
		}
		t += now_s() - t0;
	} while (t < secs);
	*recs = n;
	return t;
}

struct bsess {
	struct gcm_sess s;
	uint8_t rec[GCM_TLS_MAX_RECORD + 512];
	uint8_t out[GCM_TLS_MAX_RECORD];
	struct gcm_op op;
	int len;
};

static void seal_done(struct gcm_op *op, void *arg)
{
	gcm_seal_finish(op);
}

static double gcm_seal(struct gcm_engine *e, struct bsess *bs, size_t size, uint64_t *recs)
{
	double t0 = now_s(), t;
	uint64_t n = 0, now = 0;

	do {
		for (int r = 0; r < 16; r++) {
			for (unsigned i = 0; i < n_sess; i++) {
				struct bsess *b = &bs[i];

				/* the copy SSL_write does too: plaintext into the record buffer */
				memcpy(b->rec + GCM_TLS_HDR, plain, size);
				b->len = gcm_seal_prep(&b->s, &b->op, GCM_CT_APPDATA, b->rec, size);
				b->op.done = seal_done;
				gcm_engine_enqueue(e, &b->op, now);
				n++;
			}
			gcm_engine_flush(e);
		}
		now += 10;
	} while ((t = now_s() - t0) < secs);
	*recs = n;
	return t;
}

static double gcm_open(struct gcm_engine *e, struct bsess *wr, struct bsess *rd, size_t size,
		       uint64_t *recs)
{
	double t = 0;
	uint64_t n = 0;

	/* the seal case advanced the writers: readers continue at the same sequence */
	for (unsigned i = 0; i < n_sess; i++)
		rd[i].s.rd.seq = wr[i].s.wr.seq;
	do {
		double t0;

		for (unsigned i = 0; i < n_sess; i++) {
			memcpy(wr[i].rec + GCM_TLS_HDR, plain, size);
			wr[i].len = gcm_seal_prep(&wr[i].s, &wr[i].op, GCM_CT_APPDATA, wr[i].rec, size);
			wr[i].op.done = seal_done;
			gcm_engine_enqueue(e, &wr[i].op, 0);
		}
		gcm_engine_flush(e);
		t0 = now_s();
		for (unsigned i = 0; i < n_sess; i++) {
			if (gcm_open_prep(&rd[i].s, &rd[i].op, wr[i].rec, (size_t)wr[i].len, rd[i].out))
				abort();
			rd[i].op.done = NULL;
			gcm_engine_enqueue(e, &rd[i].op, 0);
		}
		gcm_engine_flush(e);
		for (unsigned i = 0; i < n_sess; i++) {
			const uint8_t *p;
			size_t pl;

			if (gcm_open_finish(&rd[i].s, &rd[i].op, &p, &pl) != GCM_EV_DATA || pl != size)
				abort();
			n++;
		}
		t += now_s() - t0;
	} while (t < secs);
	*recs = n;
	return t;
}

static int setup_sessions(struct gcm_engine *e, struct bsess *wr, struct bsess *rd)
{
	for (unsigned i = 0; i < n_sess; i++) {
		struct gcm_secrets sec;

		memset(&sec, 0, sizeof(sec));
		sec.version = GCM_TLS13;
		sec.suite = aes256 ? GCM_AES256_SHA384 : GCM_AES128_SHA256;
		RAND_bytes(sec.client, sizeof(sec.client));
		RAND_bytes(sec.server, sizeof(sec.server));
		sec.have_client = sec.have_server = true;
		sec.is_server = true;
		if (gcm_sess_init(&wr[i].s, e, &sec, 0, 0))
			return -1;
		sec.is_server = false;
		if (gcm_sess_init(&rd[i].s, e, &sec, 0, 0))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64, 1024, 16384};
	char dir[64] = "/tmp/dpmail-gcm-bench-XXXXXX", cert[128], key[128], cmd[128];
	struct gcm_engine_cfg cfg;
	struct gcm_engine *e;
	struct bsess *wr, *rd;
	int opt, err;

	while ((opt = getopt(argc, argv, "s:n:b:2")) != -1) {
		if (opt == 's')
			secs = atof(optarg);
		else if (opt == 'n')
			n_sess = (unsigned)atoi(optarg);
		else if (opt == 'b')
			burst = (unsigned)atoi(optarg);
		else if (opt == '2')
			aes256 = true;
		else
			return 2;
	}
	if (n_sess == 0 || n_sess > 4096 || burst == 0 || burst > GCM_BURST_MAX)
		return 2;
	if (!mkdtemp(dir) || tls_testcert_make(dir))
		return 1;
	snprintf(cert, sizeof(cert), "%s/ecdsa.pem", dir);
	snprintf(key, sizeof(key), "%s/ecdsa.key", dir);
	gcm_engine_cfg_defaults(&cfg);
	cfg.burst = burst;
	e = gcm_engine_new(&cfg, &err);
	wr = calloc(n_sess, sizeof(*wr));
	rd = calloc(n_sess, sizeof(*rd));
	if (!e || !wr || !rd || setup_sessions(e, wr, rd))
		return 1;
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)i;
	printf("suite=%s sessions=%u burst=%u secs=%.2f\n", aes256 ? "aes256gcm" : "aes128gcm",
	       n_sess, burst, secs);
	for (unsigned k = 0; k < 3; k++) {
		struct gcm_pair p;
		uint64_t recs;
		double t;

		if (gcm_pair_open(&p, TLS1_3_VERSION, aes256, cert, key))
			return 1;
		t = openssl_seal(&p, sizes[k], &recs);
		report("openssl", "seal", sizes[k], recs, t);
		t = gcm_seal(e, wr, sizes[k], &recs);
		report("gcm", "seal", sizes[k], recs, t);
		gcm_pair_close(&p);
		if (gcm_pair_open(&p, TLS1_3_VERSION, aes256, cert, key))
			return 1;
		t = openssl_open(&p, sizes[k], &recs);
		report("openssl", "open", sizes[k], recs, t);
		t = gcm_open(e, wr, rd, sizes[k], &recs);
		report("gcm", "open", sizes[k], recs, t);
		gcm_pair_close(&p);
	}
	for (unsigned i = 0; i < n_sess; i++) {
		gcm_sess_wipe(&wr[i].s);
		gcm_sess_wipe(&rd[i].s);
	}
	free(wr);
	free(rd);
	gcm_engine_free(e);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
