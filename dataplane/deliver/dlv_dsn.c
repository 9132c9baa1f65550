/* SPDX-License-Identifier: MIT */
/*
 * dlv_dsn.c: RFC 3464 delivery status notification writer.
 *
 * Layout of what it writes:
 *   headers (From: MAILER-DAEMON, To, Subject, Date, Message-ID, Auto-Submitted: auto-replied
 *            (RFC 3834), MIME-Version, Content-Type: multipart/report; report-type=delivery-status)
 *   part 1  text/plain: a human explanation per recipient
 *   part 2  message/delivery-status (message/global-delivery-status when an address is UTF-8,
 *           RFC 6533): per-message fields, then one block per recipient
 *   part 3  message/rfc822 (the original) or text/rfc822-headers (its header section only)
 * Every value that comes from a peer (diagnostics, addresses) is checked for CR/LF so a remote
 * reply can never inject a header or a MIME part.
 */
#include "deliver/dlv_dsn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct dsn_out {
	dlv_dsn_emit_fn emit;
	void *ctx;
	int err;
};

static void out_raw(struct dsn_out *o, const void *p, size_t n)
{
	if (o->err == 0 && n)
		o->err = o->emit(o->ctx, p, n);
}

static void out_fmt(struct dsn_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct dsn_out *o, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		if (o->err == 0)
			o->err = -EINVAL;
		return;
	}
	out_raw(o, line, (size_t)n);
}

int dlv_dsn_is_utf8(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

size_t dlv_dsn_header_len(const uint8_t *msg, size_t len)
{
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 2;
	for (size_t i = 0; i + 3 < len; i++)
		if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' && msg[i + 3] == '\n')
			return i + 4;
	return len;
}

/* RFC 5322 date-time in UTC. */
static void fmt_date(char *buf, size_t len, uint64_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *action_name(enum dlv_dsn_action a)
{
	switch (a) {
	case DLV_DSN_FAILED: return "failed";
	case DLV_DSN_DELAYED: return "delayed";
	case DLV_DSN_DELIVERED: return "delivered";
	case DLV_DSN_RELAYED: return "relayed";
	}
	return "failed";
}

static int report_valid(const struct dlv_dsn_report *r)
{
	if (!r->to || !*r->to || !r->reporting_mta || r->nrcpts == 0 || !r->rcpts)
		return 0;
	if (has_crlf(r->to) || has_crlf(r->reporting_mta) || has_crlf(r->envid) || has_crlf(r->queue_id))
		return 0;
	for (unsigned i = 0; i < r->nrcpts; i++) {
		const struct dlv_dsn_rcpt *rc = &r->rcpts[i];
		if (!rc->addr || !rc->status || has_crlf(rc->addr) || has_crlf(rc->orcpt) ||
		    has_crlf(rc->status) || has_crlf(rc->remote_mta) || has_crlf(rc->diagnostic))
			return 0;
	}
	return 1;
}

static void write_headers(struct dsn_out *o, const struct dlv_dsn_report *r, const char *boundary,
			  int all_delayed)
{
	char date[64];
	fmt_date(date, sizeof(date), r->now);
	out_fmt(o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", r->reporting_mta);
	out_fmt(o, "To: <%s>\r\n", r->to);
	out_fmt(o, "Subject: %s\r\n", all_delayed ? "Delayed Mail (still being retried)"
						  : "Undelivered Mail Returned to Sender");
	out_fmt(o, "Date: %s\r\n", date);
	out_fmt(o, "Message-ID: <dsn.%s.%08x.%llu@%s>\r\n", r->queue_id ? r->queue_id : "0", r->unique,
		(unsigned long long)r->now, r->reporting_mta);
	out_fmt(o, "Auto-Submitted: auto-replied\r\n");
	out_fmt(o, "MIME-Version: 1.0\r\n");
	out_fmt(o, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n", boundary);
	out_fmt(o, "Content-Transfer-Encoding: 8bit\r\n\r\n");
	out_fmt(o, "This is a MIME-encapsulated message.\r\n\r\n");
}

static void write_human(struct dsn_out *o, const struct dlv_dsn_report *r, const char *boundary)
{
	out_fmt(o, "--%s\r\nContent-Description: Notification\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
	out_fmt(o, "This is the mail system at host %s.\r\n\r\n", r->reporting_mta);
	for (unsigned i = 0; i < r->nrcpts; i++) {
		const struct dlv_dsn_rcpt *rc = &r->rcpts[i];
		if (rc->action == DLV_DSN_DELAYED)
			out_fmt(o, "Delivery to <%s> is delayed; the mail system will keep trying.\r\n", rc->addr);
		else if (rc->action == DLV_DSN_FAILED)
			out_fmt(o, "Your message could not be delivered to <%s>.\r\n", rc->addr);
		else
			out_fmt(o, "Your message was delivered to <%s>.\r\n", rc->addr);
		if (rc->diagnostic)
			out_fmt(o, "    %s%s said: %s\r\n", rc->remote_mta ? "host " : "",
				rc->remote_mta ? rc->remote_mta : "the mail system", rc->diagnostic);
		out_raw(o, "\r\n", 2);
	}
}

static void write_status(struct dsn_out *o, const struct dlv_dsn_report *r, const char *boundary,
			 int utf8)
{
	char date[64];
	out_fmt(o, "--%s\r\nContent-Description: Delivery report\r\n"
		   "Content-Type: message/%sdelivery-status\r\n\r\n", boundary, utf8 ? "global-" : "");
	out_fmt(o, "Reporting-MTA: dns; %s\r\n", r->reporting_mta);
	if (r->queue_id)
		out_fmt(o, "X-Dpmail-Queue-ID: %s\r\n", r->queue_id);
	if (r->envid)
		out_fmt(o, "Original-Envelope-Id: %s\r\n", r->envid);
	if (r->arrival) {
		fmt_date(date, sizeof(date), r->arrival);
		out_fmt(o, "Arrival-Date: %s\r\n", date);
	}
	for (unsigned i = 0; i < r->nrcpts; i++) {
		const struct dlv_dsn_rcpt *rc = &r->rcpts[i];
		out_raw(o, "\r\n", 2);
		if (rc->orcpt)
			out_fmt(o, "Original-Recipient: %s\r\n", rc->orcpt);
		out_fmt(o, "Final-Recipient: %s; %s\r\n", dlv_dsn_is_utf8(rc->addr) ? "utf-8" : "rfc822",
			rc->addr);
		out_fmt(o, "Action: %s\r\n", action_name(rc->action));
		out_fmt(o, "Status: %s\r\n", rc->status);
		if (rc->remote_mta)
			out_fmt(o, "Remote-MTA: dns; %s\r\n", rc->remote_mta);
		if (rc->diagnostic)
			out_fmt(o, "Diagnostic-Code: smtp; %s\r\n", rc->diagnostic);
		if (rc->last_attempt) {
			fmt_date(date, sizeof(date), rc->last_attempt);
			out_fmt(o, "Last-Attempt-Date: %s\r\n", date);
		}
		if (rc->action == DLV_DSN_DELAYED && rc->retry_until) {
			fmt_date(date, sizeof(date), rc->retry_until);
			out_fmt(o, "Will-Retry-Until: %s\r\n", date);
		}
	}
	out_raw(o, "\r\n", 2);
}

static void write_original(struct dsn_out *o, const struct dlv_dsn_report *r, const char *boundary,
			   int utf8)
{
	if (r->orig && r->orig_len) {
		size_t hlen = dlv_dsn_header_len(r->orig, r->orig_len);
		int full = r->ret != DLV_DSN_RET_HDRS && r->orig_len <= r->full_limit;
		const char *type = full ? (utf8 ? "message/global" : "message/rfc822")
					: (utf8 ? "message/global-headers" : "text/rfc822-headers");
		out_fmt(o, "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n\r\n", boundary,
			full ? "Undelivered Message" : "Undelivered Message Headers", type);
		size_t n = full ? r->orig_len : hlen;
		out_raw(o, r->orig, n);
		if (n < 2 || r->orig[n - 2] != '\r' || r->orig[n - 1] != '\n')
			out_raw(o, "\r\n", 2);
		out_raw(o, "\r\n", 2);
	}
	out_fmt(o, "--%s--\r\n", boundary);
}

int dlv_dsn_build(const struct dlv_dsn_report *r, dlv_dsn_emit_fn emit, void *ctx)
{
	if (!report_valid(r))
		return -EINVAL;
	struct dsn_out o = { .emit = emit, .ctx = ctx, .err = 0 };
	char boundary[96];
	snprintf(boundary, sizeof(boundary), "=_dsn_%s_%08x_%llu", r->queue_id ? r->queue_id : "0",
		 r->unique, (unsigned long long)r->now);
	int utf8 = dlv_dsn_is_utf8(r->to);
	int all_delayed = 1;
	for (unsigned i = 0; i < r->nrcpts; i++) {
		utf8 |= dlv_dsn_is_utf8(r->rcpts[i].addr) | dlv_dsn_is_utf8(r->rcpts[i].orcpt);
		all_delayed &= r->rcpts[i].action == DLV_DSN_DELAYED;
	}
	write_headers(&o, r, boundary, all_delayed);
	write_human(&o, r, boundary);
	write_status(&o, r, boundary, utf8);
	write_original(&o, r, boundary, utf8);
	return o.err;
}
