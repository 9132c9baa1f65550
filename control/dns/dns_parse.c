/* SPDX-License-Identifier: MIT */
/* dns_parse.c: libunbound results to immutable cache answers (see dns_parse.h). */
#include "dns/dns_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

/* Uncompressed wire name at rd[0..len) to "mx1.example.org"; returns bytes used or -EINVAL. */
static int dname_text(const uint8_t *rd, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;
	for (;;) {
		if (i >= len)
			return -EINVAL;
		uint8_t l = rd[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return -EINVAL;
		if (o)
			out[o++] = '.';
		for (uint8_t k = 0; k < l; k++) {
			unsigned char c = rd[i + k];
			/* hostnames only: anything else cannot be an MX target we connect to */
			if (!isalnum(c) && c != '-' && c != '_')
				return -EINVAL;
			out[o++] = (char)tolower(c);
		}
		i += l;
	}
	if (o >= outlen)
		return -EINVAL;
	out[o] = '\0';
	return (int)i;
}

int ctl_dns_parse_mx(const uint8_t *rd, size_t len, uint16_t *pref, char *host, size_t hostlen)
{
	if (len < 3)
		return -EINVAL;
	*pref = (uint16_t)(rd[0] << 8 | rd[1]);
	int used = dname_text(rd + 2, len - 2, host, hostlen);
	return used < 0 || (size_t)used + 2 != len ? -EINVAL : 0;
}

static enum ctl_dns_status result_status(int err, const struct ub_result *res)
{
	if (err || !res)
		return CTL_DNS_SERVFAIL;
	if (res->bogus)
		return CTL_DNS_BOGUS;
	if (res->rcode == 3)
		return CTL_DNS_NXDOMAIN;
	if (res->rcode != 0)
		return CTL_DNS_SERVFAIL;
	return res->havedata ? CTL_DNS_OK : CTL_DNS_NODATA;
}

static uint32_t ttl_for(enum ctl_dns_status st, int ttl, const struct ctl_dns_opts *o)
{
	uint32_t t = ttl > 0 ? (uint32_t)ttl : 0;
	switch (st) {
	case CTL_DNS_OK: return t < o->max_ttl_s ? (t ? t : 1) : o->max_ttl_s;
	case CTL_DNS_NODATA:
	case CTL_DNS_NXDOMAIN: return t && t < o->neg_ttl_max_s ? t : o->neg_ttl_max_s;
	default: return o->fail_ttl_s;
	}
}

static struct ctl_dns_answer *answer_alloc(const char *name, uint16_t qtype, size_t extra)
{
	struct ctl_dns_answer *a = calloc(1, sizeof(*a) + extra);
	if (!a)
		return NULL;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->qtype = qtype;
	return a;
}

struct ctl_dns_answer *ctl_dns_answer_fail(const char *name, uint16_t qtype,
					   enum ctl_dns_status st, const struct ctl_dns_opts *o,
					   uint64_t now_us)
{
	struct ctl_dns_answer *a = answer_alloc(name, qtype, 0);
	if (!a)
		return NULL;
	a->status = st;
	a->rcode = st == CTL_DNS_SERVFAIL ? 2 : -1;
	a->ttl = o->fail_ttl_s;
	a->expires_us = now_us + (uint64_t)a->ttl * 1000000u;
	return a;
}

static int mx_cmp(const void *x, const void *y)
{
	const struct ctl_dns_mx *a = x, *b = y;
	return a->pref != b->pref ? (a->pref < b->pref ? -1 : 1) : (a->host < b->host ? -1 : 1);
}

/* Fills the MX array; strings go after it in the same allocation. */
static void fill_mx(struct ctl_dns_answer *a, const struct ub_result *res, char *strings)
{
	struct ctl_dns_mx *mx = (struct ctl_dns_mx *)(a + 1);
	a->rr.mx = mx;
	for (int i = 0; res->data[i]; i++) {
		uint16_t pref;
		if (ctl_dns_parse_mx((const uint8_t *)res->data[i], (size_t)res->len[i], &pref, strings,
				     CTL_DNS_NAME_MAX) < 0)
			continue;
		mx[a->n].pref = pref;
		mx[a->n++].host = strings;
		strings += strlen(strings) + 1;
	}
	/* ties keep answer order: hosts were laid out in answer order, so pointer order is it */
	qsort(mx, a->n, sizeof(*mx), mx_cmp);
	a->null_mx = a->n == 1 && mx[0].pref == 0 && mx[0].host[0] == '\0';
}

static void fill_addr_tlsa(struct ctl_dns_answer *a, const struct ub_result *res, uint8_t *blob)
{
	for (int i = 0; res->data[i]; i++) {
		size_t len = (size_t)res->len[i];
		const uint8_t *rd = (const uint8_t *)res->data[i];
		if (a->qtype == CTL_DNS_A && len == 4) {
			memcpy(&((struct in_addr *)blob)[a->n++], rd, 4);
		} else if (a->qtype == CTL_DNS_AAAA && len == 16) {
			memcpy(&((struct in6_addr *)blob)[a->n++], rd, 16);
		} else if (a->qtype == CTL_DNS_TLSA && len > 3) {
			struct ctl_dns_tlsa *t = &a->rr.tlsa[a->n++];
			t->usage = rd[0];
			t->selector = rd[1];
			t->mtype = rd[2];
			t->len = (uint16_t)(len - 3);
			memcpy(blob, rd + 3, len - 3);
			t->data = blob;
			blob += len - 3;
		}
	}
}

/* TXT rdata is a run of <length><bytes> character-strings: each record becomes their
 * concatenation, NUL-terminated, in blob (at most rdata length bytes + 1 per record). */
static void fill_txt(struct ctl_dns_answer *a, const struct ub_result *res, char *blob)
{
	a->rr.txt = (struct ctl_dns_txt *)(a + 1);
	for (int i = 0; res->data[i]; i++) {
		const uint8_t *rd = (const uint8_t *)res->data[i];
		size_t len = (size_t)res->len[i], k = 0, o = 0;
		while (k < len) {
			size_t l = rd[k++];
			if (l > len - k)
				break;   /* truncated string: keep what was whole */
			memcpy(blob + o, rd + k, l);
			o += l;
			k += l;
		}
		blob[o] = '\0';
		a->rr.txt[a->n++] = (struct ctl_dns_txt){ (uint16_t)o, blob };
		blob += o + 1;
	}
}

struct ctl_dns_answer *ctl_dns_answer_build(const char *name, uint16_t qtype, int err,
					    const struct ub_result *res,
					    const struct ctl_dns_opts *o, uint64_t now_us)
{
	enum ctl_dns_status st = result_status(err, res);
	size_t nrec = 0, bytes = 0;
	if (st == CTL_DNS_OK)
		for (; res->data[nrec]; nrec++)
			bytes += (size_t)res->len[nrec];
	size_t arr = qtype == CTL_DNS_MX ? sizeof(struct ctl_dns_mx) :
		     qtype == CTL_DNS_TLSA ? sizeof(struct ctl_dns_tlsa) :
		     qtype == CTL_DNS_TXT ? sizeof(struct ctl_dns_txt) : sizeof(struct in6_addr);
	/* MX hosts take at most rdata length + 1 bytes as text; addresses fit in arr */
	size_t extra = nrec * arr + bytes + nrec + 16;
	struct ctl_dns_answer *a = answer_alloc(name, qtype, extra);
	if (!a)
		return NULL;
	a->status = st;
	a->rcode = res ? res->rcode : 2;
	a->secure = res && res->secure && !res->bogus;
	a->ttl = ttl_for(st, res ? res->ttl : 0, o);
	a->expires_us = now_us + (uint64_t)a->ttl * 1000000u;
	if (st != CTL_DNS_OK)
		return a;
	if (qtype == CTL_DNS_MX) {
		fill_mx(a, res, (char *)(a + 1) + nrec * arr);
	} else if (qtype == CTL_DNS_TXT) {
		fill_txt(a, res, (char *)(a + 1) + nrec * arr);
	} else if (qtype == CTL_DNS_TLSA) {
		a->rr.tlsa = (struct ctl_dns_tlsa *)(a + 1);
		fill_addr_tlsa(a, res, (uint8_t *)(a + 1) + nrec * arr);
	} else {
		a->rr.a = (struct in_addr *)(a + 1);
		fill_addr_tlsa(a, res, (uint8_t *)(a + 1));
	}
	return a;
}
