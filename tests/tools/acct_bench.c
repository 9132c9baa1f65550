/* SPDX-License-Identifier: MIT */
/*
 * acct_bench.c: CPU cost of the accounting writer per record, as the control thread pays it:
 * a worker-shaped "delivered" event (every field set, TLS, latency) emitted into a ring and
 * formatted to a JSON line in acct.jsonl under a temp dir, in rounds of 1,000.
 * Usage: acct_bench [-n records] [-p] (-p: pseudonymise recipient and sender).
 * Prints: records, CPU seconds of this thread, ns per record (emit + format + write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acct/acct.h"

#define S(x) { x, sizeof(x) - 1 }

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = 200000;
	int pseudo = 0, opt;
	while ((opt = getopt(argc, argv, "n:p")) != -1) {
		if (opt == 'n')
			n = atol(optarg);
		else if (opt == 'p')
			pseudo = 1;
		else
			return 2;
	}
	char dir[] = "/tmp/dpmail-hotin-acct.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	struct ctl_acct_opts o;
	ctl_acct_opts_defaults(&o);
	o.dir = dir;
	o.max_bytes = 0;
	o.retention_s = 0;
	if (pseudo)
		o.pseudo_fields = CTL_ACCT_PSEUDO(CTL_ACCT_RECIPIENT) | CTL_ACCT_PSEUDO(CTL_ACCT_SENDER);
	memset(o.key, 0x42, sizeof(o.key));
	int err;
	struct ctl_acct *a = ctl_acct_new(&o, &err);
	if (!a) {
		fprintf(stderr, "ctl_acct_new: %d\n", err);
		return 1;
	}
	struct ctl_acct_event ev = {
		.type = CTL_ACCT_DELIVERED, .tls_verified = 1, .attempt = 1, .size = 10412,
		.snapshot_version = 3, .now_us = 5000000, .accepted_us = 4990000,
	};
	ev.f[CTL_ACCT_QID] = (struct ctl_acct_str)S("0000019C2F3A4B5D");
	ev.f[CTL_ACCT_SENDER] = (struct ctl_acct_str)S("newsletter@bench.test");
	ev.f[CTL_ACCT_RECIPIENT] = (struct ctl_acct_str)S("user1234@sink.test");
	ev.f[CTL_ACCT_DESTINATION] = (struct ctl_acct_str)S("sink.test");
	ev.f[CTL_ACCT_REMOTE_HOST] = (struct ctl_acct_str)S("127.0.0.1:27110");
	ev.f[CTL_ACCT_REPLY] = (struct ctl_acct_str)S("250 2.0.0 Ok: queued as 4f2a");
	ev.f[CTL_ACCT_TLS_VERSION] = (struct ctl_acct_str)S("TLSv1.3");
	ev.f[CTL_ACCT_TLS_CIPHER] = (struct ctl_acct_str)S("TLS_AES_128_GCM_SHA256");
	ev.f[CTL_ACCT_TLS_POLICY] = (struct ctl_acct_str)S("encrypt");
	ev.f[CTL_ACCT_DKIM_DOMAINS] = (struct ctl_acct_str)S("bench.test");
	long done = 0;
	double t0 = cpu_s();
	while (done < n) {
		for (int i = 0; i < 1000 && done < n; i++, done++) {
			ev.now_us += 1000;
			if (ctl_acct_emit(a, 0, &ev) < 0)
				break;
		}
		ctl_acct_poll(a, 0);
	}
	double t = cpu_s() - t0;
	printf("records=%ld cpu_s=%.3f ns_per_record=%.0f\n", done, t, t * 1e9 / (double)done);
	ctl_acct_free(a);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
