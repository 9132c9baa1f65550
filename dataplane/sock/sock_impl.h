/* SPDX-License-Identifier: MIT */
/*
 * sock_impl.h: private to dataplane/sock (the net, the conn, the buffer pool). Nothing outside
 * this directory includes it.
 */
#ifndef DPMAIL_SOCK_IMPL_H
#define DPMAIL_SOCK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "sock/sock.h"

/* One fixed-size buffer block: bytes [head, tail) are live. */
struct sock_buf {
	struct sock_buf *next_free;
	uint32_t head;
	uint32_t tail;
	uint8_t data[];
};

enum sock_ep_kind { SOCK_EP_LISTENER = 1, SOCK_EP_CONN, SOCK_EP_WAKE };

/* What epoll's data pointer designates. */
struct sock_ep {
	enum sock_ep_kind kind;
};

enum sock_state {
	SOCK_S_CONNECTING = 0, /* active open in progress */
	SOCK_S_ESTABLISHED,    /* data may flow (possibly half-closed either way) */
	SOCK_S_CLOSING,        /* close() asked: draining the send queue, then FIN */
	SOCK_S_LINGER,         /* upper layer told; discarding input until EOF or deadline */
	SOCK_S_DEAD,           /* fd closed; waiting on the graveyard to be freed */
	SOCK_S__MAX
};

/* Deferred work bits, run at the start of the next sock_net_poll(). */
enum {
	SOCK_D_RESUME = 1u << 0,   /* resume_read(): offer buffered input again */
	SOCK_D_FAIL = 1u << 1,     /* report fail_reason */
	SOCK_D_SENDABLE = 1u << 2, /* a buffer block became available for a starved sender */
	SOCK_D_PROGRESS = 1u << 3, /* finish close/shutdown after a flush from outside poll */
};

struct sock_conn {
	struct conn base;              /* first: the API's view */
	struct sock_ep ep;
	struct sock_net *net;
	int fd;
	enum sock_state state;
	uint32_t ev_mask;              /* epoll interest currently registered */
	bool ev_registered;
	bool rd_paused;                /* upper layer left bytes unconsumed */
	bool eof_seen;                 /* read(2) returned 0 */
	bool eof_delivered;
	bool shut_req;                 /* shutdown() asked */
	bool shut_done;                /* FIN handed to the kernel */
	bool tx_blocked;               /* kernel send buffer full: waiting for EPOLLOUT */
	bool flush_req;                /* conn_flush() asked: written at the next flush point */
	bool want_sendable;            /* a conn_send() came up short */
	bool notified;                 /* on_closed() already delivered */
	enum conn_close_reason fail_reason;
	uint32_t deferred;             /* SOCK_D_* */
	uint64_t deadline_us;          /* connect or linger deadline; 0 = armed by the next poll */
	uint32_t arm_ms;               /* ...to its now_us + arm_ms (connect() knows no time) */
	struct sock_buf *rx;           /* unconsumed input (NULL when none) */
	struct sock_buf *tx;           /* unsent output (NULL when none) */
	TAILQ_ENTRY(sock_conn) all_link;
	TAILQ_ENTRY(sock_conn) dirty_link;
	TAILQ_ENTRY(sock_conn) defer_link;
	TAILQ_ENTRY(sock_conn) timed_link;
	TAILQ_ENTRY(sock_conn) starved_link;
	bool in_dirty, in_defer, in_timed, in_starved;
};

TAILQ_HEAD(sock_conn_list, sock_conn);

struct sock_listener {
	struct sock_ep ep;
	int fd;
	conn_accept_fn accept;
	void *accept_ctx;
};

#define SOCK_MAX_LISTENERS 16

struct sock_net {
	struct sock_tunables t;
	int epfd;
	uint64_t now_us;
	uint64_t next_id;
	struct sock_stats st;
	struct sock_conn_list all;     /* every conn not yet dead */
	struct sock_conn_list dirty;   /* queued output not yet written this turn */
	struct sock_conn_list defer;   /* deferred work for the next turn */
	struct sock_conn_list timed;   /* conns with a deadline */
	struct sock_conn_list starved; /* senders waiting for a buffer block */
	struct sock_conn_list grave;   /* dead, freed at the end of the turn (uses all_link) */
	struct sock_conn *free_conns;  /* recycled conn structs (chained through base.handler_ctx) */
	struct sock_buf *free_bufs;
	uint8_t *scratch;              /* buf_bytes: reads land here when a conn holds no rx block */
	struct epoll_event *events;
	int events_ready;              /* gathered by sock_net_wait(), handled by the next poll */
	bool flush_pending;            /* some conn on the dirty list has flush_req */
	struct sock_batch *batch;      /* io_uring of batched sends (NULL: send(2) per conn) */
	bool skip_epoll;               /* the next poll with timeout 0 skips its epoll_wait (see
				      * sock_net_poll) */
	struct sock_ep wake_ep;        /* sock_net_watch_wakeup() */
	struct sock_listener listeners[SOCK_MAX_LISTENERS];
	unsigned nlisteners;
};

/* sock_batch.c: writing the send queues of many conns at once */
int sock_batch_create(struct sock_net *n);
void sock_batch_free(struct sock_net *n);
void sock_net_write_dirty(struct sock_net *n, bool only_flush_req, bool callbacks);

/* sock_net.c: the buffer pool */
struct sock_buf *sock_buf_get(struct sock_net *n);
void sock_buf_put(struct sock_net *n, struct sock_buf *b);

/* sock_net.c */
void sock_net_connected(struct sock_conn *sc);

/* sock_conn.c */
extern const struct conn_ops sock_conn_ops;
struct sock_conn *sock_conn_new(struct sock_net *n, int fd, const struct conn_handler *h,
				void *ctx);
void sock_conn_event(struct sock_conn *sc, uint32_t events);
void sock_conn_run_deferred(struct sock_conn *sc);
void sock_conn_deadline(struct sock_conn *sc);
int sock_conn_write(struct sock_conn *sc);
int sock_conn_sent(struct sock_conn *sc, long res);
void sock_conn_wrote(struct sock_conn *sc, int werr, bool callbacks);
bool sock_conn_has_output(const struct sock_conn *sc);
void sock_conn_defer(struct sock_conn *sc, uint32_t what);
void sock_conn_fail(struct sock_conn *sc, enum conn_close_reason why);
enum conn_close_reason sock_errno_reason(int err);
void sock_conn_interest(struct sock_conn *sc);
void sock_conn_enter(struct sock_conn *sc, enum sock_state next);

static inline struct sock_conn *sock_conn_of(struct conn *c)
{
	return (struct sock_conn *)c;
}

#endif
