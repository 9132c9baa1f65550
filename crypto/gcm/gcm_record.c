// SPDX-License-Identifier: MIT
/*
 * gcm_record.c: TLS 1.2 and 1.3 AES-GCM records as engine ops. Sealing is zero copy: the
 * caller writes plaintext where the payload goes and gcm_seal_prep frames it (header, 1.3
 * inner type and padding, 1.2 explicit nonce, AAD, nonce, sequence number). Opening is split
 * into prep (framing checks, nonce, AAD) and finish (tag check in constant time, 1.3 inner
 * type, post-handshake messages), so records of every session of a core decrypt in one burst.
 *   TLS 1.3 (RFC 8446 §5.2-5.3): nonce = iv XOR seq, AAD = the 5-byte record header.
 *   TLS 1.2 (RFC 5288 §3): nonce = salt(4) || explicit(8) where explicit = seq (as OpenSSL),
 *   AAD = seq || type || version || plaintext length.
 */
#include "gcm/gcm.h"

#include <errno.h>
#include <string.h>

#include "log.h"

static const char *const state_names[] = {
	[GCM_SESS_OPEN] = "open",
	[GCM_SESS_PEER_CLOSED] = "peer_closed",
	[GCM_SESS_CLOSED] = "closed",
	[GCM_SESS_FAILED] = "failed",
};

const char *gcm_sess_state_str(enum gcm_sess_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

void gcm_sess_enter(struct gcm_sess *s, enum gcm_sess_state st)
{
	if (s->state == st)
		return;
	log_debug("gcm=%p state=%s->%s", (void *)s, gcm_sess_state_str(s->state),
		  gcm_sess_state_str(st));
	s->state = st;
}

/* Sets up one direction from a key and IV (key generation 0). */
static int dir_setup(struct gcm_engine *e, struct gcm_dir_state *d, const uint8_t *key,
		     size_t klen, const uint8_t *iv, size_t ivlen, uint64_t seq)
{
	memset(d->iv, 0, sizeof(d->iv));
	memcpy(d->iv, iv, ivlen);
	d->seq = seq;
	d->gen = 0;
	return gcm_key_set(e, &d->keys[0], key, klen);
}

static int init13(struct gcm_sess *s, const struct gcm_secrets *sec, uint64_t rd_seq,
		  uint64_t wr_seq)
{
	const uint8_t *ws = sec->is_server ? sec->server : sec->client;
	const uint8_t *rs = sec->is_server ? sec->client : sec->server;
	size_t hl = gcm_suite_hash_len(sec->suite), kl = gcm_suite_key_len(sec->suite);
	uint8_t key[32], iv[GCM_IV_LEN];
	int rc;

	if (!sec->have_client || !sec->have_server)
		return -EINVAL;
	memcpy(s->wr.secret, ws, hl);
	memcpy(s->rd.secret, rs, hl);
	rc = gcm_tls13_traffic_keys(sec->suite, ws, key, iv);
	if (!rc)
		rc = dir_setup(s->eng, &s->wr, key, kl, iv, GCM_IV_LEN, wr_seq);
	if (!rc)
		rc = gcm_tls13_traffic_keys(sec->suite, rs, key, iv);
	if (!rc)
		rc = dir_setup(s->eng, &s->rd, key, kl, iv, GCM_IV_LEN, rd_seq);
	memset(key, 0, sizeof(key));
	return rc;
}

static int init12(struct gcm_sess *s, const struct gcm_secrets *sec, uint64_t rd_seq,
		  uint64_t wr_seq)
{
	uint8_t ck[32], sk[32], cs[4], ss[4];
	size_t kl = gcm_suite_key_len(sec->suite);
	int rc = gcm_tls12_key_block(sec->suite, sec->master, sec->client_random,
				     sec->server_random, ck, sk, cs, ss);

	if (!rc)
		rc = dir_setup(s->eng, &s->wr, sec->is_server ? sk : ck, kl,
			       sec->is_server ? ss : cs, 4, wr_seq);
	if (!rc)
		rc = dir_setup(s->eng, &s->rd, sec->is_server ? ck : sk, kl,
			       sec->is_server ? cs : ss, 4, rd_seq);
	memset(ck, 0, sizeof(ck));
	memset(sk, 0, sizeof(sk));
	return rc;
}

int gcm_sess_init(struct gcm_sess *s, struct gcm_engine *e, const struct gcm_secrets *sec,
		  uint64_t rd_seq, uint64_t wr_seq)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->eng = e;
	s->version = sec->version;
	s->suite = sec->suite;
	s->is_server = sec->is_server;
	s->state = GCM_SESS_OPEN;
	/* RFC 8446 §5.5: AES-GCM keys protect at most 2^24.5 full-size records */
	s->seq_limit = 1ull << 24;
	if (sec->version == GCM_TLS13)
		rc = init13(s, sec, rd_seq, wr_seq);
	else if (sec->version == GCM_TLS12)
		rc = init12(s, sec, rd_seq, wr_seq);
	else
		rc = -EINVAL;
	if (rc)
		gcm_sess_wipe(s);
	return rc;
}

void gcm_sess_wipe(struct gcm_sess *s)
{
	volatile uint8_t *p = (volatile uint8_t *)s;

	for (size_t i = 0; i < sizeof(*s); i++)
		p[i] = 0;
}

size_t gcm_rec_hdr_len(const struct gcm_sess *s)
{
	return GCM_TLS_HDR + (s->version == GCM_TLS12 ? GCM_TLS12_EXPLICIT : 0);
}

size_t gcm_rec_overhead(const struct gcm_sess *s)
{
	/* 1.3: header + inner type + tag; 1.2: header + explicit nonce + tag */
	return s->version == GCM_TLS12 ? GCM_TLS_HDR + GCM_TLS12_EXPLICIT + GCM_TAG_LEN
				       : GCM_TLS_HDR + 1 + GCM_TAG_LEN;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void nonce13(const struct gcm_dir_state *d, uint64_t seq, uint8_t *nonce)
{
	memcpy(nonce, d->iv, GCM_IV_LEN);
	for (int i = GCM_IV_LEN - 1; i >= GCM_IV_LEN - 8; i--, seq >>= 8)
		nonce[i] ^= (uint8_t)seq;
}

static void aad12(uint8_t *aad, uint64_t seq, uint8_t ct, size_t len)
{
	put_be64(aad, seq);
	aad[8] = ct;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = (uint8_t)(len >> 8);
	aad[12] = (uint8_t)len;
}

static void op_base(struct gcm_op *op, const struct gcm_dir_state *d, enum gcm_dir dir)
{
	op->key = &d->keys[d->gen & 1];
	op->gen = d->gen;
	op->dir = dir;
	op->status = 0;
}

/* Seals without looking at the session state (alerts after a failure go out this way). */
static int seal_any(struct gcm_sess *s, struct gcm_op *op, uint8_t ct, uint8_t *rec, size_t len)
{
	struct gcm_dir_state *d = &s->wr;
	size_t clen;

	if (len > GCM_TLS_MAX_PLAIN)
		return -EMSGSIZE;
	if (d->seq == UINT64_MAX)
		return -EPIPE; /* never reuse a nonce (RFC 8446 §5.3) */
	op_base(op, d, GCM_ENCRYPT);
	if (s->version == GCM_TLS13) {
		uint8_t *p = rec + GCM_TLS_HDR;
		size_t inner = len + 1;

		p[len] = ct;
		if (s->pad_to > 1) {
			size_t padded = (inner + s->pad_to - 1) / s->pad_to * s->pad_to;

			if (padded > GCM_TLS_MAX_PLAIN + 1)
				padded = GCM_TLS_MAX_PLAIN + 1;
			memset(p + inner, 0, padded - inner);
			inner = padded;
		}
		clen = inner + GCM_TAG_LEN;
		rec[0] = GCM_CT_APPDATA;
		nonce13(d, d->seq, op->iv);
		op->src = op->dst = p;
		op->len = (uint32_t)inner;
	} else {
		clen = GCM_TLS12_EXPLICIT + len + GCM_TAG_LEN;
		rec[0] = ct;
		put_be64(rec + GCM_TLS_HDR, d->seq);
		memcpy(op->iv, d->iv, 4);
		memcpy(op->iv + 4, rec + GCM_TLS_HDR, 8);
		op->src = op->dst = rec + GCM_TLS_HDR + GCM_TLS12_EXPLICIT;
		op->len = (uint32_t)len;
	}
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(clen >> 8);
	rec[4] = (uint8_t)clen;
	if (s->version == GCM_TLS13) {
		memcpy(op->aad, rec, GCM_TLS_HDR);
		op->aad_len = GCM_TLS_HDR;
	} else {
		aad12(op->aad, d->seq, ct, len);
		op->aad_len = 13;
	}
	d->seq++;
	s->stats.rec_out++;
	s->stats.bytes_out += len;
	return (int)(GCM_TLS_HDR + clen);
}

int gcm_reseal_read13(const struct gcm_sess *s, uint64_t seq, struct gcm_op *op, uint8_t *rec,
		      size_t len)
{
	const struct gcm_dir_state *d = &s->rd;
	size_t clen = len + 1 + GCM_TAG_LEN;

	if (s->version != GCM_TLS13 || len > GCM_TLS_MAX_PLAIN)
		return -EINVAL;
	op_base(op, d, GCM_ENCRYPT);
	rec[0] = GCM_CT_APPDATA;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(clen >> 8);
	rec[4] = (uint8_t)clen;
	rec[GCM_TLS_HDR + len] = GCM_CT_HANDSHAKE;
	nonce13(d, seq, op->iv);
	memcpy(op->aad, rec, GCM_TLS_HDR);
	op->aad_len = GCM_TLS_HDR;
	op->src = op->dst = rec + GCM_TLS_HDR;
	op->len = (uint32_t)(len + 1);
	return (int)(GCM_TLS_HDR + clen);
}

int gcm_seal_prep(struct gcm_sess *s, struct gcm_op *op, uint8_t ct, uint8_t *rec, size_t len)
{
	if (s->state == GCM_SESS_CLOSED || s->state == GCM_SESS_FAILED)
		return -EPIPE;
	return seal_any(s, op, ct, rec, len);
}

int gcm_alert_seal(struct gcm_sess *s, struct gcm_op *op, uint8_t *rec, uint8_t desc)
{
	uint8_t *p = rec + gcm_rec_hdr_len(s);
	int n;

	/* close_notify is a warning; every other alert we send ends the session (RFC 8446 §6) */
	p[0] = desc == GCM_ALERT_CLOSE_NOTIFY ? 1 : 2;
	p[1] = desc;
	n = seal_any(s, op, GCM_CT_ALERT, rec, 2);
	if (n > 0)
		gcm_sess_enter(s, desc == GCM_ALERT_CLOSE_NOTIFY && s->state != GCM_SESS_FAILED
					  ? GCM_SESS_CLOSED
					  : GCM_SESS_FAILED);
	return n;
}

void gcm_seal_finish(struct gcm_op *op)
{
	memcpy(op->dst + op->len, op->tag, GCM_TAG_LEN);
}

/* Marks s failed with alert a and returns rc. */
static int fail(struct gcm_sess *s, uint8_t a, int rc)
{
	if (s->state != GCM_SESS_FAILED) {
		s->alert_out = a;
		gcm_sess_enter(s, GCM_SESS_FAILED);
	}
	return rc;
}

int gcm_rec_frame(const struct gcm_sess *s, const uint8_t *buf, size_t len, uint8_t *alert)
{
	size_t clen, max;
	uint8_t t;

	if (len < GCM_TLS_HDR)
		return 0;
	t = buf[0];
	if (buf[1] != 3) {
		*alert = GCM_ALERT_PROTOCOL_VERSION;
		return -EPROTO;
	}
	/* 1.3 protects everything as application_data; a CCS or plaintext record after the
	 * handshake is unexpected. 1.2 carries real types; CCS after the handshake too. */
	if (s->version == GCM_TLS13 ? t != GCM_CT_APPDATA
				    : (t != GCM_CT_APPDATA && t != GCM_CT_ALERT &&
				       t != GCM_CT_HANDSHAKE)) {
		*alert = GCM_ALERT_UNEXPECTED_MESSAGE;
		return -EPROTO;
	}
	clen = (size_t)buf[3] << 8 | buf[4];
	max = s->version == GCM_TLS13 ? GCM_TLS13_MAX_CIPHER : GCM_TLS12_MAX_CIPHER;
	if (clen > max) {
		*alert = GCM_ALERT_RECORD_OVERFLOW;
		return -EMSGSIZE;
	}
	if (len < GCM_TLS_HDR + clen)
		return 0;
	return (int)(GCM_TLS_HDR + clen);
}

/* Prepares the decryption of rec under the current read key and sequence number. */
static int open_setup(struct gcm_sess *s, struct gcm_op *op, const uint8_t *rec, size_t rec_len,
		      uint8_t *out)
{
	struct gcm_dir_state *d = &s->rd;
	size_t clen = rec_len - GCM_TLS_HDR;

	op_base(op, d, GCM_DECRYPT);
	op->dst = out;
	if (s->version == GCM_TLS13) {
		if (clen < 1 + GCM_TAG_LEN)
			return fail(s, GCM_ALERT_BAD_RECORD_MAC, -EBADMSG);
		nonce13(d, d->seq, op->iv);
		memcpy(op->aad, rec, GCM_TLS_HDR);
		op->aad_len = GCM_TLS_HDR;
		op->src = rec + GCM_TLS_HDR;
		op->len = (uint32_t)(clen - GCM_TAG_LEN);
	} else {
		if (clen < GCM_TLS12_EXPLICIT + GCM_TAG_LEN)
			return fail(s, GCM_ALERT_BAD_RECORD_MAC, -EBADMSG);
		op->len = (uint32_t)(clen - GCM_TLS12_EXPLICIT - GCM_TAG_LEN);
		if (op->len > GCM_TLS_MAX_PLAIN)
			return fail(s, GCM_ALERT_RECORD_OVERFLOW, -EMSGSIZE);
		memcpy(op->iv, d->iv, 4);
		memcpy(op->iv + 4, rec + GCM_TLS_HDR, 8);
		aad12(op->aad, d->seq, rec[0], op->len);
		op->aad_len = 13;
		op->src = rec + GCM_TLS_HDR + GCM_TLS12_EXPLICIT;
	}
	d->seq++;
	return 0;
}

int gcm_open_prep(struct gcm_sess *s, struct gcm_op *op, const uint8_t *rec, size_t rec_len,
		  uint8_t *out)
{
	uint8_t alert = 0;
	int n;

	if (s->state == GCM_SESS_FAILED)
		return -EPIPE;
	n = gcm_rec_frame(s, rec, rec_len, &alert);
	if (n < 0)
		return fail(s, alert, n);
	if ((size_t)n != rec_len)
		return fail(s, GCM_ALERT_DECODE_ERROR, -EPROTO);
	return open_setup(s, op, rec, rec_len, out);
}

int gcm_open_reprep(struct gcm_sess *s, struct gcm_op *op)
{
	const uint8_t *rec = op->src - GCM_TLS_HDR;

	if (s->version != GCM_TLS13 || op->dst == op->src)
		return fail(s, GCM_ALERT_INTERNAL_ERROR, -EINVAL);
	return open_setup(s, op, rec, GCM_TLS_HDR + op->len + GCM_TAG_LEN, op->dst);
}

/* TLS 1.3 inner plaintext: content, then the type, then zero padding (RFC 8446 §5.4). */
static int inner_type(struct gcm_sess *s, const uint8_t *p, size_t *len, uint8_t *ct)
{
	size_t i = *len;

	while (i > 0 && p[i - 1] == 0)
		i--;
	if (i == 0)
		return fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
	*ct = p[i - 1];
	*len = i - 1;
	return 0;
}

int gcm_open_finish(struct gcm_sess *s, struct gcm_op *op, const uint8_t **pt, size_t *pt_len)
{
	size_t len = op->len;
	uint8_t ct;
	int rc;

	if (s->state == GCM_SESS_FAILED)
		return -EPIPE;
	if (op->status)
		return fail(s, GCM_ALERT_INTERNAL_ERROR, -EIO);
	if (op->gen != s->rd.gen)
		return GCM_EV_REOPEN;
	if (!gcm_tag_equal(op->tag, op->src + op->len)) {
		s->stats.bad_mac++;
		return fail(s, GCM_ALERT_BAD_RECORD_MAC, -EBADMSG);
	}
	if (s->version == GCM_TLS13) {
		rc = inner_type(s, op->dst, &len, &ct);
		if (rc)
			return rc;
	} else {
		ct = op->aad[8];
	}
	if (len > GCM_TLS_MAX_PLAIN)
		return fail(s, GCM_ALERT_RECORD_OVERFLOW, -EMSGSIZE);
	s->stats.rec_in++;
	if (ct == GCM_CT_APPDATA) {
		if (s->state == GCM_SESS_PEER_CLOSED)
			return fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
		s->stats.bytes_in += len;
		*pt = op->dst;
		*pt_len = len;
		return GCM_EV_DATA;
	}
	if (ct == GCM_CT_ALERT || ct == GCM_CT_HANDSHAKE)
		return gcm_post_input(s, ct, op->dst, len);
	return fail(s, GCM_ALERT_UNEXPECTED_MESSAGE, -EPROTO);
}
