/* SPDX-License-Identifier: MIT */
/*
 * dlv_route.c: static route lookup, MX ordering with null-MX and self detection, rollup keys.
 */
#include "deliver/dlv_route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct dlv_route *dlv_route_find(const struct dlv_route *routes, unsigned n, const char *domain)
{
	const struct dlv_route *best = NULL, *star = NULL;
	size_t best_len = 0, dlen = strlen(domain);
	for (unsigned i = 0; i < n; i++) {
		const char *d = routes[i].domain;
		if (strcmp(d, "*") == 0) {
			star = &routes[i];
			continue;
		}
		if (d[0] != '.') {
			if (strcasecmp(d, domain) == 0)
				return &routes[i];
			continue;
		}
		/* ".parent" matches strict subdomains; the longest parent wins. */
		size_t l = strlen(d);
		if (dlen > l && strcasecmp(domain + dlen - l, d) == 0 && l > best_len) {
			best = &routes[i];
			best_len = l;
		}
	}
	return best ? best : star;
}

static int is_null_host(const char *h)
{
	return h == NULL || h[0] == 0 || strcmp(h, ".") == 0;
}

/* Host names compare without case and without a trailing dot. */
static int host_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static int is_self(const char *h, const char *const *self, unsigned nself)
{
	for (unsigned i = 0; i < nself; i++)
		if (host_eq(h, self[i]))
			return 1;
	return 0;
}

/* xorshift32: the shuffle needs spread, not secrecy. */
static uint32_t next_rnd(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void sort_and_shuffle(struct dlv_hops *out, uint32_t rnd)
{
	/* Insertion sort by preference (n <= DLV_MX_MAX), then Fisher-Yates within equal runs. */
	for (unsigned i = 1; i < out->n; i++)
		for (unsigned j = i; j > 0 && out->pref[j - 1] > out->pref[j]; j--) {
			uint16_t p = out->pref[j]; out->pref[j] = out->pref[j - 1]; out->pref[j - 1] = p;
			const char *h = out->host[j]; out->host[j] = out->host[j - 1]; out->host[j - 1] = h;
		}
	for (unsigned lo = 0; lo < out->n;) {
		unsigned hi = lo;
		while (hi < out->n && out->pref[hi] == out->pref[lo])
			hi++;
		for (unsigned i = hi - 1; i > lo; i--) {
			unsigned j = lo + next_rnd(&rnd) % (i - lo + 1);
			const char *h = out->host[i]; out->host[i] = out->host[j]; out->host[j] = h;
		}
		lo = hi;
	}
}

void dlv_mx_order(const struct dlv_mx_rr *rrs, unsigned n, const char *const *self_names,
		  unsigned nself, uint32_t rnd, struct dlv_hops *out)
{
	out->n = 0;
	out->verdict = DLV_MX_NONE;
	if (n == 1 && rrs[0].pref == 0 && is_null_host(rrs[0].host)) {
		out->verdict = DLV_MX_NULL;
		return;
	}
	for (unsigned i = 0; i < n && out->n < DLV_MX_MAX; i++) {
		if (is_null_host(rrs[i].host))
			continue; /* a "." among real MX records is ignored */
		int dup = 0;
		for (unsigned j = 0; j < out->n && !dup; j++)
			dup = host_eq(out->host[j], rrs[i].host);
		if (dup)
			continue;
		out->host[out->n] = rrs[i].host;
		out->pref[out->n] = rrs[i].pref;
		out->n++;
	}
	if (out->n == 0)
		return;
	sort_and_shuffle(out, rnd);
	/* If we are listed, drop ourselves and every host of our preference or worse. */
	for (unsigned i = 0; i < out->n; i++) {
		if (!is_self(out->host[i], self_names, nself))
			continue;
		uint16_t mine = out->pref[i];
		unsigned k = 0;
		while (k < out->n && out->pref[k] < mine)
			k++;
		out->n = k;
		break;
	}
	out->verdict = out->n ? DLV_MX_OK : DLV_MX_SELF;
}

static int cmp_host(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

int dlv_rollup_key(const struct dlv_hops *hops, char *buf, size_t len)
{
	const char *best[DLV_MX_MAX];
	unsigned k = 0;
	for (unsigned i = 0; i < hops->n && hops->pref[i] == hops->pref[0]; i++)
		best[k++] = hops->host[i];
	qsort(best, k, sizeof(best[0]), cmp_host);
	size_t off = 0;
	for (unsigned i = 0; i < k; i++) {
		size_t l = strlen(best[i]);
		if (l && best[i][l - 1] == '.')
			l--;
		if (off + l + (i ? 1 : 0) + 1 > len)
			return -1;
		if (i)
			buf[off++] = ',';
		for (size_t j = 0; j < l; j++) {
			char c = best[i][j];
			buf[off++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
	}
	if (off + 1 > len)
		return -1;
	buf[off] = 0;
	return (int)off;
}
