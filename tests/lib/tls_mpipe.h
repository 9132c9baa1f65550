/* SPDX-License-Identifier: MIT */
/*
 * tls_mpipe.h: an in-memory pair of struct conn (test and benchmark transport for crypto/tls).
 * What one side sends is appended to the other side's receive buffer and delivered by
 * tls_mpipe_poll(), which honours the conn contract: on_data only from poll, consumed-count
 * backpressure with conn_resume_read, a send buffer limit with on_sendable, FIN as on_eof,
 * close/abort with on_closed. Both conns live inside the pipe (never freed by callbacks).
 */
#ifndef DPMAIL_TLS_MPIPE_H
#define DPMAIL_TLS_MPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn.h"

struct tls_mconn {
	struct conn conn;
	struct tls_mconn *peer;
	uint8_t *rx;                  /* bytes sent by the peer, not yet consumed */
	size_t rx_len, rx_cap;
	size_t limit;                 /* max rx_len: the sender's "send buffer" */
	bool paused;                  /* handler returned short: wait for resume_read */
	bool fin_in;                  /* peer closed/shut down: EOF after rx drains */
	bool eof_told;
	bool shut;                    /* we sent FIN */
	bool closing;                 /* close() called: on_closed(LOCAL) at next poll */
	bool closed;                  /* on_closed delivered */
	bool reset_in;                /* peer aborted: on_closed(RESET) at next poll */
	bool want_sendable;
	uint64_t bytes_sent;
};

struct tls_mpipe {
	struct tls_mconn a, b;
};

/* Sets both sides up with handlers (may be replaced later with conn_set_handler). limit is
 * each side's send buffer in bytes. */
void tls_mpipe_init(struct tls_mpipe *p, size_t limit, const struct conn_handler *ha, void *ca,
		    const struct conn_handler *hb, void *cb);
void tls_mpipe_fini(struct tls_mpipe *p);
/* Runs callbacks for side m only; returns the number of callbacks made. */
int tls_mpipe_poll_side(struct tls_mconn *m);
/* Both sides; returns the number of callbacks made (0 = idle). */
int tls_mpipe_poll(struct tls_mpipe *p);

#endif
