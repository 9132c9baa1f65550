/* SPDX-License-Identifier: MIT */
/*
 * server.h: the admin socket. A unix stream socket (mode 0600; peers whose uid is neither ours
 * nor root are refused after an SO_PEERCRED check) speaking JSON lines:
 *     request  {"id": 7, "cmd": "queue list", "args": {"destination": "example.org"}}
 *     reply    {"id": 7, "ok": true, "result": {...}}  or  {"id": 7, "ok": false, "error": "..."}
 * Served from the control loop: everything is non-blocking, a request line is at most
 * CTL_REQ_MAX bytes, at most CTL_MAX_CLIENTS peers at once, one request in progress per peer.
 *
 * Modules serve commands by registering handlers for grammar entries (control/ctl/grammar.c).
 * A command in the grammar without a handler answers "not available in this build".
 */
#ifndef DPMAIL_CTL_SERVER_H
#define DPMAIL_CTL_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define CTL_REQ_MAX     65536
#define CTL_MAX_CLIENTS 16

struct ctl_server;
struct ctl_audit;

/* What a handler learns about a request. Valid during the handler call only. */
struct ctl_req {
	const char *cmd;      /* grammar command name, "queue list" */
	json_t *args;         /* validated against the grammar; borrowed */
	uid_t uid;            /* peer credentials (SO_PEERCRED) */
	pid_t pid;
	uint64_t token;       /* for ctl_server_reply_async */
};

enum { CTL_OK = 0, CTL_ERROR = -1, CTL_ASYNC = 1 };

/*
 * A command handler. Returns CTL_OK with *result set to a new reference (or left NULL for an
 * empty result), CTL_ERROR with a message in err, or CTL_ASYNC after keeping req->token: the
 * reply then comes later through ctl_server_reply_async (e.g. after worker lcores answered).
 */
typedef int ctl_handler_fn(const struct ctl_req *req, json_t **result, char *err, size_t errlen,
			   void *arg);

/* Called after each audited request with the audit record (borrowed). */
typedef void ctl_audit_hook_fn(json_t *record, void *arg);

/*
 * Listens on path (replacing a stale socket there; refusing to replace anything else).
 * audit may be NULL (no audit file). Returns NULL with *err = -errno.
 */
struct ctl_server *ctl_server_new(const char *path, struct ctl_audit *audit, int *err);
void ctl_server_free(struct ctl_server *s);

/*
 * Serves command name with fn(arg). Returns 0, -ENOENT (not in the grammar: add it there
 * first), -EEXIST (already served).
 */
int ctl_register(struct ctl_server *s, const char *name, ctl_handler_fn *fn, void *arg);

/* The one fd to poll for POLLIN (an epoll set of the listener and the peers). */
int ctl_server_fd(const struct ctl_server *s);
/* Does all pending socket work without blocking. */
void ctl_server_run(struct ctl_server *s);

/*
 * Completes a CTL_ASYNC request: result (ownership taken; NULL allowed) when err_msg is NULL,
 * else an error. Returns 0, or -ENOENT when the peer went away (the reply is dropped).
 */
int ctl_server_reply_async(struct ctl_server *s, uint64_t token, json_t *result,
			   const char *err_msg);

/*
 * Handles one request line as if peer (uid, pid) had sent it and appends the reply line to
 * *out (a malloc(3)ed buffer grown with realloc; *outlen its length). For tests and the
 * fuzzer; asynchronous handlers answer "asynchronous command" errors here.
 */
void ctl_server_dispatch(struct ctl_server *s, uid_t uid, pid_t pid, const char *line, size_t len,
			 char **out, size_t *outlen);

void ctl_server_set_audit_hook(struct ctl_server *s, ctl_audit_hook_fn *fn, void *arg);

/* Counters for status: requests served, refused peers. */
uint64_t ctl_server_requests(const struct ctl_server *s);
uint64_t ctl_server_refused(const struct ctl_server *s);

#endif
