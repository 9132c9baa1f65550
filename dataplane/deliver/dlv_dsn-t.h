/* SPDX-License-Identifier: MIT */
/*
 * dlv_dsn-t.h: what a delivery status notification (RFC 3464) reports: the original message's
 * envelope and, per recipient, what happened to it.
 */
#ifndef DPMAIL_DLV_DSN_T_H
#define DPMAIL_DLV_DSN_T_H

#include <stddef.h>
#include <stdint.h>

enum dlv_dsn_action {
	DLV_DSN_FAILED = 0,       /* permanent failure or expiry */
	DLV_DSN_DELAYED,          /* still trying (delay warning) */
	DLV_DSN_DELIVERED,        /* NOTIFY=SUCCESS, delivered to a DSN-less MTA: "relayed" */
	DLV_DSN_RELAYED,
};

struct dlv_dsn_rcpt {
	const char *addr;         /* final recipient (the envelope RCPT TO address) */
	const char *orcpt;        /* ORCPT from RCPT, "type;xtext-decoded address", or NULL */
	enum dlv_dsn_action action;
	const char *status;       /* enhanced status "5.1.1" */
	const char *remote_mta;   /* host name of the MX that answered, or NULL */
	const char *diagnostic;   /* the remote reply "550 5.1.1 no such user", or NULL */
	uint64_t last_attempt;    /* unix seconds, 0 = unknown */
	uint64_t retry_until;     /* unix seconds, for DELAYED only */
};

enum dlv_dsn_ret { DLV_DSN_RET_DEFAULT = 0, DLV_DSN_RET_FULL, DLV_DSN_RET_HDRS };

struct dlv_dsn_report {
	const char *reporting_mta;   /* our host name */
	const char *queue_id;        /* original message's queue id (goes into X-Postfix-style id) */
	const char *envid;           /* ENVID from MAIL (decoded), or NULL */
	const char *to;              /* the original envelope sender: the DSN's recipient */
	uint64_t arrival;            /* unix seconds */
	uint64_t now;                /* unix seconds: Date of the report */
	enum dlv_dsn_ret ret;
	const struct dlv_dsn_rcpt *rcpts;
	unsigned nrcpts;
	/* The original message (headers and body, CRLF lines). It is returned whole when RET=FULL
	 * or unspecified and it is no larger than full_limit; otherwise only its header section. */
	const uint8_t *orig;
	size_t orig_len;
	size_t full_limit;
	uint32_t unique;             /* mixed into the MIME boundary and Message-ID */
};

/* Output sink: called with consecutive pieces of the DSN message; returns 0 or -errno. */
typedef int (*dlv_dsn_emit_fn)(void *ctx, const void *data, size_t len);

#endif
