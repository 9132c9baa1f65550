/* SPDX-License-Identifier: MIT */
/*
 * dp-t.h: types of the dataplane runtime: the per-lcore context (struct dp_lcore), its poll
 * hooks, the module table that plugs protocol modules into every worker, and the process-wide
 * runtime (struct dp_rt) owned by the main lcore.
 */
#ifndef DPMAIL_DP_T_H
#define DPMAIL_DP_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "net/net-t.h"

struct cfg;
struct cfg_pub;
struct ctl_stat_field;
struct ctl_dns;
struct cfg_snapshot;
struct dp_lcore;
struct rte_mempool;
struct rte_ring;
struct rte_mbuf;
struct dp_rxintr;

#define DP_POLL_MAX   16
#define DP_MODULE_MAX 16
#define DP_STATS_MAX  8
#define DP_BURST_MAX  64

/*
 * Per-turn work of a module on a worker lcore (timers, completions, retransmissions...).
 * now_us is the turn's monotonic time. Returns how much work was done: 0 lets the loop
 * consider the turn idle (and sleep idle_sleep_us), anything else keeps it spinning.
 */
typedef int (*dp_poll_fn)(void *ctx, uint64_t now_us);

/*
 * Idle wait of a module that can block on its own event source (the posix backend's epoll):
 * called instead of the loop's idle sleep, outside the snapshot (RCU offline), with the most it
 * may wait; it must return by then, or earlier when its events are ready (the next turn's poll
 * hooks handle them). Runs no callbacks. Returns > 0 when an event (or work found meanwhile)
 * ended the wait, 0 when it ran out max_us: the loop's idle policy (struct dp_idle) deepens
 * only over waits that ran out.
 */
typedef int (*dp_idle_fn)(void *ctx, uint32_t max_us);

struct dp_poll {
	dp_poll_fn fn;
	void *ctx;
	const char *name;   /* the module that added it (dp_modules[].name), or "control" */
	uint64_t busy;      /* turns in which it reported work */
};

/*
 * A module plugged into every worker (TCP, SMTP, spool...): lcore_init runs on the main lcore
 * before the workers start (allocation allowed; register L4 handlers with ip_register_l4 and
 * poll hooks with dp_lcore_add_poll); it returns the module's per-lcore state (NULL with *err
 * = -errno on failure, which stops the start-up). lcore_fini runs after the workers stopped.
 */
struct dp_module {
	const char *name;
	void *(*lcore_init)(struct dp_lcore *lc, const struct cfg *c, int *err);
	void (*lcore_fini)(struct dp_lcore *lc, void *state);
};

/* Counters of a worker's RX interrupt wait (dp_rxintr.c), exported as dp_rx_intr_*. */
struct dp_rxintr_stats {
	uint64_t waits;       /* idle turns that blocked in the interrupt wait */
	uint64_t wakeups;     /* ... ended by an event: a frame or a module's wake-up fd */
	uint64_t timeouts;    /* ... that ran out the idle budget */
	uint64_t rechecks;    /* waits skipped: the re-check after arming found frames */
	uint64_t arm_failed;  /* the PMD refused to arm: slept the budget instead */
	uint64_t backoffs;    /* idle turns soon after work: the timed sleep, not armed */
};

/*
 * The loop's idle policy (dp_lcore.c), one rule for every idle wait (the posix backend's epoll,
 * the RX interrupt wait, the timed sleep): a wait lasts idle_sleep_us; after DP_IDLE_DEEP_AFTER
 * waits in a row that ran out with no work between, each doubles up to max_us (only with an
 * idle_wait that an event can end: a plain sleep never deepens). gaps[] counts idle
 * stretches (first idle turn -> next busy turn) by length: < 16 us, < 32, ... , >= 1024 us.
 */
#define DP_IDLE_DEEP_AFTER 16
#define DP_IDLE_GAP_BUCKETS 8
struct dp_idle {
	uint64_t last_turn;               /* lc->turns of the last wait (a gap: busy turns between) */
	uint32_t streak;                  /* idle turns in a row whose wait ran out, no work between */
	uint32_t cur_us;                  /* this stretch's budget */
	uint32_t max_us;                  /* dataplane.idle_max_wait_us */
	uint64_t since_us;                /* start of the current idle stretch (0: busy) */
	uint64_t gaps[DP_IDLE_GAP_BUCKETS];
};

/*
 * Busy-turn attribution: per source of work, the loop turns in which that source reported work
 * (a turn may count under several). With turns - idle_turns (busy turns) they show which part
 * keeps the loop from idling; a source that counts many turns per message while nothing
 * progresses is a poll that reports "nothing to do" as work. Exported in the stats line
 * (busy_by=) and as loop_busy_<name>_turns_total (dp_lcore.c names them).
 */
enum dp_busy_src {
	DP_BUSY_RX,          /* frames received (DPDK) */
	DP_BUSY_NET,         /* net timers: retransmits, ARP, TIME_WAIT (DPDK) */
	DP_BUSY_TX,          /* frames sent by the turn's flush (DPDK) */
	DP_BUSY_SOCK,        /* posix backend: socket events */
	DP_BUSY_SMTP,        /* inbound sessions: DKIM batch signed, ticks */
	DP_BUSY_DELIVERY,    /* delivery engine: jobs resolved, connections started */
	DP_BUSY_SPOOL,       /* spool: completions reaped, reader pieces handed out */
	DP_BUSY_RUNNABLE,    /* after the turn: spool stage or ready list, or DKIM batch, pending */
	DP_BUSY_N
};

/* One worker lcore's whole context: cache-aligned, allocated on its NUMA socket, touched only
 * by that lcore once it runs (the main lcore reads counters). */
struct dp_lcore {
	struct net_if nif;                /* first: the hot path */
	unsigned lcore_id;
	unsigned socket_id;
	uint16_t index;                   /* 0..n_workers-1 == queue id */
	uint16_t burst;
	uint32_t idle_sleep_us;
	bool has_port;                    /* false on the posix backend: no rx/tx, poll hooks only */
	const atomic_bool *stop;          /* set by the main lcore to end the loop */
	struct rte_mempool *pool;
	struct rte_ring *neigh;           /* neighbours learnt by peer workers (see net.h) */
	uint64_t turns, idle_turns;       /* loop statistics */
	uint64_t busy[DP_BUSY_N];         /* turns in which each source reported work */
	unsigned n_poll;
	struct dp_poll poll[DP_POLL_MAX];
	const char *init_module;          /* set by dp_run.c around a module's lcore_init */
	dp_idle_fn idle_wait;             /* NULL: idle turns sleep idle_sleep_us */
	void *idle_ctx;
	struct dp_idle idle;              /* how deep the next idle wait goes */
	struct dp_rxintr *rxi;            /* RX interrupt idle wait (dp_rxintr.c); NULL: none */
	/* Frames the RX interrupt wait found when it re-checked the queue after arming: the next
	 * turn takes them before its rx_burst. */
	uint16_t n_stash;
	struct rte_mbuf *rx_stash[DP_BURST_MAX];
	void *mod_state[DP_MODULE_MAX];   /* per dp_modules[] index */
	/* Modules' counter structs, exported by the control plane (dp_lcore_add_stats). */
	unsigned n_stats;
	struct dp_stat_block {
		const struct ctl_stat_field *fields;
		size_t n;
		const void *base;
	} stats[DP_STATS_MAX];
	/* Configuration snapshots (control/snapshot): the loop reads the current one once per
	 * turn into snap (valid for that turn only) and reports a quiescent state after it. */
	struct cfg_pub *pub;              /* NULL: no control plane (unit tests) */
	struct ctl_dns *dns;              /* the control plane's resolver (NULL: none); worker slot = index */
	const struct cfg_snapshot *snap;
} __rte_cache_aligned;

/* The process-wide runtime, owned by the main lcore. */
struct dp_rt {
	const struct cfg *cfg;
	uint16_t port_id;
	bool port_started;
	uint16_t n_workers;
	atomic_bool stop;
	struct dp_lcore *lc[RTE_MAX_LCORE];   /* by worker index */
};

#endif
