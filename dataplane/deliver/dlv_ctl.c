/* SPDX-License-Identifier: MIT */
/*
 * dlv_ctl.c: the admin commands of the delivery queues, carried between the control thread and
 * the workers by the control plane's worker queue (ctl_wq: per-worker rings). See dlv_ctl.h.
 * The worker side turns a request into a call of dlv_ops.c and writes the resulting JSON rows
 * into its reply (as many as fit: CTL_WQ_MSG_MAX); the control side parses them (jansson lives
 * on the control thread only), merges the answers of all workers and completes the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "acct/acct.h"
#include "ctl/daemon.h"
#include "ctl/server.h"
#include "ctl/wq.h"
#include "deliver/dlv_ctl.h"
#include "deliver/dlv_int.h"
#include "log.h"
#include "main/dp-t.h"
#include "main/dp.h"
#include "relay/rly_lcore.h"

#define ANSWER_US    (5ull * 1000000)

enum dlv_ctl_op { OP_SUMMARY = 1, OP_LIST, OP_SHOW, OP_FLUSH, OP_DELETE, OP_BOUNCE, OP_SUSPEND, OP_RESUME };

struct dlv_ctl_req {
	uint8_t op;
	uint64_t qid;                 /* OP_SHOW, OP_DELETE/OP_BOUNCE of one message (0: by name) */
	uint64_t duration_s;          /* OP_SUSPEND; 0: until resumed */
	char name[DLV_HOST_MAX + 1];  /* destination ("" = all) */
};

/* A worker's answer: this header, then a JSON array of rows (as many as fit). */
struct dlv_ctl_rep {
	int32_t count;                /* what the operation touched or found (or -errno) */
	uint8_t truncated;            /* rows left out: the reply buffer was full */
};

/* One admin request waiting for the workers (control thread only). */
struct dlv_ctl_pending {
	struct ctl_server *srv;
	uint64_t token;
	uint8_t op;
};

/* ---- worker side ---- */

struct row_buf {
	char *p;
	size_t len, cap;
	bool truncated;
};

static void emit_row(void *arg, const char *json, size_t len)
{
	struct row_buf *rb = arg;
	if (rb->len + len + 2 > rb->cap) {
		rb->truncated = true;
		return;
	}
	if (rb->len > 1)
		rb->p[rb->len++] = ',';
	memcpy(rb->p + rb->len, json, len);
	rb->len += len;
}

static int32_t serve_one(struct dlv_engine *eng, const struct dlv_ctl_req *rq, struct row_buf *rc)
{
	switch (rq->op) {
	case OP_SUMMARY:
		return dlv_op_summary(eng, emit_row, rc);
	case OP_LIST:
		return dlv_op_list(eng, rq->name, emit_row, rc);
	case OP_SHOW:
		return dlv_op_show(eng, rq->qid, emit_row, rc);
	case OP_FLUSH:
		return dlv_op_flush(eng, rq->name);
	case OP_DELETE:
	case OP_BOUNCE:
		return dlv_op_remove(eng, rq->qid, rq->name, rq->op == OP_BOUNCE);
	case OP_SUSPEND:
		return dlv_op_suspend(eng, rq->name, rq->duration_s ? eng->now + rq->duration_s * 1000000 : UINT64_MAX);
	case OP_RESUME:
		return dlv_op_suspend(eng, rq->name, 0);
	default:
		return -EINVAL;
	}
}

static size_t wq_handler(uint16_t kind, const void *req, size_t len, void *reply, size_t cap,
			 void *worker_ctx)
{
	struct dlv_engine *eng = worker_ctx;
	struct dlv_ctl_req rq;
	struct dlv_ctl_rep h = { 0 };
	if (len != sizeof(rq) || cap < sizeof(h) + 2)
		return 0;
	memcpy(&rq, req, sizeof(rq));
	rq.name[sizeof(rq.name) - 1] = 0;
	struct row_buf rb = { (char *)reply + sizeof(h), 1, cap - sizeof(h), false };
	rb.p[0] = '[';
	h.count = serve_one(eng, &rq, &rb);
	rb.p[rb.len++] = ']';
	h.truncated = rb.truncated;
	memcpy(reply, &h, sizeof(h));
	(void)kind;
	return sizeof(h) + rb.len;
}

/* ---- control side ---- */

static void wq_done(void *arg, const void *const *replies, const size_t *lens, unsigned n,
		    bool complete)
{
	struct dlv_ctl_pending *p = arg;
	json_t *rows = json_array();
	long count = 0;
	bool truncated = false;
	for (unsigned w = 0; w < n; w++) {
		struct dlv_ctl_rep h;
		if (!replies[w] || lens[w] < sizeof(h))
			continue;
		memcpy(&h, replies[w], sizeof(h));
		count += h.count > 0 ? h.count : 0;
		truncated |= h.truncated;
		json_t *a = json_loadb((const char *)replies[w] + sizeof(h), lens[w] - sizeof(h), 0, NULL);
		json_array_extend(rows, a);
		json_decref(a);
	}
	json_t *res = NULL;
	const char *err = NULL;
	switch (p->op) {
	case OP_SUMMARY:
		res = json_pack("{s:O,s:b}", "destinations", rows, "truncated", truncated);
		break;
	case OP_LIST:
		res = json_pack("{s:O,s:I,s:b}", "messages", rows, "total", (json_int_t)count, "truncated", truncated);
		break;
	case OP_SHOW:
		if (json_array_size(rows) == 0)
			err = "no such message in the delivery queue";
		else
			res = json_incref(json_array_get(rows, 0));
		break;
	case OP_SUSPEND:
	case OP_RESUME:
		res = json_pack("{s:I}", "destinations", (json_int_t)count);
		break;
	default:
		res = json_pack("{s:I}", "messages", (json_int_t)count);
	}
	if (!complete && !err)
		json_object_set_new(res, "incomplete", json_true());   /* a worker did not answer */
	ctl_server_reply_async(p->srv, p->token, err ? NULL : res, err);
	if (err)
		json_decref(res);
	json_decref(rows);
	free(p);
}

static uint64_t qid_parse(const char *s)
{
	char *end;
	if (!s || strlen(s) != 16)
		return 0;
	unsigned long long v = strtoull(s, &end, 16);
	return *end ? 0 : v;
}

static const char *arg_str(json_t *args, const char *k)
{
	return json_string_value(json_object_get(args, k));
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Parses the command into a request; 0 or -1 with err. */
static int parse_req(const struct ctl_req *req, struct dlv_ctl_req *rq, char *err, size_t errlen)
{
	const char *cmd = req->cmd;
	const char *name = arg_str(req->args, "destination");
	if (strcmp(cmd, "queue summary") == 0) {
		rq->op = OP_SUMMARY;
	} else if (strcmp(cmd, "queue list") == 0) {
		rq->op = OP_LIST;
	} else if (strcmp(cmd, "queue show") == 0) {
		rq->op = OP_SHOW;
		if (!(rq->qid = qid_parse(arg_str(req->args, "id")))) {
			snprintf(err, errlen, "a queue id is 16 hexadecimal digits");
			return -1;
		}
	} else if (strcmp(cmd, "queue flush") == 0) {
		rq->op = OP_FLUSH;
	} else if (strcmp(cmd, "queue delete") == 0 || strcmp(cmd, "queue bounce") == 0) {
		rq->op = cmd[6] == 'd' ? OP_DELETE : OP_BOUNCE;
		name = arg_str(req->args, "target");
		rq->qid = qid_parse(name);
	} else if (strncmp(cmd, "suspend", 7) == 0) {   /* suspend, suspend --local */
		rq->op = OP_SUSPEND;
		json_t *d = json_object_get(req->args, "duration");
		rq->duration_s = json_is_integer(d) && json_integer_value(d) > 0 ? (uint64_t)json_integer_value(d) : 0;
	} else {
		rq->op = OP_RESUME;
	}
	if (name && !rq->qid)
		snprintf(rq->name, sizeof(rq->name), "%s", name);
	return 0;
}

static int h_queue(const struct ctl_req *req, json_t **result, char *err, size_t errlen, void *arg)
{
	struct ctl_daemon *d = arg;
	struct dlv_ctl_req rq = { 0 };
	(void)result;
	if (parse_req(req, &rq, err, errlen) < 0)
		return CTL_ERROR;
	struct dlv_ctl_pending *p = malloc(sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return CTL_ERROR;
	}
	*p = (struct dlv_ctl_pending){ ctl_daemon_server(d), req->token, rq.op };
	int rc = ctl_wq_broadcast(ctl_daemon_wq(d), DLV_WQ_KIND, &rq, sizeof(rq), mono_us(), ANSWER_US,
				  wq_done, p);
	if (rc < 0) {
		free(p);
		snprintf(err, errlen, "the delivery workers cannot take a command now (%s)", strerror(-rc));
		return CTL_ERROR;
	}
	return CTL_ASYNC;
}

int dlv_ctl_init(struct ctl_daemon *d)
{
	static const char *const cmds[] = {
		"queue summary", "queue list", "queue show", "queue flush", "queue delete",
		"queue bounce", "suspend --local", "resume --local", "suspend", "resume",
	};
	struct dp_rt *rt = ctl_daemon_rt(d);
	for (uint16_t i = 0; rt && i < rt->n_workers; i++) {
		struct dlv_engine *eng = rly_lcore_dlv(dp_lcore_module_state(rt->lc[i], "mta"));
		if (!eng)
			continue;
		/* workers do not run yet: handing them pointers is safe here */
		dlv_engine_set_acct(eng, ctl_daemon_acct(d));
		int rc = ctl_wq_set_handler(ctl_daemon_wq(d), DLV_WQ_KIND, i, wq_handler, eng);
		if (rc < 0) {
			log_err("event=startup_failed reason=\"delivery commands for worker %u\" err=%d", i, rc);
			return rc;
		}
	}
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = ctl_register(ctl_daemon_server(d), cmds[i], h_queue, d);
		if (rc == -EEXIST && strncmp(cmds[i], "queue", 5) != 0)
			continue;   /* plain suspend/resume served cluster-wide (control/cluster) */
		if (rc < 0) {
			log_err("event=startup_failed reason=\"admin command %s\" err=%d", cmds[i], rc);
			return rc;
		}
	}
	return 0;
}

void dlv_ctl_fini(struct ctl_daemon *d)
{
	(void)d;
}
