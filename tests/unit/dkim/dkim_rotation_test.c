/* SPDX-License-Identifier: MIT */
/*
 * dkim_rotation_test.c: key rotation under load, with the real publication mechanism. A worker
 * thread runs an lcore-like loop: each turn it reads the current keyring with
 * rcu_dereference (urcu-qsbr), feeds one chunk to each of several messages in flight (so
 * messages span turns), signs the messages whose data ended through dkim_batch_run, and
 * reports a quiescent state. The control thread publishes keyring B (the old selector
 * removed) with rcu_assign_pointer, waits for the grace period, marks the publication
 * complete and frees keyring A. Checked: no message finished in a turn that began after the
 * publication completed carries the removed selector; messages in flight across the switch
 * are dropped (key-removed), not signed with the old key; signing continues with the new key;
 * under ASan, freeing A after the grace period is never a use after free.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dkim/dkim.h"

#define INFLIGHT 8
#define CHUNKS 4

static struct dkim_keyring *cur;		/* RCU-protected */
static atomic_int published;			/* 1 once B is published and A's readers are gone */
static atomic_int stop;
static char dir[64], old_file[128], new_file[128];

struct result {
	long after_with_old;	/* signed with the removed key in a turn after publication */
	long signed_old, signed_new, removed, other;
	long turns_after;
};

struct slot {
	struct dkim_msg *m;
	int chunk;
	int started_after;	/* message opened in a turn after the publication completed */
	struct result *res;
	int turn_after;
};

static const char *MSG = "From: a@example.com\r\nSubject: rot\r\n\r\nline one\r\nline two\r\n";

static void done(void *arg, struct dkim_msg *m, enum dkim_result r)
{
	struct slot *s = arg;
	size_t len;
	const char *sig = dkim_msg_sig(m, &len);
	if (r == DKIM_RES_SIGNED && strstr(sig, "s=old;")) {
		s->res->signed_old++;
		if (s->turn_after)
			s->res->after_with_old++;
	} else if (r == DKIM_RES_SIGNED && strstr(sig, "s=new;")) {
		s->res->signed_new++;
	} else if (r == DKIM_RES_KEY_REMOVED) {
		s->res->removed++;
	} else {
		s->res->other++;
	}
	dkim_msg_free(m);
	s->m = NULL;
}

static void *worker(void *arg)
{
	struct result *res = arg;
	struct dkim_params p;
	dkim_params_defaults(&p);
	struct dkim_signer_ctx *ctx = dkim_signer_new(&p, 1700000000LL * 1000000);
	struct slot slots[INFLIGHT] = { 0 };
	struct dkim_batch b;
	dkim_batch_init(&b);
	size_t clen = (strlen(MSG) + CHUNKS - 1) / CHUNKS;
	rcu_register_thread();
	for (uint64_t turn = 1; !atomic_load(&stop); turn++) {
		int after = atomic_load_explicit(&published, memory_order_acquire);
		const struct dkim_keyring *kr = rcu_dereference(cur);
		res->turns_after += after;
		for (int i = 0; i < INFLIGHT; i++) {
			struct slot *s = &slots[i];
			if (!s->m) {
				if (turn % CHUNKS != (uint64_t)i % CHUNKS)
					continue;	/* staggered: every turn some header ends */
				s->m = dkim_msg_new(ctx, "rot");
				s->chunk = 0;
				s->res = res;
			}
			if (s->chunk == CHUNKS)
				continue;	/* queued, waiting for the batch */
			size_t off = (size_t)s->chunk * clen, n = strlen(MSG) - off;
			dkim_msg_feed(s->m, kr, (const uint8_t *)MSG + off, n < clen ? n : clen, turn);
			if (++s->chunk == CHUNKS) {
				s->turn_after = after;
				ck_assert_int_eq(dkim_batch_add(&b, s->m, done, s, turn), 0);
			}
		}
		while (dkim_batch_pending(&b)) {
			/* the signature is made in this turn: flag it by this turn's view */
			for (int i = 0; i < INFLIGHT; i++)
				if (slots[i].m && slots[i].chunk == CHUNKS)
					slots[i].turn_after = after;
			dkim_batch_run(&b, ctx, kr, turn);
		}
		rcu_quiescent_state();
	}
	rcu_thread_offline();
	for (int i = 0; i < INFLIGHT; i++)
		dkim_msg_free(slots[i].m);
	rcu_unregister_thread();
	dkim_signer_free(ctx);
	return NULL;
}

static struct dkim_keyring *ring(const char *sel, const char *file)
{
	char err[512];
	struct dkim_key_conf k = { "example.com", sel, DKIM_ALG_RSA_SHA256, file, NULL };
	struct dkim_keyring_conf c = { &k, 1, NULL };
	struct dkim_keyring *kr = dkim_keyring_build(&c, err, sizeof(err));
	ck_assert_msg(kr != NULL, "%s", err);
	return kr;
}

static void write_key(const char *path)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	FILE *f = fopen(path, "w");
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(pk);
}

START_TEST(test_rotation_under_load)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-dkim-rot.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(old_file, sizeof(old_file), "%s/old.pem", dir);
	snprintf(new_file, sizeof(new_file), "%s/new.pem", dir);
	write_key(old_file);
	write_key(new_file);
	struct dkim_keyring *a = ring("old", old_file), *bk = ring("new", new_file);
	struct result res = { 0 };
	rcu_assign_pointer(cur, a);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, worker, &res), 0);
	usleep(200 * 1000);			/* signing with A under way */
	rcu_assign_pointer(cur, bk);		/* publish B */
	synchronize_rcu();			/* every reader of A has passed a quiescent state */
	atomic_store_explicit(&published, 1, memory_order_release);
	dkim_keyring_free(a);			/* A is gone: any later use is a use after free */
	usleep(200 * 1000);
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	dkim_keyring_free(bk);
	unlink(old_file);
	unlink(new_file);
	rmdir(dir);
	ck_assert_msg(res.signed_old > 0 && res.signed_new > 0 && res.turns_after > 0,
		      "old %ld new %ld turns after %ld", res.signed_old, res.signed_new,
		      res.turns_after);
	printf("rotation: signed old %ld, new %ld, dropped in flight %ld, turns after %ld\n",
	       res.signed_old, res.signed_new, res.removed, res.turns_after);
	ck_assert_int_eq(res.after_with_old, 0);
	ck_assert_msg(res.removed > 0, "no message was in flight across the switch");
	ck_assert_int_eq(res.other, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dkim_rotation");
	TCase *tc = tcase_create("rotation");
	tcase_add_test(tc, test_rotation_under_load);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
