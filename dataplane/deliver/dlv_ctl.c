/* SPDX-License-Identifier: MIT */
/*
 * dlv_ctl.c: the admin commands of the delivery queues, carried between the control thread and
 * the workers by two single-producer rings per worker (requests down, rows up). See dlv_ctl.h.
 * The worker side turns a request into a call of dlv_ops.c and streams the resulting JSON rows
 * back; the control side parses them (jansson lives on the control thread only), merges the
 * answers of all workers and completes the admin request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl/ring.h"
#include "ctl/server.h"
#include "deliver/dlv_ctl.h"
#include "deliver/dlv_int.h"

#define RING_BYTES   (256 * 1024)
#define PEND_MAX     16
#define ANSWER_US    (5ull * 1000000)

enum dlv_ctl_op { OP_SUMMARY = 1, OP_LIST, OP_SHOW, OP_FLUSH, OP_DELETE, OP_BOUNCE, OP_SUSPEND, OP_RESUME };

struct dlv_ctl_req {
	uint32_t seq;
	uint8_t op;
	uint64_t qid;                 /* OP_SHOW, OP_DELETE/OP_BOUNCE of one message (0: by name) */
	uint64_t duration_s;          /* OP_SUSPEND; 0: until resumed */
	char name[DLV_HOST_MAX + 1];  /* destination ("" = all) */
};

enum { REP_ROW = 1, REP_END };

struct dlv_ctl_rep {
	uint32_t seq;
	uint8_t kind;
	int32_t count;                /* REP_END: what the operation touched (or -errno) */
};

struct pending {
	bool used;
	uint8_t op;
	uint64_t token;
	uint32_t seq;
	unsigned waiting;             /* workers that have not sent REP_END yet */
	long count;
	json_t *rows;
	uint64_t deadline;
};

struct dlv_ctl {
	unsigned n;
	struct ctl_ring **down, **up;
	struct ctl_server *srv;
	uint32_t seq;
	uint64_t now;
	struct pending pend[PEND_MAX];
};

struct dlv_ctl *dlv_ctl_new(unsigned nworkers)
{
	struct dlv_ctl *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->n = nworkers;
	c->down = calloc(nworkers ? nworkers : 1, sizeof(*c->down));
	c->up = calloc(nworkers ? nworkers : 1, sizeof(*c->up));
	if (!c->down || !c->up)
		goto err;
	for (unsigned i = 0; i < nworkers; i++)
		if (!(c->down[i] = ctl_ring_new(RING_BYTES / 4)) || !(c->up[i] = ctl_ring_new(RING_BYTES)))
			goto err;
	return c;
err:
	dlv_ctl_free(c);
	return NULL;
}

void dlv_ctl_free(struct dlv_ctl *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->down)
			ctl_ring_free(c->down[i]);
		if (c->up)
			ctl_ring_free(c->up[i]);
	}
	for (unsigned i = 0; i < PEND_MAX; i++)
		json_decref(c->pend[i].rows);
	free(c->down);
	free(c->up);
	free(c);
}

/* ---- worker side ---- */

struct row_ctx {
	struct ctl_ring *up;
	uint32_t seq;
};

static void emit_row(void *arg, const char *json, size_t len)
{
	struct row_ctx *rc = arg;
	struct dlv_ctl_rep h = { .seq = rc->seq, .kind = REP_ROW };
	ctl_ring_put2(rc->up, &h, sizeof(h), json, len);   /* full ring: the row is lost (counted) */
}

static int32_t serve_one(struct dlv_engine *eng, const struct dlv_ctl_req *rq, struct row_ctx *rc)
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

void dlv_ctl_serve(struct dlv_ctl *c, unsigned slot, struct dlv_engine *eng)
{
	if (!c || slot >= c->n)
		return;
	const void *p;
	size_t len;
	while ((p = ctl_ring_peek(c->down[slot], &len)) != NULL) {
		struct dlv_ctl_req rq;
		if (len == sizeof(rq)) {
			memcpy(&rq, p, sizeof(rq));
			rq.name[sizeof(rq.name) - 1] = 0;
			struct row_ctx rc = { c->up[slot], rq.seq };
			struct dlv_ctl_rep end = { .seq = rq.seq, .kind = REP_END };
			end.count = serve_one(eng, &rq, &rc);
			ctl_ring_put(c->up[slot], &end, sizeof(end));
		}
		ctl_ring_pop(c->down[slot]);
	}
}

/* ---- control side ---- */

static struct pending *pend_by_seq(struct dlv_ctl *c, uint32_t seq)
{
	for (unsigned i = 0; i < PEND_MAX; i++)
		if (c->pend[i].used && c->pend[i].seq == seq)
			return &c->pend[i];
	return NULL;
}

static void complete(struct dlv_ctl *c, struct pending *p, const char *err)
{
	json_t *res = NULL;
	if (!err) {
		switch (p->op) {
		case OP_SUMMARY:
			res = json_pack("{s:O}", "destinations", p->rows);
			break;
		case OP_LIST:
			res = json_pack("{s:O}", "messages", p->rows);
			break;
		case OP_SHOW:
			if (json_array_size(p->rows) == 0)
				err = "no such message in the delivery queue";
			else
				res = json_incref(json_array_get(p->rows, 0));
			break;
		case OP_SUSPEND:
		case OP_RESUME:
			res = json_pack("{s:I}", "workers", (json_int_t)c->n);
			break;
		default:
			res = json_pack("{s:I}", "messages", (json_int_t)p->count);
		}
	}
	ctl_server_reply_async(c->srv, p->token, err ? NULL : res, err);
	if (err)
		json_decref(res);
	json_decref(p->rows);
	p->rows = NULL;
	p->used = false;
}

void dlv_ctl_poll(struct dlv_ctl *c, uint64_t now_us)
{
	c->now = now_us;
	for (unsigned w = 0; w < c->n; w++) {
		const void *m;
		size_t len;
		while ((m = ctl_ring_peek(c->up[w], &len)) != NULL) {
			struct dlv_ctl_rep h;
			if (len >= sizeof(h)) {
				memcpy(&h, m, sizeof(h));
				struct pending *p = pend_by_seq(c, h.seq);
				if (p && h.kind == REP_ROW) {
					json_t *row = json_loadb((const char *)m + sizeof(h), len - sizeof(h), 0, NULL);
					if (row)
						json_array_append_new(p->rows, row);
				} else if (p && h.kind == REP_END) {
					if (h.count > 0)
						p->count += h.count;
					if (--p->waiting == 0)
						complete(c, p, NULL);
				}
			}
			ctl_ring_pop(c->up[w]);
		}
	}
	for (unsigned i = 0; i < PEND_MAX; i++)
		if (c->pend[i].used && c->pend[i].deadline && now_us > c->pend[i].deadline)
			complete(c, &c->pend[i], "the workers did not answer in time");
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

static int submit(struct dlv_ctl *c, const struct ctl_req *req, struct dlv_ctl_req *rq,
		  char *err, size_t errlen)
{
	struct pending *p = NULL;
	for (unsigned i = 0; i < PEND_MAX && !p; i++)
		if (!c->pend[i].used)
			p = &c->pend[i];
	if (!p || c->n == 0) {
		snprintf(err, errlen, c->n ? "too many queue commands in progress" : "no delivery workers");
		return CTL_ERROR;
	}
	rq->seq = ++c->seq;
	for (unsigned w = 0; w < c->n; w++)
		if (ctl_ring_put(c->down[w], rq, sizeof(*rq)) < 0) {
			snprintf(err, errlen, "worker %u is not taking commands", w);
			return CTL_ERROR;   /* workers that got it answer to a seq nobody waits for */
		}
	*p = (struct pending){ .used = true, .op = rq->op, .token = req->token, .seq = rq->seq,
			       .waiting = c->n, .rows = json_array(),
			       .deadline = c->now ? c->now + ANSWER_US : 0 };
	return CTL_ASYNC;
}

static int h_queue(const struct ctl_req *req, json_t **result, char *err, size_t errlen, void *arg)
{
	struct dlv_ctl *c = arg;
	struct dlv_ctl_req rq = { 0 };
	const char *cmd = req->cmd;
	const char *name = arg_str(req->args, "destination");
	(void)result;
	if (strcmp(cmd, "queue summary") == 0) {
		rq.op = OP_SUMMARY;
	} else if (strcmp(cmd, "queue list") == 0) {
		rq.op = OP_LIST;
	} else if (strcmp(cmd, "queue show") == 0) {
		rq.op = OP_SHOW;
		if (!(rq.qid = qid_parse(arg_str(req->args, "id")))) {
			snprintf(err, errlen, "a queue id is 16 hexadecimal digits");
			return CTL_ERROR;
		}
	} else if (strcmp(cmd, "queue flush") == 0) {
		rq.op = OP_FLUSH;
	} else if (strcmp(cmd, "queue delete") == 0 || strcmp(cmd, "queue bounce") == 0) {
		rq.op = cmd[6] == 'd' ? OP_DELETE : OP_BOUNCE;
		name = arg_str(req->args, "target");
		rq.qid = qid_parse(name);
	} else if (strcmp(cmd, "suspend") == 0) {
		rq.op = OP_SUSPEND;
		json_t *d = json_object_get(req->args, "duration");
		rq.duration_s = json_is_integer(d) && json_integer_value(d) > 0 ? (uint64_t)json_integer_value(d) : 0;
	} else {
		rq.op = OP_RESUME;
	}
	if (name && !rq.qid)
		snprintf(rq.name, sizeof(rq.name), "%s", name);
	return submit(c, req, &rq, err, errlen);
}

int dlv_ctl_register(struct dlv_ctl *c, struct ctl_server *srv)
{
	static const char *const cmds[] = {
		"queue summary", "queue list", "queue show", "queue flush", "queue delete",
		"queue bounce", "suspend", "resume",
	};
	c->srv = srv;
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = ctl_register(srv, cmds[i], h_queue, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}
