/* SPDX-License-Identifier: MIT */
/*
 * dlv_ops.c: operator actions on this lcore's delivery queues, executed on the worker itself
 * (requests arrive through dlv_ctl's ring): summary per destination, list, show, flush (retry
 * now), delete / bounce, suspend / resume. Rows are JSON objects written with snprintf (no
 * allocation on the worker); strings are escaped here.
 *
 * A job on a connection (a transaction in progress) is never touched: delete/bounce skip it
 * and say so through the count; it finishes on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deliver/dlv_int.h"
#include "log.h"
#include "spool/spool.h"

#define ROW_MAX 2048

static const char *const state_names[] = {
	[DLV_J_FREE] = "free", [DLV_J_RESOLVE] = "resolving", [DLV_J_READY] = "queued",
	[DLV_J_ACTIVE] = "active", [DLV_J_DEFERRED] = "deferred",
};

/* Appends s (len bytes) as a JSON string; returns the new offset (clamped to cap). */
static size_t jstr(char *b, size_t off, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	if (off < cap)
		b[off++] = '"';
	for (size_t i = 0; i < len && off + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			b[off++] = '\\';
			b[off++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			off += (size_t)snprintf(b + off, cap - off, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		} else {
			b[off++] = (char)c;
		}
	}
	if (off < cap)
		b[off++] = '"';
	return off;
}

static size_t jcat(char *b, size_t off, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (off + n >= cap)
		return cap;
	memcpy(b + off, s, n);
	return off + n;
}

bool dlv_dest_matches(const struct dlv_dest *d, const char *name)
{
	if (!name || !name[0])
		return true;
	size_t n = strlen(name);
	if (strcasecmp(d->key, name) == 0 || strcasecmp(d->domain, name) == 0)
		return true;
	/* the base of the key (without the |tls=... class parts) names every class of it */
	if (n == d->base_len && strncasecmp(d->key, name, n) == 0)
		return true;
	size_t pl = strncmp(d->key, "route:", 6) == 0 ? 6 : strncmp(d->key, "site:", 5) == 0 ? 5 : 0;
	if (pl && n + pl == d->base_len && strncasecmp(d->key + pl, name, n) == 0)
		return true;   /* route:NAME and site:NAME answer to NAME */
	for (unsigned i = 0; i < d->nhops; i++)
		if (strcasecmp(d->hops[i].host, name) == 0)
			return true;
	return false;
}

uint64_t dlv_suspended(const struct dlv_engine *eng, const struct dlv_dest *d)
{
	for (unsigned i = 0; i < eng->n_susp; i++)
		if (eng->susp[i].until > eng->now && dlv_dest_matches(d, eng->susp[i].name))
			return eng->susp[i].until;
	return 0;
}

#define FOR_EACH_JOB(eng, j)                                                      \
	for (uint32_t _s = 0; _s < (eng)->n_slabs; _s++)                          \
		for (struct dlv_job *j = (eng)->slabs[_s]; j < (eng)->slabs[_s] + DLV_JOB_SLAB; j++) \
			if (j->st != DLV_J_FREE)

#define FOR_EACH_DEST(eng, d)                                                     \
	for (unsigned _h = 0; _h < DLV_DEST_HASH; _h++)                           \
		for (struct dlv_dest *d = (eng)->hash[_h]; d; d = d->next_hash)

static uint64_t secs_until(const struct dlv_engine *eng, uint64_t when)
{
	return when > eng->now ? (when - eng->now + 999999) / 1000000 : 0;
}

int dlv_op_summary(struct dlv_engine *eng, dlv_row_fn *emit, void *arg)
{
	FOR_EACH_DEST(eng, d) {
		d->n_ready = d->n_active = d->n_deferred = 0;
		d->next_due = UINT64_MAX;
	}
	FOR_EACH_JOB(eng, j) {
		struct dlv_dest *d = j->home;
		if (!d)
			continue;
		if (j->st == DLV_J_DEFERRED) {
			d->n_deferred++;
			if (j->due < d->next_due)
				d->next_due = j->due;
		} else if (j->st == DLV_J_ACTIVE) {
			d->n_active++;
		} else {
			d->n_ready++;
		}
	}
	int n = 0;
	FOR_EACH_DEST(eng, d) {
		bool susp = d->susp_until > eng->now;
		if (!d->n_ready && !d->n_active && !d->n_deferred && !susp)
			continue;
		char b[ROW_MAX];
		size_t o = jcat(b, 0, sizeof(b), "{\"destination\":");
		o = jstr(b, o, sizeof(b), d->key, strlen(d->key));
		o = jcat(b, o, sizeof(b), ",\"domain\":");
		o = jstr(b, o, sizeof(b), d->domain, strlen(d->domain));
		char nums[256];
		snprintf(nums, sizeof(nums), ",\"worker\":%u,\"queued\":%u,\"active\":%u,\"deferred\":%u,"
			 "\"connections\":%u,\"next_attempt_in_s\":%llu,\"suspended\":%s,\"suspended_for_s\":%llu,"
			 "\"rate_factor_permille\":%u}", eng->p.lcore_index, d->n_ready, d->n_active, d->n_deferred,
			 d->nconn, d->next_due == UINT64_MAX ? 0ull : (unsigned long long)secs_until(eng, d->next_due),
			 susp ? "true" : "false",
			 susp && d->susp_until != UINT64_MAX ? (unsigned long long)secs_until(eng, d->susp_until) : 0ull,
			 d->bo.factor);
		o = jcat(b, o, sizeof(b), nums);
		emit(arg, b, o);
		n++;
	}
	return n;
}

static void job_row(struct dlv_engine *eng, const struct dlv_job *j, dlv_row_fn *emit, void *arg)
{
	char b[ROW_MAX], q[24], nums[200];
	size_t o = jcat(b, 0, sizeof(b), "{\"qid\":\"");
	o = jcat(b, o, sizeof(b), spool_qid_str(j->qid, q));
	o = jcat(b, o, sizeof(b), "\",\"destination\":");
	const char *k = j->home ? j->home->key : "";
	o = jstr(b, o, sizeof(b), k, strlen(k));
	snprintf(nums, sizeof(nums), ",\"state\":\"%s\",\"attempts\":%u,\"recipients\":%u,\"next_attempt_in_s\":%llu,"
		 "\"worker\":%u}", state_names[j->st], j->attempts, j->nrc,
		 j->st == DLV_J_DEFERRED ? (unsigned long long)secs_until(eng, j->due) : 0ull,
		 eng->p.lcore_index);
	o = jcat(b, o, sizeof(b), nums);
	emit(arg, b, o);
}

int dlv_op_list(struct dlv_engine *eng, const char *dest, dlv_row_fn *emit, void *arg)
{
	int n = 0;
	FOR_EACH_JOB(eng, j) {
		if (dest[0] && !(j->home && dlv_dest_matches(j->home, dest)))
			continue;
		if (n++ < 1000)
			job_row(eng, j, emit, arg);
	}
	return n;
}

int dlv_op_show(struct dlv_engine *eng, uint64_t qid, dlv_row_fn *emit, void *arg)
{
	const struct spool_msg *m = spool_msg_get(eng->sp, qid);
	if (!m)
		return 0;
	char b[8192], q[24], nums[200];
	struct spool_str snd = spool_msg_sender(m);
	size_t o = jcat(b, 0, sizeof(b), "{\"qid\":\"");
	o = jcat(b, o, sizeof(b), spool_qid_str(qid, q));
	o = jcat(b, o, sizeof(b), "\",\"sender\":");
	o = jstr(b, o, sizeof(b), snd.p, snd.len);
	snprintf(nums, sizeof(nums), ",\"size\":%llu,\"attempts\":%u,\"worker\":%u,\"recipients\":[",
		 (unsigned long long)spool_msg_body_len(m), spool_msg_attempts(m), eng->p.lcore_index);
	o = jcat(b, o, sizeof(b), nums);
	static const char *const st[] = { "pending", "delivered", "bounced", "expired" };
	for (uint16_t i = 0; i < spool_msg_nrcpt(m); i++) {
		struct spool_rcpt_view rv;
		if (spool_msg_rcpt(m, i, &rv) < 0)
			continue;
		o = jcat(b, o, sizeof(b), i ? ",{\"address\":" : "{\"address\":");
		o = jstr(b, o, sizeof(b), rv.addr.p, rv.addr.len);
		o = jcat(b, o, sizeof(b), ",\"status\":\"");
		o = jcat(b, o, sizeof(b), rv.status < 4 ? st[rv.status] : "?");
		o = jcat(b, o, sizeof(b), "\"}");
	}
	o = jcat(b, o, sizeof(b), "],\"jobs\":[");
	bool first = true;
	FOR_EACH_JOB(eng, j) {
		if (j->qid != qid)
			continue;
		const char *k = j->home ? j->home->key : "";
		o = jcat(b, o, sizeof(b), first ? "{\"destination\":" : ",{\"destination\":");
		o = jstr(b, o, sizeof(b), k, strlen(k));
		snprintf(nums, sizeof(nums), ",\"state\":\"%s\",\"next_attempt_in_s\":%llu}", state_names[j->st],
			 j->st == DLV_J_DEFERRED ? (unsigned long long)secs_until(eng, j->due) : 0ull);
		o = jcat(b, o, sizeof(b), nums);
		first = false;
	}
	o = jcat(b, o, sizeof(b), "]}");
	if (o >= sizeof(b))
		return -E2BIG;
	emit(arg, b, o);
	return 1;
}

int dlv_op_flush(struct dlv_engine *eng, const char *dest)
{
	int n = 0;
	FOR_EACH_DEST(eng, d)
		if (dlv_dest_matches(d, dest))
			d->fail_until = 0;
	FOR_EACH_JOB(eng, j) {
		if (j->st != DLV_J_DEFERRED || (dest[0] && !(j->home && dlv_dest_matches(j->home, dest))))
			continue;
		dlv_heap_remove(&eng->sched, &j->hn);
		j->st = DLV_J_RESOLVE;
		dlv_job_resolve(eng, j);
		n++;
	}
	log_info("event=queue_flush destination=\"%s\" jobs=%d", dest, n);
	return n;
}

/* Takes j out of its destination's queue (a READY job). */
static void unqueue(struct dlv_dest *d, struct dlv_job *j)
{
	struct dlv_job **pp = &d->qhead, *prev = NULL;
	while (*pp && *pp != j) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = j->next;
	if (d->qtail == j)
		d->qtail = prev;
	d->qlen--;
	j->next = NULL;
}

int dlv_op_remove(struct dlv_engine *eng, uint64_t qid, const char *dest, bool bounce)
{
	int n = 0;
	FOR_EACH_JOB(eng, j) {
		if (qid ? j->qid != qid : !(j->home && dlv_dest_matches(j->home, dest)))
			continue;
		if (j->st != DLV_J_READY && j->st != DLV_J_DEFERRED)
			continue;   /* resolving or on a connection: left alone */
		if (j->st == DLV_J_READY && j->dest)
			unqueue(j->dest, j);
		char q[24];
		log_info("qid=%s event=%s_by_operator rcpts=%u", spool_qid_str(j->qid, q),
			 bounce ? "bounced" : "deleted", j->nrc);
		if (bounce) {
			dlv_job_bounce(eng, j, "5.0.0", "550 5.0.0 returned to the sender by the operator");
		} else {
			static const char why[] = "deleted by the operator";
			uint64_t jq = j->qid;
			uint16_t rc[DLV_JOB_RCPTS];
			unsigned nrc = j->nrc;
			memcpy(rc, j->rc, sizeof(rc[0]) * nrc);
			dlv_job_free(eng, j);
			for (unsigned i = 0; i < nrc; i++)   /* no DSN: the operator's decision */
				spool_outcome(eng->sp, jq, rc[i], SPOOL_RCPT_BOUNCED, why, sizeof(why) - 1);
		}
		n++;
	}
	return n;
}

int dlv_op_suspend(struct dlv_engine *eng, const char *dest, uint64_t until)
{
	unsigned k = 0;
	for (unsigned i = 0; i < eng->n_susp; i++)   /* drop the expired and this name's entry */
		if (eng->susp[i].until > eng->now && strcasecmp(eng->susp[i].name, dest) != 0)
			eng->susp[k++] = eng->susp[i];
	eng->n_susp = k;
	if (until && eng->n_susp < DLV_SUSP_MAX) {
		snprintf(eng->susp[eng->n_susp].name, sizeof(eng->susp[0].name), "%s", dest);
		eng->susp[eng->n_susp++].until = until;
	} else if (until) {
		return -ENOSPC;
	}
	int n = 0;
	FOR_EACH_DEST(eng, d)
		if (dlv_dest_matches(d, dest)) {
			d->susp_until = until;
			n++;
		}
	log_info("event=%s destination=\"%s\" destinations=%d", until ? "suspend" : "resume", dest, n);
	return n;
}
