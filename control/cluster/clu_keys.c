/* SPDX-License-Identifier: MIT */
/*
 * clu_keys.c: what worker lcores hand the cluster at run time, and the cluster-wide backoff.
 *
 * Each lcore has one single-producer ring in the node (no lock, no allocation on the lcore):
 *   - CLU_REQ_STAR: a destination covered by the `*` shaping rule becomes a managed key with
 *     the `*` limits as its own cluster-wide budget (added once; dropped when idle for
 *     dyn_idle_ms);
 *   - CLU_REQ_CUT: the lcore's automatic backoff cut a destination to `factor` per-mille.
 * The cluster thread drains the rings at the start of each round. Cuts go to Redis
 * (clu_redis_bo_push: one record per destination, lowered by any node's cut, restored on one
 * curve); every node re-reads the records when their version moves and publishes the factor
 * in force in the destination's table entry (clu_bo_factor), where the lcores adopt it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/clu.h"
#include "cluster/clu_int.h"
#include "log.h"

struct clu_dest *clu_dest_add(struct clu_node *node, const struct clu_limit *lim, bool dyn)
{
	if (node->n == CLU_DEST_MAX)
		return NULL;
	struct clu_dest *d = &node->d[node->n++];
	memset(d, 0, sizeof(*d));
	d->lim = *lim;
	d->mode = CLU_M_IDLE;
	d->dynamic = dyn;
	return d;
}

static int ring_push(struct clu_node *node, unsigned lcore, const char *key,
		     enum clu_req_kind kind, uint32_t factor)
{
	if (lcore >= CLU_LCORES)
		return -EINVAL;
	size_t len = strlen(key);
	if (len > CLU_KEY_MAX)
		return -E2BIG;
	struct clu_ask_ring *r = &node->asks[lcore];
	uint32_t h = r->head, t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (h - t == CLU_ASK_RING)
		return -ENOSPC;
	struct clu_ask *a = &r->a[h % CLU_ASK_RING];
	memcpy(a->key, key, len + 1);
	a->kind = kind;
	a->factor = factor;
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
	return 0;
}

int clu_node_ask(struct clu_node *node, unsigned lcore, const char *key)
{
	if (!node->p.star_rate && !node->p.star_conns)
		return -EINVAL;
	return ring_push(node, lcore, key, CLU_REQ_STAR, 0);
}

int clu_node_report_cut(struct clu_node *node, unsigned lcore, const char *key, uint32_t factor)
{
	if (factor == 0 || factor >= 1000)
		return -EINVAL;
	return ring_push(node, lcore, key, CLU_REQ_CUT, factor);
}

static struct clu_dest *dest_find(struct clu_node *node, const char *key)
{
	for (unsigned i = 0; i < node->n; i++)
		if (strcasecmp(node->d[i].lim.key, key) == 0)
			return &node->d[i];
	return NULL;
}

static void star_add(struct clu_node *node, const char *key, uint64_t now_us)
{
	if (dest_find(node, key))
		return;
	struct clu_limit lim = { .rate = node->p.star_rate, .conns = node->p.star_conns };
	snprintf(lim.key, sizeof(lim.key), "%s", key);
	struct clu_dest *d = clu_dest_add(node, &lim, true);
	if (d) {
		d->last_want_us = now_us;
		log_info("cluster key=added dest=%s rule=* node=%s", key, node->p.node);
	} else if (!node->full_logged) {
		node->full_logged = true;
		log_warn("cluster key=refused dest=%s why=table_full max=%d node=%s "
			 "action=node_local_limits", key, CLU_DEST_MAX, node->p.node);
	}
}

/* Keeps the lowest pending cut per destination. */
static void cut_queue(struct clu_node *node, const char *key, uint32_t factor)
{
	for (unsigned i = 0; i < node->n_cuts; i++)
		if (strcasecmp(node->cuts[i].key, key) == 0) {
			if (factor < node->cuts[i].factor)
				node->cuts[i].factor = factor;
			return;
		}
	if (node->n_cuts == CLU_DEST_MAX)
		return;
	struct clu_bo *c = &node->cuts[node->n_cuts++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->factor = factor;
}

void clu_keys_drain(struct clu_node *node, uint64_t now_us)
{
	for (unsigned l = 0; l < CLU_LCORES; l++) {
		struct clu_ask_ring *r = &node->asks[l];
		uint32_t t = r->tail, h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		for (; t != h; t++) {
			const struct clu_ask *a = &r->a[t % CLU_ASK_RING];
			if (a->kind == CLU_REQ_STAR)
				star_add(node, a->key, now_us);
			else
				cut_queue(node, a->key, a->factor);
		}
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	}
}

void clu_keys_expire(struct clu_node *node, uint64_t now_us)
{
	for (unsigned i = 0; i < node->n;) {
		struct clu_dest *d = &node->d[i];
		if (d->dynamic && d->mode == CLU_M_IDLE &&
		    now_us >= d->last_want_us + (uint64_t)node->p.dyn_idle_ms * 1000) {
			node->d[i] = node->d[--node->n];   /* the next publication drops its entry */
			continue;
		}
		i++;
	}
}

/* ---- backoff records ---- */

static void bo_start(void *arg)
{
	struct clu_node *node = arg;
	memcpy(node->bo_old, node->bo, node->n_bo * sizeof(node->bo[0]));
	node->n_bo_old = node->n_bo;
	node->n_bo = 0;
}

static void bo_one(void *arg, const char *key, uint32_t factor, uint64_t t_ms)
{
	struct clu_node *node = arg;
	if (node->n_bo == CLU_DEST_MAX)
		return;
	struct clu_bo *b = &node->bo[node->n_bo++];
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->factor = factor;
	b->t_ms = t_ms;
	for (unsigned i = 0; i < node->n_bo_old; i++)
		if (strcmp(node->bo_old[i].key, key) == 0 && node->bo_old[i].factor == factor &&
		    node->bo_old[i].t_ms == t_ms)
			return;
	log_info("cluster backoff=applied dest=%s factor_permille=%" PRIu32 " node=%s", key, factor,
		 node->p.node);
}

int clu_bo_round(struct clu_node *node, uint64_t wall_ms)
{
	unsigned n = node->n_cuts;
	node->n_cuts = 0;
	if (!node->rc)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t in_force;
		if (clu_redis_bo_push(node->rc, node->p.prefix, node->cuts[i].key, node->cuts[i].factor,
				      node->p.bo_step_factor, node->p.bo_step_ms, &in_force) < 0)
			return -EIO;
		log_info("cluster backoff=cut dest=%s factor_permille=%" PRIu32 " in_force=%" PRIu32
			 " node=%s", node->cuts[i].key, node->cuts[i].factor, in_force, node->p.node);
	}
	int64_t redis_ms;
	int rc = clu_redis_bo_poll(node->rc, node->p.prefix, &node->bo_ver, &redis_ms, bo_start,
				   bo_one, node);
	if (rc < 0)
		return rc;
	if (rc == 1)
		node->bo_offset_ms = redis_ms - (int64_t)wall_ms;
	return 0;
}

uint32_t clu_bo_factor(const struct clu_node *node, const char *key, uint64_t wall_ms)
{
	for (unsigned i = 0; i < node->n_bo; i++) {
		const struct clu_bo *b = &node->bo[i];
		if (strcasecmp(b->key, key) != 0)
			continue;
		int64_t now = (int64_t)wall_ms + node->bo_offset_ms;
		uint64_t steps = now > (int64_t)b->t_ms && node->p.bo_step_ms ?
				 (uint64_t)(now - (int64_t)b->t_ms) / node->p.bo_step_ms : 0;
		uint64_t f = b->factor + steps * node->p.bo_step_factor;
		return f >= 1000 ? 1000 : (uint32_t)f;
	}
	return 1000;
}
