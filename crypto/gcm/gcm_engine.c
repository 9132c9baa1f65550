// SPDX-License-Identifier: MIT
/*
 * gcm_engine.c: the per-lcore AES-GCM burst engine. Users queue struct gcm_op (a TLS record, a
 * spool block); the engine hands the whole burst to intel-ipsec-mb's burst API (one call
 * amortises dispatch over up to GCM_BURST_MAX ops, and the library's VAES/AVX-512 code paths
 * run back to back with warm key schedules), then calls each op's completion in submission
 * order. A burst runs when full or when its oldest op waited flush_us (the lcore loop passes
 * `now` to gcm_engine_poll), so one session never waits on others for more than a few
 * microseconds (CONVENTIONS 14; DPDK ipsec-secgw's enqueue + drain timer).
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void gcm_engine_cfg_defaults(struct gcm_engine_cfg *cfg)
{
	cfg->burst = 32;
	cfg->flush_us = 4;
	cfg->enabled = true;
}

struct gcm_engine *gcm_engine_new(const struct gcm_engine_cfg *cfg, int *err)
{
	struct gcm_engine *e;

	if (cfg->burst == 0 || cfg->burst > GCM_BURST_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	/* C11: the size of an aligned_alloc must be a multiple of the alignment */
	e = aligned_alloc(64, (sizeof(*e) + 63) & ~(size_t)63);
	if (!e) {
		*err = -ENOMEM;
		goto err;
	}
	memset(e, 0, sizeof(*e));
	e->mgr = alloc_mb_mgr(0);
	if (!e->mgr) {
		*err = -ENOMEM;
		goto err_free;
	}
	init_mb_mgr_auto(e->mgr, NULL);
	if (imb_get_errno(e->mgr) != 0) {
		*err = -ENOTSUP;
		goto err_mgr;
	}
	e->burst = cfg->burst;
	e->flush_us = cfg->flush_us;
	e->enabled = cfg->enabled;
	return e;
err_mgr:
	free_mb_mgr(e->mgr);
err_free:
	free(e);
err:
	return NULL;
}

void gcm_engine_free(struct gcm_engine *e)
{
	if (!e)
		return;
	gcm_engine_flush(e);
	free_mb_mgr(e->mgr);
	free(e);
}

int gcm_key_set(struct gcm_engine *e, struct gcm_key *k, const uint8_t *key, size_t len)
{
	if (len == 16)
		IMB_AES128_GCM_PRE(e->mgr, key, &k->kd);
	else if (len == 32)
		IMB_AES256_GCM_PRE(e->mgr, key, &k->kd);
	else
		return -EINVAL;
	k->key_len = (uint32_t)len;
	return 0;
}

void gcm_key_wipe(struct gcm_key *k)
{
	/* volatile stores: the compiler may not drop the wipe of a key about to be freed */
	volatile uint8_t *p = (volatile uint8_t *)k;

	for (size_t i = 0; i < sizeof(*k); i++)
		p[i] = 0;
}

bool gcm_tag_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (unsigned i = 0; i < GCM_TAG_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void job_fill(IMB_JOB *j, struct gcm_op *op)
{
	j->cipher_mode = IMB_CIPHER_GCM;
	j->hash_alg = IMB_AUTH_AES_GMAC;
	j->enc_keys = &op->key->kd;
	j->dec_keys = &op->key->kd;
	j->key_len_in_bytes = op->key->key_len;
	if (op->dir == GCM_ENCRYPT) {
		j->cipher_direction = IMB_DIR_ENCRYPT;
		j->chain_order = IMB_ORDER_CIPHER_HASH;
	} else {
		j->cipher_direction = IMB_DIR_DECRYPT;
		j->chain_order = IMB_ORDER_HASH_CIPHER;
	}
	j->src = op->src;
	j->dst = op->dst;
	j->cipher_start_src_offset_in_bytes = 0;
	j->msg_len_to_cipher_in_bytes = op->len;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = op->len;
	j->iv = op->iv;
	j->iv_len_in_bytes = GCM_IV_LEN;
	j->u.GCM.aad = op->aad;
	j->u.GCM.aad_len_in_bytes = op->aad_len;
	j->auth_tag_output = op->tag;
	j->auth_tag_output_len_in_bytes = GCM_TAG_LEN;
	j->user_data = op;
}

/* Completion status of a job returned by the library. */
static void job_done(IMB_JOB *j)
{
	struct gcm_op *op = j->user_data;

	op->status = j->status == IMB_STATUS_COMPLETED ? 0 : -EIO;
}

/* Runs ops[0..n) through the burst API; every op gets a status. */
static void run_burst(struct gcm_engine *e, struct gcm_op **ops, unsigned n)
{
	IMB_JOB *jobs[GCM_BURST_MAX];
	unsigned got, done, i;

	got = IMB_GET_NEXT_BURST(e->mgr, n, jobs);
	if (got < n) {
		/* the queue holds leftovers of an earlier failure: drain and retry once */
		while (IMB_FLUSH_BURST(e->mgr, GCM_BURST_MAX, jobs) > 0)
			;
		got = IMB_GET_NEXT_BURST(e->mgr, n, jobs);
	}
	for (i = 0; i < n; i++)
		ops[i]->status = -EIO;
	if (got < n) {
		e->stats.errors += n;
		return;
	}
	for (i = 0; i < n; i++)
		job_fill(jobs[i], ops[i]);
	done = IMB_SUBMIT_BURST(e->mgr, n, jobs);
	if (done == 0 && imb_get_errno(e->mgr) != 0) {
		e->stats.errors += n;
		while (IMB_FLUSH_BURST(e->mgr, GCM_BURST_MAX, jobs) > 0)
			;
		return;
	}
	for (i = 0; i < done; i++)
		job_done(jobs[i]);
	while (done < n) {
		unsigned f = IMB_FLUSH_BURST(e->mgr, n - done, jobs);

		if (f == 0)
			break;
		for (i = 0; i < f; i++)
			job_done(jobs[i]);
		done += f;
	}
}

unsigned gcm_engine_flush(struct gcm_engine *e)
{
	struct gcm_op *ops[GCM_BURST_MAX];
	unsigned n = e->n, i;

	if (n == 0)
		return 0;
	/* completions may enqueue (a KeyUpdate reply, the next record): hand them a fresh burst */
	memcpy(ops, e->buf, n * sizeof(ops[0]));
	e->n = 0;
	run_burst(e, ops, n);
	e->stats.bursts++;
	for (i = 0; i < n; i++) {
		e->stats.ops++;
		e->stats.bytes += ops[i]->len;
		if (ops[i]->status)
			e->stats.errors++;
		if (ops[i]->done)
			ops[i]->done(ops[i], ops[i]->arg);
	}
	return n;
}

void gcm_engine_enqueue(struct gcm_engine *e, struct gcm_op *op, uint64_t now)
{
	if (e->n == 0)
		e->deadline = now + e->flush_us;
	e->buf[e->n++] = op;
	if (e->n >= e->burst) {
		e->stats.flush_full++;
		gcm_engine_flush(e);
	}
}

unsigned gcm_engine_poll(struct gcm_engine *e, uint64_t now)
{
	if (e->n == 0 || now < e->deadline)
		return 0;
	e->stats.flush_deadline++;
	return gcm_engine_flush(e);
}

uint64_t gcm_engine_next_deadline(const struct gcm_engine *e)
{
	return e->n ? e->deadline : UINT64_MAX;
}
