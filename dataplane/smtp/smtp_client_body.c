// SPDX-License-Identifier: MIT
/*
 * smtp_client_body.c: the output side of the client engine (smtp_client.c runs the state
 * machine). It pulls the message body through the body_read (copy) or body_map (in place)
 * hook, canonicalises it, and hands the caller contiguous output runs: the commands queued in
 * c->out, the DATA body pumped into c->out dot-stuffed and ended by ".", or BDAT chunks
 * gathered in c->chunk (see "Chunks" below: a chunk closes with LAST only when the hook
 * reports the end, which the spool reports only after it verified the body's CRC).
 * smtp_client_output() / smtp_client_output_consume() are the only way octets leave a session;
 * the flush hook is called from here when output is waiting.
 *
 * Every body octet passes the canonicaliser: a bare CR or bare LF becomes CRLF, so dpmail can
 * never be the sending half of an SMTP smuggling attack; DATA is dot-stuffed.
 */
#include <errno.h>
#include <string.h>

#include "fmt.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_scan.h"

/*
 * BDAT chunks may go out now: in BODY, or (pipelined) right behind the last RCPT while the MAIL
 * and RCPT replies are still outstanding (body_early), until the LAST chunk or a failure.
 */
static bool bdat_streaming(const struct smtp_client_session *c)
{
	if (c->bdat_last_sent || c->bdat_stop || c->msg_failed)
		return false;
	if (c->state == SMTP_C_BODY)
		return true;
	return c->body_early && (c->state == SMTP_C_MAIL || c->state == SMTP_C_RCPT);
}

/* Forgets the chunk being gathered (never sent: see "Chunks"). */
void smtp_cli_chunk_drop(struct smtp_client_session *c)
{
	c->chunk.open = false;
	c->chunk.len = c->chunk.pulled = 0;
}

/* Output is waiting: queued commands, or body octets that output() will pull. */
static bool want_output(const struct smtp_client_session *c)
{
	if (c->out.tail != c->out.head || c->chunk.closed)
		return true;
	if (c->body_wait)
		return false;
	if (c->bdat)
		return bdat_streaming(c) && (c->pipelined || c->bdat_pending == 0);
	return c->state == SMTP_C_BODY;
}

/* Calls the flush hook when output is waiting; inside input() the input loop flushes once at
 * its end instead. */
void smtp_cli_flush(struct smtp_client_session *c)
{
	if (want_output(c) && c->hooks->flush && !c->in_input)
		c->hooks->flush(c->ctx, c);
}

void smtp_client_body_ready(struct smtp_client_session *c)
{
	c->body_wait = false;
	smtp_cli_flush(c);
}

/*
 * The longest prefix of [p, end) that is already canonical: ordinary octets and CRLF pairs,
 * with (when stuff) no '.' right after a CRLF. It stops before a bare CR or LF, before a CR
 * that ends the span (its LF may come with the next read) and before a '.' to be doubled, so
 * the caller copies the prefix as it is and hands the octet it stopped at to the slow path.
 * A body the spool holds in canonical form (the inbound server enforces strict line endings)
 * is one scan and one copy per read, not a state-machine step per line.
 */
static size_t canonical_run(const uint8_t *p, const uint8_t *end, bool stuff)
{
	const uint8_t *q = p;

	for (;;) {
		q = smtp_scan_special(q, end, false);
		if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
			return (size_t)(q - p);
		if (stuff && end - q > 2 && q[2] == '.')
			return (size_t)(q + 2 - p);
		q += 2;
	}
}

/*
 * Canonical form of body octets: bare CR and bare LF become CRLF (a CRLF pair split across
 * reads stays one CRLF); with stuff, a '.' at the start of a line is doubled. out must hold
 * 2 * n octets. Returns the octets written.
 */
static size_t canon(struct smtp_client_session *c, const uint8_t *in, size_t n, uint8_t *out,
		    bool stuff)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (!c->last_cr && !(c->at_bol && stuff && in[i] == '.')) {
			/* canonical octets (plain ones and CRLF pairs) are copied as they are */
			size_t k = canonical_run(in + i, in + n, stuff);
			if (k) {
				memcpy(out + o, in + i, k);
				o += k;
				i += k;
				c->at_bol = in[i - 1] == '\n';
				if (i == n)
					break;
			}
		}
		uint8_t b = in[i];
		if (b == '\n' && c->last_cr) {
			c->last_cr = false;
			continue;
		}
		c->last_cr = b == '\r';
		if (b == '\r' || b == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			c->at_bol = true;
			continue;
		}
		if (b == '.' && c->at_bol && stuff)
			out[o++] = '.';
		out[o++] = b;
		c->at_bol = false;
	}
	return o;
}

/*
 * Pulls up to cap body octets: in place through body_map, else copied into buf by body_read;
 * *p points at them. Returns >0, 0 at the end, <0 when none now (or failure, already handled).
 */
static long pull(struct smtp_client_session *c, uint8_t *buf, size_t cap, const uint8_t **p)
{
	const struct smtp_client_hooks *h = c->hooks;
	long n;

	*p = buf;
	if (h->body_map)
		n = h->body_map(c->ctx, c, cap, p);
	else
		n = h->body_read ? h->body_read(c->ctx, c, buf, cap) : 0;
	if (n == -EAGAIN) {
		c->body_wait = true;
		return -1;
	}
	if (n < 0 || (size_t)n > cap || (n > 0 && !*p)) {
		smtp_cli_fail(c, 451, "4.3.0", "error reading the message");
		return -1;
	}
	if (n == 0)
		c->body_eof = true;
	return n;
}

/* Octets pulled per step: a copy goes through a stack buffer of this size; octets read in
 * place are bounded by the output room only. */
#define PULL_COPY 2048

static size_t pull_cap(const struct smtp_client_session *c, size_t want)
{
	return c->hooks->body_map || want < PULL_COPY ? want : PULL_COPY;
}

static void pump_data(struct smtp_client_session *c)
{
	uint8_t in[PULL_COPY];

	while (c->state == SMTP_C_BODY && !c->body_wait && smtp_obuf_space(&c->out) > 2 * sizeof(in) + 8) {
		const uint8_t *src;
		long n = pull(c, in, pull_cap(c, (smtp_obuf_space(&c->out) - 8) / 2), &src);
		if (n < 0)
			return;
		if (n == 0) {
			if (!c->at_bol)
				smtp_obuf_append(&c->out, "\r\n", 2);
			smtp_obuf_append(&c->out, ".\r\n", 3);
			smtp_cli_enter(c, SMTP_C_DOT, c->lim->final_timeout_us);
			return;
		}
		size_t room;
		uint8_t *t = (uint8_t *)smtp_obuf_tail(&c->out, &room);
		smtp_obuf_commit(&c->out, canon(c, src, (size_t)n, t, true));
		c->deadline = c->now + c->lim->block_timeout_us;
	}
}

/*
 * Chunks. A BDAT chunk is gathered in c->chunk, apart from the command buffer, and stays open
 * while the spool's reader hands over pieces (prefix, body records, inline tail: from the read
 * cache they come within one turn). It closes when the reader reports the end, whose CRC the
 * spool has verified (BDAT n LAST: a 10 KiB message is one chunk and one reply), when the
 * buffer is full (a bounded chunk, at most one TLS record), or at lim->bdat_chunk pulled
 * octets. A reader failure (bad CRC, I/O) fails the session with the open chunk unsent, so a
 * corrupt body never gets LAST. The header is written in front of the octets once their
 * canonical size is known: no copy. A closed chunk goes out after the octets queued in out
 * before it closed (`before`); the next one is gathered once it is sent.
 */
/* Closes the gathered chunk: header in front, LAST if eof. */
static void chunk_close(struct smtp_client_session *c, bool eof)
{
	struct smtp_chunk *k = &c->chunk;
	char hdr[SMTP_CHUNK_HDR] = "BDAT ";
	size_t hl = 5 + fmt_u64(hdr + 5, k->len);

	if (eof) {
		memcpy(hdr + hl, " LAST", 5);
		hl += 5;
	}
	hdr[hl++] = '\r';
	hdr[hl++] = '\n';
	k->head = (uint32_t)(SMTP_CHUNK_HDR - hl);
	k->tail = SMTP_CHUNK_HDR + k->len;
	memcpy(k->buf + k->head, hdr, hl);
	k->before = c->out.tail - c->out.head;
	k->closed = true;
	smtp_cli_chunk_drop(c);
	c->bdat_pending++;
	if (eof) {
		c->bdat_last_sent = true;
		if (c->state == SMTP_C_BODY)
			smtp_cli_enter(c, SMTP_C_DOT, c->lim->final_timeout_us);
		/* else early: rcpts_done() enters DOT once the RCPT replies are in */
	} else {
		c->deadline = c->now + c->lim->block_timeout_us;
	}
}

/*
 * Gathers body octets into the chunk (opening it if needed) until the body ends, the buffer
 * or lim->bdat_chunk is reached, or the reader has nothing now. Returns true when a chunk
 * closed, false when none could be closed now (the previous one unsent, body not ready: the
 * chunk stays open, or the session failed: it is dropped).
 */
static bool bdat_chunk(struct smtp_client_session *c)
{
	struct smtp_chunk *k = &c->chunk;
	uint8_t in[PULL_COPY];
	size_t cap = c->lim->bdat_chunk ? c->lim->bdat_chunk : SIZE_MAX;
	const size_t avail = sizeof(k->buf) - SMTP_CHUNK_HDR - 2; /* 2: a final CRLF */
	uint8_t *data = (uint8_t *)k->buf + SMTP_CHUNK_HDR;
	bool eof = false;

	if (k->closed)
		return false;
	k->open = true;
	while (k->pulled < cap && avail - k->len >= 128) {
		size_t want = pull_cap(c, (avail - k->len) / 2); /* canonicalisation at most doubles */
		want = want < cap - k->pulled ? want : cap - k->pulled;
		const uint8_t *src;
		long n = pull(c, in, want, &src);
		if (n < 0)
			break; /* not ready (body_wait) or failed (state DONE) */
		if (n == 0) {
			eof = true;
			break;
		}
		k->pulled += (uint32_t)n;
		k->len += (uint32_t)canon(c, src, (size_t)n, data + k->len, false);
	}
	if (c->state == SMTP_C_DONE) {
		smtp_cli_chunk_drop(c);
		return false;
	}
	if (c->body_wait || (k->len == 0 && !eof))
		return false; /* stays open: the next pieces join it */
	if (eof && !c->at_bol) {
		/* the message ends with CRLF, as with DATA */
		data[k->len++] = '\r';
		data[k->len++] = '\n';
		c->at_bol = true;
	}
	chunk_close(c, eof);
	return true;
}

static void pump_bdat(struct smtp_client_session *c)
{
	if (c->chunk.open && !bdat_streaming(c))
		smtp_cli_chunk_drop(c); /* the transaction failed or stopped: its open chunk never goes */
	while (bdat_streaming(c) && !c->body_wait && (c->pipelined || c->bdat_pending == 0))
		if (!bdat_chunk(c))
			return;
}

/*
 * A pipelined BDAT transaction whose first chunk is not complete yet (the spool reads the
 * body): its commands wait for it so that commands and body leave in one write and the server
 * answers them in one go. The chunk has its own buffer: never a deadlock.
 */
static bool hold_for_body(const struct smtp_client_session *c)
{
	return c->body_early && c->body_wait && c->bdat_pending == 0 && bdat_streaming(c);
}

const char *smtp_client_output(struct smtp_client_session *c, size_t *len)
{
	if (!c->body_wait) {
		if (c->bdat)
			pump_bdat(c);
		else if (c->state == SMTP_C_BODY)
			pump_data(c);
	} else if (c->chunk.open && !bdat_streaming(c)) {
		smtp_cli_chunk_drop(c);
	}
	if (hold_for_body(c)) {
		*len = 0;
		return c->out.buf + c->out.head;
	}
	const struct smtp_chunk *k = &c->chunk;
	if (k->closed && k->before == 0) {
		*len = k->tail - k->head;
		return k->buf + k->head;
	}
	const char *p = smtp_obuf_data(&c->out, len);
	if (k->closed)
		*len = k->before;
	return p;
}

void smtp_client_output_consume(struct smtp_client_session *c, size_t n)
{
	struct smtp_chunk *k = &c->chunk;

	if (!k->closed) {
		smtp_obuf_consume(&c->out, n);
		return;
	}
	if (k->before) {
		n = n < k->before ? n : k->before;
		k->before -= (uint32_t)n;
		smtp_obuf_consume(&c->out, n);
		return;
	}
	n = n < k->tail - k->head ? n : k->tail - k->head;
	k->head += (uint32_t)n;
	if (k->head == k->tail)
		k->closed = false;
}

