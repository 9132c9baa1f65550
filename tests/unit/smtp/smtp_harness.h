/* SPDX-License-Identifier: MIT */
/*
 * smtp_harness.h: a test driver around the server engine, shared (header-only) by the unit
 * tests, the golden transcript runner and the fuzzer. It plays the caller: answers the hooks
 * with a small fixed policy, drains output into a log, answers data_end asynchronously (after
 * smtp_server_input returns, then offers the unconsumed bytes again) and completes STARTTLS.
 *
 * Policy: relay is allowed to every domain except "denied.test" (554 5.7.1 default deny is
 * then the engine's); senders at "spoof.test" are refused (550 5.7.1) and so are From: headers
 * mentioning it; AUTH accepts alice/secret; data_result answers 250 with a queue id, or the
 * code set in h->result_code.
 *
 * The log interleaves the server's output (verbatim) with events ("## ..." lines), in the order
 * they happen, so it is independent of how the input was split.
 */
#ifndef SMTP_HARNESS_H
#define SMTP_HARNESS_H
#pragma GCC diagnostic ignored "-Wunused-function"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

struct harness {
	struct smtp_server_session s;
	struct smtp_limits lim;
	struct smtp_server_hooks hooks;
	char *log;
	size_t log_len, log_cap;
	char *msg;                    /* message being received */
	size_t msg_len, msg_cap;
	bool want_result;             /* data_end seen, answer pending */
	bool want_tls;                /* starttls hook seen */
	bool closed;
	unsigned queue_no;
	uint16_t result_code;         /* 0 = 250 */
	uint64_t now;
	bool log_events;
};

static void h_log(struct harness *h, const char *p, size_t n)
{
	if (h->log_len + n + 1 > h->log_cap) {
		h->log_cap = (h->log_len + n + 1) * 2;
		h->log = realloc(h->log, h->log_cap);
	}
	memcpy(h->log + h->log_len, p, n);
	h->log_len += n;
	h->log[h->log_len] = '\0';
}

static void h_logs(struct harness *h, const char *s)
{
	h_log(h, s, strlen(s));
}

static void h_drain(struct harness *h)
{
	size_t n;
	const char *p = smtp_server_output(&h->s, &n);

	if (n) {
		h_log(h, p, n);
		smtp_server_output_consume(&h->s, n);
	}
}

/* Escapes octets for event lines: printable ASCII as is, the rest as \xHH, CR LF as \r \n. */
static void h_log_escaped(struct harness *h, const char *p, size_t n)
{
	char b[8];

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			h_logs(h, "\\r");
		else if (c == '\n')
			h_logs(h, "\\n");
		else if (c == '\\')
			h_logs(h, "\\\\");
		else if (c >= 32 && c < 127)
			h_log(h, (const char *)&c, 1);
		else {
			snprintf(b, sizeof(b), "\\x%02x", c);
			h_logs(h, b);
		}
	}
}

static void h_event(struct harness *h, const char *what, const char *arg, size_t n)
{
	if (!h->log_events)
		return;
	h_drain(h);
	h_logs(h, "## ");
	h_logs(h, what);
	if (arg) {
		h_logs(h, " ");
		h_log_escaped(h, arg, n);
	}
	h_logs(h, "\n");
}

static struct harness *H(void *ctx)
{
	return (struct harness *)ctx;
}

static void hk_mail(void *ctx, struct smtp_server_session *s, const struct smtp_mail *m,
		    struct smtp_verdict *v)
{
	char buf[700];
	const char *dom = m->from.addr + m->from.domain_off;

	if (strcmp(dom, "spoof.test") == 0)
		*v = (struct smtp_verdict){ 550, "5.7.1", "Sender domain not authorised" };
	int n = snprintf(buf, sizeof(buf), "<%s> size=%llu body=%d utf8=%d ret=%d envid=%s rtls=%d %s",
			 m->from.addr, (unsigned long long)m->size, m->body, m->smtputf8, m->ret,
			 m->envid, m->requiretls, v->code >= 400 ? "denied" : "ok");
	h_event(H(ctx), "mail", buf, (size_t)n);
}

static void hk_rcpt(void *ctx, struct smtp_server_session *s, const struct smtp_rcpt *r,
		    struct smtp_verdict *v)
{
	char buf[1200];
	const char *dom = r->to.addr + r->to.domain_off;

	if (strcmp(dom, "denied.test") != 0)
		*v = (struct smtp_verdict){ 250, "2.1.5", "Ok" };
	int n = snprintf(buf, sizeof(buf), "<%s> local=%.*s domain=%s notify=%u orcpt=%s;%s %s",
			 r->to.addr, (int)r->to.local_len, r->to.addr, dom, r->notify, r->orcpt_type,
			 r->orcpt, v->code >= 400 ? "denied" : "ok");
	h_event(H(ctx), "rcpt", buf, (size_t)n);
}

static void hk_auth(void *ctx, struct smtp_server_session *s, const char *mech, const char *authzid,
		    const char *authcid, const char *pw, struct smtp_verdict *v)
{
	if (strcmp(authcid, "alice") == 0 && strcmp(pw, "secret") == 0)
		*v = (struct smtp_verdict){ 235, "2.7.0", "Authentication successful" };
	h_event(H(ctx), "auth", authcid, strlen(authcid));
}

static void hk_starttls(void *ctx, struct smtp_server_session *s)
{
	H(ctx)->want_tls = true;
	h_event(H(ctx), "starttls", NULL, 0);
}

static void hk_data_begin(void *ctx, struct smtp_server_session *s, struct smtp_verdict *v)
{
	H(ctx)->msg_len = 0;
	h_event(H(ctx), "data-begin", NULL, 0);
}

static void hk_chunk(void *ctx, struct smtp_server_session *s, const uint8_t *p, size_t n)
{
	struct harness *h = H(ctx);

	if (h->msg_len + n > h->msg_cap) {
		h->msg_cap = (h->msg_len + n) * 2;
		h->msg = realloc(h->msg, h->msg_cap);
	}
	memcpy(h->msg + h->msg_len, p, n);
	h->msg_len += n;
}

static void hk_data_end(void *ctx, struct smtp_server_session *s)
{
	struct harness *h = H(ctx);

	h->want_result = true;
	h_event(h, "message", h->msg, h->msg_len);
}

static void hk_abort(void *ctx, struct smtp_server_session *s, enum smtp_data_error why)
{
	char b[16];
	int n = snprintf(b, sizeof(b), "%d", why);

	H(ctx)->msg_len = 0;
	h_event(H(ctx), "abort", b, (size_t)n);
}

static void hk_from(void *ctx, struct smtp_server_session *s, const char *val, size_t n,
		    struct smtp_verdict *v)
{
	if (val && memmem(val, n, "spoof.test", 10))
		*v = (struct smtp_verdict){ 550, "5.7.1", "no" };
	h_event(H(ctx), "from-header", val ? val : "(none)", val ? n : 6);
}

static void hk_flush(void *ctx, struct smtp_server_session *s)
{
	h_drain(H(ctx));
}

static void hk_close(void *ctx, struct smtp_server_session *s, enum smtp_close_reason why)
{
	char b[16];
	int n = snprintf(b, sizeof(b), "%d", why);

	H(ctx)->closed = true;
	h_event(H(ctx), "close", b, (size_t)n);
}

/* Sets up h (limits may be changed before h_start). */
static void h_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	smtp_limits_defaults(&h->lim);
	h->log_events = true;
	h->hooks = (struct smtp_server_hooks){
		.mail = hk_mail,
		.rcpt = hk_rcpt,
		.auth = hk_auth,
		.starttls = hk_starttls,
		.data_begin = hk_data_begin,
		.data_chunk = hk_chunk,
		.data_end = hk_data_end,
		.data_abort = hk_abort,
		.from_header = hk_from,
		.flush = hk_flush,
		.close = hk_close,
	};
	h->now = 1000000;
}

static void h_start(struct harness *h)
{
	smtp_server_init(&h->s, &h->lim, &h->hooks, h, "mx.test");
	smtp_server_start(&h->s, h->now, NULL);
	h_drain(h);
}

static void h_free(struct harness *h)
{
	free(h->log);
	free(h->msg);
	h->log = h->msg = NULL;
}

/* Answers what the engine waits for (async data result, TLS). */
static void h_answer(struct harness *h)
{
	char text[64];

	if (h->want_result) {
		h->want_result = false;
		struct smtp_verdict v = { 250, "2.0.0", text };
		if (h->result_code) {
			v = (struct smtp_verdict){ h->result_code, h->result_code >= 500 ? "5.3.0" : "4.3.0",
						   "Error: queue file write error" };
		} else {
			snprintf(text, sizeof(text), "Ok: queued as T%u", ++h->queue_no);
		}
		smtp_server_data_result(&h->s, &v);
		h_drain(h);
	}
	if (h->want_tls) {
		h->want_tls = false;
		smtp_server_tls_started(&h->s, h->now);
	}
}

/* Feeds data, split at the given offsets (sorted, within len), answering async events between
 * calls the way a real caller would. Unconsumed bytes are offered again with the next piece. */
static void h_feed_split(struct harness *h, const uint8_t *data, size_t len, const size_t *cuts,
			 size_t ncuts)
{
	uint8_t *pend = malloc(len + 1);
	size_t plen = 0, pos = 0;

	for (size_t c = 0; c <= ncuts; c++) {
		size_t end = c < ncuts ? cuts[c] : len;
		if (end < pos)
			continue;
		memcpy(pend + plen, data + pos, end - pos);
		plen += end - pos;
		pos = end;
		for (int guard = 0; plen && guard < 100000; guard++) {
			size_t n = smtp_server_input(&h->s, pend, plen, h->now);
			h_drain(h);
			memmove(pend, pend + n, plen - n);
			plen -= n;
			bool waiting = h->want_result || h->want_tls;
			h_answer(h);
			if (n == 0 && !waiting)
				break;
		}
	}
	free(pend);
}

static void h_feed(struct harness *h, const char *s)
{
	h_feed_split(h, (const uint8_t *)s, strlen(s), NULL, 0);
}

/* Feeds s and returns what was logged by it (valid until the next call). */
static const char *h_say(struct harness *h, const char *s)
{
	size_t mark = h->log_len;

	h_feed(h, s);
	return h->log ? h->log + mark : "";
}

#endif
