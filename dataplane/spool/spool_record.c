/* SPDX-License-Identifier: MIT */
/*
 * spool_record.c: encoding and checking of spool records (format in spool_record.h): CRC32C,
 * record headers, the classification used by recovery (ok / end / torn / corrupt), the
 * little-endian cursor helpers and the envelope and commit payload codecs. Decoders never trust
 * a length: every read is bounds-checked, so recovery can parse untrusted disk bytes.
 */
#include "spool/spool_record.h"

#include <errno.h>
#include <string.h>
#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif
#if defined(__PCLMUL__)
#include <wmmintrin.h>
#endif

#include "spool/spool-t.h"

#define CRC32C_POLY 0x82F63B78u /* reflected */

/* a * b mod P, reflected (bit 31 is x^0) */
static uint32_t crc_mulmod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;
	for (uint32_t m = 1u << 31; m; m >>= 1) {
		if (a & m)
			p ^= b;
		b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

/* a * b * x^32 mod P. With PCLMUL: the carry-less product (63 bits; shifted left once it is a
 * 64-bit reflected polynomial) reduced by the crc32 instruction, which computes v * x^32 mod P:
 * three instructions instead of a 32-step loop. Values are therefore kept scaled by x^-32 (see
 * crc_shift: the scale cancels). */
#if defined(__PCLMUL__) && defined(__SSE4_2__)
static uint32_t crc_mulx32(uint32_t a, uint32_t b)
{
	__m128i p = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)a), _mm_cvtsi32_si128((int)b), 0);
	return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(p) << 1);
}
#else
static uint32_t crc_mulx32(uint32_t a, uint32_t b)
{
	return crc_mulmod(crc_mulmod(a, b), 0x82f63b78u /* x^32 */);
}
#endif

/* x^(8 * 2^k - 32) mod P for k = 0..30 (reflected); x^(8 * 2^31) = x^8, so k wraps at 31.
 * CRC_ONE is x^-32 mod P, the scaled 1. tests/unit/spool/spool_record_test.c checks the
 * combination against the bytewise CRC at every table entry. */
#define CRC_ONE 0xd610d67eu
static const uint32_t crc_shift8[31] = {
	0xdd36fbfcu, 0xbef0965eu, 0x80000000u, 0x82f63b78u, 0xa66805ebu, 0x5d27e147u,
	0x4f256efcu, 0x069db049u, 0x5cf015c3u, 0x6ebf1d86u, 0x0b803b7du, 0xd07b8be2u,
	0xc38a7543u, 0x2a543193u, 0x0ee201e6u, 0xaf85baadu, 0x62809d1bu, 0xd4e35816u,
	0xcf5531acu, 0xb6b0b548u, 0x7b578a73u, 0x5b7ff1c3u, 0xd97d9a55u, 0x23c58698u,
	0xa8900a0au, 0x3d908177u, 0xc7baed8fu, 0xd15d7d3fu, 0x6b086b3fu, 0xb7720ee7u,
	0xee51a57du,
};

/* CRC(A || B) from CRC(A), CRC(B) and |B|: CRC(A) * x^(8|B|) ^ CRC(B) (the pre- and
 * post-conditioning cancel out). One multiplication per set bit of len2, plus one (a few
 * instructions each with PCLMUL). The same XOR gives CRC(B) back from CRC(A) and CRC(A || B). */
uint32_t spool_crc32c_combine(uint32_t crc1, uint32_t crc2, uint32_t len2)
{
	uint32_t x = CRC_ONE; /* x^(8 * len2 - 32) when done */
	for (unsigned k = 0; len2; k++, len2 >>= 1)
		if (len2 & 1)
			x = crc_mulx32(x, crc_shift8[k % 31]);
	return crc_mulx32(crc1, x) ^ crc2;
}

#if defined(__SSE4_2__)
/* CRC32C with the SSE4.2 instruction. One crc32 chain is bound by the instruction's latency
 * (8 bytes per 3 cycles); long inputs run three independent chains over three consecutive
 * lanes instead (the throughput: 8 bytes a cycle) and join them: in the raw (unconditioned)
 * register, continuing over n more bytes is crc(0, more) ^ crc * x^(8n) mod P, a carry-less
 * multiplication by a constant. The body of a message passes through here once, at append. */

/* x^(8n) mod P for the lane sizes (tests/unit/spool/spool_record_test.c checks them) */
static const struct crc_lane { uint32_t len, k1, k2; } crc_lanes[2] = {
	{ 2048, 0x0d65762au, 0x35d73a62u }, /* k1 = x^(8*2048), k2 = x^(8*4096) */
	{ 256, 0x88e56f72u, 0x74c360a4u },  /* k1 = x^(8*256), k2 = x^(8*512) */
};

/* The loops below take an optional destination: with d != NULL every 8 bytes loaded for the CRC
 * are also stored there (spool_crc32c_copy: one pass over the data instead of memcpy + CRC; the
 * stores go to other ports than the crc32 instruction that bounds the loop). always_inline
 * with a constant NULL removes the stores from plain spool_crc32c. */
#define CRC_INLINE static inline __attribute__((always_inline))

CRC_INLINE uint64_t crc_lanes3(uint64_t c, const uint8_t **pp, uint8_t **dd, size_t *len,
			       const struct crc_lane *l)
{
	const uint8_t *p = *pp;
	uint8_t *d = *dd;
	while (*len >= 3 * (size_t)l->len) {
		uint64_t c1 = 0, c2 = 0;
		for (uint32_t i = 0; i < l->len; i += 8) {
			uint64_t v0, v1, v2;
			memcpy(&v0, p + i, 8);
			memcpy(&v1, p + l->len + i, 8);
			memcpy(&v2, p + 2 * l->len + i, 8);
			c = _mm_crc32_u64(c, v0);
			c1 = _mm_crc32_u64(c1, v1);
			c2 = _mm_crc32_u64(c2, v2);
			if (d) {
				memcpy(d + i, &v0, 8);
				memcpy(d + l->len + i, &v1, 8);
				memcpy(d + 2 * l->len + i, &v2, 8);
			}
		}
		c = crc_mulmod((uint32_t)c, l->k2) ^ crc_mulmod((uint32_t)c1, l->k1) ^ (uint32_t)c2;
		p += 3 * l->len;
		if (d)
			d += 3 * l->len;
		*len -= 3 * (size_t)l->len;
	}
	*pp = p;
	*dd = d;
	return c;
}

CRC_INLINE uint32_t crc_run(uint32_t crc, const uint8_t *p, uint8_t *d, size_t len)
{
	uint64_t c = ~crc;
	for (unsigned i = 0; i < 2; i++)
		c = crc_lanes3(c, &p, &d, &len, &crc_lanes[i]);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		if (d) {
			memcpy(d, &v, 8);
			d += 8;
		}
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--) {
		if (d)
			*d++ = *p;
		c32 = _mm_crc32_u8(c32, *p++);
	}
	return ~c32;
}

uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len)
{
	return crc_run(crc, data, NULL, len);
}

uint32_t spool_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	return crc_run(crc, src, dst, len);
}
#else
/* Bitwise fallback (fuzzer and odd targets only; the relay is built with SSE4.2). */
uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;
	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
	}
	return ~c;
}

uint32_t spool_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	return spool_crc32c(crc, dst, len);
}
#endif

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

void spool_rec_hdr_put(uint8_t *p, const struct spool_rec_hdr *h)
{
	le32(p, h->magic);
	le32(p + 4, h->len);
	p[8] = h->type;
	p[9] = h->flags;
	p[10] = (uint8_t)h->key_id;
	p[11] = (uint8_t)(h->key_id >> 8);
	le32(p + 12, h->crc);
}

void spool_rec_hdr_get(const uint8_t *p, struct spool_rec_hdr *h)
{
	h->magic = rd32(p);
	h->len = rd32(p + 4);
	h->type = p[8];
	h->flags = p[9];
	h->key_id = (uint16_t)(p[10] | p[11] << 8);
	h->crc = rd32(p + 12);
}

uint32_t spool_rec_crc(const uint8_t *rec, uint32_t len)
{
	uint32_t c = spool_crc32c(0, rec, 12);
	return spool_crc32c(c, rec + SPOOL_REC_HDR, len);
}

/* A whole valid record at off (magic, sane type and length, inside the image, CRC good). */
static bool rec_valid_at(const uint8_t *buf, size_t len, size_t off, struct spool_rec_hdr *h)
{
	if (len - off < SPOOL_REC_HDR)
		return false;
	spool_rec_hdr_get(buf + off, h);
	if (h->magic != SPOOL_REC_MAGIC || h->type == 0 || h->type >= SPOOL_REC__MAX ||
	    h->len > SPOOL_REC_MAX || h->len > len - off - SPOOL_REC_HDR)
		return false;
	return spool_rec_crc(buf + off, h->len) == h->crc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

enum spool_rec_class spool_rec_classify(const uint8_t *buf, size_t len, size_t off,
					struct spool_rec_hdr *h)
{
	if (off >= len || all_zero(buf + off, len - off))
		return SPOOL_RC_END;
	if (rec_valid_at(buf, len, off, h))
		return SPOOL_RC_OK;
	/* Bad record: is anything valid after it? Candidates are magic matches only. */
	struct spool_rec_hdr h2;
	for (size_t p = off + 1; p + SPOOL_REC_HDR <= len; p++) {
		if (buf[p] != (SPOOL_REC_MAGIC & 0xff) || rd32(buf + p) != SPOOL_REC_MAGIC)
			continue;
		if (rec_valid_at(buf, len, p, &h2))
			return SPOOL_RC_CORRUPT;
	}
	return SPOOL_RC_TORN;
}

void spool_put16(struct spool_wbuf *w, uint16_t v)
{
	w->p[w->len] = (uint8_t)v;
	w->p[w->len + 1] = (uint8_t)(v >> 8);
	w->len += 2;
}

void spool_put32(struct spool_wbuf *w, uint32_t v)
{
	le32(w->p + w->len, v);
	w->len += 4;
}

void spool_put64(struct spool_wbuf *w, uint64_t v)
{
	spool_put32(w, (uint32_t)v);
	spool_put32(w, (uint32_t)(v >> 32));
}

void spool_putmem(struct spool_wbuf *w, const void *d, uint32_t n)
{
	if (n)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

const uint8_t *spool_getmem(struct spool_rbuf *r, uint32_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t spool_get8(struct spool_rbuf *r)
{
	const uint8_t *p = spool_getmem(r, 1);
	return p ? p[0] : 0;
}

uint16_t spool_get16(struct spool_rbuf *r)
{
	const uint8_t *p = spool_getmem(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t spool_get32(struct spool_rbuf *r)
{
	const uint8_t *p = spool_getmem(r, 4);
	return p ? rd32(p) : 0;
}

uint64_t spool_get64(struct spool_rbuf *r)
{
	uint64_t lo = spool_get32(r);
	return lo | (uint64_t)spool_get32(r) << 32;
}

uint32_t spool_env_size(const struct spool_envelope *e)
{
	uint32_t n = SPOOL_ENV_FIXED + 2u + e->envid.len + 2u + e->sender.len + 2u;
	for (uint16_t i = 0; i < e->nrcpt; i++)
		n += 5u + e->rcpts[i].addr.len + e->rcpts[i].orcpt.len;
	if (e->flags)
		n += 3u + 4u;
	if (e->tenant.len)
		n += 3u + e->tenant.len;
	return n;
}

void spool_env_encode(struct spool_wbuf *w, const struct spool_envelope *e)
{
	spool_put64(w, e->arrival_us);
	spool_put32(w, e->snapshot);
	spool_put8(w, e->ret);
	spool_put8(w, e->client.family);
	spool_put16(w, e->client.port);
	uint8_t ip[16] = { 0 };
	memcpy(ip, &e->client.ip, sizeof(e->client.ip) < 16 ? sizeof(e->client.ip) : 16);
	spool_putmem(w, ip, 16);
	spool_put16(w, e->envid.len);
	spool_putmem(w, e->envid.p, e->envid.len);
	spool_put16(w, e->sender.len);
	spool_putmem(w, e->sender.p, e->sender.len);
	spool_put16(w, e->nrcpt);
	for (uint16_t i = 0; i < e->nrcpt; i++) {
		const struct spool_rcpt *r = &e->rcpts[i];
		spool_put8(w, r->notify);
		spool_put16(w, r->addr.len);
		spool_putmem(w, r->addr.p, r->addr.len);
		spool_put16(w, r->orcpt.len);
		spool_putmem(w, r->orcpt.p, r->orcpt.len);
	}
	if (e->flags) {
		spool_put8(w, SPOOL_ENVX_FLAGS);
		spool_put16(w, 4);
		spool_put32(w, e->flags);
	}
	if (e->tenant.len) {
		spool_put8(w, SPOOL_ENVX_TENANT);
		spool_put16(w, e->tenant.len);
		spool_putmem(w, e->tenant.p, e->tenant.len);
	}
}

/* Positions r after the recipients of a blob; returns nrcpt (r->bad on overrun). */
static uint16_t env_skip_rcpts(struct spool_rbuf *r)
{
	spool_getmem(r, SPOOL_ENV_FIXED);
	spool_getmem(r, spool_get16(r));
	spool_getmem(r, spool_get16(r));
	uint16_t n = spool_get16(r);
	for (uint16_t i = 0; i < n && !r->bad; i++) {
		spool_get8(r);
		uint16_t alen = spool_get16(r);
		if (alen == 0)
			r->bad = true;  /* an empty recipient address is never accepted */
		spool_getmem(r, alen);
		spool_getmem(r, spool_get16(r));
	}
	return n;
}

bool spool_env_ext(const uint8_t *p, uint32_t len, uint8_t type, const uint8_t **val, uint16_t *vlen)
{
	struct spool_rbuf r = { .p = p, .len = len };
	env_skip_rcpts(&r);
	while (!r.bad && r.off < len) {
		uint8_t t = spool_get8(&r);
		uint16_t l = spool_get16(&r);
		const uint8_t *v = spool_getmem(&r, l);
		if (!r.bad && t == type) {
			*val = v;
			*vlen = l;
			return true;
		}
	}
	return false;
}

int spool_env_check(const uint8_t *p, uint32_t len)
{
	struct spool_rbuf r = { .p = p, .len = len };
	uint16_t n = env_skip_rcpts(&r);
	while (!r.bad && r.off < len) {   /* extensions: any type, bounded lengths */
		spool_get8(&r);
		spool_getmem(&r, spool_get16(&r));
	}
	if (r.bad || r.off != len || n == 0)
		return -EBADMSG;
	return n;
}

int spool_commit_decode(const uint8_t *p, uint32_t len, struct spool_commit_view *v)
{
	struct spool_rbuf r = { .p = p, .len = len };
	memset(v, 0, sizeof(*v));
	v->qid = spool_get64(&r);
	v->env_len = spool_get32(&r);
	v->env = spool_getmem(&r, v->env_len);
	v->prefix_len = spool_get32(&r);
	v->prefix = spool_getmem(&r, v->prefix_len);
	v->body_len = spool_get64(&r);
	v->body_crc = spool_get32(&r);
	v->nchunks = spool_get32(&r);
	if (r.bad || v->nchunks > (len - r.off) / 12u)
		return -EBADMSG;
	v->chunks = spool_getmem(&r, v->nchunks * 12u);
	if (r.bad)
		return -EBADMSG;
	v->tail = p + r.off;
	v->tail_len = len - r.off;
	if (v->tail_len > v->body_len)
		return -EBADMSG;
	v->nrcpt = spool_env_check(v->env, v->env_len);
	return v->nrcpt < 0 ? -EBADMSG : 0;
}

void spool_commit_chunk(const struct spool_commit_view *v, uint32_t i, struct spool_chunk_ref *out)
{
	const uint8_t *c = v->chunks + (size_t)i * 12u;
	out->seq = rd32(c);
	out->off = rd32(c + 4);
	out->reclen = rd32(c + 8);
}
