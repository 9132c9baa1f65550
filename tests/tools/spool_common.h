/* SPDX-License-Identifier: MIT */
/*
 * spool_common.h: helpers shared by the spool test driver and benchmark (tests/tools only):
 * the deterministic message generator (body and length from an id), a monotonic clock and the
 * fixed test key. Header-only: every tests/tools .c file links into its own binary.
 */
#ifndef DPMAIL_TESTS_SPOOL_COMMON_H
#define DPMAIL_TESTS_SPOOL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static const uint8_t spool_test_key[32] = "dpmail-spool-test-key-0123456789";

static inline uint64_t spool_test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t spool_test_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Body length of message id: mostly small, some spanning several chunks. */
static inline size_t spool_test_len(uint64_t id, size_t max)
{
	uint64_t h = spool_test_mix(id);
	size_t len = (h & 3) == 0 ? (size_t)(h >> 8) % (max + 1) : (size_t)(h >> 8) % (max / 16 + 1);
	return len;
}

/* Fills out[0..len) with the bytes at offset off of message id's body. */
static inline void spool_test_body(uint64_t id, size_t off, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t p = off + i;
		uint64_t w = spool_test_mix(id * 0x9E3779B97F4A7C15ull + p / 8);
		out[i] = (uint8_t)(' ' + ((w >> (8 * (p % 8))) & 0xff) % 90);
	}
}

#endif
