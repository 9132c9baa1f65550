/* SPDX-License-Identifier: MIT */
/*
 * ctl_admin_fuzz.c: the admin socket's request path (JSON line -> grammar check -> handler ->
 * reply) and dpmailctl's argv matcher, on arbitrary input. Every reply must be one JSON line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/grammar.h"
#include "ctl/server.h"

static struct ctl_server *srv;

static int echo(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	*result = json_pack("{s:O}", "args", rq->args);
	return CTL_OK;
}

static int later(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	return CTL_ASYNC;
}

static void cleanup(void) { ctl_server_free(srv); /* unlinks the socket file */ }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/dpmail-ctl-fuzz-%d.sock", (int)getpid());
	int err;
	srv = ctl_server_new(path, NULL, &err);
	if (!srv)
		abort();
	atexit(cleanup);
	ctl_register(srv, "queue show", echo, NULL);
	ctl_register(srv, "suspend", echo, NULL);
	ctl_register(srv, "privacy erase", echo, NULL);
	ctl_register(srv, "queue flush", later, NULL);
	return 0;
}

static void check_reply(const char *out, size_t len)
{
	for (size_t start = 0; start < len;) {
		const char *nl = memchr(out + start, '\n', len - start);
		if (!nl)
			abort(); /* every reply ends with a newline */
		json_t *j = json_loadb(out + start, (size_t)(nl - (out + start)), 0, NULL);
		if (!json_is_object(j) || !json_object_get(j, "ok"))
			abort();
		json_decref(j);
		start = (size_t)(nl - out) + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t outlen = 0;
	ctl_server_dispatch(srv, 0, 1, (const char *)data, size, &out, &outlen);
	if (out)
		check_reply(out, outlen);
	free(out);

	/* the same bytes as a command line */
	char *copy = malloc(size + 1), *argv[16];
	memcpy(copy, data, size);
	copy[size] = '\0';
	int argc = 0;
	for (char *t = strtok(copy, " \t\n"); t && argc < 16; t = strtok(NULL, " \t\n"))
		argv[argc++] = t;
	struct ctl_cmd_shape sh;
	json_t *args = NULL;
	char err[512];
	if (ctl_grammar_match(argc, argv, &sh, &args, err, sizeof(err)) == 0)
		json_decref(args);
	free(copy);
	return 0;
}
