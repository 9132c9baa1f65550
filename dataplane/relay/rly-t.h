/* SPDX-License-Identifier: MIT */
/*
 * rly-t.h: types of the inbound relay glue: one SMTP server session per accepted connection,
 * tying the transport (conn), the SMTP engine, STARTTLS, DKIM signing and the spool together on
 * one lcore. The delivery side is told about every committed message through a hook.
 */
#ifndef DPMAIL_RLY_T_H
#define DPMAIL_RLY_T_H

#include <stdbool.h>
#include <stdint.h>

#include "conn/conn-t.h"
#include "smtp/smtp-t.h"

struct spool;
struct spool_txn;
struct dkim_msg;
struct dkim_signer_ctx;
struct dkim_keyring;
struct tls_core;
struct tls_server_ctx;

/* A client network allowed to relay, and the sender domains it may use. */
struct rly_client {
	uint32_t net;                 /* IPv4, network byte order */
	uint8_t prefix_len;
	const char *const *domains;   /* allowed sender (MAIL FROM and From:) domains; NULL = any */
	uint32_t n_domains;
	const char *name;             /* for logs and accounting */
};

enum rly_unsignable { RLY_UNSIGNABLE_REJECT = 0, RLY_UNSIGNABLE_PASS };

/*
 * Everything the relay reads from a config snapshot. Immutable while published; a session
 * reads the current one at each event (so a reload applies from the next command on) and never
 * keeps pointers into it past a loop turn, except the TLS context, which it references.
 */
struct rly_policy {
	const char *hostname;         /* greeting, Received:, EHLO */
	const struct rly_client *clients;
	uint32_t n_clients;
	struct tls_server_ctx *tls;   /* NULL: STARTTLS not offered */
	const struct dkim_keyring *keyring; /* NULL: no signing */
	enum rly_unsignable unsignable;     /* no or several From: reject (550 5.7.x) or pass */
	bool require_tls;             /* refuse MAIL before STARTTLS (530 5.7.0) */
	uint64_t tls_handshake_timeout_us;
};

struct rly_stats {
	uint64_t sessions;            /* accepted */
	uint64_t sessions_refused;    /* no free session slot */
	uint64_t active;
	uint64_t messages;            /* committed (250 sent) */
	uint64_t messages_failed;     /* 4xx/5xx at end of data */
	uint64_t bytes;               /* message octets accepted */
	uint64_t relay_denied;
	uint64_t sender_denied;
	uint64_t dkim_signed, dkim_unsigned, dkim_rejected;
	uint64_t starttls;
	uint64_t stage_full;          /* spool staging full: message answered 451 */
};

/* Told about every message that is on stable storage (whether or not its client saw the 250). */
typedef void (*rly_queued_fn)(void *ctx, uint64_t qid);

#endif
