/* SPDX-License-Identifier: MIT */
/*
 * grammar.c: the admin command table and the typed-argument checks shared by dpmailctl and
 * the admin socket (see grammar.h). Adding a command: one line here, one ctl_register() call
 * in the module that serves it.
 */
#include "ctl/grammar.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct ctl_cmd_def grammar[] = {
	{ "status", "version, uptime, snapshot version, lcores", CTL_CMD_QUIET | CTL_CMD_RO },
	{ "stats", "counters per core and total, histogram summaries", CTL_CMD_QUIET | CTL_CMD_RO },
	{ "reload", "re-read the configuration file and publish it as a new snapshot", 0 },
	{ "config write", "write the running configuration back to its file", 0 },
	{ "keys list", "DKIM keys by domain and selector", CTL_CMD_RO },
	{ "keys add <domain> <selector> <file>", "add a DKIM private key (PEM file)", 0 },
	{ "keys remove <domain> <selector>", "remove a DKIM key", 0 },
	{ "routes list", "routes by destination domain", CTL_CMD_RO },
	{ "routes set <domain> <hops>", "route a domain to next hops (host[:port],... or mx)", 0 },
	{ "routes del <domain>", "remove a route (back to MX lookup)", 0 },
	{ "policy show <destination>", "TLS and shaping policy of a destination", CTL_CMD_RO },
	{ "policy set <destination> <key> <value>", "change one policy parameter of a destination", 0 },
	{ "queue summary", "per destination: count, oldest, next attempt", CTL_CMD_RO },
	{ "queue list [<destination>]", "queued messages, optionally of one destination", CTL_CMD_RO },
	{ "queue show <id>", "one queued message: envelope, attempts, last reply", CTL_CMD_RO },
	{ "queue flush [<destination>]", "retry now (all, or one destination)", 0 },
	{ "queue delete <target>", "delete a message (queue id) or a destination's messages", 0 },
	{ "queue bounce <target>", "bounce a message (queue id) or a destination's messages", 0 },
	{ "suspend <destination> [<duration>]", "stop delivering to a destination (for a while; "
	  "on every node of a cluster)", 0 },
	{ "suspend --local <destination> [<duration>]", "suspend a destination on this node only", 0 },
	{ "resume <destination>", "resume delivery to a suspended destination (every node of a "
	  "cluster)", 0 },
	{ "resume --local <destination>", "resume a destination suspended with --local", 0 },
	{ "cluster show", "cluster nodes, leases per destination, suspensions", CTL_CMD_RO },
	{ "cluster suspend <destination> [<duration>]", "suspend a destination on every node of the cluster", 0 },
	{ "cluster resume <destination>", "resume a destination on every node of the cluster", 0 },
	{ "sts show <domain>", "the cached MTA-STS policy of a domain, its state and last error", CTL_CMD_RO },
	{ "sts refresh <domain>", "re-check a domain's MTA-STS TXT id now (fetch the policy if it changed)", 0 },
	{ "sts list", "domains in the MTA-STS cache with mode and policy id", CTL_CMD_RO },
	{ "conns", "open SMTP connections, inbound and outbound", CTL_CMD_RO },
	{ "log level [<level>]", "show or set the log level (err, warn, info, debug)", 0 },
	{ "privacy erase <address>", "remove an address from the queue and the accounting files",
	  CTL_CMD_REDACT },
};

const struct ctl_cmd_def *ctl_grammar(size_t *n)
{
	*n = sizeof(grammar) / sizeof(grammar[0]);
	return grammar;
}

static const struct {
	const char *name;
	const char *doc;
} arg_types[CTL_ARG__MAX] = {
	[CTL_ARG_DOMAIN] = { "domain", "a domain name (example.org)" },
	[CTL_ARG_DESTINATION] = { "destination", "a domain name or [ip] literal" },
	[CTL_ARG_ID] = { "id", "a queue id (1-32 letters and digits)" },
	[CTL_ARG_TARGET] = { "target", "a queue id or a destination" },
	[CTL_ARG_ADDRESS] = { "address", "an email address (user@example.org)" },
	[CTL_ARG_DURATION] = { "duration", "a duration (90, 30s, 5m, 2h, 1d)" },
	[CTL_ARG_LEVEL] = { "level", "a log level (err, warn, info, debug)" },
	[CTL_ARG_SELECTOR] = { "selector", "a DKIM selector (letters, digits, . _ -)" },
	[CTL_ARG_FILE] = { "file", "an absolute file path" },
	[CTL_ARG_KEY] = { "key", "a parameter name (lowercase letters, digits, _ .)" },
	[CTL_ARG_VALUE] = { "value", "a value (printable text)" },
	[CTL_ARG_HOPS] = { "hops", "mx, or host[:port] separated by commas" },
	[CTL_ARG_INT] = { "n", "a non-negative integer" },
};

int ctl_arg_type_of(const char *name)
{
	for (int t = 0; t < CTL_ARG__MAX; t++)
		if (strcmp(arg_types[t].name, name) == 0)
			return t;
	return -1;
}

const char *ctl_arg_type_name(enum ctl_arg_type t)
{
	return (unsigned)t < CTL_ARG__MAX ? arg_types[t].name : "?";
}

const char *ctl_arg_type_doc(enum ctl_arg_type t)
{
	return (unsigned)t < CTL_ARG__MAX ? arg_types[t].doc : "?";
}

int ctl_cmd_shape(const struct ctl_cmd_def *def, struct ctl_cmd_shape *sh)
{
	memset(sh, 0, sizeof(*sh));
	sh->def = def;
	const char *p = def->pattern;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 0)
			break;
		if (p[0] != '<' && p[0] != '[') {
			if (sh->nargs || sh->nwords == CTL_MAX_WORDS ||
			    strlen(sh->name) + n + 2 > sizeof(sh->name))
				return -EINVAL; /* literal after an argument, or too long */
			if (sh->nwords++)
				strcat(sh->name, " ");
			strncat(sh->name, p, n);
		} else {
			bool opt = p[0] == '[';
			size_t skip = opt ? 2 : 1, tail = opt ? 2 : 1;
			if (n <= skip + tail || n - skip - tail >= sizeof(sh->args[0].name) ||
			    sh->nargs == CTL_MAX_WORDS || (!opt && sh->nargs > sh->nrequired))
				return -EINVAL;
			struct ctl_arg_def *a = &sh->args[sh->nargs++];
			memcpy(a->name, p + skip, n - skip - tail);
			int t = ctl_arg_type_of(a->name);
			if (t < 0)
				return -EINVAL;
			a->type = (enum ctl_arg_type)t;
			a->optional = opt;
			sh->nrequired += !opt;
		}
		p += n;
	}
	return sh->nwords ? 0 : -EINVAL;
}

const struct ctl_cmd_def *ctl_grammar_find(const char *name)
{
	struct ctl_cmd_shape sh;
	for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++)
		if (ctl_cmd_shape(&grammar[i], &sh) == 0 && strcmp(sh.name, name) == 0)
			return &grammar[i];
	return NULL;
}

/* ---- typed arguments --------------------------------------------------------------------- */

bool ctl_domain_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > 253)
		return false;
	if (s[0] == '[') { /* address literal */
		char ip[INET6_ADDRSTRLEN + 8];
		if (s[len - 1] != ']' || len - 2 >= sizeof(ip))
			return false;
		memcpy(ip, s + 1, len - 2);
		ip[len - 2] = '\0';
		const char *v6 = strncasecmp(ip, "IPv6:", 5) == 0 ? ip + 5 : NULL;
		unsigned char bin[16];
		return v6 ? inet_pton(AF_INET6, v6, bin) == 1 : inet_pton(AF_INET, ip, bin) == 1;
	}
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (label == 0 && *p == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 || s[len - 1] == '.';
}

static bool charset_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
			return false;
	return true;
}

static bool address_ok(const char *s)
{
	const char *at = strrchr(s, '@');
	if (!at || at == s || strlen(s) > 254 || (size_t)(at - s) > 64 || !ctl_domain_ok(at + 1))
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("<>(),;:\\", *p))
			return false;
	return true;
}

/* Seconds in text ("90", "30s", "5m", "2h", "1d"); -1 when malformed or over 10 years. */
static long long duration_parse(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0 || s[0] == '-' || s[0] == '+')
		return -1;
	long long mul = 1;
	if (*end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -1;
		}
		if (end[1])
			return -1;
	}
	if (v > 315360000LL / mul)
		return -1;
	return v * mul;
}

static bool printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return false;
	return true;
}

static bool hops_ok(const char *s)
{
	if (strcmp(s, "mx") == 0)
		return true;
	return charset_ok(s, 1024, ".-:[],_");
}

json_t *ctl_arg_parse(enum ctl_arg_type t, const char *s, char *err, size_t errlen)
{
	bool ok = false;
	switch (t) {
	case CTL_ARG_DOMAIN: ok = ctl_domain_ok(s) && s[0] != '['; break;
	case CTL_ARG_DESTINATION: ok = ctl_domain_ok(s); break;
	case CTL_ARG_ID: ok = charset_ok(s, 32, ""); break;
	case CTL_ARG_TARGET: ok = charset_ok(s, 32, "") || ctl_domain_ok(s); break;
	case CTL_ARG_ADDRESS: ok = address_ok(s); break;
	case CTL_ARG_LEVEL: ok = log_level_parse(s) >= 0; break;
	case CTL_ARG_SELECTOR: ok = charset_ok(s, 63, "._-"); break;
	case CTL_ARG_FILE: ok = s[0] == '/' && printable(s, 4095); break;
	case CTL_ARG_KEY: ok = charset_ok(s, 63, "_.") && !strpbrk(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"); break;
	case CTL_ARG_VALUE: ok = printable(s, 1024); break;
	case CTL_ARG_HOPS: ok = hops_ok(s); break;
	case CTL_ARG_DURATION: {
		long long v = duration_parse(s);
		if (v >= 0)
			return json_integer(v);
		break;
	}
	case CTL_ARG_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (!errno && end != s && !*end && v >= 0 && isdigit((unsigned char)s[0]))
			return json_integer(v);
		break;
	}
	default: break;
	}
	if (ok) {
		json_t *j = json_string(s);
		if (j)
			return j;
		snprintf(err, errlen, "bad %s: not UTF-8", arg_types[t].name);
		return NULL;
	}
	snprintf(err, errlen, "bad %s '%.80s': expected %s", (unsigned)t < CTL_ARG__MAX ?
		 arg_types[t].name : "argument", s, ctl_arg_type_doc(t));
	return NULL;
}

/* ---- matching ---------------------------------------------------------------------------- */

/* Candidate commands starting with the words given, for "unknown command" messages. */
static void suggest(int argc, char *const argv[], char *err, size_t errlen)
{
	size_t off = strlen(err);
	int shown = 0;
	for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]) && off < errlen; i++) {
		struct ctl_cmd_shape sh;
		ctl_cmd_shape(&grammar[i], &sh);
		size_t n = strlen(argv[0]);
		if (strncmp(sh.name, argv[0], n) != 0)
			continue;
		off += (size_t)snprintf(err + off, errlen - off, "%s%s", shown++ ? ", " : "; did you mean: ",
					grammar[i].pattern);
	}
	(void)argc;
}

int ctl_grammar_match(int argc, char *const argv[], struct ctl_cmd_shape *out, json_t **args,
		      char *err, size_t errlen)
{
	const struct ctl_cmd_def *best = NULL;
	struct ctl_cmd_shape sh;
	unsigned best_words = 0;
	for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
		ctl_cmd_shape(&grammar[i], &sh);
		if (sh.nwords > (unsigned)argc || sh.nwords <= best_words)
			continue;
		/* compare the literal words one by one */
		const char *p = sh.name;
		unsigned w = 0;
		for (; w < sh.nwords; w++) {
			size_t n = strcspn(p, " ");
			if (strlen(argv[w]) != n || strncmp(p, argv[w], n) != 0)
				break;
			p += n + (p[n] == ' ');
		}
		if (w == sh.nwords) {
			best = &grammar[i];
			best_words = w;
		}
	}
	if (argc == 0) {
		snprintf(err, errlen, "no command given (try --help)");
		return -1;
	}
	if (!best) {
		snprintf(err, errlen, "unknown command '%.60s'", argv[0]);
		suggest(argc, argv, err, errlen);
		return -1;
	}
	ctl_cmd_shape(best, out);
	unsigned given = (unsigned)argc - out->nwords;
	if (given < out->nrequired || given > out->nargs) {
		snprintf(err, errlen, "%s '%s': usage: %s", given < out->nrequired ?
			 "missing argument for" : "too many arguments for", out->name, best->pattern);
		return -1;
	}
	json_t *obj = json_object();
	for (unsigned a = 0; a < given; a++) {
		json_t *v = ctl_arg_parse(out->args[a].type, argv[out->nwords + a], err, errlen);
		if (!v) {
			json_decref(obj);
			return -1;
		}
		json_object_set_new(obj, out->args[a].name, v);
	}
	*args = obj;
	return 0;
}

int ctl_grammar_check(const char *name, json_t *args, struct ctl_cmd_shape *sh, char *err,
		      size_t errlen)
{
	const struct ctl_cmd_def *def = ctl_grammar_find(name);
	if (!def) {
		snprintf(err, errlen, "unknown command '%.60s'", name);
		return -1;
	}
	ctl_cmd_shape(def, sh);
	if (args && !json_is_object(args)) {
		snprintf(err, errlen, "args must be an object");
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(args, key, v) {
		unsigned a = 0;
		while (a < sh->nargs && strcmp(sh->args[a].name, key) != 0)
			a++;
		if (a == sh->nargs) {
			snprintf(err, errlen, "unknown argument '%.40s' for '%s': usage: %s", key,
				 sh->name, def->pattern);
			return -1;
		}
		enum ctl_arg_type t = sh->args[a].type;
		bool numeric = t == CTL_ARG_DURATION || t == CTL_ARG_INT;
		if (numeric ? !(json_is_integer(v) && json_integer_value(v) >= 0) : !json_is_string(v)) {
			snprintf(err, errlen, "argument '%s' must be %s", key, ctl_arg_type_doc(t));
			return -1;
		}
		if (!numeric) {
			json_t *chk = ctl_arg_parse(t, json_string_value(v), err, errlen);
			if (!chk)
				return -1;
			json_decref(chk);
		}
	}
	for (unsigned a = 0; a < sh->nrequired; a++)
		if (!json_object_get(args, sh->args[a].name)) {
			snprintf(err, errlen, "missing argument <%s> for '%s': usage: %s",
				 sh->args[a].name, sh->name, def->pattern);
			return -1;
		}
	return 0;
}
