/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h: building, publishing and reading configuration snapshots (urcu-qsbr).
 *
 * Writer side (control thread only, which must be a registered RCU thread because call_rcu
 * needs one): cfg_snapshot_new(), cfg_snapshot_own() for each runtime object, cfg_publish().
 * Reader side (worker lcores, each rcu_register_thread()ed): once per loop turn
 *     const struct cfg_snapshot *s = cfg_current(pub);   ... use s for the whole turn ...
 *     rcu_quiescent_state();                              at the end of the turn
 * and rcu_thread_offline()/rcu_thread_online() around anything that blocks. A reader must not
 * keep `s` (or anything reached from it) across a quiescent state.
 */
#ifndef DPMAIL_SNAPSHOT_H
#define DPMAIL_SNAPSHOT_H

#include <stdbool.h>

#include "snapshot/snapshot-t.h"

/*
 * A new unpublished snapshot that owns cfg (may be NULL in tests). cfg_dtor releases cfg after
 * the grace period (NULL: not released). Returns NULL with errno=ENOMEM; then cfg still
 * belongs to the caller.
 */
struct cfg_snapshot *cfg_snapshot_new(struct cfg *cfg, void (*cfg_dtor)(struct cfg *cfg));

/*
 * Hands obj to the snapshot: fn(obj) runs when the snapshot is freed (after the grace period
 * that retires it, on the call_rcu thread, or in cfg_snapshot_free for an unpublished one).
 * Destructors run in reverse order of registration, before cfg_dtor. Returns 0, or -ENOMEM
 * (then obj still belongs to the caller).
 */
int cfg_snapshot_own(struct cfg_snapshot *s, void (*fn)(void *obj), void *obj, const char *what);

/*
 * Runs builders[0..n) on s (its cfg set) in order; each object goes to s->slot[i] and is owned
 * by s. Returns 0, or -1 with the failing builder's message in err ("name: reason"); then s
 * still owns what was built and cfg_snapshot_free releases it.
 */
int cfg_snapshot_build(struct cfg_snapshot *s, const struct cfg_builder *builders, size_t n,
		       char *err, size_t errlen);

/* A module's object in s (NULL when its builder produced none). */
static inline void *cfg_snapshot_slot(const struct cfg_snapshot *s, unsigned slot)
{
	return s && slot < CFG_SNAP_SLOTS ? s->slot[slot] : NULL;
}

/* Frees a snapshot that was never published (runs its destructors). NULL is a no-op. */
void cfg_snapshot_free(struct cfg_snapshot *s);

/* Initialises an empty publication point (no current snapshot, version 1 next). */
void cfg_pub_init(struct cfg_pub *p);

/*
 * Publishes s as the current snapshot (the caller hands it over), assigns and returns its
 * version; the previous snapshot is retired with call_rcu. Control thread only.
 */
uint64_t cfg_publish(struct cfg_pub *p, struct cfg_snapshot *s);

/*
 * Retires the current snapshot and waits until every retired snapshot has been freed
 * (rcu_barrier). Control thread only, at shut-down, after workers stopped or went offline.
 */
void cfg_pub_fini(struct cfg_pub *p);

/* Snapshots freed so far (for tests and `status`). */
uint64_t cfg_pub_retired(const struct cfg_pub *p);

/* The current snapshot, or NULL. Reader side: see the header comment for the rules. */
static inline const struct cfg_snapshot *cfg_current(struct cfg_pub *p)
{
	return rcu_dereference(p->cur);
}

/* Version of the current snapshot (0 when none); a relaxed read for status displays. */
static inline uint64_t cfg_current_version(struct cfg_pub *p)
{
	const struct cfg_snapshot *s = rcu_dereference(p->cur);
	return s ? s->version : 0;
}

#endif
