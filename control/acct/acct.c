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
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/audit.h"
#include "ctl/ring.h"
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
	"tls_cipher", "dkim_domains", "client", "auth_user",
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
	unsigned char folded[1024], mac[32];
	unsigned maclen = 0;
	if (len > sizeof(folded))
		len = sizeof(folded);
	for (size_t i = 0; i < len; i++)
		folded[i] = (unsigned char)tolower((unsigned char)value[i]);
	HMAC(EVP_sha256(), a->o.key, sizeof(a->o.key), folded, len, mac, &maclen);
	out[0] = 'h';
	out[1] = ':';
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", mac[i]);
}

static void iso_time(uint64_t wall_us, char *buf, size_t len)
{
	time_t s = (time_t)(wall_us / 1000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_us % 1000000u / 1000u));
}

/* A JSON string of (p, len) that never fails on bad UTF-8 (worker data is untrusted): bytes
 * of an invalid sequence become '?'. */
static json_t *jstr(const char *p, size_t len)
{
	json_t *s = json_stringn(p, len);
	if (s)
		return s;
	char *tmp = malloc(len + 1);
	if (!tmp)
		return json_null();
	for (size_t i = 0; i < len; i++)
		tmp[i] = (unsigned char)p[i] < 0x80 && p[i] ? p[i] : '?';
	s = json_stringn(tmp, len);
	free(tmp);
	return s ? s : json_null();
}

static json_t *record_json(struct ctl_acct *a, const uint8_t *buf, size_t len, unsigned slot,
			   int64_t wall_offset)
{
	struct rec_hdr h;
	if (len < sizeof(h))
		return NULL;
	memcpy(&h, buf, sizeof(h));
	char ts[64];
	iso_time((uint64_t)((int64_t)h.now_us + wall_offset), ts, sizeof(ts));
	json_t *o = json_pack("{s:s,s:s,s:I,s:i}", "ts", ts, "event",
			      ctl_acct_type_str((enum ctl_acct_type)h.type), "snapshot",
			      (json_int_t)h.snapshot_version, "core", (int)slot);
	size_t off = sizeof(h);
	json_t *tls = json_object();
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
		json_t *v;
		if (a->o.pseudo_fields & CTL_ACCT_PSEUDO(f)) {
			char ps[35];
			ctl_acct_pseudonym(a, p, l, ps);
			v = json_stringn(ps, 34);
		} else if (f == CTL_ACCT_DKIM_DOMAINS) {
			v = json_array();
			for (const char *s = p, *e = p + l; s < e;) {
				const char *c = memchr(s, ',', (size_t)(e - s));
				size_t n = (size_t)((c ? c : e) - s);
				if (n)
					json_array_append_new(v, jstr(s, n));
				s += n + 1;
			}
		} else {
			v = jstr(p, l);
		}
		if (f == CTL_ACCT_TLS_VERSION || f == CTL_ACCT_TLS_CIPHER)
			json_object_set_new(tls, f == CTL_ACCT_TLS_VERSION ? "version" : "cipher", v);
		else
			json_object_set_new(o, field_names[f], v);
	}
	if (h.tls_verified >= 0)
		json_object_set_new(tls, "verified", json_boolean(h.tls_verified));
	if (json_object_size(tls))
		json_object_set_new(o, "tls", tls);
	else
		json_decref(tls);
	if (h.accepted_us) {
		iso_time((uint64_t)((int64_t)h.accepted_us + wall_offset), ts, sizeof(ts));
		json_object_set_new(o, "accepted", json_string(ts));
		if (h.now_us >= h.accepted_us)
			json_object_set_new(o, "latency_ms",
					    json_integer((json_int_t)((h.now_us - h.accepted_us) / 1000u)));
	}
	if (h.attempt)
		json_object_set_new(o, "attempt", json_integer(h.attempt));
	if (h.size)
		json_object_set_new(o, "size", json_integer(h.size));
	return o;
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

int ctl_acct_write_json(struct ctl_acct *a, json_t *rec)
{
	char *s = json_dumps(rec, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	s[n] = '\n'; /* one write() per line: a line is never interleaved or split by rotation */
	ssize_t w = write(a->fd, s, n + 1);
	free(s);
	if (w != (ssize_t)(n + 1)) {
		a->write_errors++;
		return w < 0 ? -errno : -EIO;
	}
	a->bytes += n + 1;
	a->written++;
	if (a->o.max_bytes && a->bytes >= a->o.max_bytes)
		ctl_acct_rotate(a);
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
			json_t *j = record_json(a, r, len, s, off);
			ctl_ring_pop(a->rings[s]);
			if (j && ctl_acct_write_json(a, j) == 0)
				n++;
			json_decref(j);
		}
	}
	return n;
}

void ctl_acct_admin(struct ctl_acct *a, json_t *audit_record)
{
	ctl_acct_write_json(a, audit_record);
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
	for (unsigned s = 0; a->rings && s < a->o.nslots; s++)
		ctl_ring_free(a->rings[s]);
	free(a->rings);
	free(a->path);
	free(a->dir);
	free(a->audit_path);
	free(a);
}
