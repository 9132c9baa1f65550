// SPDX-License-Identifier: MIT
/*
 * smtp_server.c: the server engine's session: state transitions, the input loop that frames
 * commands and message content, pipelining batches, the end of a message and its asynchronous
 * answer, timeouts and the data-rate floor. Verbs live in smtp_verbs.c, parsers in
 * smtp_parse.c.
 *
 * Pipelining (RFC 2920): replies queue in the output buffer in command order. The caller is
 * asked to flush (hooks->flush) after a command that ends a pipelining group, when the input
 * holds no further complete command, and when an asynchronous answer arrives. Before each
 * command the engine makes sure a reply will fit; if not, it stops consuming input until the
 * caller drained the output (backpressure instead of unbounded buffering).
 */
#include <errno.h>
#include <string.h>

#include "smtp/smtp_priv.h"

static const char *const state_names[SMTP_S__MAX] = {
	[SMTP_S_GREETING] = "greeting",
	[SMTP_S_NEED_HELO] = "need-helo",
	[SMTP_S_READY] = "ready",
	[SMTP_S_MAIL] = "mail",
	[SMTP_S_RCPT] = "rcpt",
	[SMTP_S_DATA] = "data",
	[SMTP_S_BDAT] = "bdat",
	[SMTP_S_BDAT_IDLE] = "bdat-idle",
	[SMTP_S_WAIT_RESULT] = "wait-result",
	[SMTP_S_AUTH_PLAIN] = "auth-plain",
	[SMTP_S_AUTH_LOGIN_USER] = "auth-login-user",
	[SMTP_S_AUTH_LOGIN_PASS] = "auth-login-pass",
	[SMTP_S_TLS_WAIT] = "tls-wait",
	[SMTP_S_CLOSING] = "closing",
};

const char *smtp_server_state_str(enum smtp_server_state st)
{
	return (unsigned)st < SMTP_S__MAX ? state_names[st] : "unknown";
}

void smtp_limits_defaults(struct smtp_limits *l)
{
	*l = (struct smtp_limits){
		.cmd_line_max = 512,
		.text_line_max = 1000,
		.text_line_reject = true,
		.header_max = 256 * 1024,
		.message_max = 50ull * 1024 * 1024,
		.rcpt_max = 100,
		.errors_max = 20,
		.commands_max = 10000,
		.newline = SMTP_NL_REJECT,
		.cmd_timeout_us = 300ull * 1000000,
		.data_timeout_us = 180ull * 1000000,
		.min_data_rate = 1024,
		.rate_window_us = 30ull * 1000000,
		.advertise_requiretls = true,
	};
}

/* The one place the protocol state changes. */
void smtp_srv_enter(struct smtp_server_session *s, enum smtp_server_state to)
{
	enum smtp_server_state from = s->state;

	if (from == to)
		return;
	s->state = to;
	if (s->hooks->trace)
		s->hooks->trace(s->ctx, s, from, to);
}

void smtp_server_init(struct smtp_server_session *s, const struct smtp_limits *lim,
		      const struct smtp_server_hooks *hooks, void *ctx, const char *hostname)
{
	memset(s, 0, offsetof(struct smtp_server_session, line));
	s->state = SMTP_S_GREETING;
	s->lim = lim;
	s->hooks = hooks;
	s->ctx = ctx;
	s->hostname = hostname;
	s->line_len = 0;
	smtp_obuf_reset(&s->out);
}

void smtp_srv_flush(struct smtp_server_session *s)
{
	if (s->out.tail != s->out.head && s->hooks->flush)
		s->hooks->flush(s->ctx, s);
}

void smtp_srv_close(struct smtp_server_session *s, enum smtp_close_reason why)
{
	smtp_srv_txn_reset(s, SMTP_DATA_RESET);
	smtp_srv_enter(s, SMTP_S_CLOSING);
	if (!s->close_signalled) {
		s->close_signalled = true;
		if (s->hooks->close)
			s->hooks->close(s->ctx, s, why);
	}
}

void smtp_srv_reply(struct smtp_server_session *s, unsigned code, const char *ecode,
		    const char *text)
{
	if (smtp_reply_line(&s->out, code, ecode, text, true) < 0) {
		smtp_srv_close(s, SMTP_CLOSE_PROTOCOL);
		return;
	}
	if (code >= 400 && s->state != SMTP_S_CLOSING && ++s->errors >= s->lim->errors_max) {
		smtp_reply_line(&s->out, 421, "4.7.0", "Error: too many errors", true);
		smtp_srv_close(s, SMTP_CLOSE_ERRORS);
	}
}

void smtp_srv_reply_v(struct smtp_server_session *s, const struct smtp_verdict *v)
{
	const char *e = smtp_ecode_valid(v->ecode) && v->ecode[0] == '0' + v->code / 100 ?
				v->ecode : NULL;
	smtp_srv_reply(s, v->code, e, v->text ? v->text : "");
}

enum smtp_server_state smtp_srv_idle_state(const struct smtp_server_session *s)
{
	return s->helo[0] ? SMTP_S_READY : SMTP_S_NEED_HELO;
}

/* Abandons the transaction. A message whose content already started gets data_abort. */
void smtp_srv_txn_reset(struct smtp_server_session *s, enum smtp_data_error why)
{
	bool content = s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT_IDLE ||
		       (s->state == SMTP_S_BDAT && !s->bdat_fail) ||
		       s->state == SMTP_S_WAIT_RESULT;

	if (content && s->hooks->data_abort)
		s->hooks->data_abort(s->ctx, s, why);
	memset(&s->mail, 0, sizeof(s->mail));
	s->rcpt_count = 0;
	s->bdat_used = s->bdat_last = s->bdat_fail = false;
	s->bdat_left = 0;
}

void smtp_server_start(struct smtp_server_session *s, uint64_t now, const struct smtp_verdict *refuse)
{
	char text[300];

	s->now = now;
	s->deadline = now + s->lim->cmd_timeout_us;
	if (refuse) {
		smtp_srv_reply_v(s, refuse);
		smtp_srv_close(s, SMTP_CLOSE_PROTOCOL);
	} else {
		size_t n = strnlen(s->hostname, 250);
		memcpy(text, s->hostname, n);
		memcpy(text + n, " ESMTP dpmail", 14);
		smtp_reply_line(&s->out, 220, NULL, text, true);
		smtp_srv_enter(s, SMTP_S_NEED_HELO);
	}
	smtp_srv_flush(s);
}

static const struct smtp_verdict data_errors[] = {
	[SMTP_DATA_TOO_BIG] = { 552, "5.3.4", "Error: message size exceeds fixed maximum size" },
	[SMTP_DATA_HEADER_TOO_BIG] = { 552, "5.3.4", "Error: message header section too large" },
	[SMTP_DATA_BARE_NEWLINE] = { 550, "5.5.2", "Error: bare <CR> or <LF> in message" },
	[SMTP_DATA_NUL] = { 550, "5.6.0", "Error: NUL octet in message" },
	[SMTP_DATA_LINE_TOO_LONG] = { 550, "5.5.2", "Error: message line too long" },
	[SMTP_DATA_FROM_DENIED] = { 550, "5.7.1", "Sender address in From: header not authorised" },
};

/* End of DATA or of BDAT LAST: either reject (everything forgotten) or ask the caller. */
void smtp_srv_data_complete(struct smtp_server_session *s)
{
	smtp_dscan_finish(s);
	enum smtp_data_error bad = s->ds.bad;
	if (bad != SMTP_DATA_OK) {
		struct smtp_verdict v = bad == SMTP_DATA_FROM_DENIED ? s->defer_reply : data_errors[bad];
		smtp_srv_txn_reset(s, bad);
		smtp_srv_enter(s, smtp_srv_idle_state(s));
		smtp_srv_reply_v(s, &v);
		return;
	}
	smtp_srv_enter(s, SMTP_S_WAIT_RESULT);
	if (s->hooks->data_end) {
		s->hooks->data_end(s->ctx, s);
	} else {
		struct smtp_verdict v = { 451, "4.3.0", "Error: no message store" };
		smtp_server_data_result(s, &v);
	}
}

int smtp_server_data_result(struct smtp_server_session *s, const struct smtp_verdict *v)
{
	if (s->state != SMTP_S_WAIT_RESULT)
		return -EINVAL;
	if (v->code >= 200 && v->code < 300)
		s->messages++;
	/* not data_abort: the caller has the message and answered for it */
	memset(&s->mail, 0, sizeof(s->mail));
	s->rcpt_count = 0;
	s->bdat_used = s->bdat_last = s->bdat_fail = false;
	smtp_srv_enter(s, smtp_srv_idle_state(s));
	uint32_t errors = s->errors;
	smtp_srv_reply_v(s, v);
	s->errors = errors; /* a refused message is not a client error */
	s->deadline = s->now + s->lim->cmd_timeout_us;
	if (!s->in_input)
		smtp_srv_flush(s);
	return 0;
}

/* A BDAT chunk is fully read. */
static void bdat_chunk_done(struct smtp_server_session *s)
{
	if (s->bdat_fail) {
		struct smtp_verdict v = s->defer_reply;
		smtp_srv_txn_reset(s, SMTP_DATA_RESET);
		smtp_srv_enter(s, smtp_srv_idle_state(s));
		smtp_srv_reply_v(s, &v);
		return;
	}
	if (s->bdat_last) {
		smtp_srv_data_complete(s);
		return;
	}
	if (s->ds.bad != SMTP_DATA_OK) {
		struct smtp_verdict v = data_errors[s->ds.bad];
		smtp_srv_txn_reset(s, s->ds.bad);
		smtp_srv_enter(s, smtp_srv_idle_state(s));
		smtp_srv_reply_v(s, &v);
		return;
	}
	smtp_srv_enter(s, SMTP_S_BDAT_IDLE);
	smtp_srv_reply(s, 250, "2.0.0", "Ok: chunk received");
}

static void rate_account(struct smtp_server_session *s, size_t n)
{
	s->rate_bytes += n;
	s->deadline = s->now + s->lim->data_timeout_us;
}

/* One complete command line (or a framing error). */
static void command_line(struct smtp_server_session *s, enum smtp_line_result r, const char *line,
			 size_t n)
{
	if (++s->commands > s->lim->commands_max) {
		smtp_reply_line(&s->out, 421, "4.7.0", "Error: too many commands", true);
		smtp_srv_close(s, SMTP_CLOSE_COMMANDS);
		return;
	}
	s->deadline = s->now + s->lim->cmd_timeout_us;
	switch (r) {
	case SMTP_LINE_OK:
		if (s->state == SMTP_S_AUTH_PLAIN || s->state == SMTP_S_AUTH_LOGIN_USER ||
		    s->state == SMTP_S_AUTH_LOGIN_PASS)
			smtp_auth_continue(s, line, n);
		else
			smtp_verb_dispatch(s, line, n);
		break;
	case SMTP_LINE_TOO_LONG:
		smtp_srv_reply(s, 500, "5.5.2", "Error: line too long");
		break;
	case SMTP_LINE_BARE_LF:
		smtp_srv_reply(s, 500, "5.5.2", "Error: bare <LF> received");
		break;
	default:
		smtp_srv_reply(s, 500, "5.5.2", "Error: invalid character in command");
		break;
	}
}

/* Content octets for DATA or BDAT; returns octets consumed. */
static size_t content_input(struct smtp_server_session *s, const uint8_t *p, size_t len)
{
	bool end = false;

	if (s->state == SMTP_S_DATA) {
		size_t n = smtp_dscan_feed(s, p, len, &end);
		rate_account(s, n);
		if (end) {
			s->deadline = s->now + s->lim->cmd_timeout_us;
			smtp_srv_data_complete(s);
		}
		return n;
	}
	size_t n = len < s->bdat_left ? len : (size_t)s->bdat_left;
	if (!s->bdat_fail)
		smtp_dscan_feed(s, p, n, &end);
	s->bdat_left -= n;
	rate_account(s, n);
	if (s->bdat_left == 0) {
		s->deadline = s->now + s->lim->cmd_timeout_us;
		bdat_chunk_done(s);
	}
	return n;
}

/* Called by the DATA verb after 354. */
void smtp_srv_data_begin(struct smtp_server_session *s)
{
	smtp_dscan_init(&s->ds, false);
	s->rate_start = s->now;
	s->rate_bytes = 0;
	s->deadline = s->now + s->lim->data_timeout_us;
	smtp_srv_enter(s, SMTP_S_DATA);
}

/* Called by the BDAT verb: the chunk has size octets (possibly 0). */
void smtp_srv_bdat_begin(struct smtp_server_session *s, uint64_t size)
{
	s->bdat_left = size;
	s->rate_start = s->now;
	s->rate_bytes = 0;
	smtp_srv_enter(s, SMTP_S_BDAT);
	if (size == 0)
		bdat_chunk_done(s);
}

size_t smtp_server_input(struct smtp_server_session *s, const uint8_t *data, size_t len,
			 uint64_t now)
{
	size_t off = 0;
	bool stop = false;

	s->now = now;
	s->in_input = true;
	while (off < len && !stop) {
		switch (s->state) {
		case SMTP_S_GREETING:
		case SMTP_S_WAIT_RESULT:
			stop = true;
			break;
		case SMTP_S_TLS_WAIT:
		case SMTP_S_CLOSING:
			off = len; /* discarded: plaintext after STARTTLS, or after the end */
			break;
		case SMTP_S_DATA:
		case SMTP_S_BDAT:
			off += content_input(s, data + off, len - off);
			break;
		default: {
			if (smtp_obuf_space(&s->out) < SMTP_REPLY_RESERVE) {
				stop = true;
				break;
			}
			const char *line = NULL;
			size_t used = 0, n = 0;
			enum smtp_line_result r = smtp_line_next(s, data + off, len - off, &used,
								 &line, &n);
			off += used;
			if (r != SMTP_LINE_NEED)
				command_line(s, r, line, n);
			break;
		}
		}
	}
	s->in_input = false;
	smtp_srv_flush(s);
	return off;
}

const char *smtp_server_output(const struct smtp_server_session *s, size_t *len)
{
	return smtp_obuf_data(&s->out, len);
}

void smtp_server_output_consume(struct smtp_server_session *s, size_t n)
{
	smtp_obuf_consume(&s->out, n);
}

void smtp_server_tls_started(struct smtp_server_session *s, uint64_t now)
{
	s->now = now;
	s->tls = true;
	s->esmtp = false;
	s->helo[0] = '\0';
	s->line_len = 0;
	s->discard_line = false;
	s->deadline = now + s->lim->cmd_timeout_us;
	if (s->state == SMTP_S_TLS_WAIT)
		smtp_srv_enter(s, SMTP_S_NEED_HELO);
}

static bool in_content(const struct smtp_server_session *s)
{
	return s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT;
}

uint64_t smtp_server_next_deadline(const struct smtp_server_session *s)
{
	uint64_t d = s->deadline;

	if (s->state == SMTP_S_WAIT_RESULT || s->state == SMTP_S_TLS_WAIT ||
	    s->state == SMTP_S_CLOSING || s->state == SMTP_S_GREETING)
		return 0;
	if (in_content(s) && s->lim->min_data_rate) {
		uint64_t w = s->rate_start + s->lim->rate_window_us;
		if (!d || w < d)
			d = w;
	}
	return d;
}

int smtp_server_tick(struct smtp_server_session *s, uint64_t now)
{
	s->now = now;
	if (!smtp_server_next_deadline(s))
		return 0;
	const char *why = NULL;
	if (s->deadline && now >= s->deadline)
		why = "Error: timeout exceeded";
	if (!why && in_content(s) && s->lim->min_data_rate &&
	    now >= s->rate_start + s->lim->rate_window_us) {
		uint64_t el = now - s->rate_start;
		if (el && s->rate_bytes * 1000000 / el < s->lim->min_data_rate)
			why = "Error: data rate too low";
		s->rate_start = now;
		s->rate_bytes = 0;
	}
	if (!why)
		return 0;
	smtp_reply_line(&s->out, 421, "4.4.2", why, true);
	smtp_srv_close(s, SMTP_CLOSE_TIMEOUT);
	smtp_srv_flush(s);
	return -ETIMEDOUT;
}

void smtp_server_shutdown(struct smtp_server_session *s)
{
	if (s->state == SMTP_S_CLOSING)
		return;
	smtp_reply_line(&s->out, 421, "4.3.2", "Service shutting down, closing channel", true);
	smtp_srv_close(s, SMTP_CLOSE_SHUTDOWN);
	smtp_srv_flush(s);
}

void smtp_server_peer_closed(struct smtp_server_session *s)
{
	smtp_srv_txn_reset(s, SMTP_DATA_RESET);
	s->close_signalled = true; /* the caller knows */
	smtp_srv_enter(s, SMTP_S_CLOSING);
}
