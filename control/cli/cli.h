/* SPDX-License-Identifier: MIT */
/* cli.h: pieces of dpmailctl shared between its files (links into build/dpmailctl only). */
#ifndef DPMAIL_CLI_H
#define DPMAIL_CLI_H

#include <stdio.h>

#include <jansson.h>

/* Human-readable rendering of a command result: objects as "key: value" lines (nested ones
 * indented), arrays of objects as aligned tables, arrays of scalars as comma lists. */
void ctl_cli_render(FILE *out, const json_t *result);

/* A bash completion script generated from the grammar. */
void ctl_cli_completion_bash(FILE *out);

#endif
