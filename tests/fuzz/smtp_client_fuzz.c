/* SPDX-License-Identifier: MIT */
/*
 * smtp_client_fuzz.c: libFuzzer target for the client engine: arbitrary server bytes
 * (CVE-2020-8794 class: hostile replies), split at random points chosen by the first octet.
 * The client sends one message when it becomes ready (DATA or BDAT, TLS opportunistic, the
 * body copied out by body_read or borrowed in place through body_map).
 * Invariants: whatever the server says, the client's output stays canonical (every LF is
 * preceded by CR, every CR followed by LF), and the per-message result is reported at most once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

struct fz {
	struct smtp_client_session c;
	struct smtp_client_limits lim;
	struct smtp_client_hooks hooks;
	struct smtp_client_msg msg;
	size_t body_pos;
	int results;
	bool tls_asked;
	bool sent;
	bool prev_cr;
};

static const char body[] = "Subject: x\n\n.dot\r\nbare\rcr\n..\nend";
static const char *const rcpts[] = { "a@example.net", "b@example.net" };

static void fz_ready(void *ctx, struct smtp_client_session *c)
{
	struct fz *f = ctx;
	if (!f->sent) {
		f->sent = true;
		smtp_client_send(c, &f->msg);
	} else {
		smtp_client_quit(c);
	}
}

static long fz_body(void *ctx, struct smtp_client_session *c, uint8_t *buf, size_t cap)
{
	struct fz *f = ctx;
	size_t n = sizeof(body) - 1 - f->body_pos;
	if (n > cap)
		n = cap;
	if (n > 5)
		n = 5;
	memcpy(buf, body + f->body_pos, n);
	f->body_pos += n;
	return (long)n;
}

/* the same pieces in place (bit 3 of the first octet picks it) */
static long fz_body_map(void *ctx, struct smtp_client_session *c, size_t cap, const uint8_t **p)
{
	static uint8_t piece[8];
	long n = fz_body(ctx, c, piece, cap < sizeof(piece) ? cap : sizeof(piece));
	*p = piece;
	return n;
}

static void fz_msg(void *ctx, struct smtp_client_session *c, const struct smtp_reply *r)
{
	if (++((struct fz *)ctx)->results > 1)
		abort();
}

static void fz_tls(void *ctx, struct smtp_client_session *c)
{
	((struct fz *)ctx)->tls_asked = true;
}

static void drain(struct fz *f)
{
	size_t n;
	const char *o = smtp_client_output(&f->c, &n);
	for (size_t i = 0; i < n; i++) {
		if (o[i] == '\n' && !f->prev_cr)
			abort();
		if (f->prev_cr && o[i] != '\n')
			abort();
		f->prev_cr = o[i] == '\r';
	}
	smtp_client_output_consume(&f->c, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;

	if (size < 1)
		return 0;
	memset(&f, 0, sizeof(f));
	smtp_client_limits_defaults(&f.lim);
	f.lim.use_bdat = data[0] & 1;
	f.hooks = (struct smtp_client_hooks){ .ready = fz_ready, .body_read = fz_body,
					      .msg_result = fz_msg, .starttls = fz_tls };
	if (data[0] & 8)
		f.hooks.body_map = fz_body_map;
	f.msg = (struct smtp_client_msg){ .from = "s@example.org", .rcpts = rcpts, .nrcpt = 2,
					  .size = 100, .needs_8bit = data[0] & 2 };
	smtp_client_init(&f.c, &f.lim, &f.hooks, &f, "client.example",
			 (data[0] & 4) ? SMTP_TLS_OPPORTUNISTIC : SMTP_TLS_NONE, false, 0);
	unsigned seed = data[0];
	data++;
	size--;
	size_t off = 0;
	uint64_t now = 0;
	while (off < size) {
		size_t piece = 1 + (size_t)rand_r(&seed) % (size - off);
		size_t n = smtp_client_input(&f.c, data + off, piece, now);
		if (n > piece)
			abort();
		drain(&f);
		if (f.tls_asked) {
			f.tls_asked = false;
			smtp_client_tls_started(&f.c, now);
			drain(&f);
		}
		if (n == 0)
			break;
		off += n;
		now += 1000000;
	}
	smtp_client_tick(&f.c, now + 3600ull * 1000000);
	smtp_client_peer_closed(&f.c);
	drain(&f);
	return 0;
}
