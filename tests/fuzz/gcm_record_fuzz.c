// SPDX-License-Identifier: MIT
/*
 * gcm_record_fuzz.c: the record opener (gcm_rec_frame, gcm_open_prep/finish, the 1.3 inner
 * type scan, alerts, KeyUpdate and NewSessionTicket parsing, GCM_EV_REOPEN) on hostile input.
 * Byte 0 picks TLS 1.2/1.3, the suite and the shape:
 *   bit 2 clear: the rest is a raw byte stream from the peer (framing and tag failures);
 *   bit 2 set:   the rest is items (u8 content type, u8 flags, u8 len hi, u8 len lo, payload)
 *                that a peer session seals with the right keys, so authenticated records with
 *                arbitrary content reach the post-handshake parsers; flags bit 0 flips one
 *                byte of the sealed record, bit 1 pads to 64, bits 2.. pick the flipped byte.
 * Records are opened several per burst, like the lcore does. Invariant: no crash, no
 * out-of-bounds access, no use of a failed session (libFuzzer + ASan/UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"
#include "gcm_fuzz_seal.h"

static struct gcm_engine *eng;
static uint8_t stream[1 << 17];
static uint8_t plain[8][GCM_TLS_MAX_RECORD];

static void pair(struct gcm_sess *a, struct gcm_sess *b, uint8_t sel)
{
	struct gcm_secrets sec;

	memset(&sec, 0, sizeof(sec));
	sec.version = sel & 1 ? GCM_TLS12 : GCM_TLS13;
	sec.suite = sel & 2 ? GCM_AES256_SHA384 : GCM_AES128_SHA256;
	memset(sec.client, 0x5a, sizeof(sec.client));
	memset(sec.server, 0xa5, sizeof(sec.server));
	memset(sec.master, 0x3c, sizeof(sec.master));
	sec.have_client = sec.have_server = true;
	sec.is_server = true;
	if (gcm_sess_init(a, eng, &sec, 0, 0))
		abort();
	sec.is_server = false;
	if (gcm_sess_init(b, eng, &sec, 0, 0))
		abort();
}

/* Opens every complete record of stream[0..len) in bursts of up to 8. */
static void open_stream(struct gcm_sess *b, size_t len)
{
	size_t off = 0;

	while (b->state != GCM_SESS_FAILED) {
		struct gcm_op ops[8];
		unsigned n = 0;

		memset(ops, 0, sizeof(ops));
		while (n < 8) {
			uint8_t alert;
			int rl = gcm_rec_frame(b, stream + off, len - off, &alert);

			if (rl <= 0 || gcm_open_prep(b, &ops[n], stream + off, (size_t)rl, plain[n]))
				break;
			gcm_engine_enqueue(eng, &ops[n], 0);
			off += (size_t)rl;
			n++;
		}
		gcm_engine_flush(eng);
		if (n == 0)
			return;
		for (unsigned i = 0; i < n; i++) {
			const uint8_t *p;
			size_t pl;
			int rc = gcm_open_finish(b, &ops[i], &p, &pl);

			if (rc == GCM_EV_REOPEN && gcm_open_reprep(b, &ops[i]) == 0) {
				gcm_engine_enqueue(eng, &ops[i], 0);
				gcm_engine_flush(eng);
				rc = gcm_open_finish(b, &ops[i], &p, &pl);
			}
			if (rc == GCM_EV_DATA && pl > GCM_TLS_MAX_PLAIN)
				abort();
		}
	}
}

/* Seals items with a into stream (gcm_fuzz_seal.h); returns the stream length. */
static size_t seal_items(struct gcm_sess *a, const uint8_t *d, size_t n)
{
	return gcm_fuzz_seal_items(eng, a, d, n, stream, sizeof(stream));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gcm_sess a, b;
	size_t len;

	if (!eng) {
		struct gcm_engine_cfg cfg;
		int err;

		gcm_engine_cfg_defaults(&cfg);
		eng = gcm_engine_new(&cfg, &err);
		if (!eng)
			abort();
	}
	if (size < 1)
		return 0;
	pair(&a, &b, data[0]);
	if (data[0] & 4) {
		len = seal_items(&a, data + 1, size - 1);
	} else {
		len = size - 1 < sizeof(stream) ? size - 1 : sizeof(stream);
		memcpy(stream, data + 1, len);
	}
	open_stream(&b, len);
	gcm_sess_wipe(&a);
	gcm_sess_wipe(&b);
	return 0;
}
