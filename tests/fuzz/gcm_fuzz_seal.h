/* SPDX-License-Identifier: MIT */
/*
 * gcm_fuzz_seal.h: the record-stream builder shared by the gcm fuzz targets. The fuzzer's input
 * is a list of items "content type, flags, 16-bit length, plaintext"; each is sealed by session
 * a into out[]. Flag bit 1 pads the record to 64 bytes, bit 0 flips one ciphertext bit (chosen
 * by the flags' upper bits) so that the opening side meets bad_record_mac too.
 */
#ifndef DPMAIL_GCM_FUZZ_SEAL_H
#define DPMAIL_GCM_FUZZ_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gcm/gcm.h"

/* Seals the items of d[0..n) with a on engine e into out[0..cap); returns the stream length. */
static size_t gcm_fuzz_seal_items(struct gcm_engine *e, struct gcm_sess *a, const uint8_t *d,
				  size_t n, uint8_t *out, size_t cap)
{
	size_t len = 0;

	while (n >= 4 && len + GCM_TLS_MAX_RECORD + 600 < cap) {
		uint8_t ct = d[0], fl = d[1];
		size_t pl = (size_t)d[2] << 8 | d[3];
		struct gcm_op op = {0};
		int rl;

		d += 4;
		n -= 4;
		if (pl > n)
			pl = n;
		a->pad_to = fl & 2 ? 64 : 0;
		memcpy(out + len + gcm_rec_hdr_len(a), d, pl);
		rl = gcm_seal_prep(a, &op, ct, out + len, pl);
		d += pl;
		n -= pl;
		if (rl < 0)
			continue;
		gcm_engine_enqueue(e, &op, 0);
		gcm_engine_flush(e);
		gcm_seal_finish(&op);
		if (fl & 1)
			out[len + (size_t)(fl >> 2) % (size_t)rl] ^= 0x40;
		len += (size_t)rl;
	}
	return len;
}

#endif
