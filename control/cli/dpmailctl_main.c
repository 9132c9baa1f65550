/* SPDX-License-Identifier: MIT */
/*
 * dpmailctl_main.c: the admin CLI. Parses the command line against the shared grammar
 * (control/ctl/grammar.c), sends one JSON request over the admin socket, prints the reply in
 * human form (or as JSON with --json). Exit status: 0 done, 1 the daemon refused or failed
 * the command, 2 usage error, 3 cannot reach the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ctl/grammar.h"

#define DEFAULT_SOCKET "/run/dpmail/admin.sock"
#define REPLY_MAX (16u << 20)

static void usage(FILE *f)
{
	size_t n;
	const struct ctl_cmd_def *g = ctl_grammar(&n);
	fprintf(f, "usage: dpmailctl [-s SOCKET] [--json] [-t SECONDS] COMMAND [ARG...]\n\n"
		   "  -s SOCKET   admin socket (default $DPMAIL_SOCKET or " DEFAULT_SOCKET ")\n"
		   "  --json      print the reply as JSON (for scripts)\n"
		   "  -t SECONDS  reply timeout (default 30)\n\ncommands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-40s %s\n", g[i].pattern, g[i].help);
	fprintf(f, "  %-40s %s\n  %-40s %s\n\narguments:\n", "completion bash",
		"print a bash completion script", "help", "this list");
	for (int t = 0; t < CTL_ARG__MAX; t++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "<%s>", ctl_arg_type_name((enum ctl_arg_type)t));
		fprintf(f, "  %-14s %s\n", arg, ctl_arg_type_doc((enum ctl_arg_type)t));
	}
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Reads one reply line within timeout_s; returns a malloc'd NUL-terminated line or NULL. */
static char *read_line(int fd, int timeout_s)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (buf) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = timeout_s * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
						 (now.tv_nsec - start.tv_nsec) / 1000000L);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		if (len + 1 == cap) {
			if (cap >= REPLY_MAX) {
				errno = EMSGSIZE;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			break;
		}
		len += (size_t)n;
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static int send_request(const char *sock, const char *cmd, json_t *args, bool as_json,
			int timeout_s)
{
	int fd = connect_socket(sock);
	if (fd < 0) {
		fprintf(stderr, "dpmailctl: cannot connect to %s: %s\n", sock, strerror(errno));
		return 3;
	}
	json_t *req = json_pack("{s:i,s:s,s:O}", "id", 1, "cmd", cmd, "args", args);
	char *line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t n = strlen(line);
	line[n] = '\n';
	ssize_t w = send(fd, line, n + 1, MSG_NOSIGNAL);
	free(line);
	/* read even when the send failed: a refusing daemon answers and closes right away */
	char *reply = read_line(fd, w == (ssize_t)(n + 1) ? timeout_s : 1);
	close(fd);
	if (!reply) {
		fprintf(stderr, "dpmailctl: no reply from %s: %s\n", sock, strerror(errno));
		return 3;
	}
	json_error_t jerr;
	json_t *r = json_loads(reply, 0, &jerr);
	free(reply);
	if (!json_is_object(r)) {
		fprintf(stderr, "dpmailctl: malformed reply: %s\n", jerr.text);
		json_decref(r);
		return 3;
	}
	bool ok = json_is_true(json_object_get(r, "ok"));
	if (as_json) {
		json_dumpf(ok ? json_object_get(r, "result") : r, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else if (ok) {
		ctl_cli_render(stdout, json_object_get(r, "result"));
	} else {
		fprintf(stderr, "dpmailctl: %s: %s\n", cmd,
			json_string_value(json_object_get(r, "error")) ?: "failed");
	}
	json_decref(r);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("DPMAIL_SOCKET") ? getenv("DPMAIL_SOCKET") : DEFAULT_SOCKET;
	bool as_json = false;
	int timeout_s = 30, c;
	/* "+": stop at the first non-option so command words are never taken for options */
	while ((c = getopt_long(argc, argv, "+s:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': as_json = true; break;
		case 't': timeout_s = atoi(optarg) > 0 ? atoi(optarg) : 30; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc >= 1 && strcmp(argv[0], "completion") == 0) {
		if (argc == 2 && strcmp(argv[1], "bash") == 0) {
			ctl_cli_completion_bash(stdout);
			return 0;
		}
		fprintf(stderr, "dpmailctl: usage: completion bash\n");
		return 2;
	}
	struct ctl_cmd_shape sh;
	json_t *args = NULL;
	char err[512];
	if (ctl_grammar_match(argc, argv, &sh, &args, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpmailctl: %s\n", err);
		return 2;
	}
	int rc = send_request(sock, sh.name, args, as_json, timeout_s);
	json_decref(args);
	return rc;
}
