/* SPDX-License-Identifier: MIT */
/* dkim_signer_test.c: keyring loading and its errors, key selection (exact, parent domain,
 * none, operator), and the message signer's outcomes (From policy, header limit, no key,
 * removed key, parsed-key cache, bounded arena) and the batch bound and order. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dkim/dkim.h"

static char dir[] = "/tmp/dpmail-dkim-unit.XXXXXX";
static char rsa_file[256], rsa2_file[256], rsa1024_file[256], rsa512_file[256], ed_file[256],
	seed_file[256], junk_file[256], rsa_pub[2048], ed_pub[128];

static void write_key(const char *path, EVP_PKEY *pk)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void pub_of(EVP_PKEY *pk, char *out, int ed)
{
	unsigned char buf[1024], *p = buf;
	size_t n = sizeof(buf);
	int len;
	if (ed) {
		EVP_PKEY_get_raw_public_key(pk, buf, &n);
		len = (int)n;
	} else {
		len = i2d_PUBKEY(pk, &p);
	}
	EVP_EncodeBlock((unsigned char *)out, buf, len);
}

static void setup_keys(void)
{
	strcpy(dir, "/tmp/dpmail-dkim-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(rsa_file, sizeof(rsa_file), "%s/rsa.pem", dir);
	snprintf(rsa2_file, sizeof(rsa2_file), "%s/rsa2.pem", dir);
	snprintf(rsa1024_file, sizeof(rsa1024_file), "%s/rsa1024.pem", dir);
	snprintf(rsa512_file, sizeof(rsa512_file), "%s/rsa512.pem", dir);
	snprintf(ed_file, sizeof(ed_file), "%s/ed.pem", dir);
	snprintf(seed_file, sizeof(seed_file), "%s/seed.key", dir);
	snprintf(junk_file, sizeof(junk_file), "%s/junk.pem", dir);
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa2 = EVP_RSA_gen(2048), *r1 = EVP_RSA_gen(1024),
		 *r5 = EVP_RSA_gen(512), *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	write_key(rsa_file, rsa);
	write_key(rsa2_file, rsa2);
	write_key(rsa1024_file, r1);
	write_key(rsa512_file, r5);
	write_key(ed_file, ed);
	pub_of(rsa, rsa_pub, 0);
	pub_of(ed, ed_pub, 1);
	unsigned char seed[32], b64[64];
	size_t sl = sizeof(seed);
	EVP_PKEY_get_raw_private_key(ed, seed, &sl);
	EVP_EncodeBlock(b64, seed, 32);
	FILE *f = fopen(seed_file, "w");
	fprintf(f, "%s\n", b64);
	fclose(f);
	f = fopen(junk_file, "w");
	fprintf(f, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
	fclose(f);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(r1);
	EVP_PKEY_free(r5);
	EVP_PKEY_free(ed);
}

static void teardown_keys(void)
{
	const char *fs[] = { rsa_file, rsa2_file, rsa1024_file, rsa512_file, ed_file, seed_file,
			     junk_file };
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		unlink(fs[i]);
	rmdir(dir);
}

static struct dkim_keyring *ring(const struct dkim_key_conf *k, size_t n, const char *op,
				 char *err)
{
	struct dkim_keyring_conf c = { k, n, op };
	return dkim_keyring_build(&c, err, 512);
}

#define BUILD_FAILS(k, needle) do { char e_[512] = ""; \
	struct dkim_keyring *kr_ = ring(k, sizeof(k) / sizeof(k[0]), NULL, e_); \
	ck_assert_ptr_null(kr_); ck_assert_msg(strstr(e_, needle), "error \"%s\" lacks \"%s\"", e_, needle); \
	} while (0)

START_TEST(test_key_errors)
{
	struct dkim_key_conf missing[] = { { "a.test", "s", DKIM_ALG_RSA_SHA256, "/nonexistent/k.pem", NULL } };
	BUILD_FAILS(missing, "/nonexistent/k.pem");
	struct dkim_key_conf junk[] = { { "a.test", "s", DKIM_ALG_RSA_SHA256, junk_file, NULL } };
	BUILD_FAILS(junk, "not a parsable PEM");
	struct dkim_key_conf wrongalg[] = { { "a.test", "s", DKIM_ALG_ED25519_SHA256, rsa_file, NULL } };
	BUILD_FAILS(wrongalg, "not an Ed25519 key");
	struct dkim_key_conf small[] = { { "a.test", "s", DKIM_ALG_RSA_SHA256, rsa512_file, NULL } };
	BUILD_FAILS(small, "shorter than 1024");
	struct dkim_key_conf mismatch[] = { { "a.test", "s", DKIM_ALG_RSA_SHA256, rsa2_file, rsa_pub } };
	BUILD_FAILS(mismatch, "does not match the published public key");
	struct dkim_key_conf dup[] = { { "a.test", "s", DKIM_ALG_RSA_SHA256, rsa_file, NULL },
				       { "A.test", "s", DKIM_ALG_RSA_SHA256, rsa2_file, NULL } };
	BUILD_FAILS(dup, "duplicate");
	struct dkim_key_conf nosel[] = { { "a.test", "", DKIM_ALG_RSA_SHA256, rsa_file, NULL } };
	BUILD_FAILS(nosel, "bad domain or selector");
	struct dkim_key_conf baddom[] = { { "a..test", "s", DKIM_ALG_RSA_SHA256, rsa_file, NULL } };
	BUILD_FAILS(baddom, "bad domain or selector");
	struct dkim_key_conf badsel[] = { { "a.test", "s;x", DKIM_ALG_RSA_SHA256, rsa_file, NULL } };
	BUILD_FAILS(badsel, "bad domain or selector");
}
END_TEST

START_TEST(test_key_loads)
{
	char txt[2100], e[512] = "";
	snprintf(txt, sizeof(txt), "v=DKIM1; k=rsa; p=%s", rsa_pub);
	struct dkim_key_conf ok[] = {
		{ "Example.COM", "r", DKIM_ALG_RSA_SHA256, rsa_file, txt },
		{ "example.com", "e", DKIM_ALG_ED25519_SHA256, ed_file, ed_pub },
		{ "seed.test", "s", DKIM_ALG_ED25519_SHA256, seed_file, ed_pub },
		{ "old.test", "o", DKIM_ALG_RSA_SHA256, rsa1024_file, NULL },	/* warns */
	};
	struct dkim_keyring *kr = ring(ok, 4, NULL, e);
	ck_assert_msg(kr != NULL, "%s", e);
	ck_assert_uint_eq(dkim_keyring_count(kr), 4);
	const struct dkim_key *out[DKIM_MAX_SIGS];
	ck_assert_uint_eq(dkim_keyring_select(kr, "old.test", out, DKIM_MAX_SIGS), 1);
	ck_assert_uint_eq(out[0]->bits, 1024);
	ck_assert_str_eq(out[0]->pub_b64, out[0]->pub_b64);
	ck_assert_uint_eq(dkim_keyring_select(kr, "seed.test", out, DKIM_MAX_SIGS), 1);
	ck_assert_str_eq(out[0]->pub_b64, ed_pub);
	dkim_keyring_free(kr);
}
END_TEST

START_TEST(test_select)
{
	char e[512] = "";
	struct dkim_key_conf k[] = {
		{ "example.com", "r", DKIM_ALG_RSA_SHA256, rsa_file, NULL },
		{ "example.com", "e", DKIM_ALG_ED25519_SHA256, ed_file, NULL },
		{ "sub.example.com", "s", DKIM_ALG_RSA_SHA256, rsa2_file, NULL },
		{ "op.test", "op", DKIM_ALG_ED25519_SHA256, seed_file, NULL },
	};
	struct dkim_keyring *kr = ring(k, 4, "OP.test", e);
	ck_assert_msg(kr != NULL, "%s", e);
	const struct dkim_key *out[DKIM_MAX_SIGS];
	/* exact: both of the domain's keys, then the operator's */
	ck_assert_uint_eq(dkim_keyring_select(kr, "example.com", out, DKIM_MAX_SIGS), 3);
	ck_assert_str_eq(out[0]->domain, "example.com");
	ck_assert_str_eq(out[1]->domain, "example.com");
	ck_assert_str_eq(out[2]->domain, "op.test");
	/* the most specific configured domain wins over its parent */
	ck_assert_uint_eq(dkim_keyring_select(kr, "a.sub.example.com", out, DKIM_MAX_SIGS), 2);
	ck_assert_str_eq(out[0]->selector, "s");
	/* parent */
	ck_assert_uint_eq(dkim_keyring_select(kr, "mail.example.com", out, DKIM_MAX_SIGS), 3);
	ck_assert_str_eq(out[0]->domain, "example.com");
	/* none of the customer's: only the operator */
	ck_assert_uint_eq(dkim_keyring_select(kr, "other.test", out, DKIM_MAX_SIGS), 1);
	ck_assert_str_eq(out[0]->selector, "op");
	/* the operator's own mail: signed once */
	ck_assert_uint_eq(dkim_keyring_select(kr, "op.test", out, DKIM_MAX_SIGS), 1);
	/* no suffix matching inside labels */
	struct dkim_keyring *kr2 = ring(k, 3, NULL, e);
	ck_assert_uint_eq(dkim_keyring_select(kr2, "notexample.com", out, DKIM_MAX_SIGS), 0);
	ck_assert_uint_eq(dkim_keyring_select(kr2, "com", out, DKIM_MAX_SIGS), 0);
	ck_assert_uint_eq(dkim_keyring_select(NULL, "example.com", out, DKIM_MAX_SIGS), 0);
	ck_assert(dkim_keyring_has(kr, "example.com", out[0] ? dkim_keyring_key(kr, 0)->uid : 0));
	ck_assert(!dkim_keyring_has(kr2, "op.test", dkim_keyring_key(kr, 3)->uid));
	dkim_keyring_free(kr);
	dkim_keyring_free(kr2);
}
END_TEST

/* ---- the signer ---- */

static struct dkim_signer_ctx *ctx;
static struct dkim_keyring *kr_a, *kr_b;

static void setup_signer(void)
{
	setup_keys();
	struct dkim_params p;
	dkim_params_defaults(&p);
	p.batch_max = 2;
	p.header_max = 1024;
	ctx = dkim_signer_new(&p, 1700000000LL * 1000000);
	ck_assert_ptr_nonnull(ctx);
	char e[512];
	struct dkim_key_conf a[] = { { "example.com", "a", DKIM_ALG_RSA_SHA256, rsa_file, NULL } };
	struct dkim_key_conf b[] = { { "example.com", "b", DKIM_ALG_ED25519_SHA256, ed_file, NULL } };
	kr_a = ring(a, 1, NULL, e);
	kr_b = ring(b, 1, NULL, e);
	ck_assert(kr_a && kr_b);
}

static void teardown_signer(void)
{
	dkim_signer_free(ctx);
	dkim_keyring_free(kr_a);
	dkim_keyring_free(kr_b);
	teardown_keys();
}

static enum dkim_result sign(const char *msg, const struct dkim_keyring *feed,
			     const struct dkim_keyring *fin, unsigned *nsigs)
{
	struct dkim_msg *m = dkim_msg_new(ctx, "t");
	ck_assert_ptr_nonnull(m);
	dkim_msg_feed(m, feed, (const uint8_t *)msg, strlen(msg), 1);
	enum dkim_result r = dkim_msg_finish(m, fin, 2);
	size_t len;
	const char *sig = dkim_msg_sig(m, &len);
	if (r == DKIM_RES_SIGNED) {
		ck_assert(len > 0 && strncmp(sig, "DKIM-Signature: v=1;", 20) == 0);
		ck_assert(strstr(sig, "t=1700000000;") != NULL);
		ck_assert(memcmp(sig + len - 2, "\r\n", 2) == 0);
	} else {
		ck_assert_ptr_null(sig);
	}
	*nsigs = dkim_msg_nsigs(m);
	ck_assert_uint_eq(dkim_msg_finish(m, fin, 3), r);	/* idempotent */
	dkim_msg_free(m);
	return r;
}

START_TEST(test_outcomes)
{
	unsigned n;
	ck_assert_int_eq(sign("From: a@example.com\r\n\r\nx\r\n", kr_a, kr_a, &n), DKIM_RES_SIGNED);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(sign("To: a@example.com\r\n\r\nx\r\n", kr_a, kr_a, &n), DKIM_RES_NO_FROM);
	ck_assert_int_eq(sign("From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n", kr_a, kr_a,
			      &n), DKIM_RES_MULTI_FROM);
	ck_assert_int_eq(sign("From: a@x.test, b@example.com\r\n\r\n", kr_a, kr_a, &n),
			 DKIM_RES_MULTI_FROM);
	ck_assert_int_eq(sign("From: nobody\r\n\r\nx\r\n", kr_a, kr_a, &n), DKIM_RES_BAD_FROM);
	ck_assert_int_eq(sign("From: a@other.test\r\n\r\nx\r\n", kr_a, kr_a, &n), DKIM_RES_NO_KEY);
	ck_assert_int_eq(sign("From a@example.com\r\n\r\nx\r\n", kr_a, kr_a, &n),
			 DKIM_RES_BAD_HEADER);
	/* the header section over header_max (1024) */
	char big[3000];
	snprintf(big, sizeof(big), "From: a@example.com\r\nX-Pad: %02000d\r\n\r\nx\r\n", 0);
	ck_assert_int_eq(sign(big, kr_a, kr_a, &n), DKIM_RES_BAD_HEADER);
	/* the key left the keyring between the header and the end of data */
	ck_assert_int_eq(sign("From: a@example.com\r\n\r\nx\r\n", kr_a, kr_b, &n),
			 DKIM_RES_KEY_REMOVED);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(dkim_signer_stats(ctx)->sigs_dropped_removed, 1);
	/* data ending inside the header section, with and without the final CRLF */
	ck_assert_int_eq(sign("From: a@example.com\r\n", kr_b, kr_b, &n), DKIM_RES_SIGNED);
	ck_assert_int_eq(sign("From: a@example.com", kr_b, kr_b, &n), DKIM_RES_SIGNED);
	ck_assert_int_eq(sign("", kr_b, kr_b, &n), DKIM_RES_NO_FROM);
	/* repeat signatures come from the parsed-key cache */
	ck_assert_int_eq(sign("From: a@example.com\r\n\r\ny\r\n", kr_a, kr_a, &n), DKIM_RES_SIGNED);
	ck_assert(dkim_signer_stats(ctx)->key_cache_hits >= 2);
	ck_assert_uint_eq(dkim_signer_stats(ctx)->key_cache_misses, 2);
	ck_assert_uint_eq(dkim_signer_stats(ctx)->lib_errors, 0);
	/* ed25519 signatures start from the key's sign template, RSA ones never (RSA_sign) */
	ck_assert_uint_eq(dkim_signer_stats(ctx)->sign_tmpl_hits, 2);
	ck_assert_int_eq(sign("From: a@example.com\r\n\r\nz\r\n", kr_b, kr_b, &n), DKIM_RES_SIGNED);
	ck_assert_uint_eq(dkim_signer_stats(ctx)->sign_tmpl_hits, 3);
}
END_TEST

START_TEST(test_arena_bounded)
{
	struct dkim_msg *m = dkim_msg_new(ctx, "big");
	const char *h = "From: a@example.com\r\nSubject: big\r\n\r\n";
	dkim_msg_feed(m, kr_a, (const uint8_t *)h, strlen(h), 1);
	static char line[8192];
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\r';
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < 256; i++)	/* 2 MiB */
		dkim_msg_feed(m, kr_a, (const uint8_t *)line, sizeof(line), 1);
	ck_assert_int_eq(dkim_msg_finish(m, kr_a, 2), DKIM_RES_SIGNED);
	dkim_msg_free(m);
	ck_assert_msg(dkim_signer_stats(ctx)->arena_peak < 256 * 1024, "arena peak %llu",
		      (unsigned long long)dkim_signer_stats(ctx)->arena_peak);
}
END_TEST

static int order[16], n_order;
static void done(void *arg, struct dkim_msg *m, enum dkim_result r)
{
	ck_assert_int_eq(r, DKIM_RES_SIGNED);
	order[n_order++] = (int)(intptr_t)arg;
	dkim_msg_free(m);
}

static void done_any(void *arg, struct dkim_msg *m, enum dkim_result r)
{
	(void)r;
	order[n_order++] = (int)(intptr_t)arg;
	dkim_msg_free(m);
}

START_TEST(test_batch_bound_and_order)
{
	struct dkim_batch b;
	dkim_batch_init(&b);
	const char *msg = "From: a@example.com\r\n\r\nbody\r\n";
	for (int i = 0; i < 5; i++) {
		struct dkim_msg *m = dkim_msg_new(ctx, "b");
		dkim_msg_feed(m, kr_b, (const uint8_t *)msg, strlen(msg), 10);
		ck_assert_int_eq(dkim_batch_add(&b, m, done, (void *)(intptr_t)i, 100 + i), 0);
	}
	ck_assert_uint_eq(dkim_batch_run(&b, ctx, kr_b, 200), 2);	/* batch_max = 2 */
	ck_assert_uint_eq(dkim_batch_pending(&b), 3);
	ck_assert_uint_eq(dkim_batch_run(&b, ctx, kr_b, 300), 2);
	ck_assert_uint_eq(dkim_batch_run(&b, ctx, kr_b, 400), 1);
	ck_assert_uint_eq(dkim_batch_run(&b, ctx, kr_b, 500), 0);
	ck_assert_int_eq(n_order, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(order[i], i);
	ck_assert_uint_eq(b.max_wait_us, 400 - 104);
	ck_assert_uint_eq(b.max_run_msgs, 2);
	/* a full batch refuses more */
	for (int i = 0; i < DKIM_BATCH_CAP; i++)
		ck_assert_int_eq(dkim_batch_add(&b, NULL, done, NULL, 0), 0);
	ck_assert_int_eq(dkim_batch_add(&b, NULL, done, NULL, 0), -ENOSPC);
}
END_TEST

/* The batch bound is signing work: RSA-2048 weighs DKIM_COST_RSA2048 ed25519 signatures; a
 * message over the whole budget is still finished alone; unsignable messages cost nothing. */
START_TEST(test_batch_cost_bound)
{
	struct dkim_params p;
	dkim_params_defaults(&p);
	p.batch_cost_max = 2 * DKIM_COST_RSA2048;
	struct dkim_signer_ctx *c = dkim_signer_new(&p, 1700000000LL * 1000000);
	ck_assert_ptr_nonnull(c);
	char e[512];
	struct dkim_key_conf dual[] = { { "example.com", "a", DKIM_ALG_RSA_SHA256, rsa_file, NULL },
					{ "example.com", "b", DKIM_ALG_ED25519_SHA256, ed_file, NULL } };
	struct dkim_keyring *kr_d = ring(dual, 2, NULL, e);
	ck_assert_ptr_nonnull(kr_d);
	struct dkim_key rsa1024 = { .alg = DKIM_ALG_RSA_SHA256, .bits = 1024 };
	struct dkim_key rsa4096 = { .alg = DKIM_ALG_RSA_SHA256, .bits = 4096 };
	struct dkim_key ed = { .alg = DKIM_ALG_ED25519_SHA256, .bits = 256 };
	ck_assert_uint_eq(dkim_key_cost(&rsa1024), 1);
	ck_assert_uint_eq(dkim_key_cost(&rsa4096), 64);
	ck_assert_uint_eq(dkim_key_cost(&ed), DKIM_COST_ED25519);
	const char *msg = "From: a@example.com\r\n\r\nbody\r\n";
	const char *nofrom = "Subject: x\r\n\r\nbody\r\n";
	struct { const struct dkim_keyring *kr; const char *text; unsigned cost; } q[] = {
		{ kr_a, msg, DKIM_COST_RSA2048 }, { kr_a, msg, DKIM_COST_RSA2048 },	/* run 1 */
		{ kr_b, msg, 1 }, { kr_b, nofrom, 0 }, { kr_b, msg, 1 },		/* run 2 */
		{ kr_d, msg, DKIM_COST_RSA2048 + 1 },
		{ kr_d, msg, DKIM_COST_RSA2048 + 1 },				/* run 3 */
	};
	struct dkim_batch b;
	dkim_batch_init(&b);
	n_order = 0;
	for (int i = 0; i < 7; i++) {
		struct dkim_msg *m = dkim_msg_new(c, "c");
		dkim_msg_feed(m, q[i].kr, (const uint8_t *)q[i].text, strlen(q[i].text), 10);
		ck_assert_uint_eq(dkim_msg_cost(m), q[i].cost);
		ck_assert_int_eq(dkim_batch_add(&b, m, done_any, (void *)(intptr_t)i, 100), 0);
	}
	/* (finished against kr_d: the kr_a/kr_b ones end as key-removed; the bound is the point) */
	ck_assert_uint_eq(dkim_batch_run(&b, c, kr_d, 200), 2);	/* 8 + 8 */
	ck_assert_uint_eq(b.max_run_cost, 2 * DKIM_COST_RSA2048);
	ck_assert_uint_eq(dkim_batch_run(&b, c, kr_d, 300), 4);	/* 1 + 0 + 1 + 9; 9 more: over */
	ck_assert_uint_eq(dkim_batch_run(&b, c, kr_d, 400), 1);
	ck_assert_uint_eq(dkim_batch_pending(&b), 0);
	ck_assert_int_eq(n_order, 7);
	for (int i = 0; i < 7; i++)
		ck_assert_int_eq(order[i], i);
	/* one message over the whole budget is still finished, alone */
	struct dkim_params p1 = p;
	p1.batch_cost_max = 1;
	struct dkim_signer_ctx *c1 = dkim_signer_new(&p1, 1700000000LL * 1000000);
	ck_assert_ptr_nonnull(c1);
	for (int i = 0; i < 2; i++) {
		struct dkim_msg *m = dkim_msg_new(c1, "c1");
		dkim_msg_feed(m, kr_a, (const uint8_t *)msg, strlen(msg), 10);
		ck_assert_int_eq(dkim_batch_add(&b, m, done_any, (void *)(intptr_t)(7 + i), 100), 0);
	}
	ck_assert_uint_eq(dkim_batch_run(&b, c1, kr_a, 500), 1);
	ck_assert_uint_eq(dkim_batch_run(&b, c1, kr_a, 600), 1);
	ck_assert_int_eq(n_order, 9);
	dkim_signer_free(c1);
	dkim_signer_free(c);
	dkim_keyring_free(kr_d);
}
END_TEST

START_TEST(test_policy)
{
	const char *reply;
	struct dkim_policy pass = { 0, 0 }, strict = { 1, 1 };
	ck_assert_int_eq(dkim_result_action(DKIM_RES_SIGNED, &strict, &reply), DKIM_ACT_SPOOL);
	ck_assert_ptr_null(reply);
	ck_assert_int_eq(dkim_result_action(DKIM_RES_NO_KEY, &strict, &reply), DKIM_ACT_SPOOL);
	for (enum dkim_result r = DKIM_RES_NO_FROM; r <= DKIM_RES_BAD_HEADER; r++) {
		ck_assert_int_eq(dkim_result_action(r, &pass, &reply), DKIM_ACT_SPOOL_LOG);
		ck_assert_int_eq(dkim_result_action(r, &strict, &reply), DKIM_ACT_REJECT);
		ck_assert(reply && !strncmp(reply, "550 5.", 6));
	}
	ck_assert_int_eq(dkim_result_action(DKIM_RES_KEY_REMOVED, &pass, &reply), DKIM_ACT_SPOOL_LOG);
	ck_assert_int_eq(dkim_result_action(DKIM_RES_KEY_REMOVED, &strict, &reply), DKIM_ACT_TEMPFAIL);
	ck_assert(reply && !strncmp(reply, "451 4.", 6));
	ck_assert_int_eq(dkim_result_action(DKIM_RES_ERROR, &strict, &reply), DKIM_ACT_TEMPFAIL);
	for (int r = 0; r <= DKIM_RES__MAX; r++)
		ck_assert_ptr_nonnull(dkim_result_str((enum dkim_result)r));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dkim_signer");
	TCase *k = tcase_create("keyring");
	tcase_add_unchecked_fixture(k, setup_keys, teardown_keys);
	tcase_add_test(k, test_key_errors);
	tcase_add_test(k, test_key_loads);
	tcase_add_test(k, test_select);
	tcase_add_test(k, test_policy);
	tcase_set_timeout(k, 60);
	suite_add_tcase(s, k);
	TCase *g = tcase_create("signer");
	tcase_add_unchecked_fixture(g, setup_signer, teardown_signer);
	tcase_add_test(g, test_outcomes);
	tcase_add_test(g, test_arena_bounded);
	tcase_add_test(g, test_batch_bound_and_order);
	tcase_add_test(g, test_batch_cost_bound);
	tcase_set_timeout(g, 60);
	suite_add_tcase(s, g);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
