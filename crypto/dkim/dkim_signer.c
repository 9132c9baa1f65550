/* SPDX-License-Identifier: MIT */
/*
 * dkim_signer.c: the per-lcore signer context (one DKIM_LIB, its options, the parsed-key
 * cache, the arena chunks and recycled message objects) and the per-message streaming signer.
 *
 * A message goes HEADER -> BODY -> DONE, or HEADER -> SKIP -> DONE when it will not be
 * signed. In HEADER the header section is buffered (bounded) because the key depends on the
 * From field; at its end the keys are selected, one libopendkim handle per signature is opened
 * (libopendkim makes one signature per handle: dual rsa+ed25519 signing and the operator's
 * second signature are separate handles, each hashing the body), the header fields are fed
 * and the body bytes already received follow. In BODY every chunk goes straight to the
 * handles, so the body hashes are complete when the last byte arrives; dkim_msg_finish() only
 * hashes the signature header and signs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "dkim/dkim.h"
#include "dkim/dkim_arena.h"
#include "dkim/dkim_keycache.h"
#include "log.h"

#define SIG_FIELD "DKIM-Signature: "
#define MSG_FREE_MAX 64

struct dkim_signer_ctx {
	DKIM_LIB *lib;
	struct dkim_params p;
	int64_t wall_offset_us;
	struct dkim_keycache keys;
	struct dkim_chunk_pool chunks;
	struct dkim_msg *free_msgs;	/* recycled message objects */
	unsigned n_free_msgs;
	struct dkim_stats st;
};

enum dkim_msg_state { DKIM_MSG_HEADER, DKIM_MSG_BODY, DKIM_MSG_SKIP, DKIM_MSG_DONE };

struct dkim_sig {
	DKIM *h;
	EVP_PKEY *hold;		/* our reference to a key lent to libopendkim, or NULL */
	uint64_t uid;
	unsigned cost;		/* dkim_key_cost() of its key */
	char domain[DKIM_DOMAIN_MAX];
};

struct dkim_msg {
	struct dkim_signer_ctx *ctx;
	struct dkim_msg *next_free;
	enum dkim_msg_state state;
	enum dkim_result res;
	struct dkim_arena arena;
	uint8_t *hbuf;		/* header section so far (arena) */
	size_t hlen, hcap, hscan;
	uint8_t tail[2];	/* last two body bytes: is a final CRLF missing? */
	uint64_t body_len;
	unsigned nsig;
	struct dkim_sig sig[DKIM_MAX_SIGS];
	char *out;		/* the DKIM-Signature fields (arena) */
	size_t out_len;
	unsigned out_sigs;
	char from_domain[DKIM_DOMAIN_MAX];
	char id[64];
};

/* RFC 6376 §5.4 and §5.4.1: what to sign. Fields in oversign_hdrs are listed once more than
 * they occur, so a field added in transit breaks the signature. */
static const char *sign_hdrs[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
	"mime-version", "content-type", "content-transfer-encoding", "content-id",
	"content-description", "resent-date", "resent-from", "resent-sender", "resent-to",
	"resent-cc", "resent-message-id", "in-reply-to", "references", "list-id", "list-help",
	"list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-owner",
	"list-archive", "feedback-id", NULL
};
static const char *oversign_hdrs[] = {
	"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
	"content-transfer-encoding", NULL
};

static const char *const result_names[DKIM_RES__MAX] = {
	"signed", "no-key", "no-from", "multi-from", "bad-from", "bad-header", "key-removed",
	"error"
};

const char *dkim_result_str(enum dkim_result r)
{
	return (unsigned)r < DKIM_RES__MAX ? result_names[r] : "unknown";
}

void dkim_params_defaults(struct dkim_params *p)
{
	p->hdr_canon = DKIM_CANON_RELAXED_;
	p->body_canon = DKIM_CANON_RELAXED_;
	p->expire_s = 0;
	p->header_max = 64 * 1024;
	p->batch_max = DKIM_BATCH_CAP;
	p->batch_cost_max = 8 * DKIM_COST_RSA2048;
	p->key_cache_max = 64;
	p->arena_chunks_max = 64;
}

static int lib_setup(DKIM_LIB *lib, const struct dkim_params *p)
{
	uint64_t ttl = p->expire_s;
	unsigned flags = DKIM_LIBFLAGS_NONE;
	/* No DKIM_OPTS_SIGNHDRS: libopendkim would match every field name against a regex built
	 * from the list (glibc regexec, ~2 us per message in situ); we hand it only the fields of
	 * sign_hdrs (hdr_signed) and without the option it signs every field it is given: the
	 * same h= and the same hash. */
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, oversign_hdrs,
			 sizeof(char **)) ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl, sizeof(ttl)))
		return -1;
	return 0;
}

/*
 * Create an lcore's signer context. Start-up only: allocates, probes libopendkim once per
 * process (dkim_keycache_global_init). Returns NULL on failure (logged).
 */
struct dkim_signer_ctx *dkim_signer_new(const struct dkim_params *p, int64_t wall_offset_us)
{
	struct dkim_signer_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto err;
	ctx->p = *p;
	ctx->wall_offset_us = wall_offset_us;
	ctx->chunks.max_free = p->arena_chunks_max;
	if (dkim_keycache_global_init() != 0)
		log_warn("dkim msg=\"parsed-key cache disabled: every signature parses its key\"");
	if (dkim_keycache_init(&ctx->keys, p->key_cache_max) != 0)
		goto err_ctx;
	ctx->lib = dkim_init(dkim_arena_lib_malloc, dkim_arena_lib_free);
	if (!ctx->lib)
		goto err_keys;
	if (lib_setup(ctx->lib, p) != 0) {
		log_err("dkim msg=\"libopendkim rejected the signing options\"");
		goto err_lib;
	}
	return ctx;
err_lib:
	dkim_close(ctx->lib);
err_keys:
	dkim_keycache_fini(&ctx->keys);
err_ctx:
	free(ctx);
err:
	return NULL;
}

void dkim_signer_free(struct dkim_signer_ctx *ctx)
{
	if (!ctx)
		return;
	while (ctx->free_msgs) {
		struct dkim_msg *m = ctx->free_msgs;
		ctx->free_msgs = m->next_free;
		free(m);
	}
	dkim_chunk_pool_drain(&ctx->chunks);
	dkim_keycache_fini(&ctx->keys);
	dkim_close(ctx->lib);
	free(ctx);
}

void dkim_signer_set_wall_offset(struct dkim_signer_ctx *ctx, int64_t off) { ctx->wall_offset_us = off; }
const struct dkim_stats *dkim_signer_stats(const struct dkim_signer_ctx *ctx) { return &ctx->st; }
unsigned dkim_signer_batch_max(const struct dkim_signer_ctx *ctx)
{
	return ctx->p.batch_max ? ctx->p.batch_max : 1;
}
unsigned dkim_signer_batch_cost_max(const struct dkim_signer_ctx *ctx)
{
	return ctx->p.batch_cost_max ? ctx->p.batch_cost_max : 1;
}

unsigned dkim_key_cost(const struct dkim_key *k)
{
	if (k->alg != DKIM_ALG_RSA_SHA256)
		return DKIM_COST_ED25519;
	/* DKIM_COST_RSA2048 * (bits / 2048)^3, rounded up, in integers (bits <= 16384) */
	uint64_t b = k->bits ? k->bits : 2048;
	uint64_t c = (DKIM_COST_RSA2048 * b * b * b + 2048ull * 2048 * 2048 - 1) /
		     (2048ull * 2048 * 2048);
	return c ? (unsigned)c : 1;
}

/* ---- message state ---- */

static void msg_enter(struct dkim_msg *m, enum dkim_msg_state s)
{
	log_debug("dkim id=%s state=%d->%d", m->id, m->state, s);
	m->state = s;
}

/* Not signable (or done): record the outcome and drop any handles. */
static void msg_skip(struct dkim_msg *m, enum dkim_result r);

static void sig_close(struct dkim_sig *s)
{
	if (s->h)
		dkim_free(s->h);
	EVP_PKEY_free(s->hold);
	s->h = NULL;
	s->hold = NULL;
}

struct dkim_msg *dkim_msg_new(struct dkim_signer_ctx *ctx, const char *id)
{
	struct dkim_msg *m = ctx->free_msgs;
	if (m) {
		ctx->free_msgs = m->next_free;
		ctx->n_free_msgs--;
	} else if (!(m = malloc(sizeof(*m)))) {
		return NULL;
	}
	memset(m, 0, offsetof(struct dkim_msg, from_domain));
	m->from_domain[0] = '\0';
	m->ctx = ctx;
	m->state = DKIM_MSG_HEADER;
	m->res = DKIM_RES_NO_KEY;
	dkim_arena_init(&m->arena, &ctx->chunks);
	const char *src = id && *id ? id : "-";
	size_t idlen = strnlen(src, sizeof(m->id) - 1);
	memcpy(m->id, src, idlen);
	m->id[idlen] = '\0';
	ctx->st.msgs++;
	return m;
}

void dkim_msg_free(struct dkim_msg *m)
{
	if (!m)
		return;
	struct dkim_signer_ctx *ctx = m->ctx;
	for (unsigned i = 0; i < m->nsig; i++)
		sig_close(&m->sig[i]);
	if (m->arena.total > ctx->st.arena_peak)
		ctx->st.arena_peak = m->arena.total;
	dkim_arena_reset(&m->arena);
	if (ctx->n_free_msgs < MSG_FREE_MAX) {
		m->next_free = ctx->free_msgs;
		ctx->free_msgs = m;
		ctx->n_free_msgs++;
	} else {
		free(m);
	}
}

static void msg_skip(struct dkim_msg *m, enum dkim_result r)
{
	for (unsigned i = 0; i < m->nsig; i++)
		sig_close(&m->sig[i]);
	m->nsig = 0;
	m->res = r;
	msg_enter(m, DKIM_MSG_SKIP);
}

enum dkim_result dkim_msg_result(const struct dkim_msg *m) { return m->res; }
const char *dkim_msg_from_domain(const struct dkim_msg *m) { return m->from_domain; }
unsigned dkim_msg_nsigs(const struct dkim_msg *m) { return m->out_sigs; }

unsigned dkim_msg_cost(const struct dkim_msg *m)
{
	unsigned c = 0;
	for (unsigned i = 0; i < m->nsig; i++)
		c += m->sig[i].h ? m->sig[i].cost : 0;
	return c;
}

const char *dkim_msg_sig(const struct dkim_msg *m, size_t *len)
{
	*len = m->res == DKIM_RES_SIGNED ? m->out_len : 0;
	return m->res == DKIM_RES_SIGNED ? m->out : NULL;
}

/* libopendkim reads t= (and x=) from its fixed-time option: give it wall-clock seconds. */
static void set_time(struct dkim_signer_ctx *ctx, uint64_t now)
{
	uint64_t t = (uint64_t)(((int64_t)now + ctx->wall_offset_us) / 1000000);
	if (t == 0)
		t = 1;	/* 0 would make libopendkim read the clock itself */
	dkim_options(ctx->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof(t));
}

/* Find the one From field and its domain; returns DKIM_RES_SIGNED when there is one. */
static enum dkim_result find_from(struct dkim_msg *m, const uint8_t *hdr, size_t len)
{
	struct dkim_hdr_field f, from = { 0 };
	size_t off = 0;
	unsigned n_from = 0;
	int r;
	while ((r = dkim_hdr_next(hdr, len, &off, &f)) == 1)
		if (dkim_hdr_name_is(&f, "from") && n_from++ == 0)
			from = f;
	if (r < 0)
		return DKIM_RES_BAD_HEADER;
	if (n_from != 1)
		return n_from ? DKIM_RES_MULTI_FROM : DKIM_RES_NO_FROM;
	switch (dkim_from_domain(from.value, from.value_len, m->from_domain,
				 sizeof(m->from_domain))) {
	case DKIM_FROM_OK:
		return DKIM_RES_SIGNED;
	case DKIM_FROM_MULTI:
		m->from_domain[0] = '\0';
		return DKIM_RES_MULTI_FROM;
	default:
		m->from_domain[0] = '\0';
		return DKIM_RES_BAD_FROM;
	}
}

/*
 * Whether libopendkim could sign field f: its name (trailing WSP trimmed) is in sign_hdrs.
 * Only those fields are handed to libopendkim; the others (Received:, X-*: trace and vendor
 * fields, often most of a header section) would be copied, matched against its header
 * regex and dropped there, per field and per signature. The signature is the same: fields
 * outside the list never enter h= or the header hash, and oversigning counts only listed
 * names (oversign_hdrs is a subset of sign_hdrs).
 */
static bool hdr_signed(const struct dkim_hdr_field *f)
{
	if (f->name_len == 0)
		return false;
	uint8_t c0 = f->name[0] >= 'A' && f->name[0] <= 'Z' ? f->name[0] + ('a' - 'A') : f->name[0];
	for (const char **h = sign_hdrs; *h; h++)	/* first letter first: most differ there */
		if ((uint8_t)(*h)[0] == c0 && dkim_hdr_name_is(f, *h))
			return true;
	return false;
}

/* Open one signing handle for key k and feed it the header fields; 0 or -1. */
static int sig_open(struct dkim_msg *m, struct dkim_sig *s, const struct dkim_key *k,
		    const uint8_t *hdr, size_t len)
{
	struct dkim_signer_ctx *ctx = m->ctx;
	DKIM_STAT st;
	s->h = dkim_sign(ctx->lib, (const unsigned char *)m->id, &m->arena, (dkim_sigkey_t)k->pem,
			 (const unsigned char *)k->selector, (const unsigned char *)k->domain,
			 ctx->p.hdr_canon == DKIM_CANON_RELAXED_ ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
			 ctx->p.body_canon == DKIM_CANON_RELAXED_ ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE,
			 k->alg == DKIM_ALG_RSA_SHA256 ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256,
			 -1, &st);
	if (!s->h)
		return -1;
	/* libopendkim 2.11 folds an ed25519 DKIM-Signature differently when it hashes it (b=
	 * empty) and when it prints it (b= full): harmless under relaxed header
	 * canonicalization, a broken signature under simple. Unfolded, both agree. */
	if (k->alg == DKIM_ALG_ED25519_SHA256 && ctx->p.hdr_canon == DKIM_CANON_SIMPLE_ &&
	    dkim_set_margin(s->h, 0) != DKIM_STAT_OK)
		return -1;
	s->uid = k->uid;
	s->cost = dkim_key_cost(k);
	memcpy(s->domain, k->domain, sizeof(s->domain));
	struct dkim_hdr_field f;
	size_t off = 0;
	while (dkim_hdr_next(hdr, len, &off, &f) == 1)
		if (hdr_signed(&f) && dkim_header(s->h, (u_char *)f.raw, f.raw_len) != DKIM_STAT_OK)
			return -1;
	return dkim_eoh(s->h) == DKIM_STAT_OK ? 0 : -1;
}

/* The header section is complete (hdr[0..len), body excluded): select keys, open handles. */
static void on_headers(struct dkim_msg *m, const struct dkim_keyring *kr, const uint8_t *hdr,
		       size_t len, uint64_t now)
{
	struct dkim_signer_ctx *ctx = m->ctx;
	enum dkim_result r = find_from(m, hdr, len);
	if (r != DKIM_RES_SIGNED)
		return msg_skip(m, r);
	const struct dkim_key *keys[DKIM_MAX_SIGS];
	size_t n = dkim_keyring_select(kr, m->from_domain, keys, DKIM_MAX_SIGS);
	if (n == 0)
		return msg_skip(m, DKIM_RES_NO_KEY);
	set_time(ctx, now);
	for (size_t i = 0; i < n; i++) {
		struct dkim_sig *s = &m->sig[m->nsig];
		if (sig_open(m, s, keys[i], hdr, len) == 0) {
			m->nsig++;
		} else {
			ctx->st.lib_errors++;
			log_warn("dkim id=%s domain=%s selector=%s msg=\"cannot open signature: %s\"",
				 m->id, keys[i]->domain, keys[i]->selector,
				 s->h ? dkim_geterror(s->h) : "dkim_sign failed");
			sig_close(s);
		}
	}
	if (m->nsig == 0)
		return msg_skip(m, DKIM_RES_ERROR);
	m->res = DKIM_RES_SIGNED;
	msg_enter(m, DKIM_MSG_BODY);
}

static void body_feed(struct dkim_msg *m, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	for (unsigned i = 0; i < m->nsig; i++) {
		if (m->sig[i].h && dkim_body(m->sig[i].h, (u_char *)data, len) != DKIM_STAT_OK) {
			m->ctx->st.lib_errors++;
			sig_close(&m->sig[i]);
		}
	}
	if (len >= 2) {
		m->tail[0] = data[len - 2];
		m->tail[1] = data[len - 1];
	} else {
		m->tail[0] = m->tail[1];
		m->tail[1] = data[0];
	}
	m->body_len += len;
}

/* Append to the header buffer, growing it in the arena up to header_max. */
static int hbuf_append(struct dkim_msg *m, const uint8_t *data, size_t len)
{
	size_t need = m->hlen + len;
	if (need > m->ctx->p.header_max)
		return -1;
	if (need > m->hcap) {
		size_t cap = m->hcap ? m->hcap * 2 : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > m->ctx->p.header_max)
			cap = m->ctx->p.header_max;
		uint8_t *nb = dkim_arena_alloc(&m->arena, cap);
		if (!nb)
			return -1;
		if (m->hlen)
			memcpy(nb, m->hbuf, m->hlen);
		m->hbuf = nb;
		m->hcap = cap;
	}
	memcpy(m->hbuf + m->hlen, data, len);
	m->hlen += len;
	return 0;
}

int dkim_msg_feed(struct dkim_msg *m, const struct dkim_keyring *kr, const uint8_t *data,
		  size_t len, uint64_t now)
{
	if (m->state == DKIM_MSG_BODY) {
		body_feed(m, data, len);
		return 0;
	}
	if (m->state != DKIM_MSG_HEADER || len == 0)
		return 0;
	size_t before = m->hlen;
	/* Only the bytes up to the header end are buffered: append, find the end, and hand the
	 * part of this chunk past it directly to the body. */
	size_t take = len;
	if (before + take > m->ctx->p.header_max)
		take = m->ctx->p.header_max - before;
	if (hbuf_append(m, data, take) != 0) {
		msg_skip(m, DKIM_RES_BAD_HEADER);
		return 0;
	}
	size_t end = dkim_hdr_end(m->hbuf, m->hlen, &m->hscan);
	if (end == 0) {
		if (take < len)		/* over the limit and still no end of headers */
			msg_skip(m, DKIM_RES_BAD_HEADER);
		return 0;
	}
	on_headers(m, kr, m->hbuf, end, now);
	if (m->state == DKIM_MSG_BODY) {
		body_feed(m, m->hbuf + end, m->hlen - end);	/* body bytes in this buffer */
		if (take < len)
			body_feed(m, data + take, len - take);
	}
	return 0;
}

/* Append one finished signature field to m->out. */
static int out_append(struct dkim_msg *m, const u_char *v, size_t vlen)
{
	size_t add = sizeof(SIG_FIELD) - 1 + vlen + 2;
	char *nb = dkim_arena_alloc(&m->arena, m->out_len + add + 1);
	if (!nb)
		return -1;
	if (m->out_len)
		memcpy(nb, m->out, m->out_len);
	memcpy(nb + m->out_len, SIG_FIELD, sizeof(SIG_FIELD) - 1);
	memcpy(nb + m->out_len + sizeof(SIG_FIELD) - 1, v, vlen);
	memcpy(nb + m->out_len + add - 2, "\r\n", 3);
	m->out = nb;
	m->out_len += add;
	m->out_sigs++;
	return 0;
}

/* Make one signature; 1 made, 0 dropped (key removed), -1 error. */
static int sig_finish(struct dkim_msg *m, struct dkim_sig *s, const struct dkim_keyring *kr)
{
	u_char *v;
	size_t vlen;
	struct dkim_signer_ctx *ctx = m->ctx;
	const struct dkim_key *k = dkim_keyring_find(kr, s->domain, s->uid);
	int hit = 0;
	if (!k) {
		ctx->st.sigs_dropped_removed++;
		sig_close(s);
		return 0;
	}
	/* The key goes into the handle only now, right before the signature: libopendkim 2.11
	 * releases a loaded key only in dkim_eom(), so a handle dropped earlier would leak it. */
	if (dkim_keycache_load(&ctx->keys, k, s->h, &s->hold, &hit) != 0) {
		ctx->st.lib_errors++;
		sig_close(s);
		return -1;
	}
	ctx->st.key_cache_hits += hit;
	ctx->st.key_cache_misses += !hit;
	int tmpl = 0;
	DKIM_STAT st = dkim_keycache_eom(&ctx->keys, k, s->h, &tmpl);
	ctx->st.sign_tmpl_hits += tmpl;
	if (st != DKIM_STAT_OK ||
	    dkim_getsighdr_d(s->h, sizeof(SIG_FIELD) - 1, &v, &vlen) != DKIM_STAT_OK ||
	    out_append(m, v, vlen) != 0) {
		log_warn("dkim id=%s domain=%s msg=\"signing failed: %s\"", m->id, s->domain,
			 dkim_geterror(s->h) ? dkim_geterror(s->h) : "?");
		m->ctx->st.lib_errors++;
		sig_close(s);
		return -1;
	}
	sig_close(s);
	return 1;
}

enum dkim_result dkim_msg_finish(struct dkim_msg *m, const struct dkim_keyring *kr, uint64_t now)
{
	struct dkim_signer_ctx *ctx = m->ctx;
	if (m->state == DKIM_MSG_HEADER) {	/* the data ended inside the header section */
		if (m->hlen >= 2 && m->hbuf[m->hlen - 2] == '\r' && m->hbuf[m->hlen - 1] == '\n') {
			on_headers(m, kr, m->hbuf, m->hlen, now);
		} else {
			static const uint8_t crlf[2] = { '\r', '\n' };
			if (hbuf_append(m, crlf, 2) == 0)
				on_headers(m, kr, m->hbuf, m->hlen, now);
			else
				msg_skip(m, DKIM_RES_BAD_HEADER);
		}
	}
	if (m->state == DKIM_MSG_BODY) {
		/* RFC 6376 §3.4.3/3.4.4: a body not ending in CRLF is hashed as if it did; the
		 * delivery side ends the data with CRLF "." CRLF anyway */
		if (m->body_len > 0 && !(m->tail[0] == '\r' && m->tail[1] == '\n'))
			body_feed(m, (const uint8_t *)"\r\n", 2);
		set_time(ctx, now);
		int made = 0, removed = 0;
		for (unsigned i = 0; i < m->nsig; i++) {
			if (!m->sig[i].h)
				continue;
			int r = sig_finish(m, &m->sig[i], kr);
			made += r == 1;
			removed += r == 0;
		}
		m->nsig = 0;
		m->res = made ? DKIM_RES_SIGNED : removed ? DKIM_RES_KEY_REMOVED : DKIM_RES_ERROR;
		ctx->st.sigs += (uint64_t)made;
		msg_enter(m, DKIM_MSG_DONE);
	} else if (m->state == DKIM_MSG_SKIP) {
		msg_enter(m, DKIM_MSG_DONE);
	} else {
		return m->res;		/* finished twice: the first outcome stands */
	}
	ctx->st.res[m->res]++;
	return m->res;
}
