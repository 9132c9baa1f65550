/* SPDX-License-Identifier: MIT */
/*
 * dlv_conn.c: one outbound connection: next hop address (DNS A through the control plane's
 * cache), TCP connect through the lcore's conn_net (our stack or kernel sockets), the SMTP client
 * engine, STARTTLS by destination policy, and the messages it carries one after another
 * (connection reuse; the engine sends RSET between transactions). Bodies stream from the spool:
 * body_map hands the client engine the piece the spool's reader delivered, in place.
 *
 * A connection that never reached the idle state (refused, timed out, greeting or EHLO refused,
 * TLS required but failed) moves on to the destination's next hop; when no hop is left the
 * destination's queue is deferred (dlv_dest_conn_failed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/conn.h"
#include "deliver/dlv_int.h"
#include "dns/dns.h"
#include "log.h"
#include "spool/spool.h"
#include "tls/tls.h"

#define REQ_CONN_BIT (1ull << 62)
#define TLS_HANDSHAKE_TIMEOUT_US (30ull * 1000000)

static const struct conn_handler dc_handler;
static const struct smtp_client_hooks dc_hooks;

static uint64_t body_cookie(const struct dlv_conn *dc)
{
	return ((uint64_t)dc->idx << 32) | dc->gen;
}

static void drain(struct dlv_conn *dc)
{
	if (dc->conn_gone || !dc->conn)
		return;
	for (;;) {
		size_t len;
		const char *p = smtp_client_output(&dc->smtp, &len);
		if (len == 0)
			break;
		ssize_t n = conn_send(dc->conn, p, len);
		if (n <= 0)
			break;
		smtp_client_output_consume(&dc->smtp, (size_t)n);
		if ((size_t)n < len)
			break;
	}
	/* Over TLS the record layer seals what this turn produced at the end of the turn
	 * (tls_core_poll runs last in the relay's poll hook): the message header, body pieces and
	 * the final dot leave as one record and one write instead of one per piece. In clear,
	 * while the spool still owes body pieces the backend's end-of-turn write sends what is
	 * queued, so a transaction whose body arrives in several pieces is still one write. */
	if (!dc->tls_on && !dc->body_wait)
		conn_flush(dc->conn);
}

/* The connection stops counting as "being set up" (it is ready, or gone). */
static void setup_over(struct dlv_conn *dc)
{
	if (dc->in_setup && dc->dest)
		dc->dest->nsetup--;
	dc->in_setup = false;
}

/* Ends the body reader (if any) and forgets its piece, which the close invalidates. */
static void body_close(struct dlv_conn *dc)
{
	if (dc->body) {
		spool_body_close(dc->body);
		dc->body = NULL;
	}
	dc->piece = NULL;
	dc->buf_len = dc->buf_off = 0;
}

static void conn_release(struct dlv_conn *dc)
{
	struct dlv_engine *eng = dc->eng;
	setup_over(dc);
	body_close(dc);
	if (dc->dest)
		dc->dest->nconn--;
	dc->dest = NULL;
	dc->st = DLV_C_FREE;
	dc->conn = NULL;
	dc->next_free = eng->free_conns;
	eng->free_conns = dc;
	eng->stats.active_conns--;
}

static void connect_hop(struct dlv_conn *dc);

const struct dlv_hop *dlv_conn_hop(const struct dlv_conn *dc)
{
	const struct dlv_dest *d = dc->dest;
	unsigned k = 1;
	while (k < d->nhops && d->hops[k].pref == d->hops[0].pref)
		k++;
	unsigned i = dc->hop < k ? (dc->hop + dc->rot) % k : dc->hop;
	return &d->hops[i < d->nhops ? i : 0];
}

/* The current hop did not work out: next one, or give up on the destination for now. */
static void next_hop(struct dlv_conn *dc, const char *why)
{
	struct dlv_dest *d = dc->dest;
	dc->hop++;
	if (dc->hop < d->nhops) {
		connect_hop(dc);
		return;
	}
	const char *ecode = dc->fail_ecode[0] ? dc->fail_ecode : "4.4.1";
	char ec[sizeof(dc->fail_ecode)];
	snprintf(ec, sizeof(ec), "%s", ecode);
	struct dlv_engine *eng = dc->eng;
	conn_release(dc);
	if (d->nconn > 0) {
		log_info("dest=%s event=conn_refused_busy live=%u reason=\"%s\"", d->key, d->nconn, why);
	} else {
		eng->stats.conns_failed++;
		log_info("dest=%s event=all_hops_failed reason=\"%s\"", d->key, why);
	}
	dlv_dest_conn_failed(eng, d, ec, why);
}

/*
 * DANE (RFC 7672 2.2): the TLSA records of _<port>._tcp.<host>, copied (answers are valid only
 * until the next quiescent state; the handshake comes later). Only DNSSEC-secure records count;
 * insecure or absent ones leave PKIX verification (never clear text). A failed lookup
 * (SERVFAIL, timeout, bogus) makes this host unusable: the next one is tried, else the
 * destination defers. Returns 1 while the lookup is pending, 0 to go on, -1 if the hop was
 * given up (next_hop called).
 */
static int hop_tlsa(struct dlv_conn *dc, const struct dlv_hop *h)
{
	struct dlv_engine *eng = dc->eng;
	char name[DLV_HOST_MAX + 32];
	dc->ntlsa = 0;
	if (dc->dest->tls != DLV_TLS_DANE || h->literal || !eng->dns)
		return 0;
	snprintf(name, sizeof(name), "_%u._tcp.%s", h->port, h->host);
	const struct ctl_dns_answer *a = ctl_dns_lookup(eng->dns, name, CTL_DNS_TLSA, eng->now);
	if (!a) {
		uint64_t req = REQ_CONN_BIT | ((uint64_t)dc->idx << 32) | dc->gen;
		if (ctl_dns_request(eng->dns, eng->p.dns_slot, name, CTL_DNS_TLSA, req) == 0) {
			dc->st = DLV_C_RESOLVE;
			return 1;
		}
	}
	if (!a || (a->status != CTL_DNS_OK && a->status != CTL_DNS_NODATA && a->status != CTL_DNS_NXDOMAIN)) {
		snprintf(dc->fail_ecode, sizeof(dc->fail_ecode), "4.7.5");
		snprintf(dc->fail_text, sizeof(dc->fail_text), "TLSA lookup of %.120s failed (%s)", name,
			 a ? ctl_dns_status_str(a->status) : "resolver busy");
		log_info("dest=%s host=%s event=tlsa_failed status=%s", dc->dest->key, h->host,
			 a ? ctl_dns_status_str(a->status) : "busy");
		next_hop(dc, dc->fail_text);
		return -1;
	}
	if (a->status != CTL_DNS_OK || !a->secure)
		return 0;
	for (unsigned i = 0; i < a->n && dc->ntlsa < DLV_TLSA_MAX; i++) {
		const struct ctl_dns_tlsa *t = &a->rr.tlsa[i];
		if (t->len == 0 || t->len > DLV_TLSA_LEN)
			continue;   /* full certificates (matching type 0) are not kept */
		memcpy(dc->tlsa_data[dc->ntlsa], t->data, t->len);
		dc->tlsa[dc->ntlsa] = (struct tls_tlsa){ t->usage, t->selector, t->mtype,
							 dc->tlsa_data[dc->ntlsa], t->len };
		dc->ntlsa++;
	}
	return 0;
}

static void connect_hop(struct dlv_conn *dc)
{
	struct dlv_engine *eng = dc->eng;
	const struct dlv_hop *h = dlv_conn_hop(dc);
	struct conn_addr dst = { .family = AF_INET, .port = htons(h->port) };
	if (!dlv_sts_hop_allowed(dc, h)) {
		next_hop(dc, dc->fail_text);
		return;
	}
	if (hop_tlsa(dc, h) != 0)
		return;
	if (h->literal) {
		inet_pton(AF_INET, h->host, &dst.ip.v4);
	} else {
		const struct ctl_dns_answer *a = eng->dns ? ctl_dns_lookup(eng->dns, h->host, CTL_DNS_A, eng->now) : NULL;
		if (!a && eng->dns) {
			uint64_t req = REQ_CONN_BIT | ((uint64_t)dc->idx << 32) | dc->gen;
			if (ctl_dns_request(eng->dns, eng->p.dns_slot, h->host, CTL_DNS_A, req) == 0) {
				dc->st = DLV_C_RESOLVE;
				return;
			}
		}
		if (!a || a->status != CTL_DNS_OK || a->n == 0) {
			next_hop(dc, "no address for the MX host");
			return;
		}
		dst.ip.v4 = a->rr.a[dlv_rand(eng) % a->n].s_addr;
	}
	struct conn_addr src = { .family = AF_INET, .ip.v4 = dc->dest->src_ip };
	int err = 0;
	dc->conn_gone = false;
	dc->tls_pending = dc->tls_on = dc->tls_verified = false;
	dc->conn = eng->net.ops->connect(eng->net.impl, &dst, &src, &dc_handler, dc, &err);
	if (!dc->conn) {
		next_hop(dc, "cannot open a connection");
		return;
	}
	dc->st = DLV_C_CONNECT;
	eng->stats.conns_opened++;
}

struct dlv_conn *dlv_conn_open(struct dlv_engine *eng, struct dlv_dest *d)
{
	struct dlv_conn *dc = eng->free_conns;
	if (!dc || d->nhops == 0)
		return NULL;
	eng->free_conns = dc->next_free;
	dc->gen++;
	dc->dest = d;
	d->nconn++;
	dc->hop = 0;
	dc->rot = d->rr++;
	dc->in_setup = true;
	d->nsetup++;
	dc->fail_ecode[0] = dc->fail_text[0] = 0;
	dc->msgs = 0;
	dc->job = NULL;
	dc->body = NULL;
	eng->stats.active_conns++;
	connect_hop(dc);
	return dc;
}

void dlv_conn_dns_done(struct dlv_engine *eng, uint32_t idx, uint32_t gen)
{
	if (idx >= eng->p.max_conns)
		return;
	struct dlv_conn *dc = &eng->conns[idx];
	if (dc->gen == gen && dc->st == DLV_C_RESOLVE)
		connect_hop(dc);
}

static enum smtp_tls_policy smtp_tls(const struct dlv_conn *dc)
{
	const struct dlv_policy *pol = dc->eng->pol;
	switch (dc->dest->tls) {
	case DLV_TLS_NONE:
		return SMTP_TLS_NONE;
	case DLV_TLS_MTA_STS:
		if ((dc->dest->sts && dc->dest->sts->mode == TLS_STS_ENFORCE) || dc->dest->requiretls)
			return SMTP_TLS_REQUIRED;   /* RFC 8461 5 / RFC 8689: verified TLS or nothing */
		/* testing, or no policy published: opportunistic */
		__attribute__((fallthrough));
	case DLV_TLS_MAY:
		return pol->tls_ctx ? SMTP_TLS_OPPORTUNISTIC : SMTP_TLS_NONE;
	default:
		return SMTP_TLS_REQUIRED;
	}
}

/* ---- messages ---- */

static uint32_t smtp_notify(uint8_t spool_bits)
{
	return (spool_bits & SPOOL_NOTIFY_NEVER ? SMTP_NOTIFY_NEVER : 0) |
	       (spool_bits & SPOOL_NOTIFY_SUCCESS ? SMTP_NOTIFY_SUCCESS : 0) |
	       (spool_bits & SPOOL_NOTIFY_FAILURE ? SMTP_NOTIFY_FAILURE : 0) |
	       (spool_bits & SPOOL_NOTIFY_DELAY ? SMTP_NOTIFY_DELAY : 0);
}

/* ORCPT as stored ("type;decoded address") -> "type;xtext" into out; "" when it does not fit. */
static void orcpt_wire(struct spool_str o, char *out, size_t cap)
{
	const char *semi = o.len ? memchr(o.p, ';', o.len) : NULL;
	out[0] = 0;
	if (!semi || (size_t)(semi - o.p) + 2 > cap)
		return;
	size_t tl = (size_t)(semi - o.p) + 1;
	memcpy(out, o.p, tl);
	if (smtp_xtext_encode(semi + 1, o.len - tl, out + tl, cap - tl) < 0)
		out[0] = 0;
}

/* RET, ENVID, NOTIFY and ORCPT of job j's recipients, for the client engine (which sends them
 * only to a hop that offers DSN). */
static void dsn_params(struct dlv_conn *dc, const struct spool_msg *m, const struct dlv_job *j)
{
	struct spool_str ev = spool_msg_envid(m);
	if (!ev.len || smtp_xtext_encode(ev.p, ev.len, dc->envid, sizeof(dc->envid)) < 0)
		dc->envid[0] = 0;
	for (unsigned i = 0; i < j->nrc; i++) {
		struct spool_rcpt_view rv;
		dc->notify[i] = 0;
		dc->orcpt[i][0] = 0;
		if (spool_msg_rcpt(m, j->rc[i], &rv) == 0) {
			dc->notify[i] = smtp_notify(rv.notify);
			orcpt_wire(rv.orcpt, dc->orcpt[i], sizeof(dc->orcpt[i]));
		}
		dc->orcptp[i] = dc->orcpt[i][0] ? dc->orcpt[i] : NULL;
	}
	dc->msg.envid = dc->envid[0] ? dc->envid : NULL;
	dc->msg.notify = dc->notify;
	dc->msg.orcpt = dc->orcptp;
	uint8_t ret = spool_msg_ret(m);
	dc->msg.ret = ret == SPOOL_RET_FULL ? SMTP_RET_FULL : ret == SPOOL_RET_HDRS ? SMTP_RET_HDRS : SMTP_RET_UNSPEC;
}

/* j goes back to the front of its destination's queue; dc keeps no job. */
static void requeue_front(struct dlv_conn *dc, struct dlv_job *j)
{
	dc->job = NULL;
	j->st = DLV_J_READY;
	j->next = dc->dest->qhead;
	dc->dest->qhead = j;
	if (!dc->dest->qtail)
		dc->dest->qtail = j;
	dc->dest->qlen++;
}

void dlv_conn_start_job(struct dlv_conn *dc, struct dlv_job *j)
{
	struct dlv_engine *eng = dc->eng;
	const struct spool_msg *m = dlv_job_msg(eng, j);
	int err = 0;
	if (!dlv_sts_conn_current(dc)) {
		/* the destination's MTA-STS policy changed since this connection was checked: its
		 * host may be excluded now; a new connection goes through the new policy */
		log_info("dest=%s host=%s event=mta_sts_policy_changed action=close_connection",
			 dc->dest->key, dlv_conn_hop(dc)->host);
		requeue_front(dc, j);
		dc->st = DLV_C_QUIT;
		smtp_client_quit(&dc->smtp);
		drain(dc);
		return;
	}
	if (!m) {
		dlv_job_tempfail(eng, j, "4.3.0", "message vanished from the spool");
		dc->dest->idle_hint = true;   /* still idle and without a job */
		return;
	}
	uint32_t flags = spool_msg_flags(m);
	if ((flags & SPOOL_MF_REQUIRETLS) && !(dc->tls_on && dc->tls_verified)) {
		/* RFC 8689 4.2.1: never in clear, never to an unauthenticated peer (a REQUIRETLS
		 * destination verifies, so this is a policy change under a live connection) */
		dlv_job_bounce(eng, j, "5.7.30", "550 5.7.30 REQUIRETLS support required "
			       "(no verified TLS to the next hop)");
		dc->dest->idle_hint = true;
		return;
	}
	struct spool_str snd = spool_msg_sender(m);
	dlv_copyn(dc->from, sizeof(dc->from), snd.p, snd.len);
	for (unsigned i = 0; i < j->nrc; i++) {
		struct spool_rcpt_view rv;
		dc->rcpt[i][0] = 0;
		if (spool_msg_rcpt(m, j->rc[i], &rv) == 0)
			dlv_copyn(dc->rcpt[i], sizeof(dc->rcpt[i]), rv.addr.p, rv.addr.len);
		dc->rcptp[i] = dc->rcpt[i];
		dc->rcode[i] = 0;
		dc->rtext[i][0] = dc->recode[i][0] = 0;
	}
	dc->body = spool_body_open(eng->sp, j->qid, &err);
	if (!dc->body) {
		dlv_job_tempfail(eng, j, "4.3.0", "cannot read the message from the spool");
		dc->dest->idle_hint = true;
		return;
	}
	/* Message flags (docs/deliver.md "Message flags"): SMTPUTF8 and REQUIRETLS are required
	 * of the next hop (the client engine fails the message with 5.6.7 / 5.7.30 when they are
	 * not offered); 8BITMIME is declared when offered and otherwise the body goes as it is
	 * ("just send 8", as Postfix does when it does not convert). */
	dc->msg = (struct smtp_client_msg){
		.from = dc->from, .rcpts = dc->rcptp, .nrcpt = j->nrc,
		.size = spool_msg_body_len(m),
		.needs_8bit = (flags & SPOOL_MF_8BITMIME) && (dc->smtp.ext & SMTP_EXT_8BITMIME),
		.needs_smtputf8 = (flags & SPOOL_MF_SMTPUTF8) != 0,
		.requiretls = (flags & SPOOL_MF_REQUIRETLS) != 0,
	};
	dsn_params(dc, m, j);
	dc->piece = NULL;
	dc->buf_len = dc->buf_off = 0;
	dc->body_eof = dc->body_wait = dc->body_err = false;
	j->st = DLV_J_ACTIVE;
	dc->job = j;
	dc->st = DLV_C_BUSY;
	if (smtp_client_send(&dc->smtp, &dc->msg) == -EBUSY) {
		/* not idle after all: the job goes back to the front of its queue */
		body_close(dc);
		requeue_front(dc, j);
		return;
	}
	if (!dc->job && dc->st == DLV_C_BUSY) {
		/* Finished inside smtp_client_send: a local failure (SMTPUTF8 or REQUIRETLS not
		 * offered, SIZE...) sent nothing and the client engine never left idle, so no ready
		 * hook follows. Idle again now; dispatch() gives it the next job (not from here:
		 * a queue of such messages must not recurse). */
		dc->st = DLV_C_IDLE;
		dc->idle_since = eng->now;
		dc->dest->idle_hint = true;
	}
	drain(dc);
}

/* Idle: take the next queued job of our destination if the limits allow, else wait. */
static void take_next(struct dlv_conn *dc)
{
	struct dlv_dest *d = dc->dest;
	setup_over(dc);
	dc->st = DLV_C_IDLE;
	dc->idle_since = dc->eng->now;
	bool open = dlv_cluster_gate(dc->eng, d);   /* may lower conn_limit (cluster share) */
	if (d->susp_until > dc->eng->now)
		open = false;   /* suspended by the operator: no new transaction, even on an open connection */
	if ((d->per_conn && dc->msgs >= d->per_conn) || (d->conn_limit && d->nconn > d->conn_limit)) {
		dc->st = DLV_C_QUIT;
		smtp_client_quit(&dc->smtp);
		drain(dc);
		return;
	}
	if (open && d->qlen && dlv_bucket_take(&d->bucket, dc->eng->now)) {
		if (dc->msgs)
			dc->eng->stats.conns_reused++;
		dlv_conn_start_job(dc, dlv_dest_pop(d));
		return;
	}
	d->idle_hint = true;   /* idle without a job: dispatch() will look for us */
}

void dlv_conn_body(struct dlv_conn *dc, int result, const uint8_t *data, uint32_t len)
{
	dc->body_wait = false;
	if (result > 0) {
		dc->piece = data;   /* the reader's buffer: see dlv_int.h */
		dc->buf_len = (uint32_t)result;
		dc->buf_off = 0;
	} else if (result == 0) {
		dc->body_eof = true;
	} else {
		dc->body_err = true;
	}
	if (dc->st == DLV_C_BUSY) {
		smtp_client_body_ready(&dc->smtp);
		drain(dc);
	}
}

/* ---- SMTP client hooks ---- */

static void h_ready(void *ctx, struct smtp_client_session *c)
{
	struct dlv_conn *dc = ctx;
	/* After the session setup, and after every transaction (the client engine reports the
	 * message's result first, then becomes idle, possibly after an RSET): take the next job. */
	if (!dc->job && (dc->st == DLV_C_SETUP || dc->st == DLV_C_CONNECT || dc->st == DLV_C_BUSY))
		take_next(dc);
}

static void h_tls_result(void *ctx, const struct tls_result *r)
{
	struct dlv_conn *dc = ctx;
	dc->tls_on = r->ok;
	dc->tls_verified = r->verified;
	dc->tls_version = r->version;
	dc->tls_cipher = r->cipher;
	dlv_sts_tls_result(dc, r->ok, r->verified);
	if (r->ok) {
		dc->eng->stats.tls_sessions++;
		dc->eng->stats.tls_verified += r->verified;
	} else {
		snprintf(dc->fail_ecode, sizeof(dc->fail_ecode), "4.7.5");   /* cryptographic failure */
		snprintf(dc->fail_text, sizeof(dc->fail_text), "TLS with %.100s failed: %.80s",
			 dlv_conn_hop(dc)->host, r->reason);
		log_info("dest=%s host=%s event=tls_failed reason=\"%s\"", dc->dest->key,
			 dlv_conn_hop(dc)->host, r->reason);
	}
}

static void h_starttls(void *ctx, struct smtp_client_session *c)
{
	struct dlv_conn *dc = ctx;
	struct dlv_engine *eng = dc->eng;
	struct tls_policy pol = { .mode = TLS_POLICY_OPPORTUNISTIC };
	if (dc->dest->tls == DLV_TLS_DANE && dc->ntlsa) {
		pol.mode = TLS_POLICY_DANE;
		pol.tlsa = dc->tlsa;
		pol.n_tlsa = dc->ntlsa;
	} else if (dc->dest->tls == DLV_TLS_VERIFY || dc->dest->tls == DLV_TLS_DANE) {
		pol.mode = TLS_POLICY_VERIFY;   /* DANE without secure TLSA: PKIX, never clear text */
	} else if (dc->dest->tls == DLV_TLS_MTA_STS && dc->dest->sts) {
		dlv_sts_tls_policy(dc, &pol);
	}
	struct tls_conn_opts o = {
		.now = eng->now, .handshake_timeout = TLS_HANDSHAKE_TIMEOUT_US, .on_result = h_tls_result,
		.host = dlv_conn_hop(dc)->host, .session_key = dc->dest->key, .policy = &pol,
	};
	int err = 0;
	drain(dc);
	struct conn *tc = eng->pol->tls_ctx ? tls_conn_client_new(eng->tls, dc->conn, eng->pol->tls_ctx,
								   &dc_handler, dc, &o, &err) : NULL;
	if (!tc) {
		conn_abort(dc->conn);
		return;
	}
	dc->conn = tc;
	dc->tls_pending = true;
}

/* The body in place: the piece the spool's reader delivered stays valid until the next
 * spool_body_next, which is asked for only once the piece is used up (dlv_int.h). */
static long h_body_map(void *ctx, struct smtp_client_session *c, size_t cap, const uint8_t **p)
{
	struct dlv_conn *dc = ctx;
	if (dc->buf_off < dc->buf_len) {
		size_t n = dc->buf_len - dc->buf_off;
		n = n < cap ? n : cap;
		*p = dc->piece + dc->buf_off;
		dc->buf_off += (uint32_t)n;
		return (long)n;
	}
	if (dc->body_eof)
		return 0;
	if (dc->body_err)
		return -EIO;
	if (!dc->body_wait) {
		if (spool_body_next(dc->body, body_cookie(dc)) < 0)
			return -EIO;
		dc->body_wait = true;
	}
	return -EAGAIN;
}

static void h_rcpt_result(void *ctx, struct smtp_client_session *c, uint32_t idx,
			  const struct smtp_reply *r)
{
	struct dlv_conn *dc = ctx;
	if (idx >= DLV_JOB_RCPTS)
		return;
	dc->rcode[idx] = r->code;
	dlv_copys(dc->recode[idx], sizeof(dc->recode[idx]), r->ecode);
	/* "%u %.15s%s%.170s": code, enhanced code and a space if any, text */
	char *t = dc->rtext[idx];
	size_t o = 0, cap = sizeof(dc->rtext[idx]);
	dlv_putu(t, cap, &o, r->code);
	dlv_putn(t, cap, &o, " ", 1);
	dlv_putn(t, cap, &o, r->ecode, 15);
	if (r->ecode[0])
		dlv_putn(t, cap, &o, " ", 1);
	dlv_putn(t, cap, &o, r->text, 170);
}

static void h_msg_result(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	struct dlv_conn *dc = ctx;
	struct dlv_job *j = dc->job;
	if (!j)
		return;
	dc->job = NULL;
	body_close(dc);
	dc->msgs++;
	dlv_job_finish(dc->eng, j, dc, r);
	/* the next job starts from h_ready, once the client engine is idle again */
}

static void h_flush(void *ctx, struct smtp_client_session *c)
{
	drain(ctx);
}

static void h_done(void *ctx, struct smtp_client_session *c, const struct smtp_reply *why)
{
	struct dlv_conn *dc = ctx;
	char text[DLV_TEXT_MAX];
	snprintf(text, sizeof(text), "%u %.180s", why->code, why->text);
	if (dc->job) {
		struct dlv_job *j = dc->job;
		dc->job = NULL;
		dlv_job_tempfail(dc->eng, j, "4.4.2", text);
	}
	bool setup_failed = dc->st == DLV_C_SETUP || dc->st == DLV_C_CONNECT;
	dc->st = DLV_C_QUIT;
	if (setup_failed && why->code != 221) {
		if (why->ecode[0])
			snprintf(dc->fail_ecode, sizeof(dc->fail_ecode), "%s", why->ecode);
		/* The greeting, EHLO or a required STARTTLS failed: this hop is no good. */
		struct conn *old = dc->conn;
		dc->conn_gone = true;   /* its on_closed (inside the abort) returns at once */
		conn_abort(old);
		next_hop(dc, text);
		return;
	}
	if (!dc->conn_gone)
		conn_close(dc->conn);
}

static const struct smtp_client_hooks dc_hooks = {
	.ready = h_ready, .starttls = h_starttls, .body_map = h_body_map,
	.rcpt_result = h_rcpt_result, .msg_result = h_msg_result, .flush = h_flush, .done = h_done,
};

/* ---- transport callbacks ---- */

static void c_connected(void *ctx, struct conn *c)
{
	struct dlv_conn *dc = ctx;
	struct dlv_engine *eng = dc->eng;
	if (dc->tls_pending) {
		dc->tls_pending = false;
		smtp_client_tls_started(&dc->smtp, eng->now);
		drain(dc);
		return;
	}
	dc->st = DLV_C_SETUP;
	/* the source address's own name (IP pools), else ours; the destination outlives us */
	const char *helo = dc->dest->helo[0] ? dc->dest->helo : eng->pol->helo ? eng->pol->helo : "localhost";
	smtp_client_init(&dc->smtp, &eng->climits, &dc_hooks, dc, helo, smtp_tls(dc), false, eng->now);
	drain(dc);
}

static size_t c_data(void *ctx, struct conn *c, const uint8_t *data, size_t len)
{
	struct dlv_conn *dc = ctx;
	size_t n = smtp_client_input(&dc->smtp, data, len, dc->eng->now);
	drain(dc);
	return n ? n : len;   /* the client engine buffers or rejects; never stall the peer */
}

static void c_eof(void *ctx, struct conn *c)
{
	struct dlv_conn *dc = ctx;
	smtp_client_peer_closed(&dc->smtp);
	if (!dc->conn_gone)
		conn_close(dc->conn);
}

static void c_sendable(void *ctx, struct conn *c)
{
	drain(ctx);
}

static void c_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct dlv_conn *dc = ctx;
	if (!dc || dc->conn_gone)
		return;
	dc->conn_gone = true;
	if (dc->st == DLV_C_CONNECT) {
		/* refused, timed out or unreachable before any SMTP: try the next hop */
		next_hop(dc, conn_close_reason_str(why));
		return;
	}
	if (dc->job) {
		struct dlv_job *j = dc->job;
		dc->job = NULL;
		if (dc->dest)
			dlv_dest_outcome(dc->eng, dc->dest, true);
		dlv_job_tempfail(dc->eng, j, "4.4.2", "connection lost during the transaction");
	}
	if (dc->st == DLV_C_SETUP && dc->dest) {
		/* greeting, EHLO or TLS handshake never completed: next hop, or the destination
		 * waits (with the TLS failure's status and reason when that was the cause) */
		if (!dc->fail_ecode[0])
			snprintf(dc->fail_ecode, sizeof(dc->fail_ecode), "4.4.2");
		char text[DLV_TEXT_MAX];
		snprintf(text, sizeof(text), "%s", dc->fail_text[0] ? dc->fail_text : "connection closed during setup");
		next_hop(dc, text);
		return;
	}
	conn_release(dc);
}

static const struct conn_handler dc_handler = {
	.on_connected = c_connected, .on_data = c_data, .on_eof = c_eof,
	.on_sendable = c_sendable, .on_closed = c_closed,
};

void dlv_conn_tick(struct dlv_conn *dc, uint64_t now)
{
	if (dc->st == DLV_C_FREE || dc->st == DLV_C_RESOLVE || dc->st == DLV_C_CONNECT || dc->conn_gone)
		return;
	if (dc->st == DLV_C_IDLE && !dc->job && now - dc->idle_since >= dc->eng->p.idle_close_us) {
		dc->st = DLV_C_QUIT;
		smtp_client_quit(&dc->smtp);
		drain(dc);
		return;
	}
	smtp_client_tick(&dc->smtp, now);
	drain(dc);
}

void dlv_conn_abort_all(struct dlv_engine *eng)
{
	for (uint32_t i = 0; i < eng->p.max_conns; i++) {
		struct dlv_conn *dc = &eng->conns[i];
		if (dc->st != DLV_C_FREE && dc->st != DLV_C_RESOLVE && dc->conn && !dc->conn_gone)
			conn_abort(dc->conn);
	}
}
