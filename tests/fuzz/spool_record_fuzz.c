/* SPDX-License-Identifier: MIT */
/*
 * spool_record_fuzz.c: the recovery parser on hostile segment bytes. Each input becomes one
 * segment file of core 1 and goes through the real spool_recover() (CRC checks, classification
 * torn/corrupt, quarantine, commit/chunk/outcome/state decoding, queue rebuild), then every
 * recovered message's accessors are exercised. Input byte 0 picks the shape:
 *   even: the rest is the raw segment image;
 *   odd:  the rest is a list of (u8 type, u16 len, payload) items turned into records with
 *         valid CRCs after a valid segment header, so the payload decoders are reached; a last
 *         byte's low bit asks for one byte of the image to be flipped (bit 1..7 = position).
 * The invariant is "no crash, no leak, no out-of-bounds read": libFuzzer + ASan/UBSan check it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool/spool.h"
#include "spool/spool_record.h"

static char dir[64];

static void on_commit(void *a, uint64_t c, int r, uint64_t q) { (void)a, (void)c, (void)r, (void)q; }
static void on_body(void *a, uint64_t c, int r, const uint8_t *d, uint32_t l)
{
	(void)a, (void)c, (void)r, (void)d, (void)l;
}

static void wipe(const char *d)
{
	DIR *dp = opendir(d);
	if (!dp)
		return;
	struct dirent *de;
	char p[256];
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", d, de->d_name);
		unlink(p);
	}
	closedir(dp);
}

static size_t put_rec(uint8_t *out, uint8_t type, const uint8_t *pl, uint32_t len)
{
	struct spool_rec_hdr h = { .magic = SPOOL_REC_MAGIC, .len = len, .type = type };
	memcpy(out + SPOOL_REC_HDR, pl, len);
	spool_rec_hdr_put(out, &h);
	h.crc = spool_rec_crc(out, len);
	spool_rec_hdr_put(out, &h);
	return SPOOL_REC_HDR + len;
}

/* Builds a segment image with valid framing from the item list. */
static size_t structured(const uint8_t *in, size_t n, uint8_t *img)
{
	uint8_t seghdr[18] = { 0 };
	struct spool_wbuf w = { .p = seghdr };
	spool_put32(&w, SPOOL_FORMAT);
	spool_put16(&w, 1);
	spool_put32(&w, 1);
	spool_put64(&w, 0);
	size_t len = put_rec(img, SPOOL_REC_SEGHDR, seghdr, w.len);
	size_t i = 0;
	while (i + 3 <= n) {
		uint8_t type = in[i];
		uint32_t l = (uint32_t)(in[i + 1] | in[i + 2] << 8);
		i += 3;
		if (l > n - i)
			l = (uint32_t)(n - i);
		len += put_rec(img + len, (uint8_t)(type % SPOOL_REC__MAX), in + i, l);
		i += l;
	}
	if (n && (in[n - 1] & 1) && len)
		img[(in[n - 1] >> 1) * 131 % len] ^= 0x10;
	return len;
}

static int visit(void *arg, const struct spool_msg *m)
{
	(void)arg;
	struct spool_str s = spool_msg_sender(m);
	struct spool_str e = spool_msg_envid(m);
	struct spool_str t = spool_msg_tenant(m);   /* envelope extensions */
	volatile size_t sum = s.len + e.len + t.len + spool_msg_body_len(m) + spool_msg_arrival(m) +
			      spool_msg_flags(m) + spool_msg_marks(m) + spool_msg_ret(m);
	for (uint16_t i = 0; i < spool_msg_nrcpt(m); i++) {
		struct spool_rcpt_view v;
		if (spool_msg_rcpt(m, i, &v) == 0)
			sum += v.addr.len + v.orcpt.len + v.status;
	}
	(void)sum;
	return 0;
}

static void cleanup(void)
{
	char q[128];
	snprintf(q, sizeof(q), "%s/quarantine", dir);
	wipe(q);
	rmdir(q);
	wipe(dir);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		/* tmpfs when there is one: recovery fsyncs, which cost nothing there */
		struct stat st;
		const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof(dir), "%s/dpmail-spool-fuzz.%d", base, (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
		log_set_level((enum log_level)-1); /* silence: quarantines log at err level */
	}
	if (size < 1 || size > (1u << 20))
		return 0;
	static uint8_t img[4u << 20];
	size_t len;
	if (data[0] & 1) {
		len = structured(data + 1, size - 1, img);
	} else {
		len = size - 1;
		memcpy(img, data + 1, len);
	}
	char q[128], p[160];
	snprintf(q, sizeof(q), "%s/quarantine", dir);
	wipe(q);
	wipe(dir);
	snprintf(p, sizeof(p), "%s/seg-001-00000001", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, img, len) != (ssize_t)len)
		abort();
	close(fd);
	struct spool_tunables t;
	spool_tunables_defaults(&t);
	t.dir = dir;
	t.min_free_bytes = 0;
	t.ring_entries = 16;
	struct spool_callbacks cb = { on_commit, on_body, NULL };
	int err;
	struct spool *sp = spool_create(&t, 1, &cb, &err);
	if (!sp)
		abort();
	if (spool_recover(sp, 1) == 0)
		spool_foreach(sp, visit, NULL);
	spool_free(sp);
	return 0;
}
