// SPDX-License-Identifier: MIT
/*
 * smtp_client.c: the client engine for outbound delivery: the session's state machine and
 * its reply handling. Bytes in (server replies), bytes out (commands and the message), events
 * up (ready, STARTTLS, per-recipient and per-message results, done). It never sees a socket,
 * TLS or the spool: the caller runs the handshake when asked and supplies the body through the
 * body_read (copy) or body_map (in place) pull hook, so delivery streams from disk. The output
 * side (the body pump, BDAT chunk gathering, DATA dot-stuffing and canonicalisation, the
 * output runs) lives in smtp_client_body.c; smtp_client_int.h is what the two files share.
 *
 * Flow: greeting -> EHLO (HELO if refused) -> STARTTLS when offered and wanted -> EHLO again
 * (capabilities from before TLS are forgotten) -> idle. A message: [RSET on a reused
 * connection] MAIL, RCPT..., DATA (one pipelined group when PIPELINING is offered) and the
 * dot-stuffed body, or BDAT chunks with CHUNKING (gathered across the body hook's pieces: a
 * body up to ~16 KiB is one BDAT n LAST, closed only when the hook reports the verified end;
 * see "Chunks" in smtp_client_body.c). With PIPELINING and CHUNKING the chunks follow the last
 * RCPT at once (RFC 3030 + 2920): the whole transaction leaves in one write and all its replies
 * come back in one wait; a chunk sent for a transaction whose recipients all failed is
 * answered with an error by the server (it must consume it, RFC 3030 2) and the transaction
 * fails with the first RCPT error, as "no valid recipients" does with DATA. Parameters (SIZE,
 * BODY=8BITMIME, SMTPUTF8, RET/ENVID/NOTIFY/ORCPT, REQUIRETLS) go out only when offered; a
 * message that needs an extension the server lacks fails locally with the RFC's code before
 * anything is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fmt.h"
#include "smtp/smtp_client_int.h"

static const char *const cstate_names[SMTP_C__MAX] = {
	[SMTP_C_CONNECTED] = "connected", [SMTP_C_EHLO] = "ehlo",   [SMTP_C_HELO] = "helo",
	[SMTP_C_STARTTLS] = "starttls",   [SMTP_C_TLS_WAIT] = "tls-wait",
	[SMTP_C_IDLE] = "idle",           [SMTP_C_MAIL] = "mail",   [SMTP_C_RCPT] = "rcpt",
	[SMTP_C_DATA] = "data",           [SMTP_C_BODY] = "body",   [SMTP_C_DOT] = "dot",
	[SMTP_C_RSET] = "rset",           [SMTP_C_QUIT] = "quit",   [SMTP_C_DONE] = "done",
};

const char *smtp_client_state_str(enum smtp_client_state st)
{
	return (unsigned)st < SMTP_C__MAX ? cstate_names[st] : "unknown";
}

void smtp_client_limits_defaults(struct smtp_client_limits *l)
{
	*l = (struct smtp_client_limits){
		.reply_line_max = 512 + 64,
		.reply_lines_max = 64,
		.greeting_timeout_us = 300ull * 1000000,
		.cmd_timeout_us = 300ull * 1000000,
		.data_init_timeout_us = 120ull * 1000000,
		.block_timeout_us = 180ull * 1000000,
		.final_timeout_us = 600ull * 1000000,
		.use_bdat = true,
		.bdat_chunk = 0,
	};
}

/* Text building without printf: every message passes here several times (MAIL, RCPT, each
 * reply, each BDAT header), where a snprintf call costs 600-2,000 instructions. */

/* snprintf(dst, cap, "%s", s): s cut to cap - 1 bytes; cap >= 1. */
static void copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* snprintf(dst, cap, "%s>", s): the closing bracket of a path, cut like snprintf would. */
static void copy_path(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);
	memcpy(dst, s, n);
	if (n < cap - 1)
		dst[n++] = '>';
	dst[n] = '\0';
}

/* The one state transition: every state change passes here; timeout 0 = no deadline. */
void smtp_cli_enter(struct smtp_client_session *c, enum smtp_client_state st, uint64_t timeout)
{
	c->state = st;
	c->deadline = timeout ? c->now + timeout : 0;
}

static void local_reply(struct smtp_reply *r, uint16_t code, const char *ecode, const char *text)
{
	r->code = code;
	copy_str(r->ecode, sizeof(r->ecode), ecode);
	copy_str(r->text, sizeof(r->text), text);
}

/* One command line; parts are concatenated. Returns 0 or -1 when it would not fit. */
static int cmd(struct smtp_client_session *c, const char *a, const char *b, const char *d)
{
	char line[1200];
	const char *part[3] = { a, b ? b : "", d ? d : "" };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		size_t k = strlen(part[i]);
		if (k > sizeof(line) - 3 - n)   /* the line, CRLF and a NUL must fit, as before */
			return -1;
		memcpy(line + n, part[i], k);
		n += k;
	}
	line[n++] = '\r';
	line[n++] = '\n';
	return smtp_obuf_append(&c->out, line, n);
}

void smtp_client_init(struct smtp_client_session *c, const struct smtp_client_limits *lim,
		      const struct smtp_client_hooks *hooks, void *ctx, const char *helo_name,
		      enum smtp_tls_policy tls, bool tls_active, uint64_t now)
{
	memset(c, 0, offsetof(struct smtp_client_session, out));
	c->lim = lim;
	c->hooks = hooks;
	c->ctx = ctx;
	c->helo_name = helo_name;
	c->tls_policy = tls;
	c->tls = tls_active;
	c->now = now;
	smtp_rparse_reset(&c->rp);
	smtp_obuf_reset(&c->out);
	c->chunk.open = c->chunk.closed = false;
	c->chunk.len = c->chunk.pulled = c->chunk.head = c->chunk.tail = c->chunk.before = 0;
	smtp_cli_enter(c, SMTP_C_CONNECTED, lim->greeting_timeout_us);
}

/* Reports the end of the message in flight: remaining recipients get r too. */
static void msg_finish(struct smtp_client_session *c, const struct smtp_reply *r, bool rcpts_too)
{
	const struct smtp_client_msg *m = c->msg;

	if (!m)
		return;
	if (rcpts_too && c->hooks->rcpt_result)
		for (uint32_t i = c->rcpt_replied; i < m->nrcpt; i++)
			c->hooks->rcpt_result(c->ctx, c, i, r);
	c->msg = NULL;
	if (r->code >= 200 && r->code < 300)
		c->messages_done++;
	if (c->hooks->msg_result)
		c->hooks->msg_result(c->ctx, c, r);
}

/* The session is over: what is in flight fails with r (temporary unless r says otherwise). */
void smtp_cli_fail(struct smtp_client_session *c, uint16_t code, const char *ecode,
		   const char *text)
{
	struct smtp_reply r;

	if (c->state == SMTP_C_DONE)
		return;
	local_reply(&r, code, ecode, text);
	smtp_cli_enter(c, SMTP_C_DONE, 0);
	msg_finish(c, &r, true);
	if (c->hooks->done)
		c->hooks->done(c->ctx, c, &r);
}

/* The server refused the session (greeting, HELO): its reply is the reason. */
static void session_refused(struct smtp_client_session *c)
{
	cmd(c, "QUIT", NULL, NULL);
	smtp_cli_enter(c, SMTP_C_DONE, 0);
	msg_finish(c, &c->reply, true);
	if (c->hooks->done)
		c->hooks->done(c->ctx, c, &c->reply);
	smtp_cli_flush(c);
}

static void become_idle(struct smtp_client_session *c)
{
	smtp_cli_enter(c, SMTP_C_IDLE, 0);
	if (c->quit_pending) {
		smtp_client_quit(c);
		return;
	}
	if (c->hooks->ready)
		c->hooks->ready(c->ctx, c);
}

static void send_ehlo(struct smtp_client_session *c, bool ehlo)
{
	c->ext = 0;
	c->server_size = 0;
	cmd(c, ehlo ? "EHLO " : "HELO ", c->helo_name, NULL);
	smtp_cli_enter(c, ehlo ? SMTP_C_EHLO : SMTP_C_HELO, c->lim->cmd_timeout_us);
}

/* One EHLO keyword line. */
static void capability(struct smtp_client_session *c, const char *kw)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} caps[] = {
		{ "PIPELINING", SMTP_EXT_PIPELINING }, { "SIZE", SMTP_EXT_SIZE },
		{ "8BITMIME", SMTP_EXT_8BITMIME },     { "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
		{ "CHUNKING", SMTP_EXT_CHUNKING },     { "DSN", SMTP_EXT_DSN },
		{ "STARTTLS", SMTP_EXT_STARTTLS },     { "REQUIRETLS", SMTP_EXT_REQUIRETLS },
		{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCED },
	};
	size_t kl = strcspn(kw, " ");

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (strlen(caps[i].name) != kl || strncasecmp(kw, caps[i].name, kl) != 0)
			continue;
		c->ext |= caps[i].bit;
		if (caps[i].bit == SMTP_EXT_SIZE && kw[kl] == ' ') {
			unsigned long long v = 0;
			const char *p = kw + kl + 1;
			for (int d = 0; *p >= '0' && *p <= '9' && d < 19; p++, d++)
				v = v * 10 + (unsigned)(*p - '0');
			c->server_size = v;
		}
	}
}

/* A completed reply line: keeps the first line's text and enhanced code; EHLO keywords. */
static void capture_line(struct smtp_client_session *c)
{
	const char *l = c->rp.line;
	const char *text = c->rp.line_len > 4 ? l + 4 : "";

	if (c->rp.lines == 1) {
		c->reply.code = c->rp.code;
		c->reply.ecode[0] = '\0';
		size_t el = strcspn(text, " ");
		if (el < sizeof(c->reply.ecode) && text[0] == l[0]) {
			char e[16];
			memcpy(e, text, el);
			e[el] = '\0';
			if (smtp_ecode_valid(e)) {
				memcpy(c->reply.ecode, e, el + 1);
				text += el + (text[el] == ' ');
			}
		}
		copy_str(c->reply.text, sizeof(c->reply.text), text);
	} else if (c->state == SMTP_C_EHLO) {
		capability(c, text);
	}
}

static bool ok2(const struct smtp_reply *r)
{
	return r->code >= 200 && r->code < 300;
}

/* ---- the transaction -------------------------------------------------------------------------- */

static bool addr_clean(const char *a)
{
	size_t n = strlen(a);

	if (n > SMTP_PATH_MAX - 2)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p < 32 || *p == 127 || *p == '<' || *p == '>' || *p == ' ')
			return false;
	return true;
}

static void addp(char *buf, size_t cap, size_t *pl, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends one parameter to buf if it fits whole. */
static void addp(char *buf, size_t cap, size_t *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int k = vsnprintf(buf + *pl, cap - *pl, fmt, ap);
	va_end(ap);
	if (k > 0 && (size_t)k < cap - *pl)
		*pl += (size_t)k;
	else
		buf[*pl] = '\0';
}

static int send_mail(struct smtp_client_session *c)
{
	const struct smtp_client_msg *m = c->msg;
	char params[600] = "", from[SMTP_PATH_MAX + 2];
	size_t pl = 0;

	if ((c->ext & SMTP_EXT_SIZE) && m->size) {
		char sz[32] = " SIZE=";
		size_t k = 6 + fmt_u64(sz + 6, m->size);
		sz[k] = '\0';
		memcpy(params, sz, k + 1);   /* the first parameter: always fits */
		pl = k;
	}
	if ((c->ext & SMTP_EXT_8BITMIME) && m->needs_8bit)
		addp(params, sizeof(params), &pl, " BODY=8BITMIME");
	if ((c->ext & SMTP_EXT_SMTPUTF8) && m->needs_smtputf8)
		addp(params, sizeof(params), &pl, " SMTPUTF8");
	if ((c->ext & SMTP_EXT_DSN) && m->ret)
		addp(params, sizeof(params), &pl, " RET=%s", m->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
	if ((c->ext & SMTP_EXT_DSN) && m->envid && m->envid[0] && addr_clean(m->envid) &&
	    strlen(m->envid) <= 3 * SMTP_ENVID_MAX)
		addp(params, sizeof(params), &pl, " ENVID=%s", m->envid);
	if (m->requiretls)
		addp(params, sizeof(params), &pl, " REQUIRETLS");
	copy_path(from, sizeof(from), m->from);
	return cmd(c, "MAIL FROM:<", from, params);
}

static int send_rcpt(struct smtp_client_session *c, uint32_t i)
{
	const struct smtp_client_msg *m = c->msg;
	char to[SMTP_PATH_MAX + 2], params[700] = "";

	copy_path(to, sizeof(to), m->rcpts[i]);
	if (c->ext & SMTP_EXT_DSN) {
		size_t pl = 0;
		uint32_t nf = m->notify ? m->notify[i] : 0;
		if (nf & SMTP_NOTIFY_NEVER)
			pl += (size_t)snprintf(params, sizeof(params), " NOTIFY=NEVER");
		else if (nf)
			pl += (size_t)snprintf(params, sizeof(params), " NOTIFY=%s%s%s",
					       nf & SMTP_NOTIFY_SUCCESS ? "SUCCESS," : "",
					       nf & SMTP_NOTIFY_FAILURE ? "FAILURE," : "",
					       nf & SMTP_NOTIFY_DELAY ? "DELAY," : "");
		if (pl && params[pl - 1] == ',')
			params[--pl] = '\0';
		if (m->orcpt && m->orcpt[i] && addr_clean(m->orcpt[i]))
			snprintf(params + pl, sizeof(params) - pl, " ORCPT=%s", m->orcpt[i]);
	}
	c->rcpt_sent = i + 1;
	return cmd(c, "RCPT TO:<", to, params);
}

/* A failure decided here, before anything is sent: every recipient and the message get r. */
static void local_fail(struct smtp_client_session *c, uint16_t code, const char *ecode,
		       const char *text)
{
	struct smtp_reply r;

	local_reply(&r, code, ecode, text);
	c->rcpt_replied = 0;
	msg_finish(c, &r, true);
}

/* Checks that the server offers what the message needs (RFC 6531, 6152, 8689, 1870) and
 * that the addresses cannot inject anything. On failure reports it and returns false. */
static bool needs_ok(struct smtp_client_session *c, const struct smtp_client_msg *m)
{
	bool rcpts_clean = m->nrcpt > 0;

	for (uint32_t i = 0; i < m->nrcpt; i++)
		rcpts_clean = rcpts_clean && m->rcpts[i][0] && addr_clean(m->rcpts[i]);
	if (!addr_clean(m->from))
		local_fail(c, 553, "5.1.7", "invalid sender address");
	else if (!rcpts_clean)
		local_fail(c, 553, "5.1.3", "invalid or missing recipient address");
	else if (m->needs_smtputf8 && !(c->ext & SMTP_EXT_SMTPUTF8))
		local_fail(c, 553, "5.6.7", "server does not support SMTPUTF8");
	else if (m->needs_8bit && !(c->ext & SMTP_EXT_8BITMIME))
		local_fail(c, 554, "5.6.3", "server does not support 8BITMIME");
	else if (m->requiretls && (!c->tls || !(c->ext & SMTP_EXT_REQUIRETLS)))
		local_fail(c, 550, "5.7.30", "REQUIRETLS support required");
	else if ((c->ext & SMTP_EXT_SIZE) && c->server_size && m->size > c->server_size)
		local_fail(c, 552, "5.3.4", "message size exceeds the server's limit");
	else
		return true;
	return false;
}

/* Pipelining: as many RCPTs as the output buffer takes, then DATA, or with BDAT the body
 * chunks (body_early: output() pulls them). The rest follows as replies free room, so any
 * number of recipients fits a bounded buffer. */
static void fill_pipeline(struct smtp_client_session *c)
{
	const struct smtp_client_msg *m = c->msg;

	while (c->rcpt_sent < m->nrcpt && smtp_obuf_space(&c->out) >= SMTP_REPLY_RESERVE + 64)
		send_rcpt(c, c->rcpt_sent);
	if (c->rcpt_sent < m->nrcpt)
		return;
	if (!c->bdat && !c->data_sent) {
		cmd(c, "DATA", NULL, NULL);
		c->data_sent = true;
	} else if (c->bdat && !c->body_early && !c->msg_failed) {
		c->body_early = true;
		c->at_bol = true;
		c->last_cr = false;
	}
}

static void send_group(struct smtp_client_session *c)
{
	c->pipelined = (c->ext & SMTP_EXT_PIPELINING) != 0;
	c->bdat = c->lim->use_bdat && (c->ext & SMTP_EXT_CHUNKING);
	send_mail(c);
	if (c->pipelined)
		fill_pipeline(c);
	smtp_cli_enter(c, SMTP_C_MAIL, c->lim->cmd_timeout_us);
	smtp_cli_flush(c);
}

int smtp_client_send(struct smtp_client_session *c, const struct smtp_client_msg *m)
{
	if (c->state != SMTP_C_IDLE || c->msg)
		return -EBUSY;
	c->msg = m;
	c->rcpt_sent = c->rcpt_replied = c->rcpt_ok = c->bdat_pending = 0;
	c->msg_failed = c->body_eof = c->body_wait = c->bdat_last_sent = c->bdat_stop = false;
	c->mail_ok = c->data_sent = c->rset_pending = c->body_early = false;
	c->first_err.code = 0;
	smtp_cli_chunk_drop(c); /* a chunk left open by a transaction that ended while it gathered */
	if (!needs_ok(c, m))
		return 0;
	if (c->messages_done > 0) {
		/* a reused connection: RSET first, which also proves it is alive. With PIPELINING
		 * it leads the MAIL group (RFC 2920 3.1: RSET need not end a group), so reuse costs
		 * no extra round trip, write or read per message; its reply comes first. */
		cmd(c, "RSET", NULL, NULL);
		if (!(c->ext & SMTP_EXT_PIPELINING)) {
			smtp_cli_enter(c, SMTP_C_RSET, c->lim->cmd_timeout_us);
			smtp_cli_flush(c);
			return 0;
		}
		c->rset_pending = true;
	}
	send_group(c);
	return 0;
}

/* The message is over with r; a transaction the server still holds is reset (RFC 5321
 * 4.1.1.5) before the session is idle again. */
static void end_txn(struct smtp_client_session *c, struct smtp_reply r, bool server_txn)
{
	msg_finish(c, &r, false);
	if (server_txn) {
		cmd(c, "RSET", NULL, NULL);
		smtp_cli_enter(c, SMTP_C_RSET, c->lim->cmd_timeout_us);
	} else {
		become_idle(c);
	}
}

/* After the last RCPT reply. */
static void rcpts_done(struct smtp_client_session *c)
{
	if (c->rcpt_ok == 0 || c->msg_failed) {
		if (c->data_sent) {
			smtp_cli_enter(c, SMTP_C_DATA, c->lim->data_init_timeout_us); /* DATA reply due */
			return;
		}
		if (c->bdat_pending) {
			/* chunks already sent: the server answers (and discards) each; the transaction
			 * fails with the first error seen here, then RSET (on_bdat) */
			c->bdat_stop = true;
			smtp_cli_enter(c, SMTP_C_DOT, c->lim->final_timeout_us);
			return;
		}
		end_txn(c, c->first_err, c->mail_ok);
		return;
	}
	if (c->bdat) {
		if (!c->body_early) {
			c->at_bol = true;
			c->last_cr = false;
		}
		if (c->bdat_last_sent)
			smtp_cli_enter(c, SMTP_C_DOT, c->lim->final_timeout_us);
		else
			smtp_cli_enter(c, SMTP_C_BODY, c->lim->block_timeout_us);
	} else {
		if (!c->data_sent)
			cmd(c, "DATA", NULL, NULL);
		c->data_sent = true;
		smtp_cli_enter(c, SMTP_C_DATA, c->lim->data_init_timeout_us);
	}
}

static void on_mail(struct smtp_client_session *c)
{
	if (ok2(&c->reply)) {
		c->mail_ok = true;
	} else {
		c->msg_failed = true;
		c->first_err = c->reply;
	}
	if (c->pipelined) {
		fill_pipeline(c);
		smtp_cli_enter(c, SMTP_C_RCPT, c->lim->cmd_timeout_us);
		return;
	}
	if (c->msg_failed) {
		struct smtp_reply r = c->reply;
		msg_finish(c, &r, true);
		become_idle(c);
		return;
	}
	send_rcpt(c, 0);
	smtp_cli_enter(c, SMTP_C_RCPT, c->lim->cmd_timeout_us);
}

static void on_rcpt(struct smtp_client_session *c)
{
	uint32_t i = c->rcpt_replied++;
	const struct smtp_reply *r = c->msg_failed ? &c->first_err : &c->reply;

	if (!c->msg_failed) {
		if (ok2(r))
			c->rcpt_ok++;
		else if (!c->first_err.code)
			c->first_err = *r;
	}
	if (c->hooks->rcpt_result)
		c->hooks->rcpt_result(c->ctx, c, i, r);
	if (c->rcpt_replied < c->msg->nrcpt) {
		if (!c->pipelined)
			send_rcpt(c, c->rcpt_replied);
		else
			fill_pipeline(c);
		return;
	}
	rcpts_done(c);
}

static void on_data(struct smtp_client_session *c)
{
	if (c->reply.code == 354) {
		if (c->rcpt_ok == 0 || c->msg_failed) {
			/* a server that said 354 without recipients: end the empty message */
			cmd(c, ".", NULL, NULL);
			c->msg_failed = true;
			smtp_cli_enter(c, SMTP_C_DOT, c->lim->final_timeout_us);
			return;
		}
		c->at_bol = true;
		c->last_cr = false;
		smtp_cli_enter(c, SMTP_C_BODY, c->lim->block_timeout_us);
		return;
	}
	bool none = (c->rcpt_ok == 0 || c->msg_failed) && c->first_err.code;
	end_txn(c, none ? c->first_err : c->reply, c->mail_ok);
}

static void on_dot(struct smtp_client_session *c)
{
	if (c->msg_failed)
		end_txn(c, c->first_err, true);
	else
		end_txn(c, c->reply, false);
}

/* A reply to a BDAT chunk (state BODY while chunks go out, DOT after BDAT 0 LAST). */
static void on_bdat(struct smtp_client_session *c)
{
	if (c->bdat_pending)
		c->bdat_pending--;
	if (!ok2(&c->reply) && !c->bdat_stop) {
		c->bdat_stop = true;
		c->first_err = c->reply;
	}
	if (c->bdat_pending)
		return;
	if (c->bdat_stop)
		end_txn(c, c->first_err, true);
	else if (c->bdat_last_sent)
		end_txn(c, c->reply, false);
	else
		c->deadline = c->now + c->lim->block_timeout_us;
}

static void on_session_reply(struct smtp_client_session *c)
{
	switch (c->state) {
	case SMTP_C_CONNECTED:
		if (c->reply.code != 220)
			session_refused(c);
		else
			send_ehlo(c, true);
		break;
	case SMTP_C_EHLO:
	case SMTP_C_HELO:
		if (!ok2(&c->reply)) {
			if (c->state == SMTP_C_EHLO)
				send_ehlo(c, false);
			else
				session_refused(c);
		} else if (!c->tls && c->tls_policy != SMTP_TLS_NONE && (c->ext & SMTP_EXT_STARTTLS)) {
			cmd(c, "STARTTLS", NULL, NULL);
			smtp_cli_enter(c, SMTP_C_STARTTLS, c->lim->cmd_timeout_us);
		} else if (!c->tls && c->tls_policy == SMTP_TLS_REQUIRED) {
			cmd(c, "QUIT", NULL, NULL);
			smtp_cli_fail(c, 451, "4.7.4", "TLS required but not offered by the server");
		} else {
			become_idle(c);
		}
		break;
	case SMTP_C_STARTTLS:
		if (c->reply.code == 220) {
			c->drop_input = true; /* CVE-2021-38371: nothing read before TLS counts */
			smtp_cli_enter(c, SMTP_C_TLS_WAIT, 0);
			if (c->hooks->starttls)
				c->hooks->starttls(c->ctx, c);
		} else if (c->tls_policy == SMTP_TLS_REQUIRED) {
			cmd(c, "QUIT", NULL, NULL);
			smtp_cli_fail(c, 451, "4.7.4", "STARTTLS refused by the server");
		} else {
			become_idle(c);
		}
		break;
	default:
		break;
	}
}

/* A complete reply, routed by what the session waits for. */
static void on_reply(struct smtp_client_session *c)
{
	if (c->rset_pending && c->state != SMTP_C_DONE) {
		/* the pipelined RSET's reply: a refusal means the connection is not fit for reuse;
		 * the group behind it cannot be trusted either, so the message is deferred */
		c->rset_pending = false;
		if (ok2(&c->reply))
			return;
		bool closing = c->reply.code == 421;
		if (!closing)
			cmd(c, "QUIT", NULL, NULL);
		smtp_cli_fail(c, closing ? 421 : 451, closing ? c->reply.ecode : "4.4.2",
			      closing ? c->reply.text : "RSET refused on a reused connection");
		smtp_cli_flush(c);
		return;
	}
	switch (c->state) {
	case SMTP_C_MAIL:
		on_mail(c);
		break;
	case SMTP_C_RCPT:
		on_rcpt(c);
		break;
	case SMTP_C_DATA:
		on_data(c);
		break;
	case SMTP_C_BODY:
		if (c->bdat)
			on_bdat(c);
		else
			smtp_cli_fail(c, 451, "4.5.0", "unexpected reply during the message body");
		break;
	case SMTP_C_DOT:
		if (c->bdat)
			on_bdat(c);
		else
			on_dot(c);
		break;
	case SMTP_C_RSET:
		if (c->msg && ok2(&c->reply)) {
			send_group(c);
		} else if (c->msg) {
			struct smtp_reply r = c->reply;
			msg_finish(c, &r, true);
			become_idle(c);
		} else {
			become_idle(c);
		}
		break;
	case SMTP_C_QUIT:
		smtp_cli_enter(c, SMTP_C_DONE, 0);
		if (c->hooks->done)
			c->hooks->done(c->ctx, c, &c->reply);
		break;
	case SMTP_C_IDLE:
		if (c->reply.code == 421)
			smtp_cli_fail(c, 421, c->reply.ecode, c->reply.text);
		else
			smtp_cli_fail(c, 451, "4.5.0", "unexpected reply from server");
		break;
	default:
		on_session_reply(c);
		break;
	}
}

size_t smtp_client_input(struct smtp_client_session *c, const uint8_t *data, size_t len,
			 uint64_t now)
{
	size_t off = 0;

	c->now = now;
	c->in_input = true;
	while (off < len && c->state != SMTP_C_DONE) {
		if (c->drop_input || c->state == SMTP_C_TLS_WAIT) {
			off = len;
			break;
		}
		size_t used;
		enum smtp_rparse_result r = smtp_rparse_feed(&c->rp, c->lim->reply_line_max,
							     c->lim->reply_lines_max, data + off,
							     len - off, &used);
		off += used;
		if (r == SMTP_RP_MORE)
			break;
		if (r == SMTP_RP_BAD) {
			smtp_cli_fail(c, 451, "4.5.0", "malformed reply from server");
			break;
		}
		capture_line(c);
		if (r == SMTP_RP_DONE) {
			/* a 421 may come at any time: the server is closing */
			if (c->reply.code == 421 && c->state != SMTP_C_QUIT)
				smtp_cli_fail(c, 421, c->reply.ecode[0] ? c->reply.ecode : "4.4.2",
					      c->reply.text);
			else
				on_reply(c);
		}
	}
	if (c->state == SMTP_C_DONE)
		off = len;
	c->in_input = false;
	smtp_cli_flush(c);
	return off;
}

void smtp_client_tls_started(struct smtp_client_session *c, uint64_t now)
{
	c->now = now;
	c->tls = true;
	c->drop_input = false;
	smtp_rparse_reset(&c->rp);
	send_ehlo(c, true);
	smtp_cli_flush(c);
}

void smtp_client_quit(struct smtp_client_session *c)
{
	if (c->state == SMTP_C_DONE || c->state == SMTP_C_QUIT)
		return;
	if (c->state != SMTP_C_IDLE) {
		c->quit_pending = true;
		return;
	}
	cmd(c, "QUIT", NULL, NULL);
	smtp_cli_enter(c, SMTP_C_QUIT, c->lim->cmd_timeout_us);
	smtp_cli_flush(c);
}

int smtp_client_tick(struct smtp_client_session *c, uint64_t now)
{
	c->now = now;
	if (!c->deadline || now < c->deadline || c->state == SMTP_C_DONE ||
	    c->state == SMTP_C_IDLE || c->state == SMTP_C_TLS_WAIT)
		return 0;
	smtp_cli_fail(c, 451, "4.4.2", "timeout waiting for the server");
	return -ETIMEDOUT;
}

void smtp_client_peer_closed(struct smtp_client_session *c)
{
	if (c->state == SMTP_C_QUIT) {
		/* closed right after QUIT without a 221: still a clean end */
		local_reply(&c->reply, 221, "2.0.0", "closed");
		smtp_cli_enter(c, SMTP_C_DONE, 0);
		if (c->hooks->done)
			c->hooks->done(c->ctx, c, &c->reply);
		return;
	}
	smtp_cli_fail(c, 451, "4.4.2", "connection closed by the server");
}
