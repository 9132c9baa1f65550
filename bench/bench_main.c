/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c: dpmail-bench entry point: load generator, provider-like sink, run reports and
 * Message-ID verification. See docs/bench.md.
 */
#include "bench.h"
#include "bench_tcp.h"

#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: dpmail-bench COMMAND [options]   (COMMAND --help for its options)\n"
		   "  load    drive SMTP sessions against a server and measure latency/throughput\n"
		   "  sink    accept SMTP like a provider (reply mix, delays, limits), count, check ids\n"
		   "  report  compare run JSON files side by side; --svg-prefix P writes plots\n"
		   "  verify  compare Message-ID lists: verify SENT RECEIVED [--json FILE]\n"
		   "  tcp     TCP conns/s and MB/s per CPU-second: our stack (DPDK) or kernel sockets\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "load") == 0)
		return bench_load_main(argc - 1, argv + 1);
	if (strcmp(cmd, "sink") == 0)
		return bench_sink_main(argc - 1, argv + 1);
	if (strcmp(cmd, "report") == 0)
		return bench_report_main(argc - 1, argv + 1);
	if (strcmp(cmd, "verify") == 0)
		return bench_verify_main(argc - 1, argv + 1);
	if (strcmp(cmd, "tcp") == 0)
		return bench_tcp_main(argc - 1, argv + 1);
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
