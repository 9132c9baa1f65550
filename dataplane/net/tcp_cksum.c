/* SPDX-License-Identifier: MIT */
/*
 * tcp_cksum.c: the TCP checksum (RFC 9293 3.1, RFC 1071) in software, for ports without TCP
 * checksum offload (net_memif, net_tap): every segment is summed once on the way out and once
 * on the way in unless tcp.trusted_link turns both off.
 *
 * tcp_sum16() is the ones' complement sum of a byte range as native-order 16-bit words, folded
 * to 16 bits: the value rte_raw_cksum() returns (checked against it for every length and
 * alignment in tcp_units_test). Because 2^32 = 1 (mod 2^16 - 1), 32-bit words added into
 * 64-bit accumulators sum like 16-bit words; the carries are folded once at the end. On
 * machines with AVX2 (checked once per call with the CPU feature bits the compiler runtime
 * keeps) 64 bytes are summed per step in four 256-bit accumulators of 64-bit lanes: about
 * 0.15 instructions per byte against 0.6-1.1 for the 8-byte scalar loop, which stays for short
 * ranges (headers, pure ACKs) and CPUs without AVX2. Lanes cannot overflow: each step adds
 * less than 2^32 to a lane and a segment is at most 64 KiB (2^11 steps).
 */
#include <string.h>

#include <immintrin.h>

#include <rte_ip.h>

#include "net/tcp_impl.h"

#define SUM_VEC_MIN 128u /* below this the scalar loop is as fast */

/* Adds the 32-bit words of the first len & ~7 bytes at *b to acc; advances *b, *len. */
static uint64_t sum_scalar(const uint8_t **b, uint32_t *len, uint64_t acc)
{
	const uint8_t *p = *b;
	uint32_t n = *len;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		acc += (v & 0xffffffffu) + (v >> 32);
	}
	*b = p;
	*len = n;
	return acc;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint8_t **b, uint32_t *len)
{
	const __m256i lo32 = _mm256_set1_epi64x(0xffffffff);
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	const uint8_t *p = *b;
	uint32_t n = *len;
	for (; n >= 64; p += 64, n -= 64) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
		__m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
		a0 = _mm256_add_epi64(a0, _mm256_and_si256(v, lo32));
		a1 = _mm256_add_epi64(a1, _mm256_srli_epi64(v, 32));
		a2 = _mm256_add_epi64(a2, _mm256_and_si256(w, lo32));
		a3 = _mm256_add_epi64(a3, _mm256_srli_epi64(w, 32));
	}
	__m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	__m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
	*b = p;
	*len = n;
	return (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
}
#endif

/* Adds the tail (< 8 bytes) and folds to 16 bits. */
static uint16_t sum_finish(const uint8_t *b, uint32_t len, uint64_t acc)
{
	if (len >= 4) {
		uint32_t v;
		memcpy(&v, b, 4);
		acc += v;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;
		memcpy(&v, b, 2);
		acc += v;
		b += 2;
		len -= 2;
	}
	if (len) {
		uint16_t left = 0; /* the odd byte first in memory, as rte_raw_cksum does */
		memcpy(&left, b, 1);
		acc += left;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

uint16_t tcp_sum16_scalar(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint64_t acc = sum_scalar(&b, &len, 0);
	return sum_finish(b, len, acc);
}

uint16_t tcp_sum16(const void *p, uint32_t len)
{
	const uint8_t *b = p;
	uint64_t acc = 0;
#if defined(__x86_64__)
	if (len >= SUM_VEC_MIN && __builtin_cpu_supports("avx2"))
		acc = sum_avx2(&b, &len);
#endif
	acc = sum_scalar(&b, &len, acc);
	return sum_finish(b, len, acc);
}

/* Checksum over the TCP segment in m (single segment) with the IPv4 pseudo-header: the value
 * for the header field on output, 0 for a correct segment on input. */
uint16_t tcp_cksum(const struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	uint32_t len = m->data_len;
	uint32_t sum = (src & 0xffff) + (src >> 16) + (dst & 0xffff) + (dst >> 16) +
		       rte_cpu_to_be_16(IPPROTO_TCP) + rte_cpu_to_be_16((uint16_t)len);
	sum += tcp_sum16(rte_pktmbuf_mtod(m, const void *), len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
