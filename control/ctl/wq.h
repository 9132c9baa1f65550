/* SPDX-License-Identifier: MIT */
/*
 * wq.h: the control plane asking every worker lcore something and collecting the answers,
 * for admin commands that need worker state (queue list/flush, suspend, conns...). Requests
 * and replies travel on per-worker SPSC rings; a worker serves its requests once per loop turn
 * (ctl_wq_serve) without blocking, by calling the handler registered for the request's kind
 * with its own per-worker context; the control thread gets every reply (or a timeout) in one
 * callback and typically answers an admin request it had left pending (CTL_ASYNC).
 *
 * Payloads are binary and small (<= CTL_WQ_MSG_MAX): workers copy, the control plane formats.
 */
#ifndef DPMAIL_CTL_WQ_H
#define DPMAIL_CTL_WQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_WQ_MSG_MAX   4096
#define CTL_WQ_MAX_SLOTS 128
#define CTL_WQ_MAX_KINDS 32
#define CTL_WQ_PENDING   64

struct ctl_wq;

/*
 * Worker-side handler for one request kind: reads req[0..len), writes at most cap bytes of
 * reply and returns its length. Runs on the worker lcore with that worker's ctx; must not block.
 */
typedef size_t ctl_wq_handler_fn(uint16_t kind, const void *req, size_t len, void *reply,
				 size_t cap, void *worker_ctx);

/*
 * Control-side completion: replies[i]/lens[i] of the n workers that answered (slot order;
 * NULL/0 for a worker that did not answer in time; complete says whether all did). The
 * buffers are valid during the call only.
 */
typedef void ctl_wq_done_fn(void *arg, const void *const *replies, const size_t *lens,
			    unsigned n, bool complete);

/* nslots workers. NULL on ENOMEM. */
struct ctl_wq *ctl_wq_new(unsigned nslots);
void ctl_wq_free(struct ctl_wq *q);

/* Start-up (control thread, before workers run): the handler of kind on worker slot. */
int ctl_wq_set_handler(struct ctl_wq *q, uint16_t kind, unsigned slot, ctl_wq_handler_fn *fn,
		       void *worker_ctx);

/* Worker slot, once per loop turn: serves queued requests. Returns how many. */
unsigned ctl_wq_serve(struct ctl_wq *q, unsigned slot);

/*
 * Control thread: sends (kind, req) to every worker; done runs from ctl_wq_poll when all
 * replied or timeout_us passed. Returns 0, -EBUSY (too many pending), -EMSGSIZE, -ENOBUFS
 * (a worker's ring is full: nothing was sent to any worker).
 */
int ctl_wq_broadcast(struct ctl_wq *q, uint16_t kind, const void *req, size_t len,
		     uint64_t now_us, uint64_t timeout_us, ctl_wq_done_fn *done, void *arg);

/* True while a request waits for replies (the control loop then polls often). */
bool ctl_wq_busy(const struct ctl_wq *q);

/* Control loop, every turn: collects replies, completes finished or timed-out requests. */
void ctl_wq_poll(struct ctl_wq *q, uint64_t now_us);

#endif
