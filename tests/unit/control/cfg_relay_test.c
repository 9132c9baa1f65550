/* SPDX-License-Identifier: MIT */
/*
 * cfg_relay_test.c: the relay and control-plane configuration sections: a complete file
 * loads with every list item in place; each kind of bad value is refused with FILE:LINE, the
 * key, the item and a reason; AUTH passwords check against yescrypt and SHA-512-crypt hashes.
 */
#include <arpa/inet.h>
#include <check.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_dump.h"
#include "config/cfg_params_relay.h"

static char dir[64], pem[128], yes_hash[256], sha_hash[256];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-ctl-cfg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(pem, sizeof(pem), "%s/k.pem", dir);
	FILE *f = fopen(pem, "w");
	fputs("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	char salt[128];
	ck_assert_ptr_nonnull(crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)));
	snprintf(yes_hash, sizeof(yes_hash), "%s", crypt("s3cret", salt));
	ck_assert_ptr_nonnull(crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)));
	snprintf(sha_hash, sizeof(sha_hash), "%s", crypt("other", salt));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static const char *BASE = "port:\n  device: net_tap0\n  ipv4: 198.18.0.2/24\n";

/* BASE followed by extra (with %P = the PEM path, %Y / %S = the hashes). */
static struct cfg *load(const char *extra, char *err, size_t errlen)
{
	char text[8192], *o = text;
	o += snprintf(o, sizeof(text), "%s", BASE);
	for (const char *p = extra; *p; p++) {
		if (p[0] == '%' && (p[1] == 'P' || p[1] == 'Y' || p[1] == 'S')) {
			const char *s = p[1] == 'P' ? pem : p[1] == 'Y' ? yes_hash : sha_hash;
			o += snprintf(o, sizeof(text) - (size_t)(o - text), "%s", s);
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return cfg_load_string("t.yaml", text, strlen(text), err, errlen);
}

static const char *FULL =
	"  extra_ipv4: [198.18.0.10, 198.18.0.11, 198.18.0.12]\n"
	"smtp:\n"
	"  hostname: relay.example.net\n"
	"  listen:\n"
	"    - { port: 25, tls: starttls }\n"
	"    - { address: 198.18.0.2, port: 587, tls: starttls, auth: true }\n"
	"    - { port: 465, tls: implicit, auth: true }\n"
	"relay:\n"
	"  clients:\n"
	"    - { network: 198.18.0.0/24, senders: [example.org], name: submission }\n"
	"    - { network: 198.18.0.128/25 }\n"
	"  users:\n"
	"    - name: alice\n"
	"      password: \"%Y\"\n"
	"      senders: [example.org, Example.NET]\n"
	"    - { name: bob, password: \"%S\", senders: [\"*\"] }\n"
	"tls:\n"
	"  certificates: [{ cert: %P, key: %P, names: [relay.example.net] }]\n"
	"  min_version: TLSv1.3\n"
	"dkim:\n"
	"  keys:\n"
	"    - { domain: example.org, selector: s2026, key: %P }\n"
	"    - { domain: example.org, selector: ed, key: %P }\n"
	"spool:\n"
	"  keys: [{ id: 1, file: %P }, { id: 2, file: %P }]\n"
	"delivery:\n"
	"  routes:\n"
	"    - { domain: example.com, hosts: [\"[198.18.0.5]:2525\", mx.backup.test] }\n"
	"    - { domain: \".corp.test\", hosts: [smarthost.test:587], name: corp }\n"
	"  tls_policy: [{ destination: example.com, mode: verify }, { destination: \"*\", mode: may }]\n"
	"  shaping:\n"
	"    - { destination: gmail.com, connections: 20, rate: 100, burst: 50, per_connection: 100 }\n"
	"  retry: { first: 60, cap: 1800, max_age: 86400, jitter_pct: 5 }\n"
	"  pools:\n"
	"    - { name: bulk, addresses: [\"198.18.0.10 mta1.example.net\", 198.18.0.11], tenants: [submission] }\n"
	"    - { name: main, addresses: [198.18.0.12], senders: [example.org], default: true }\n"
	"  sites: [{ name: google, mx: [\"*.google.com\", aspmx.l.google.com] }]\n"
	"  delay_warning_after: 14400\n"
	"limits: { max_message_size: 10485760, max_recipients: 100 }\n"
	"control: { admin_socket: /run/dpmail/a.sock, audit_log: /var/log/dpmail/audit.jsonl, "
	"metrics_listen: 127.0.0.1, metrics_port: 9100 }\n"
	"dns: { forwarders: [\"127.0.0.1@5353\", \"::1\"], timeout_ms: 3000 }\n"
	"accounting: { dir: /var/log/dpmail, pseudonymise: [sender, recipient], key_file: %P }\n";

START_TEST(test_full_config)
{
	char err[512] = "";
	struct cfg *c = load(FULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->smtp.listeners.n, 3);
	const struct cfg_listener *l = cfg_list_at(&cfg_listener_list, &c->smtp.listeners, 1);
	ck_assert_uint_eq(l->port, 587);
	ck_assert(l->auth);
	ck_assert_int_eq(l->tls, CFG_LISTEN_STARTTLS);
	ck_assert_uint_eq(l->address.family, AF_INET);
	l = cfg_list_at(&cfg_listener_list, &c->smtp.listeners, 0);
	ck_assert(!l->auth);
	ck_assert_uint_eq(l->address.family, 0);
	ck_assert_uint_eq(c->relay.users.n, 2);
	const struct cfg_user *u = cfg_relay_user(c, "alice");
	ck_assert_ptr_nonnull(u);
	ck_assert(cfg_relay_password_ok(u, "s3cret"));
	ck_assert(!cfg_relay_password_ok(u, "s3cret "));
	ck_assert(!cfg_relay_password_ok(u, ""));
	ck_assert(cfg_relay_sender_ok(u, "example.net"));
	ck_assert(!cfg_relay_sender_ok(u, "evil.example"));
	u = cfg_relay_user(c, "bob");
	ck_assert(cfg_relay_password_ok(u, "other"));
	ck_assert(cfg_relay_sender_ok(u, "anything.example"));
	ck_assert_ptr_null(cfg_relay_user(c, "carol"));
	ck_assert_uint_eq(c->dkim.keys.n, 2);
	ck_assert_uint_eq(c->relay.clients.n, 2);
	const struct cfg_client *cl = cfg_relay_client(c, inet_addr("198.18.0.200"));
	ck_assert_ptr_nonnull(cl);
	ck_assert_uint_eq(cl->network.len, 25); /* longest prefix wins */
	ck_assert(cfg_relay_client_sender_ok(cl, "any.example"));
	cl = cfg_relay_client(c, inet_addr("198.18.0.7"));
	ck_assert_str_eq(cl->name, "submission");
	ck_assert(cfg_relay_client_sender_ok(cl, "EXAMPLE.org"));
	ck_assert(!cfg_relay_client_sender_ok(cl, "other.example"));
	ck_assert_ptr_null(cfg_relay_client(c, inet_addr("192.0.2.1")));
	ck_assert_int_eq(c->dkim.unsignable, 0);
	ck_assert_uint_eq(c->tls.handshake_timeout_ms, 10000);
	ck_assert_uint_eq(c->spool.keys.n, 2);
	const struct cfg_route *r = cfg_list_at(&cfg_route_list, &c->delivery.routes, 1);
	ck_assert_str_eq(r->name, "corp");
	ck_assert_str_eq(r->hosts.v[0], "smarthost.test:587");
	const struct cfg_tls_policy *tp = cfg_list_at(&cfg_tls_policy_list, &c->delivery.tls_policy, 0);
	ck_assert_int_eq(tp->mode, CFG_TLS_VERIFY);
	const struct cfg_shaping *sp = cfg_list_at(&cfg_shaping_list, &c->delivery.shaping, 0);
	ck_assert_uint_eq(sp->rate, 100);
	ck_assert_uint_eq(c->delivery.retry_first, 60);
	ck_assert_uint_eq(c->delivery.max_age, 86400);
	ck_assert_uint_eq(c->delivery.pools.n, 2);
	const struct cfg_pool *pl = cfg_list_at(&cfg_pool_list, &c->delivery.pools, 0);
	ck_assert_str_eq(pl->addresses.v[0], "198.18.0.10 mta1.example.net");
	ck_assert_str_eq(pl->tenants.v[0], "submission");
	ck_assert(!pl->is_default);
	ck_assert(((const struct cfg_pool *)cfg_list_at(&cfg_pool_list, &c->delivery.pools, 1))->is_default);
	ck_assert_uint_eq(c->delivery.sites.n, 1);
	ck_assert_uint_eq(c->delivery.delay_warning_after, 14400);
	ck_assert_uint_eq(c->port.extra_ipv4.n, 3);
	ck_assert_uint_eq(c->limits.max_recipients, 100);
	ck_assert_uint_eq(c->limits.idle_timeout, 300);
	ck_assert_uint_eq(c->tls.min_version, 1);
	ck_assert_str_eq(c->control.admin_socket, "/run/dpmail/a.sock");
	ck_assert_uint_eq(c->dns.forwarders.n, 2);
	ck_assert_uint_eq(c->accounting.pseudonymise.n, 2);
	cfg_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	char err[512] = "";
	struct cfg *c = load("", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->smtp.listeners.n, 0);
	ck_assert_uint_eq(c->delivery.retry_first, 300);
	ck_assert_uint_eq(c->delivery.max_age, 432000);
	ck_assert_uint_eq(c->delivery.backoff.window_ms, 60000);
	ck_assert_uint_eq(c->delivery.backoff.decrease_pct, 50);
	ck_assert_uint_eq(c->delivery.backoff.increase_interval_ms, 60000);
	ck_assert_str_eq(c->control.admin_socket, "/run/dpmail/admin.sock");
	ck_assert_uint_eq(c->control.metrics_listen.family, 0);
	ck_assert_str_eq(c->accounting.dir, "");
	cfg_free(c);
}
END_TEST

/* Each bad value: the message must contain every fragment. */
static const struct {
	const char *yaml;
	const char *want[3];
} bad[] = {
	{ "smtp:\n  listen:\n    - { port: 99999 }\n", { "t.yaml:6: key 'smtp.listen'", "item 1 (line 6): key 'port'", "out of range" } },
	{ "smtp:\n  listen:\n    - { port: 25, tls: ssl }\n", { "key 'tls'", "unknown value 'ssl'" } },
	{ "smtp:\n  listen:\n    - { port: 25, colour: red }\n", { "unknown key for a listener" } },
	{ "smtp:\n  listen:\n    - { tls: none }\n", { "key 'port'", "missing (required)" } },
	{ "smtp:\n  listen:\n    - { port: 25, tls: none, auth: true }\n", { "auth needs tls" } },
	{ "smtp:\n  listen: [{ port: 25, tls: none }, { port: 25, tls: none }]\n", { "smtp.listen", "both use port 25" } },
	{ "smtp:\n  listen: [{ port: 25 }]\n", { "tls.certificates", "no certificate" } },
	{ "relay:\n  clients: [{ network: 198.18.0.0/33 }]\n", { "t.yaml:5: key 'relay.clients'", "bad IPv4 prefix" } },
	{ "relay:\n  clients: [{ network: 0.0.0.0/0 }]\n", { "open relay" } },
	{ "relay:\n  clients: [{ network: 198.18.0.1/24 }]\n", { "host bits" } },
	{ "relay:\n  clients: [{ senders: [a.org] }]\n", { "key 'network'", "missing" } },
	{ "dkim:\n  unsignable: maybe\n", { "dkim.unsignable", "unknown value" } },
	{ "relay:\n  users: [{ name: a, password: plaintext, senders: [x.org] }]\n", { "key 'relay.users'", "yescrypt" } },
	{ "relay:\n  users: [{ name: a, password: \"$y$broken\", senders: [x.org] }]\n", { "malformed password hash" } },
	{ "relay:\n  users: [{ name: a, password: \"%Y\", senders: [\"bad domain\"] }]\n", { "bad sender domain" } },
	{ "relay:\n  users: [{ name: a, password: \"%Y\", senders: [a.org] }, { name: a, password: \"%Y\", senders: [a.org] }]\n", { "same name" } },
	{ "tls:\n  certificates: [{ cert: /nonexistent.pem, key: %P }]\n", { "cert file '/nonexistent.pem' is not readable" } },
	{ "tls:\n  min_version: TLSv1.0\n", { "tls.min_version", "unknown value" } },
	{ "dkim:\n  keys: [{ domain: \"-bad-.org\", selector: s1, key: %P }]\n", { "bad signing domain" } },
	{ "dkim:\n  keys: [{ domain: a.org, selector: \"s 1\", key: %P }]\n", { "bad selector" } },
	{ "dkim:\n  keys: [{ domain: a.org, selector: s1, key: %P }, { domain: A.org, selector: s1, key: %P }]\n", { "keys 1 and 2 are both", "selector s1" } },
	{ "spool:\n  keys: [{ id: 0, file: %P }]\n", { "key 'id'", "out of range" } },
	{ "delivery:\n  routes: [{ domain: a.org, hosts: [\"mx:0\"] }]\n", { "bad host 'mx:0'" } },
	{ "delivery:\n  routes: [{ domain: a.org, hosts: [] }]\n", { "has no hosts" } },
	{ "delivery:\n  routes: [{ domain: a.org, hosts: [x.org] }, { domain: A.ORG, hosts: [y.org] }]\n", { "both for 'A.ORG'" } },
	{ "delivery:\n  tls_policy: [{ destination: a.org, mode: maybe }]\n", { "unknown value 'maybe'" } },
	{ "delivery:\n  shaping: [{ destination: a.org, rate: -1 }]\n", { "key 'rate'" } },
	{ "delivery:\n  retry: { first: 7200, cap: 3600 }\n", { "delivery.retry.first", "larger than retry.cap" } },
	{ "delivery:\n  retry: { cap: 86400, max_age: 3600 }\n", { "retry.cap", "max_age" } },
	{ "delivery:\n  routes: { domain: a.org }\n", { "expected a list of route mappings" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [\"1.2.3 x.org\"] }]\n", { "bad address '1.2.3 x.org'" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [\"1.2.3.4 bad_name!\"] }]\n", { "bad address" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [] }]\n", { "needs 1..64 addresses" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [1.2.3.4], default: true }, { name: q, addresses: [1.2.3.5], default: true }]\n", { "one at most" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [1.2.3.4] }, { name: P, addresses: [1.2.3.5] }]\n", { "both for 'P'" } },
	{ "delivery:\n  sites: [{ name: g, mx: [\"*.\"] }]\n", { "bad mx pattern" } },
	{ "delivery:\n  pools: [{ name: p, addresses: [\"198.18.0.9 a.org\"] }]\n", { "neither port.ipv4 nor in port.extra_ipv4" } },
	{ "  extra_ipv4: [198.18.1.5]\n", { "port.extra_ipv4", "'198.18.1.5' is not another host" } },
	{ "  extra_ipv4: [198.18.0.2]\n", { "port.extra_ipv4", "not another host" } },
	{ "  extra_ipv4: [198.18.0.255]\n", { "port.extra_ipv4", "not another host" } },
	{ "limits:\n  max_recipients: 0\n", { "t.yaml:5: key 'limits.max_recipients'", "out of range" } },
	{ "control:\n  admin_socket: relative.sock\n", { "control.admin_socket", "absolute" } },
	{ "dns:\n  forwarders: [\"1.2.3.4@99999\"]\n", { "dns.forwarders", "bad port" } },
	{ "dns:\n  forwarders: [resolver.example]\n", { "bad forwarder" } },
	{ "accounting:\n  pseudonymise: [sender]\n", { "accounting.key_file", "key file is needed" } },
	{ "accounting:\n  pseudonymise: [colour]\n  key_file: %P\n", { "not a field that can be pseudonymised" } },
};

START_TEST(test_bad_values)
{
	char err[512];
	err[0] = '\0';
	struct cfg *c = load(bad[_i].yaml, err, sizeof(err));
	ck_assert_msg(c == NULL, "accepted: %s", bad[_i].yaml);
	for (int k = 0; k < 3 && bad[_i].want[k]; k++)
		ck_assert_msg(strstr(err, bad[_i].want[k]) != NULL, "case %d: '%s' not in '%s'", _i,
			      bad[_i].want[k], err);
	ck_assert_msg(strncmp(err, "t.yaml:", 7) == 0, "no file:line in '%s'", err);
}
END_TEST

/* Write-back: dumping a loaded config and loading the dump gives the same dump again. */
START_TEST(test_dump_round_trip)
{
	char err[512] = "";
	struct cfg *c = load(FULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	char *one = NULL, *two = NULL;
	size_t n1 = 0, n2 = 0;
	FILE *f = open_memstream(&one, &n1);
	ck_assert_int_eq(cfg_dump(c, f), 0);
	fclose(f);
	struct cfg *c2 = cfg_load_string("t.yaml", one, n1, err, sizeof(err));
	ck_assert_msg(c2 != NULL, "dump does not load: %s\n%s", err, one);
	f = open_memstream(&two, &n2);
	cfg_dump(c2, f);
	fclose(f);
	ck_assert_str_eq(one, two);
	ck_assert_uint_eq(c2->relay.users.n, 2);
	ck_assert(cfg_relay_password_ok(cfg_relay_user(c2, "alice"), "s3cret"));
	ck_assert_uint_eq(c2->control.metrics_listen.family, AF_INET);
	free(one);
	free(two);
	/* atomically to a file, keeping the previous one as .bak */
	char path[128], bak[160];
	snprintf(path, sizeof(path), "%s/dpmaild.yaml", dir);
	snprintf(bak, sizeof(bak), "%s.bak", path);
	FILE *old = fopen(path, "w");
	fputs("old: true\n", old);
	fclose(old);
	ck_assert_int_eq(cfg_dump_file(c2, path), 0);
	ck_assert_int_eq(access(bak, F_OK), 0);
	struct cfg *c3 = cfg_load(path, err, sizeof(err));
	ck_assert_msg(c3 != NULL, "%s", err);
	cfg_free(c3);
	cfg_free(c2);
	cfg_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cfg_relay");
	TCase *tc = tcase_create("relay");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_config);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_dump_round_trip);
	tcase_add_loop_test(tc, test_bad_values, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
