// SPDX-License-Identifier: MIT
/*
 * smtp_verbs.c: the server's verb table {verb, flags, check, proceed}. The dispatcher applies
 * the flag rules (identification first, TLS first, not inside a transaction, no arguments),
 * then check() validates the arguments and the sequence and replies on error (returning -1),
 * and proceed() acts: it consults the policy hooks and moves the state.
 *
 * Replies carry RFC 3463 enhanced status codes; sequencing errors are 503 5.5.1, argument
 * syntax 501 5.5.4, unknown parameters 555 5.5.4 (RFC 5321 4.1.1.11 / 3463).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_priv.h"

enum {
	V_PRE_TLS = 1u << 0,   /* allowed before TLS */
	V_END_GROUP = 1u << 1, /* ends a pipelining group (RFC 2920 3.1): flush after it */
	V_NEED_HELO = 1u << 2, /* only after EHLO/HELO */
	V_IN_TXN = 1u << 3,    /* allowed inside a mail transaction */
	V_NO_ARGS = 1u << 4,   /* takes no argument */
};

/* What check() parsed, for proceed(). */
union smtp_scratch {
	struct smtp_mail mail;
	struct smtp_rcpt rcpt;
	uint64_t bdat_size;
};

struct smtp_verb {
	const char *name;
	uint16_t flags;
	int (*check)(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc);
	void (*proceed)(struct smtp_server_session *s, const char *a, size_t n,
			union smtp_scratch *sc);
};

static bool in_txn(const struct smtp_server_session *s)
{
	return s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT || s->state == SMTP_S_BDAT_IDLE;
}

static int fail(struct smtp_server_session *s, unsigned code, const char *ecode, const char *text)
{
	smtp_srv_reply(s, code, ecode, text);
	return -1;
}

/* ---- EHLO / HELO --------------------------------------------------------------------------- */

static int helo_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	size_t t = 0;

	while (t < n && a[t] != ' ')
		t++;
	if (t == 0)
		return fail(s, 501, "5.5.4", "Syntax: EHLO hostname");
	if (t > SMTP_HELO_MAX)
		return fail(s, 501, "5.5.4", "Error: hostname too long");
	for (size_t i = 0; i < t; i++)
		if ((unsigned char)a[i] <= ' ' || (unsigned char)a[i] >= 127)
			return fail(s, 501, "5.5.4", "Error: invalid hostname");
	return 0;
}

static void ehlo_reply(struct smtp_server_session *s)
{
	char line[64];
	const char *caps[12];
	int nc = 0;

	caps[nc++] = "PIPELINING";
	snprintf(line, sizeof(line), "SIZE %llu", (unsigned long long)s->lim->message_max);
	caps[nc++] = line;
	caps[nc++] = "8BITMIME";
	caps[nc++] = "SMTPUTF8";
	caps[nc++] = "CHUNKING";
	caps[nc++] = "ENHANCEDSTATUSCODES";
	caps[nc++] = "DSN";
	if (!s->tls && s->hooks->starttls)
		caps[nc++] = "STARTTLS";
	if (s->tls && s->hooks->auth && !s->authenticated)
		caps[nc++] = "AUTH PLAIN LOGIN";
	if (s->tls && s->lim->advertise_requiretls)
		caps[nc++] = "REQUIRETLS";
	smtp_reply_line(&s->out, 250, NULL, s->hostname, false);
	for (int i = 0; i < nc; i++)
		smtp_reply_line(&s->out, 250, NULL, caps[i], i == nc - 1);
}

static void helo_do(struct smtp_server_session *s, const char *a, size_t n, bool ehlo)
{
	size_t t = 0;
	char name[SMTP_HELO_MAX + 1];

	while (t < n && a[t] != ' ')
		t++;
	memcpy(name, a, t);
	name[t] = '\0';
	struct smtp_verdict v = { 250, NULL, s->hostname };
	if (s->hooks->helo)
		s->hooks->helo(s->ctx, s, name, ehlo, &v);
	if (v.code >= 400) {
		smtp_srv_reply_v(s, &v);
		return;
	}
	smtp_srv_txn_reset(s, SMTP_DATA_RESET);
	memcpy(s->helo, name, t + 1);
	s->esmtp = ehlo;
	smtp_srv_enter(s, SMTP_S_READY);
	if (ehlo)
		ehlo_reply(s);
	else
		smtp_reply_line(&s->out, 250, NULL, s->hostname, true);
}

static void ehlo_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	helo_do(s, a, n, true);
}

static void helo_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	helo_do(s, a, n, false);
}

/* ---- MAIL ----------------------------------------------------------------------------------- */

static bool kw_is(const struct smtp_param *p, const char *kw)
{
	return p->kw_len == strlen(kw) && strncasecmp(p->kw, kw, p->kw_len) == 0;
}

static bool val_is(const struct smtp_param *p, const char *v)
{
	return p->val_len == strlen(v) && strncasecmp(p->val, v, p->val_len) == 0;
}

/* Returns 0, or replies and returns -1. seen: bit set of parameters already given. */
static int mail_param(struct smtp_server_session *s, const struct smtp_param *p,
		      union smtp_scratch *sc, unsigned *seen)
{
	struct smtp_mail *m = &sc->mail;
	static const char *const known[] = { "SIZE", "BODY", "SMTPUTF8", "RET", "ENVID",
					     "REQUIRETLS", "AUTH" };
	unsigned bit = 0;

	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (kw_is(p, known[i]))
			bit = 1u << i;
	if (!bit)
		return fail(s, 555, "5.5.4", "Error: unsupported MAIL parameter");
	if (*seen & bit)
		return fail(s, 501, "5.5.4", "Error: duplicate MAIL parameter");
	*seen |= bit;
	bool has_val = p->val != NULL;
	if (kw_is(p, "SIZE")) {
		uint64_t v = 0;
		if (!has_val || p->val_len > 19)
			return fail(s, 501, "5.5.4", "Error: bad SIZE value");
		for (size_t i = 0; i < p->val_len; i++) {
			if (p->val[i] < '0' || p->val[i] > '9')
				return fail(s, 501, "5.5.4", "Error: bad SIZE value");
			v = v * 10 + (uint64_t)(p->val[i] - '0');
		}
		if (v > s->lim->message_max)
			return fail(s, 552, "5.3.4", "Error: message size exceeds fixed maximum size");
		m->size = v;
	} else if (kw_is(p, "BODY")) {
		if (has_val && val_is(p, "7BIT"))
			m->body = SMTP_BODY_7BIT;
		else if (has_val && val_is(p, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else
			return fail(s, 501, "5.5.4", "Error: unsupported BODY value");
	} else if (kw_is(p, "SMTPUTF8")) {
		if (has_val)
			return fail(s, 501, "5.5.4", "Error: SMTPUTF8 takes no value");
		m->smtputf8 = true;
	} else if (kw_is(p, "RET")) {
		if (has_val && val_is(p, "FULL"))
			m->ret = SMTP_RET_FULL;
		else if (has_val && val_is(p, "HDRS"))
			m->ret = SMTP_RET_HDRS;
		else
			return fail(s, 501, "5.5.4", "Error: bad RET value");
	} else if (kw_is(p, "ENVID")) {
		if (!has_val || smtp_xtext_decode(p->val, p->val_len, m->envid, sizeof(m->envid)) < 0)
			return fail(s, 501, "5.5.4", "Error: bad ENVID value");
	} else if (kw_is(p, "REQUIRETLS")) {
		if (!s->lim->advertise_requiretls)
			return fail(s, 555, "5.5.4", "Error: unsupported MAIL parameter");
		if (!s->tls)
			return fail(s, 530, "5.7.10", "Error: REQUIRETLS needs a TLS session");
		if (has_val)
			return fail(s, 501, "5.5.4", "Error: REQUIRETLS takes no value");
		m->requiretls = true;
	} else { /* AUTH= (RFC 4954 5): validated, kept */
		if (!has_val || (!val_is(p, "<>") &&
				 smtp_xtext_decode(p->val, p->val_len, m->auth, sizeof(m->auth)) < 0))
			return fail(s, 501, "5.5.4", "Error: bad AUTH value");
		if (val_is(p, "<>"))
			memcpy(m->auth, "<>", 3);
	}
	return 0;
}

/* "FROM:" / "TO:" then optional spaces (a common client habit). Returns the path start. */
static const char *after_prefix(const char *a, size_t n, const char *pfx)
{
	size_t pl = strlen(pfx);

	if (n < pl || strncasecmp(a, pfx, pl) != 0)
		return NULL;
	const char *q = a + pl, *end = a + n;
	while (q < end && *q == ' ')
		q++;
	return q;
}

static int path_error(struct smtp_server_session *s, int r, bool rcpt)
{
	if (r == SMTP_ADDR_TOO_LONG)
		return fail(s, 501, rcpt ? "5.1.3" : "5.1.7", "Error: path too long");
	return fail(s, 501, rcpt ? "5.1.3" : "5.1.7",
		    rcpt ? "Error: bad recipient address syntax" : "Error: bad sender address syntax");
}

/* The shared shape of MAIL and RCPT: prefix, path, then parameters handed to fn. */
typedef int (*param_fn)(struct smtp_server_session *s, const struct smtp_param *p,
			union smtp_scratch *sc, unsigned *seen);

static int path_cmd(struct smtp_server_session *s, const char *a, size_t n, bool rcpt,
		    struct smtp_path *path, param_fn fn, union smtp_scratch *sc)
{
	const char *end = a + n, *q = after_prefix(a, n, rcpt ? "TO:" : "FROM:");
	const char *syntax = rcpt ? "Syntax: RCPT TO:<address>" : "Syntax: MAIL FROM:<address>";
	size_t used;
	unsigned seen = 0;
	struct smtp_param p;

	if (!q)
		return fail(s, 501, "5.5.4", syntax);
	int r = smtp_path_parse(q, (size_t)(end - q), !rcpt, rcpt, path, &used);
	if (r != SMTP_ADDR_OK)
		return path_error(s, r, rcpt);
	q += used;
	if (q < end && *q != ' ')
		return fail(s, 501, "5.5.4", syntax);
	while ((r = smtp_param_next(&q, end, &p)) == 1)
		if (fn(s, &p, sc, &seen) < 0)
			return -1;
	if (r < 0)
		return fail(s, 501, "5.5.4", "Error: bad parameter syntax");
	return 0;
}

static int mail_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_mail *m = &sc->mail;

	if (in_txn(s))
		return fail(s, 503, "5.5.1", "Error: nested MAIL command");
	memset(m, 0, sizeof(*m));
	if (path_cmd(s, a, n, false, &m->from, mail_param, sc) < 0)
		return -1;
	if (m->from.utf8 && !m->smtputf8)
		return fail(s, 553, "5.6.7", "Error: non-ASCII address needs SMTPUTF8");
	return 0;
}

static void mail_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_verdict v = { 250, "2.1.0", "Ok" };

	if (s->hooks->mail)
		s->hooks->mail(s->ctx, s, &sc->mail, &v);
	if (v.code >= 200 && v.code < 300) {
		s->mail = sc->mail;
		s->rcpt_count = 0;
		smtp_srv_enter(s, SMTP_S_MAIL);
	}
	smtp_srv_reply_v(s, &v);
}

/* ---- RCPT ----------------------------------------------------------------------------------- */

static int notify_parse(const struct smtp_param *p, uint32_t *out)
{
	const char *q = p->val, *end = p->val + p->val_len;

	*out = 0;
	while (q < end) {
		const char *c = memchr(q, ',', (size_t)(end - q));
		size_t l = c ? (size_t)(c - q) : (size_t)(end - q);
		struct smtp_param t = { .val = q, .val_len = l };
		if (val_is(&t, "NEVER"))
			*out |= SMTP_NOTIFY_NEVER;
		else if (val_is(&t, "SUCCESS"))
			*out |= SMTP_NOTIFY_SUCCESS;
		else if (val_is(&t, "FAILURE"))
			*out |= SMTP_NOTIFY_FAILURE;
		else if (val_is(&t, "DELAY"))
			*out |= SMTP_NOTIFY_DELAY;
		else
			return -1;
		q += l + (c ? 1 : 0);
		if (c && q == end)
			return -1;
	}
	/* NEVER excludes the others (RFC 3461 4.1) */
	return (*out & SMTP_NOTIFY_NEVER) && *out != SMTP_NOTIFY_NEVER ? -1 : 0;
}

static int orcpt_parse(const struct smtp_param *p, struct smtp_rcpt *r)
{
	const char *semi = memchr(p->val, ';', p->val_len);

	if (!semi || semi == p->val || (size_t)(semi - p->val) >= sizeof(r->orcpt_type))
		return -1;
	size_t tl = (size_t)(semi - p->val);
	for (size_t i = 0; i < tl; i++) {
		char c = p->val[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && c != '-')
			return -1;
	}
	memcpy(r->orcpt_type, p->val, tl);
	r->orcpt_type[tl] = '\0';
	size_t rest = p->val_len - tl - 1;
	return rest && smtp_xtext_decode(semi + 1, rest, r->orcpt, sizeof(r->orcpt)) >= 0 ? 0 : -1;
}

static int rcpt_param(struct smtp_server_session *s, const struct smtp_param *p,
		      union smtp_scratch *sc, unsigned *seen)
{
	struct smtp_rcpt *r = &sc->rcpt;
	if (kw_is(p, "NOTIFY")) {
		if (*seen & 1)
			return fail(s, 501, "5.5.4", "Error: duplicate RCPT parameter");
		*seen |= 1;
		if (!p->val || notify_parse(p, &r->notify) < 0)
			return fail(s, 501, "5.5.4", "Error: bad NOTIFY value");
		return 0;
	}
	if (kw_is(p, "ORCPT")) {
		if (*seen & 2)
			return fail(s, 501, "5.5.4", "Error: duplicate RCPT parameter");
		*seen |= 2;
		if (!p->val || orcpt_parse(p, r) < 0)
			return fail(s, 501, "5.5.4", "Error: bad ORCPT value");
		return 0;
	}
	return fail(s, 555, "5.5.4", "Error: unsupported RCPT parameter");
}

static int rcpt_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_rcpt *rc = &sc->rcpt;

	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT)
		return fail(s, 503, "5.5.1", "Error: need MAIL command");
	rc->notify = 0;
	rc->orcpt_type[0] = rc->orcpt[0] = '\0';
	if (path_cmd(s, a, n, true, &rc->to, rcpt_param, sc) < 0)
		return -1;
	if (rc->to.utf8 && !s->mail.smtputf8)
		return fail(s, 553, "5.6.7", "Error: non-ASCII address needs SMTPUTF8");
	if (s->rcpt_count >= s->lim->rcpt_max)
		return fail(s, 452, "4.5.3", "Error: too many recipients");
	return 0;
}

static void rcpt_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_verdict v = { 554, "5.7.1", "Error: relay access denied" };

	if (s->hooks->rcpt)
		s->hooks->rcpt(s->ctx, s, &sc->rcpt, &v);
	if (v.code >= 200 && v.code < 300) {
		s->rcpt_count++;
		smtp_srv_enter(s, SMTP_S_RCPT);
	}
	smtp_srv_reply_v(s, &v);
}

/* ---- DATA / BDAT ---------------------------------------------------------------------------- */

static int data_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	if (s->state == SMTP_S_BDAT_IDLE)
		return fail(s, 503, "5.5.1", "Error: DATA not allowed after BDAT");
	if (s->state == SMTP_S_READY)
		return fail(s, 503, "5.5.1", "Error: need MAIL command");
	if (s->state == SMTP_S_MAIL)
		return fail(s, 554, "5.5.1", "Error: no valid recipients");
	return 0;
}

/* data_begin hook: true when the message may start. */
static bool content_begin(struct smtp_server_session *s, struct smtp_verdict *v)
{
	*v = (struct smtp_verdict){ 354, NULL, "End data with <CR><LF>.<CR><LF>" };
	if (s->hooks->data_begin)
		s->hooks->data_begin(s->ctx, s, v);
	return v->code < 400;
}

static void data_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_verdict v;

	if (!content_begin(s, &v)) {
		smtp_srv_txn_reset(s, SMTP_DATA_HOOK_REFUSED);
		smtp_srv_enter(s, smtp_srv_idle_state(s));
		smtp_srv_reply_v(s, &v);
		return;
	}
	smtp_reply_line(&s->out, 354, NULL, "End data with <CR><LF>.<CR><LF>", true);
	smtp_srv_data_begin(s);
}

/* BDAT size [LAST]. Without a readable size the stream cannot be resynchronised: close. */
static int bdat_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	size_t i = 0;
	uint64_t v = 0;

	while (i < n && a[i] >= '0' && a[i] <= '9' && i < 19)
		v = v * 10 + (uint64_t)(a[i++] - '0');
	if (i == 0 || (i < n && a[i] != ' ')) {
		smtp_srv_reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]; closing");
		smtp_srv_close(s, SMTP_CLOSE_PROTOCOL);
		return -1;
	}
	sc->bdat_size = v;
	while (i < n && a[i] == ' ')
		i++;
	bool last = n - i == 4 && strncasecmp(a + i, "LAST", 4) == 0;
	s->defer_reply.code = 0;
	if (i < n && !last)
		s->defer_reply = (struct smtp_verdict){ 501, "5.5.4", "Syntax: BDAT count [LAST]" };
	else if (s->state == SMTP_S_NEED_HELO)
		s->defer_reply = (struct smtp_verdict){ 503, "5.5.1", "Error: send HELO/EHLO first" };
	else if (s->state == SMTP_S_READY)
		s->defer_reply = (struct smtp_verdict){ 503, "5.5.1", "Error: need MAIL command" };
	else if (s->state == SMTP_S_MAIL)
		s->defer_reply = (struct smtp_verdict){ 554, "5.5.1", "Error: no valid recipients" };
	if (v > s->lim->message_max && !s->defer_reply.code) {
		/* a chunk larger than any acceptable message: reading it to resynchronise could mean
		 * taking up to 10^19 octets for nothing, so refuse and close instead. (A chunk that
		 * only pushes the message over the limit is read to its end, then 552.) */
		smtp_srv_reply(s, 552, "5.3.4", "Error: message size exceeds fixed maximum size");
		smtp_srv_close(s, SMTP_CLOSE_PROTOCOL);
		return -1;
	}
	s->bdat_last = last;
	return 0; /* even a failing chunk is read (and discarded) to stay in sync */
}

static void bdat_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	struct smtp_verdict v;

	s->bdat_fail = s->defer_reply.code != 0;
	if (!s->bdat_fail && !s->bdat_used) {
		if (!content_begin(s, &v)) {
			s->bdat_fail = true;
			s->defer_reply = (struct smtp_verdict){ v.code, v.code >= 500 ? "5.3.0" : "4.3.0",
							     "Error: message not accepted" };
		} else {
			s->bdat_used = true;
			smtp_dscan_init(&s->ds, true);
		}
	}
	smtp_srv_bdat_begin(s, sc->bdat_size);
}

/* ---- the rest ------------------------------------------------------------------------------- */

static int no_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	return 0;
}

static void rset_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_srv_txn_reset(s, SMTP_DATA_RESET);
	smtp_srv_enter(s, smtp_srv_idle_state(s));
	smtp_srv_reply(s, 250, "2.0.0", "Ok");
}

static void noop_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_srv_reply(s, 250, "2.0.0", "Ok");
}

static void quit_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_reply_line(&s->out, 221, "2.0.0", "Bye", true);
	smtp_srv_close(s, SMTP_CLOSE_QUIT);
}

static int vrfy_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	return n ? 0 : fail(s, 501, "5.5.4", "Syntax: VRFY address");
}

static void vrfy_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_srv_reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void help_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_srv_reply(s, 214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET "
		       "NOOP QUIT VRFY HELP STARTTLS AUTH");
}

static int starttls_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	if (!s->hooks->starttls)
		return fail(s, 502, "5.5.1", "Error: command not implemented");
	if (s->tls)
		return fail(s, 503, "5.5.1", "Error: TLS already active");
	return 0;
}

/* CVE-2011-0411: nothing received before the handshake may be executed after it. */
static void starttls_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_reply_line(&s->out, 220, "2.0.0", "Ready to start TLS", true);
	s->line_len = 0;
	s->discard_line = false;
	s->helo[0] = '\0';
	s->esmtp = false;
	smtp_srv_enter(s, SMTP_S_TLS_WAIT);
	smtp_srv_flush(s);
	if (s->hooks->starttls)
		s->hooks->starttls(s->ctx, s);
}

static int auth_check(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	if (!s->hooks->auth)
		return fail(s, 502, "5.5.1", "Error: authentication not enabled");
	if (s->authenticated)
		return fail(s, 503, "5.5.1", "Error: already authenticated");
	if (n == 0)
		return fail(s, 501, "5.5.4", "Syntax: AUTH mechanism");
	return 0;
}

static void auth_proceed(struct smtp_server_session *s, const char *a, size_t n, union smtp_scratch *sc)
{
	smtp_auth_start(s, a, n);
}

static const struct smtp_verb verbs[] = {
	{ "EHLO", V_PRE_TLS | V_END_GROUP | V_IN_TXN, helo_check, ehlo_proceed },
	{ "HELO", V_PRE_TLS | V_END_GROUP | V_IN_TXN, helo_check, helo_proceed },
	{ "MAIL", V_PRE_TLS | V_NEED_HELO | V_IN_TXN, mail_check, mail_proceed },
	{ "RCPT", V_PRE_TLS | V_NEED_HELO | V_IN_TXN, rcpt_check, rcpt_proceed },
	{ "DATA", V_PRE_TLS | V_END_GROUP | V_NEED_HELO | V_IN_TXN | V_NO_ARGS, data_check,
	  data_proceed },
	{ "BDAT", V_PRE_TLS | V_IN_TXN, bdat_check, bdat_proceed },
	{ "RSET", V_PRE_TLS | V_IN_TXN | V_NO_ARGS, no_check, rset_proceed },
	{ "NOOP", V_PRE_TLS | V_END_GROUP | V_IN_TXN, no_check, noop_proceed },
	{ "QUIT", V_PRE_TLS | V_END_GROUP | V_IN_TXN | V_NO_ARGS, no_check, quit_proceed },
	{ "VRFY", V_PRE_TLS | V_END_GROUP | V_IN_TXN, vrfy_check, vrfy_proceed },
	{ "HELP", V_PRE_TLS | V_END_GROUP | V_IN_TXN, no_check, help_proceed },
	{ "STARTTLS", V_PRE_TLS | V_END_GROUP | V_NO_ARGS, starttls_check, starttls_proceed },
	{ "AUTH", V_END_GROUP | V_NEED_HELO, auth_check, auth_proceed },
};

static const struct smtp_verb *verb_find(const char *line, size_t vl)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == vl && strncasecmp(verbs[i].name, line, vl) == 0)
			return &verbs[i];
	return NULL;
}

/* Flag rules common to all verbs. Returns 0 or -1 after replying. */
static int flags_check(struct smtp_server_session *s, const struct smtp_verb *v, size_t nargs)
{
	if ((v->flags & V_NEED_HELO) && s->state == SMTP_S_NEED_HELO)
		return fail(s, 503, "5.5.1", "Error: send HELO/EHLO first");
	if (!(v->flags & V_PRE_TLS) && !s->tls)
		return fail(s, 530, "5.7.0", "Must issue a STARTTLS command first");
	if (!(v->flags & V_IN_TXN) && in_txn(s))
		return fail(s, 503, "5.5.1", "Error: command not allowed during a mail transaction");
	if ((v->flags & V_NO_ARGS) && nargs)
		return fail(s, 501, "5.5.4", "Error: this command takes no arguments");
	return 0;
}

/* One complete command (without CRLF). */
void smtp_verb_dispatch(struct smtp_server_session *s, const char *line, size_t n)
{
	union smtp_scratch sc;
	size_t vl = 0;

	while (vl < n && line[vl] != ' ')
		vl++;
	const char *args = line + vl;
	size_t an = n - vl;
	while (an && *args == ' ') {
		args++;
		an--;
	}
	while (an && args[an - 1] == ' ')
		an--;
	const struct smtp_verb *v = verb_find(line, vl);
	if (!v) {
		smtp_srv_reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	if (flags_check(s, v, an) == 0 && v->check(s, args, an, &sc) == 0)
		v->proceed(s, args, an, &sc);
	if (v->flags & V_END_GROUP)
		smtp_srv_flush(s);
}
