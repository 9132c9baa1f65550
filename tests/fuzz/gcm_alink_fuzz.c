// SPDX-License-Identifier: MIT
/*
 * gcm_alink_fuzz.c: the across-sessions link (gcm_alink.c) on hostile input. Same input format
 * as gcm_record_fuzz (byte 0: TLS 1.2/1.3, suite, raw stream or sealed items with arbitrary
 * content types, flipped bytes and padding), so the two share a corpus. The stream is fed to a
 * link in pieces whose sizes come from the input, with the engine run only every few pieces
 * (records wait in the engine across calls), the upper layer pausing now and then, KeyUpdate
 * replies and alerts emitted, and the link released with ops still queued at the end.
 * Invariant: no crash, no out-of-bounds access or leak (libFuzzer + ASan/UBSan), plaintext
 * never longer than 2^14 per record, nothing delivered after a failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gcm/gcm.h"
#include "gcm_fuzz_seal.h"

static struct gcm_lcore *lc;
static uint8_t stream[1 << 17];
static unsigned calls;
static bool failed;

static bool on_data(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	(void)p;
	if (n > GCM_TLS_MAX_PLAIN || failed)
		abort();
	return ++calls % 5 != 0;
}

static int emit(void *ctx, const uint8_t *rec, size_t n)
{
	(void)ctx;
	(void)rec;
	return n > GCM_TLS_MAX_RECORD ? -1 : 0;
}

static void ready(void *ctx)
{
	(void)ctx;
}

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
	if (gcm_sess_init(a, lc->e, &sec, 0, 0))
		abort();
	sec.is_server = false;
	if (gcm_sess_init(b, lc->e, &sec, 0, 0))
		abort();
}

/* Seals items with a into stream (gcm_fuzz_seal.h); returns the stream length. */
static size_t seal_items(struct gcm_sess *a, const uint8_t *d, size_t n)
{
	return gcm_fuzz_seal_items(lc->e, a, d, n, stream, sizeof(stream));
}

/* Feeds stream[0..len) in pieces; the engine runs every third piece. */
static void feed(struct gcm_link *l, size_t len, uint32_t seed)
{
	size_t off = 0;

	for (unsigned turn = 0; off < len && turn < 100000; turn++) {
		size_t cut = 1 + (seed = seed * 1103515245u + 12345u) % 6000;
		ssize_t u;

		if (cut > len - off)
			cut = len - off;
		u = gcm_alink_input(l, stream + off, cut, turn);
		if (u < 0) {
			failed = true;
			return;
		}
		off += (size_t)u;
		if (turn % 3 == 2 || u == 0)
			gcm_engine_flush(lc->e);
		if (gcm_alink_deliver(l, turn) < 0) {
			failed = true;
			return;
		}
		if (turn % 7 == 0)
			gcm_alink_send(l, stream, cut % 300, turn);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct gcm_link_io io = {.on_data = on_data, .emit = emit, .ready = ready};
	struct gcm_sess a;
	struct gcm_link *l;
	uint32_t seed = 2166136261u;
	size_t len;

	if (!lc) {
		struct gcm_engine_cfg cfg;
		int err;

		gcm_engine_cfg_defaults(&cfg);
		lc = gcm_lcore_new(&cfg, &err);
		if (!lc)
			abort();
	}
	if (size < 1)
		return 0;
	for (size_t i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	pair(&a, &l->s, data[0]);
	gcm_alink_start(l, lc, &io);
	if (data[0] & 4) {
		len = seal_items(&a, data + 1, size - 1);
	} else {
		len = size - 1 < sizeof(stream) ? size - 1 : sizeof(stream);
		memcpy(stream, data + 1, len);
	}
	failed = false;
	feed(l, len, seed);
	if (!failed)
		gcm_alink_alert(l, GCM_ALERT_CLOSE_NOTIFY, 0);
	gcm_alink_release(l); /* maybe with ops in the engine: freed by their completion */
	gcm_engine_flush(lc->e);
	gcm_sess_wipe(&a);
	return 0;
}
