/* SPDX-License-Identifier: MIT */
/*
 * rly_snap.c: builds the relay's runtime objects for a configuration snapshot, on the control
 * thread: the relay policy (client networks, AUTH users' domains), the TLS server context and
 * the DKIM keyring. Everything is immutable once published and released by the snapshot's
 * destructor after the RCU grace period that retires it, so a worker never sees a half-built
 * or freed object and never waits.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_params_relay.h"
#include "dkim/dkim.h"
#include "log.h"
#include "relay/rly_lcore.h"
#include "snapshot/cfg_builders.h"
#include "snapshot/snapshot.h"
#include "tls/tls.h"

void rly_snap_release(void *obj)
{
	struct rly_snap *rs = obj;
	if (!rs)
		return;
	if (rs->pol.tls)
		tls_server_ctx_free(rs->pol.tls);
	if (rs->keyring)
		dkim_keyring_free(rs->keyring);
	free(rs->clients);
	free(rs);
}

/* rsa or ed25519, from the key file itself (the config names only the file). */
static int key_alg(const char *file, enum dkim_alg *alg, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "dkim key %s: %s", file, strerror(errno));
		return -1;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		/* dkimpy-style raw base64 seed files are Ed25519 (RFC 8463). */
		*alg = DKIM_ALG_ED25519_SHA256;
		return 0;
	}
	*alg = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? DKIM_ALG_ED25519_SHA256
							    : DKIM_ALG_RSA_SHA256;
	EVP_PKEY_free(k);
	return 0;
}

static int build_keyring(struct rly_snap *rs, const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->dkim.keys;
	if (l->n == 0)
		return 0;
	struct dkim_key_conf *kc = calloc(l->n, sizeof(*kc));
	if (!kc)
		return snprintf(err, errlen, "out of memory"), -1;
	int rc = -1;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cfg_dkim_key *k = cfg_list_at(&cfg_dkim_key_list, l, i);
		kc[i] = (struct dkim_key_conf){ .domain = k->domain, .selector = k->selector,
						.key_file = k->key };
		if (key_alg(k->key, &kc[i].alg, err, errlen) < 0)
			goto out;
	}
	struct dkim_keyring_conf krc = {
		.keys = kc, .n_keys = l->n,
		.operator_domain = c->dkim.operator_domain[0] ? c->dkim.operator_domain : NULL,
	};
	rs->keyring = dkim_keyring_build(&krc, err, errlen);
	rc = rs->keyring ? 0 : -1;
out:
	free(kc);
	return rc;
}

static int build_tls(struct rly_snap *rs, const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->tls.certificates;
	if (l->n == 0)
		return 0;
	struct tls_identity ids[8];
	unsigned n_ids = 1;           /* ids[0]: the default identity */
	memset(ids, 0, sizeof(ids));
	/* Certificates without SNI names form the default identity (ECDSA and RSA together, the
	 * client's offer picks); each certificate with names is an identity of its own. */
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cfg_cert *ce = cfg_list_at(&cfg_cert_list, l, i);
		struct tls_identity *id = ce->names.n == 0 ? &ids[0] : n_ids < 8 ? &ids[n_ids++] : NULL;
		if (!id || id->n_certs == TLS_MAX_CERTS)
			return snprintf(err, errlen, "tls.certificates: too many certificates"), -1;
		id->certs[id->n_certs++] = (struct tls_certkey){ ce->cert, ce->key };
	}
	struct tls_ctx_cfg tc;
	struct tls_ticket_key tk;
	tls_ctx_cfg_defaults(&tc);
	if (tls_ticket_key_generate(&tk) < 0)
		return snprintf(err, errlen, "tls: no randomness for ticket keys"), -1;
	unsigned first = ids[0].n_certs ? 0 : 1;
	rs->pol.tls = tls_server_ctx_new(&tc, ids + first, n_ids - first, &tk, 1, err, errlen);
	return rs->pol.tls ? 0 : -1;
}

static int build_clients(struct rly_snap *rs, const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->relay.clients;
	if (l->n == 0)
		return 0;
	rs->clients = calloc(l->n, sizeof(*rs->clients));
	if (!rs->clients)
		return snprintf(err, errlen, "out of memory"), -1;
	/* Strings and domain lists are borrowed from the snapshot's cfg, which outlives rs. */
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cfg_client *cc = cfg_list_at(&cfg_client_list, l, i);
		struct rly_client *cl = &rs->clients[i];
		cl->net = cc->network.ip.u.v4;
		cl->prefix_len = cc->network.len;
		cl->domains = cc->senders.n ? (const char *const *)cc->senders.v : NULL;
		cl->n_domains = cc->senders.n;
		cl->name = cc->name;
	}
	rs->pol.clients = rs->clients;
	rs->pol.n_clients = l->n;
	return 0;
}

void *rly_snap_build(const struct cfg_snapshot *s, char *err, size_t errlen)
{
	const struct cfg *c = s->cfg;
	struct rly_snap *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return snprintf(err, errlen, "out of memory"), NULL;
	if (c->smtp.hostname && c->smtp.hostname[0])
		snprintf(rs->hostname, sizeof(rs->hostname), "%s", c->smtp.hostname);
	else if (gethostname(rs->hostname, sizeof(rs->hostname) - 1) < 0)
		snprintf(rs->hostname, sizeof(rs->hostname), "localhost");
	rs->pol.hostname = rs->hostname;
	rs->pol.unsignable = c->dkim.unsignable == CFG_UNSIGNABLE_PASS ? RLY_UNSIGNABLE_PASS
									: RLY_UNSIGNABLE_REJECT;
	rs->pol.tls_handshake_timeout_us = (uint64_t)c->tls.handshake_timeout_ms * 1000;
	rs->pol.require_tls = c->smtp.require_tls;
	if (build_clients(rs, c, err, errlen) < 0 || build_tls(rs, c, err, errlen) < 0 ||
	    build_keyring(rs, c, err, errlen) < 0) {
		rly_snap_release(rs);
		return NULL;
	}
	rs->pol.keyring = rs->keyring;
	return rs;
}

const struct rly_policy *rly_snap_policy(const struct cfg_snapshot *s)
{
	const struct rly_snap *rs = cfg_snapshot_slot(s, CFG_SLOT_MTA);
	return rs ? &rs->pol : NULL;
}
