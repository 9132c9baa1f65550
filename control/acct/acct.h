/* SPDX-License-Identifier: MIT */
/*
 * acct.h: accounting. Workers emit compact binary records on their own ring; the control
 * plane drains the rings every loop turn and writes one JSON line per event to
 * <dir>/acct.jsonl, rotating it by size or on request (SIGUSR1), pseudonymising the fields
 * asked for (HMAC-SHA256 under an operator key, truncated to 128 bits: "h:<32 hex>"),
 * removing rotated files past the retention age, and erasing an address on request.
 */
#ifndef DPMAIL_ACCT_H
#define DPMAIL_ACCT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "acct/acct-t.h"

struct ctl_acct;
struct ctl_audit;
struct ctl_server;

void ctl_acct_opts_defaults(struct ctl_acct_opts *o);

/* Opens (creating) dir/acct.jsonl. NULL with *err = -errno. */
struct ctl_acct *ctl_acct_new(const struct ctl_acct_opts *o, int *err);
/* Drains every ring, then closes. */
void ctl_acct_free(struct ctl_acct *a);

/* Worker side: copies ev onto slot's ring. 0, or -ENOBUFS (ring full: counted as a drop). */
int ctl_acct_emit(struct ctl_acct *a, unsigned slot, const struct ctl_acct_event *ev);

/* Control side: formats and writes what the rings hold; rotates when max_bytes is reached.
 * Returns records written. now_us: monotonic. */
unsigned ctl_acct_poll(struct ctl_acct *a, uint64_t now_us);
/* Closes acct.jsonl as acct-<UTC timestamp>.jsonl and starts a new one. 0 or -errno. */
int ctl_acct_rotate(struct ctl_acct *a);
/* "<stem>-<UTC timestamp>.jsonl" for path "<stem>.jsonl", unique in its directory (also
 * used for the audit log). 0 or -errno. */
int ctl_acct_rotated_name(const char *path, char *out, size_t outlen);
/* Deletes rotated acct-*.jsonl and audit-*.jsonl older than retention_s; returns how many. */
int ctl_acct_sweep(struct ctl_acct *a);
/* Writes an admin event (an audit record, borrowed) as an accounting line. */
void ctl_acct_admin(struct ctl_acct *a, json_t *audit_record);

/* Pseudonym of value under the configured key: "h:" + 32 hex digits (case-folded input). */
void ctl_acct_pseudonym(const struct ctl_acct *a, const char *value, size_t len, char out[35]);

/* Queue-side erasure, served by the spool/delivery owner: removes queued messages to or from
 * address, records each as an outcome, and describes what it did in report. Returns the
 * number of messages removed or -errno. */
typedef int ctl_acct_erase_hook_fn(const char *address, json_t *report, void *arg);
void ctl_acct_set_erase_hook(struct ctl_acct *a, ctl_acct_erase_hook_fn *fn, void *arg);
/* The audit log is also scrubbed by erasure and reopened after it (borrowed). */
void ctl_acct_set_audit(struct ctl_acct *a, struct ctl_audit *audit, const char *audit_path);

/*
 * Erasure: asks the queue hook, then rewrites every accounting and audit file so that the
 * address (and its pseudonym) no longer appears: matching values become "[erased]"; each
 * file is replaced atomically (write, fsync, rename). Fills report. Returns 0 or -errno.
 */
int ctl_acct_erase(struct ctl_acct *a, const char *address, json_t *report);

/* Registers "privacy erase" on the admin socket. */
int ctl_acct_register_commands(struct ctl_acct *a, struct ctl_server *srv);

/* Records dropped because a ring was full, summed over slots. */
uint64_t ctl_acct_drops(const struct ctl_acct *a);

const char *ctl_acct_type_str(enum ctl_acct_type t);
const char *ctl_acct_field_str(enum ctl_acct_field f);

#endif
