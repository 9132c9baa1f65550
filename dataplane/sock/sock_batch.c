/* SPDX-License-Identifier: MIT */
/*
 * sock_batch.c: writing the send queues of many connections at once. A loop turn ends with a
 * flush of every queue that conn_send() filled (and conn_flush() asked for): with batch_min or
 * more of them, each queue becomes one IORING_OP_SEND (MSG_DONTWAIT: a full kernel buffer
 * completes at once with -EAGAIN, never parks a request) and all go to the kernel in one
 * io_uring_enter; fewer go out with one send(2) each, which is cheaper for one or two (the
 * ring's own per-submission cost; measured in docs/sock.md). The sends complete inside the
 * submission, so the ring is never in the epoll set and nothing is left in flight: the queue
 * blocks stay where they are until their completions were accounted.
 */
#include "sock/sock_impl.h"

#include <errno.h>
#include <stdint.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"

#define SOCK_BATCH_MAX 64 /* sends per submission: the ring's size */

struct sock_batch {
	struct io_uring ring;
};

/* The conns of one flush round and their send results. */
struct sock_round {
	unsigned n;
	struct sock_conn *conns[SOCK_BATCH_MAX];
	int res[SOCK_BATCH_MAX];
};

/* Sets up n's ring when batching is on. A kernel without io_uring (or one that forbids it)
 * leaves batching off: one send(2) per conn, as with batch_min 0. Returns 0 or -ENOMEM. */
int sock_batch_create(struct sock_net *n)
{
	if (n->t.batch_min == 0)
		return 0;
	struct sock_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	struct io_uring_params p = { .flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN };
	int e = io_uring_queue_init_params(SOCK_BATCH_MAX, &b->ring, &p);
	if (e == -EINVAL) { /* a kernel older than 5.19: without the flags */
		p = (struct io_uring_params){ 0 };
		e = io_uring_queue_init_params(SOCK_BATCH_MAX, &b->ring, &p);
	}
	if (e < 0) {
		log_info("event=sock_batch_off err=%d reason=\"no io_uring: one send(2) per connection\"", e);
		free(b);
		return 0;
	}
	n->batch = b;
	return 0;
}

void sock_batch_free(struct sock_net *n)
{
	if (!n->batch)
		return;
	io_uring_queue_exit(&n->batch->ring);
	free(n->batch);
	n->batch = NULL;
}

#define SOCK_NOT_SENT INT32_MIN /* res[] of a queue that did not go in the submission */

/*
 * Hands the round's non-empty queues to the kernel in one submission and records each one's
 * completion in res[] (SOCK_NOT_SENT for the others: send(2) takes over for them). The sends
 * complete inside the submission (MSG_DONTWAIT); the loop below only collects their
 * completions. A submission the kernel did not take whole turns batching off for good: what
 * it left in the ring must never go out later.
 */
static void sock_batch_submit(struct sock_net *n, struct sock_round *rd)
{
	struct io_uring *ring = &n->batch->ring;
	unsigned cnt = 0;
	for (unsigned i = 0; i < rd->n; i++) {
		struct sock_conn *sc = rd->conns[i];
		rd->res[i] = SOCK_NOT_SENT;
		if (!sock_conn_has_output(sc))
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		io_uring_prep_send(sqe, sc->fd, sc->tx->data + sc->tx->head, sc->tx->tail - sc->tx->head,
				   MSG_NOSIGNAL | MSG_DONTWAIT);
		io_uring_sqe_set_data64(sqe, i);
		cnt++;
	}
	int r;
	do
		r = io_uring_submit_and_wait(ring, cnt);
	while (r == -EINTR);
	unsigned taken = r < 0 ? 0 : (unsigned)r, seen = 0;
	while (seen < taken) {
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(ring, &cqe);
		if (e == -EINTR)
			continue;
		if (e < 0)
			break;
		if (cqe->user_data < rd->n)
			rd->res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		seen++;
	}
	if (taken != cnt || seen != taken) {
		log_warn("event=sock_batch_failed err=%d submitted=%u completed=%u of=%u", r < 0 ? r : 0,
			 taken, seen, cnt);
		sock_batch_free(n);
	}
	n->st.batches++;
	n->st.batched_sends += seen;
}

/* Writes the round's queues (batched, or one send(2) each), then runs what follows each. */
static void sock_round_run(struct sock_net *n, struct sock_round *rd, bool callbacks)
{
	unsigned with_output = 0;
	for (unsigned i = 0; i < rd->n; i++)
		with_output += sock_conn_has_output(rd->conns[i]);
	bool batched = n->batch && with_output >= n->t.batch_min;
	if (batched)
		sock_batch_submit(n, rd);
	for (unsigned i = 0; i < rd->n; i++) {
		struct sock_conn *sc = rd->conns[i];
		/* a callback of an earlier conn may have closed or aborted this one; one that queued
		 * more on it appended behind the bytes the kernel took, which head still covers */
		if (sc->state != SOCK_S_ESTABLISHED && sc->state != SOCK_S_CLOSING)
			continue;
		int r = batched && rd->res[i] != SOCK_NOT_SENT ? sock_conn_sent(sc, rd->res[i]) : 1;
		if (r == 1)
			r = sock_conn_write(sc); /* not batched, or a partial send: the rest now */
		sock_conn_wrote(sc, r, callbacks);
	}
}

/*
 * A flush point: writes the send queues of the dirty conns (only those conn_flush() asked for
 * when only_flush_req) and runs what follows each write: callbacks (poll context) or their
 * deferral to the next poll (the idle wait, which runs none). Rounds of up to SOCK_BATCH_MAX:
 * a round is taken off the dirty list before anything can call back, and a conn a callback
 * queues output on again joins a later round (until its kernel buffer is full), as before.
 * Without batching (batch_min 0, or no io_uring) every queue gets its send(2) as before.
 */
void sock_net_write_dirty(struct sock_net *n, bool only_flush_req, bool callbacks)
{
	struct sock_round rd;
	n->flush_pending = false;
	do {
		struct sock_conn *sc, *next;
		rd.n = 0;
		for (sc = TAILQ_FIRST(&n->dirty); sc && rd.n < SOCK_BATCH_MAX; sc = next) {
			next = TAILQ_NEXT(sc, dirty_link);
			if (only_flush_req && !sc->flush_req)
				continue;
			TAILQ_REMOVE(&n->dirty, sc, dirty_link);
			sc->in_dirty = false;
			sc->flush_req = false;
			if (sc->state == SOCK_S_ESTABLISHED || sc->state == SOCK_S_CLOSING)
				rd.conns[rd.n++] = sc;
		}
		sock_round_run(n, &rd, callbacks);
	} while (rd.n > 0);
}
