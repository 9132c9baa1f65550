/* SPDX-License-Identifier: MIT */
/*
 * spool_record.h: the on-disk record format of the spool (private to dataplane/spool; the
 * fuzzer includes it too). A record is a 16-byte header and a payload:
 *   u32 magic "DSP1" | u32 len (payload bytes, tag included) | u8 type | u8 flags |
 *   u16 key id | u32 crc32c (over header bytes 0..11 and the payload)
 * Sealed records (flags & SPOOL_RF_SEALED) carry AES-256-GCM ciphertext followed by a 16-byte
 * tag; the AAD is header bytes 0..11 and the nonce is derived from where the record lives
 * (core, segment sequence, offset), which also binds a record to its position. All integers are
 * little-endian. Payload layouts are in docs/spool.md; decoders are bounds-checked and total.
 */
#ifndef DPMAIL_SPOOL_RECORD_H
#define DPMAIL_SPOOL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_REC_MAGIC   0x31505344u   /* "DSP1" */
#define SPOOL_REC_HDR     16u
#define SPOOL_REC_TAG     16u
#define SPOOL_REC_MAX     (16u << 20)   /* largest payload a decoder accepts */
#define SPOOL_RF_SEALED   0x01u
#define SPOOL_FORMAT      1u

enum spool_rec_type {
	SPOOL_REC_SEGHDR = 1, /* u32 format | u16 core | u32 seq | u64 created_us */
	SPOOL_REC_CHUNK,      /* u64 qid | u32 index | body bytes */
	SPOOL_REC_COMMIT,     /* see struct spool_commit_view */
	SPOOL_REC_OUTCOME,    /* u64 qid | u16 rcpt | u8 status | u16 len | reply */
	SPOOL_REC_RETRY,      /* reserved (retry state travels in STATE); skipped by recovery */
	SPOOL_REC_STATE,      /* u64 qid | u64 next_attempt_us | u16 attempts | u16 nrcpt | u8 status[nrcpt] */
	SPOOL_REC__MAX
};

struct spool_rec_hdr {
	uint32_t magic;
	uint32_t len;
	uint8_t type;
	uint8_t flags;
	uint16_t key_id;
	uint32_t crc;
};

/* CRC32C (Castagnoli), SSE4.2 instruction when compiled for it, table fallback otherwise. */
uint32_t spool_crc32c(uint32_t crc, const void *data, size_t len);
/* Copies src[0..len) to dst (not overlapping) and returns spool_crc32c(crc, src, len): one pass. */
uint32_t spool_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);
/* The CRC32C of A followed by B, from crc1 = CRC32C(A), crc2 = CRC32C(B) and B's length, without
 * reading the bytes; spool_crc32c_combine(CRC32C(A), CRC32C(A || B), |B|) = CRC32C(B). */
uint32_t spool_crc32c_combine(uint32_t crc1, uint32_t crc2, uint32_t len2);

void spool_rec_hdr_put(uint8_t *p, const struct spool_rec_hdr *h);
void spool_rec_hdr_get(const uint8_t *p, struct spool_rec_hdr *h);
/* CRC of a whole record at rec (header + len payload bytes), skipping the crc field. */
uint32_t spool_rec_crc(const uint8_t *rec, uint32_t len);

/* Classification of the bytes at one offset of a segment image (recovery and the fuzzer). */
enum spool_rec_class {
	SPOOL_RC_OK = 0,      /* a whole record with a good CRC */
	SPOOL_RC_END,         /* end of data: no bytes left, or only zero bytes */
	SPOOL_RC_TORN,        /* an incomplete or bad record with nothing valid after it */
	SPOOL_RC_CORRUPT,     /* a bad record followed by more data: quarantine from here */
};
/* Classifies the record at buf[off..len) (a whole segment image from off on). On OK fills *h.
 * A bad record is TORN when no valid record starts anywhere after it (the unsynced tail of the
 * last write), CORRUPT otherwise. */
enum spool_rec_class spool_rec_classify(const uint8_t *buf, size_t len, size_t off,
					struct spool_rec_hdr *h);

/* Little-endian writer over a caller's buffer (bounds are the caller's: it sizes first). */
struct spool_wbuf {
	uint8_t *p;
	uint32_t len;
};
static inline void spool_put8(struct spool_wbuf *w, uint8_t v) { w->p[w->len++] = v; }
void spool_put16(struct spool_wbuf *w, uint16_t v);
void spool_put32(struct spool_wbuf *w, uint32_t v);
void spool_put64(struct spool_wbuf *w, uint64_t v);
void spool_putmem(struct spool_wbuf *w, const void *d, uint32_t n);

/* Bounds-checked reader: any overrun sets bad and yields zeros. */
struct spool_rbuf {
	const uint8_t *p;
	uint32_t len;
	uint32_t off;
	bool bad;
};
uint8_t spool_get8(struct spool_rbuf *r);
uint16_t spool_get16(struct spool_rbuf *r);
uint32_t spool_get32(struct spool_rbuf *r);
uint64_t spool_get64(struct spool_rbuf *r);
const uint8_t *spool_getmem(struct spool_rbuf *r, uint32_t n);

/*
 * The envelope blob, stored in commit records and kept as is in memory:
 *   u64 arrival_us | u32 snapshot | u8 ret | u8 family | u16 port | u8 ip[16] |
 *   u16 envid_len envid | u16 sender_len sender | u16 nrcpt |
 *   nrcpt x (u8 notify | u16 addr_len addr | u16 orcpt_len orcpt) |
 *   optional extensions, each u8 type | u16 len | value (enum spool_envx), to the end
 * A blob without extensions is the original (2026-11) format and still reads as such: no flags,
 * no tenant. Extensions are written only when non-empty; unknown types are skipped.
 */
#define SPOOL_ENV_FIXED 32u
enum spool_envx {
	SPOOL_ENVX_FLAGS = 1,         /* u32 enum spool_msg_flag */
	SPOOL_ENVX_TENANT = 2,        /* bytes: the accepting client entry's name */
};
struct spool_envelope;
uint32_t spool_env_size(const struct spool_envelope *e);
void spool_env_encode(struct spool_wbuf *w, const struct spool_envelope *e);
/* Validates a blob; returns nrcpt or -EBADMSG. */
int spool_env_check(const uint8_t *p, uint32_t len);
/* The extension `type` of a valid blob (value and length), or false when absent. */
bool spool_env_ext(const uint8_t *p, uint32_t len, uint8_t type, const uint8_t **val, uint16_t *vlen);

/*
 * Commit payload: u64 qid | u32 env_len | env | u32 prefix_len | prefix | u64 body_len |
 * u32 body_crc | u32 nchunks | nchunks x (u32 seq | u32 off | u32 reclen) | tail bytes.
 * body_len counts chunk data plus the tail; body_crc is CRC32C of the body without the prefix.
 */
struct spool_chunk_ref {
	uint32_t seq;
	uint32_t off;
	uint32_t reclen;              /* whole record: header + payload */
};
struct spool_commit_view {
	uint64_t qid;
	const uint8_t *env;
	uint32_t env_len;
	int nrcpt;
	const uint8_t *prefix;
	uint32_t prefix_len;
	uint64_t body_len;
	uint32_t body_crc;
	uint32_t nchunks;
	const uint8_t *chunks;        /* nchunks x 12 bytes; spool_commit_chunk() decodes one */
	const uint8_t *tail;
	uint32_t tail_len;
};
int spool_commit_decode(const uint8_t *p, uint32_t len, struct spool_commit_view *v);
void spool_commit_chunk(const struct spool_commit_view *v, uint32_t i, struct spool_chunk_ref *out);

#endif
