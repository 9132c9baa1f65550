/* SPDX-License-Identifier: MIT */
/*
 * dkim_batch.c: deferred signing. An RSA-2048 signature costs ~0.25 ms of CPU; made inline
 * when a session's DATA ends, it would hold up every packet still waiting in the same RX
 * burst and every other session's replies. Instead the session queues its message here
 * (cheap) and the lcore loop signs the queue once per turn, after the turn's RX processing
 * and before the spool's group commit and the TX flush, oldest first, at most
 * params.batch_cost_max units of signing work per turn (DKIM_COST_*: an RSA-2048 signature
 * weighs 8 ed25519 ones): the stall any other session can see is bounded by that work, ~2 ms
 * by default, and a queued message waits a few turns at most. The bound is work, not a count
 * of messages: counted in messages it either allows long RSA stalls or splits a wave of cheap
 * ed25519 messages (16 sessions whose 250s left together end their next DATA together) over
 * two turns and two group commits (docs/dkim.md "Batching" has the measurement). The
 * completion (done callback) resumes the session, which then spools the message with the
 * signature prepended.
 */
#include <errno.h>
#include <string.h>

#include "dkim/dkim.h"

enum dkim_action dkim_result_action(enum dkim_result r, const struct dkim_policy *pol,
				    const char **reply)
{
	*reply = NULL;
	switch (r) {
	case DKIM_RES_SIGNED:
	case DKIM_RES_NO_KEY:
		return DKIM_ACT_SPOOL;
	case DKIM_RES_NO_FROM:
	case DKIM_RES_MULTI_FROM:
	case DKIM_RES_BAD_FROM:
	case DKIM_RES_BAD_HEADER:
		if (!pol->reject_unsignable)
			return DKIM_ACT_SPOOL_LOG;
		*reply = r == DKIM_RES_BAD_HEADER ?
			"550 5.6.0 Malformed message header section" :
			"550 5.7.1 Message must have exactly one From address (RFC 5322 3.6.2)";
		return DKIM_ACT_REJECT;
	case DKIM_RES_KEY_REMOVED:
	case DKIM_RES_ERROR:
	default:
		if (!pol->tempfail_on_error)
			return DKIM_ACT_SPOOL_LOG;
		*reply = r == DKIM_RES_KEY_REMOVED ?
			"451 4.7.0 Signing keys changed during the transaction, try again" :
			"451 4.3.0 Message could not be signed, try again";
		return DKIM_ACT_TEMPFAIL;
	}
}

void dkim_batch_init(struct dkim_batch *b) { memset(b, 0, sizeof(*b)); }

int dkim_batch_add(struct dkim_batch *b, struct dkim_msg *m, dkim_done_fn done, void *arg,
		   uint64_t now)
{
	if (b->n == DKIM_BATCH_CAP)
		return -ENOSPC;
	struct dkim_batch_ent *e = &b->ent[(b->head + b->n) % DKIM_BATCH_CAP];
	e->m = m;
	e->done = done;
	e->arg = arg;
	e->queued_us = now;
	b->n++;
	return 0;
}

unsigned dkim_batch_run(struct dkim_batch *b, struct dkim_signer_ctx *ctx,
			const struct dkim_keyring *kr, uint64_t now)
{
	unsigned done = 0, max = b->n, bound = dkim_signer_batch_max(ctx);
	unsigned budget = dkim_signer_batch_cost_max(ctx), spent = 0;
	if (max > bound)
		max = bound;
	for (; done < max; done++) {
		struct dkim_batch_ent e = b->ent[b->head];
		unsigned cost = dkim_msg_cost(e.m);
		if (done > 0 && spent + cost > budget)
			break;		/* the next turn's work: its own I/O goes first */
		spent += cost;
		b->head = (b->head + 1) % DKIM_BATCH_CAP;
		b->n--;
		if (now - e.queued_us > b->max_wait_us && now >= e.queued_us)
			b->max_wait_us = now - e.queued_us;
		enum dkim_result r = dkim_msg_finish(e.m, kr, now);
		e.done(e.arg, e.m, r);	/* may free e.m or queue more work */
	}
	if (done) {
		b->runs++;
		b->signed_msgs += done;
		if (done > b->max_run_msgs)
			b->max_run_msgs = done;
		if (spent > b->max_run_cost)
			b->max_run_cost = spent;
	}
	return done;
}
