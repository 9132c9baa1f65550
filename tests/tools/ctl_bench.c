/* SPDX-License-Identifier: MIT */
/*
 * ctl_bench.c: costs of the control plane's worker-side primitives and control-side
 * throughputs, one core, no DPDK:
 *   snapshot read      cfg_current + rcu_quiescent_state per loop turn
 *   counter / hist     ctl_counter_add, ctl_hist_observe
 *   acct emit          ctl_acct_emit of a typical delivery record (worker side)
 *   acct format        ctl_acct_poll: records formatted and written per second (control side)
 *   admin requests     status requests per second over the unix socket (one client)
 * Prints one line per measurement: "name value unit".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acct/acct.h"
#include "ctl/plane.h"
#include "log.h"
#include "metrics/stats.h"
#include "snapshot/snapshot.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_snapshot(void)
{
	struct cfg_pub pub;
	cfg_pub_init(&pub);
	cfg_publish(&pub, cfg_snapshot_new(NULL, NULL));
	enum { N = 20000000 };
	uint64_t sum = 0;
	double t = now_s();
	for (int i = 0; i < N; i++) {
		const struct cfg_snapshot *s = cfg_current(&pub);
		sum += s->version;
		rcu_quiescent_state();
	}
	t = now_s() - t;
	printf("snapshot_read_and_quiescent %.1f ns/turn (check %llu)\n", t / N * 1e9, (unsigned long long)sum % 7);
	cfg_pub_fini(&pub);
}

static void bench_counters(void)
{
	enum { N = 50000000 };
	uint64_t c = 0;
	struct ctl_hist h;
	memset(&h, 0, sizeof(h));
	double t = now_s();
	for (int i = 0; i < N; i++)
		ctl_counter_add(&c, 1);
	double tc = now_s() - t;
	t = now_s();
	for (int i = 0; i < N; i++)
		ctl_hist_observe(&h, (uint64_t)(i & 0xffff));
	double th = now_s() - t;
	printf("counter_add %.2f ns/op\nhist_observe %.2f ns/op (count %llu)\n", tc / N * 1e9,
	       th / N * 1e9, (unsigned long long)ctl_hist_count(&h) + c - c);
}

static void bench_acct(const char *dir, uint32_t pseudo)
{
	struct ctl_acct_opts o;
	ctl_acct_opts_defaults(&o);
	o.dir = dir;
	o.ring_bytes = 1u << 20;
	o.max_bytes = 1u << 30;
	o.pseudo_fields = pseudo;
	int err;
	struct ctl_acct *a = ctl_acct_new(&o, &err);
	struct ctl_acct_event ev = { .type = CTL_ACCT_DELIVERED, .tls_verified = 1, .attempt = 1,
				     .size = 4321, .snapshot_version = 3, .now_us = 10, .accepted_us = 5 };
#define S(k, v) ev.f[k] = (struct ctl_acct_str){ v, (uint16_t)strlen(v) }
	S(CTL_ACCT_QID, "0a1b2c3d4e5f");
	S(CTL_ACCT_SENDER, "newsletter@esp.example");
	S(CTL_ACCT_RECIPIENT, "someone@example.org");
	S(CTL_ACCT_DESTINATION, "example.org");
	S(CTL_ACCT_REMOTE_HOST, "mx1.example.org[198.18.0.10]");
	S(CTL_ACCT_REPLY, "250 2.0.0 Ok: queued as 4F2A1B");
	S(CTL_ACCT_TLS_VERSION, "TLSv1.3");
	S(CTL_ACCT_TLS_CIPHER, "TLS_AES_256_GCM_SHA384");
	S(CTL_ACCT_DKIM_DOMAINS, "esp.example");
	/* steady state: the ring's memory is warm, as on a running worker */
	enum { N = 400000, BATCH = 2000 };
	double te = 0, tp = 0;
	int sent = 0;
	unsigned w = 0;
	for (int i = 0; i < N; i += BATCH) {
		double t = now_s();
		for (int k = 0; k < BATCH; k++)
			sent += ctl_acct_emit(a, 0, &ev) == 0;
		te += now_s() - t;
		t = now_s();
		w += ctl_acct_poll(a, 0);
		tp += now_s() - t;
	}
	printf("acct_emit %.1f ns/record (%d queued)\nacct_format_write%s %.0f records/s (%u written)\n",
	       te / N * 1e9, sent, pseudo ? "_pseudonymised_2_fields" : "", w / tp, w);
	ctl_acct_free(a);
}

static void bench_admin(const char *dir)
{
	char sock[100];
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	struct cfg_pub pub;
	cfg_pub_init(&pub);
	struct ctl_plane_opts po = { .version = "bench", .admin_socket = sock };
	int err;
	struct ctl_plane *p = ctl_plane_new(&po, &pub, &err);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	static const char req[] = "{\"id\":1,\"cmd\":\"status\"}\n";
	char buf[4096];
	enum { N = 20000 };
	double t = now_s();
	for (int i = 0; i < N; i++) {
		if (write(fd, req, sizeof(req) - 1) < 0)
			break;
		ssize_t n = 0;
		do {
			ctl_plane_poll(p, 0, 0);
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		} while (n <= 0);
	}
	t = now_s() - t;
	printf("admin_status_roundtrip %.1f us (%.0f requests/s, one client, same thread)\n",
	       t / N * 1e6, N / t);
	close(fd);
	ctl_plane_free(p);
	cfg_pub_fini(&pub);
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	char dir[] = "/tmp/dpmail-ctl-bench.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	rcu_register_thread();
	bench_snapshot();
	bench_counters();
	bench_acct(dir, 0);
	bench_acct(dir, CTL_ACCT_PSEUDO(CTL_ACCT_SENDER) | CTL_ACCT_PSEUDO(CTL_ACCT_RECIPIENT));
	bench_admin(dir);
	rcu_unregister_thread();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
