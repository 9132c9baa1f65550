/* SPDX-License-Identifier: MIT */
/*
 * sock_echo: an echo server over the posix conn backend, for tests of the layers above it.
 *   sock_echo [ADDR] [PORT]   (defaults 127.0.0.1 and an ephemeral port)
 * Prints "listening port=N" on stdout once it accepts, echoes every byte back with the conn
 * API's backpressure (stops reading while the send queue is full), closes after the peer's
 * EOF, and exits on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sock/sock.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

static size_t echo_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	ssize_t n = conn_send(c, d, len);
	return n < 0 ? len : (size_t)n; /* short: on_sendable resumes reading */
}

static void echo_sendable(void *ctx, struct conn *c) { conn_resume_read(c); }
static void echo_eof(void *ctx, struct conn *c) { conn_close(c); }
static void echo_closed(void *ctx, struct conn *c, enum conn_close_reason why) { }

static const struct conn_handler echo_handler = {
	.on_data = echo_data, .on_eof = echo_eof, .on_sendable = echo_sendable,
	.on_closed = echo_closed,
};

static int echo_accept(void *ctx, struct conn *c)
{
	conn_set_handler(c, &echo_handler, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct conn_addr a = { .family = AF_INET };
	if (inet_pton(AF_INET, argc > 1 ? argv[1] : "127.0.0.1", &a.ip.v4) != 1) {
		fprintf(stderr, "sock_echo: bad address\n");
		return 2;
	}
	a.port = htons((uint16_t)(argc > 2 ? atoi(argv[2]) : 0));
	int err = 0;
	struct sock_net *n = sock_net_create(NULL, &err);
	if (!n) {
		fprintf(stderr, "sock_echo: sock_net_create: %d\n", err);
		return 1;
	}
	int port = sock_net_listen_addr(n, &a, echo_accept, NULL);
	if (port < 0) {
		fprintf(stderr, "sock_echo: listen: %d\n", port);
		sock_net_free(n);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("listening port=%d\n", port);
	fflush(stdout);
	while (!stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sock_net_poll(n, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u, 100);
	}
	sock_net_free(n);
	return 0;
}
