/* SPDX-License-Identifier: MIT */
/*
 * rly_int.h: private types of the relay (core and session); not for other modules.
 */
#ifndef DPMAIL_RLY_INT_H
#define DPMAIL_RLY_INT_H

#include "dkim/dkim.h"
#include "relay/rly.h"
#include "smtp/smtp.h"
#include "spool/spool.h"

/* Where a session's current message is. One enum, changed only by msg_enter() (rly_session.c). */
enum rly_msg_state {
	RLY_MSG_NONE = 0,             /* no message in progress */
	RLY_MSG_DATA,                 /* receiving content: spool txn and DKIM open */
	RLY_MSG_SIGNING,              /* data ended; waiting in the DKIM batch */
	RLY_MSG_COMMITTING,           /* spool commit submitted; waiting for fdatasync */
};

/* Recipients of the transaction: addresses and ORCPTs live in env_buf. */
struct rly_env {
	char *buf;                    /* strings of sender, envid and recipients */
	uint32_t len, cap;
	struct spool_rcpt *rcpts;
	uint32_t nrcpt, rcpt_cap;
	uint32_t sender_off, sender_len;
	uint32_t envid_off, envid_len;
	uint8_t ret;
	uint32_t flags;               /* enum spool_msg_flag from MAIL FROM */
};

struct rly_session {
	struct rly_core *core;
	uint32_t idx;
	uint32_t gen;                 /* bumped at each reuse: stale cookies are recognised */
	bool in_use;
	bool conn_gone;               /* on_closed seen: conn must not be touched */
	bool input_blocked;           /* we returned less than offered from on_data */
	bool tls_pending;             /* STARTTLS handshake running */
	bool eof;                     /* the client half-closed */
	bool want_close;              /* the engine asked to close once output is out */
	enum rly_msg_state msg;
	struct conn *conn;            /* current top conn (plain or TLS) */
	struct conn_addr peer;
	char peer_lit[48];            /* the peer's address literal for Received: (RFC 5321
	                               * 4.1.3: "1.2.3.4" or "IPv6:..."), made once at accept */
	const struct rly_client *client;
	struct spool_txn *txn;
	struct dkim_msg *dkim;
	int msg_err;                  /* first local failure while receiving (-errno) */
	uint64_t msg_bytes;
	struct rly_env env;
	struct smtp_server_session smtp;
	struct rly_session *next_free;
};

struct rly_core {
	struct rly_params p;
	const struct rly_policy *pol;
	uint64_t snap_version;
	struct spool *spool;
	struct dkim_signer_ctx *dkim;
	struct tls_core *tls;
	struct dkim_batch batch;
	uint64_t now;
	uint32_t n_sessions;
	uint32_t hi_sessions;         /* 1 + the highest slot ever used: the timer scan's bound
	                               * (slots are reused lowest first, so it tracks the peak) */
	struct rly_session *sessions;
	struct rly_session *free;
	uint64_t next_tick;           /* next time SMTP timers are scanned */
	int64_t date_sec;             /* the wall-clock second date[] was formatted for */
	char date[40];                /* RFC 5322 date-time of date_sec, for Received: */
	struct rly_stats stats;
};

/* rly_session.c */
void rly_session_tick(struct rly_session *s, uint64_t now);
void rly_session_abort_all(struct rly_core *core);

#endif
