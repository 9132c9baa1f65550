/* SPDX-License-Identifier: MIT */
/*
 * snapshot-t.h: types of configuration publication. A snapshot is one immutable, validated
 * configuration plus the runtime objects built from it (TLS contexts, DKIM keyrings, route
 * tables). The control plane publishes a new snapshot with rcu_assign_pointer; worker lcores
 * read the current one with rcu_dereference once per loop turn under urcu-qsbr; the previous
 * snapshot is released by call_rcu after every worker has passed a quiescent state.
 */
#ifndef DPMAIL_SNAPSHOT_T_H
#define DPMAIL_SNAPSHOT_T_H

#include <stddef.h>
#include <stdint.h>

#include <urcu-qsbr.h>

struct cfg; /* control/config/cfg-t.h */
struct cfg_snapshot;

/* One object owned by a snapshot and released after the grace period that retires it. */
struct cfg_snap_dtor {
	struct cfg_snap_dtor *next;
	void (*fn)(void *obj);
	void *obj;
	const char *what; /* for debug logs: "ssl_ctx", "dkim keyring" */
};

#define CFG_SNAP_SLOTS 16 /* runtime objects per snapshot, by enum cfg_snap_slot */

/*
 * A module's runtime object built from each configuration (TLS contexts, DKIM keyring, relay
 * policy...), on the control thread before the snapshot is published. build returns the object
 * (stored in s->slot[its index], released by release after the snapshot's grace period), or
 * NULL: with a message in err the snapshot is refused (start-up fails, a reload is refused and
 * the running snapshot stays); with err left empty the slot stays NULL.
 */
struct cfg_builder {
	const char *name;
	void *(*build)(const struct cfg_snapshot *s, char *err, size_t errlen);
	void (*release)(void *obj);
};

#define CFG_SNAP_LIVE   0x5a5a1157a11e5a5aull
#define CFG_SNAP_POISON 0xdeadbeefdeadbeefull

struct cfg_snapshot {
	uint64_t canary;           /* CFG_SNAP_LIVE while readable; poisoned when freed */
	uint64_t version;          /* assigned by cfg_publish; goes into every accounting record */
	uint64_t published_us;     /* wall clock (CLOCK_REALTIME, microseconds) at publication */
	struct cfg *cfg;           /* owned; released by cfg_dtor */
	void (*cfg_dtor)(struct cfg *cfg);
	struct cfg_snap_dtor *dtors; /* released in reverse order of registration */
	void *slot[CFG_SNAP_SLOTS];  /* modules' runtime objects (cfg_snapshot_build) */
	struct cfg_pub *pub;       /* set at publication: counts the retirement */
	struct rcu_head rcu;
};

/*
 * The publication point. One per daemon, owned by the control plane; worker lcores keep a
 * pointer to it in their context. Only the control thread writes `cur`.
 */
struct cfg_pub {
	struct cfg_snapshot *cur;  /* RCU-protected */
	uint64_t next_version;
	uint64_t published;        /* snapshots published so far */
	uint64_t retired;          /* snapshots freed after their grace period (atomic) */
};

#endif
