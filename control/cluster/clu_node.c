/* SPDX-License-Identifier: MIT */
/*
 * clu_node.c: one node of a dpmail cluster. A round (clu_node_step, every renew_ms on the
 * cluster thread) takes the lcores' requests (clu_keys.c: `*` keys, backoff cuts), pushes this
 * node's suspension changes to Redis and reads everyone's when the suspension version moved,
 * pushes its backoff cuts and reads everyone's when their version moved, takes/renews a lease
 * on every destination this node has queued work for and returns the leases of destinations
 * idle for idle_return_ms, then publishes a new budget table if anything changed (leases,
 * suspensions, the backoff factor in force). Redis errors close the connection: leases still valid
 * locally are kept until their term ends, then the destination runs on the fallback budget
 * (fallback_pct of the configured limit) until Redis answers again; suspensions made meanwhile
 * stay pending and are pushed when it does.
 *
 * Threads: see struct clu_node (clu_int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cluster/clu.h"
#include "cluster/clu_int.h"
#include "log.h"

#define RECONNECT_US 1000000ull
#define MEMBERS_EVERY 5            /* rounds between reads of the lease sets' members */

static void publish(struct clu_node *node, uint64_t wall_ms);

static struct clu_node *active_node;   /* the process's node; set once at start-up */

void clu_set_active(struct clu_node *node)
{
	rcu_assign_pointer(active_node, node);
}

struct clu_node *clu_active(void)
{
	return rcu_dereference(active_node);
}

const char *clu_node_id(const struct clu_node *node)
{
	return node->p.node;
}

struct clu_node *clu_node_new(const struct clu_params *p, const struct clu_limit *limits,
			      unsigned n, int *err)
{
	struct clu_node *node = calloc(1, sizeof(*node));
	if (!node)
		goto err;
	node->p = *p;
	if (!node->p.node[0])
		snprintf(node->p.node, sizeof(node->p.node), "node-%d", (int)getpid());
	node->d = calloc(CLU_DEST_MAX, sizeof(*node->d));   /* room for keys added at run time */
	node->bo = calloc(CLU_DEST_MAX, sizeof(*node->bo));
	node->bo_old = calloc(CLU_DEST_MAX, sizeof(*node->bo_old));
	node->cuts = calloc(CLU_DEST_MAX, sizeof(*node->cuts));
	if (!node->d || !node->bo || !node->bo_old || !node->cuts)
		goto err_node;
	for (unsigned i = 0; i < n && node->n < CLU_DEST_MAX; i++)
		if (limits[i].rate || limits[i].conns)
			clu_dest_add(node, &limits[i], false);
	pthread_mutex_init(&node->mu, NULL);
	pthread_cond_init(&node->cv, NULL);
	/* Every managed destination starts idle (no budget) until the first round: a node must
	 * not send on its node-local limits before it knows its share. */
	publish(node, 0);
	return node;
err_node:
	free(node->d);
	free(node->bo);
	free(node->bo_old);
	free(node->cuts);
	free(node);
err:
	*err = -ENOMEM;
	return NULL;
}

struct clu_table *clu_node_table(struct clu_node *node)
{
	return rcu_dereference(node->cur);
}

bool clu_node_redis_up(struct clu_node *node)
{
	pthread_mutex_lock(&node->mu);
	bool up = node->info.redis_up;
	pthread_mutex_unlock(&node->mu);
	return up;
}

void clu_node_info(struct clu_node *node, struct clu_node_info *out)
{
	pthread_mutex_lock(&node->mu);
	*out = node->info;
	pthread_mutex_unlock(&node->mu);
}

/* ---- suspensions (mu held) ---- */

static struct clu_susp *susp_find(struct clu_node *node, const char *key, bool create)
{
	for (unsigned i = 0; i < node->n_susp; i++)
		if (strcasecmp(node->susp[i].key, key) == 0)
			return &node->susp[i];
	if (!create || node->n_susp == CLU_DEST_MAX)
		return NULL;
	struct clu_susp *s = &node->susp[node->n_susp++];
	memset(s, 0, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", key);
	return s;
}

static int susp_change(struct clu_node *node, const char *key, uint64_t until_ms, enum susp_op op)
{
	pthread_mutex_lock(&node->mu);
	struct clu_susp *s = susp_find(node, key, true);
	if (s) {
		s->until_ms = until_ms;
		s->pending = op;
	}
	pthread_mutex_unlock(&node->mu);
	return s ? 0 : -ENOSPC;
}

int clu_node_suspend(struct clu_node *node, const char *key, uint64_t until_ms)
{
	return susp_change(node, key, until_ms, SP_SET);
}

int clu_node_resume(struct clu_node *node, const char *key)
{
	return susp_change(node, key, 0, SP_DEL);
}

/* Pushes pending changes one at a time without holding mu across the round trip. */
static int susp_push(struct clu_node *node)
{
	for (;;) {
		char key[CLU_KEY_MAX + 1];
		uint64_t until = 0;
		enum susp_op op = SP_NONE;
		pthread_mutex_lock(&node->mu);
		for (unsigned i = 0; i < node->n_susp && op == SP_NONE; i++)
			if (node->susp[i].pending != SP_NONE) {
				op = node->susp[i].pending;
				until = node->susp[i].until_ms;
				memcpy(key, node->susp[i].key, sizeof(key));
			}
		pthread_mutex_unlock(&node->mu);
		if (op == SP_NONE)
			return 0;
		if (clu_redis_susp_push(node->rc, node->p.prefix, key, op == SP_DEL, until) < 0)
			return -EIO;
		pthread_mutex_lock(&node->mu);
		struct clu_susp *s = susp_find(node, key, false);
		if (s && s->pending == op && s->until_ms == until)
			s->pending = SP_NONE;   /* unless changed again meanwhile */
		pthread_mutex_unlock(&node->mu);
		log_info("cluster suspension=%s dest=%s until_ms=%" PRIu64 " node=%s",
			 op == SP_DEL ? "resume" : "suspend", key, until, node->p.node);
	}
}

static void susp_remote_start(void *arg)
{
	struct clu_node *node = arg;
	/* Forget settled entries; pending local changes win until pushed. */
	unsigned k = 0;
	for (unsigned i = 0; i < node->n_susp; i++)
		if (node->susp[i].pending != SP_NONE)
			node->susp[k++] = node->susp[i];
	node->n_susp = k;
}

static void susp_remote_one(void *arg, const char *key, uint64_t until_ms)
{
	struct clu_node *node = arg;
	struct clu_susp *s = susp_find(node, key, true);
	if (s && s->pending == SP_NONE)
		s->until_ms = until_ms;
}

static int susp_poll(struct clu_node *node)
{
	pthread_mutex_lock(&node->mu);   /* held across the round trip: it replaces the list */
	int rc = clu_redis_susp_poll(node->rc, node->p.prefix, &node->susp_ver, susp_remote_start,
				     susp_remote_one, node);
	pthread_mutex_unlock(&node->mu);
	return rc < 0 ? rc : 0;
}

/* ---- leases ---- */

static void redis_down(struct clu_node *node, uint64_t now_us, const char *why)
{
	if (node->rc) {
		redisFree(node->rc);
		node->rc = NULL;
	}
	node->next_connect_us = now_us + RECONNECT_US;
	pthread_mutex_lock(&node->mu);
	node->info.redis_up = false;
	node->info.redis_errors++;
	pthread_mutex_unlock(&node->mu);
	if (!node->down_logged)
		log_warn("cluster redis=down node=%s addr=%s:%u why=%s action=fallback pct=%" PRIu32,
			 node->p.node, node->p.redis_host, node->p.redis_port, why, node->p.fallback_pct);
	node->down_logged = true;
}

static uint64_t demand_of(struct clu_node *node, const char *key)
{
	struct clu_entry *e = clu_table_find(node->cur, key);   /* our own table: no RCU read */
	return e ? __atomic_load_n(&e->demand_us, __ATOMIC_RELAXED) : 0;
}

static uint32_t open_of(struct clu_node *node, const char *key, uint32_t *per_lcore)
{
	struct clu_entry *e = clu_table_find(node->cur, key);
	uint32_t sum = 0;
	for (unsigned i = 0; e && i < CLU_LCORES; i++) {
		uint32_t v = __atomic_load_n(&e->open[i], __ATOMIC_RELAXED);
		if (per_lcore)
			per_lcore[i] = v;
		sum += v;
	}
	return sum;
}

static void members_add(void *arg, const char *name)
{
	struct clu_node_info *in = arg;
	for (unsigned i = 0; i < in->n_nodes; i++)
		if (strcmp(in->nodes[i], name) == 0)
			return;
	if (in->n_nodes < sizeof(in->nodes) / sizeof(in->nodes[0]))
		snprintf(in->nodes[in->n_nodes++], CLU_NODE_MAX + 1, "%s", name);
}

static int lease_all(struct clu_node *node, uint64_t now_us, struct clu_node_info *seen)
{
	bool read_members = node->info.rounds % MEMBERS_EVERY == 0;
	for (unsigned i = 0; i < node->n; i++) {
		struct clu_dest *d = &node->d[i];
		uint64_t dem = demand_of(node, d->lim.key);
		bool want = dem && now_us < dem + (uint64_t)node->p.idle_return_ms * 1000;
		if (want)
			d->last_want_us = now_us;
		if (!want && d->mode == CLU_M_IDLE)
			continue;     /* nothing held, nothing wanted */
		struct clu_lease_reply r;
		if (clu_redis_lease(node->rc, node->p.prefix, d->lim.key, node->p.node, node->p.lease_ms,
				    want, (uint64_t)d->lim.rate * 1000, d->lim.conns,
				    open_of(node, d->lim.key, NULL), &r) < 0)
			return -EIO;
		d->mode = want ? CLU_M_LEASED : CLU_M_IDLE;
		d->g = (struct clu_grant){ r.rate_mps, r.conns, r.nodes };
		d->valid_until_us = now_us + (uint64_t)node->p.lease_ms * 1000;
		if (read_members && want &&
		    clu_redis_lease_members(node->rc, node->p.prefix, d->lim.key, members_add, seen) < 0)
			return -EIO;
	}
	return 0;
}

/* Without Redis: keep what is still leased, then fall back. Idle destinations fall back too:
 * a node must be able to start sending while Redis is away. */
static void fallback_all(struct clu_node *node, uint64_t now_us)
{
	for (unsigned i = 0; i < node->n; i++) {
		struct clu_dest *d = &node->d[i];
		if (d->mode == CLU_M_LEASED && now_us < d->valid_until_us)
			continue;
		if (d->mode != CLU_M_FALLBACK)
			node->info.fallbacks++;
		d->mode = CLU_M_FALLBACK;
		clu_grant_fallback(&d->lim, node->p.fallback_pct, &d->g);
	}
}

/* ---- publication ---- */

static void table_free_rcu(struct rcu_head *h)
{
	clu_table_free(caa_container_of(h, struct clu_table, rcu));
}

static bool entry_same(const struct clu_entry *a, const struct clu_entry *b)
{
	return strcmp(a->key, b->key) == 0 && a->limited_rate == b->limited_rate &&
	       a->limited_conns == b->limited_conns && a->g.rate_mps == b->g.rate_mps &&
	       a->g.conns == b->g.conns && a->g.nodes == b->g.nodes && a->mode == b->mode &&
	       a->suspended_until_ms == b->suspended_until_ms && a->bo_factor == b->bo_factor &&
	       a->dynamic == b->dynamic;
}

static bool table_same(const struct clu_table *a, const struct clu_table *b)
{
	if (!a || !b || a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (!entry_same(&a->e[i], &b->e[i]))
			return false;
	return true;
}

static struct clu_entry *entry_in(struct clu_table *t, const char *key)
{
	for (unsigned k = 0; k < t->n; k++)
		if (strcasecmp(t->e[k].key, key) == 0)
			return &t->e[k];
	return NULL;
}

/* Destinations cut cluster-wide that this node does not manage: unlimited entries that only
 * carry the factor (the lcores adopt it). */
static void bo_entries(struct clu_node *node, struct clu_table *t, uint64_t wall_ms)
{
	for (unsigned i = 0; i < node->n_bo; i++) {
		uint32_t f = clu_bo_factor(node, node->bo[i].key, wall_ms);
		if (f >= 1000 || entry_in(t, node->bo[i].key))
			continue;
		struct clu_entry *e = &t->e[t->n++];
		snprintf(e->key, sizeof(e->key), "%s", node->bo[i].key);
		e->mode = CLU_M_LEASED;
		e->bo_factor = f;
	}
}

static void publish(struct clu_node *node, uint64_t wall_ms)
{
	pthread_mutex_lock(&node->mu);
	struct clu_table *t = clu_table_new(node->n + node->n_susp + node->n_bo);
	if (!t) {
		pthread_mutex_unlock(&node->mu);
		return;
	}
	for (unsigned i = 0; i < node->n; i++) {
		struct clu_entry *e = &t->e[t->n++];
		const struct clu_dest *d = &node->d[i];
		snprintf(e->key, sizeof(e->key), "%s", d->lim.key);
		e->limited_rate = d->lim.rate != 0;
		e->limited_conns = d->lim.conns != 0;
		e->g = d->g;
		e->mode = d->mode;
		e->bo_factor = clu_bo_factor(node, d->lim.key, wall_ms);
		e->dynamic = d->dynamic;
	}
	for (unsigned i = 0; i < node->n_susp; i++) {
		const struct clu_susp *s = &node->susp[i];
		bool set = s->pending == SP_SET || (s->pending == SP_NONE && s->until_ms);
		if (!set || (s->until_ms != UINT64_MAX && s->until_ms <= wall_ms))
			continue;
		struct clu_entry *e = entry_in(t, s->key);
		if (!e) {   /* a suspended destination without limits */
			e = &t->e[t->n++];
			snprintf(e->key, sizeof(e->key), "%s", s->key);
			e->mode = CLU_M_LEASED;
			e->bo_factor = clu_bo_factor(node, s->key, wall_ms);
		}
		e->suspended_until_ms = s->until_ms;
		t->n_susp++;
	}
	pthread_mutex_unlock(&node->mu);
	bo_entries(node, t, wall_ms);
	clu_table_sort(t);
	struct clu_table *old = node->cur;
	if (table_same(old, t)) {
		clu_table_free(t);
		return;
	}
	for (unsigned i = 0; i < t->n; i++) {
		t->e[i].demand_us = demand_of(node, t->e[i].key);
		open_of(node, t->e[i].key, t->e[i].open);
	}
	t->version = ++node->version;
	rcu_assign_pointer(node->cur, t);
	pthread_mutex_lock(&node->mu);
	node->info.published++;
	pthread_mutex_unlock(&node->mu);
	if (old)
		call_rcu(&old->rcu, table_free_rcu);
}

void clu_node_step(struct clu_node *node, uint64_t now_us, uint64_t wall_ms)
{
	clu_keys_drain(node, now_us);
	clu_keys_expire(node, now_us);
	if (!node->rc && now_us >= node->next_connect_us) {
		node->rc = clu_redis_connect(node->p.redis_host, node->p.redis_port, node->p.io_timeout_ms);
		if (!node->rc)
			redis_down(node, now_us, "connect");
		else
			node->susp_ver = node->bo_ver = 0;   /* re-read everything after a reconnection */
	}
	struct clu_node_info seen = { 0 };
	if (node->rc) {
		int rc = susp_push(node);
		if (rc == 0)
			rc = susp_poll(node);
		if (rc == 0)
			rc = clu_bo_round(node, wall_ms);
		if (rc == 0)
			rc = lease_all(node, now_us, &seen);
		if (rc < 0)
			redis_down(node, now_us, "io");
		else if (node->down_logged || node->info.rounds == 0) {
			node->down_logged = false;
			log_info("cluster redis=up node=%s addr=%s:%u", node->p.node, node->p.redis_host,
				 node->p.redis_port);
		}
	}
	if (!node->rc) {
		clu_bo_round(node, wall_ms);   /* drops the queued cuts */
		fallback_all(node, now_us);
	}
	pthread_mutex_lock(&node->mu);
	node->info.redis_up = node->rc != NULL;
	if (node->rc && node->info.rounds % MEMBERS_EVERY == 0) {
		node->info.n_nodes = seen.n_nodes;
		memcpy(node->info.nodes, seen.nodes, sizeof(seen.nodes));
	}
	node->info.rounds++;
	pthread_mutex_unlock(&node->mu);
	publish(node, wall_ms);
}

/* ---- the cluster thread ---- */

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void *node_thread(void *arg)
{
	struct clu_node *node = arg;
	rcu_register_thread();
	rcu_thread_offline();      /* a writer only: it never reads under RCU */
	pthread_mutex_lock(&node->mu);
	while (!node->stop) {
		pthread_mutex_unlock(&node->mu);
		clu_node_step(node, clock_us(CLOCK_MONOTONIC), clock_us(CLOCK_REALTIME) / 1000);
		pthread_mutex_lock(&node->mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)node->p.renew_ms * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		if (!node->stop)
			pthread_cond_timedwait(&node->cv, &node->mu, &ts);
	}
	pthread_mutex_unlock(&node->mu);
	rcu_thread_online();
	rcu_unregister_thread();
	return NULL;
}

int clu_node_start(struct clu_node *node)
{
	node->stop = false;
	int rc = pthread_create(&node->th, NULL, node_thread, node);
	if (rc)
		return -rc;
	pthread_setname_np(node->th, "dpm-cluster");
	node->running = true;
	return 0;
}

void clu_node_stop(struct clu_node *node)
{
	if (!node->running)
		return;
	pthread_mutex_lock(&node->mu);
	node->stop = true;
	pthread_cond_signal(&node->cv);
	pthread_mutex_unlock(&node->mu);
	pthread_join(node->th, NULL);
	node->running = false;
}

void clu_node_free(struct clu_node *node)
{
	if (!node)
		return;
	clu_node_stop(node);
	if (node->rc) {
		struct clu_lease_reply r;
		for (unsigned i = 0; i < node->n; i++)
			if (node->d[i].mode == CLU_M_LEASED &&
			    clu_redis_lease(node->rc, node->p.prefix, node->d[i].lim.key, node->p.node,
					    node->p.lease_ms, false, 0, 0, 0, &r) < 0)
				break;
		redisFree(node->rc);
	}
	/* The caller guarantees no reader remains (workers stopped); callbacks queued by
	 * publish() may still reference older tables: wait for them. */
	rcu_barrier();
	clu_table_free(node->cur);
	pthread_cond_destroy(&node->cv);
	pthread_mutex_destroy(&node->mu);
	free(node->d);
	free(node->bo);
	free(node->bo_old);
	free(node->cuts);
	free(node);
}
