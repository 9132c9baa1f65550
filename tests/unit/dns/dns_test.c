/* SPDX-License-Identifier: MIT */
/*
 * dns_test.c: the resolver against a real unbound serving test zones on 127.0.0.1 (ports
 * picked free in 13040-13099 at each run: copies of this test may run at once)
 * (local-data), through the worker path: request on a slot's ring, completion, cache lookup.
 * Covers MX ordering, null MX, A, AAAA, TLSA, NODATA, NXDOMAIN, SERVFAIL (a stub zone whose
 * server refuses), TIMEOUT (a stub zone whose server never answers), coalescing of requests
 * and the RDATA parser on malformed input.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns.h"
#include "dns/dns_parse.h"

static int DNS_PORT, SILENT_PORT, REFUSE_PORT;

/* A port in 13040-13099 free for both UDP and TCP on 127.0.0.1 now (random start). */
static int free_port(void)
{
	for (int tries = 0; tries < 200; tries++) {
		int port = 13040 + (int)((unsigned)(getpid() * 7 + tries * 13 + rand()) % 60);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		     bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(u);
		close(t);
		if (ok && port != DNS_PORT && port != SILENT_PORT && port != REFUSE_PORT)
			return port;
	}
	ck_abort_msg("no free port in 13040-13099");
	return -1;
}

static char tmpdir[64];
static pid_t unbound_pid, refuser_pid;
static int silent_fd = -1;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static pid_t start_unbound(const char *conf)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		execlp("unbound", "unbound", "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void write_conf(const char *path, int port, const char *zones)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "server:\n  interface: 127.0.0.1@%d\n  port: %d\n  do-daemonize: no\n"
		   "  chroot: \"\"\n  username: \"\"\n  pidfile: \"\"\n  directory: \"%s\"\n"
		   "  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  do-ip6: no\n"
		   "  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n"
		   "  do-not-query-localhost: no\n  num-threads: 1\n  outgoing-range: 32\n"
		   "  so-reuseport: no\n  infra-host-ttl: 1\n  local-zone: \"test.\" nodefault\n%s",
		port, port, tmpdir, zones);
	fclose(f);
}

/* The test zones, a refusing server for SERVFAIL, a silent UDP socket for TIMEOUT. */
static void setup(void)
{
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	DNS_PORT = SILENT_PORT = REFUSE_PORT = 0;
	DNS_PORT = free_port();
	SILENT_PORT = free_port();
	REFUSE_PORT = free_port();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dpmail-ctl-dns.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	char conf[128], rconf[128];
	snprintf(conf, sizeof(conf), "%s/unbound.conf", tmpdir);
	snprintf(rconf, sizeof(rconf), "%s/refuser.conf", tmpdir);
	char zones[2048];
	snprintf(zones, sizeof(zones),
		"  local-zone: \"dpmail.test.\" static\n"
		"  local-data: \"mx.dpmail.test. 300 IN MX 20 MX2.dpmail.test.\"\n"
		"  local-data: \"mx.dpmail.test. 300 IN MX 10 mx1.dpmail.test.\"\n"
		"  local-data: \"mx.dpmail.test. 300 IN MX 30 mx3.dpmail.test.\"\n"
		"  local-data: \"mx.dpmail.test. 300 IN MX 10 mx1b.dpmail.test.\"\n"
		"  local-data: \"nullmx.dpmail.test. 300 IN MX 0 .\"\n"
		"  local-data: \"mx1.dpmail.test. 300 IN A 198.18.0.10\"\n"
		"  local-data: \"mx1.dpmail.test. 300 IN AAAA 2001:db8::10\"\n"
		"  local-data: \"_25._tcp.mx1.dpmail.test. 300 IN TLSA 3 1 1 "
		"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\"\n"
		"  local-data: \"txtonly.dpmail.test. 300 IN TXT hello\"\n"
		"  local-data: '_mta-sts.dpmail.test. 300 IN TXT \"v=STSv1; \" \"id=abc1\"'\n"
		"stub-zone:\n  name: \"refused.test.\"\n  stub-addr: 127.0.0.1@%d\n"
		"stub-zone:\n  name: \"silent.test.\"\n  stub-addr: 127.0.0.1@%d\n", REFUSE_PORT, SILENT_PORT);
	write_conf(conf, DNS_PORT, zones);
	write_conf(rconf, REFUSE_PORT, "  local-zone: \"refused.test.\" refuse\n");
	silent_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(SILENT_PORT) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	unbound_pid = start_unbound(conf);
	refuser_pid = start_unbound(rconf);
}

static void teardown(void)
{
	if (unbound_pid > 0) {
		kill(unbound_pid, SIGTERM);
		waitpid(unbound_pid, NULL, 0);
	}
	if (refuser_pid > 0) {
		kill(refuser_pid, SIGTERM);
		waitpid(refuser_pid, NULL, 0);
	}
	if (silent_fd >= 0)
		close(silent_fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	(void)!system(cmd);
}

static struct ctl_dns *dns_new(uint32_t timeout_ms)
{
	struct ctl_dns_opts o;
	ctl_dns_opts_defaults(&o);
	static char fwd[32];
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", DNS_PORT);
	o.forwarders = fwd;
	/* unbound serves RFC 6761 "test." itself as an empty zone unless told not to */
	static char ubconf[128];
	snprintf(ubconf, sizeof(ubconf), "%s/client.conf", tmpdir);
	FILE *f = fopen(ubconf, "w");
	fprintf(f, "server:\n  local-zone: \"test.\" nodefault\n");
	fclose(f);
	o.unbound_conf = ubconf;
	o.timeout_ms = timeout_ms;
	o.nworkers = 2;
	int err = 0;
	struct ctl_dns *d = ctl_dns_new(&o, &err);
	ck_assert_msg(d != NULL, "ctl_dns_new: %d", err);
	return d;
}

/* Runs the control side until slot has a completion for req_id (or deadline). */
static enum ctl_dns_status wait_done(struct ctl_dns *d, unsigned slot, uint64_t req_id, int ms)
{
	uint64_t deadline = now_us() + (uint64_t)ms * 1000u;
	while (now_us() < deadline) {
		struct pollfd p = { .fd = ctl_dns_fd(d), .events = POLLIN };
		rcu_thread_offline();
		poll(&p, 1, 20);
		rcu_thread_online();
		ctl_dns_process(d, now_us());
		struct ctl_dns_done done[8];
		unsigned n = ctl_dns_completions(d, slot, done, 8);
		for (unsigned i = 0; i < n; i++)
			if (done[i].req_id == req_id)
				return done[i].status;
		rcu_quiescent_state();
	}
	ck_abort_msg("no completion for request %llu", (unsigned long long)req_id);
	return CTL_DNS_SERVFAIL;
}

/* Waits for the test server to answer (it starts asynchronously). */
static void wait_server(struct ctl_dns *d)
{
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(ctl_dns_request(d, 1, "mx1.dpmail.test", CTL_DNS_A, 9000 + i), 0);
		enum ctl_dns_status st = wait_done(d, 1, 9000 + i, 3000);
		if (st == CTL_DNS_OK)
			return;
		if (getenv("DNS_TEST_DEBUG"))
			fprintf(stderr, "waiting for the test server: %s\n", ctl_dns_status_str(st));
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("test unbound did not come up");
}

static const struct ctl_dns_answer *resolve(struct ctl_dns *d, const char *name, uint16_t t,
					    enum ctl_dns_status want)
{
	static uint64_t id = 1;
	uint64_t my = id++;
	ck_assert_int_eq(ctl_dns_request(d, 0, name, t, my), 0);
	enum ctl_dns_status st = wait_done(d, 0, my, 5000);
	ck_assert_msg(st == want, "%s/%u: status %s, want %s", name, t, ctl_dns_status_str(st),
		      ctl_dns_status_str(want));
	const struct ctl_dns_answer *a = ctl_dns_lookup(d, name, t, now_us());
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->status, want);
	return a;
}

START_TEST(test_mx_a_aaaa_tlsa)
{
	rcu_register_thread();
	struct ctl_dns *d = dns_new(3000);
	wait_server(d);
	const struct ctl_dns_answer *a = resolve(d, "MX.dpmail.test.", CTL_DNS_MX, CTL_DNS_OK);
	ck_assert_uint_eq(a->n, 4);
	ck_assert_uint_eq(a->rr.mx[0].pref, 10);
	ck_assert_uint_eq(a->rr.mx[1].pref, 10);
	ck_assert_str_eq(a->rr.mx[2].host, "mx2.dpmail.test");
	ck_assert_uint_eq(a->rr.mx[3].pref, 30);
	ck_assert(!a->null_mx);
	ck_assert(a->ttl > 0 && a->ttl <= 300);

	a = resolve(d, "nullmx.dpmail.test", CTL_DNS_MX, CTL_DNS_OK);
	ck_assert(a->null_mx);

	a = resolve(d, "mx1.dpmail.test", CTL_DNS_A, CTL_DNS_OK);
	ck_assert_uint_eq(a->n, 1);
	char buf[64];
	ck_assert_str_eq(inet_ntop(AF_INET, &a->rr.a[0], buf, sizeof(buf)), "198.18.0.10");
	a = resolve(d, "mx1.dpmail.test", CTL_DNS_AAAA, CTL_DNS_OK);
	ck_assert_str_eq(inet_ntop(AF_INET6, &a->rr.aaaa[0], buf, sizeof(buf)), "2001:db8::10");

	a = resolve(d, "_25._tcp.mx1.dpmail.test", CTL_DNS_TLSA, CTL_DNS_OK);
	ck_assert_uint_eq(a->n, 1);
	ck_assert_uint_eq(a->rr.tlsa[0].usage, 3);
	ck_assert_uint_eq(a->rr.tlsa[0].selector, 1);
	ck_assert_uint_eq(a->rr.tlsa[0].mtype, 1);
	ck_assert_uint_eq(a->rr.tlsa[0].len, 32);
	ck_assert_uint_eq(a->rr.tlsa[0].data[31], 0x20);
	ck_assert(!a->secure); /* no trust anchor configured */

	/* TXT: the character-strings of one record are concatenated (RFC 8461 3.1) */
	a = resolve(d, "_mta-sts.dpmail.test", CTL_DNS_TXT, CTL_DNS_OK);
	ck_assert_uint_eq(a->n, 1);
	ck_assert_str_eq(a->rr.txt[0].data, "v=STSv1; id=abc1");
	ck_assert_uint_eq(a->rr.txt[0].len, 16);
	ctl_dns_free(d);
	rcu_unregister_thread();
}
END_TEST

START_TEST(test_negative_and_failures)
{
	rcu_register_thread();
	struct ctl_dns *d = dns_new(1500);
	wait_server(d);
	const struct ctl_dns_answer *a = resolve(d, "nosuch.dpmail.test", CTL_DNS_MX, CTL_DNS_NXDOMAIN);
	ck_assert_int_eq(a->rcode, 3);
	a = resolve(d, "txtonly.dpmail.test", CTL_DNS_MX, CTL_DNS_NODATA);
	ck_assert_int_eq(a->rcode, 0);
	a = resolve(d, "x.refused.test", CTL_DNS_MX, CTL_DNS_SERVFAIL);
	ck_assert_uint_eq(a->ttl, 30);
	uint64_t t0 = now_us();
	a = resolve(d, "x.silent.test", CTL_DNS_MX, CTL_DNS_TIMEOUT);
	ck_assert_uint_ge(now_us() - t0, 1400000);
	ck_assert_uint_eq(a->ttl, 30);
	/* cached: a second lookup is answered without a query */
	ck_assert_ptr_nonnull(ctl_dns_lookup(d, "x.silent.test", CTL_DNS_MX, now_us()));
	ck_assert_ptr_null(ctl_dns_lookup(d, "x.silent.test", CTL_DNS_MX, now_us() + 31000000ull));
	ctl_dns_free(d);
	rcu_unregister_thread();
}
END_TEST

START_TEST(test_coalescing)
{
	rcu_register_thread();
	struct ctl_dns *d = dns_new(3000);
	wait_server(d);
	ck_assert_int_eq(ctl_dns_request(d, 0, "mx.dpmail.test", CTL_DNS_MX, 100), 0);
	ck_assert_int_eq(ctl_dns_request(d, 1, "mx.dpmail.test", CTL_DNS_MX, 200), 0);
	ck_assert_int_eq(ctl_dns_request(d, 0, "mx.dpmail.test", CTL_DNS_MX, 101), 0);
	ctl_dns_process(d, now_us());
	ck_assert_uint_eq(ctl_dns_inflight(d), 1);
	ck_assert_int_eq(wait_done(d, 1, 200, 5000), CTL_DNS_OK);
	struct ctl_dns_done done[4];
	ck_assert_uint_eq(ctl_dns_completions(d, 0, done, 4), 2);
	ck_assert_int_eq(ctl_dns_request(d, 5, "x", CTL_DNS_MX, 1), -EINVAL);
	ctl_dns_free(d);
	rcu_unregister_thread();
}
END_TEST

/* A provider of the pseudo type CTL_DNS_STS: answers "now.test" at once, "later.test" from its
 * process() callback one turn later, never answers "never.test". */
struct fake_prov {
	struct ctl_dns *d;
	int starts;
	char pending[64];
};

static struct ctl_dns_answer *fake_answer(const char *name, enum ctl_dns_status st)
{
	struct ctl_dns_answer *a = calloc(1, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->qtype = CTL_DNS_STS;
	a->status = st;
	a->ttl = 60;
	a->expires_us = now_us() + 60000000u;
	return a;
}

static int fake_start(void *arg, const char *name, uint64_t now)
{
	(void)now;
	struct fake_prov *p = arg;
	p->starts++;
	if (strcmp(name, "now.test") == 0)
		ctl_dns_publish(p->d, fake_answer(name, CTL_DNS_OK));
	else if (strcmp(name, "later.test") == 0)
		snprintf(p->pending, sizeof(p->pending), "%s", name);
	return 0;
}

static void fake_process(void *arg, uint64_t now)
{
	(void)now;
	struct fake_prov *p = arg;
	if (p->pending[0]) {
		ctl_dns_publish(p->d, fake_answer(p->pending, CTL_DNS_NODATA));
		p->pending[0] = '\0';
	}
}

START_TEST(test_provider)
{
	rcu_register_thread();
	struct ctl_dns *d = dns_new(300);
	struct fake_prov fp = { .d = d };
	struct ctl_dns_provider pv = { .qtype = CTL_DNS_STS, .start = fake_start,
				       .process = fake_process, .fd = -1, .arg = &fp };
	ck_assert_int_eq(ctl_dns_set_provider(d, &pv), 0);
	ck_assert_int_eq(ctl_dns_set_provider(d, &pv), -EINVAL);   /* one per type */
	pv.qtype = CTL_DNS_TXT;
	ck_assert_int_eq(ctl_dns_set_provider(d, &pv), -EINVAL);   /* real types go to libunbound */
	resolve(d, "NOW.test.", CTL_DNS_STS, CTL_DNS_OK);
	/* two workers asking while the answer is pending: one start, two completions */
	ck_assert_int_eq(ctl_dns_request(d, 0, "later.test", CTL_DNS_STS, 77), 0);
	ck_assert_int_eq(ctl_dns_request(d, 1, "later.test", CTL_DNS_STS, 78), 0);
	ck_assert_int_eq(wait_done(d, 0, 77, 2000), CTL_DNS_NODATA);
	ck_assert_int_eq(wait_done(d, 1, 78, 2000), CTL_DNS_NODATA);
	ck_assert_int_eq(fp.starts, 2);
	/* no answer by the deadline: TIMEOUT to the waiter, nothing published, the old answer of
	 * another name untouched */
	ck_assert_int_eq(ctl_dns_request(d, 0, "never.test", CTL_DNS_STS, 79), 0);
	ck_assert_int_eq(wait_done(d, 0, 79, 2000), CTL_DNS_TIMEOUT);
	ck_assert_ptr_null(ctl_dns_lookup(d, "never.test", CTL_DNS_STS, now_us()));
	ck_assert_ptr_nonnull(ctl_dns_lookup(d, "now.test", CTL_DNS_STS, now_us()));
	ck_assert_uint_eq(ctl_dns_inflight(d), 0);
	ctl_dns_free(d);
	rcu_unregister_thread();
}
END_TEST

START_TEST(test_parse_mx)
{
	uint16_t pref;
	char host[256];
	const uint8_t ok[] = { 0, 10, 3, 'm', 'X', '1', 3, 'o', 'r', 'g', 0 };
	ck_assert_int_eq(ctl_dns_parse_mx(ok, sizeof(ok), &pref, host, sizeof(host)), 0);
	ck_assert_uint_eq(pref, 10);
	ck_assert_str_eq(host, "mx1.org");
	const uint8_t null_mx[] = { 0, 0, 0 };
	ck_assert_int_eq(ctl_dns_parse_mx(null_mx, sizeof(null_mx), &pref, host, sizeof(host)), 0);
	ck_assert_str_eq(host, "");
	const uint8_t trunc[] = { 0, 10, 3, 'm', 'x' };
	ck_assert_int_eq(ctl_dns_parse_mx(trunc, sizeof(trunc), &pref, host, sizeof(host)), -EINVAL);
	const uint8_t trailing[] = { 0, 10, 0, 7 };
	ck_assert_int_eq(ctl_dns_parse_mx(trailing, sizeof(trailing), &pref, host, sizeof(host)), -EINVAL);
	const uint8_t badchar[] = { 0, 10, 2, 'a', ' ', 0 };
	ck_assert_int_eq(ctl_dns_parse_mx(badchar, sizeof(badchar), &pref, host, sizeof(host)), -EINVAL);
	const uint8_t ptr[] = { 0, 10, 0xc0, 0x0c };
	ck_assert_int_eq(ctl_dns_parse_mx(ptr, sizeof(ptr), &pref, host, sizeof(host)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("unbound");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mx_a_aaaa_tlsa);
	tcase_add_test(tc, test_negative_and_failures);
	tcase_add_test(tc, test_coalescing);
	tcase_add_test(tc, test_provider);
	suite_add_tcase(s, tc);
	TCase *tp = tcase_create("parse");
	tcase_add_test(tp, test_parse_mx);
	suite_add_tcase(s, tp);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
