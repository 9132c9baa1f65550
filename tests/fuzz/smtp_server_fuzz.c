/* SPDX-License-Identifier: MIT */
/*
 * smtp_server_fuzz.c: libFuzzer target for the server engine. The input is arbitrary client
 * bytes; its first two octets choose the policy (newline reject/normalise, small limits) and
 * the seed of the split points, so every input also runs with the data split at random
 * places. The async answers (end of data, STARTTLS) are given between reads, and the clock
 * moves. Invariants checked: every output line is a well-formed reply; an accepted message is
 * canonical (CRLF only, no NUL) and within the size limit; the engine never consumes more than
 * it was given; and (config bit 16) the replies and events are the same whether the input
 * comes whole or split at random points.
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

static void setup(struct harness *h, uint8_t cfg)
{
	h_init(h);
	h->hooks.data_end = fz_data_end;
	if (cfg & 1)
		h->lim.newline = SMTP_NL_NORMALISE;
	if (cfg & 2) {
		h->lim.message_max = 300;
		h->lim.header_max = 100;
		h->lim.rcpt_max = 3;
		h->lim.cmd_line_max = 64;
		h->lim.text_line_max = 40;
		h->lim.errors_max = 1000;
	}
	if (cfg & 4)
		h->lim.text_line_reject = false;
	if (cfg & 8)
		h->result_code = 451;
}

/* Drops the event lines, leaving the server's output. */
static size_t replies_only(const char *log, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const char *e = memchr(log + i, '\n', n - i);
		size_t l = e ? (size_t)(e - log - i) + 1 : n - i;
		if (!(l >= 2 && log[i] == '#' && log[i + 1] == '#')) {
			memcpy(out + o, log + i, l);
			o += l;
		}
		i += l;
	}
	return o;
}

/* Feeds data in pieces (whole when seed is NULL); the clock moves only when ticking. */
static void run(struct harness *h, const uint8_t *data, size_t size, unsigned *seed, bool tick)
{
	size_t off = 0;

	h_start(h);
	while (off < size) {
		size_t piece = seed ? 1 + (size_t)rand_r(seed) % (size - off) : size - off;
		size_t n = smtp_server_input(&h->s, data + off, piece, h->now);
		if (n > piece)
			abort();
		bool waiting = h->want_result || h->want_tls;
		h_drain(h);
		h_answer(h);
		off += n;
		if (tick) {
			h->now += 1000000;
			smtp_server_tick(&h->s, h->now);
		}
		if (n == 0 && !waiting && h->s.state != SMTP_S_WAIT_RESULT)
			break;
	}
	smtp_server_peer_closed(&h->s);
	h_drain(h);
	char *r = malloc(h->log_len + 1);
	check_replies(r, replies_only(h->log, h->log_len, r));
	free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness a, b;

	if (size < 2)
		return 0;
	uint8_t cfg = data[0];
	unsigned seed = data[1];
	data += 2;
	size -= 2;
	if (cfg & 16) {
		/* differential: the same octets whole and split must give the same replies and
		 * events. STARTTLS is never completed here (what follows it in one read is
		 * discarded by design, so splits may differ there). */
		setup(&a, cfg);
		setup(&b, cfg);
		a.hooks.starttls = b.hooks.starttls = NULL;
		run(&a, data, size, NULL, false);
		run(&b, data, size, &seed, false);
		if (a.log_len != b.log_len || memcmp(a.log, b.log, a.log_len) != 0)
			abort();
		h_free(&a);
		h_free(&b);
		return 0;
	}
	setup(&a, cfg);
	a.log_events = false;
	run(&a, data, size, &seed, true);
	h_free(&a);
	return 0;
}
