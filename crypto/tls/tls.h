/* SPDX-License-Identifier: MIT */
/*
 * tls.h: TLS for dpmail's two legs (ESMTP in with STARTTLS, delivery out with STARTTLS), with
 * OpenSSL 3 driven entirely in memory: no syscalls, no blocking, one SSL per connection on its
 * lcore. A TLS connection is a struct conn stacked on another struct conn (the TCP or socket
 * transport): the SMTP session keeps using the conn API and does not see TLS.
 *
 *   control plane: tls_server_ctx_new / tls_client_ctx_new   (immutable, refcounted, shared)
 *   lcore:         tls_core_new, tls_core_poll once per loop turn, tls_conn_server_new /
 *                  tls_conn_client_new after the STARTTLS exchange
 *
 * See docs/tls.md for the design, the counters and the measurements.
 */
#ifndef DPMAIL_TLS_H
#define DPMAIL_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "conn/conn.h"
#include "tls/tls-t.h"

/* ---- contexts (tls_ctx.c; control plane, start-up or reload; may block on file I/O) ------ */

void tls_ctx_cfg_defaults(struct tls_ctx_cfg *cfg);
void tls_client_cfg_defaults(struct tls_client_cfg *cfg);

/*
 * Builds a server context: every identity's certificates/keys (ECDSA and RSA may be given
 * together), TLS 1.2+1.3 with the configured ciphers, no renegotiation, no compression,
 * stateless tickets encrypted with keys[0] and accepted with any of keys[0..n_keys) (n_keys 0:
 * tickets are disabled). Rotation = building a new context with a new ring; connections keep
 * the context they started with. Returns NULL and a message in err on failure.
 * Ownership: the caller owns the result (one reference); files are read during the call.
 */
struct tls_server_ctx *tls_server_ctx_new(const struct tls_ctx_cfg *cfg,
					  const struct tls_identity *ids, unsigned n_ids,
					  const struct tls_ticket_key *keys, unsigned n_keys,
					  char *err, size_t errlen);
/* Another reference (for a second snapshot); any thread. */
struct tls_server_ctx *tls_server_ctx_ref(struct tls_server_ctx *sc);
/* Drops a reference; the last one (including those held by live connections) frees it. */
void tls_server_ctx_free(struct tls_server_ctx *sc);

/* Fills key with fresh random material (control plane; RAND_bytes). 0 or -EIO. */
int tls_ticket_key_generate(struct tls_ticket_key *key);

/* Builds a client context (trust store, DANE enabled, client session callbacks). */
struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_cfg *cfg, char *err,
					  size_t errlen);
struct tls_client_ctx *tls_client_ctx_ref(struct tls_client_ctx *cc);
void tls_client_ctx_free(struct tls_client_ctx *cc);

/* ---- per-core state (tls_conn.c) ------------------------------------------------------ */

void tls_core_cfg_defaults(struct tls_core_cfg *cfg);
/* One per lcore; malloc at start-up. NULL on ENOMEM. */
struct tls_core *tls_core_new(const struct tls_core_cfg *cfg);
/* Frees the core; every tls conn of this core must be closed first. */
void tls_core_free(struct tls_core *core);
/*
 * Once per loop turn: expires handshake deadlines, delivers data held back by upper-layer
 * backpressure once it called conn_resume_read(), and pushes out plaintext buffered without a
 * conn_flush() (a record is never held past the end of a loop turn).
 */
void tls_core_poll(struct tls_core *core, uint64_t now);
/* Earliest handshake deadline (us), UINT64_MAX when none; 0 when work is pending for
 * tls_core_poll (for a poller's sleep). */
uint64_t tls_core_next_deadline(const struct tls_core *core);
const struct tls_stats *tls_core_stats(const struct tls_core *core);

/* ---- connections (tls_conn.c) ------------------------------------------------------------ */

/*
 * Server side of STARTTLS: call after "220 Ready to start TLS" was queued on lower and every
 * byte that had been received before it was discarded (STARTTLS injection). The returned conn
 * replaces lower for the upper layer: it takes lower's handler slot (lower's bytes from now on
 * are TLS records), calls h->on_connected(hctx) when the handshake is done (o->on_result first)
 * and h->on_closed() on failure. Plaintext is never delivered before the handshake completed.
 * Ownership: the tls conn owns lower from now on (closing the tls conn closes lower); sc gets
 * a reference through the SSL. NULL and *err = -errno on failure (lower untouched).
 */
struct conn *tls_conn_server_new(struct tls_core *core, struct conn *lower,
				 struct tls_server_ctx *sc, const struct conn_handler *h,
				 void *hctx, const struct tls_conn_opts *o, int *err);

/*
 * Client side of STARTTLS: call after the server's 220 to STARTTLS was read and any bytes
 * that followed it were discarded. Sends the ClientHello with SNI = o->host, resumes a cached
 * session of o->session_key, applies o->policy (tls_policy_eval) and reports the outcome via
 * o->on_result. On policy failure (verify/DANE/MTA-STS enforce) the conn closes with
 * on_closed(CONN_CLOSED_PROTO) and r->fail says why: the delivery defers.
 */
struct conn *tls_conn_client_new(struct tls_core *core, struct conn *lower,
				 struct tls_client_ctx *cc, const struct conn_handler *h,
				 void *hctx, const struct tls_conn_opts *o, int *err);

/* The result so far (ok once the handshake completed). c must be a tls conn. */
const struct tls_result *tls_conn_result(const struct conn *c);
/* True when c is a tls conn. */
bool tls_conn_is_tls(const struct conn *c);

/* ---- policy (tls_policy.c) ---------------------------------------------------------------- */

/* What p asks for when delivering to MX host mx (NULL p: opportunistic). */
void tls_policy_eval(const struct tls_policy *p, const char *mx, struct tls_policy_eval *ev);
/* The MX did not offer STARTTLS (or refused it): 1 = deliver in clear, 0 = defer. */
int tls_policy_allows_plaintext(const struct tls_policy_eval *ev);
/* MTA-STS "mx:" pattern match (RFC 8461 §4.1: "*." matches exactly one left-most label). */
bool tls_policy_mx_match(const char *pattern, const char *host);
const char *tls_policy_mode_str(enum tls_policy_mode m);
/* Parses "none|opportunistic|verify|dane|mta-sts"; -1 when unknown. */
int tls_policy_mode_parse(const char *s);

/* ---- counters (tls_stats.c) -------------------------------------------------------------- */

const char *tls_fail_str(enum tls_fail f);
/* Writes the counters as one key=value line per non-zero counter ("tls.server.fail.garbage=3")
 * into buf; returns the length (truncated to len-1). Control plane / tests. */
size_t tls_stats_format(const struct tls_stats *s, char *buf, size_t len);

#endif
