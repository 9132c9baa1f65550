/* SPDX-License-Identifier: MIT */
/*
 * smtp_priv.h: functions shared between the files of the server engine (smtp_server.c,
 * smtp_verbs.c, smtp_parse.c, smtp_auth.c). Not for other modules.
 */
#ifndef DPMAIL_SMTP_PRIV_H
#define DPMAIL_SMTP_PRIV_H

#include "smtp/smtp.h"

/* Result of framing one command line. */
enum smtp_line_result {
	SMTP_LINE_NEED = 0,           /* everything consumed, no complete line yet */
	SMTP_LINE_OK,                 /* *line / *n: the command without its CRLF */
	SMTP_LINE_TOO_LONG,           /* an over-long line ended: 500 5.5.2, nothing executed */
	SMTP_LINE_BARE_LF,            /* ended by a bare LF (reject policy) */
	SMTP_LINE_BAD_CHAR,           /* NUL or bare CR inside */
};

enum smtp_line_result smtp_line_next(struct smtp_server_session *s, const uint8_t *data,
				     size_t len, size_t *used, const char **line, size_t *n);
void smtp_dscan_init(struct smtp_dscan *ds, bool bdat);
size_t smtp_dscan_feed(struct smtp_server_session *s, const uint8_t *p, size_t len, bool *end);
/* End of BDAT LAST / DATA: resolves a dangling CR and closes the header section. */
void smtp_dscan_finish(struct smtp_server_session *s);

/* smtp_server.c */
void smtp_srv_enter(struct smtp_server_session *s, enum smtp_server_state to);
/* Queues one reply line; replies >= 400 count as session errors. */
void smtp_srv_reply(struct smtp_server_session *s, unsigned code, const char *ecode,
		    const char *text);
void smtp_srv_reply_v(struct smtp_server_session *s, const struct smtp_verdict *v);
void smtp_srv_flush(struct smtp_server_session *s);
void smtp_srv_close(struct smtp_server_session *s, enum smtp_close_reason why);
/* Ends the transaction; a message in progress is abandoned with why. */
void smtp_srv_txn_reset(struct smtp_server_session *s, enum smtp_data_error why);
enum smtp_server_state smtp_srv_idle_state(const struct smtp_server_session *s);
void smtp_srv_data_complete(struct smtp_server_session *s);
void smtp_srv_data_begin(struct smtp_server_session *s);
void smtp_srv_bdat_begin(struct smtp_server_session *s, uint64_t size);

/* smtp_verbs.c */
void smtp_verb_dispatch(struct smtp_server_session *s, const char *line, size_t n);

/* smtp_auth.c */
void smtp_auth_start(struct smtp_server_session *s, const char *args, size_t n);
void smtp_auth_continue(struct smtp_server_session *s, const char *line, size_t n);

#endif
