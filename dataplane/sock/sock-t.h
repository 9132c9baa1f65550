/* SPDX-License-Identifier: MIT */
/*
 * sock-t.h: types of the posix backend of the conn API (kernel sockets driven by epoll).
 * One struct sock_net per lcore thread; see sock.h for the contract.
 */
#ifndef DPMAIL_SOCK_T_H
#define DPMAIL_SOCK_T_H

#include <stdint.h>

#include "conn/conn-t.h"

struct sock_net;

/*
 * Limits of one sock_net. Buffers are fixed-size blocks from a per-net pool: a connection holds
 * a send block only while it has unsent data and a receive block only while the upper layer
 * leaves bytes unconsumed, so idle connections hold no buffer memory at all.
 */
struct sock_tunables {
	uint32_t max_conns;          /* open connections (accepted + active); more are refused */
	uint32_t buf_bytes;          /* size of one buffer block = per-conn send queue and the
				      * most unconsumed input a conn can hold */
	uint32_t max_bufs;           /* blocks in the pool (0 = 2 x max_conns); beyond: NOMEM */
	uint32_t listen_backlog;     /* listen(2) backlog */
	uint32_t max_events;         /* epoll events handled per sock_net_poll() */
	uint32_t accepts_per_event;  /* accept4() calls per readable listener event */
	uint32_t connect_timeout_ms; /* active open gives up: on_closed(TIMEOUT) */
	uint32_t linger_ms;          /* after a graceful close, input is drained and discarded for
				      * at most this long so the kernel sends FIN rather than RST */
	uint32_t batch_min;          /* a flush of at least this many connections' send queues
				      * goes to the kernel as one io_uring submission (IORING_OP_SEND
				      * each) instead of one send(2) per connection; 0 = never */
	uint8_t reuseport;           /* SO_REUSEPORT on listeners: one listener per lcore thread,
				      * the kernel spreads connections (software RSS) */
	uint8_t nodelay;             /* TCP_NODELAY: we batch ourselves (flush / end of turn) */
};

/* Counters of one sock_net (read with sock_net_stats; single-threaded, no atomics). */
struct sock_stats {
	uint64_t accepted;
	uint64_t accept_refused;     /* over max_conns or refused by the accept callback */
	uint64_t connects;           /* active opens started */
	uint64_t connected;          /* active opens completed */
	uint64_t closed[CONN_CLOSED__MAX];
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t reads;              /* read(2) calls that returned data */
	uint64_t writes;             /* sends that moved data (send(2) or io_uring) */
	uint64_t batches;            /* io_uring submissions of batched sends */
	uint64_t batched_sends;      /* sends that went in one of them */
	uint64_t nomem;              /* buffer pool or conn table exhausted */
	uint32_t conns_open;
	uint32_t batch_on;           /* 1 while sends are batched through io_uring */
	uint32_t bufs_in_use;
	uint32_t bufs_allocated;
};

#endif
