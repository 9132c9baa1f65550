/* SPDX-License-Identifier: MIT */
/*
 * acct-t.h: accounting event types. A worker lcore describes an event with pointers into its
 * own memory (struct ctl_acct_event); ctl_acct_emit copies it into a compact binary record on
 * the worker's ring. Formatting (JSON), pseudonymisation and file I/O happen on the control
 * plane only.
 */
#ifndef DPMAIL_ACCT_T_H
#define DPMAIL_ACCT_T_H

#include <stdint.h>

enum ctl_acct_type {
	CTL_ACCT_RECEIVED = 1,  /* accepted: 250 after DATA (one record per recipient) */
	CTL_ACCT_DELIVERED,     /* remote 2xx */
	CTL_ACCT_DEFERRED,      /* transient failure: remote 4xx, connection or DNS failure */
	CTL_ACCT_BOUNCED,       /* permanent failure: remote 5xx; a DSN follows */
	CTL_ACCT_EXPIRED,       /* maximum queue age reached */
	CTL_ACCT_ADMIN,         /* an admin action (from the audit stream) */
	CTL_ACCT_ERASED,        /* removed from the queue by `privacy erase` */
	CTL_ACCT_TYPE__MAX
};

/* Text fields of a record; names are the JSON keys. */
enum ctl_acct_field {
	CTL_ACCT_QID = 0, CTL_ACCT_SENDER, CTL_ACCT_RECIPIENT, CTL_ACCT_DESTINATION,
	CTL_ACCT_REMOTE_HOST, CTL_ACCT_REPLY, CTL_ACCT_TLS_VERSION, CTL_ACCT_TLS_CIPHER,
	CTL_ACCT_DKIM_DOMAINS /* comma-separated */, CTL_ACCT_CLIENT, CTL_ACCT_AUTH_USER,
	CTL_ACCT_TLS_POLICY /* outbound policy applied: "may", "verify", "mta-sts:enforce"... */,
	CTL_ACCT_FIELD__MAX
};

struct ctl_acct_str {
	const char *p;          /* not NUL-terminated; NULL/0: absent */
	uint16_t len;
};

struct ctl_acct_event {
	uint8_t type;               /* enum ctl_acct_type */
	int8_t tls_verified;        /* 1 verified, 0 not, -1 no TLS / unknown */
	uint16_t attempt;
	uint32_t size;              /* message bytes */
	uint64_t snapshot_version;  /* the config snapshot that handled the event */
	uint64_t now_us;            /* event time, monotonic (the loop's now) */
	uint64_t accepted_us;       /* reception time, monotonic; 0 unknown */
	struct ctl_acct_str f[CTL_ACCT_FIELD__MAX];
};

/* Fields to replace by a keyed hash (bit per enum ctl_acct_field). */
#define CTL_ACCT_PSEUDO(f) (1u << (f))

struct ctl_acct_opts {
	const char *dir;            /* accounting files live here (acct.jsonl, acct-<ts>.jsonl) */
	uint64_t max_bytes;         /* rotate when the current file reaches this (0: never) */
	uint64_t retention_s;       /* delete rotated acct/audit files older than this (0: keep) */
	uint32_t pseudo_fields;     /* CTL_ACCT_PSEUDO(...) mask */
	uint8_t key[32];            /* HMAC-SHA256 key of the pseudonyms */
	unsigned nslots;            /* worker rings (lcore slots 0..n-1) */
	size_t ring_bytes;          /* per slot (default 1 MiB) */
};

#endif
