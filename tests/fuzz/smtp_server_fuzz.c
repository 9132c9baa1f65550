/* SPDX-License-Identifier: MIT */
/*
 * smtp_server_fuzz.c: libFuzzer target for the server engine. The input is arbitrary client
 * bytes; its first two octets choose the policy (newline reject/normalise, small limits) and
 * the seed of the split points, so every input also runs with the data split at random
 * places. The async answers (end of data, STARTTLS) are given between reads, and the clock
 * moves. Invariants checked: every output line is a well-formed reply; an accepted message is
 * canonical (CRLF only, no NUL) and within the size limit; the engine never consumes more than
 * it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/smtp/smtp_harness.h"

static void check_canonical(const char *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\0')
			abort();
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			abort();
		if (m[i] == '\r' && (i + 1 >= n || m[i + 1] != '\n'))
			abort();
	}
}

static void fz_data_end(void *ctx, struct smtp_server_session *s)
{
	struct harness *h = ctx;

	check_canonical(h->msg, h->msg_len);
	if (h->msg_len > h->lim.message_max)
		abort();
	h->want_result = true;
}

static void check_replies(const char *o, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (o[i] != '\n')
			continue;
		const char *l = o + start;
		size_t ll = i - start;
		if (ll < 5 || l[ll - 1] != '\r' || l[0] < '2' || l[0] > '5' || (l[3] != ' ' && l[3] != '-'))
			abort();
		start = i + 1;
	}
	if (start != n)
		abort(); /* replies are whole lines */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h;

	if (size < 2)
		return 0;
	h_init(&h);
	h.log_events = false;
	h.hooks.data_end = fz_data_end;
	if (data[0] & 1)
		h.lim.newline = SMTP_NL_NORMALISE;
	if (data[0] & 2) {
		h.lim.message_max = 300;
		h.lim.header_max = 100;
		h.lim.rcpt_max = 3;
		h.lim.cmd_line_max = 64;
		h.lim.text_line_max = 40;
		h.lim.errors_max = 1000;
	}
	if (data[0] & 4)
		h.lim.text_line_reject = false;
	if (data[0] & 8)
		h.result_code = 451;
	unsigned seed = data[1];
	data += 2;
	size = size - 2;
	h_start(&h);
	size_t off = 0;
	while (off < size) {
		size_t piece = 1 + (size_t)rand_r(&seed) % (size - off);
		size_t n = smtp_server_input(&h.s, data + off, piece, h.now);
		if (n > piece)
			abort();
		bool waiting = h.want_result || h.want_tls;
		h_drain(&h);
		h_answer(&h);
		off += n;
		h.now += 1000000;
		smtp_server_tick(&h.s, h.now);
		if (n == 0 && !waiting && h.s.state != SMTP_S_WAIT_RESULT)
			break;
	}
	smtp_server_peer_closed(&h.s);
	h_drain(&h);
	check_replies(h.log, h.log_len);
	h_free(&h);
	return 0;
}
