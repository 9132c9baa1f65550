/* SPDX-License-Identifier: MIT */
/*
 * bench_smtpd_fuzz.c: the sink's SMTP engine under arbitrary client bytes. The first byte
 * chooses the chunk size (input split points) and the end-of-data reply, so splits, pipelining,
 * STARTTLS and every reply path are explored. Invariants: consumed <= offered, the output block
 * never overflows, the state stays valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const unsigned codes[] = { 250, 451, 550, 421 };
	size_t step = (size_t)(data[0] & 0x3f) + 1;
	unsigned code = codes[data[0] >> 6];
	data++, size--;
	struct bench_smtpd s;
	bench_smtpd_init(&s, true, "fuzz");
	uint8_t *buf = malloc(size + 1);
	size_t have = 0, off = 0;
	for (int rounds = 0; rounds < 100000; rounds++) {
		size_t add = size - off < step ? size - off : step;
		memcpy(buf + have, data + off, add);
		have += add;
		off += add;
		size_t used = bench_smtpd_input(&s, buf, have);
		if (used > have)
			abort();
		memmove(buf, buf + used, have - used);
		have -= used;
		if (s.out_len > sizeof(s.out) || (unsigned)s.state >= BENCH_SMTPD__MAX)
			abort();
		s.out_len = 0;
		if (s.state == BENCH_SMTPD_EOM)
			bench_smtpd_eom_reply(&s, code);
		else if (s.state == BENCH_SMTPD_TLS) {
			have = 0; /* the sink drops pipelined bytes after STARTTLS */
			bench_smtpd_tls_started(&s);
		} else if (s.state == BENCH_SMTPD_QUIT)
			break;
		if (add == 0 && used == 0)
			break;
	}
	free(buf);
	return 0;
}
