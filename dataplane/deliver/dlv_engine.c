/* SPDX-License-Identifier: MIT */
/*
 * dlv_engine.c: jobs, next-hop resolution, destinations and their queues, the retry schedule,
 * per-recipient outcomes and bounces (DSN). The SMTP side of a connection is dlv_conn.c.
 *
 * Times: the engine runs on the monotonic clock; what goes to the spool (next attempt) and what
 * the retry policy compares with the arrival time is wall-clock, converted with wall_offset_us,
 * because both must survive a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/dlv_dsn.h"
#include "deliver/dlv_int.h"
#include "deliver/dlv_route.h"
#include "acct/acct.h"
#include "dns/dns.h"
#include "log.h"
#include "spool/spool.h"

#define REQ_CONN_BIT (1ull << 62)
#define DEST_FAIL_HOLD_US (60ull * 1000000)   /* after every hop failed (at most; see below) */
#define DEST_BUSY_HOLD_US (2ull * 1000000)    /* a new connection refused beside live ones */
#define HOPS_TTL_US (300ull * 1000000)        /* re-resolve a destination's hosts this often */

void dlv_params_defaults(struct dlv_params *p)
{
	memset(p, 0, sizeof(*p));
	p->n_lcores = 1;
	p->max_conns = 256;
	p->max_jobs = 1u << 20;
	p->idle_close_us = 2000000;
	dlv_backoff_policy_defaults(&p->backoff);
}

uint32_t dlv_rand(struct dlv_engine *eng)
{
	uint32_t x = eng->rnd;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return eng->rnd = x;
}

static uint64_t wall(const struct dlv_engine *eng, uint64_t mono)
{
	return (uint64_t)((int64_t)mono + eng->p.wall_offset_us);
}

/* ---- jobs ---- */

static struct dlv_job *job_alloc(struct dlv_engine *eng)
{
	if (!eng->free_jobs) {
		if ((uint64_t)eng->n_slabs * DLV_JOB_SLAB >= eng->p.max_jobs)
			return NULL;
		struct dlv_job **sl = realloc(eng->slabs, sizeof(*sl) * (eng->n_slabs + 1));
		if (!sl)
			return NULL;
		eng->slabs = sl;
		struct dlv_job *jobs = calloc(DLV_JOB_SLAB, sizeof(*jobs));
		if (!jobs)
			return NULL;
		sl[eng->n_slabs] = jobs;
		for (uint32_t i = DLV_JOB_SLAB; i-- > 0;) {
			jobs[i].idx = eng->n_slabs * DLV_JOB_SLAB + i;
			dlv_heap_node_init(&jobs[i].hn);
			jobs[i].next = eng->free_jobs;
			eng->free_jobs = &jobs[i];
		}
		eng->n_slabs++;
	}
	struct dlv_job *j = eng->free_jobs;
	eng->free_jobs = j->next;
	j->gen++;
	j->next = NULL;
	j->dest = j->home = NULL;
	j->nrc = 0;
	j->attempts = 0;
	j->st = DLV_J_RESOLVE;
	eng->stats.jobs++;
	eng->stats.queued++;
	return j;
}

void dlv_job_free(struct dlv_engine *eng, struct dlv_job *j)
{
	dlv_heap_remove(&eng->sched, &j->hn);
	j->st = DLV_J_FREE;
	j->next = eng->free_jobs;
	eng->free_jobs = j;
	eng->stats.queued--;
}

static struct dlv_job *job_by_idx(struct dlv_engine *eng, uint32_t idx, uint32_t gen)
{
	if (idx / DLV_JOB_SLAB >= eng->n_slabs)
		return NULL;
	struct dlv_job *j = &eng->slabs[idx / DLV_JOB_SLAB][idx % DLV_JOB_SLAB];
	return j->gen == gen && j->st != DLV_J_FREE ? j : NULL;
}

const struct spool_msg *dlv_job_msg(struct dlv_engine *eng, const struct dlv_job *j)
{
	return spool_msg_get(eng->sp, j->qid);
}

/* The domain of recipient idx of m (after the last '@'), copied lower-case into buf. */
static const char *rcpt_domain(const struct spool_msg *m, uint16_t idx, char *buf, size_t len)
{
	struct spool_rcpt_view rv;
	buf[0] = 0;
	if (spool_msg_rcpt(m, idx, &rv) < 0)
		return buf;
	const char *at = NULL;
	for (uint16_t i = 0; i < rv.addr.len; i++)
		if (rv.addr.p[i] == '@')
			at = rv.addr.p + i;
	if (!at)
		return buf;
	size_t n = (size_t)(rv.addr.p + rv.addr.len - at - 1);
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++) {
		char c = at[1 + i];
		buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	buf[n] = 0;
	return buf;
}

/* ---- destinations (the queues; keys and classes are in dlv_dest.c) ---- */

static void dest_mark_ready(struct dlv_engine *eng, struct dlv_dest *d)
{
	if (d->in_ready)
		return;
	d->in_ready = true;
	d->next_ready = eng->ready;
	eng->ready = d;
}

static void dest_push(struct dlv_engine *eng, struct dlv_dest *d, struct dlv_job *j)
{
	j->dest = j->home = d;
	j->st = DLV_J_READY;
	j->next = NULL;
	if (d->qtail)
		d->qtail->next = j;
	else
		d->qhead = j;
	d->qtail = j;
	d->qlen++;
	dest_mark_ready(eng, d);
}

struct dlv_job *dlv_dest_pop(struct dlv_dest *d)
{
	struct dlv_job *j = d->qhead;
	if (!j)
		return NULL;
	d->qhead = j->next;
	if (!d->qhead)
		d->qtail = NULL;
	d->qlen--;
	j->next = NULL;
	return j;
}

/* Parses a route host "name", "name:port", "[a.b.c.d]" or "[a.b.c.d]:port" into a hop. */
static void hop_parse(struct dlv_hop *h, const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *close = strchr(s, ']');
	size_t n = strlen(s);
	h->port = 25;
	if (colon && (!close || colon > close)) {
		h->port = (uint16_t)atoi(colon + 1);
		n = (size_t)(colon - s);
	}
	if (s[0] == '[' && close) {
		s++;
		n = (size_t)(close - s);
	}
	if (n > DLV_HOST_MAX)
		n = DLV_HOST_MAX;
	memcpy(h->host, s, n);
	h->host[n] = 0;
	unsigned a, b, c, d;
	char extra;
	h->literal = sscanf(h->host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4;
}

/* ---- outcomes ---- */

static int dsn_emit(void *ctx, const void *data, size_t len)
{
	struct dlv_engine *eng = ctx;
	if (eng->dsn_len + len > eng->dsn_cap) {
		size_t cap = eng->dsn_cap ? eng->dsn_cap : 8192;
		while (cap < eng->dsn_len + len)
			cap *= 2;
		char *b = realloc(eng->dsn, cap);
		if (!b)
			return -ENOMEM;
		eng->dsn = b;
		eng->dsn_cap = cap;
	}
	memcpy(eng->dsn + eng->dsn_len, data, len);
	eng->dsn_len += len;
	return 0;
}

/* Queues a DSN to the message's sender for the given recipients (never to <>). The returned
 * message content is omitted (RFC 3464 makes it optional): bodies stay on disk. */
static void send_dsn(struct dlv_engine *eng, const struct spool_msg *m, struct dlv_dsn_rcpt *rc,
		     unsigned n)
{
	struct spool_str snd = spool_msg_sender(m);
	if (snd.len == 0 || n == 0)
		return;
	char to[SMTP_PATH_MAX + 1], qid[24], envid[SMTP_ENVID_MAX + 1];
	struct spool_str ev = spool_msg_envid(m);
	snprintf(to, sizeof(to), "%.*s", (int)snd.len, snd.p);
	snprintf(envid, sizeof(envid), "%.*s", (int)ev.len, ev.p);
	struct dlv_dsn_report r = {
		.reporting_mta = eng->pol && eng->pol->helo ? eng->pol->helo : "localhost",
		.queue_id = spool_qid_str(spool_msg_qid(m), qid),
		.envid = ev.len ? envid : NULL,
		.to = to,
		.arrival = spool_msg_arrival(m) / 1000000,
		.now = wall(eng, eng->now) / 1000000,
		.rcpts = rc,
		.nrcpts = n,
		.unique = dlv_rand(eng),
	};
	eng->dsn_len = 0;
	struct spool_rcpt sr = { .addr = { to, snd.len }, .notify = SPOOL_NOTIFY_NEVER };
	struct spool_envelope env = {
		.arrival_us = wall(eng, eng->now), .sender = { "", 0 }, .nrcpt = 1, .rcpts = &sr,
	};
	int err = dlv_dsn_build(&r, dsn_emit, eng);
	const char *step = "build";
	struct spool_txn *tx = NULL;
	if (err == 0) {
		step = "begin";
		tx = spool_msg_begin(eng->sp, &env, &err);
	}
	if (tx) {
		step = "append";
		ssize_t n = spool_msg_append(tx, eng->dsn, eng->dsn_len);
		err = n < 0 ? (int)n : (size_t)n < eng->dsn_len ? -EAGAIN : 0;
		if (err == 0) {
			step = "commit";
			err = spool_msg_commit(tx, NULL, 0, DLV_COOKIE_BIT);
			tx = NULL;   /* consumed whatever the result */
		}
	}
	if (err == 0) {
		eng->stats.dsn_sent++;
		return;
	}
	if (tx)
		spool_msg_abort(tx);
	eng->stats.dsn_failed++;
	log_warn("qid=%s event=dsn_failed to=<%s> step=%s err=%d", qid, to, step, err);
}

static bool notify_failure(uint8_t notify)
{
	return notify == 0 || (notify & SPOOL_NOTIFY_FAILURE);
}

/*
 * Final outcome of some recipients of j's message: journal each one, and bounce those that
 * failed. `status` is SPOOL_RCPT_DELIVERED/BOUNCED/EXPIRED. Reads everything it needs from
 * the message before the last outcome may free it.
 */
static struct ctl_acct_str astr(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return (struct ctl_acct_str){ s, (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n) };
}

/*
 * One accounting record for recipient idx of m (before its outcome may free m): what happened,
 * where, and whether the connection was encrypted and the peer authenticated (dc NULL: no
 * connection carried it, e.g. a DNS bounce). Without an accounting sink: nothing.
 */
static void account(struct dlv_engine *eng, const struct spool_msg *m, uint16_t idx,
		    enum ctl_acct_type type, const char *reply, const struct dlv_conn *dc)
{
	if (!eng->acct)
		return;
	struct spool_rcpt_view rv;
	struct spool_str snd = spool_msg_sender(m);
	char q[24];
	struct ctl_acct_event ev = {
		.type = (uint8_t)type, .tls_verified = dc && dc->tls_on ? dc->tls_verified : -1,
		.attempt = spool_msg_attempts(m), .size = (uint32_t)spool_msg_body_len(m),
		.now_us = eng->now,
	};
	ev.f[CTL_ACCT_QID] = astr(spool_qid_str(spool_msg_qid(m), q));
	ev.f[CTL_ACCT_SENDER] = (struct ctl_acct_str){ snd.p, (uint16_t)snd.len };
	if (spool_msg_rcpt(m, idx, &rv) == 0)
		ev.f[CTL_ACCT_RECIPIENT] = (struct ctl_acct_str){ rv.addr.p, (uint16_t)rv.addr.len };
	ev.f[CTL_ACCT_REPLY] = astr(reply);
	if (dc && dc->dest) {
		ev.f[CTL_ACCT_DESTINATION] = astr(dc->dest->key);
		ev.f[CTL_ACCT_REMOTE_HOST] = astr(dlv_conn_hop(dc)->host);
		ev.f[CTL_ACCT_TLS_POLICY] = astr(dlv_sts_policy_word(dc->dest, dlv_tls_name(dc->dest->tls)));
	}
	if (dc && dc->tls_on) {
		ev.f[CTL_ACCT_TLS_VERSION] = astr(dc->tls_version);
		ev.f[CTL_ACCT_TLS_CIPHER] = astr(dc->tls_cipher);
	}
	if (ctl_acct_emit(eng->acct, eng->p.dns_slot, &ev) < 0)
		eng->stats.acct_dropped++;
}

static const char *tls_word(const struct dlv_conn *dc)
{
	return !dc ? "-" : !dc->tls_on ? "none" : dc->tls_verified ? "verified" : "encrypted";
}

static void record_final(struct dlv_engine *eng, struct dlv_job *j, const uint16_t *idx,
			 const enum spool_rcpt_status *st, const char *const *text,
			 const char *const *ecode, unsigned n, const struct dlv_conn *dc)
{
	const struct spool_msg *m = dlv_job_msg(eng, j);
	if (!m)
		return;
	const char *remote = dc && dc->dest && dc->hop < dc->dest->nhops ? dlv_conn_hop(dc)->host : NULL;
	struct dlv_dsn_rcpt dr[DLV_JOB_RCPTS];
	char addr[DLV_JOB_RCPTS][SMTP_PATH_MAX + 1];
	unsigned nd = 0;
	for (unsigned i = 0; i < n; i++) {
		struct spool_rcpt_view rv;
		if (st[i] == SPOOL_RCPT_DELIVERED || spool_msg_rcpt(m, idx[i], &rv) < 0 ||
		    !notify_failure(rv.notify))
			continue;
		snprintf(addr[nd], sizeof(addr[nd]), "%.*s", (int)rv.addr.len, rv.addr.p);
		dr[nd] = (struct dlv_dsn_rcpt){
			.addr = addr[nd], .action = DLV_DSN_FAILED, .status = ecode[i],
			.remote_mta = remote, .diagnostic = text[i], .last_attempt = wall(eng, eng->now) / 1000000,
		};
		nd++;
	}
	send_dsn(eng, m, dr, nd);
	char q[24], src[16] = "-";
	spool_qid_str(j->qid, q);
	if (dc && dc->dest && dc->dest->src_ip) {
		const uint8_t *b = (const uint8_t *)&dc->dest->src_ip;
		snprintf(src, sizeof(src), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	}
	for (unsigned i = 0; i < n; i++) {
		const char *t = text[i] ? text[i] : "";
		log_info("qid=%s rcpt=%u event=%s tls=%s src=%s reply=\"%s\"", q, idx[i],
			 st[i] == SPOOL_RCPT_DELIVERED ? "delivered" : st[i] == SPOOL_RCPT_EXPIRED ? "expired" : "bounced",
			 tls_word(dc), src, t);
		account(eng, m, idx[i], st[i] == SPOOL_RCPT_DELIVERED ? CTL_ACCT_DELIVERED :
			st[i] == SPOOL_RCPT_EXPIRED ? CTL_ACCT_EXPIRED : CTL_ACCT_BOUNCED, t, dc);
		if (st[i] == SPOOL_RCPT_DELIVERED)
			eng->stats.delivered++;
		else if (st[i] == SPOOL_RCPT_EXPIRED)
			eng->stats.expired++;
		else
			eng->stats.bounced++;
		/* After the last of these the message may be dead: m must not be used below. */
		spool_outcome(eng->sp, j->qid, idx[i], st[i], t, strlen(t));
	}
}

#define DLV_WARN_MAX 32   /* recipients listed in one delay warning */

/*
 * RFC 3464 "delayed": once per message (the spool mark makes it durable), at the first deferral
 * after delay_warn_us, to a non-null sender, listing the message's pending recipients whose
 * NOTIFY asks for it (DELAY given, or no NOTIFY at all), at most DLV_WARN_MAX of them.
 */
static void delay_warning(struct dlv_engine *eng, const struct spool_msg *m, const char *ecode,
			  const char *text)
{
	uint64_t now_wall = wall(eng, eng->now);
	if (!eng->pol->delay_warn_us || (spool_msg_marks(m) & SPOOL_MARK_DELAY_WARNED) ||
	    spool_msg_sender(m).len == 0 || now_wall < spool_msg_arrival(m) + eng->pol->delay_warn_us)
		return;
	struct dlv_dsn_rcpt dr[DLV_WARN_MAX];
	char addr[DLV_WARN_MAX][SMTP_PATH_MAX + 1];
	unsigned nd = 0;
	uint64_t until = eng->pol->retry.max_age_us ? (spool_msg_arrival(m) + eng->pol->retry.max_age_us) / 1000000 : 0;
	for (uint16_t i = 0; i < spool_msg_nrcpt(m) && nd < DLV_WARN_MAX; i++) {
		struct spool_rcpt_view rv;
		if (spool_msg_rcpt(m, i, &rv) < 0 || rv.status != SPOOL_RCPT_PENDING ||
		    (rv.notify && !(rv.notify & SPOOL_NOTIFY_DELAY)))
			continue;
		snprintf(addr[nd], sizeof(addr[nd]), "%.*s", (int)rv.addr.len, rv.addr.p);
		dr[nd] = (struct dlv_dsn_rcpt){
			.addr = addr[nd], .action = DLV_DSN_DELAYED, .status = ecode, .diagnostic = text,
			.last_attempt = now_wall / 1000000, .retry_until = until,
		};
		nd++;
	}
	char q[24];
	spool_qid_str(spool_msg_qid(m), q);
	/* marked first: a warning is never sent twice, at the price of one lost if the DSN fails */
	if (spool_mark(eng->sp, spool_msg_qid(m), SPOOL_MARK_DELAY_WARNED) < 0)
		return;
	log_info("qid=%s event=delay_warning rcpts=%u", q, nd);
	send_dsn(eng, m, dr, nd);
}

/* Defers what is left of j on the retry schedule, or expires it. */
static void job_defer(struct dlv_engine *eng, struct dlv_job *j, const char *ecode, const char *text)
{
	const struct spool_msg *m = dlv_job_msg(eng, j);
	if (!m || j->nrc == 0) {
		dlv_job_free(eng, j);
		return;
	}
	j->attempts++;
	uint64_t next_wall = dlv_retry_next(&eng->pol->retry, j->attempts, spool_msg_arrival(m),
					    wall(eng, eng->now), dlv_rand(eng));
	if (next_wall == 0) {
		enum spool_rcpt_status st[DLV_JOB_RCPTS];
		const char *tx[DLV_JOB_RCPTS], *ec[DLV_JOB_RCPTS];
		char why[DLV_TEXT_MAX + 64];
		snprintf(why, sizeof(why), "delivery time expired; last error: %s", text);
		for (unsigned i = 0; i < j->nrc; i++) {
			st[i] = SPOOL_RCPT_EXPIRED;
			tx[i] = why;
			ec[i] = "4.4.7";
		}
		record_final(eng, j, j->rc, st, tx, ec, j->nrc, NULL);
		dlv_job_free(eng, j);
		return;
	}
	eng->stats.deferred += j->nrc;
	spool_retry(eng->sp, j->qid, next_wall, j->attempts);
	delay_warning(eng, m, ecode, text);
	char q[24];
	log_info("qid=%s event=deferred attempts=%u retry_in_s=%llu status=%s reply=\"%s\"",
		 spool_qid_str(j->qid, q), j->attempts,
		 (unsigned long long)((next_wall - wall(eng, eng->now)) / 1000000), ecode, text);
	j->st = DLV_J_DEFERRED;
	j->dest = NULL;
	uint64_t due = next_wall - (uint64_t)eng->p.wall_offset_us;
	j->due = due;
	if (dlv_heap_push(&eng->sched, &j->hn, due) < 0)
		dlv_job_free(eng, j);   /* the message stays in the spool; a restart retries it */
}

void dlv_job_tempfail(struct dlv_engine *eng, struct dlv_job *j, const char *ecode, const char *text)
{
	job_defer(eng, j, ecode, text);
}

static void ecode_of(const struct smtp_reply *r, char *buf, size_t len)
{
	if (r->ecode[0])
		snprintf(buf, len, "%s", r->ecode);
	else
		snprintf(buf, len, "%c.0.0", r->code >= 500 ? '5' : r->code >= 400 ? '4' : '2');
}

void dlv_job_finish(struct dlv_engine *eng, struct dlv_job *j, struct dlv_conn *dc,
		    const struct smtp_reply *mr)
{
	enum spool_rcpt_status st[DLV_JOB_RCPTS];
	const char *tx[DLV_JOB_RCPTS], *ec[DLV_JOB_RCPTS];
	char ecb[DLV_JOB_RCPTS][16], mtext[DLV_TEXT_MAX + 8];
	uint16_t fin[DLV_JOB_RCPTS], keep[DLV_JOB_RCPTS];
	unsigned nf = 0, nk = 0;
	size_t mo = 0;   /* "%u %.190s" */
	dlv_putu(mtext, sizeof(mtext), &mo, mr->code);
	dlv_putn(mtext, sizeof(mtext), &mo, " ", 1);
	dlv_putn(mtext, sizeof(mtext), &mo, mr->text, 190);
	bool tempfail_seen = mr->code >= 400 && mr->code < 500;
	for (unsigned i = 0; i < j->nrc; i++) {
		uint16_t rc = dc->rcode[i];
		bool rcpt_ok = rc >= 200 && rc < 300;
		if (rcpt_ok && mr->code >= 200 && mr->code < 300) {
			st[nf] = SPOOL_RCPT_DELIVERED;
			tx[nf] = mtext;
			ec[nf] = "2.0.0";
		} else if (rc >= 500 || (rcpt_ok && mr->code >= 500)) {
			st[nf] = SPOOL_RCPT_BOUNCED;
			if (rc >= 500) {
				tx[nf] = dc->rtext[i];
				snprintf(ecb[nf], sizeof(ecb[nf]), "%s", dc->recode[i][0] ? dc->recode[i] : "5.0.0");
			} else {
				tx[nf] = mtext;
				ecode_of(mr, ecb[nf], sizeof(ecb[nf]));
			}
			ec[nf] = ecb[nf];
		} else {
			keep[nk++] = j->rc[i];
			tempfail_seen = true;
			continue;
		}
		fin[nf++] = j->rc[i];
	}
	eng->stats.messages++;
	if (j->dest)
		dlv_dest_outcome(eng, j->dest, tempfail_seen);
	record_final(eng, j, fin, st, tx, ec, nf, dc);
	memcpy(j->rc, keep, sizeof(keep[0]) * nk);
	j->nrc = (uint8_t)nk;
	if (nk == 0) {
		dlv_job_free(eng, j);
		return;
	}
	char ec4[16];
	ecode_of(mr, ec4, sizeof(ec4));
	job_defer(eng, j, mr->code >= 400 && mr->code < 500 ? ec4 : "4.0.0",
		  mr->code >= 400 && mr->code < 500 ? mtext : dc->rtext[0]);
}

/* Bounce every recipient of j at once (null MX, NXDOMAIN, MX loop). */
void dlv_job_bounce(struct dlv_engine *eng, struct dlv_job *j, const char *ecode, const char *text)
{
	enum spool_rcpt_status st[DLV_JOB_RCPTS];
	const char *tx[DLV_JOB_RCPTS], *ec[DLV_JOB_RCPTS];
	for (unsigned i = 0; i < j->nrc; i++) {
		st[i] = SPOOL_RCPT_BOUNCED;
		tx[i] = text;
		ec[i] = ecode;
	}
	record_final(eng, j, j->rc, st, tx, ec, j->nrc, NULL);
	dlv_job_free(eng, j);
}

/* The snapshot's backoff policy (delivery.backoff.*), or the start-up default without one. */
const struct dlv_backoff_policy *dlv_backoff_policy(const struct dlv_engine *eng)
{
	return eng->pol && eng->pol->backoff.window_us ? &eng->pol->backoff : &eng->p.backoff;
}

void dlv_dest_backoff_changed(struct dlv_engine *eng, struct dlv_dest *d)
{
	uint64_t r = dlv_backoff_apply(&d->bo, d->rate_mps);
	dlv_bucket_set_rate(&d->bucket, r, eng->now);
	log_info("dest=%s event=backoff rate_factor_permille=%u cuts=%u rate_mps=%llu", d->key,
		 d->bo.factor, d->bo.cuts, (unsigned long long)r);
	dlv_cluster_cut(eng, d);   /* a cut of ours is shared with the cluster (if any) */
}

void dlv_dest_outcome(struct dlv_engine *eng, struct dlv_dest *d, bool tempfail)
{
	if (dlv_backoff_record(&d->bo, dlv_backoff_policy(eng), tempfail, eng->now))
		dlv_dest_backoff_changed(eng, d);
}

/* Destinations backing off recover while idle too (one step per window). */
static void backoff_tick(struct dlv_engine *eng)
{
	for (unsigned h = 0; h < DLV_DEST_HASH; h++)
		for (struct dlv_dest *d = eng->hash[h]; d; d = d->next_hash)
			if (dlv_backoff_tick(&d->bo, dlv_backoff_policy(eng), eng->now))
				dlv_dest_backoff_changed(eng, d);
}

void dlv_dest_conn_failed(struct dlv_engine *eng, struct dlv_dest *d, const char *ecode,
			  const char *why)
{
	/* Connections of ours to d are still working: the peer refused one MORE (typically 421
	 * "too many connections" at the greeting). That is concurrency feedback, not a dead
	 * destination: the live connections keep taking the queued jobs, and no new connection
	 * is tried for a short while (Postfix lowers its destination concurrency the same way). */
	if (d->nconn > 0) {
		d->fail_until = eng->now + DEST_BUSY_HOLD_US;
		eng->stats.conns_refused_busy++;
		return;
	}
	/* Every hop failed: what waits for this destination goes back on the retry schedule, and
	 * no new connection is tried before the first retry could come due (as Postfix's dead
	 * destination waits minimal_backoff_time): a longer hold would strand retries that come
	 * due earlier. REQUIRETLS messages whose hops failed on TLS (4.7.x: STARTTLS missing,
	 * handshake or verification failed, TLSA lookup failed) bounce at once with 5.7.30
	 * (RFC 8689 5). */
	uint64_t hold = eng->pol->retry.first_us;
	d->fail_until = eng->now + (hold && hold < DEST_FAIL_HOLD_US ? hold : DEST_FAIL_HOLD_US);
	dlv_dest_outcome(eng, d, true);
	bool rtls_bounce = d->requiretls && strncmp(ecode, "4.7.", 4) == 0;
	char text[DLV_TEXT_MAX + 64];
	if (rtls_bounce)
		snprintf(text, sizeof(text), "550 5.7.30 REQUIRETLS support required: %s", why);
	struct dlv_job *j;
	while ((j = dlv_dest_pop(d)) != NULL) {
		if (rtls_bounce)
			dlv_job_bounce(eng, j, "5.7.30", text);
		else
			job_defer(eng, j, ecode, why);
	}
}

/* ---- resolution ---- */

static void set_hops_from_mx(struct dlv_dest *d, const struct dlv_hops *h, uint64_t expire)
{
	d->nhops = h->n;
	for (unsigned i = 0; i < h->n; i++) {
		hop_parse(&d->hops[i], h->host[i]);
		d->hops[i].port = 25;
		d->hops[i].pref = h->pref[i];
	}
	d->hops_expire = expire;
}

void dlv_job_resolve(struct dlv_engine *eng, struct dlv_job *j)
{
	const struct spool_msg *m = dlv_job_msg(eng, j);
	if (!m) {
		dlv_job_free(eng, j);
		return;
	}
	char domain[DLV_HOST_MAX + 1];
	rcpt_domain(m, j->rc[0], domain, sizeof(domain));
	const struct dlv_route *rt = eng->pol ? dlv_route_find(eng->pol->routes, eng->pol->n_routes, domain) : NULL;
	if (rt) {
		char key[DLV_KEY_MAX];
		size_t ko = 0;
		key[0] = '\0';
		dlv_puts(key, sizeof(key), &ko, "route:");
		dlv_puts(key, sizeof(key), &ko, rt->name && rt->name[0] ? rt->name : rt->domain);
		struct dlv_dest *d = dlv_dest_for(eng, m, key, domain, NULL);
		if (!d) {
			job_defer(eng, j, "4.3.0", "out of memory");
			return;
		}
		if (d->nhops == 0) {
			for (unsigned i = 0; i < rt->nhosts && i < DLV_MX_MAX; i++) {
				hop_parse(&d->hops[i], rt->hosts[i]);
				d->hops[i].pref = (uint16_t)i;   /* in order, no rotation */
			}
			d->nhops = rt->nhosts < DLV_MX_MAX ? rt->nhosts : DLV_MX_MAX;
			d->hops_expire = UINT64_MAX;
		}
		dest_push(eng, d, j);
		return;
	}
	if (!eng->dns) {
		job_defer(eng, j, "4.4.3", "no resolver available");
		return;
	}
	const struct ctl_dns_sts *sts;
	if (dlv_sts_lookup(eng, j, domain, &sts) != 0)
		return;   /* waiting for the MTA-STS policy, or deferred */
	const struct ctl_dns_answer *a = ctl_dns_lookup(eng->dns, domain, CTL_DNS_MX, eng->now);
	if (!a) {
		uint64_t req = ((uint64_t)j->idx << 32) | j->gen;
		if (ctl_dns_request(eng->dns, eng->p.dns_slot, domain, CTL_DNS_MX, req) < 0) {
			job_defer(eng, j, "4.4.3", "resolver busy");
			return;
		}
		j->st = DLV_J_RESOLVE;
		return;
	}
	struct dlv_mx_rr rr[DLV_MX_MAX];
	struct dlv_hops hops;
	unsigned n = 0;
	switch (a->status) {
	case CTL_DNS_NXDOMAIN:
		dlv_job_bounce(eng, j, "5.1.2", "550 5.1.2 recipient domain does not exist (NXDOMAIN)");
		return;
	case CTL_DNS_OK:
		if (a->null_mx) {
			dlv_job_bounce(eng, j, "5.1.10", "556 5.1.10 recipient domain accepts no mail (null MX)");
			return;
		}
		for (; n < a->n && n < DLV_MX_MAX; n++)
			rr[n] = (struct dlv_mx_rr){ a->rr.mx[n].pref, a->rr.mx[n].host };
		break;
	case CTL_DNS_NODATA:
		rr[n++] = (struct dlv_mx_rr){ 0, domain };  /* implicit MX: the domain's address */
		break;
	default:
		job_defer(eng, j, "4.4.3", "DNS lookup of the MX records failed");
		return;
	}
	const char *self = eng->pol && eng->pol->helo ? eng->pol->helo : NULL;
	dlv_mx_order(rr, n, self ? &self : NULL, self ? 1 : 0, dlv_rand(eng), &hops);
	if (hops.verdict == DLV_MX_SELF) {
		dlv_job_bounce(eng, j, "5.4.6", "554 5.4.6 mail for this domain loops back to myself");
		return;
	}
	if (hops.verdict != DLV_MX_OK) {
		job_defer(eng, j, "4.4.3", "no usable MX host");
		return;
	}
	char key[DLV_KEY_MAX];
	const struct dlv_site *site = NULL;
	for (unsigned i = 0; !site && i < hops.n && hops.pref[i] == hops.pref[0]; i++)
		site = dlv_site_find(eng->pol->sites, eng->pol->n_sites, hops.host[i]);
	if (site)
		snprintf(key, sizeof(key), "site:%s", site->name);   /* the operator's grouping */
	else if (dlv_rollup_key(&hops, key, sizeof(key)) < 0)
		snprintf(key, sizeof(key), "%s", domain);
	struct dlv_dest *d = dlv_dest_for(eng, m, key, domain, sts);
	if (!d) {
		job_defer(eng, j, "4.3.0", "out of memory");
		return;
	}
	if (d->nhops == 0 || d->hops_expire <= eng->now)
		set_hops_from_mx(d, &hops, eng->now + HOPS_TTL_US);
	dest_push(eng, d, j);
}

/* ---- enqueue ---- */

void dlv_engine_enqueue(struct dlv_engine *eng, uint64_t qid)
{
	const struct spool_msg *m = spool_msg_get(eng->sp, qid);
	if (!m)
		return;
	uint16_t n = spool_msg_nrcpt(m);
	struct dlv_job *open[32];
	char dom[32][DLV_HOST_MAX + 1];
	unsigned nopen = 0;
	/* Group pending recipients by domain; a full job starts another one. */
	for (uint16_t i = 0; i < n; i++) {
		struct spool_rcpt_view rv;
		if (spool_msg_rcpt(m, i, &rv) < 0 || rv.status != SPOOL_RCPT_PENDING)
			continue;
		char d[DLV_HOST_MAX + 1];
		rcpt_domain(m, i, d, sizeof(d));
		struct dlv_job *j = NULL;
		for (unsigned k = 0; k < nopen && !j; k++)
			if (strcmp(dom[k], d) == 0 && open[k]->nrc < DLV_JOB_RCPTS)
				j = open[k];
		if (!j) {
			if (!(j = job_alloc(eng))) {
				log_warn("event=delivery_queue_full qid=%llx", (unsigned long long)qid);
				break;   /* stays in the spool: delivered after a restart */
			}
			j->qid = qid;
			j->attempts = spool_msg_attempts(m);
			if (nopen < 32) {
				open[nopen] = j;
				dlv_copys(dom[nopen++], sizeof(dom[0]), d);
			}
		}
		j->rc[j->nrc++] = i;
	}
	uint64_t next = spool_msg_next_attempt(m);
	for (unsigned k = 0; k < nopen; k++) {
		struct dlv_job *j = open[k];
		if (next && next > wall(eng, eng->now)) {
			j->st = DLV_J_DEFERRED;
			j->due = next - (uint64_t)eng->p.wall_offset_us;
			dlv_heap_push(&eng->sched, &j->hn, j->due);
		} else {
			dlv_job_resolve(eng, j);
		}
	}
}

static int recover_one(void *arg, const struct spool_msg *m)
{
	dlv_engine_enqueue(arg, spool_msg_qid(m));
	return 0;
}

void dlv_engine_recover(struct dlv_engine *eng, uint64_t now)
{
	eng->now = now;
	spool_foreach(eng->sp, recover_one, eng);
}

/* ---- the loop ---- */

static void dns_completions(struct dlv_engine *eng)
{
	struct ctl_dns_done done[32];
	unsigned n;
	if (!eng->dns)
		return;
	while ((n = ctl_dns_completions(eng->dns, eng->p.dns_slot, done, 32)) > 0)
		for (unsigned i = 0; i < n; i++) {
			uint64_t id = done[i].req_id;
			if (id & REQ_CONN_BIT) {
				dlv_conn_dns_done(eng, (uint32_t)((id & ~REQ_CONN_BIT) >> 32), (uint32_t)id);
				continue;
			}
			struct dlv_job *j = job_by_idx(eng, (uint32_t)(id >> 32), (uint32_t)id);
			if (j && j->st == DLV_J_RESOLVE)
				dlv_job_resolve(eng, j);
		}
}

/* Start what the destinations with queued jobs allow: idle connections first, then new ones. */
static int dispatch(struct dlv_engine *eng)
{
	int work = 0;
	struct dlv_dest **pp = &eng->ready;
	while (*pp) {
		struct dlv_dest *d = *pp;
		if (d->qlen == 0) {
			d->in_ready = false;
			*pp = d->next_ready;
			continue;
		}
		/* suspended by the operator, or held by the cluster (its budget is spent or the
		 * destination is suspended on another node): jobs wait */
		if (d->susp_until > eng->now || !dlv_cluster_gate(eng, d)) {
			pp = &d->next_ready;
			continue;
		}
		/* Idle connections of d without a job exist only when one went idle while the
		 * queue was empty or the bucket dry (take_next() sets idle_hint); the scan of every
		 * connection (large structures, one cache line and often a TLB entry each) runs only
		 * then, not on every loop turn while all connections are busy. */
		if (d->idle_hint) {
			d->idle_hint = false;
			for (uint32_t i = 0; i < eng->p.max_conns; i++) {
				struct dlv_conn *dc = &eng->conns[i];
				if (dc->st != DLV_C_IDLE || dc->dest != d || dc->job)
					continue;
				if (!d->qlen || !dlv_bucket_take(&d->bucket, eng->now)) {
					d->idle_hint = true;   /* still idle: look again next turn */
					break;
				}
				dlv_conn_start_job(dc, dlv_dest_pop(d));
				eng->stats.conns_reused += dc->msgs > 0;
				work++;
			}
		}
		/* A new connection only when the backlog exceeds one queued job per connection we
		 * have (a connection being set up will take one; an established one takes the next
		 * as soon as its message is done): one queued message never opens a connection per
		 * loop turn while the first connects, and a steady stream that the open connections
		 * keep up with does not open one per turn up to max_conns (each a TLS handshake). */
		if (d->qlen > d->nconn && d->qlen > d->nsetup && d->fail_until <= eng->now &&
		    (d->conn_limit == 0 || d->nconn < d->conn_limit) &&
		    dlv_bucket_wait_us(&d->bucket, eng->now) == 0 && eng->free_conns) {
			/* One new connection per destination per turn: a burst does not open dozens at once. */
			if (dlv_conn_open(eng, d))
				work++;
		}
		pp = &d->next_ready;
	}
	return work;
}

int dlv_engine_poll(struct dlv_engine *eng, uint64_t now)
{
	int work = 0;
	eng->now = now;
	dns_completions(eng);
	struct dlv_heap_node *hn;
	while ((hn = dlv_heap_pop_due(&eng->sched, now)) != NULL) {
		struct dlv_job *j = (struct dlv_job *)hn;
		j->st = DLV_J_RESOLVE;
		dlv_job_resolve(eng, j);
		work++;
	}
	work += dispatch(eng);
	if (now >= eng->next_tick) {
		eng->next_tick = now + 100000;
		backoff_tick(eng);
		for (uint32_t i = 0; i < eng->p.max_conns; i++)
			dlv_conn_tick(&eng->conns[i], now);
	}
	return work;
}

void dlv_engine_spool_body(struct dlv_engine *eng, uint64_t cookie, int result,
			   const uint8_t *data, uint32_t len)
{
	uint32_t idx = (uint32_t)(cookie >> 32), gen = (uint32_t)cookie;
	if (idx >= eng->p.max_conns || eng->conns[idx].gen != gen)
		return;
	dlv_conn_body(&eng->conns[idx], result, data, len);
}

void dlv_engine_spool_committed(struct dlv_engine *eng, uint64_t cookie, int result, uint64_t qid)
{
	if (result == 0)
		dlv_engine_enqueue(eng, qid);   /* a DSN: deliver it like any message */
	else
		eng->stats.dsn_failed++;
}

void dlv_engine_set_policy(struct dlv_engine *eng, const struct dlv_policy *pol)
{
	eng->pol = pol ? pol : &eng->nopol;
	/* read by the client engine at the start of each transaction (never mid-transaction) */
	eng->climits.use_bdat = !eng->pol->no_chunking;
}

void dlv_engine_set_dns(struct dlv_engine *eng, struct ctl_dns *dns)
{
	eng->dns = dns;
}

void dlv_engine_set_acct(struct dlv_engine *eng, struct ctl_acct *acct)
{
	eng->acct = acct;
}

const struct dlv_stats *dlv_engine_stats(const struct dlv_engine *eng)
{
	return &eng->stats;
}

struct dlv_engine *dlv_engine_new(const struct dlv_params *p, struct spool *sp,
				  struct tls_core *tls, struct conn_net net, int *err)
{
	struct dlv_engine *eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto err;
	eng->p = *p;
	eng->sp = sp;
	eng->tls = tls;
	eng->net = net;
	eng->rnd = 0x9e3779b9u ^ (p->lcore_index * 7919u);
	dlv_retry_policy_defaults(&eng->nopol.retry);
	smtp_client_limits_defaults(&eng->climits);
	eng->pol = &eng->nopol;
	if (dlv_heap_init(&eng->sched, 1024, p->max_jobs) < 0)
		goto err_eng;
	eng->conns = calloc(p->max_conns, sizeof(*eng->conns));
	if (!eng->conns)
		goto err_heap;
	for (uint32_t i = p->max_conns; i-- > 0;) {
		struct dlv_conn *dc = &eng->conns[i];
		dc->eng = eng;
		dc->idx = i;
		dc->next_free = eng->free_conns;
		eng->free_conns = dc;
	}
	return eng;
err_heap:
	dlv_heap_free(&eng->sched);
err_eng:
	free(eng);
err:
	*err = -ENOMEM;
	return NULL;
}

void dlv_engine_free(struct dlv_engine *eng)
{
	if (!eng)
		return;
	dlv_conn_abort_all(eng);
	free(eng->conns);
	for (unsigned h = 0; h < DLV_DEST_HASH; h++)
		while (eng->hash[h]) {
			struct dlv_dest *d = eng->hash[h];
			eng->hash[h] = d->next_hash;
			free(d->sts);
			free(d);
		}
	dlv_heap_free(&eng->sched);
	for (uint32_t i = 0; i < eng->n_slabs; i++)
		free(eng->slabs[i]);
	free(eng->slabs);
	free(eng->dsn);
	free(eng);
}
