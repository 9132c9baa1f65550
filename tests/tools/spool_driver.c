/* SPDX-License-Identifier: MIT */
/*
 * spool_driver.c: test driver of the spool (tests/integration/spool_*.sh).
 *   spool_driver gen DIR [opts]    accepts generated messages through the real spool API with
 *                                  CONC sessions streaming concurrently; prints "ACK <id> <qid>"
 *                                  only from the committed callback (after the fdatasync),
 *                                  "ERR <id> <errno>" for 451-class failures and "FULL <id>" when
 *                                  the free-space guard refuses (452); "DLV <id>" after marking
 *                                  a message's recipients delivered; "REL <n>" when compaction
 *                                  has copied n messages forward.
 *   spool_driver verify DIR [opts] recovers the spool, reads every live message's body back and
 *                                  checks it byte for byte: "HAVE <id> ok|bad <qid>", then
 *                                  "LIVE <n> BAD <n>"; exit 1 if any is bad.
 * Options: --n N (messages, 0 = until killed), --conc C, --max BYTES (largest body), --seed S
 * (ids are S*10^9 + i), --deliver PCT, --encrypt, --segment BYTES, --min-free BYTES,
 * --fiu (write/fsync completions fail when libfiu points spool/write, spool/fsync are enabled,
 * e.g. under fiu-run -c 'enable_random name=spool/fsync,probability=0.2').
 * Lines are written with write(2) right from the callbacks so a kill -9 never loses a printed
 * acknowledgement in a stdio buffer.
 */
#include <errno.h>
#include <stdarg.h>
#define FIU_ENABLE 1 /* fiu.h compiles its calls away without it */
#include <fiu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool_common.h"

struct opts {
	const char *dir;
	uint64_t n, seed;
	unsigned conc, deliver;
	size_t max;
	bool encrypt, fiu;
	uint64_t segment, min_free;
};

struct sess {
	struct spool_txn *tx;
	uint64_t id;
	size_t len, off;
	bool waiting;
};

struct drv {
	struct opts o;
	struct spool *sp;
	struct sess *ss;
	uint64_t started, done;
	/* verify */
	struct spool_body *rd;
	uint64_t vid, voff;
	int vres;
	bool vdone;
	size_t vlen;
	uint64_t live, bad;
};

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(1, line, (size_t)n) < 0)
		exit(3);
}

static const struct spool_rcpt rcpts[2] = {
	{ { "a@dest.test", 11 }, { "rfc822;a@dest.test", 18 }, SPOOL_NOTIFY_FAILURE },
	{ { "b@dest.test", 11 }, { NULL, 0 }, 0 },
};

static void on_commit(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct drv *d = arg;
	struct sess *s = &d->ss[cookie];
	char q[17];
	if (result == 0) {
		out("ACK %lu %s\n", (unsigned long)s->id, spool_qid_str(qid, q));
		if (d->o.deliver && spool_test_mix(s->id ^ 0xd1) % 100 < d->o.deliver) {
			spool_outcome(d->sp, qid, 0, SPOOL_RCPT_DELIVERED, "250 ok", 6);
			spool_outcome(d->sp, qid, 1, SPOOL_RCPT_DELIVERED, "250 ok", 6);
			out("DLV %lu\n", (unsigned long)s->id);
		}
	} else {
		out("%s %lu %d\n", result == -ENOSPC ? "FULL" : "ERR", (unsigned long)s->id, -result);
	}
	s->waiting = false;
	d->done++;
}

static int fiu_hook(void *arg, enum spool_fault_point pt, int res)
{
	(void)arg;
	return fiu_fail(pt == SPOOL_FAULT_WRITE ? "spool/write" : "spool/fsync") ? -EIO : res;
}

/* One turn of one session: begin, append a piece, or commit. */
static void sess_step(struct drv *d, unsigned i)
{
	struct sess *s = &d->ss[i];
	int err;
	if (s->waiting)
		return;
	if (!s->tx) {
		if (d->o.n && d->started >= d->o.n)
			return;
		s->id = d->o.seed * 1000000000ull + d->started;
		char snd[64];
		int sl = snprintf(snd, sizeof(snd), "m%lu@gen.test", (unsigned long)s->id);
		struct spool_envelope e = { .arrival_us = s->id, .sender = { snd, (uint16_t)sl },
					    .nrcpt = 2, .rcpts = rcpts };
		s->tx = spool_msg_begin(d->sp, &e, &err);
		if (!s->tx) {
			if (err == -ENOSPC) {
				out("FULL %lu 28\n", (unsigned long)s->id);
				d->started++;
				d->done++;
			}
			return;
		}
		d->started++;
		s->len = spool_test_len(s->id, d->o.max);
		s->off = 0;
	}
	if (s->off < s->len) {
		uint8_t piece[8192];
		size_t n = 1 + spool_test_mix(s->id + s->off) % sizeof(piece);
		if (n > s->len - s->off)
			n = s->len - s->off;
		spool_test_body(s->id, s->off, piece, n);
		ssize_t r = spool_msg_append(s->tx, piece, n);
		if (r >= 0) {
			s->off += (size_t)r; /* a short count: the stage is full this turn */
			return;
		}
		err = (int)r;
		out("%s %lu %d\n", err == -ENOSPC ? "FULL" : "ERR", (unsigned long)s->id, -err);
		spool_msg_abort(s->tx);
		s->tx = NULL;
		d->done++;
		return;
	}
	static const char pfx[] = "DKIM-Signature: v=1; d=gen.test; b=x\r\n";
	err = spool_msg_commit(s->tx, pfx, sizeof(pfx) - 1, i);
	s->tx = NULL;
	if (err) {
		out("%s %lu %d\n", err == -ENOSPC ? "FULL" : "ERR", (unsigned long)s->id, -err);
		d->done++;
		return;
	}
	s->waiting = true;
}

static int run_gen(struct drv *d)
{
	d->ss = calloc(d->o.conc, sizeof(*d->ss));
	uint64_t rel = 0;
	while (!d->o.n || d->done < d->o.n) {
		for (unsigned i = 0; i < d->o.conc; i++)
			sess_step(d, i);
		if (spool_poll(d->sp, spool_test_now()) == 0 && spool_busy(d->sp))
			usleep(20);
		struct spool_stats st;
		spool_stats(d->sp, &st);
		if (st.relocated != rel)
			out("REL %lu\n", (unsigned long)(rel = st.relocated)); /* compaction progress */
	}
	while (spool_busy(d->sp)) {
		spool_poll(d->sp, spool_test_now());
		usleep(20);
	}
	free(d->ss);
	return 0;
}

static const char pfx_want[] = "DKIM-Signature: v=1; d=gen.test; b=x\r\n";

static void on_body(void *arg, uint64_t cookie, int result, const uint8_t *data, uint32_t len)
{
	struct drv *d = arg;
	(void)cookie;
	if (result > 0) {
		for (uint32_t i = 0; i < len && d->vres == 0; i++) {
			uint64_t p = d->voff + i;
			uint8_t want;
			if (p < sizeof(pfx_want) - 1)
				want = (uint8_t)pfx_want[p];
			else
				spool_test_body(d->vid, p - (sizeof(pfx_want) - 1), &want, 1);
			if (data[i] != want)
				d->vres = -EILSEQ;
		}
		d->voff += len;
		if (spool_body_next(d->rd, 0))
			d->vres = -EIO, d->vdone = true;
		return;
	}
	if (d->vres == 0)
		d->vres = result;
	d->vdone = true;
}

static int verify_one(void *arg, const struct spool_msg *m)
{
	struct drv *d = arg;
	struct spool_str s = spool_msg_sender(m);
	char q[17];
	unsigned long id;
	int err;
	d->live++;
	if (s.len < 2 || sscanf(s.p, "m%lu@", &id) != 1) {
		d->bad++;
		out("HAVE ? bad %s\n", spool_qid_str(spool_msg_qid(m), q));
		return 0;
	}
	d->vid = id;
	d->voff = 0;
	d->vres = 0;
	d->vdone = false;
	d->rd = spool_body_open(d->sp, spool_msg_qid(m), &err);
	if (!d->rd || spool_body_next(d->rd, 0))
		d->vres = -EIO, d->vdone = true;
	while (!d->vdone)
		spool_poll(d->sp, spool_test_now());
	if (d->rd)
		spool_body_close(d->rd);
	bool ok = d->vres == 0 && d->voff == sizeof(pfx_want) - 1 + spool_test_len(id, d->o.max);
	d->bad += !ok;
	out("HAVE %lu %s %s\n", id, ok ? "ok" : "bad", spool_qid_str(spool_msg_qid(m), q));
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .n = 100, .conc = 16, .max = 100000, .seed = 1, .segment = 4u << 20 };
	if (argc < 3)
		return -1;
	o->dir = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
		if (!strcmp(a, "--encrypt"))
			o->encrypt = true;
		else if (!strcmp(a, "--fiu"))
			o->fiu = true;
		else if (!strcmp(a, "--n") && ++i)
			o->n = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--conc") && ++i)
			o->conc = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--max") && ++i)
			o->max = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--seed") && ++i)
			o->seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--deliver") && ++i)
			o->deliver = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--segment") && ++i)
			o->segment = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--min-free") && ++i)
			o->min_free = strtoull(v, NULL, 0);
		else
			return -1;
	}
	return o->conc ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct drv d = { 0 };
	if (parse(argc, argv, &d.o) || (strcmp(argv[1], "gen") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: spool_driver gen|verify DIR [--n N] [--conc C] [--max B] "
				"[--seed S] [--deliver PCT] [--encrypt] [--segment B] [--min-free B] [--fiu]\n");
		return 2;
	}
	struct spool_tunables t;
	spool_tunables_defaults(&t);
	t.dir = d.o.dir;
	t.segment_bytes = d.o.segment;
	t.min_free_bytes = d.o.min_free;
	t.chunk_bytes = 16384;
	t.encrypt = d.o.encrypt;
	struct spool_callbacks cb = { on_commit, on_body, &d };
	int err;
	d.sp = spool_create(&t, 1, &cb, &err);
	if (!d.sp) {
		fprintf(stderr, "spool_create %s: %s\n", d.o.dir, strerror(-err));
		return 2;
	}
	if (d.o.encrypt && (spool_key_add(d.sp, 1, spool_test_key) || spool_key_use(d.sp, 1)))
		return 2;
	if ((err = spool_recover(d.sp, spool_test_now()))) {
		fprintf(stderr, "spool_recover: %s\n", strerror(-err));
		return 2;
	}
	if (d.o.fiu) {
		fiu_init(0);
		spool_set_fault_hook(d.sp, fiu_hook, &d);
	}
	int rc = 0;
	if (!strcmp(argv[1], "gen")) {
		rc = run_gen(&d);
	} else {
		spool_foreach(d.sp, verify_one, &d);
		out("LIVE %lu BAD %lu\n", (unsigned long)d.live, (unsigned long)d.bad);
		rc = d.bad ? 1 : 0;
		while (spool_busy(d.sp)) {
			spool_poll(d.sp, spool_test_now());
			usleep(50);
		}
	}
	spool_free(d.sp);
	return rc;
}
