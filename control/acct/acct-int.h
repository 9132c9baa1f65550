/* SPDX-License-Identifier: MIT */
/* acct-int.h: the accounting writer's state, shared by acct.c (writing) and erase.c. */
#ifndef DPMAIL_ACCT_INT_H
#define DPMAIL_ACCT_INT_H

#include "acct/acct.h"

#include "ctl/buf.h"

struct ctl_ring;

struct ctl_acct {
	struct ctl_acct_opts o;
	char *dir;
	char *path;                 /* dir/acct.jsonl */
	int fd;
	uint64_t bytes;             /* size of the current file */
	struct ctl_buf out;         /* whole lines not yet written (one write() per batch) */
	struct ctl_ring **rings;
	/* HMAC-SHA256 of pseudonyms with the key absorbed once: inner and outer states after
	 * key^ipad / key^opad, copied per use (HMAC() would fetch SHA-256 every call) */
	struct evp_md_ctx_st *hmac_in, *hmac_out, *work;
	uint64_t written, write_errors;
	ctl_acct_erase_hook_fn *erase_hook;
	void *erase_arg;
	struct ctl_audit *audit;
	char *audit_path;
};

/* Queues one JSON record as a line; written by ctl_acct_flush (at 64 KiB or per poll). */
int ctl_acct_write_json(struct ctl_acct *a, json_t *rec);
/* Writes the queued lines (whole lines only), then rotates at max_bytes. 0 or -errno. */
int ctl_acct_flush(struct ctl_acct *a);
/* Opens dir/acct.jsonl for appending (after rotation or a rewrite). */
int ctl_acct_reopen(struct ctl_acct *a);

#endif
