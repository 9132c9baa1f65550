/* SPDX-License-Identifier: MIT */
/*
 * dkim_bench: signing cost of crypto/dkim on one core, next to the bare primitive.
 *
 *   dkim_bench [-s seconds_per_case] [-n body_bytes] [-c simple|relaxed] [-q (no openssl speed)]
 *
 * Part 1, per algorithm (RSA-2048, Ed25519), a 10 KiB message fed in 1460-byte chunks:
 *   - "primitive": EVP sign of a SHA-256 digest with an already parsed key (what openssl speed
 *     measures), in this process, same key;
 *   - "dpmail": the full path (dkim_msg_new, feed, finish, free), parsed-key cache warm;
 *   - "libopendkim as is": dkim_sign..dkim_eom with the key text parsed per message, which is
 *     what libopendkim does without our cache.
 *   Each is the best of 10 interleaved rounds (3 for the slow one).
 *   The work around the signature is dpmail minus primitive (canonicalisation, hashing, header
 *   building, handle set-up); the goal is < 10% of the primitive for RSA-2048.
 * Part 2, batching: a simulated lcore loop where each turn handles 32 session events of ~2 us
 * (hashing 4 KiB) and 1 in 8 events ends a message's DATA (RSA-2048). "inline" signs at the
 * event; "batched" queues with dkim_batch_add and runs dkim_batch_run after the turn's events.
 * Reported: latency of the other events from the start of their turn (p50/p99/max) and how
 * long a message waits for its signature.
 * Part 3: `openssl speed rsa2048 ed25519` in the same run.
 * All times are CPU time of the benchmarking thread (CLOCK_THREAD_CPUTIME_ID).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <opendkim/dkim.h>

#include "dkim/dkim.h"

/* CPU time of this thread: on a machine shared with other work, wall time would count their
 * time slices too; on a pinned lcore the two are the same. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t now_us(void) { return (uint64_t)(now_s() * 1e6); }

#define ROUNDS 10

static char tmpdir[] = "/tmp/dpmail-dkim-bench.XXXXXX";
static char *msg;
static int canon = DKIM_CANON_RELAXED, body_canon = DKIM_CANON_RELAXED;
static size_t msg_len;

static void make_msg(size_t body)
{
	const char *h = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
			"Subject: benchmark\r\nDate: Sun, 29 Nov 2026 02:00:00 +0000\r\n"
			"Message-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\n"
			"Content-Type: text/plain; charset=us-ascii\r\n\r\n";
	size_t hl = strlen(h);
	msg = malloc(hl + body + 80);
	memcpy(msg, h, hl);
	size_t o = hl;
	while (o < hl + body) {
		for (int i = 0; i < 74; i++, o++)
			msg[o] = (i % 9 == 8) ? ' ' : (char)('a' + (o % 26));
		msg[o++] = '\r';
		msg[o++] = '\n';
	}
	msg_len = o;
}

static const char *write_key(EVP_PKEY *pk, const char *name)
{
	static char path[2][512];
	static int i;
	char *p = path[i++ % 2];
	snprintf(p, 512, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return p;
}

/* µs per bare signature of a digest. */
static double bench_primitive(EVP_PKEY *pk, double secs)
{
	unsigned char dg[32] = { 1 }, sig[512];
	int ed = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519;
	long n = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 20; i++, n++) {
			size_t sl = sizeof(sig);
			EVP_MD_CTX *c = EVP_MD_CTX_new();
			EVP_DigestSignInit(c, NULL, ed ? NULL : EVP_sha256(), NULL, pk);
			EVP_DigestSign(c, sig, &sl, dg, sizeof(dg));	/* rsa: hashes 32 bytes */
			EVP_MD_CTX_free(c);
		}
		t = now_s() - t0;
	} while (t < secs);
	return t / (double)n * 1e6;
}

static double bench_dpmail(struct dkim_signer_ctx *ctx, const struct dkim_keyring *kr,
			   double secs)
{
	long n = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 10; i++, n++) {
			struct dkim_msg *m = dkim_msg_new(ctx, "bench");
			for (size_t o = 0; o < msg_len; o += 1460)
				dkim_msg_feed(m, kr, (uint8_t *)msg + o,
					      msg_len - o < 1460 ? msg_len - o : 1460, 1);
			if (dkim_msg_finish(m, kr, 2) != DKIM_RES_SIGNED)
				exit(fprintf(stderr, "sign failed\n"));
			dkim_msg_free(m);
		}
		t = now_s() - t0;
	} while (t < secs);
	return t / (double)n * 1e6;
}

/* libopendkim used directly, key text parsed per message (no cache). */
static double bench_plain(const char *pem, int alg, double secs)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	long n = 0;
	double t0 = now_s(), t;
	DKIM_STAT st;
	size_t hl = (size_t)(strstr(msg, "\r\n\r\n") + 4 - msg);
	do {
		DKIM *d = dkim_sign(lib, (const unsigned char *)"b", NULL, (dkim_sigkey_t)pem,
				    (const unsigned char *)"s", (const unsigned char *)"example.com",
				    canon, body_canon, alg, -1, &st);
		dkim_chunk(d, (u_char *)msg, hl);
		for (size_t o = hl; o < msg_len; o += 1460)
			dkim_chunk(d, (u_char *)msg + o, msg_len - o < 1460 ? msg_len - o : 1460);
		dkim_chunk(d, NULL, 0);
		if (dkim_eom(d, NULL) != DKIM_STAT_OK)
			exit(fprintf(stderr, "plain sign failed: %s\n", dkim_geterror(d)));
		dkim_free(d);
		n++;
		t = now_s() - t0;
	} while (t < secs);
	dkim_close(lib);
	return t / (double)n * 1e6;
}

/* ---- part 2: batching ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static unsigned char work_buf[4096];
static void session_work(void)
{
	unsigned char md[32];
	unsigned int ml;
	EVP_Digest(work_buf, sizeof(work_buf), md, &ml, EVP_sha256(), NULL);
	work_buf[md[0] % sizeof(work_buf)] ^= md[1];
}

static void done_free(void *arg, struct dkim_msg *m, enum dkim_result r)
{
	double *wait = arg;
	*wait = now_s() - *wait;
	dkim_msg_free(m);
}

static void bench_batch(struct dkim_signer_ctx *ctx, const struct dkim_keyring *kr, int batched,
			int turns)
{
	enum { EV = 32 };
	double *lat = malloc(sizeof(double) * (size_t)turns * EV), *waits = malloc(sizeof(double) *
		(size_t)turns * EV);
	size_t nl = 0, nw = 0;
	struct dkim_batch b;
	dkim_batch_init(&b);
	struct dkim_msg *ready[EV];
	for (int t = 0; t < turns; t++) {
		/* DATA of the messages ending in this turn streamed in during earlier turns */
		for (int e = 0; e < EV; e++) {
			ready[e] = NULL;
			if ((e * 7 + t) % 8 == 0) {
				ready[e] = dkim_msg_new(ctx, "b");
				dkim_msg_feed(ready[e], kr, (uint8_t *)msg, msg_len, now_us());
			}
		}
		double t0 = now_s();
		for (int e = 0; e < EV; e++) {
			if (ready[e]) {		/* this session's DATA ends */
				waits[nw] = now_s();
				if (batched) {
					dkim_batch_add(&b, ready[e], done_free, &waits[nw], now_us());
				} else {
					dkim_msg_finish(ready[e], kr, now_us());
					done_free(&waits[nw], ready[e], DKIM_RES_SIGNED);
				}
				nw++;
				continue;
			}
			session_work();
			lat[nl++] = now_s() - t0;
		}
		if (batched)
			while (dkim_batch_pending(&b))
				dkim_batch_run(&b, ctx, kr, now_us());
	}
	qsort(lat, nl, sizeof(double), cmp_d);
	qsort(waits, nw, sizeof(double), cmp_d);
	printf("  %-8s other sessions' event latency from turn start: p50 %7.1f us  p99 %7.1f us"
	       "  max %7.1f us | signature ready after p50 %7.1f us  max %7.1f us\n",
	       batched ? "batched" : "inline", lat[nl / 2] * 1e6, lat[nl * 99 / 100] * 1e6,
	       lat[nl - 1] * 1e6, waits[nw / 2] * 1e6, waits[nw - 1] * 1e6);
	free(lat);
	free(waits);
}

int main(int argc, char **argv)
{
	double secs = 2;
	size_t body = 10240;
	int speed = 1, simple = 0, body_simple = 0, o;
	while ((o = getopt(argc, argv, "s:n:qc:")) != -1) {
		if (o == 's')
			secs = atof(optarg);
		else if (o == 'n')
			body = (size_t)atol(optarg);
		else if (o == 'q')
			speed = 0;
		else if (o == 'c') {	/* "simple", "relaxed" or "header/body" */
			const char *sl = strchr(optarg, '/');
			simple = !strncmp(optarg, "simple", 6);
			body_simple = sl ? !strcmp(sl + 1, "simple") : simple;
		}
	}
	if (!mkdtemp(tmpdir))
		return 1;
	make_msg(body);
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct dkim_key_conf kc[2] = {
		{ "example.com", "rsa", DKIM_ALG_RSA_SHA256, write_key(rsa, "rsa.pem"), NULL },
		{ "example.com", "ed", DKIM_ALG_ED25519_SHA256, write_key(ed, "ed.pem"), NULL },
	};
	char err[512];
	struct dkim_params p;
	dkim_params_defaults(&p);
	p.hdr_canon = simple ? DKIM_CANON_SIMPLE_ : DKIM_CANON_RELAXED_;
	p.body_canon = body_simple ? DKIM_CANON_SIMPLE_ : DKIM_CANON_RELAXED_;
	canon = simple ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
	body_canon = body_simple ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
	struct dkim_signer_ctx *ctx = dkim_signer_new(&p, 0);
	printf("dkim_bench: message %zu bytes (body %zu), %s%s, fed in 1460-byte chunks,"
	       " %.1f s per case\n", msg_len, body, simple ? "c=simple/" : "c=relaxed/",
	       body_simple ? "simple" : "relaxed", secs);
	for (int a = 0; a < 2; a++) {
		struct dkim_keyring_conf c = { &kc[a], 1, NULL };
		struct dkim_keyring *kr = dkim_keyring_build(&c, err, sizeof(err));
		if (!kr || !ctx)
			return fprintf(stderr, "%s\n", err), 1;
		EVP_PKEY *pk = a ? ed : rsa;
		/* interleaved rounds, best of each: the machine may be shared, and what we
		 * want is the intrinsic cost of each path, measured under the same conditions */
		double prim = 1e9, dp = 1e9, plain = 1e9;
		for (int r = 0; r < ROUNDS; r++) {
			double x = bench_primitive(pk, secs / ROUNDS);
			double y = bench_dpmail(ctx, kr, secs / ROUNDS);
			prim = x < prim ? x : prim;
			dp = y < dp ? y : dp;
		}
		for (int r = 0; r < 3; r++) {
			double z = bench_plain(dkim_keyring_key(kr, 0)->pem,
					       a ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256,
					       secs / ROUNDS);
			plain = z < plain ? z : plain;
		}
		printf("%-8s primitive %7.1f us (%6.0f/s) | dpmail %7.1f us (%6.0f/s), around the "
		       "signature %6.1f us = %5.1f%% | libopendkim as is %7.1f us (%6.0f/s)\n",
		       a ? "ed25519" : "rsa2048", prim, 1e6 / prim, dp, 1e6 / dp, dp - prim,
		       (dp - prim) / prim * 100, plain, 1e6 / plain);
		dkim_keyring_free(kr);
	}
	const struct dkim_stats *st = dkim_signer_stats(ctx);
	printf("parsed-key cache: %llu hits, %llu misses\n",
	       (unsigned long long)st->key_cache_hits, (unsigned long long)st->key_cache_misses);
	struct dkim_keyring_conf c = { &kc[0], 1, NULL };
	struct dkim_keyring *kr = dkim_keyring_build(&c, err, sizeof(err));
	printf("batching (RSA-2048, 32 events/turn, 1 in 8 ends DATA, %d turns):\n", 400);
	bench_batch(ctx, kr, 0, 400);
	bench_batch(ctx, kr, 1, 400);
	dkim_keyring_free(kr);
	dkim_signer_free(ctx);
	unlink(kc[0].key_file);
	unlink(kc[1].key_file);
	rmdir(tmpdir);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	free(msg);
	if (speed) {
		printf("openssl speed (same run):\n");
		fflush(stdout);
		if (system("openssl speed -seconds 3 rsa2048 ed25519 2>/dev/null | "
			   "grep -E '^(rsa 2048|.*Ed25519)| sign '") != 0)
			return 1;
	}
	return 0;
}
