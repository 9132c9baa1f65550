/* SPDX-License-Identifier: MIT */
/*
 * cfg_dump.h: writing a loaded configuration back as YAML (for `dpmailctl config write`,
 * which persists changes made through the admin socket). The output loads to an equal
 * configuration; comments and key order of the original file are not preserved.
 */
#ifndef DPMAIL_CFG_DUMP_H
#define DPMAIL_CFG_DUMP_H

#include <stdio.h>

struct cfg;

/* Every section and parameter of c, in table order. Returns 0 or -1 on an I/O error. */
int cfg_dump(const struct cfg *c, FILE *f);

/* Writes c to path atomically (temporary file, fsync, rename), keeping the previous file as
 * path.bak. Returns 0 or -errno. */
int cfg_dump_file(const struct cfg *c, const char *path);

#endif
