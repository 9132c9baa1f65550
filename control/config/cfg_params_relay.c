/* SPDX-License-Identifier: MIT */
/*
 * cfg_params_relay.c: the relay's configuration sections: who may relay (client networks,
 * AUTH users with crypt(3) hashes and their sender domains), listeners, TLS certificates,
 * DKIM keys, spool keys, routes, TLS and shaping policy per destination, the retry schedule
 * and limits. Lists of mappings are declared with item tables (cfg_list.h); cross-item checks
 * (duplicates, readable files, ordering of retry delays) are in the section validators.
 */
#include "config/cfg_params_relay.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/cfg.h"
#include "ctl/grammar.h"

#define F(field) offsetof(struct cfg, field)
#define I(type, field) offsetof(struct type, field)
#define LIST(desc_) { #desc_, cfg_##desc_##_parse, cfg_##desc_##_free }

static const char *const listen_tls[] = { "none", "starttls", "implicit", NULL };
static const char *const tls_modes[] = { "none", "may", "encrypt", "verify", "dane", "mta-sts", NULL };
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const unsignable_modes[] = { "reject", "pass", NULL };
static const char *const spool_dio_modes[] = { "auto", "on", "off", NULL }; /* enum spool_direct_io */
static const char *const chunking_modes[] = { "auto", "off", NULL };
static const char *const dkim_canons[] = { "relaxed/relaxed", "relaxed/simple", "simple/relaxed",
					   "simple/simple", NULL };

/* ---- item tables ---------------------------------------------------------------------------- */

static const struct cfg_item_key listener_keys[] = {
	{ "address", CFG_I_IPV4, I(cfg_listener, address), 0, 0, false, NULL, NULL },
	{ "port", CFG_I_U32, I(cfg_listener, port), 1, 65535, true, NULL, NULL },
	{ "tls", CFG_I_ENUM, I(cfg_listener, tls), 0, 0, false, "starttls", listen_tls },
	{ "auth", CFG_I_BOOL, I(cfg_listener, auth), 0, 0, false, "false", NULL },
};

static int listener_check(const void *item, char *why, size_t len)
{
	const struct cfg_listener *l = item;
	if (l->auth && l->tls == CFG_LISTEN_PLAIN)
		return snprintf(why, len, "auth needs tls: starttls or implicit (no passwords in clear)"), -1;
	return 0;
}

static const struct cfg_item_key client_keys[] = {
	{ "network", CFG_I_PREFIX, I(cfg_client, network), 0, 0, true, NULL, NULL },
	{ "senders", CFG_I_STRV, I(cfg_client, senders), 0, 0, false, NULL, NULL },
	{ "name", CFG_I_STR, I(cfg_client, name), 0, 64, false, "", NULL },
};

static int client_check(const void *item, char *why, size_t len)
{
	const struct cfg_client *e = item;
	if (e->network.len == 0)
		return snprintf(why, len, "network 0.0.0.0/0 would make an open relay: name the "
				"submission networks"), -1;
	uint32_t mask = htonl(~0u << (32 - e->network.len));
	if (e->network.ip.u.v4 & ~mask)
		return snprintf(why, len, "network has host bits set (did you mean the prefix of it?)"), -1;
	for (uint32_t i = 0; i < e->senders.n; i++)
		if (strcmp(e->senders.v[i], "*") != 0 && !ctl_domain_ok(e->senders.v[i]))
			return snprintf(why, len, "bad sender domain '%s'", e->senders.v[i]), -1;
	return 0;
}

static const struct cfg_item_key user_keys[] = {
	{ "name", CFG_I_STR, I(cfg_user, name), 0, 255, true, NULL, NULL },
	{ "password", CFG_I_STR, I(cfg_user, password), 0, 512, true, NULL, NULL },
	{ "senders", CFG_I_STRV, I(cfg_user, senders), 0, 0, true, NULL, NULL },
};

static int user_check(const void *item, char *why, size_t len)
{
	const struct cfg_user *u = item;
	const char *h = u->password;
	if (strncmp(h, "$y$", 3) != 0 && strncmp(h, "$6$", 3) != 0)
		return snprintf(why, len, "user '%s': password must be a yescrypt ($y$) or SHA-512-crypt "
				"($6$) hash, e.g. from mkpasswd -m yescrypt", u->name), -1;
	/* a complete hash: hashing anything with it as the setting gives a string as long */
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *t = cd && crypt_checksalt(h) == CRYPT_SALT_OK ? crypt_r("", h, cd) : NULL;
	bool ok = t && t[0] != '*' && strlen(t) == strlen(h);
	free(cd);
	if (!ok)
		return snprintf(why, len, "user '%s': malformed password hash", u->name), -1;
	for (uint32_t i = 0; i < u->senders.n; i++)
		if (strcmp(u->senders.v[i], "*") != 0 && !ctl_domain_ok(u->senders.v[i]))
			return snprintf(why, len, "user '%s': bad sender domain '%s'", u->name,
					u->senders.v[i]), -1;
	return 0;
}

static const struct cfg_item_key cert_keys[] = {
	{ "cert", CFG_I_STR, I(cfg_cert, cert), 0, 4095, true, NULL, NULL },
	{ "key", CFG_I_STR, I(cfg_cert, key), 0, 4095, true, NULL, NULL },
	{ "names", CFG_I_STRV, I(cfg_cert, names), 0, 0, false, NULL, NULL },
};

static int readable(const char *what, const char *path, char *why, size_t len)
{
	if (access(path, R_OK) == 0)
		return 0;
	return snprintf(why, len, "%s file '%s' is not readable", what, path), -1;
}

static int cert_check(const void *item, char *why, size_t len)
{
	const struct cfg_cert *c = item;
	return readable("cert", c->cert, why, len) < 0 ? -1 : readable("key", c->key, why, len);
}

static const struct cfg_item_key dkim_keys[] = {
	{ "domain", CFG_I_STR, I(cfg_dkim_key, domain), 0, 253, true, NULL, NULL },
	{ "selector", CFG_I_STR, I(cfg_dkim_key, selector), 0, 63, true, NULL, NULL },
	{ "key", CFG_I_STR, I(cfg_dkim_key, key), 0, 4095, true, NULL, NULL },
};

static int dkim_check(const void *item, char *why, size_t len)
{
	const struct cfg_dkim_key *k = item;
	if (!ctl_domain_ok(k->domain) || k->domain[0] == '[')
		return snprintf(why, len, "bad signing domain '%s'", k->domain), -1;
	for (const char *p = k->selector; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == '_'))
			return snprintf(why, len, "bad selector '%s'", k->selector), -1;
	return readable("DKIM key", k->key, why, len);
}

static const struct cfg_item_key spool_key_keys[] = {
	{ "id", CFG_I_U32, I(cfg_spool_key, id), 1, 65535, true, NULL, NULL },
	{ "file", CFG_I_STR, I(cfg_spool_key, file), 0, 4095, true, NULL, NULL },
};

static int spool_key_check(const void *item, char *why, size_t len)
{
	return readable("spool key", ((const struct cfg_spool_key *)item)->file, why, len);
}

static const struct cfg_item_key route_keys[] = {
	{ "domain", CFG_I_STR, I(cfg_route, domain), 0, 253, true, NULL, NULL },
	{ "hosts", CFG_I_STRV, I(cfg_route, hosts), 0, 0, true, NULL, NULL },
	{ "name", CFG_I_STR, I(cfg_route, name), 0, 64, false, "", NULL },
};

/* "host", "host:port", "[198.18.0.5]", "[198.18.0.5]:2525" */
static bool hop_ok(const char *h)
{
	char host[256];
	const char *colon = h[0] == '[' ? strchr(h, ']') : strrchr(h, ':');
	if (h[0] == '[' && !colon)
		return false;
	if (h[0] == '[')
		colon = colon[1] == ':' ? colon + 1 : (colon[1] ? NULL : colon + 1);
	else if (!colon)
		colon = h + strlen(h);
	if (!colon || (size_t)(colon - h) >= sizeof(host))
		return false;
	memcpy(host, h, (size_t)(colon - h));
	host[colon - h] = '\0';
	if (*colon == ':') {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (*end || port < 1 || port > 65535)
			return false;
	}
	return ctl_domain_ok(host);
}

static bool dest_ok(const char *d)
{
	if (strcmp(d, "*") == 0)
		return true;
	return ctl_domain_ok(d[0] == '.' ? d + 1 : d);
}

static int route_check(const void *item, char *why, size_t len)
{
	const struct cfg_route *r = item;
	if (!dest_ok(r->domain))
		return snprintf(why, len, "bad route domain '%s'", r->domain), -1;
	if (r->hosts.n == 0)
		return snprintf(why, len, "route '%s' has no hosts", r->domain), -1;
	for (uint32_t i = 0; i < r->hosts.n; i++)
		if (!hop_ok(r->hosts.v[i]))
			return snprintf(why, len, "route '%s': bad host '%s' (host, host:port or [ip]:port)",
					r->domain, r->hosts.v[i]), -1;
	return 0;
}

static const struct cfg_item_key tls_policy_keys[] = {
	{ "destination", CFG_I_STR, I(cfg_tls_policy, destination), 0, 253, true, NULL, NULL },
	{ "mode", CFG_I_ENUM, I(cfg_tls_policy, mode), 0, 0, true, NULL, tls_modes },
};

static int dest_check(const char *d, char *why, size_t len)
{
	return dest_ok(d) ? 0 : (snprintf(why, len, "bad destination '%s'", d), -1);
}

static int tls_policy_check(const void *item, char *why, size_t len)
{
	return dest_check(((const struct cfg_tls_policy *)item)->destination, why, len);
}

static const struct cfg_item_key shaping_keys[] = {
	{ "destination", CFG_I_STR, I(cfg_shaping, destination), 0, 253, true, NULL, NULL },
	{ "connections", CFG_I_U32, I(cfg_shaping, connections), 0, 100000, false, "0", NULL },
	{ "rate", CFG_I_U32, I(cfg_shaping, rate), 0, 10000000, false, "0", NULL },
	{ "burst", CFG_I_U32, I(cfg_shaping, burst), 0, 10000000, false, "0", NULL },
	{ "per_connection", CFG_I_U32, I(cfg_shaping, per_connection), 0, 1000000, false, "0", NULL },
};

static int shaping_check(const void *item, char *why, size_t len)
{
	return dest_check(((const struct cfg_shaping *)item)->destination, why, len);
}

static const struct cfg_item_key pool_keys[] = {
	{ "name", CFG_I_STR, I(cfg_pool, name), 1, 64, true, NULL, NULL },
	{ "addresses", CFG_I_STRV, I(cfg_pool, addresses), 0, 0, true, NULL, NULL },
	{ "tenants", CFG_I_STRV, I(cfg_pool, tenants), 0, 0, false, NULL, NULL },
	{ "senders", CFG_I_STRV, I(cfg_pool, senders), 0, 0, false, NULL, NULL },
	{ "default", CFG_I_BOOL, I(cfg_pool, is_default), 0, 0, false, "false", NULL },
};

/* "a.b.c.d" or "a.b.c.d helo.name" */
static bool pool_addr_ok(const char *a)
{
	char ip[16];
	const char *sp = strchr(a, ' ');
	size_t n = sp ? (size_t)(sp - a) : strlen(a);
	struct in_addr in;
	if (n >= sizeof(ip))
		return false;
	memcpy(ip, a, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &in) != 1 || in.s_addr == 0)
		return false;
	return !sp || ctl_domain_ok(sp + 1);
}

static int pool_check(const void *item, char *why, size_t len)
{
	const struct cfg_pool *p = item;
	if (p->addresses.n == 0 || p->addresses.n > 64)
		return snprintf(why, len, "pool '%s' needs 1..64 addresses", p->name), -1;
	for (uint32_t i = 0; i < p->addresses.n; i++)
		if (!pool_addr_ok(p->addresses.v[i]))
			return snprintf(why, len, "pool '%s': bad address '%s' (\"IPv4 [HELO name]\")",
					p->name, p->addresses.v[i]), -1;
	for (uint32_t i = 0; i < p->senders.n; i++)
		if (!ctl_domain_ok(p->senders.v[i]))
			return snprintf(why, len, "pool '%s': bad sender domain '%s'", p->name,
					p->senders.v[i]), -1;
	return 0;
}

static const struct cfg_item_key site_keys[] = {
	{ "name", CFG_I_STR, I(cfg_site, name), 1, 64, true, NULL, NULL },
	{ "mx", CFG_I_STRV, I(cfg_site, mx), 0, 0, true, NULL, NULL },
};

static int site_check(const void *item, char *why, size_t len)
{
	const struct cfg_site *st = item;
	if (!ctl_domain_ok(st->name))
		return snprintf(why, len, "bad site name '%s' (a domain-like name)", st->name), -1;
	if (st->mx.n == 0)
		return snprintf(why, len, "site '%s' has no mx patterns", st->name), -1;
	for (uint32_t i = 0; i < st->mx.n; i++) {
		const char *m = st->mx.v[i];
		if (!ctl_domain_ok(strncmp(m, "*.", 2) == 0 ? m + 2 : m))
			return snprintf(why, len, "site '%s': bad mx pattern '%s' (host or *.suffix)",
					st->name, m), -1;
	}
	return 0;
}

#define DESC(name_, what_, type_, keys_, check_) \
	const struct cfg_list_desc name_ = { what_, sizeof(struct type_), keys_, \
					     sizeof(keys_) / sizeof(keys_[0]), check_ }

DESC(cfg_listener_list, "listener", cfg_listener, listener_keys, listener_check);
DESC(cfg_client_list, "client", cfg_client, client_keys, client_check);
DESC(cfg_user_list, "user", cfg_user, user_keys, user_check);
DESC(cfg_cert_list, "certificate", cfg_cert, cert_keys, cert_check);
DESC(cfg_dkim_key_list, "DKIM key", cfg_dkim_key, dkim_keys, dkim_check);
DESC(cfg_spool_key_list, "spool key", cfg_spool_key, spool_key_keys, spool_key_check);
DESC(cfg_route_list, "route", cfg_route, route_keys, route_check);
DESC(cfg_tls_policy_list, "TLS policy", cfg_tls_policy, tls_policy_keys, tls_policy_check);
DESC(cfg_shaping_list, "shaping policy", cfg_shaping, shaping_keys, shaping_check);
DESC(cfg_pool_list, "source IP pool", cfg_pool, pool_keys, pool_check);
DESC(cfg_site_list, "site", cfg_site, site_keys, site_check);

/* CFG_T_CUSTOM glue: one parse/free pair per list. */
#define GLUE(name_)                                                                              \
	static int name_##_parse(yaml_document_t *doc, yaml_node_t *node, void *field, char *why, \
				 size_t len)                                                     \
	{                                                                                        \
		return cfg_list_parse(&cfg_##name_##_list, doc, node, field, why, len);          \
	}                                                                                        \
	static void name_##_free(void *field) { cfg_list_free(&cfg_##name_##_list, field); }     \
	static void name_##_dump(FILE *f, const void *field, int indent)                         \
	{                                                                                        \
		cfg_list_dump(&cfg_##name_##_list, field, f, indent);                            \
	}                                                                                        \
	static const struct cfg_custom name_##_type = { "list of " #name_ " mappings",           \
							name_##_parse, name_##_free, name_##_dump }

GLUE(listener);
GLUE(client);
GLUE(user);
GLUE(cert);
GLUE(dkim_key);
GLUE(spool_key);
GLUE(route);
GLUE(tls_policy);
GLUE(shaping);
GLUE(pool);
GLUE(site);

/* ---- parameters ------------------------------------------------------------------------------ */

const struct cfg_param cfg_smtp_params[] = {
	{ "listen", CFG_T_CUSTOM, "[]", 0, 0, F(smtp.listeners), 0, NULL, &listener_type,
	  "SMTP listeners: [{address (default: the port's), port (required), tls: none|starttls|"
	  "implicit (default starttls), auth: true|false (default false; needs TLS)}]." },
	{ "hostname", CFG_T_STR, "\"\"", 0, 253, F(smtp.hostname), 0, NULL, NULL,
	  "Name in the banner, EHLO and Received headers. Empty: the machine's host name." },
	{ "require_tls", CFG_T_BOOL, "false", 0, 0, F(smtp.require_tls), 0, NULL, NULL,
	  "Refuse MAIL before STARTTLS (530 5.7.0)." },
};

const struct cfg_param cfg_relay_params[] = {
	{ "clients", CFG_T_CUSTOM, "[]", 0, 0, F(relay.clients), 0, NULL, &client_type,
	  "Client networks allowed to relay without AUTH: [{network: a.b.c.d/len, senders: "
	  "[sender domains it may use; empty or absent: any], name: for logs}]." },
	{ "users", CFG_T_CUSTOM, "[]", 0, 0, F(relay.users), 0, NULL, &user_type,
	  "AUTH users allowed to relay: [{name, password: crypt(3) hash (yescrypt $y$ or "
	  "SHA-512-crypt $6$; e.g. mkpasswd -m yescrypt), senders: [sender domains, or \"*\"]}]." },
};

const struct cfg_param cfg_tls_params[] = {
	{ "certificates", CFG_T_CUSTOM, "[]", 0, 0, F(tls.certificates), 0, NULL, &cert_type,
	  "Server certificates: [{cert: PEM file, key: PEM file, names: [SNI names; empty: "
	  "the default certificate]}]." },
	{ "min_version", CFG_T_ENUM, "TLSv1.2", 0, 0, F(tls.min_version), 0, tls_versions, NULL,
	  "Lowest TLS version offered and accepted: TLSv1.2 or TLSv1.3." },
	{ "handshake_timeout_ms", CFG_T_U32, "10000", 100, 120000, F(tls.handshake_timeout_ms), 0,
	  NULL, NULL, "A TLS handshake not finished within this is abandoned, ms." },
	{ "batched_records", CFG_T_BOOL, "true", 0, 0, F(tls.batched_records), 0, NULL, NULL,
	  "Seal and open the AES-GCM records of established sessions in bursts with intel-ipsec-mb "
	  "(crypto/gcm) instead of OpenSSL's record layer; false keeps OpenSSL's." },
	{ "batch_across_sessions", CFG_T_BOOL, "false", 0, 0, F(tls.batch_across_sessions), 0, NULL,
	  NULL, "With batched_records: the records of all sessions of a core during a loop turn go "
	  "into one burst (copied, completed at the end of the turn) instead of one burst per "
	  "send or receive call. Measured slower on this hardware (docs/gcm.md); off by default." },
};

const struct cfg_param cfg_dkim_params[] = {
	{ "keys", CFG_T_CUSTOM, "[]", 0, 0, F(dkim.keys), 0, NULL, &dkim_key_type,
	  "DKIM signing keys: [{domain, selector, key: PEM private key file}]. Mail whose "
	  "From domain has a key is signed with it." },
	{ "operator_domain", CFG_T_STR, "\"\"", 0, 253, F(dkim.operator_domain), 0, NULL, NULL,
	  "Also sign every message with this domain's keys (a second signature), \"\" = off." },
	{ "unsignable", CFG_T_ENUM, "reject", 0, 0, F(dkim.unsignable), 0, unsignable_modes, NULL,
	  "A message with zero or several From: headers: reject (550 5.7.1 at end of data) or "
	  "pass (relayed unsigned, logged)." },
	{ "canonicalization", CFG_T_ENUM, "relaxed/relaxed", 0, 0, F(dkim.canonicalization), 0,
	  dkim_canons, NULL,
	  "DKIM header/body canonicalization (RFC 6376 3.4), as OpenDKIM's Canonicalization. "
	  "relaxed/simple hashes the body as it is (cheaper) but breaks on any whitespace change "
	  "in transit." },
};

const struct cfg_param cfg_spool_params[] = {
	{ "keys", CFG_T_CUSTOM, "[]", 0, 0, F(spool.keys), 0, NULL, &spool_key_type,
	  "Spool encryption keys: [{id: 1..65535, file: 32 raw bytes or 64 hex digits}]. The highest id "
	  "encrypts new data; older ids stay to read what they wrote." },
	{ "dir", CFG_T_STR, "\"/var/spool/dpmail\"", 1, 4095, F(spool.dir), 0, NULL, NULL,
	  "Spool directory; each worker keeps its own segment files there." },
	{ "encrypt", CFG_T_BOOL, "false", 0, 0, F(spool.encrypt), 0, NULL, NULL,
	  "Seal every record with AES-256-GCM under the highest spool key id (keys required)." },
	{ "segment_mb", CFG_T_U32, "64", 1, 4096, F(spool.segment_mb), 0, NULL, NULL,
	  "Size of one segment file, MiB." },
	{ "min_free_mb", CFG_T_U32, "256", 0, 1048576, F(spool.min_free_mb), 0, NULL, NULL,
	  "Free-space guard: below this much free space new mail is refused with 452 4.3.1, MiB." },
	{ "direct_io", CFG_T_ENUM, "auto", 0, 0, F(spool.direct_io), 0, spool_dio_modes, NULL,
	  "Segment writes with O_DIRECT into zero-filled segments, a commit being one durable "
	  "write (docs/spool.md). auto: where the filesystem supports direct I/O (ext4, xfs), "
	  "else buffered writes + fdatasync (tmpfs); on: required, start-up fails without it; "
	  "off: buffered writes + fdatasync." },
	{ "commit_delay_us", CFG_T_U32, "0", 0, 100000, F(spool.commit_delay_us), 0, NULL, NULL,
	  "Group commit window: the durable write of a loop turn's messages waits until this many "
	  "microseconds after the first of them (or 256 messages), so more messages share one "
	  "write and flush: less CPU per message at low rates, that much more latency before the "
	  "250. 0 = written at once." },
	{ "read_cache_mb", CFG_T_U32, "64", 0, 1024, F(spool.read_cache_mb), 0, NULL, NULL,
	  "Per worker: the buffers of the latest written batches kept in memory, so delivery reads "
	  "fresh mail without a disk read, MiB (the memory the buffers hold, about the records "
	  "plus a block each). Size it for the delivery backlog: at 8 MiB, 64 sessions of TLS + RSA DKIM "
	  "mail read 95% back from disk. 0 = every body read goes to the disk." },
};

const struct cfg_param cfg_delivery_params[] = {
	{ "routes", CFG_T_CUSTOM, "[]", 0, 0, F(delivery.routes), 0, NULL, &route_type,
	  "Static routes instead of MX: [{domain (example.com, .example.com for subdomains, or "
	  "*), hosts: [host, host:port, [ip]:port], name: shaping rollup name}]." },
	{ "tls_policy", CFG_T_CUSTOM, "[]", 0, 0, F(delivery.tls_policy), 0, NULL, &tls_policy_type,
	  "Outbound TLS per destination: [{destination (domain or *), mode: none|may|encrypt|"
	  "verify|dane|mta-sts}]. Without an entry: may (opportunistic STARTTLS), or mta-sts "
	  "when mta_sts.all_domains is set." },
	{ "shaping", CFG_T_CUSTOM, "[]", 0, 0, F(delivery.shaping), 0, NULL, &shaping_type,
	  "Traffic shaping per destination: [{destination, connections, rate (messages/s), "
	  "burst, per_connection}]; limits are for the whole node (split across workers); 0 = "
	  "unlimited." },
	{ "pools", CFG_T_CUSTOM, "[]", 0, 0, F(delivery.pools), 0, NULL, &pool_type,
	  "Source IP pools: [{name, addresses: [\"IPv4 [HELO name]\"], tenants: [relay.clients "
	  "names], senders: [sender domains], default: true|false}]. A message uses the pool of its "
	  "tenant, else of its sender domain, else the default pool (none: the port's address and "
	  "smtp.hostname); round robin among the pool's addresses; shaping applies per source "
	  "address." },
	{ "sites", CFG_T_CUSTOM, "[]", 0, 0, F(delivery.sites), 0, NULL, &site_type,
	  "Sites: [{name, mx: [host or *.suffix]}]. Domains whose best MX host matches share one "
	  "destination site:NAME; shaping and tls_policy entries may name it (destination: NAME)." },
	{ "chunking", CFG_T_ENUM, "auto", 0, 0, F(delivery.chunking), 0, chunking_modes, NULL,
	  "BDAT (RFC 3030) to next hops: auto = when the hop offers CHUNKING (with PIPELINING, "
	  "MAIL, RCPT and the body leave in one write and are answered in one round trip); off = "
	  "always DATA." },
	{ "delay_warning_after", CFG_T_U32, "0", 0, 2592000, F(delivery.delay_warning_after), 0,
	  NULL, NULL, "Send one \"delayed\" DSN (RFC 3464) for a message still undelivered after "
	  "this long, seconds; 0 = never." },
	{ "retry.first", CFG_T_U32, "300", 1, 86400, F(delivery.retry_first), 0, NULL, NULL,
	  "Delay after the first temporary failure, seconds; then doubling." },
	{ "retry.cap", CFG_T_U32, "3600", 1, 86400, F(delivery.retry_cap), 0, NULL, NULL,
	  "Largest delay between two attempts, seconds." },
	{ "retry.max_age", CFG_T_U32, "432000", 60, 2592000, F(delivery.max_age), 0, NULL, NULL,
	  "A message still undelivered after this long is bounced as expired, seconds." },
	{ "retry.jitter_pct", CFG_T_U32, "10", 0, 50, F(delivery.retry_jitter_pct), 0, NULL, NULL,
	  "Random +- percentage applied to each delay (spreads the retries of a burst)." },
	{ "backoff.window_ms", CFG_T_U32, "60000", 100, 3600000, F(delivery.backoff.window_ms), 0,
	  NULL, NULL, "Automatic backoff: outcomes per destination are judged in windows of this "
	  "length, milliseconds." },
	{ "backoff.min_samples", CFG_T_U32, "20", 1, 1000000, F(delivery.backoff.min_samples), 0,
	  NULL, NULL, "A window with fewer outcomes than this decides nothing." },
	{ "backoff.threshold_pct", CFG_T_U32, "30", 1, 100, F(delivery.backoff.threshold_pct), 0,
	  NULL, NULL, "Share of temporary failures (4xx, 421, dropped connections) in a window that "
	  "cuts the destination's rate, percent." },
	{ "backoff.decrease_pct", CFG_T_U32, "50", 1, 99, F(delivery.backoff.decrease_pct), 0,
	  NULL, NULL, "A cut keeps this percent of the current rate (multiplicative decrease)." },
	{ "backoff.floor_pct", CFG_T_U32, "5", 1, 100, F(delivery.backoff.floor_pct), 0, NULL,
	  NULL, "The rate is never cut below this percent of the configured (or, for a destination "
	  "without a rate, the observed) rate." },
	{ "backoff.increase_pct", CFG_T_U32, "10", 1, 100, F(delivery.backoff.increase_pct), 0,
	  NULL, NULL, "Additive increase: percent of the rate restored per step, also while the "
	  "destination is idle." },
	{ "backoff.increase_interval_ms", CFG_T_U32, "60000", 100, 3600000,
	  F(delivery.backoff.increase_interval_ms), 0, NULL, NULL,
	  "Time between two restoration steps (and from a cut to the first), milliseconds; a step "
	  "waits while the current window is failing." },
};

const struct cfg_param cfg_limits_params[] = {
	{ "max_message_size", CFG_T_U32, "36700160", 1024, 1073741824, F(limits.max_message_size), 0,
	  NULL, NULL, "Largest message accepted (SIZE), bytes." },
	{ "max_recipients", CFG_T_U32, "1000", 1, 100000, F(limits.max_recipients), 0, NULL, NULL,
	  "Recipients per message." },
	{ "max_sessions", CFG_T_U32, "10000", 1, 1000000, F(limits.max_sessions), 0, NULL, NULL,
	  "Inbound SMTP sessions per worker; beyond it new connections get 421." },
	{ "idle_timeout", CFG_T_U32, "300", 5, 3600, F(limits.idle_timeout), 0, NULL, NULL,
	  "Seconds without a command before the session is closed with 421." },
	{ "max_errors", CFG_T_U32, "10", 1, 1000, F(limits.max_errors), 0, NULL, NULL,
	  "Protocol errors in one session before it is closed." },
};

/* ---- cross-item validation ----------------------------------------------------------------- */

int cfg_validate_smtp(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->smtp.listeners;
	for (uint32_t i = 0; i < l->n; i++)
		for (uint32_t j = 0; j < i; j++) {
			const struct cfg_listener *a = cfg_list_at(&cfg_listener_list, l, i);
			const struct cfg_listener *b = cfg_list_at(&cfg_listener_list, l, j);
			if (a->port == b->port && a->address.u.v4 == b->address.u.v4)
				return cfg_errf(c, "smtp.listen", err, errlen,
						"listeners %u and %u both use port %u", j + 1, i + 1, a->port);
		}
	return 0;
}

int cfg_validate_relay(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *u = &c->relay.users;
	for (uint32_t i = 0; i < u->n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(((const struct cfg_user *)cfg_list_at(&cfg_user_list, u, i))->name,
				   ((const struct cfg_user *)cfg_list_at(&cfg_user_list, u, j))->name) == 0)
				return cfg_errf(c, "relay.users", err, errlen, "users %u and %u have the same "
						"name", j + 1, i + 1);
	return 0;
}

int cfg_validate_tls(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->smtp.listeners;
	for (uint32_t i = 0; i < l->n; i++)
		if (((const struct cfg_listener *)cfg_list_at(&cfg_listener_list, l, i))->tls !=
			    CFG_LISTEN_PLAIN && c->tls.certificates.n == 0)
			return cfg_errf(c, "tls.certificates", err, errlen,
					"listener %u uses TLS but no certificate is configured", i + 1);
	return 0;
}

int cfg_validate_dkim(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->dkim.keys;
	for (uint32_t i = 0; i < l->n; i++)
		for (uint32_t j = 0; j < i; j++) {
			const struct cfg_dkim_key *a = cfg_list_at(&cfg_dkim_key_list, l, i);
			const struct cfg_dkim_key *b = cfg_list_at(&cfg_dkim_key_list, l, j);
			if (!strcasecmp(a->domain, b->domain) && !strcmp(a->selector, b->selector))
				return cfg_errf(c, "dkim.keys", err, errlen, "keys %u and %u are both %s "
						"selector %s", j + 1, i + 1, a->domain, a->selector);
		}
	return 0;
}

int cfg_validate_spool(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_list *l = &c->spool.keys;
	for (uint32_t i = 0; i < l->n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (((const struct cfg_spool_key *)cfg_list_at(&cfg_spool_key_list, l, i))->id ==
			    ((const struct cfg_spool_key *)cfg_list_at(&cfg_spool_key_list, l, j))->id)
				return cfg_errf(c, "spool.keys", err, errlen, "keys %u and %u have the same "
						"id", j + 1, i + 1);
	if (c->spool.encrypt && l->n == 0)
		return cfg_errf(c, "spool.encrypt", err, errlen, "encryption needs at least one key "
				"in spool.keys");
	return 0;
}

/* Duplicate destinations in a list whose items start with a char * destination. */
static int dup_dest(const struct cfg *c, const char *key, const struct cfg_list_desc *d,
		    const struct cfg_list *l, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < l->n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (!strcasecmp(*(char *const *)cfg_list_at(d, l, i), *(char *const *)cfg_list_at(d, l, j)))
				return cfg_errf(c, key, err, errlen, "entries %u and %u are both for '%s'",
						j + 1, i + 1, *(char *const *)cfg_list_at(d, l, i));
	return 0;
}

/* Whether a pool address ("IPv4 [HELO]") is one of the DPDK port's addresses. */
static bool pool_addr_on_port(const struct cfg *c, const char *a)
{
	char ip[16];
	size_t n = strcspn(a, " ");
	struct in_addr in;
	if (n >= sizeof(ip))
		return false;
	memcpy(ip, a, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &in) != 1)
		return false;
	if (in.s_addr == c->port.ipv4.ip.u.v4)
		return true;
	for (uint32_t i = 0; i < c->port.extra_ipv4.n; i++)
		if (strcmp(c->port.extra_ipv4.v[i], ip) == 0)
			return true;
	return false;
}

int cfg_validate_delivery(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_delivery *d = &c->delivery;
	if (dup_dest(c, "delivery.routes", &cfg_route_list, &d->routes, err, errlen) < 0 ||
	    dup_dest(c, "delivery.tls_policy", &cfg_tls_policy_list, &d->tls_policy, err, errlen) < 0 ||
	    dup_dest(c, "delivery.shaping", &cfg_shaping_list, &d->shaping, err, errlen) < 0 ||
	    dup_dest(c, "delivery.pools", &cfg_pool_list, &d->pools, err, errlen) < 0 ||
	    dup_dest(c, "delivery.sites", &cfg_site_list, &d->sites, err, errlen) < 0)
		return -1;
	unsigned ndef = 0;
	for (uint32_t i = 0; i < d->pools.n; i++)
		ndef += ((const struct cfg_pool *)cfg_list_at(&cfg_pool_list, &d->pools, i))->is_default;
	if (ndef > 1)
		return cfg_errf(c, "delivery.pools", err, errlen, "%u pools are the default (one at most)", ndef);
	if (d->pools.n > 64)
		return cfg_errf(c, "delivery.pools", err, errlen, "%u pools (64 at most)", d->pools.n);
	if (c->dataplane.backend == CFG_BACKEND_DPDK)
		for (uint32_t i = 0; i < d->pools.n; i++) {
			const struct cfg_pool *p = cfg_list_at(&cfg_pool_list, &d->pools, i);
			for (uint32_t k = 0; k < p->addresses.n; k++)
				if (!pool_addr_on_port(c, p->addresses.v[k]))
					return cfg_errf(c, "delivery.pools", err, errlen, "pool '%s': address "
							"'%s' is neither port.ipv4 nor in port.extra_ipv4",
							p->name, p->addresses.v[k]);
		}
	if (d->retry_first > d->retry_cap)
		return cfg_errf(c, "delivery.retry.first", err, errlen, "larger than retry.cap (%u s)",
				d->retry_cap);
	if (d->retry_cap >= d->max_age)
		return cfg_errf(c, "delivery.retry.cap", err, errlen,
				"not below retry.max_age (%u s): no second attempt could happen", d->max_age);
	return 0;
}

/* ---- AUTH helpers ---------------------------------------------------------------------------- */

const struct cfg_client *cfg_relay_client(const struct cfg *c, uint32_t addr)
{
	const struct cfg_client *best = NULL;
	for (uint32_t i = 0; i < c->relay.clients.n; i++) {
		const struct cfg_client *e = cfg_list_at(&cfg_client_list, &c->relay.clients, i);
		uint32_t mask = e->network.len ? htonl(~0u << (32 - e->network.len)) : 0;
		if ((addr & mask) == e->network.ip.u.v4 && (!best || e->network.len > best->network.len))
			best = e;
	}
	return best;
}

bool cfg_relay_client_sender_ok(const struct cfg_client *e, const char *domain)
{
	if (e->senders.n == 0)
		return true;
	for (uint32_t i = 0; i < e->senders.n; i++)
		if (strcmp(e->senders.v[i], "*") == 0 || strcasecmp(e->senders.v[i], domain) == 0)
			return true;
	return false;
}

const struct cfg_user *cfg_relay_user(const struct cfg *c, const char *name)
{
	for (uint32_t i = 0; i < c->relay.users.n; i++) {
		const struct cfg_user *u = cfg_list_at(&cfg_user_list, &c->relay.users, i);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

bool cfg_relay_password_ok(const struct cfg_user *u, const char *password)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	const char *h = crypt_r(password, u->password, cd);
	size_t n = strlen(u->password);
	bool ok = h && h[0] != '*' && strlen(h) == n && CRYPTO_memcmp(h, u->password, n) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool cfg_relay_sender_ok(const struct cfg_user *u, const char *domain)
{
	for (uint32_t i = 0; i < u->senders.n; i++)
		if (strcmp(u->senders.v[i], "*") == 0 || strcasecmp(u->senders.v[i], domain) == 0)
			return true;
	return false;
}
