/* SPDX-License-Identifier: MIT */
/*
 * rly_session.c: one inbound SMTP connection: transport callbacks -> SMTP engine -> policy,
 * DKIM and spool -> the engine's answer. The 250 after DATA leaves only from the spool's
 * committed callback, i.e. after the fdatasync that covers the message.
 *
 * A message moves NONE -> DATA (spool txn + DKIM handle open, content streaming) -> SIGNING
 * (in the lcore's DKIM batch) -> COMMITTING (spool commit submitted) -> NONE (answer sent).
 * A session whose connection closes while its message is SIGNING or COMMITTING keeps its slot
 * until that step reports back, so every callback finds valid memory: a signed message whose
 * client is gone is dropped (the client never saw a 250 and will retry); a committing one is
 * durable already and goes to delivery (at-least-once).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn/conn.h"
#include "log.h"
#include "relay/rly_int.h"
#include "tls/tls.h"

static const struct conn_handler sess_handler;
static const struct smtp_server_hooks hooks_tls, hooks_plain;

static const char *const msg_state_names[] = { "none", "data", "signing", "committing" };

static void msg_enter(struct rly_session *s, enum rly_msg_state to)
{
	log_debug("sid=%u.%u msg %s -> %s", s->idx, s->gen, msg_state_names[s->msg], msg_state_names[to]);
	s->msg = to;
}

static uint64_t cookie_of(const struct rly_session *s)
{
	return ((uint64_t)s->idx << 32) | s->gen;
}

/* ---- session slots ---- */

static struct rly_session *session_alloc(struct rly_core *core)
{
	struct rly_session *s = core->free;
	if (!s)
		return NULL;
	core->free = s->next_free;
	if (s->idx >= core->hi_sessions)
		core->hi_sessions = s->idx + 1;
	s->gen++;
	s->in_use = true;
	s->conn_gone = s->input_blocked = s->tls_pending = s->eof = s->want_close = false;
	s->msg = RLY_MSG_NONE;
	s->conn = NULL;
	s->client = NULL;
	s->txn = NULL;
	s->dkim = NULL;
	s->msg_err = 0;
	core->stats.active++;
	return s;
}

static void session_free(struct rly_session *s)
{
	struct rly_core *core = s->core;
	s->in_use = false;
	s->next_free = core->free;
	core->free = s;
	core->stats.active--;
}

/* The conn is gone; free the slot now unless a message step still has to report back. */
static void session_release(struct rly_session *s)
{
	if (s->msg == RLY_MSG_SIGNING || s->msg == RLY_MSG_COMMITTING)
		return;
	session_free(s);
}

/* ---- output ---- */

/* Sends what the engine produced; closes when the engine asked for it and all is out.
 * May end the connection (and so call on_closed) before it returns. */
static void drain(struct rly_session *s)
{
	if (s->conn_gone)
		return;
	for (;;) {
		size_t len;
		const char *p = smtp_server_output(&s->smtp, &len);
		if (len == 0)
			break;
		ssize_t n = conn_send(s->conn, p, len);
		if (n <= 0)
			break;
		smtp_server_output_consume(&s->smtp, (size_t)n);
		if ((size_t)n < len)
			break;
	}
	conn_flush(s->conn);
	size_t left;
	smtp_server_output(&s->smtp, &left);
	if (s->want_close && left == 0 && !s->tls_pending)
		conn_close(s->conn);
}

static void resume_if_blocked(struct rly_session *s)
{
	if (s->conn_gone || !s->input_blocked || s->smtp.state == SMTP_S_WAIT_RESULT)
		return;
	s->input_blocked = false;
	conn_resume_read(s->conn);
}

static void answer(struct rly_session *s, uint16_t code, const char *ecode, const char *text)
{
	struct smtp_verdict v = { .code = code, .ecode = ecode, .text = text };
	if (code >= 400)
		s->core->stats.messages_failed++;
	smtp_server_data_result(&s->smtp, &v);
	drain(s);
	resume_if_blocked(s);
}

/* ---- envelope ---- */

static int env_reserve(struct rly_env *e, uint32_t more)
{
	if (e->len + more <= e->cap)
		return 0;
	uint32_t cap = e->cap ? e->cap : 1024;
	while (cap < e->len + more)
		cap *= 2;
	char *b = realloc(e->buf, cap);
	if (!b)
		return -ENOMEM;
	e->buf = b;
	e->cap = cap;
	return 0;
}

/* Appends a string to the envelope buffer; returns its offset or -ENOMEM. */
static long env_put(struct rly_env *e, const char *p, size_t n)
{
	if (env_reserve(e, (uint32_t)n + 1) < 0)
		return -ENOMEM;
	uint32_t off = e->len;
	memcpy(e->buf + off, p, n);
	e->buf[off + n] = 0;
	e->len += (uint32_t)n + 1;
	return off;
}

static void env_reset(struct rly_env *e)
{
	e->len = 0;
	e->nrcpt = 0;
	e->sender_len = e->envid_len = 0;
	e->ret = SPOOL_RET_NONE;
	e->flags = 0;
}

/* ---- SMTP hooks ---- */

/*
 * The client entry of the session's peer in the current policy, refreshed at each use: the
 * policy belongs to a configuration snapshot that a reload retires (and frees after its grace
 * period) between two commands of a session, so no pointer into it may outlive a loop turn.
 */
static const struct rly_client *session_client(struct rly_session *s)
{
	s->client = rly_client_find(s->core->pol, &s->peer);
	return s->client;
}

static void h_mail(void *ctx, struct smtp_server_session *ss, const struct smtp_mail *m,
		   struct smtp_verdict *v)
{
	struct rly_session *s = ctx;
	struct rly_core *core = s->core;
	const char *dom = m->from.null_path ? "" : m->from.addr + m->from.domain_off;
	size_t dlen = m->from.null_path ? 0 : m->from.len - m->from.domain_off;
	if (core->pol->require_tls && !ss->tls) {
		*v = (struct smtp_verdict){ 530, "5.7.0", "Must issue a STARTTLS command first" };
		return;
	}
	if (session_client(s) && !rly_sender_allowed(s->client, dom, dlen)) {
		core->stats.sender_denied++;
		*v = (struct smtp_verdict){ 550, "5.7.1", "Sender domain not allowed for this client" };
		return;
	}
	if (spool_space_check(core->spool, m->size) < 0) {
		*v = (struct smtp_verdict){ 452, "4.3.1", "Insufficient system storage" };
		return;
	}
	struct rly_env *e = &s->env;
	env_reset(e);
	long so = env_put(e, m->from.addr, m->from.null_path ? 0 : m->from.len);
	long eo = env_put(e, m->envid, strlen(m->envid));
	if (so < 0 || eo < 0) {
		*v = (struct smtp_verdict){ 452, "4.3.0", "Out of memory" };
		return;
	}
	e->sender_off = (uint32_t)so;
	e->sender_len = m->from.null_path ? 0 : m->from.len;
	e->envid_off = (uint32_t)eo;
	e->envid_len = (uint32_t)strlen(m->envid);
	e->ret = m->ret == SMTP_RET_FULL ? SPOOL_RET_FULL : m->ret == SMTP_RET_HDRS ? SPOOL_RET_HDRS
										   : SPOOL_RET_NONE;
	/* what the message asks of every later hop: delivery honours it (docs/deliver.md) */
	e->flags = (m->body == SMTP_BODY_8BITMIME ? SPOOL_MF_8BITMIME : 0) |
		   (m->smtputf8 ? SPOOL_MF_SMTPUTF8 : 0) | (m->requiretls ? SPOOL_MF_REQUIRETLS : 0);
}

static uint8_t notify_bits(uint32_t n)
{
	uint8_t b = 0;
	b |= (n & SMTP_NOTIFY_SUCCESS) ? SPOOL_NOTIFY_SUCCESS : 0;
	b |= (n & SMTP_NOTIFY_FAILURE) ? SPOOL_NOTIFY_FAILURE : 0;
	b |= (n & SMTP_NOTIFY_DELAY) ? SPOOL_NOTIFY_DELAY : 0;
	b |= (n & SMTP_NOTIFY_NEVER) ? SPOOL_NOTIFY_NEVER : 0;
	return b;
}

static void h_rcpt(void *ctx, struct smtp_server_session *ss, const struct smtp_rcpt *r,
		   struct smtp_verdict *v)
{
	struct rly_session *s = ctx;
	struct rly_env *e = &s->env;
	if (!session_client(s) && !ss->authenticated) {
		s->core->stats.relay_denied++;
		*v = (struct smtp_verdict){ 554, "5.7.1", "Relay access denied" };
		return;
	}
	if (e->nrcpt == e->rcpt_cap) {
		uint32_t cap = e->rcpt_cap ? e->rcpt_cap * 2 : 16;
		struct spool_rcpt *rc = realloc(e->rcpts, sizeof(*rc) * cap);
		if (!rc) {
			*v = (struct smtp_verdict){ 452, "4.5.3", "Too many recipients" };
			return;
		}
		e->rcpts = rc;
		e->rcpt_cap = cap;
	}
	/* ORCPT is kept as "type;addr" (decoded); the spool stores it verbatim. */
	char orcpt[SMTP_ORCPT_MAX + 40];
	int on = r->orcpt[0] ? snprintf(orcpt, sizeof(orcpt), "%s;%s", r->orcpt_type, r->orcpt) : 0;
	if (on < 0 || (size_t)on >= sizeof(orcpt))
		on = 0;
	long ao = env_put(e, r->to.addr, r->to.len);
	long oo = env_put(e, orcpt, (size_t)on);
	if (ao < 0 || oo < 0) {
		*v = (struct smtp_verdict){ 452, "4.3.0", "Out of memory" };
		return;
	}
	/* Offsets now; pointers are fixed up at data_begin (the buffer may still move). */
	struct spool_rcpt *rc = &e->rcpts[e->nrcpt++];
	rc->addr = (struct spool_str){ (const char *)(uintptr_t)ao, r->to.len };
	rc->orcpt = (struct spool_str){ (const char *)(uintptr_t)oo, (uint16_t)on };
	rc->notify = notify_bits(r->notify);
	*v = (struct smtp_verdict){ 250, "2.1.5", "Ok" };
}

static void h_data_begin(void *ctx, struct smtp_server_session *ss, struct smtp_verdict *v)
{
	struct rly_session *s = ctx;
	struct rly_core *core = s->core;
	struct rly_env *e = &s->env;
	struct spool_rcpt rcpts[e->nrcpt ? e->nrcpt : 1];
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		rcpts[i] = e->rcpts[i];
		rcpts[i].addr.p = e->buf + (uintptr_t)e->rcpts[i].addr.p;
		rcpts[i].orcpt.p = e->buf + (uintptr_t)e->rcpts[i].orcpt.p;
	}
	struct spool_envelope env = {
		.arrival_us = (uint64_t)((int64_t)core->now + core->p.wall_offset_us),
		.snapshot = (uint32_t)core->snap_version,
		.client = s->peer,
		.sender = { e->buf + e->sender_off, (uint16_t)e->sender_len },
		.envid = { e->buf + e->envid_off, (uint16_t)e->envid_len },
		.ret = e->ret,
		.nrcpt = (uint16_t)e->nrcpt,
		.rcpts = rcpts,
		.flags = e->flags,
	};
	/* the tenant: the relay.clients entry that accepted it (IP pools choose by it) */
	const struct rly_client *cl = session_client(s);
	if (cl && cl->name)
		env.tenant = (struct spool_str){ cl->name, (uint16_t)strnlen(cl->name, 255) };
	int err = 0;
	s->txn = spool_msg_begin(core->spool, &env, &err);
	if (!s->txn) {
		if (err == -ENOSPC)
			*v = (struct smtp_verdict){ 452, "4.3.1", "Insufficient system storage" };
		else
			*v = (struct smtp_verdict){ 451, "4.3.0", "Temporary local problem, try again" };
		return;
	}
	s->dkim = NULL;
	if (core->pol->keyring && core->dkim) {
		char id[24];
		spool_qid_str(spool_txn_qid(s->txn), id);
		s->dkim = dkim_msg_new(core->dkim, id);
	}
	s->msg_err = 0;
	s->msg_bytes = 0;
	msg_enter(s, RLY_MSG_DATA);
}

static void h_data_chunk(void *ctx, struct smtp_server_session *ss, const uint8_t *p, size_t n)
{
	struct rly_session *s = ctx;
	if (s->msg != RLY_MSG_DATA || s->msg_err)
		return;
	ssize_t rc = spool_msg_append(s->txn, p, n);
	if (rc < 0 || (size_t)rc < n) {
		/* The engine cannot pause content mid-chunk, so a full stage (16 MiB staged in one
		 * turn) fails this message with 451 rather than holding the bytes: counted. */
		s->msg_err = rc < 0 ? (int)rc : -EAGAIN;
		if (rc >= 0)
			s->core->stats.stage_full++;
		return;
	}
	s->msg_bytes += n;
	if (s->dkim)
		dkim_msg_feed(s->dkim, s->core->pol->keyring, p, n, s->core->now);
}

static void drop_message(struct rly_session *s)
{
	if (s->txn)
		spool_msg_abort(s->txn);
	if (s->dkim)
		dkim_msg_free(s->dkim);
	s->txn = NULL;
	s->dkim = NULL;
	msg_enter(s, RLY_MSG_NONE);
}

static void h_data_abort(void *ctx, struct smtp_server_session *ss, enum smtp_data_error why)
{
	struct rly_session *s = ctx;
	if (s->msg == RLY_MSG_DATA)
		drop_message(s);
}

/* The peer's address literal as a Received: clause shows it (RFC 5321 4.1.3). */
static void peer_literal(struct rly_session *s)
{
	const struct conn_addr *a = &s->peer;
	if (a->family == AF_INET6) {
		memcpy(s->peer_lit, "IPv6:", 5);
		if (!inet_ntop(AF_INET6, a->ip.v6, s->peer_lit + 5, sizeof(s->peer_lit) - 5))
			strcpy(s->peer_lit, "IPv6:::");
	} else if (!inet_ntop(AF_INET, &a->ip.v4, s->peer_lit, sizeof(s->peer_lit))) {
		strcpy(s->peer_lit, "0.0.0.0");
	}
}

/* The Received: date of this second, formatted once a second per lcore (not per message). */
static const char *received_date(struct rly_core *core)
{
	int64_t sec = ((int64_t)core->now + core->p.wall_offset_us) / 1000000;
	if (sec != core->date_sec || !core->date[0]) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(core->date, sizeof(core->date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		core->date_sec = sec;
	}
	return core->date;
}

/* Appends the string z at *p if it fits before end; returns false if it does not. */
static bool put(char **p, const char *end, const char *z)
{
	size_t n = strlen(z);
	if ((size_t)(end - *p) < n)
		return false;
	memcpy(*p, z, n);
	*p += n;
	return true;
}

/*
 * Received: trace header (RFC 5321 4.4) for the prefix stored with the message, into
 * buf[0..len); returns its length, 0 if it does not fit. Built by appending pieces: this runs
 * once per message, and snprintf/strftime showed in its profile.
 */
static int received_header(struct rly_session *s, char *buf, size_t len)
{
	struct rly_core *core = s->core;
	char qid[24];
	spool_qid_str(spool_txn_qid(s->txn), qid);
	const char *with = s->smtp.tls ? (s->smtp.authenticated ? "ESMTPSA" : "ESMTPS")
				       : (s->smtp.authenticated ? "ESMTPA" : "ESMTP");
	char *p = buf;
	const char *end = buf + len;
	bool ok = put(&p, end, "Received: from ") &&
		  put(&p, end, s->smtp.helo[0] ? s->smtp.helo : "unknown") &&
		  put(&p, end, " ([") && put(&p, end, s->peer_lit) &&
		  put(&p, end, "])\r\n\tby ") && put(&p, end, core->pol->hostname) &&
		  put(&p, end, " (dpmail) with ") && put(&p, end, with) && put(&p, end, " id ") &&
		  put(&p, end, qid) && put(&p, end, ";\r\n\t") && put(&p, end, received_date(core)) &&
		  put(&p, end, "\r\n");
	return ok ? (int)(p - buf) : 0;
}

static void commit(struct rly_session *s, const char *sig, size_t siglen)
{
	char prefix[16384];
	size_t plen = 0;
	if (sig && siglen < sizeof(prefix) - 1024) {
		memcpy(prefix, sig, siglen);
		plen = siglen;
	}
	plen += (size_t)received_header(s, prefix + plen, sizeof(prefix) - plen);
	struct spool_txn *tx = s->txn;
	s->txn = NULL;
	if (spool_msg_commit(tx, prefix, plen, cookie_of(s)) < 0) {
		msg_enter(s, RLY_MSG_NONE);
		answer(s, 451, "4.3.0", "Temporary local problem, try again");
		return;
	}
	s->core->stats.bytes += s->msg_bytes;
	msg_enter(s, RLY_MSG_COMMITTING);
}

static void on_signed(void *arg, struct dkim_msg *m, enum dkim_result res)
{
	struct rly_session *s = arg;
	struct rly_core *core = s->core;
	s->dkim = NULL;
	if (s->conn_gone) {
		/* No 250 was sent: drop it; the client retries. */
		dkim_msg_free(m);
		drop_message(s);
		session_free(s);
		return;
	}
	size_t len = 0;
	const char *sig = NULL;
	switch (res) {
	case DKIM_RES_SIGNED:
		sig = dkim_msg_sig(m, &len);
		core->stats.dkim_signed++;
		break;
	case DKIM_RES_NO_KEY:
		core->stats.dkim_unsigned++;
		break;
	case DKIM_RES_NO_FROM:
	case DKIM_RES_MULTI_FROM:
	case DKIM_RES_BAD_FROM:
	case DKIM_RES_BAD_HEADER:
		if (core->pol->unsignable == RLY_UNSIGNABLE_REJECT) {
			core->stats.dkim_rejected++;
			dkim_msg_free(m);
			drop_message(s);
			answer(s, 550, "5.7.1", "Message must have exactly one valid From: header");
			return;
		}
		log_info("sid=%u.%u event=unsigned reason=%s", s->idx, s->gen, dkim_result_str(res));
		core->stats.dkim_unsigned++;
		break;
	default:
		dkim_msg_free(m);
		drop_message(s);
		answer(s, 451, "4.3.0", "Temporary signing problem, try again");
		return;
	}
	commit(s, sig, len);
	dkim_msg_free(m);
}

static void h_data_end(void *ctx, struct smtp_server_session *ss)
{
	struct rly_session *s = ctx;
	struct rly_core *core = s->core;
	if (s->msg != RLY_MSG_DATA)
		return;
	if (s->msg_err) {
		int err = s->msg_err;
		drop_message(s);
		if (err == -ENOSPC)
			answer(s, 452, "4.3.1", "Insufficient system storage");
		else if (err == -EFBIG)
			answer(s, 552, "5.3.4", "Message too big");
		else
			answer(s, 451, "4.3.0", "Temporary local problem, try again");
		return;
	}
	if (!s->dkim) {
		commit(s, NULL, 0);
		return;
	}
	msg_enter(s, RLY_MSG_SIGNING);
	if (dkim_batch_add(&core->batch, s->dkim, on_signed, s, core->now) == -ENOSPC) {
		dkim_batch_run(&core->batch, core->dkim, core->pol->keyring, core->now);
		dkim_batch_add(&core->batch, s->dkim, on_signed, s, core->now);
	}
}

static void h_from_header(void *ctx, struct smtp_server_session *ss, const char *value, size_t len,
			  struct smtp_verdict *v)
{
	struct rly_session *s = ctx;
	if (!session_client(s) || !s->client->domains)
		return;
	char dom[256];
	if (dkim_from_domain((const uint8_t *)value, len, dom, sizeof(dom)) != DKIM_FROM_OK)
		return; /* zero/several/bad From: handled by the DKIM policy at end of data */
	if (!rly_sender_allowed(s->client, dom, strlen(dom))) {
		s->core->stats.sender_denied++;
		*v = (struct smtp_verdict){ 550, "5.7.1", "From: domain not allowed for this client" };
	}
}

static void h_starttls(void *ctx, struct smtp_server_session *ss)
{
	struct rly_session *s = ctx;
	struct rly_core *core = s->core;
	drain(s);
	struct tls_conn_opts o = {
		.now = core->now,
		.handshake_timeout = core->pol->tls_handshake_timeout_us,
	};
	int err = 0;
	struct conn *tc = tls_conn_server_new(core->tls, s->conn, core->pol->tls, &sess_handler, s, &o, &err);
	if (!tc) {
		log_warn("sid=%u.%u event=starttls_failed err=%d", s->idx, s->gen, err);
		conn_abort(s->conn);
		return;
	}
	s->conn = tc;
	s->tls_pending = true;
}

static void h_flush(void *ctx, struct smtp_server_session *ss)
{
	drain(ctx);
}

static void h_close(void *ctx, struct smtp_server_session *ss, enum smtp_close_reason why)
{
	struct rly_session *s = ctx;
	s->want_close = true;
}

#define RLY_HOOKS_COMMON                                                                          \
	.mail = h_mail, .rcpt = h_rcpt, .data_begin = h_data_begin, .data_chunk = h_data_chunk,  \
	.data_end = h_data_end, .data_abort = h_data_abort, .from_header = h_from_header,        \
	.flush = h_flush, .close = h_close

static const struct smtp_server_hooks hooks_tls = { RLY_HOOKS_COMMON, .starttls = h_starttls };
static const struct smtp_server_hooks hooks_plain = { RLY_HOOKS_COMMON };

/* ---- transport callbacks ---- */

static void c_connected(void *ctx, struct conn *c)
{
	struct rly_session *s = ctx;
	if (s->tls_pending && c == s->conn) {
		s->tls_pending = false;
		s->core->stats.starttls++;
		smtp_server_tls_started(&s->smtp, s->core->now);
	}
	drain(s);
}

/* The client is gone or half-closed and everything it sent was processed. */
static void finish(struct rly_session *s)
{
	smtp_server_peer_closed(&s->smtp);
	if (!s->conn_gone)
		conn_close(s->conn);
}

static size_t c_data(void *ctx, struct conn *c, const uint8_t *data, size_t len)
{
	struct rly_session *s = ctx;
	size_t off = 0;
	uint32_t gen = s->gen;
	while (off < len && !s->conn_gone && s->gen == gen) {
		size_t n = smtp_server_input(&s->smtp, data + off, len - off, s->core->now);
		off += n;
		drain(s);
		if (n == 0)
			break;
	}
	if (s->conn_gone || s->gen != gen)
		return len;
	if (off < len)
		s->input_blocked = true;
	else if (s->eof)
		finish(s);
	return off;
}

static void c_eof(void *ctx, struct conn *c)
{
	struct rly_session *s = ctx;
	s->eof = true;
	if (!s->input_blocked)
		finish(s);
}

static void c_sendable(void *ctx, struct conn *c)
{
	struct rly_session *s = ctx;
	drain(s);
	resume_if_blocked(s);
}

static void c_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct rly_session *s = ctx;
	if (s->conn_gone)
		return;
	s->conn_gone = true;
	s->conn = NULL;
	smtp_server_peer_closed(&s->smtp);
	if (s->msg == RLY_MSG_DATA)
		drop_message(s);
	session_release(s);
}

static const struct conn_handler sess_handler = {
	.on_connected = c_connected,
	.on_data = c_data,
	.on_eof = c_eof,
	.on_sendable = c_sendable,
	.on_closed = c_closed,
};

/* A connection beyond the session limit gets a 421 and a graceful close, not a reset, so a
 * well-behaved client backs off instead of retrying at once (RFC 5321 3.8). It holds no session
 * slot: its input is discarded until the close completes. */
static size_t busy_data(void *ctx, struct conn *c, const uint8_t *data, size_t len) { return len; }
static void busy_closed(void *ctx, struct conn *c, enum conn_close_reason why) {}
static const struct conn_handler busy_handler = { .on_data = busy_data, .on_closed = busy_closed };

int rly_accept(void *ctx, struct conn *c)
{
	static const char busy[] = "421 4.3.2 Too many connections, try again later\r\n";
	struct rly_core *core = ctx;
	struct rly_session *s = session_alloc(core);
	if (!s) {
		core->stats.sessions_refused++;
		conn_set_handler(c, &busy_handler, NULL);
		conn_send(c, busy, sizeof(busy) - 1);
		conn_close(c);
		return 0;
	}
	core->stats.sessions++;
	s->conn = c;
	s->peer = c->remote;
	peer_literal(s);
	s->client = rly_client_find(core->pol, &s->peer);
	smtp_server_init(&s->smtp, &core->p.limits, core->pol->tls ? &hooks_tls : &hooks_plain, s,
			 core->pol->hostname);
	conn_set_handler(c, &sess_handler, s);
	smtp_server_start(&s->smtp, core->now, NULL);
	drain(s);
	return 0;
}

void rly_spool_committed(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct rly_core *core = arg;
	uint32_t idx = (uint32_t)(cookie >> 32), gen = (uint32_t)cookie;
	if (result == 0 && core->p.queued)
		core->p.queued(core->p.queued_ctx, qid);
	if (idx >= core->n_sessions)
		return;
	struct rly_session *s = &core->sessions[idx];
	if (!s->in_use || s->gen != gen || s->msg != RLY_MSG_COMMITTING)
		return;
	msg_enter(s, RLY_MSG_NONE);
	if (result == 0)
		core->stats.messages++;
	if (s->conn_gone) {
		session_free(s);
		return;
	}
	if (result == 0) {
		char text[64] = "Ok: queued as ";
		spool_qid_str(qid, text + 14);	/* at most 16 digits and a NUL */
		answer(s, 250, "2.0.0", text);
	} else if (result == -ENOSPC) {
		answer(s, 452, "4.3.1", "Insufficient system storage");
	} else {
		answer(s, 451, "4.3.0", "Temporary local problem, try again");
	}
}

void rly_session_tick(struct rly_session *s, uint64_t now)
{
	if (!s->in_use || s->conn_gone)
		return;
	uint64_t d = smtp_server_next_deadline(&s->smtp);
	if (d && d <= now) {
		smtp_server_tick(&s->smtp, now);
		drain(s);
	}
}

void rly_session_abort_all(struct rly_core *core)
{
	for (uint32_t i = 0; i < core->n_sessions; i++) {
		struct rly_session *s = &core->sessions[i];
		if (s->in_use && !s->conn_gone)
			conn_abort(s->conn);
	}
}
