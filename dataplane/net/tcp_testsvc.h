/* SPDX-License-Identifier: MIT */
/*
 * tcp_testsvc.h: TEST-ONLY TCP services inside dpmaild, enabled only by the tcp.test_* keys:
 * echo, discard, a source that sends a known pattern and closes, and an active-open source
 * towards a test peer. They exist so that the interop tests can move data between the
 * kernel's TCP and ours and check it byte for byte (tests/integration/tcp_*.sh). The pattern
 * is tcp_testsvc_pattern(): a 65521-byte xorshift block repeated. They also serve
 * dpmail-bench tcp (bench/bench_tcp.c) on both backends.
 */
#ifndef DPMAIL_TCP_TESTSVC_H
#define DPMAIL_TCP_TESTSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct conn_net;
struct tcp_testsvc;

#define TCP_TESTSVC_PERIOD 65521u

bool tcp_testsvc_wanted(const struct cfg *c);
/* Starts the services of c on net (our stack's or the posix backend's; worker index idx: the
 * active opens run on worker 0 only). net must outlive the services. NULL with *err = -errno
 * on failure. */
struct tcp_testsvc *tcp_testsvc_create(struct conn_net *net, const struct cfg *c, uint16_t idx,
				       int *err);
void tcp_testsvc_poll(struct tcp_testsvc *s, uint64_t now);
void tcp_testsvc_free(struct tcp_testsvc *s);
/* Byte i of the pattern block (0 <= i < TCP_TESTSVC_PERIOD). */
void tcp_testsvc_pattern(uint8_t block[TCP_TESTSVC_PERIOD]);

#endif
