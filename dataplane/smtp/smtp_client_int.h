/* SPDX-License-Identifier: MIT */
/*
 * smtp_client_int.h: functions shared between the files of the client engine (smtp_client.c:
 * state machine and replies; smtp_client_body.c: body pump, BDAT chunks, output runs). Not for
 * other modules: they use smtp/smtp.h. The session struct stays in smtp-t.h because callers
 * own it (embedded in their per-core connection slots).
 */
#ifndef DPMAIL_SMTP_CLIENT_INT_H
#define DPMAIL_SMTP_CLIENT_INT_H

#include "smtp/smtp.h"

/* smtp_client.c */
/* The one state transition: state st, deadline now + timeout (0 = none). */
void smtp_cli_enter(struct smtp_client_session *c, enum smtp_client_state st, uint64_t timeout);
/* Ends the session (state DONE): the message in flight and its remaining recipients fail
 * with the local reply (code, ecode, text), then the done hook. No-op when already DONE. */
void smtp_cli_fail(struct smtp_client_session *c, uint16_t code, const char *ecode,
		   const char *text);

/* smtp_client_body.c */
/* Calls the flush hook when output is waiting (queued commands, a closed chunk, or body
 * octets output() would pull), except inside smtp_client_input (it flushes once at its end). */
void smtp_cli_flush(struct smtp_client_session *c);
/* Forgets the chunk being gathered (never sent); a closed chunk is left alone. */
void smtp_cli_chunk_drop(struct smtp_client_session *c);

#endif
