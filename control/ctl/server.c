/* SPDX-License-Identifier: MIT */
/*
 * server.c: the admin socket (see server.h): an epoll set of one listener and up to
 * CTL_MAX_CLIENTS peers, JSON-lines requests validated against the grammar, a registry of
 * command handlers, synchronous or asynchronous replies, and an audit record per request.
 */
#include "ctl/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/audit.h"
#include "ctl/buf.h"
#include "ctl/grammar.h"
#include "log.h"

#define LISTENER UINT32_MAX

struct ctl_client {
	int fd;                 /* -1: free slot */
	uid_t uid;
	pid_t pid;
	uint32_t gen;           /* distinguishes successive peers of one slot in tokens */
	char *in;               /* CTL_REQ_MAX bytes */
	size_t inlen;
	struct ctl_buf out;
	bool busy;              /* an asynchronous request is in progress */
	bool closing;           /* close once out is flushed */
	uint32_t events;        /* epoll interest registered now */
	json_t *pend_id;        /* the in-progress request, for its reply and audit record */
	json_t *pend_args;
	char pend_cmd[64];
	bool pend_quiet;
};

struct ctl_handler_ent {
	char name[64];
	ctl_handler_fn *fn;
	void *arg;
};

struct ctl_server {
	int lfd, epfd;
	char *path;
	struct ctl_audit *audit;
	struct ctl_client c[CTL_MAX_CLIENTS];
	uint32_t gen;
	struct ctl_handler_ent *h;
	size_t nh, caph;
	ctl_audit_hook_fn *hook;
	void *hook_arg;
	uint64_t requests, refused;
};

/* ---- set-up ------------------------------------------------------------------------------- */

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST; /* never unlink something that is not a socket */
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* umask first so the socket never exists with wider permissions, even briefly */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

struct ctl_server *ctl_server_new(const char *path, struct ctl_audit *audit, int *err)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->lfd = s->epfd = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		s->c[i].fd = -1;
	s->audit = audit;
	s->path = strdup(path);
	if (!s->path) {
		*err = -ENOMEM;
		goto err;
	}
	s->lfd = listen_unix(path);
	if (s->lfd < 0) {
		*err = s->lfd;
		goto err;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = LISTENER };
	if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		*err = -errno;
		goto err;
	}
	log_info("ctl admin socket=%s mode=0600", path);
	return s;
err:
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(path);
	}
	free(s->path);
	free(s);
	return NULL;
}

static void client_close(struct ctl_server *s, struct ctl_client *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	ctl_buf_free(&c->out);
	json_decref(c->pend_id);
	json_decref(c->pend_args);
	c->pend_id = c->pend_args = NULL;
	c->busy = c->closing = false;
	c->events = 0;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (s->c[i].fd >= 0)
			client_close(s, &s->c[i]);
	close(s->epfd);
	close(s->lfd);
	unlink(s->path);
	free(s->path);
	free(s->h);
	free(s);
}

int ctl_register(struct ctl_server *s, const char *name, ctl_handler_fn *fn, void *arg)
{
	if (!ctl_grammar_find(name) || strlen(name) >= sizeof(s->h[0].name))
		return -ENOENT;
	for (size_t i = 0; i < s->nh; i++)
		if (strcmp(s->h[i].name, name) == 0)
			return -EEXIST;
	if (s->nh == s->caph) {
		size_t cap = s->caph ? s->caph * 2 : 32;
		struct ctl_handler_ent *h = realloc(s->h, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		s->h = h;
		s->caph = cap;
	}
	struct ctl_handler_ent *e = &s->h[s->nh++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->fn = fn;
	e->arg = arg;
	return 0;
}

int ctl_server_fd(const struct ctl_server *s) { return s->epfd; }
uint64_t ctl_server_requests(const struct ctl_server *s) { return s->requests; }
uint64_t ctl_server_refused(const struct ctl_server *s) { return s->refused; }

void ctl_server_set_audit_hook(struct ctl_server *s, ctl_audit_hook_fn *fn, void *arg)
{
	s->hook = fn;
	s->hook_arg = arg;
}

/* ---- output ------------------------------------------------------------------------------- */

/* Interest follows state: read only when idle (an async request or a closing peer stops
 * reading, which also keeps a half-closed peer from waking the loop), write while output waits. */
static void client_interest(struct ctl_server *s, struct ctl_client *c)
{
	uint32_t want = (!c->busy && !c->closing ? EPOLLIN : 0) | (c->out.len ? EPOLLOUT : 0);
	if (c->events == want)
		return;
	struct epoll_event ev = { .events = want, .data.u32 = (uint32_t)(c - s->c) };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->events = want;
}

/* Writes what it can; returns false when the peer was closed. */
static bool client_flush(struct ctl_server *s, struct ctl_client *c)
{
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			client_close(s, c);
			return false;
		}
		ctl_buf_consume(&c->out, (size_t)n);
	}
	if (!c->out.len && c->closing && !c->busy) {
		client_close(s, c);
		return false;
	}
	client_interest(s, c);
	return true;
}

static void audit(struct ctl_server *s, const struct ctl_client *c, const char *cmd, json_t *args,
		  const char *err_msg)
{
	json_t *rec = NULL;
	ctl_audit_write(s->audit, c->uid, c->pid, cmd, args, err_msg, s->hook ? &rec : NULL);
	if (rec) {
		s->hook(rec, s->hook_arg);
		json_decref(rec);
	}
}

/* Queues one reply line; takes result. */
static void client_reply(struct ctl_server *s, struct ctl_client *c, json_t *id, json_t *result,
			 const char *err_msg)
{
	json_t *r = json_pack("{s:O,s:b}", "id", id ? id : json_null(), "ok", err_msg == NULL);
	if (err_msg)
		json_object_set_new(r, "error", json_string(err_msg));
	else
		json_object_set_new(r, "result", result ? result : json_object());
	if (err_msg)
		json_decref(result);
	char *line = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	if (line) {
		ctl_buf_append(&c->out, line, strlen(line));
		ctl_buf_append(&c->out, "\n", 1);
		free(line);
	}
	s->requests++;
}

/* ---- requests ----------------------------------------------------------------------------- */

static struct ctl_handler_ent *handler_find(struct ctl_server *s, const char *name)
{
	for (size_t i = 0; i < s->nh; i++)
		if (strcmp(s->h[i].name, name) == 0)
			return &s->h[i];
	return NULL;
}

/* A copy of args with every value replaced, for commands whose arguments are personal data. */
static json_t *redacted(json_t *args)
{
	json_t *r = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(args, k, v)
		json_object_set_new(r, k, json_string("[redacted]"));
	return r;
}

static void request(struct ctl_server *s, struct ctl_client *c, const char *line, size_t len)
{
	char err[512] = "";
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *id = json_object_get(req, "id"), *args = json_object_get(req, "args");
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	struct ctl_cmd_shape sh;
	if (!json_is_object(req)) {
		snprintf(err, sizeof(err), "bad request: %s", req ? "not a JSON object" : jerr.text);
		audit(s, c, "?", NULL, err);
		client_reply(s, c, NULL, NULL, err);
		goto out;
	}
	if (!cmd || ctl_grammar_check(cmd, args, &sh, err, sizeof(err)) < 0) {
		if (!cmd)
			snprintf(err, sizeof(err), "bad request: no \"cmd\" string");
		const struct ctl_cmd_def *def = cmd ? ctl_grammar_find(cmd) : NULL;
		json_t *aa = def && (def->flags & CTL_CMD_REDACT) ? redacted(args) : json_incref(args);
		audit(s, c, cmd ? cmd : "?", aa, def && (def->flags & CTL_CMD_REDACT) ?
		      "invalid arguments" : err);
		json_decref(aa);
		client_reply(s, c, id, NULL, err);
		goto out;
	}
	bool quiet = sh.def->flags & CTL_CMD_QUIET;
	json_t *audit_args = sh.def->flags & CTL_CMD_REDACT ? redacted(args) : json_incref(args);
	struct ctl_handler_ent *h = handler_find(s, sh.name);
	if (!h) {
		snprintf(err, sizeof(err), "'%s' is not available in this build", sh.name);
		audit(s, c, sh.name, audit_args, err);
		client_reply(s, c, id, NULL, err);
		json_decref(audit_args);
		goto out;
	}
	json_t *empty = args ? NULL : json_object();
	struct ctl_req r = { .cmd = sh.name, .args = args ? args : empty, .uid = c->uid,
			     .pid = c->pid,
			     .token = ((uint64_t)(c - s->c) << 32) | c->gen };
	json_t *result = NULL;
	int rc = h->fn(&r, &result, err, sizeof(err), h->arg);
	if (rc == CTL_ASYNC) {
		c->busy = true;
		c->pend_id = json_incref(id);
		c->pend_args = json_incref(audit_args);
		c->pend_quiet = quiet;
		snprintf(c->pend_cmd, sizeof(c->pend_cmd), "%s", sh.name);
		json_decref(empty);
		json_decref(audit_args);
		goto out;
	}
	if (rc != CTL_OK && !err[0])
		snprintf(err, sizeof(err), "'%s' failed", sh.name);
	if (!quiet || rc != CTL_OK)
		audit(s, c, sh.name, audit_args, rc == CTL_OK ? NULL : err);
	client_reply(s, c, id, result, rc == CTL_OK ? NULL : err);
	json_decref(empty);
	json_decref(audit_args);
out:
	json_decref(req);
}

static void client_lines(struct ctl_server *s, struct ctl_client *c);

void ctl_server_dispatch(struct ctl_server *s, uid_t uid, pid_t pid, const char *line, size_t len,
			 char **out, size_t *outlen)
{
	/* A detached client: gen 0 never matches a real peer, so an async token goes nowhere. */
	struct ctl_client c = { .fd = -1, .uid = uid, .pid = pid };
	ctl_buf_init(&c.out);
	request(s, &c, line, len);
	if (c.busy) {
		client_reply(s, &c, c.pend_id, NULL, "asynchronous command: use the socket");
		json_decref(c.pend_id);
		json_decref(c.pend_args);
	}
	char *o = realloc(*out, *outlen + c.out.len + 1);
	if (o) {
		memcpy(o + *outlen, c.out.data ? c.out.data : "", c.out.len);
		*outlen += c.out.len;
		o[*outlen] = '\0';
		*out = o;
	}
	ctl_buf_free(&c.out);
}

int ctl_server_reply_async(struct ctl_server *s, uint64_t token, json_t *result,
			   const char *err_msg)
{
	uint32_t slot = (uint32_t)(token >> 32);
	struct ctl_client *c = slot < CTL_MAX_CLIENTS ? &s->c[slot] : NULL;
	if (!c || c->fd < 0 || c->gen != (uint32_t)token || !c->busy) {
		json_decref(result);
		return -ENOENT;
	}
	if (!c->pend_quiet || err_msg)
		audit(s, c, c->pend_cmd, c->pend_args, err_msg);
	client_reply(s, c, c->pend_id, result, err_msg);
	json_decref(c->pend_id);
	json_decref(c->pend_args);
	c->pend_id = c->pend_args = NULL;
	c->busy = false;
	client_lines(s, c); /* lines that were already read behind the async one */
	client_flush(s, c);
	return 0;
}

/* Handles the complete lines in c->in; stops at an asynchronous request. */
static void client_lines(struct ctl_server *s, struct ctl_client *c)
{
	size_t start = 0;
	while (!c->busy && start < c->inlen) {
		char *nl = memchr(c->in + start, '\n', c->inlen - start);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (c->in + start));
		if (len && !(len == 1 && c->in[start] == '\r'))
			request(s, c, c->in + start, len);
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	if (c->inlen == CTL_REQ_MAX && !c->busy) {
		client_reply(s, c, NULL, NULL, "request too long (limit 65536 bytes)");
		c->closing = true;
		c->inlen = 0;
	}
}

static void client_input(struct ctl_server *s, struct ctl_client *c)
{
	if (!c->busy && !c->closing) {
		ssize_t n = recv(c->fd, c->in + c->inlen, CTL_REQ_MAX - c->inlen, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			c->closing = true; /* peer done: finish what is queued, then close */
		} else if (n > 0) {
			c->inlen += (size_t)n;
		}
		client_lines(s, c);
	}
	client_flush(s, c);
}

/* ---- accept ------------------------------------------------------------------------------- */

static void refuse(struct ctl_server *s, int fd, const struct ucred *cr, const char *why)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"id\":null,\"ok\":false,\"error\":\"%s\"}\n", why);
	(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	s->refused++;
	struct ctl_client tmp = { .uid = cr->uid, .pid = cr->pid };
	audit(s, &tmp, "connect", NULL, why);
	log_warn("ctl refused peer uid=%u pid=%d reason=\"%s\"", (unsigned)cr->uid, (int)cr->pid, why);
}

static void accept_peers(struct ctl_server *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t len = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			refuse(s, fd, &cr, "no peer credentials");
			continue;
		}
		if (cr.uid != geteuid() && cr.uid != 0) {
			refuse(s, fd, &cr, "permission denied: the admin socket serves its owner only");
			continue;
		}
		int slot = 0;
		while (slot < CTL_MAX_CLIENTS && s->c[slot].fd >= 0)
			slot++;
		struct ctl_client *c = slot < CTL_MAX_CLIENTS ? &s->c[slot] : NULL;
		char *in = c ? malloc(CTL_REQ_MAX) : NULL;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)slot };
		if (!in || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(in);
			refuse(s, fd, &cr, "too many admin connections");
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->gen = ++s->gen;
		c->in = in;
		c->events = EPOLLIN;
		ctl_buf_init(&c->out);
	}
}

void ctl_server_run(struct ctl_server *s)
{
	struct epoll_event ev[CTL_MAX_CLIENTS + 1];
	int n = epoll_wait(s->epfd, ev, CTL_MAX_CLIENTS + 1, 0);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == LISTENER) {
			accept_peers(s);
			continue;
		}
		struct ctl_client *c = &s->c[ev[i].data.u32];
		if (c->fd < 0)
			continue;
		if (ev[i].events & (EPOLLERR | EPOLLHUP) && !(ev[i].events & EPOLLIN))
			client_close(s, c);
		else
			client_input(s, c);
	}
}
