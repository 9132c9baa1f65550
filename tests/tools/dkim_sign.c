/* SPDX-License-Identifier: MIT */
/*
 * dkim_sign: test driver for crypto/dkim. Signs message files the way the SMTP layer will:
 * each file is fed in chunks (fixed size, or random sizes from a seed, so headers and CRLFs
 * split anywhere), the end of data is queued in a dkim_batch and the batch is run; the
 * signed message (signature fields + original bytes) is written to OUTDIR/<name>. One line per
 * message on stdout: "<name> <result> <nsigs>".
 *
 *   dkim_sign [-c simple|relaxed] [-x expire_s] [-C chunk|0] [-S seed] [-o operator_domain]
 *             -k domain:selector:rsa|ed25519:keyfile[:pubtxtfile] ...
 *             [-K ... keys of keyring B] [-r N] -O outdir msgfile...
 *
 * -r N rotates from keyring A (-k) to keyring B (-K) at message N: message N is opened and
 * fed under A and finished under B (a publication during its DATA), later ones use B only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim.h"

#define MAX_KEYS 16

struct keyset {
	struct dkim_key_conf k[MAX_KEYS];
	char *pub[MAX_KEYS];
	size_t n;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);
	for (size_t r; b && (r = fread(b + n, 1, cap - n, f)) > 0; ) {
		n += r;
		if (n == cap)
			b = realloc(b, (cap *= 2) + 1);
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		*len = n;
	}
	return b;
}

static int add_key(struct keyset *ks, char *spec)
{
	if (ks->n == MAX_KEYS)
		return -1;
	struct dkim_key_conf *k = &ks->k[ks->n];
	char *f[5] = { 0 };
	int i = 0;
	for (char *t = strtok(spec, ":"); t && i < 5; t = strtok(NULL, ":"))
		f[i++] = t;
	if (i < 4)
		return -1;
	k->domain = f[0];
	k->selector = f[1];
	k->alg = !strcmp(f[2], "ed25519") ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
	k->key_file = f[3];
	if (f[4]) {
		size_t l;
		ks->pub[ks->n] = slurp(f[4], &l);
		if (!ks->pub[ks->n])
			return -1;
		k->public_txt = ks->pub[ks->n];
	}
	ks->n++;
	return 0;
}

static struct dkim_keyring *build(struct keyset *ks, const char *op)
{
	char err[512];
	struct dkim_keyring_conf c = { ks->k, ks->n, op };
	struct dkim_keyring *kr = dkim_keyring_build(&c, err, sizeof(err));
	if (!kr)
		fprintf(stderr, "dkim_sign: %s\n", err);
	return kr;
}

struct job {
	const char *name;
	char *data;
	size_t len;
	struct dkim_msg *m;
	enum dkim_result res;
	int finished;
};

static void on_done(void *arg, struct dkim_msg *m, enum dkim_result r)
{
	struct job *j = arg;
	j->res = r;
	j->finished = 1;
}

static uint64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static int64_t wall_offset(void)
{
	struct timespec r, m;
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000 + ((int64_t)r.tv_nsec - m.tv_nsec) / 1000;
}

static int write_out(const char *dir, struct job *j)
{
	char path[4096];
	const char *base = strrchr(j->name, '/');
	snprintf(path, sizeof(path), "%s/%s", dir, base ? base + 1 : j->name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t sl;
	const char *sig = dkim_msg_sig(j->m, &sl);
	if (sig)
		fwrite(sig, 1, sl, f);
	fwrite(j->data, 1, j->len, f);
	return fclose(f);
}

int main(int argc, char **argv)
{
	struct dkim_params p;
	struct keyset ka = { 0 }, kb = { 0 };
	const char *outdir = NULL, *op = NULL;
	size_t chunk = 0;
	long rotate = -1;
	unsigned seed = 1;
	int o;
	dkim_params_defaults(&p);
	while ((o = getopt(argc, argv, "c:x:C:S:o:k:K:r:O:")) != -1) {
		switch (o) {
		case 'c':
			p.hdr_canon = p.body_canon = strcmp(optarg, "simple") ? DKIM_CANON_RELAXED_ :
				DKIM_CANON_SIMPLE_;
			break;
		case 'x': p.expire_s = (uint32_t)atoi(optarg); break;
		case 'C': chunk = (size_t)atol(optarg); break;
		case 'S': seed = (unsigned)atoi(optarg); break;
		case 'o': op = optarg; break;
		case 'k': if (add_key(&ka, optarg)) return fprintf(stderr, "bad -k\n"), 2; break;
		case 'K': if (add_key(&kb, optarg)) return fprintf(stderr, "bad -K\n"), 2; break;
		case 'r': rotate = atol(optarg); break;
		case 'O': outdir = optarg; break;
		default: return 2;
		}
	}
	if (!outdir || optind >= argc)
		return fprintf(stderr, "usage: see the file header\n"), 2;
	struct dkim_keyring *kra = build(&ka, op), *krb = rotate >= 0 ? build(&kb, op) : NULL;
	if (!kra || (rotate >= 0 && !krb))
		return 1;
	struct dkim_signer_ctx *ctx = dkim_signer_new(&p, wall_offset());
	if (!ctx)
		return 1;
	srand(seed);
	int nj = argc - optind, rc = 0;
	struct job *jobs = calloc((size_t)nj, sizeof(*jobs));
	struct dkim_batch batch;
	dkim_batch_init(&batch);
	for (int i = 0; i < nj; i++) {
		struct job *j = &jobs[i];
		const struct dkim_keyring *feed_kr = rotate >= 0 && i > rotate ? krb : kra;
		const struct dkim_keyring *fin_kr = rotate >= 0 && i >= rotate ? krb : kra;
		j->name = argv[optind + i];
		j->data = slurp(j->name, &j->len);
		if (!j->data)
			return fprintf(stderr, "dkim_sign: cannot read %s\n", j->name), 1;
		j->m = dkim_msg_new(ctx, j->name);
		for (size_t off = 0; off < j->len; ) {
			size_t n = chunk ? chunk : 1 + (size_t)rand() % 97;
			if (n > j->len - off)
				n = j->len - off;
			dkim_msg_feed(j->m, feed_kr, (const uint8_t *)j->data + off, n, mono_us());
			off += n;
		}
		if (dkim_batch_add(&batch, j->m, on_done, j, mono_us()) == -ENOSPC) {
			while (dkim_batch_pending(&batch))
				dkim_batch_run(&batch, ctx, fin_kr, mono_us());
			dkim_batch_add(&batch, j->m, on_done, j, mono_us());
		}
		/* one "loop turn" per message, like the lcore; the batch drains in order */
		dkim_batch_run(&batch, ctx, fin_kr, mono_us());
	}
	while (dkim_batch_pending(&batch))
		dkim_batch_run(&batch, ctx, rotate >= 0 ? krb : kra, mono_us());
	for (int i = 0; i < nj; i++) {
		struct job *j = &jobs[i];
		if (!j->finished || write_out(outdir, j) != 0)
			rc = 1;
		printf("%s %s %u\n", j->name, dkim_result_str(j->res), dkim_msg_nsigs(j->m));
		dkim_msg_free(j->m);
		free(j->data);
	}
	const struct dkim_stats *st = dkim_signer_stats(ctx);
	fprintf(stderr, "stats msgs=%llu sigs=%llu dropped_removed=%llu cache_hits=%llu "
		"cache_misses=%llu lib_errors=%llu arena_peak=%llu\n",
		(unsigned long long)st->msgs, (unsigned long long)st->sigs,
		(unsigned long long)st->sigs_dropped_removed,
		(unsigned long long)st->key_cache_hits, (unsigned long long)st->key_cache_misses,
		(unsigned long long)st->lib_errors, (unsigned long long)st->arena_peak);
	free(jobs);
	dkim_signer_free(ctx);
	dkim_keyring_free(kra);
	dkim_keyring_free(krb);
	for (size_t i = 0; i < MAX_KEYS; i++) {
		free(ka.pub[i]);
		free(kb.pub[i]);
	}
	return rc;
}
