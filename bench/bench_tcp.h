/* SPDX-License-Identifier: MIT */
/*
 * bench_tcp.h: `dpmail-bench tcp`, a TCP client written against the conn API, so the same
 * client logic runs over our own TCP stack on a DPDK port (net_memif to a dpmaild: no kernel
 * at all) and over kernel sockets (the posix backend), against dpmaild's test-only echo and
 * discard services (net/tcp_testsvc.h). It measures connections/s and MB/s and the CPU time
 * the client and the server spend for them (docs/tcp.md, bench/scenarios/tcp-memif.sh).
 */
#ifndef DPMAIL_BENCH_TCP_H
#define DPMAIL_BENCH_TCP_H

#include <stddef.h>
#include <stdint.h>

struct conn_net;

/*
 * A transport the client runs on: the conn_net to open connections with, and one loop turn.
 * poll() runs the backend once at now_us and returns the work it did (0: idle); it may wait
 * up to wait_ms for events where the backend can block (kernel sockets). fini() releases
 * everything (connections still open are aborted).
 */
struct bench_tcp_io {
	struct conn_net *net;
	int (*poll)(void *ctx, uint64_t now_us, int wait_ms);
	void (*fini)(void *ctx);
	void *ctx;
	uint32_t idle_sleep_us;     /* sleep after an idle turn of a polling backend (0: none) */
	/* Instead of that sleep, when set: the backend's own idle wait (DPDK: the lcore's idle
	 * policy, dp_lcore_idle: the RX interrupt wait with dataplane.rx_interrupts, see
	 * dataplane/main/dp_rxintr.c; max_us is then the policy's, not the caller's). */
	void (*idle)(void *ctx, uint32_t max_us);
	uint32_t laddr;             /* our IPv4 address (network order; 0: the kernel picks) */
	const char *name;           /* "dpdk" or "posix" */
};

/* The back-off after an idle turn: io->idle (a frame ends it) or a sleep of idle_sleep_us. */
void bench_tcp_io_idle(const struct bench_tcp_io *io);

/* Our stack on the DPDK port described by the dpmaild-style YAML file at path (eal, port,
 * dataplane.idle_sleep_us, tcp sections; the loop runs on the main lcore). 0, or -1 with a
 * message in err. */
int bench_tcp_io_dpdk(struct bench_tcp_io *io, const char *path, char *err, size_t errlen);

/* Kernel sockets (the posix backend of the conn API). 0, or -1 with a message in err. */
int bench_tcp_io_posix(struct bench_tcp_io *io, uint32_t max_conns, char *err, size_t errlen);

/* The subcommand: dpmail-bench tcp [options] (see --help). Returns the exit status. */
int bench_tcp_main(int argc, char **argv);

#endif
