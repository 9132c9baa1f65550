/* SPDX-License-Identifier: MIT */
/*
 * cfg.h: loading, validating and documenting dpmaild's configuration (YAML, libyaml).
 *
 * Errors name the file, the line and the key: "FILE:LINE: key 'port.ipv4': bad IPv4 prefix
 * '1.2.3/24'". Unknown keys, duplicate keys, values of the wrong type or out of range and
 * missing required keys are all errors; a loaded cfg is complete and valid.
 */
#ifndef DPMAIL_CFG_H
#define DPMAIL_CFG_H

#include <stddef.h>
#include <stdio.h>

#include "config/cfg-t.h"
#include "config/cfg_param-t.h"

/*
 * Load and validate the YAML file at path. Returns a cfg the caller frees with cfg_free(),
 * or NULL with one line written to err (no trailing newline).
 */
struct cfg *cfg_load(const char *path, char *err, size_t errlen);

/* Same, from len bytes of YAML text; name is used in messages in place of a file name. */
struct cfg *cfg_load_string(const char *name, const char *text, size_t len, char *err, size_t errlen);

/* The embedded default: a TAP port dtap0 with 198.18.0.2/24, gateway 198.18.0.1, one worker. */
extern const char cfg_default_yaml[];
struct cfg *cfg_load_default(char *err, size_t errlen);

void cfg_free(struct cfg *c);

/* The parameter table: every section and its parameters (cfg_params.c). */
extern const struct cfg_section cfg_sections[];
extern const size_t cfg_n_sections;

/* Line in the file where key ("section.name") was set, 0 if it took its default. */
unsigned cfg_line(const struct cfg *c, const char *key);

/* Write "FILE:LINE: key 'key': <fmt...>" into err (for validators). Returns -1. */
int cfg_errf(const struct cfg *c, const char *key, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Write docs/configuration.md (generated from the table) to f. Returns 0 or -1 on I/O error. */
int cfg_doc_write(FILE *f);

#endif
