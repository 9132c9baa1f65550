/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c: immutable configuration snapshots and their publication with urcu-qsbr. The
 * writer is the control thread; retirement goes through call_rcu so the control thread never
 * waits for workers (synchronize_rcu would block it for a whole grace period per reload).
 * A freed snapshot is poisoned before free() so a reader that broke the rules reads
 * CFG_SNAP_POISON (and ASan reports the access) instead of plausible data.
 */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct cfg_snapshot *cfg_snapshot_new(struct cfg *cfg, void (*cfg_dtor)(struct cfg *cfg))
{
	struct cfg_snapshot *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->canary = CFG_SNAP_LIVE;
	s->cfg = cfg;
	s->cfg_dtor = cfg_dtor;
	return s;
}

int cfg_snapshot_own(struct cfg_snapshot *s, void (*fn)(void *obj), void *obj, const char *what)
{
	struct cfg_snap_dtor *d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fn = fn;
	d->obj = obj;
	d->what = what;
	d->next = s->dtors; /* push front: release runs in reverse order of registration */
	s->dtors = d;
	return 0;
}

int cfg_snapshot_build(struct cfg_snapshot *s, const struct cfg_builder *builders, size_t n,
		       char *err, size_t errlen)
{
	for (size_t i = 0; i < n && i < CFG_SNAP_SLOTS; i++) {
		if (!builders[i].build)
			continue;
		char why[512] = "";
		void *obj = builders[i].build(s, why, sizeof(why));
		if (!obj && why[0]) {
			snprintf(err, errlen, "%s: %s", builders[i].name, why);
			return -1;
		}
		if (!obj)
			continue;
		if (cfg_snapshot_own(s, builders[i].release, obj, builders[i].name) < 0) {
			builders[i].release(obj);
			snprintf(err, errlen, "%s: out of memory", builders[i].name);
			return -1;
		}
		s->slot[i] = obj;
	}
	return 0;
}

void cfg_snapshot_free(struct cfg_snapshot *s)
{
	if (!s)
		return;
	if (s->canary != CFG_SNAP_LIVE)
		log_err("cfg snapshot=%p version=%llu double free or corruption canary=%llx",
			(void *)s, (unsigned long long)s->version, (unsigned long long)s->canary);
	struct cfg_snap_dtor *d = s->dtors;
	while (d) {
		struct cfg_snap_dtor *next = d->next;
		d->fn(d->obj);
		free(d);
		d = next;
	}
	if (s->cfg && s->cfg_dtor)
		s->cfg_dtor(s->cfg);
	memset(s, 0xef, sizeof(*s));
	s->canary = CFG_SNAP_POISON;
	free(s);
}

/* call_rcu callback: the grace period that retired this snapshot is over. */
static void snapshot_retire_cb(struct rcu_head *head)
{
	struct cfg_snapshot *s = caa_container_of(head, struct cfg_snapshot, rcu);
	struct cfg_pub *p = s->pub;
	cfg_snapshot_free(s);
	__atomic_add_fetch(&p->retired, 1, __ATOMIC_RELAXED);
}

void cfg_pub_init(struct cfg_pub *p)
{
	memset(p, 0, sizeof(*p));
	p->next_version = 1;
}

uint64_t cfg_publish(struct cfg_pub *p, struct cfg_snapshot *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->version = p->next_version++;
	s->published_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	struct cfg_snapshot *old = p->cur;
	rcu_assign_pointer(p->cur, s);
	s->pub = p;
	p->published++;
	if (old)
		call_rcu(&old->rcu, snapshot_retire_cb);
	return s->version;
}

void cfg_pub_fini(struct cfg_pub *p)
{
	struct cfg_snapshot *old = p->cur;
	rcu_assign_pointer(p->cur, NULL);
	if (old)
		call_rcu(&old->rcu, snapshot_retire_cb);
	/* Waits for the callbacks queued so far: after it p may go away. */
	rcu_barrier();
}

uint64_t cfg_pub_retired(const struct cfg_pub *p)
{
	return __atomic_load_n(&p->retired, __ATOMIC_RELAXED);
}
