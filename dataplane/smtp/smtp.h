/* SPDX-License-Identifier: MIT */
/*
 * smtp.h: API of the SMTP engines (types in smtp-t.h).
 *
 * Server, per connection:
 *   smtp_server_init(s, &lim, &hooks, ctx, "mx.example");
 *   smtp_server_start(s, now, NULL);                 -> 220 greeting queued
 *   n = smtp_server_input(s, data, len, now);        -> bytes consumed; the rest is offered
 *                                                       again later (after data_result, or
 *                                                       after the output was drained)
 *   p = smtp_server_output(s, &len); ...send...; smtp_server_output_consume(s, sent);
 *   smtp_server_tick(s, now) at smtp_server_next_deadline(s).
 * Ownership: the caller owns the session memory and everything it passes in; the engine keeps
 * no pointer to input bytes after a call returns (partial lines are copied, bounded).
 */
#ifndef DPMAIL_SMTP_H
#define DPMAIL_SMTP_H

#include "smtp/smtp-t.h"

/* ---- limits ---- */
void smtp_limits_defaults(struct smtp_limits *l);
void smtp_client_limits_defaults(struct smtp_client_limits *l);

/* ---- server engine ---- */
/* Prepares s (no output yet). lim, hooks and hostname are borrowed for the session's life. */
void smtp_server_init(struct smtp_server_session *s, const struct smtp_limits *lim,
		      const struct smtp_server_hooks *hooks, void *ctx, const char *hostname);
/* Queues the greeting (220), or, when refuse is given (code 554/421), that reply and a close. */
void smtp_server_start(struct smtp_server_session *s, uint64_t now, const struct smtp_verdict *refuse);
/* Feeds client bytes. Returns how many were consumed (0..len); fewer than len when the session
 * waits for smtp_server_data_result(), when the output buffer needs draining, or before start.
 * Bytes after STARTTLS and after the session decided to close are consumed and discarded. */
size_t smtp_server_input(struct smtp_server_session *s, const uint8_t *data, size_t len,
			 uint64_t now);
/* Pending output bytes (pointer valid until the next engine call). */
const char *smtp_server_output(const struct smtp_server_session *s, size_t *len);
void smtp_server_output_consume(struct smtp_server_session *s, size_t n);
/* The answer to data_end: code 250 with text "Ok: queued as ID", or 451/452/554...
 * Returns 0, or -EINVAL when no message is waiting. */
int smtp_server_data_result(struct smtp_server_session *s, const struct smtp_verdict *v);
/* TLS is up: EHLO state is forgotten and a new EHLO is required. */
void smtp_server_tls_started(struct smtp_server_session *s, uint64_t now);
/* Timers: call at (or after) smtp_server_next_deadline(). Returns 0, or -ETIMEDOUT after
 * queuing 421 4.4.2 and asking to close. */
int smtp_server_tick(struct smtp_server_session *s, uint64_t now);
uint64_t smtp_server_next_deadline(const struct smtp_server_session *s);
/* 421 4.3.2 and close (operator shutdown). */
void smtp_server_shutdown(struct smtp_server_session *s);
/* The peer closed or the transport failed: abandons any message in progress (data_abort). */
void smtp_server_peer_closed(struct smtp_server_session *s);
static inline bool smtp_server_want_close(const struct smtp_server_session *s)
{
	return s->state == SMTP_S_CLOSING;
}
const char *smtp_server_state_str(enum smtp_server_state st);

/* ---- client engine ---- */
void smtp_client_init(struct smtp_client_session *c, const struct smtp_client_limits *lim,
		      const struct smtp_client_hooks *hooks, void *ctx, const char *helo_name,
		      enum smtp_tls_policy tls, bool tls_active, uint64_t now);
size_t smtp_client_input(struct smtp_client_session *c, const uint8_t *data, size_t len,
			 uint64_t now);
/* Pending output; pulls more body octets when a body is being sent. The output comes in
 * contiguous runs (queued commands, then a BDAT chunk from its own buffer): call again after
 * consuming a whole run, until *len is 0 (a short send: wait for the transport instead). */
const char *smtp_client_output(struct smtp_client_session *c, size_t *len);
void smtp_client_output_consume(struct smtp_client_session *c, size_t n);
/* Starts one message (session idle). Returns 0, -EBUSY when not idle. The message's result
 * (and, on a permanent local failure, each recipient's) is reported through the hooks; a
 * local failure (e.g. SMTPUTF8 needed but not offered) is reported before this returns. */
int smtp_client_send(struct smtp_client_session *c, const struct smtp_client_msg *m);
/* The body_read hook said -EAGAIN earlier and now has data. */
void smtp_client_body_ready(struct smtp_client_session *c);
void smtp_client_tls_started(struct smtp_client_session *c, uint64_t now);
/* QUIT when idle; the done hook follows the 221 (and the caller waits for the server's close). */
void smtp_client_quit(struct smtp_client_session *c);
int smtp_client_tick(struct smtp_client_session *c, uint64_t now);
/* The connection ended: fails what is in flight (temporary). */
void smtp_client_peer_closed(struct smtp_client_session *c);
const char *smtp_client_state_str(enum smtp_client_state st);

/* ---- reply parser (client side; bounded) ---- */
enum smtp_rparse_result { SMTP_RP_MORE = 0, SMTP_RP_LINE, SMTP_RP_DONE, SMTP_RP_BAD };
void smtp_rparse_reset(struct smtp_rparse *rp);
/* Consumes octets up to the end of one reply line. Returns SMTP_RP_MORE (all consumed, line
 * incomplete), SMTP_RP_LINE (a continuation line is in rp->line), SMTP_RP_DONE (the last line
 * of a reply is in rp->line; rp->code holds the code), or SMTP_RP_BAD (hostile or broken). */
enum smtp_rparse_result smtp_rparse_feed(struct smtp_rparse *rp, uint32_t line_max,
					 uint32_t lines_max, const uint8_t *p, size_t len,
					 size_t *used);

/* ---- addresses ---- */
enum smtp_addr_err { SMTP_ADDR_OK = 0, SMTP_ADDR_SYNTAX = -1, SMTP_ADDR_TOO_LONG = -2 };
struct smtp_param {
	const char *kw, *val;
	size_t kw_len, val_len;
};
int smtp_path_parse(const char *p, size_t len, bool allow_null, bool allow_postmaster,
		    struct smtp_path *out, size_t *used);
int smtp_param_next(const char **pos, const char *end, struct smtp_param *out);
long smtp_xtext_decode(const char *src, size_t len, char *dst, size_t cap);
long smtp_xtext_encode(const char *src, size_t len, char *dst, size_t cap);
bool smtp_utf8_valid(const uint8_t *p, size_t n);

/* ---- output buffer and replies ---- */
void smtp_obuf_reset(struct smtp_obuf *ob);
size_t smtp_obuf_space(const struct smtp_obuf *ob);
const char *smtp_obuf_data(const struct smtp_obuf *ob, size_t *len);
void smtp_obuf_consume(struct smtp_obuf *ob, size_t n);
int smtp_obuf_append(struct smtp_obuf *ob, const void *p, size_t n);
char *smtp_obuf_tail(struct smtp_obuf *ob, size_t *room);
void smtp_obuf_commit(struct smtp_obuf *ob, size_t n);
int smtp_reply_line(struct smtp_obuf *ob, unsigned code, const char *ecode, const char *text,
		    bool last);
int smtp_reply_verdict(struct smtp_obuf *ob, const struct smtp_verdict *v);
bool smtp_ecode_valid(const char *e);

/* ---- base64 (AUTH) ---- */
long smtp_b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap);
long smtp_b64_encode(const uint8_t *src, size_t len, char *dst, size_t cap);

#endif
