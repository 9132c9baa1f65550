/* SPDX-License-Identifier: MIT */
/*
 * acct.c: the accounting writer: worker records (binary, on SPSC rings) to JSON lines, with
 * size/signal rotation, retention and per-field pseudonymisation (see acct.h).
 */
#include "acct/acct-int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/audit.h"
#include "ctl/ring.h"
#include "fmt.h"
#include "log.h"

/* Binary record: this header, then for each field a uint16_t length and its bytes. */
struct rec_hdr {
	uint8_t type;
	int8_t tls_verified;
	uint16_t attempt;
	uint32_t size;
	uint64_t snapshot_version;
	uint64_t now_us;
	uint64_t accepted_us;
};

#define REC_MAX 8192

static const char *const type_names[CTL_ACCT_TYPE__MAX] = {
	[CTL_ACCT_RECEIVED] = "received", [CTL_ACCT_DELIVERED] = "delivered",
	[CTL_ACCT_DEFERRED] = "deferred", [CTL_ACCT_BOUNCED] = "bounced",
	[CTL_ACCT_EXPIRED] = "expired", [CTL_ACCT_ADMIN] = "admin", [CTL_ACCT_ERASED] = "erased",
};

static const char *const field_names[CTL_ACCT_FIELD__MAX] = {
	"qid", "sender", "recipient", "destination", "remote_host", "reply", "tls_version",
	"tls_cipher", "dkim_domains", "client", "auth_user", "tls_policy",
};

const char *ctl_acct_type_str(enum ctl_acct_type t)
{
	return (unsigned)t < CTL_ACCT_TYPE__MAX && type_names[t] ? type_names[t] : "unknown";
}

const char *ctl_acct_field_str(enum ctl_acct_field f)
{
	return (unsigned)f < CTL_ACCT_FIELD__MAX ? field_names[f] : "unknown";
}

void ctl_acct_opts_defaults(struct ctl_acct_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_bytes = 64u << 20;
	o->retention_s = 30u * 86400u;
	o->nslots = 1;
	o->ring_bytes = 1u << 20;
}

/* ---- worker side -------------------------------------------------------------------------- */

int ctl_acct_emit(struct ctl_acct *a, unsigned slot, const struct ctl_acct_event *ev)
{
	uint8_t buf[REC_MAX];
	struct rec_hdr h = { ev->type, ev->tls_verified, ev->attempt, ev->size, ev->snapshot_version,
			     ev->now_us, ev->accepted_us };
	if (slot >= a->o.nslots)
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	size_t off = sizeof(h);
	for (int f = 0; f < CTL_ACCT_FIELD__MAX; f++) {
		uint16_t len = ev->f[f].p ? ev->f[f].len : 0;
		if (off + 2 + len > sizeof(buf))
			len = (uint16_t)(sizeof(buf) - off - 2); /* truncate an oversized reply */
		memcpy(buf + off, &len, 2);
		if (len)
			memcpy(buf + off + 2, ev->f[f].p, len);
		off += 2u + len;
	}
	return ctl_ring_put(a->rings[slot], buf, off);
}

/* ---- formatting --------------------------------------------------------------------------- */

void ctl_acct_pseudonym(const struct ctl_acct *a, const char *value, size_t len, char out[35])
{
	unsigned char folded[1024], inner[32], mac[32];
	unsigned n = 0;
	if (len > sizeof(folded))
		len = sizeof(folded);
	for (size_t i = 0; i < len; i++)
		folded[i] = (unsigned char)tolower((unsigned char)value[i]);
	EVP_MD_CTX_copy_ex(a->work, a->hmac_in);
	EVP_DigestUpdate(a->work, folded, len);
	EVP_DigestFinal_ex(a->work, inner, &n);
	EVP_MD_CTX_copy_ex(a->work, a->hmac_out);
	EVP_DigestUpdate(a->work, inner, sizeof(inner));
	EVP_DigestFinal_ex(a->work, mac, &n);
	out[0] = 'h';
	out[1] = ':';
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 + 2 * i] = hex[mac[i] >> 4];
		out[3 + 2 * i] = hex[mac[i] & 15];
	}
	out[34] = '\0';
}

/* "2026-11-29T02:15:08.123Z" into buf (at least 25 bytes, NUL-terminated): once or twice per
 * accounted message, so the date and time part comes from a per-thread cache (fmt.h). */
static void iso_time(uint64_t wall_us, char buf[25])
{
	static __thread struct fmt_iso_cache cache = FMT_ISO_CACHE_INIT;
	fmt_iso_ms(buf, (time_t)(wall_us / 1000000u), (unsigned)(wall_us % 1000000u / 1000u), &cache);
	buf[FMT_ISO_MS_LEN] = '\0';
}

/* Appends a NUL-terminated string. */
static void put_str(struct ctl_buf *b, const char *z)
{
	ctl_buf_append(b, z, strlen(z));
}

/* Appends v in decimal. */
static void put_u64(struct ctl_buf *b, uint64_t v)
{
	char d[20];
	ctl_buf_append(b, d, fmt_u64(d, v));
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0xc2 ? 0 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : p[0] < 0xf5 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0; /* overlong, surrogate, above U+10FFFF */
	return len;
}

/*
 * Appends (p, len) as a JSON string. Worker data is untrusted: control characters are
 * escaped, NUL and bytes that are not valid UTF-8 become '?', so every line parses.
 */
static void json_str(struct ctl_buf *b, const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	ctl_buf_append(b, "\"", 1);
	size_t run = 0; /* bytes copied verbatim in one append */
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : utf8_len(s + i, len - i);
		if (c >= 0x20 && c != '"' && c != '\\' && n) {
			i += n;
			run += n;
			continue;
		}
		ctl_buf_append(b, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\')
			ctl_buf_printf(b, "\\%c", c);
		else if (c == 0)
			ctl_buf_append(b, "?", 1); /* \u0000 is legal JSON but breaks most readers */
		else if (c < 0x20)
			ctl_buf_printf(b, "\\u%04x", c);
		else
			ctl_buf_append(b, "?", 1);
		i++;
	}
	ctl_buf_append(b, s + len - run, run);
	ctl_buf_append(b, "\"", 1);
}

static void json_key(struct ctl_buf *b, const char *key)
{
	ctl_buf_append(b, ",\"", 2);
	put_str(b, key);
	ctl_buf_append(b, "\":", 2);
}

/* One field's value: pseudonym, DKIM domain list, or the string itself. */
static void field_value(struct ctl_acct *a, struct ctl_buf *b, int f, const char *p, size_t l)
{
	if (a->o.pseudo_fields & CTL_ACCT_PSEUDO(f)) {
		char ps[35];
		ctl_acct_pseudonym(a, p, l, ps);
		ctl_buf_append(b, "\"", 1);
		put_str(b, ps);
		ctl_buf_append(b, "\"", 1);
	} else if (f == CTL_ACCT_DKIM_DOMAINS) {
		ctl_buf_append(b, "[", 1);
		int k = 0;
		for (const char *x = p, *e = p + l; x < e;) {
			const char *c = memchr(x, ',', (size_t)(e - x));
			size_t n = (size_t)((c ? c : e) - x);
			if (n) {
				if (k++)
					ctl_buf_append(b, ",", 1);
				json_str(b, x, n);
			}
			x += n + 1;
		}
		ctl_buf_append(b, "]", 1);
	} else {
		json_str(b, p, l);
	}
}

/* Formats one binary record as a JSON line into a->out. Returns 0 or -EINVAL (truncated). */
static int record_format(struct ctl_acct *a, const uint8_t *buf, size_t len, unsigned slot,
			 int64_t wall_offset)
{
	struct rec_hdr h;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	struct ctl_buf *b = &a->out;
	char ts[25];
	/* appended piece by piece, no printf: this runs once per accounted event */
	iso_time((uint64_t)((int64_t)h.now_us + wall_offset), ts);
	put_str(b, "{\"ts\":\"");
	put_str(b, ts);
	put_str(b, "\",\"event\":\"");
	put_str(b, ctl_acct_type_str((enum ctl_acct_type)h.type));
	put_str(b, "\",\"snapshot\":");
	put_u64(b, h.snapshot_version);
	put_str(b, ",\"core\":");
	put_u64(b, slot);
	/* tls_version, tls_cipher and tls_policy go into one "tls" object */
	const char *tls[3] = { NULL, NULL, NULL };
	size_t tlslen[3] = { 0, 0, 0 };
	size_t off = sizeof(h);
	for (int f = 0; f < CTL_ACCT_FIELD__MAX && off + 2 <= len; f++) {
		uint16_t l;
		memcpy(&l, buf + off, 2);
		off += 2;
		if (off + l > len)
			break;
		const char *p = (const char *)buf + off;
		off += l;
		if (!l)
			continue;
		if (f == CTL_ACCT_TLS_VERSION || f == CTL_ACCT_TLS_CIPHER || f == CTL_ACCT_TLS_POLICY) {
			int i = f == CTL_ACCT_TLS_VERSION ? 0 : f == CTL_ACCT_TLS_CIPHER ? 1 : 2;
			tls[i] = p;
			tlslen[i] = l;
			continue;
		}
		json_key(b, field_names[f]);
		field_value(a, b, f, p, l);
	}
	if (tls[0] || tls[1] || tls[2] || h.tls_verified >= 0) {
		static const char *const tls_keys[3] = { "version", "cipher", "policy" };
		ctl_buf_append(b, ",\"tls\":{", 8);
		int k = 0;
		for (int i = 0; i < 3; i++)
			if (tls[i]) {
				put_str(b, k++ ? ",\"" : "\"");
				put_str(b, tls_keys[i]);
				put_str(b, "\":");
				json_str(b, tls[i], tlslen[i]);
			}
		if (h.tls_verified >= 0) {
			put_str(b, k ? ",\"verified\":" : "\"verified\":");
			put_str(b, h.tls_verified ? "true" : "false");
		}
		ctl_buf_append(b, "}", 1);
	}
	if (h.accepted_us) {
		iso_time((uint64_t)((int64_t)h.accepted_us + wall_offset), ts);
		put_str(b, ",\"accepted\":\"");
		put_str(b, ts);
		put_str(b, "\"");
		if (h.now_us >= h.accepted_us) {
			put_str(b, ",\"latency_ms\":");
			put_u64(b, (h.now_us - h.accepted_us) / 1000u);
		}
	}
	if (h.attempt) {
		put_str(b, ",\"attempt\":");
		put_u64(b, h.attempt);
	}
	if (h.size) {
		put_str(b, ",\"size\":");
		put_u64(b, h.size);
	}
	ctl_buf_append(b, "}\n", 2);
	return 0;
}

/* ---- files -------------------------------------------------------------------------------- */

int ctl_acct_reopen(struct ctl_acct *a)
{
	int fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
	struct stat st;
	a->bytes = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int ctl_acct_rotated_name(const char *path, char *out, size_t outlen)
{
	size_t n = strlen(path);
	size_t stem = n > 6 && strcmp(path + n - 6, ".jsonl") == 0 ? n - 6 : n;
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	for (int seq = 0; seq < 1000; seq++) {
		int w = snprintf(out, outlen, "%.*s-%04d%02d%02dT%02d%02d%02d.%03ldZ%s%.0d.jsonl",
				 (int)stem, path, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
				 seq ? "-" : "", seq);
		if (w < 0 || (size_t)w >= outlen)
			return -ENAMETOOLONG;
		if (access(out, F_OK) != 0)
			return 0;
	}
	return -EEXIST;
}

int ctl_acct_rotate(struct ctl_acct *a)
{
	char to[4096];
	int rc = ctl_acct_rotated_name(a->path, to, sizeof(to));
	if (rc == 0 && a->bytes == 0)
		return 0; /* nothing to rotate */
	if (rc == 0 && rename(a->path, to) < 0)
		rc = -errno;
	if (rc == 0)
		rc = ctl_acct_reopen(a);
	if (rc < 0)
		log_err("acct rotate failed path=%s err=%s", a->path, strerror(-rc));
	else
		log_info("acct rotated to=%s", to);
	return rc;
}

int ctl_acct_flush(struct ctl_acct *a)
{
	size_t off = 0;
	int rc = 0;
	while (off < a->out.len) {
		ssize_t w = write(a->fd, a->out.data + off, a->out.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			a->write_errors++;
			log_err("acct write failed path=%s err=%s dropped_bytes=%zu", a->path,
				strerror(-rc), a->out.len - off);
			break;
		}
		off += (size_t)w;
	}
	a->bytes += off;
	ctl_buf_reset(&a->out);
	if (a->o.max_bytes && a->bytes >= a->o.max_bytes)
		ctl_acct_rotate(a);
	return rc;
}

int ctl_acct_write_json(struct ctl_acct *a, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	ctl_buf_append(&a->out, s, strlen(s));
	ctl_buf_append(&a->out, "\n", 1);
	free(s);
	if (ctl_buf_failed(&a->out)) {
		ctl_buf_reset(&a->out);
		return -ENOMEM;
	}
	a->written++;
	/* a batch never spans a rotation: the size check runs after each flush */
	if (a->out.len >= 65536 || (a->o.max_bytes && a->bytes + a->out.len >= a->o.max_bytes))
		return ctl_acct_flush(a);
	return 0;
}

unsigned ctl_acct_poll(struct ctl_acct *a, uint64_t now_us)
{
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	int64_t off = ((int64_t)rt.tv_sec - mt.tv_sec) * 1000000 + (rt.tv_nsec - mt.tv_nsec) / 1000;
	unsigned n = 0;
	(void)now_us;
	for (unsigned s = 0; s < a->o.nslots; s++) {
		const uint8_t *r;
		size_t len;
		while ((r = ctl_ring_peek(a->rings[s], &len))) {
			if (record_format(a, r, len, s, off) == 0) {
				n++;
				a->written++;
			}
			ctl_ring_pop(a->rings[s]);
			if (a->out.len >= 65536 || (a->o.max_bytes && a->bytes + a->out.len >= a->o.max_bytes))
				ctl_acct_flush(a);
		}
	}
	if (a->out.len)
		ctl_acct_flush(a);
	return n;
}

void ctl_acct_admin(struct ctl_acct *a, json_t *audit_record)
{
	if (ctl_acct_write_json(a, audit_record) == 0)
		ctl_acct_flush(a);
}

static bool rotated_file(const char *name)
{
	size_t n = strlen(name);
	return n > 6 && strcmp(name + n - 6, ".jsonl") == 0 &&
	       (strncmp(name, "acct-", 5) == 0 || strncmp(name, "audit-", 6) == 0);
}

int ctl_acct_sweep(struct ctl_acct *a)
{
	if (!a->o.retention_s)
		return 0;
	DIR *d = opendir(a->dir);
	if (!d)
		return -errno;
	time_t cutoff = time(NULL) - (time_t)a->o.retention_s;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!rotated_file(e->d_name) || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    st.st_mtime >= cutoff)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			removed++;
			log_info("acct retention removed=%s/%s", a->dir, e->d_name);
		}
	}
	closedir(d);
	return removed;
}

/* Absorbs the key into the inner and outer HMAC states (RFC 2104). 0 or -ENOMEM. */
static int hmac_init(struct ctl_acct *a)
{
	unsigned char pad[64];
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	a->hmac_in = EVP_MD_CTX_new();
	a->hmac_out = EVP_MD_CTX_new();
	a->work = EVP_MD_CTX_new();
	int ok = md && a->hmac_in && a->hmac_out && a->work;
	for (int outer = 0; ok && outer < 2; outer++) {
		memset(pad, outer ? 0x5c : 0x36, sizeof(pad));
		for (size_t i = 0; i < sizeof(a->o.key); i++)
			pad[i] ^= a->o.key[i];
		EVP_MD_CTX *c = outer ? a->hmac_out : a->hmac_in;
		ok = EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, pad, sizeof(pad));
	}
	OPENSSL_cleanse(pad, sizeof(pad));
	EVP_MD_free(md);
	return ok ? 0 : -ENOMEM;
}

uint64_t ctl_acct_drops(const struct ctl_acct *a)
{
	uint64_t n = 0;
	for (unsigned s = 0; s < a->o.nslots; s++)
		n += ctl_ring_drops(a->rings[s]);
	return n;
}

struct ctl_acct *ctl_acct_new(const struct ctl_acct_opts *o, int *err)
{
	struct ctl_acct *a = calloc(1, sizeof(*a));
	if (!a) {
		*err = -ENOMEM;
		return NULL;
	}
	a->o = *o;
	a->fd = -1;
	*err = -ENOMEM;
	a->dir = strdup(o->dir);
	a->rings = calloc(o->nslots ? o->nslots : 1, sizeof(*a->rings));
	if (!a->dir || !a->rings || asprintf(&a->path, "%s/acct.jsonl", o->dir) < 0) {
		a->path = NULL;
		goto err;
	}
	for (unsigned s = 0; s < o->nslots; s++)
		if (!(a->rings[s] = ctl_ring_new(o->ring_bytes)))
			goto err;
	if (hmac_init(a) < 0)
		goto err;
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		*err = -errno;
		goto err;
	}
	if ((*err = ctl_acct_reopen(a)) < 0)
		goto err;
	return a;
err:
	log_err("acct open failed dir=%s err=%s", o->dir, strerror(-*err));
	ctl_acct_free(a);
	return NULL;
}

void ctl_acct_free(struct ctl_acct *a)
{
	if (!a)
		return;
	if (a->fd >= 0) {
		ctl_acct_poll(a, 0);
		close(a->fd);
	}
	ctl_buf_free(&a->out);
	EVP_MD_CTX_free(a->hmac_in);
	EVP_MD_CTX_free(a->hmac_out);
	EVP_MD_CTX_free(a->work);
	for (unsigned s = 0; a->rings && s < a->o.nslots; s++)
		ctl_ring_free(a->rings[s]);
	free(a->rings);
	free(a->path);
	free(a->dir);
	free(a->audit_path);
	free(a);
}
