/* SPDX-License-Identifier: MIT */
/*
 * grammar.h: the admin command grammar, shared by dpmailctl (which parses argv with it and
 * builds completion from it) and the admin socket (which re-validates every request with it,
 * so a hand-written JSON client gets the same checks). One table entry per command:
 *     { "queue list [<destination>]", "messages queued, optionally for one destination", flags }
 * Literal words name the command ("queue list"); <name> is a required typed argument,
 * [<name>] an optional one (optionals come last). The argument's name is its type (see
 * ctl_arg_type_of): <destination> accepts a domain or [ip], <id> a queue id, <duration> 30s/5m/2h/1d,
 * and so on. Arguments travel as a JSON object {"destination": "example.org"}; durations and
 * integers as JSON integers (seconds), everything else as strings.
 */
#ifndef DPMAIL_CTL_GRAMMAR_H
#define DPMAIL_CTL_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CTL_MAX_WORDS 8

enum ctl_cmd_flags {
	CTL_CMD_QUIET = 1 << 0, /* read-only monitoring poll: not written to the audit log */
	CTL_CMD_RO    = 1 << 1, /* changes nothing */
	CTL_CMD_REDACT = 1 << 2, /* arguments are personal data: audited as "[redacted]" */
};

enum ctl_arg_type {
	CTL_ARG_DOMAIN = 0, CTL_ARG_DESTINATION, CTL_ARG_ID, CTL_ARG_TARGET, CTL_ARG_ADDRESS,
	CTL_ARG_DURATION, CTL_ARG_LEVEL, CTL_ARG_SELECTOR, CTL_ARG_FILE, CTL_ARG_KEY,
	CTL_ARG_VALUE, CTL_ARG_HOPS, CTL_ARG_INT,
	CTL_ARG__MAX
};

struct ctl_cmd_def {
	const char *pattern;
	const char *help;
	unsigned flags;
};

struct ctl_arg_def {
	char name[24];
	enum ctl_arg_type type;
	bool optional;
};

/* A pattern split into its command name and arguments. */
struct ctl_cmd_shape {
	const struct ctl_cmd_def *def;
	char name[64];                       /* the literal words joined by one space */
	unsigned nwords;                     /* literal words */
	struct ctl_arg_def args[CTL_MAX_WORDS];
	unsigned nargs, nrequired;
};

/* A domain name (LDH labels, at most 253 characters) or an address literal "[198.18.0.1]",
 * "[IPv6:2001:db8::1]". */
bool ctl_domain_ok(const char *s);

/* The table and its size. */
const struct ctl_cmd_def *ctl_grammar(size_t *n);

/* Splits def into shape. Returns 0, or -EINVAL on a malformed pattern (a bug: asserted by the
 * grammar unit test for every entry). */
int ctl_cmd_shape(const struct ctl_cmd_def *def, struct ctl_cmd_shape *shape);

/* The entry for command name ("queue list"), or NULL. */
const struct ctl_cmd_def *ctl_grammar_find(const char *name);

/* The type of an argument name ("destination" -> CTL_ARG_DESTINATION); -1 when unknown. */
int ctl_arg_type_of(const char *name);
/* The argument name of a type ("destination"). */
const char *ctl_arg_type_name(enum ctl_arg_type t);
/* A word describing what the type accepts, for error messages and --help. */
const char *ctl_arg_type_doc(enum ctl_arg_type t);

/*
 * Checks one argument text against its type and converts it to JSON (new reference). NULL
 * with a message in err on a bad value.
 */
json_t *ctl_arg_parse(enum ctl_arg_type t, const char *text, char *err, size_t errlen);

/*
 * Matches argv (words after the options) against the grammar. On success fills *shape with
 * the command and *args with a new JSON object of its arguments and returns 0. On failure
 * returns -1 with a message (unknown command with the closest candidates, missing or extra
 * argument, bad value).
 */
int ctl_grammar_match(int argc, char *const argv[], struct ctl_cmd_shape *shape, json_t **args,
		      char *err, size_t errlen);

/*
 * Server side: validates a request {"cmd": name, "args": {...}} against the grammar: known
 * command, required arguments present, no unknown ones, each of the right type (strings are
 * re-checked with ctl_arg_parse). Returns 0, or -1 with a message.
 */
int ctl_grammar_check(const char *name, json_t *args, struct ctl_cmd_shape *shape, char *err,
		      size_t errlen);

#endif
