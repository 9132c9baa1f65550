/* SPDX-License-Identifier: MIT */
/*
 * tls_sess.c: the per-core client session cache. Outbound connections to the same destination
 * resume the last session (TLS 1.2 ticket or TLS 1.3 PSK) instead of a full handshake. The key
 * is the destination, the policy mode and a hash of the TLSA records, so a session established
 * without authentication is never resumed by a connection that requires it, and a TLSA change
 * forces a full, freshly authenticated handshake. Direct-mapped: a colliding destination
 * simply replaces the entry (a cache miss costs one full handshake, never correctness).
 */
#include "tls/tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int tls_sess_init(struct tls_core *core)
{
	unsigned n = core->cfg.session_cache_slots;
	if (n == 0)
		return 0;
	if (n & (n - 1))
		return -EINVAL;
	core->sess = calloc(n, sizeof(*core->sess));
	return core->sess ? 0 : -ENOMEM;
}

void tls_sess_fini(struct tls_core *core)
{
	for (unsigned i = 0; core->sess && i < core->cfg.session_cache_slots; i++)
		if (core->sess[i].sess)
			SSL_SESSION_free(core->sess[i].sess);
	free(core->sess);
	core->sess = NULL;
}

void tls_sess_key(char *buf, size_t len, const char *dest, const struct tls_policy *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int mode = p ? (int)p->mode : TLS_POLICY_OPPORTUNISTIC;
	for (unsigned i = 0; p && p->mode == TLS_POLICY_DANE && i < p->n_tlsa; i++) {
		const struct tls_tlsa *t = &p->tlsa[i];
		uint8_t hdr[3] = { t->usage, t->selector, t->mtype };
		h = fnv1a(h, hdr, sizeof(hdr));
		h = fnv1a(h, t->data, t->len);
	}
	if (p && p->mode == TLS_POLICY_MTA_STS)
		mode = mode * 4 + (int)p->sts_mode;
	if (p && p->requiretls)
		mode += 100;              /* verified sessions only: never share with opportunistic */
	snprintf(buf, len, "%s|%d|%016llx", dest ? dest : "", mode, (unsigned long long)h);
}

static struct tls_sess_ent *slot(struct tls_core *core, const char *key, uint64_t *hp)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, key, strlen(key));
	*hp = h;
	return &core->sess[h & (core->cfg.session_cache_slots - 1)];
}

SSL_SESSION *tls_sess_get(struct tls_core *core, const char *key, bool *verified, bool *dane)
{
	uint64_t h;
	struct tls_sess_ent *e;
	*verified = *dane = false;
	if (!core->sess || !key[0])
		return NULL;
	e = slot(core, key, &h);
	if (!e->sess || e->hash != h || strcmp(e->key, key) != 0 ||
	    !SSL_SESSION_is_resumable(e->sess)) {
		core->stats.sess_cache_misses++;
		return NULL;
	}
	core->stats.sess_cache_hits++;
	*verified = e->verified;
	*dane = e->dane;
	return e->sess;
}

void tls_sess_put(struct tls_core *core, const char *key, SSL_SESSION *sess, bool verified,
		  bool dane)
{
	uint64_t h;
	struct tls_sess_ent *e;
	if (!core->sess || !key[0] || strlen(key) >= sizeof(e->key)) {
		SSL_SESSION_free(sess);
		return;
	}
	e = slot(core, key, &h);
	if (e->sess)
		SSL_SESSION_free(e->sess);
	e->sess = sess;
	e->hash = h;
	e->verified = verified;
	e->dane = dane;
	snprintf(e->key, sizeof(e->key), "%s", key);
	core->stats.sess_cache_stores++;
}
