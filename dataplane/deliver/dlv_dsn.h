/* SPDX-License-Identifier: MIT */
/*
 * dlv_dsn.h: builds RFC 3464 delivery status notifications (multipart/report;
 * report-type=delivery-status) for bounced, expired and delayed recipients.
 *
 * The caller decides whether a DSN is due at all: never to a null reverse path (RFC 5321
 * §4.5.5: a bounce of a bounce), and per recipient only when its NOTIFY allows it.
 */
#ifndef DPMAIL_DLV_DSN_H
#define DPMAIL_DLV_DSN_H

#include "deliver/dlv_dsn-t.h"

/*
 * Writes the whole DSN message (header section and body, CRLF line endings, dot-stuffing NOT
 * applied) through emit. The envelope of the DSN is MAIL FROM:<> RCPT TO:<r->to>.
 * Returns 0, -EINVAL for a report that cannot be expressed (no recipients, no sender, a field
 * with CR or LF in it), or the first error from emit.
 */
int dlv_dsn_build(const struct dlv_dsn_report *r, dlv_dsn_emit_fn emit, void *ctx);

/* Length of the header section of a message (up to and including the empty line), or the
 * whole length if it has no empty line. */
size_t dlv_dsn_header_len(const uint8_t *msg, size_t len);

/* True if the string needs the UTF-8 forms of RFC 6533 (any octet >= 0x80). */
int dlv_dsn_is_utf8(const char *s);

#endif
