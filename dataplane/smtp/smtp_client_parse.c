// SPDX-License-Identifier: MIT
/*
 * smtp_client_parse.c: the client's reply parser, bounded against hostile servers
 * (CVE-2020-8794 was an overread on a crafted multi-line reply). Every line must be
 * "DDD" [ (SP | "-") text ] CRLF with a code 2yz..5yz whose digits agree on every line of the
 * reply; a line longer than the limit, too many continuation lines, NUL, a bare LF or CR, or a
 * non-numeric or mismatched code make the reply BAD (the session then fails temporarily).
 * Lines are copied into a fixed buffer in the parser; nothing is read past the input given.
 */
#include <string.h>

#include "smtp/smtp.h"
#include "smtp/smtp_scan.h"

void smtp_rparse_reset(struct smtp_rparse *rp)
{
	rp->code = 0;
	rp->lines = 0;
	rp->line_len = 0;
	rp->bad = false;
	rp->complete = rp->done = false;
}

/* Validates the completed line in rp->line (CRLF stripped). */
static enum smtp_rparse_result line_done(struct smtp_rparse *rp, uint32_t lines_max)
{
	const char *l = rp->line;
	uint32_t n = rp->line_len;

	if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' ||
	    l[2] > '9')
		return SMTP_RP_BAD;
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return SMTP_RP_BAD;
	uint16_t code = (uint16_t)((l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0'));
	if (rp->lines > 0 && code != rp->code)
		return SMTP_RP_BAD;
	if (++rp->lines > lines_max)
		return SMTP_RP_BAD;
	rp->code = code;
	return n > 3 && l[3] == '-' ? SMTP_RP_LINE : SMTP_RP_DONE;
}

enum smtp_rparse_result smtp_rparse_feed(struct smtp_rparse *rp, uint32_t line_max,
					 uint32_t lines_max, const uint8_t *p, size_t len,
					 size_t *used)
{
	uint32_t max = line_max < sizeof(rp->line) - 1 ? line_max : (uint32_t)sizeof(rp->line) - 1;

	*used = 0;
	if (rp->bad)
		return SMTP_RP_BAD;
	if (rp->complete) {
		if (rp->done)
			smtp_rparse_reset(rp);
		rp->line_len = 0;
		rp->complete = false;
	}
	for (size_t i = 0; i < len; i++) {
		if (rp->line_len == 0 || rp->line[rp->line_len - 1] != '\r') {
			/* ordinary octets up to the next CR, LF or NUL in one copy, as far as the
			 * line may grow; the octet after the run takes the checks below */
			size_t room = rp->line_len + 2 <= max ? max - 1 - rp->line_len : 0;
			size_t end = len - i < room ? len : i + room;
			size_t k = (size_t)(smtp_scan_special(p + i, p + end, true) - (p + i));
			memcpy(rp->line + rp->line_len, p + i, k);
			rp->line_len += (uint32_t)k;
			i += k;
			if (i == len)
				break;
		}
		uint8_t c = p[i];
		if (c == '\n') {
			*used = i + 1;
			if (rp->line_len == 0 || rp->line[rp->line_len - 1] != '\r') {
				rp->bad = true;
				return SMTP_RP_BAD;
			}
			rp->line_len--;
			rp->line[rp->line_len] = '\0';
			enum smtp_rparse_result r = line_done(rp, lines_max);
			if (r == SMTP_RP_BAD)
				rp->bad = true;
			rp->complete = true;
			rp->done = r == SMTP_RP_DONE;
			return r;
		}
		/* CR only directly before LF; no NUL; the line (with its CRLF) within max */
		if (c == '\0' || (rp->line_len && rp->line[rp->line_len - 1] == '\r') ||
		    rp->line_len + 2 > max) {
			*used = i + 1;
			rp->bad = true;
			return SMTP_RP_BAD;
		}
		rp->line[rp->line_len++] = (char)c;
	}
	*used = len;
	return SMTP_RP_MORE;
}
