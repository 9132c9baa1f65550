/* SPDX-License-Identifier: MIT */
/*
 * cfg_params_control.c: the control plane's configuration sections (control, dns,
 * accounting): admin socket, audit log and metrics endpoint; the resolver; accounting files,
 * rotation, retention and pseudonymisation. Declared once here; docs/configuration.md is
 * generated from this table like every other section.
 */
#include "config/cfg.h"
#include "config/cfg_params_control.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acct/acct.h"

#define F(field) offsetof(struct cfg, field)

const struct cfg_param cfg_control_params[] = {
	{ "admin_socket", CFG_T_STR, "\"/run/dpmail/admin.sock\"", 0, 107, F(control.admin_socket), 0,
	  NULL, NULL, "Unix socket of the admin interface (dpmailctl -s). Created mode 0600; its "
	  "directory is created mode 0700 if missing. Peers of another uid than dpmaild's (or "
	  "root) are refused." },
	{ "audit_log", CFG_T_STR, "\"\"", 0, 4095, F(control.audit_log), 0, NULL, NULL,
	  "Audit log of admin requests (JSON lines: who, when, what, result). Empty: none." },
	{ "metrics_listen", CFG_T_IPV4, NULL, 0, 0, F(control.metrics_listen), 0, NULL, NULL,
	  "Address of the Prometheus endpoint (GET /metrics). Unset: no endpoint." },
	{ "metrics_port", CFG_T_U32, "9325", 1, 65535, F(control.metrics_port), 0, NULL, NULL,
	  "TCP port of the Prometheus endpoint." },
};

const struct cfg_param cfg_dns_params[] = {
	{ "forwarders", CFG_T_STRV, "[]", 0, 0, F(dns.forwarders), 0, NULL, NULL,
	  "Resolvers to forward to, \"ip\" or \"ip@port\". Empty: those of /etc/resolv.conf." },
	{ "trust_anchor", CFG_T_STR, "\"\"", 0, 4095, F(dns.trust_anchor), 0, NULL, NULL,
	  "DNSSEC trust anchor file (e.g. /usr/share/dns/root.key). Empty: no validation, "
	  "answers are never marked secure (DANE then cannot apply)." },
	{ "unbound_conf", CFG_T_STR, "\"\"", 0, 4095, F(dns.unbound_conf), 0, NULL, NULL,
	  "Extra libunbound settings in unbound.conf syntax. Empty: none." },
	{ "negative_ttl_max", CFG_T_U32, "300", 1, 86400, F(dns.negative_ttl_max), 0, NULL, NULL,
	  "Longest time an NXDOMAIN or no-data answer is cached, seconds." },
	{ "failure_ttl", CFG_T_U32, "30", 1, 3600, F(dns.failure_ttl), 0, NULL, NULL,
	  "How long a SERVFAIL, timeout or DNSSEC-bogus result is cached, seconds." },
	{ "max_ttl", CFG_T_U32, "86400", 60, 604800, F(dns.max_ttl), 0, NULL, NULL,
	  "Cap on the TTL of positive answers, seconds." },
	{ "timeout_ms", CFG_T_U32, "10000", 100, 120000, F(dns.timeout_ms), 0, NULL, NULL,
	  "Deadline of one query; past it the query counts as a timeout, ms." },
};

const struct cfg_param cfg_accounting_params[] = {
	{ "dir", CFG_T_STR, "\"\"", 0, 4000, F(accounting.dir), 0, NULL, NULL,
	  "Directory of the accounting files (acct.jsonl, rotated acct-<UTC time>.jsonl). "
	  "Empty: no accounting." },
	{ "max_mb", CFG_T_U32, "64", 1, 65536, F(accounting.max_mb), 0, NULL, NULL,
	  "Rotate acct.jsonl when it reaches this size, MiB (also rotated on SIGUSR1)." },
	{ "retention_days", CFG_T_U32, "30", 0, 3650, F(accounting.retention_days), 0, NULL, NULL,
	  "Delete rotated accounting and audit files older than this, days. 0: keep forever." },
	{ "pseudonymise", CFG_T_STRV, "[]", 0, 0, F(accounting.pseudonymise), 0, NULL, NULL,
	  "Fields written as a keyed hash (\"h:\" + 32 hex digits of HMAC-SHA256) instead of "
	  "their value: any of qid, sender, recipient, destination, remote_host, reply, client, "
	  "auth_user." },
	{ "key_file", CFG_T_STR, "\"\"", 0, 4095, F(accounting.key_file), 0, NULL, NULL,
	  "File holding the pseudonym key: 32 raw bytes or 64 hex digits (openssl rand -hex 32). "
	  "Required when pseudonymise is not empty." },
};

int cfg_validate_control(const struct cfg *c, char *err, size_t errlen)
{
	if (c->control.admin_socket[0] != '/')
		return cfg_errf(c, "control.admin_socket", err, errlen, "must be an absolute path");
	if (c->control.audit_log[0] && c->control.audit_log[0] != '/')
		return cfg_errf(c, "control.audit_log", err, errlen, "must be an absolute path");
	return 0;
}

int cfg_validate_dns(const struct cfg *c, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < c->dns.forwarders.n; i++) {
		char ip[64];
		const char *f = c->dns.forwarders.v[i];
		size_t n = strcspn(f, "@");
		unsigned char bin[16];
		if (n >= sizeof(ip))
			return cfg_errf(c, "dns.forwarders", err, errlen, "bad forwarder '%s'", f);
		memcpy(ip, f, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1)
			return cfg_errf(c, "dns.forwarders", err, errlen,
					"bad forwarder '%s' (expected ip or ip@port)", f);
		if (f[n] == '@') {
			char *end;
			long port = strtol(f + n + 1, &end, 10);
			if (*end || port < 1 || port > 65535)
				return cfg_errf(c, "dns.forwarders", err, errlen, "bad port in '%s'", f);
		}
	}
	return 0;
}

int cfg_validate_accounting(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_accounting *a = &c->accounting;
	for (uint32_t i = 0; i < a->pseudonymise.n; i++) {
		int f = 0;
		while (f < CTL_ACCT_FIELD__MAX && strcmp(ctl_acct_field_str((enum ctl_acct_field)f),
							 a->pseudonymise.v[i]) != 0)
			f++;
		if (f == CTL_ACCT_FIELD__MAX || f == CTL_ACCT_TLS_VERSION || f == CTL_ACCT_TLS_CIPHER ||
		    f == CTL_ACCT_TLS_POLICY ||
		    f == CTL_ACCT_DKIM_DOMAINS)
			return cfg_errf(c, "accounting.pseudonymise", err, errlen,
					"'%s' is not a field that can be pseudonymised", a->pseudonymise.v[i]);
	}
	if (a->pseudonymise.n && !a->key_file[0])
		return cfg_errf(c, "accounting.key_file", err, errlen,
				"a key file is needed to pseudonymise fields");
	if (a->dir[0] && a->dir[0] != '/')
		return cfg_errf(c, "accounting.dir", err, errlen, "must be an absolute path");
	return 0;
}
