/* SPDX-License-Identifier: MIT */
/*
 * sts_store.h: the persisted MTA-STS cache, one text line per domain:
 *     <domain> <id> <fetched unix s> <mode> <max_age> <mx,mx,...|->
 * written whole to <file>.tmp, fsync'd and renamed over <file>; read back with the same
 * validation as a fetched policy (a damaged line is skipped and logged, never trusted).
 */
#ifndef DPMAIL_STS_STORE_H
#define DPMAIL_STS_STORE_H

#include <stdint.h>

#include "sts/sts-t.h"

struct sts_store_rec {
	const char *domain;
	const char *id;
	uint64_t fetched_wall_s;
	const struct sts_policy *policy;
};

/* Called for each record: returns 1 and fills *r while there are records, 0 at the end. */
typedef int sts_store_next_fn(void *arg, struct sts_store_rec *r);
/* Called for each valid line read back. */
typedef void sts_store_add_fn(void *arg, const struct sts_store_rec *r);

/* 0 or -errno (logged). Blocking file I/O: control thread only. */
int sts_store_save(const char *path, sts_store_next_fn *next, void *arg);
/* 0 (also when the file does not exist yet) or -errno. Returns the number of records in *n. */
int sts_store_load(const char *path, sts_store_add_fn *add, void *arg, unsigned *n);
/* Parses one line (no newline); 0 or -EINVAL. Strings point into buf (modified). */
int sts_store_parse_line(char *buf, struct sts_store_rec *r, struct sts_policy *p);

#endif
