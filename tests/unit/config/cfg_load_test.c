/* SPDX-License-Identifier: MIT */
/* cfg_load_test.c: the YAML loader: defaults, the embedded default, every kind of bad value
 * with its FILE:LINE: key '...' message, unknown and duplicate keys, syntax errors, and the
 * cross-field validators. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "log.h"

static const char *MIN = "port:\n  device: net_tap0\n  ipv4: 198.18.0.2/24\n";

static struct cfg *load(const char *text, char *err, size_t len)
{
	return cfg_load_string("t.yaml", text, strlen(text), err, len);
}

START_TEST(test_minimal_defaults)
{
	char err[512] = "";
	struct cfg *c = load(MIN, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->port.device, "net_tap0");
	ck_assert_uint_eq(c->port.ipv4.ip.u.v4, inet_addr("198.18.0.2"));
	ck_assert_uint_eq(c->port.ipv4.len, 24);
	ck_assert_uint_eq(c->port.gateway.family, 0);
	ck_assert_uint_eq(c->port.mtu, 1500);
	ck_assert_uint_eq(c->dataplane.workers.n, 1);
	ck_assert_uint_eq(c->dataplane.workers.v[0], 1);
	ck_assert_uint_eq(c->dataplane.idle_sleep_us, 0);
	ck_assert_uint_eq(c->eal.memory_mb, 256);
	ck_assert_str_eq(c->eal.file_prefix, "dpmail");
	ck_assert(!c->eal.hugepages);
	ck_assert_uint_eq(c->eal.vdevs.n, 0);
	ck_assert_int_eq(c->log.level, LOG_LVL_INFO);
	ck_assert_uint_eq(c->arp.hold, 64);
	ck_assert_uint_eq(c->spool.read_cache_mb, 64);
	ck_assert_uint_eq(cfg_line(c, "port.ipv4"), 3);
	ck_assert_uint_eq(cfg_line(c, "port.mtu"), 0);
	cfg_free(c);
}
END_TEST

START_TEST(test_embedded_default)
{
	char err[512] = "";
	struct cfg *c = cfg_load_default(err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->file, "<embedded>");
	ck_assert_uint_eq(c->eal.vdevs.n, 1);
	ck_assert_str_eq(c->eal.vdevs.v[0], "net_tap0,iface=dtap0");
	ck_assert_uint_eq(c->port.gateway.u.v4, inet_addr("198.18.0.1"));
	ck_assert_uint_gt(c->dataplane.idle_sleep_us, 0);
	cfg_free(c);
}
END_TEST

START_TEST(test_full)
{
	const char *y =
		"eal:\n"
		"  vdevs:\n"
		"    - net_tap0,iface=x\n"
		"    - net_null0\n"
		"  args: [\"--log-level=lib.eal:debug\"]\n"
		"  hugepages: yes\n"
		"  memory_mb: 512\n"
		"  file_prefix: fndx\n"
		"port: {device: net_tap0, ipv4: 10.1.2.3/16, gateway: 10.1.0.1, mtu: 9000}\n"
		"dataplane:\n"
		"  main_lcore: 1\n"
		"  workers: [0, 2, 3]\n"
		"  idle_sleep_us: 50\n"
		"arp: {reachable_ms: 30000, hold: 8}\n"
		"log: {level: debug}\n";
	char err[512] = "";
	struct cfg *c = load(y, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->eal.vdevs.n, 2);
	ck_assert_str_eq(c->eal.vdevs.v[1], "net_null0");
	ck_assert_str_eq(c->eal.args.v[0], "--log-level=lib.eal:debug");
	ck_assert(c->eal.hugepages);
	ck_assert_uint_eq(c->dataplane.workers.n, 3);
	ck_assert_uint_eq(c->dataplane.workers.v[2], 3);
	ck_assert_uint_eq(c->port.mtu, 9000);
	ck_assert_uint_eq(c->arp.hold, 8);
	ck_assert_int_eq(c->log.level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(cfg_line(c, "port.gateway"), 9);
	cfg_free(c);
}
END_TEST

struct bad {
	const char *yaml;
	const char *msg;      /* expected message (exact) */
};

#define P "port:\n  device: net_tap0\n  ipv4: 198.18.0.2/24\n"
static const struct bad bads[] = {
	{ P "  adress: 1.2.3.4\n", "t.yaml:4: key 'port.adress': unknown key" },
	{ "prot:\n  device: x\n", "t.yaml:1: key 'prot': unknown key" },
	{ P "dataplane:\n  workers: [1]\n  lcore: 3\n", "t.yaml:6: key 'dataplane.lcore': unknown key" },
	{ P "  ipv4: 198.18.0.3/24\n", "t.yaml:4: key 'port.ipv4': duplicate key (first set on line 3)" },
	{ "port:\n  device: net_tap0\n  ipv4: 198.18.0.300/24\n",
	  "t.yaml:3: key 'port.ipv4': bad IPv4 prefix '198.18.0.300/24' (expected a.b.c.d/len)" },
	{ "port:\n  device: net_tap0\n  ipv4: 198.18.0.2\n",
	  "t.yaml:3: key 'port.ipv4': bad IPv4 prefix '198.18.0.2' (expected a.b.c.d/len)" },
	{ "port:\n  device: net_tap0\n  ipv4: 198.18.0.2/33\n",
	  "t.yaml:3: key 'port.ipv4': bad IPv4 prefix '198.18.0.2/33' (expected a.b.c.d/len)" },
	{ "port:\n  device: net_tap0\n  ipv4: 198.18.0.2/0\n",
	  "t.yaml:3: key 'port.ipv4': prefix length 0 out of range [1, 32]" },
	{ "port:\n  device: net_tap0\n  ipv4: 198.18.0.0/24\n",
	  "t.yaml:3: key 'port.ipv4': the network or broadcast address of the prefix is not a host address" },
	{ P "  gateway: 198.18.1.1\n", "t.yaml:4: key 'port.gateway': gateway is not inside the port's prefix" },
	{ P "  gateway: 198.18.0.2\n", "t.yaml:4: key 'port.gateway': gateway is the port's own address" },
	{ P "  gateway: gw.example\n", "t.yaml:4: key 'port.gateway': bad IPv4 address 'gw.example'" },
	{ P "  mtu: 100\n", "t.yaml:4: key 'port.mtu': 100 out of range [576, 9000]" },
	{ P "  mtu: -1\n", "t.yaml:4: key 'port.mtu': expected a non-negative integer, got '-1'" },
	{ P "  mtu: 1500.5\n", "t.yaml:4: key 'port.mtu': expected a non-negative integer, got '1500.5'" },
	{ P "  mtu: 99999999999999999999\n",
	  "t.yaml:4: key 'port.mtu': expected a non-negative integer, got '99999999999999999999'" },
	{ P "  mtu:\n", "t.yaml:4: key 'port.mtu': missing value" },
	{ P "  mtu: [1500]\n", "t.yaml:4: key 'port.mtu': expected a single value, not a list or mapping" },
	{ P "eal:\n  hugepages: maybe\n", "t.yaml:5: key 'eal.hugepages': expected true or false, got 'maybe'" },
	{ P "eal:\n  vdevs: net_tap0\n", "t.yaml:5: key 'eal.vdevs': expected a list (e.g. [a, b])" },
	{ P "eal:\n  vdevs: [a, [b]]\n", "t.yaml:5: key 'eal.vdevs': list item 2: expected a string" },
	{ P "eal:\n  file_prefix: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "t.yaml:5: key 'eal.file_prefix': longer than 64 characters" },
	{ P "eal: 5\n", "t.yaml:4: key 'eal': expected a mapping of keys" },
	{ P "dataplane:\n  workers: []\n",
	  "t.yaml:5: key 'dataplane.workers': at least one worker lcore is needed" },
	{ P "dataplane:\n  workers: [1, x]\n",
	  "t.yaml:5: key 'dataplane.workers': expected a non-negative integer, got 'x'" },
	{ P "dataplane:\n  workers: [1, 5000]\n",
	  "t.yaml:5: key 'dataplane.workers': 5000 out of range [0, 1023]" },
	{ P "dataplane:\n  workers: [1, 1]\n", "t.yaml:5: key 'dataplane.workers': lcore 1 listed twice" },
	{ P "dataplane:\n  workers: [0]\n", "t.yaml:5: key 'dataplane.workers': lcore 0 is also the main lcore" },
	{ P "dataplane:\n  mbufs: 1000\n",
	  "t.yaml:5: key 'dataplane.mbufs': 1000 mbufs cannot fill rx_desc + tx_desc = 1024 descriptors" },
	{ P "log:\n  level: loud\n", "t.yaml:5: key 'log.level': unknown value 'loud'" },
	{ "port:\n  device: net_tap0\n", "t.yaml: key 'port.ipv4': missing (required)" },
	{ "", "t.yaml: key 'port.device': missing (required)" },
	{ "- a\n- b\n", "t.yaml:1: the top level must be a mapping of sections" },
	{ "port: {device: [x\n", "t.yaml:2: yaml: did not find expected ',' or ']' while parsing a flow sequence" },
	{ "port:\n  device: x\n   ipv4: 1.2.3.4/8\n", "t.yaml:3: yaml: mapping values are not allowed in this context" },
	{ "? [a]\n: b\n", "t.yaml:1: key '(top)': keys must be plain strings" },
};

START_TEST(test_bad)
{
	char err[512] = "";
	struct cfg *c = load(bads[_i].yaml, err, sizeof(err));
	ck_assert_msg(c == NULL, "case %d loaded", _i);
	ck_assert_str_eq(err, bads[_i].msg);
}
END_TEST

START_TEST(test_file)
{
	char path[] = "/tmp/dpmail-fndcfg-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char *y = P "dataplane:\n  idle_sleep_us: fast\n";
	ck_assert_int_eq(write(fd, y, strlen(y)), (int)strlen(y));
	close(fd);
	char err[512], want[600];
	ck_assert_ptr_null(cfg_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:5: key 'dataplane.idle_sleep_us': expected a non-negative integer, got 'fast'", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	ck_assert_ptr_null(cfg_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	ck_assert_str_eq(err, want);
}
END_TEST

/* Every table default parses and each section appears in the generated doc. */
START_TEST(test_table_sane)
{
	for (size_t s = 0; s < cfg_n_sections; s++)
		for (size_t k = 0; k < cfg_sections[s].n_params; k++) {
			const struct cfg_param *p = &cfg_sections[s].params[k];
			ck_assert_ptr_nonnull(p->desc);
			ck_assert_msg(!(p->def && (p->flags & CFG_F_REQUIRED)), "%s has a default and is required",
				      p->name);
			if (p->type == CFG_T_U32)
				ck_assert_int_le(p->min, p->max);
		}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cfg_load");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_embedded_default);
	tcase_add_test(tc, test_full);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bads) / sizeof(bads[0])));
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_table_sane);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
