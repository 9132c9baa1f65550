/* SPDX-License-Identifier: MIT */
/*
 * tcp_opts.c: TCP option codec. The parser accepts options in any order, skips NOP, stops at
 * EOL, skips unknown kinds by their length, and rejects the whole segment when an option is
 * malformed (length < 2, running past the header, or a known kind with the wrong length), as
 * RFC 9293 3.1 and RFC 1122 4.2.2.5 ask. The builders write the options we send, padded with
 * NOPs to 32-bit alignment in the layout the common stacks use.
 */
#include <string.h>

#include <rte_byteorder.h>

#include "net/tcp_impl.h"

enum { OPT_EOL = 0, OPT_NOP = 1, OPT_MSS = 2, OPT_WS = 3, OPT_SACK_OK = 4, OPT_SACK = 5,
       OPT_TS = 8 };

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One known option of kind k and total length l at p; 0 or -1 when malformed. */
static int opt_one(uint8_t k, const uint8_t *p, uint8_t l, struct tcp_opts *o)
{
	switch (k) {
	case OPT_MSS:
		if (l != 4)
			return -1;
		o->mss = rd16(p + 2);
		o->has_mss = 1;
		return 0;
	case OPT_WS:
		if (l != 3)
			return -1;
		o->wscale = p[2] > 14 ? 14 : p[2]; /* RFC 7323 2.3: clamp, do not reject */
		o->has_ws = 1;
		return 0;
	case OPT_SACK_OK:
		if (l != 2)
			return -1;
		o->sack_ok = 1;
		return 0;
	case OPT_TS:
		if (l != 10)
			return -1;
		o->tsval = rd32(p + 2);
		o->tsecr = rd32(p + 6);
		o->has_ts = 1;
		return 0;
	case OPT_SACK:
		if (l < 10 || (l - 2) % 8)
			return -1;
		o->nsack = 0;
		for (uint8_t i = 2; i + 8 <= l && o->nsack < 4; i += 8, o->nsack++) {
			o->sack[o->nsack][0] = rd32(p + i);
			o->sack[o->nsack][1] = rd32(p + i + 4);
		}
		return 0;
	default:
		return 0; /* unknown: skipped by its length */
	}
}

/*
 * Parses len bytes of options at p into o (zeroed first). Returns 0, or -1 if malformed (the
 * caller drops the segment).
 */
int tcp_opts_parse(const uint8_t *p, uint32_t len, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	/* NOP NOP TS: nearly every segment of a connection with timestamps (RFC 7323 App. A);
	 * the loop below gives the same result for it */
	if (len == 12 && p[0] == OPT_NOP && p[1] == OPT_NOP && p[2] == OPT_TS && p[3] == 10) {
		o->tsval = rd32(p + 4);
		o->tsecr = rd32(p + 8);
		o->has_ts = 1;
		return 0;
	}
	uint32_t i = 0;
	while (i < len) {
		uint8_t k = p[i];
		if (k == OPT_EOL)
			break;
		if (k == OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		uint8_t l = p[i + 1];
		if (l < 2 || i + l > len)
			return -1;
		if (opt_one(k, p + i, l, o) < 0)
			return -1;
		i += l;
	}
	return 0;
}

static uint8_t *put_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = OPT_NOP; p[1] = OPT_NOP; p[2] = OPT_TS; p[3] = 10;
	wr32(p + 4, tsval);
	wr32(p + 8, tsecr);
	return p + 12;
}

/*
 * Options of a SYN or SYN-ACK: MSS always; window scale when ws >= 0; SACK-permitted and
 * timestamps when asked. Writes at most 20 bytes at p; returns the length (multiple of 4).
 */
uint32_t tcp_opts_build_syn(uint8_t *p, uint16_t mss, int ws, bool sack_ok, bool ts,
			    uint32_t tsval, uint32_t tsecr)
{
	uint8_t *q = p;
	q[0] = OPT_MSS; q[1] = 4; wr16(q + 2, mss);
	q += 4;
	if (sack_ok && ts) {
		q[0] = OPT_SACK_OK; q[1] = 2; q[2] = OPT_TS; q[3] = 10;
		wr32(q + 4, tsval);
		wr32(q + 8, tsecr);
		q += 12;
	} else if (ts) {
		q = put_ts(q, tsval, tsecr);
	} else if (sack_ok) {
		q[0] = OPT_NOP; q[1] = OPT_NOP; q[2] = OPT_SACK_OK; q[3] = 2;
		q += 4;
	}
	if (ws >= 0) {
		q[0] = OPT_NOP; q[1] = OPT_WS; q[2] = 3; q[3] = (uint8_t)ws;
		q += 4;
	}
	return (uint32_t)(q - p);
}

/*
 * Options of a non-SYN segment: timestamps when ts, then up to nsack SACK blocks (as many as
 * fit in 40 bytes). Returns the length (multiple of 4).
 */
uint32_t tcp_opts_build(uint8_t *p, bool ts, uint32_t tsval, uint32_t tsecr,
			const uint32_t (*sack)[2], uint32_t nsack)
{
	uint8_t *q = p;
	if (ts)
		q = put_ts(q, tsval, tsecr);
	uint32_t room = (TCP_OPT_MAX - (uint32_t)(q - p) - 4) / 8;
	if (nsack > room)
		nsack = room;
	if (nsack) {
		q[0] = OPT_NOP; q[1] = OPT_NOP; q[2] = OPT_SACK; q[3] = (uint8_t)(2 + 8 * nsack);
		q += 4;
		for (uint32_t i = 0; i < nsack; i++, q += 8) {
			wr32(q, sack[i][0]);
			wr32(q + 4, sack[i][1]);
		}
	}
	return (uint32_t)(q - p);
}
