/* SPDX-License-Identifier: MIT */
/* spool_test.c: the spool end to end on a real directory and a real io_uring: commit and
 * acknowledgement order, body round trip (inline and chunked), outcomes and death, recovery of
 * clean, torn, corrupt, wrong-key and tampered segments, key rotation, injected write/fsync
 * failures, segment collection and the free-space guard. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool_record.h"
#include "spool/spool_int.h"   /* the zero-fill step in flight (test_runnable_waits_for_zero_fill) */

#define MAXACK 4096

struct ctx {
	struct spool *sp;
	char dir[64];
	int nack;
	uint64_t cookie[MAXACK];
	int result[MAXACK];
	uint64_t qid[MAXACK];
	/* body reader */
	uint8_t body[1 << 20];
	size_t blen;
	int bres;
	bool bdone;
	struct spool_body *rd;
	bool no_rcache;         /* bodies read back from the file, never from the read cache */
	uint32_t rcache_bytes;  /* read_cache_bytes when not 0 */
	bool hold;              /* on_body keeps the piece (held, held_len) and asks for no more */
	const uint8_t *held;
	uint32_t held_len;
	uint32_t commit_delay_us;
	enum spool_direct_io dio;
};

static void on_commit(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct ctx *c = arg;
	ck_assert_int_lt(c->nack, MAXACK);
	c->cookie[c->nack] = cookie;
	c->result[c->nack] = result;
	c->qid[c->nack] = qid;
	c->nack++;
}

static void on_body(void *arg, uint64_t cookie, int result, const uint8_t *data, uint32_t len)
{
	struct ctx *c = arg;
	if (result > 0 && c->hold) {
		c->held = data;
		c->held_len = len;
		return;
	}
	if (result > 0) {
		ck_assert_uint_le(c->blen + len, sizeof(c->body));
		memcpy(c->body + c->blen, data, len);
		c->blen += len;
		ck_assert_int_eq(spool_body_next(c->rd, cookie + 1), 0);
		return;
	}
	c->bres = result;
	c->bdone = true;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Polls until the spool is idle (deadline 10 s). */
static void pump(struct ctx *c)
{
	uint64_t end = now_us() + 10000000;
	do {
		spool_poll(c->sp, now_us());
		if (!spool_busy(c->sp))
			return;
		usleep(100);
	} while (now_us() < end);
	ck_abort_msg("spool did not settle");
}

static const uint8_t key1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
				  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key2[32] = { 9 };

static void tun(struct spool_tunables *t, struct ctx *c, bool enc)
{
	spool_tunables_defaults(t);
	t->dir = c->dir;
	t->min_free_bytes = 0;
	t->chunk_bytes = 4096;
	t->stage_bytes = 1 << 20;
	t->segment_bytes = 1 << 20;
	t->encrypt = enc;
	t->direct_io = c->dio;
	if (c->no_rcache)
		t->read_cache_bytes = 0;
	else if (c->rcache_bytes)
		t->read_cache_bytes = c->rcache_bytes;
	t->commit_delay_us = c->commit_delay_us;
}

static void open_sp(struct ctx *c, bool enc, const uint8_t *key)
{
	struct spool_tunables t;
	tun(&t, c, enc);
	struct spool_callbacks cb = { on_commit, on_body, c };
	int err;
	c->sp = spool_create(&t, 3, &cb, &err);
	ck_assert_msg(c->sp != NULL, "create: %d", err);
	if (key) {
		ck_assert_int_eq(spool_key_add(c->sp, 1, key), 0);
		ck_assert_int_eq(spool_key_use(c->sp, 1), 0);
	}
	ck_assert_int_eq(spool_recover(c->sp, now_us()), 0);
	c->nack = 0;
}

/* Every test runs twice: buffered writes, then direct I/O where the filesystem has it (the
 * fixture of each test case sets this in the forked test process). */
static enum spool_direct_io g_dio;
static void mode_buffered(void) { g_dio = SPOOL_DIO_OFF; }
static void mode_direct(void) { g_dio = SPOOL_DIO_AUTO; }

static struct ctx *ctx_new(void)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->dio = g_dio;
	strcpy(c->dir, "/tmp/dpmail-spool-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c->dir));
	return c;
}

static void ctx_free(struct ctx *c)
{
	if (c->sp)
		spool_free(c->sp);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	ck_assert_int_eq(system(cmd), 0);
	free(c);
}

static const struct spool_rcpt rcpts[3] = {
	{ { "a@example.org", 13 }, { "rfc822;a@example.org", 20 }, SPOOL_NOTIFY_FAILURE | SPOOL_NOTIFY_DELAY },
	{ { "b@example.net", 13 }, { NULL, 0 }, 0 },
	{ { "c@example.com", 13 }, { NULL, 0 }, SPOOL_NOTIFY_NEVER },
};

static void body_of(uint64_t id, size_t len, uint8_t *out)
{
	uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		out[i] = (uint8_t)('A' + x % 26);
	}
}

static const char prefix[] = "DKIM-Signature: v=1; a=rsa-sha256; d=example.com;\r\n";

/* Begins, appends in pieces of `piece` bytes and commits message `id`; returns the txn qid. */
static uint64_t put_msg(struct ctx *c, uint64_t id, size_t len, size_t piece)
{
	struct spool_envelope e = { .arrival_us = 1700000000000000ull + id, .snapshot = 1,
				    .sender = { "s@example.com", 13 }, .nrcpt = 3, .rcpts = rcpts };
	int err;
	struct spool_txn *tx = spool_msg_begin(c->sp, &e, &err);
	ck_assert_msg(tx != NULL, "begin: %d", err);
	static uint8_t b[1 << 20];
	body_of(id, len, b);
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		size_t got = 0;
		while (got < n) {
			ssize_t r = spool_msg_append(tx, b + off + got, n - got);
			ck_assert_int_ge(r, 0);
			got += (size_t)r;
			if (got < n)
				spool_poll(c->sp, now_us()); /* stage full: next turn */
		}
	}
	uint64_t q = spool_txn_qid(tx);
	ck_assert_int_eq(spool_msg_commit(tx, prefix, sizeof(prefix) - 1, id), 0);
	return q;
}

/* Reads message qid whole into c->body (c->blen bytes); asserts the verified end. */
static void read_body(struct ctx *c, uint64_t qid)
{
	int err;
	c->blen = 0;
	c->bdone = false;
	c->rd = spool_body_open(c->sp, qid, &err);
	ck_assert_msg(c->rd != NULL, "body_open: %d", err);
	ck_assert_int_eq(spool_body_next(c->rd, 1), 0);
	uint64_t end = now_us() + 5000000;
	while (!c->bdone && now_us() < end)
		spool_poll(c->sp, now_us());
	ck_assert(c->bdone);
	ck_assert_int_eq(c->bres, 0);
}

static void check_body(struct ctx *c, uint64_t qid, uint64_t id, size_t len)
{
	read_body(c, qid);
	size_t pl = sizeof(prefix) - 1;
	ck_assert_uint_eq(c->blen, pl + len);
	ck_assert(memcmp(c->body, prefix, pl) == 0);
	static uint8_t want[1 << 20];
	body_of(id, len, want);
	ck_assert(memcmp(c->body + pl, want, len) == 0);
	spool_body_close(c->rd);
	c->rd = NULL;
}

START_TEST(test_commit_ack_after_sync)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	char trace[256];
	spool_set_trace(c->sp, trace, sizeof(trace));
	uint64_t q1 = put_msg(c, 1, 100, 100);
	uint64_t q2 = put_msg(c, 2, 300, 7);
	ck_assert_uint_ne(q1, q2);
	ck_assert_int_eq(c->nack, 0); /* nothing acknowledged before spool_poll */
	pump(c);
	ck_assert_int_eq(c->nack, 2);
	ck_assert_int_eq(c->result[0], 0);
	ck_assert_uint_eq(c->qid[0], q1);
	ck_assert_uint_eq(c->cookie[1], 2);
	/* one write, one fdatasync completion, then both acknowledgements */
	ck_assert_str_eq(trace, "WSAA");
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.fdatasyncs, 1);
	ck_assert_uint_eq(st.live, 2);
	const struct spool_msg *m = spool_msg_get(c->sp, q1);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(spool_msg_nrcpt(m), 3);
	struct spool_rcpt_view rv;
	ck_assert_int_eq(spool_msg_rcpt(m, 2, &rv), 0);
	ck_assert(rv.addr.len == 13 && memcmp(rv.addr.p, "c@example.com", 13) == 0);
	ck_assert_uint_eq(rv.notify, SPOOL_NOTIFY_NEVER);
	ck_assert_int_eq(spool_msg_rcpt(m, 0, &rv), 0);
	ck_assert(rv.orcpt.len == 20);
	struct spool_str s = spool_msg_sender(m);
	ck_assert(s.len == 13 && memcmp(s.p, "s@example.com", 13) == 0);
	ck_assert_uint_eq(spool_msg_arrival(m), 1700000000000001ull);
	check_body(c, q1, 1, 100);
	check_body(c, q2, 2, 300);
	char r[64];
	ck_assert_uint_eq(spool_reply(0, 0x0300000100000002ull, r, sizeof(r)), 42);
	ck_assert_str_eq(r, "250 2.0.0 Ok: queued as 0300000100000002\r\n");
	spool_reply(-ENOSPC, 0, r, sizeof(r));
	ck_assert(strncmp(r, "452 4.3.1 ", 10) == 0);
	spool_reply(-EIO, 0, r, sizeof(r));
	ck_assert(strncmp(r, "451 4.3.0 ", 10) == 0);
	ck_assert_uint_le(spool_msg_overhead(), 256);
	ctx_free(c);
}
END_TEST

/* spool_runnable: true only for work the lcore can do now (a staged batch with no batch in
 * flight); a write + fdatasync in flight is busy but not runnable, so the loop may sleep. */
START_TEST(test_runnable_vs_busy)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	pump(c);
	ck_assert(!spool_runnable(c->sp));
	put_msg(c, 1, 100, 100);
	ck_assert(spool_runnable(c->sp));   /* staged, nothing in flight: submit next turn */
	ck_assert(spool_busy(c->sp));
	spool_poll(c->sp, now_us());        /* submits write + fdatasync, reaps nothing yet */
	ck_assert_int_eq(c->nack, 0);
	ck_assert(spool_busy(c->sp));
	ck_assert(!spool_runnable(c->sp));  /* in flight: the kernel finishes it */
	put_msg(c, 2, 100, 100);            /* staged behind the batch in flight */
	ck_assert(!spool_runnable(c->sp));
	/* a DPDK lcore polls without any other syscall: completions must still arrive */
	uint64_t end = now_us() + 10000000; /* clock_gettime: vDSO, no kernel entry */
	while (c->nack < 2 && now_us() < end)
		spool_poll(c->sp, now_us());
	ck_assert_int_eq(c->nack, 2);
	pump(c);
	ck_assert(!spool_runnable(c->sp));
	ck_assert(!spool_busy(c->sp));
	ctx_free(c);
}
END_TEST

/* A spool in direct I/O mode, or NULL (freed, reported) where the filesystem has none. */
static struct ctx *ctx_direct(const char *test)
{
	struct ctx *c = ctx_new();
	c->dio = SPOOL_DIO_AUTO;
	open_sp(c, false, NULL);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	if (st.direct)
		return c;
	fprintf(stderr, "%s: %s has no direct I/O, buffered mode checked\n", test, c->dir);
	ctx_free(c);
	return NULL;
}

/* spool_runnable() promises work the next spool_poll() does: with direct I/O a staged batch
 * that overlaps the zero-fill step in flight waits for it (spool_stage_flush), so it is not
 * runnable (the loop would spin without progress until the step's fdatasync completes); the
 * step's completion ends the loop's idle wait like any other. The step is made to look in
 * flight (the real one finishes too fast to be caught between two polls). */
START_TEST(test_runnable_waits_for_zero_fill)
{
	struct ctx *c = ctx_direct(__func__);
	if (!c)
		return;
	put_msg(c, 1, 3000, 3000);
	pump(c);
	put_msg(c, 2, 3000, 3000);
	ck_assert(spool_runnable(c->sp));
	struct spool_seg *seg = c->sp->stage->seg, saved = *seg;
	seg->zpending = 2;
	seg->zstart = 0;
	seg->zend = UINT64_MAX;
	ck_assert(!spool_runnable(c->sp));    /* waits: nothing to do before the step completes */
	spool_poll(c->sp, now_us());
	ck_assert(spool_busy(c->sp));          /* still staged, not submitted */
	ck_assert(!spool_runnable(c->sp));
	seg->zpending = saved.zpending;
	seg->zstart = saved.zstart;
	seg->zend = saved.zend;
	ck_assert(spool_runnable(c->sp));     /* the step done: the batch goes next turn */
	pump(c);
	ck_assert_int_eq(c->nack, 2);
	ctx_free(c);
}
END_TEST

START_TEST(test_chunked_and_recovery)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	uint64_t q[4];
	q[0] = put_msg(c, 10, 50000, 1000);  /* 12 chunks + tail */
	q[1] = put_msg(c, 11, 4096, 4096);   /* exactly one chunk, empty tail */
	q[2] = put_msg(c, 12, 0, 1);         /* empty body */
	q[3] = put_msg(c, 13, 200000, 65536);
	pump(c);
	ck_assert_int_eq(c->nack, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(c->result[i], 0);
	check_body(c, q[0], 10, 50000);
	/* a transaction aborted half way leaves nothing behind after recovery */
	struct spool_envelope e = { .sender = { "x@y", 3 }, .nrcpt = 1, .rcpts = rcpts };
	int err;
	struct spool_txn *tx = spool_msg_begin(c->sp, &e, &err);
	uint8_t junk[9000] = { 0 };
	ck_assert_int_eq(spool_msg_append(tx, junk, sizeof(junk)), sizeof(junk));
	pump(c);
	spool_msg_abort(tx);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, false, NULL);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 4);
	ck_assert_uint_eq(st.rec_torn + st.rec_quarantined + st.rec_incomplete, 0);
	check_body(c, q[0], 10, 50000);
	check_body(c, q[1], 11, 4096);
	check_body(c, q[2], 12, 0);
	check_body(c, q[3], 13, 200000);
	/* queue ids stay unique across restarts */
	uint64_t q5 = put_msg(c, 14, 10, 10);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_ne(q5, q[i]);
	pump(c);
	ctx_free(c);
}
END_TEST

/* Recipient 1 delivered, 0 pending, and the retry state given. */
static void assert_partial(struct ctx *c, uint64_t qid, uint64_t next, uint16_t attempts)
{
	const struct spool_msg *m = spool_msg_get(c->sp, qid);
	ck_assert_ptr_nonnull(m);
	struct spool_rcpt_view rv;
	spool_msg_rcpt(m, 1, &rv);
	ck_assert_uint_eq(rv.status, SPOOL_RCPT_DELIVERED);
	spool_msg_rcpt(m, 0, &rv);
	ck_assert_uint_eq(rv.status, SPOOL_RCPT_PENDING);
	ck_assert_uint_eq(spool_msg_next_attempt(m), next);
	ck_assert_uint_eq(spool_msg_attempts(m), attempts);
}

START_TEST(test_outcomes_and_gc)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	enum { N = 300 };
	uint64_t q[N];
	for (int i = 0; i < N; i++) {
		q[i] = put_msg(c, (uint64_t)i, 5000, 5000); /* ~1.5 MB: spans segments of 1 MiB */
		spool_poll(c->sp, now_us());
	}
	pump(c);
	ck_assert_int_eq(c->nack, N);
	/* message 0: one recipient final, persists after restart as partial state */
	ck_assert_int_eq(spool_outcome(c->sp, q[0], 1, SPOOL_RCPT_DELIVERED, "250 ok", 6), 0);
	ck_assert_int_eq(spool_retry(c->sp, q[0], 123456789, 2), 0);
	/* all others: everything final -> dead */
	for (int i = 1; i < N; i++)
		for (uint16_t r = 0; r < 3; r++)
			ck_assert_int_eq(spool_outcome(c->sp, q[i], r, r == 2 ? SPOOL_RCPT_BOUNCED
						    : SPOOL_RCPT_DELIVERED, "x", 1), 0);
	ck_assert_ptr_null(spool_msg_get(c->sp, q[5]));
	ck_assert_int_eq(spool_outcome(c->sp, q[5], 0, SPOOL_RCPT_DELIVERED, "", 0), -ENOENT);
	pump(c);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 1);
	ck_assert_uint_eq(st.dead, N - 1);
	/* message 0 pins the first segment, so nothing is deleted yet */
	ck_assert_uint_eq(st.segments_deleted, 0);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, false, NULL);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 1);
	assert_partial(c, q[0], 123456789, 2);
	/* finish it: every old segment goes */
	ck_assert_int_eq(spool_outcome(c->sp, q[0], 0, SPOOL_RCPT_EXPIRED, "", 0), 0);
	ck_assert_int_eq(spool_outcome(c->sp, q[0], 2, SPOOL_RCPT_DELIVERED, "", 0), 0);
	pump(c);
	spool_poll(c->sp, now_us());
	pump(c);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 0);
	ck_assert_uint_ge(st.segments_deleted, 2);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, false, NULL);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 0);
	ctx_free(c);
}
END_TEST

/* Path of the (only or first) segment of core 3 in dir. */
static void first_seg(struct ctx *c, char *path, size_t cap)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	char best[256] = "";
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "seg-003-", 8) == 0 && (!best[0] || strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	ck_assert(best[0]);
	snprintf(path, cap, "%s/%s", c->dir, best);
}

/* Where the records of a segment end: a direct-I/O segment is zero-filled past them. */
static long data_end(const char *p)
{
	FILE *f = fopen(p, "rb");
	ck_assert_ptr_nonnull(f);
	long off = 0;
	uint8_t h[16];
	while (fseek(f, off, SEEK_SET) == 0 && fread(h, 1, 16, f) == 16 && !memcmp(h, "DSP1", 4)) {
		uint32_t len;
		memcpy(&len, h + 4, 4);
		off += 16 + (long)len;
	}
	fclose(f);
	return off;
}

static long fsize(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static int count_quarantine(struct ctx *c)
{
	char q[128];
	snprintf(q, sizeof(q), "%s/quarantine", c->dir);
	DIR *d = opendir(q);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Writes 3 messages, closes the spool, returns the first segment's path and the offsets. */
static void three(struct ctx *c, bool enc, const uint8_t *key, uint64_t q[3], char *seg, size_t cap)
{
	open_sp(c, enc, key);
	for (int i = 0; i < 3; i++) {
		q[i] = put_msg(c, (uint64_t)i, 6000, 6000);
		pump(c); /* one batch per message: message i's records in its own write */
	}
	ck_assert_int_eq(c->nack, 3);
	spool_free(c->sp);
	c->sp = NULL;
	first_seg(c, seg, cap);
}

START_TEST(test_recover_torn)
{
	struct ctx *c = ctx_new();
	uint64_t q[3];
	char seg[512];
	three(c, false, NULL, q, seg, sizeof(seg));
	long sz = data_end(seg);
	/* a torn tail: the first 700 bytes of a would-be record, then nothing */
	int fd = open(seg, O_WRONLY);
	uint8_t part[700];
	memset(part, 0x5a, sizeof(part));
	memcpy(part, "DSP1", 4);
	ck_assert_int_eq(pwrite(fd, part, sizeof(part), sz), (int)sizeof(part));
	close(fd);
	open_sp(c, false, NULL);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.rec_torn, 1);
	ck_assert_uint_eq(st.live, 3);
	ck_assert_int_eq(fsize(seg), sz); /* truncated back */
	check_body(c, q[2], 2, 6000);
	ck_assert_int_eq(count_quarantine(c), 0);
	ctx_free(c);
}
END_TEST

START_TEST(test_recover_corrupt_middle)
{
	struct ctx *c = ctx_new();
	uint64_t q[3];
	char seg[512];
	three(c, false, NULL, q, seg, sizeof(seg));
	long sz = data_end(seg);
	/* flip one byte inside the second message's chunk (records: seghdr, m0 chunk+commit, m1...) */
	int fd = open(seg, O_RDWR);
	uint8_t b;
	off_t at = sz / 2;
	ck_assert_int_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
	open_sp(c, false, NULL);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.rec_quarantined, 1);
	ck_assert_int_eq(count_quarantine(c), 1);
	ck_assert_ptr_nonnull(spool_msg_get(c->sp, q[0]));
	ck_assert_ptr_null(spool_msg_get(c->sp, q[1]));
	ck_assert_ptr_null(spool_msg_get(c->sp, q[2]));
	check_body(c, q[0], 0, 6000);
	ck_assert_int_lt(fsize(seg), sz);
	ctx_free(c);
}
END_TEST

START_TEST(test_encryption)
{
	struct ctx *c = ctx_new();
	uint64_t q[3];
	char seg[512];
	three(c, true, key1, q, seg, sizeof(seg));
	/* no plaintext body on disk */
	FILE *f = fopen(seg, "rb");
	static uint8_t img[1 << 20];
	size_t n = fread(img, 1, sizeof(img), f);
	fclose(f);
	ck_assert(memmem(img, n, "DKIM-Signature", 14) == NULL);
	ck_assert(memmem(img, n, "example.org", 11) == NULL);
	/* the right key: everything back */
	open_sp(c, true, key1);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 3);
	check_body(c, q[1], 1, 6000);
	ck_assert(spool_key_in_use(c->sp, 1));
	/* rotation: new records under key 2; key 1 stays needed while its records live */
	ck_assert_int_eq(spool_key_add(c->sp, 2, key2), 0);
	ck_assert_int_eq(spool_key_use(c->sp, 2), 0);
	ck_assert_int_eq(spool_key_remove(c->sp, 1), -EBUSY);
	uint64_t q3 = put_msg(c, 3, 100, 100);
	pump(c);
	spool_free(c->sp);
	c->sp = NULL;
	/* both keys known at recovery: all four come back */
	{
		struct spool_tunables t;
		tun(&t, c, true);
		struct spool_callbacks cb = { on_commit, on_body, c };
		int err;
		c->sp = spool_create(&t, 3, &cb, &err);
		spool_key_add(c->sp, 1, key1);
		spool_key_add(c->sp, 2, key2);
		spool_key_use(c->sp, 2);
		ck_assert_int_eq(spool_recover(c->sp, now_us()), 0);
		spool_stats(c->sp, &st);
		ck_assert_uint_eq(st.live, 4);
		check_body(c, q3, 3, 100);
		spool_free(c->sp);
		c->sp = NULL;
	}
	ctx_free(c);
}
END_TEST

START_TEST(test_wrong_key_and_tamper)
{
	struct ctx *c = ctx_new();
	uint64_t q[3];
	char seg[512];
	three(c, true, key1, q, seg, sizeof(seg));
	char saved[600];
	snprintf(saved, sizeof(saved), "%s.orig", seg);
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "cp %s %s", seg, saved);
	ck_assert_int_eq(system(cmd), 0);
	/* wrong key under the same id: nothing is accepted, the segment goes to quarantine */
	open_sp(c, true, key2);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 0);
	ck_assert_uint_eq(st.rec_quarantined, 1);
	spool_free(c->sp);
	c->sp = NULL;
	/* tampered: flip a ciphertext byte of the last message and fix up its CRC, so only the GCM
	 * tag can tell. The damaged record is the last one: the first two messages survive. */
	snprintf(cmd, sizeof(cmd), "cp %s %s && rm -f %s/quarantine/*", saved, seg, c->dir);
	ck_assert_int_eq(system(cmd), 0);
	FILE *f = fopen(seg, "r+b");
	static uint8_t img[1 << 20];
	size_t n = fread(img, 1, sizeof(img), f);
	/* find the last record: walk headers */
	size_t off = 0, last = 0;
	while (off + 16 <= n && !memcmp(img + off, "DSP1", 4)) {
		uint32_t len;
		memcpy(&len, img + off + 4, 4);
		last = off;
		off += 16 + len;
	}
	uint32_t len;
	memcpy(&len, img + last + 4, 4);
	img[last + 16 + 3] ^= 0x01;
	/* recompute CRC32C the way the format says (header bytes 0..11 + payload) */
	extern uint32_t spool_crc32c(uint32_t, const void *, size_t);
	uint32_t crc = spool_crc32c(spool_crc32c(0, img + last, 12), img + last + 16, len);
	memcpy(img + last + 12, &crc, 4);
	fseek(f, 0, SEEK_SET);
	ck_assert_uint_eq(fwrite(img, 1, n, f), n);
	fclose(f);
	open_sp(c, true, key1);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.rec_quarantined, 1);
	ck_assert_uint_eq(st.live, 2);
	ck_assert_ptr_null(spool_msg_get(c->sp, q[2]));
	ctx_free(c);
}
END_TEST

/* Fails the n-th fsync completion (and counts). */
struct fault { int fail_write_at, fail_fsync_at, nw, nf; };
static int fault_hook(void *arg, enum spool_fault_point pt, int res)
{
	struct fault *f = arg;
	if (pt == SPOOL_FAULT_WRITE && ++f->nw == f->fail_write_at)
		return -EIO;
	if (pt == SPOOL_FAULT_FSYNC && ++f->nf == f->fail_fsync_at)
		return -EIO;
	return res;
}

START_TEST(test_io_errors)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	struct fault f = { .fail_fsync_at = 2, .fail_write_at = 4 };
	spool_set_fault_hook(c->sp, fault_hook, &f);
	uint64_t q[5];
	for (int i = 0; i < 5; i++) {
		q[i] = put_msg(c, (uint64_t)i, 1000, 1000);
		pump(c);
	}
	ck_assert_int_eq(c->nack, 5);
	/* batch 1 ok, batch 2 fsync fails, batch 3 ok (new segment), batch 4 write fails, 5 ok */
	int want[5] = { 0, -EIO, 0, -EIO, 0 };
	for (int i = 0; i < 5; i++)
		ck_assert_msg(c->result[i] == want[i], "msg %d result %d", i, c->result[i]);
	ck_assert_ptr_null(spool_msg_get(c->sp, q[1]));
	ck_assert_ptr_nonnull(spool_msg_get(c->sp, q[4]));
	check_body(c, q[4], 4, 1000);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, false, NULL);
	/* everything acknowledged is there; a failed one may come back (duplicate, never a loss) */
	ck_assert_ptr_nonnull(spool_msg_get(c->sp, q[0]));
	ck_assert_ptr_nonnull(spool_msg_get(c->sp, q[2]));
	ck_assert_ptr_nonnull(spool_msg_get(c->sp, q[4]));
	check_body(c, q[2], 2, 1000);
	ctx_free(c);
}
END_TEST

START_TEST(test_chunk_lost_before_commit)
{
	/* a chunk written in a batch whose fdatasync fails: its message must not be acknowledged */
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	struct fault f = { .fail_fsync_at = 1 };
	spool_set_fault_hook(c->sp, fault_hook, &f);
	struct spool_envelope e = { .sender = { "x@y", 3 }, .nrcpt = 1, .rcpts = rcpts };
	int err;
	struct spool_txn *tx = spool_msg_begin(c->sp, &e, &err);
	uint8_t b[9000] = { 1 };
	ck_assert_int_eq(spool_msg_append(tx, b, sizeof(b)), sizeof(b)); /* two chunks staged */
	ck_assert_int_eq(spool_msg_append(tx, b, 1), 1);
	put_msg(c, 7, 10, 10);                                  /* a commit in the same batch */
	pump(c);
	ck_assert_int_eq(c->nack, 1);
	ck_assert_int_eq(c->result[0], -EIO);
	ck_assert_int_eq(spool_msg_commit(tx, "", 0, 99), -EIO);
	pump(c);
	ck_assert_int_eq(c->nack, 1);
	ctx_free(c);
}
END_TEST

START_TEST(test_append_backpressure)
{
	/* a stage of 4 chunks: a 100 KB append is consumed over several turns, never lost */
	struct ctx *c = ctx_new();
	struct spool_tunables t;
	tun(&t, c, true);
	t.stage_bytes = 4 * t.chunk_bytes;
	struct spool_callbacks cb = { on_commit, on_body, c };
	int err;
	c->sp = spool_create(&t, 3, &cb, &err);
	spool_key_add(c->sp, 1, key1);
	spool_key_use(c->sp, 1);
	ck_assert_int_eq(spool_recover(c->sp, now_us()), 0);
	struct spool_envelope e = { .sender = { "s@example.com", 13 }, .nrcpt = 3, .rcpts = rcpts };
	struct spool_txn *tx = spool_msg_begin(c->sp, &e, &err);
	static uint8_t b[100000];
	body_of(42, sizeof(b), b);
	size_t got = 0;
	int turns = 0, short_counts = 0;
	while (got < sizeof(b)) {
		ssize_t r = spool_msg_append(tx, b + got, sizeof(b) - got);
		ck_assert_int_ge(r, 0);
		short_counts += (size_t)r < sizeof(b) - got;
		got += (size_t)r;
		spool_poll(c->sp, now_us());
		ck_assert_int_lt(++turns, 100000);
	}
	ck_assert_int_gt(short_counts, 0);
	uint64_t q = spool_txn_qid(tx);
	ck_assert_int_eq(spool_msg_commit(tx, prefix, sizeof(prefix) - 1, 42), 0);
	pump(c);
	ck_assert_int_eq(c->nack, 1);
	ck_assert_int_eq(c->result[0], 0);
	check_body(c, q, 42, sizeof(b));
	ctx_free(c);
}
END_TEST

static int count_segs(struct ctx *c)
{
	DIR *d = opendir(c->dir);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strncmp(de->d_name, "seg-", 4) == 0;
	closedir(d);
	return n;
}

START_TEST(test_compaction)
{
	/* one old deferred message must not keep every newer segment on disk */
	struct ctx *c = ctx_new();
	struct spool_tunables t;
	tun(&t, c, true);
	t.segment_bytes = 65536;
	t.compact_min_segments = 2;
	t.compact_max_live = 8;
	struct spool_callbacks cb = { on_commit, on_body, c };
	int err;
	c->sp = spool_create(&t, 3, &cb, &err);
	spool_key_add(c->sp, 1, key1);
	spool_key_use(c->sp, 1);
	ck_assert_int_eq(spool_recover(c->sp, now_us()), 0);
	uint64_t old = put_msg(c, 1000, 50000, 3000); /* chunked */
	pump(c);
	ck_assert_int_eq(spool_outcome(c->sp, old, 1, SPOOL_RCPT_DELIVERED, "250", 3), 0);
	ck_assert_int_eq(spool_retry(c->sp, old, 777, 3), 0);
	for (int i = 0; i < 200; i++) {
		uint64_t q = put_msg(c, (uint64_t)i, 5000, 5000);
		pump(c);
		for (uint16_t r = 0; r < 3; r++)
			spool_outcome(c->sp, q, r, SPOOL_RCPT_DELIVERED, "", 0);
	}
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_gt(st.segments_created, 10); /* the log spans many segments... */
	int before = count_segs(c);
	/* ...(compaction may already have started on a slow run). Virtual time from here:
	 * compaction rescans at most once a second */
	uint64_t vt = now_us();
	for (int i = 0; i < 2000; i++) {
		vt += 100000;
		spool_poll(c->sp, vt);
		spool_stats(c->sp, &st);
		if (st.relocated && count_segs(c) <= 3)
			break;
		usleep(200);
	}
	pump(c);
	ck_assert_uint_ge(st.relocated, 1);
	int after = count_segs(c);
	ck_assert_msg(after <= 3, "segments before %d after %d", before, after);
	check_body(c, old, 1000, 50000);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, true, key1);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 1);
	assert_partial(c, old, 777, 3);
	check_body(c, old, 1000, 50000);
	ctx_free(c);
}
END_TEST

START_TEST(test_body_damaged_on_disk)
{
	/* a chunk damaged under a running spool: the reader reports an error, never bad bytes */
	struct ctx *c = ctx_new();
	c->no_rcache = true;
	open_sp(c, false, NULL);
	uint64_t q = put_msg(c, 5, 20000, 20000);
	pump(c);
	char seg[512];
	first_seg(c, seg, sizeof(seg));
	int fd = open(seg, O_RDWR);
	uint8_t b;
	ck_assert_int_eq(pread(fd, &b, 1, 5000), 1); /* inside the first chunk */
	b ^= 0x04;
	ck_assert_int_eq(pwrite(fd, &b, 1, 5000), 1);
	close(fd);
	int err;
	c->blen = 0;
	c->bdone = false;
	c->rd = spool_body_open(c->sp, q, &err);
	ck_assert_ptr_nonnull(c->rd);
	ck_assert_int_eq(spool_body_next(c->rd, 1), 0);
	uint64_t end = now_us() + 5000000;
	while (!c->bdone && now_us() < end)
		spool_poll(c->sp, now_us());
	ck_assert(c->bdone);
	ck_assert_int_eq(c->bres, -EBADMSG);
	ck_assert_uint_lt(c->blen, 5000); /* only the prefix and the good chunk before it */
	spool_body_close(c->rd);
	c->rd = NULL;
	bool present[256];
	ck_assert_int_eq(spool_cores_on_disk(c->dir, present), 1);
	ck_assert(present[3] && !present[0]);
	ctx_free(c);
}
END_TEST

START_TEST(test_space_guard)
{
	struct ctx *c = ctx_new();
	struct spool_tunables t;
	tun(&t, c, false);
	t.min_free_bytes = UINT64_MAX / 2;
	struct spool_callbacks cb = { on_commit, on_body, c };
	int err;
	c->sp = spool_create(&t, 3, &cb, &err);
	ck_assert_int_eq(spool_recover(c->sp, now_us()), 0);
	ck_assert_int_eq(spool_space_check(c->sp, 0), -ENOSPC);
	struct spool_envelope e = { .sender = { "x@y", 3 }, .nrcpt = 1, .rcpts = rcpts };
	ck_assert_ptr_null(spool_msg_begin(c->sp, &e, &err));
	ck_assert_int_eq(err, -ENOSPC);
	ctx_free(c);
}
END_TEST

/* Flags, tenant and marks survive recovery; marks are durable through STATE records. */
START_TEST(test_flags_tenant_marks)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	struct spool_envelope e = { .arrival_us = 1700000000000000ull, .snapshot = 1,
				    .sender = { "s@example.com", 13 }, .nrcpt = 3, .rcpts = rcpts,
				    .flags = SPOOL_MF_SMTPUTF8 | SPOOL_MF_REQUIRETLS,
				    .tenant = { "tenant-a", 8 } };
	int err;
	struct spool_txn *tx = spool_msg_begin(c->sp, &e, &err);
	ck_assert_ptr_nonnull(tx);
	ck_assert_int_eq(spool_msg_append(tx, "x\r\n", 3), 3);
	uint64_t q = spool_txn_qid(tx);
	ck_assert_int_eq(spool_msg_commit(tx, "", 0, 1), 0);
	uint64_t q2 = put_msg(c, 2, 100, 100);   /* no flags, no tenant */
	pump(c);
	ck_assert_int_eq(c->nack, 2);
	const struct spool_msg *m = spool_msg_get(c->sp, q);
	ck_assert_uint_eq(spool_msg_flags(m), SPOOL_MF_SMTPUTF8 | SPOOL_MF_REQUIRETLS);
	ck_assert_int_eq(spool_msg_marks(m), 0);
	ck_assert_int_eq(spool_mark(c->sp, q, SPOOL_MARK_DELAY_WARNED), 0);
	ck_assert_int_eq(spool_mark(c->sp, q, SPOOL_MARK_DELAY_WARNED), 0);
	ck_assert_int_eq(spool_mark(c->sp, 12345, SPOOL_MARK_DELAY_WARNED), -ENOENT);
	ck_assert_int_eq(spool_retry(c->sp, q, 777, 3), 0);
	pump(c);
	spool_free(c->sp);
	c->sp = NULL;
	open_sp(c, false, NULL);
	m = spool_msg_get(c->sp, q);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(spool_msg_flags(m), SPOOL_MF_SMTPUTF8 | SPOOL_MF_REQUIRETLS);
	struct spool_str t = spool_msg_tenant(m);
	ck_assert_int_eq(t.len, 8);
	ck_assert(memcmp(t.p, "tenant-a", 8) == 0);
	ck_assert_int_eq(spool_msg_marks(m), SPOOL_MARK_DELAY_WARNED);
	ck_assert_uint_eq(spool_msg_attempts(m), 3);
	struct spool_rcpt_view rv;
	ck_assert_int_eq(spool_msg_rcpt(m, 2, &rv), 0);
	ck_assert_int_eq(rv.addr.len, 13);
	ck_assert(memcmp(rv.addr.p, "c@example.com", 13) == 0);
	m = spool_msg_get(c->sp, q2);
	ck_assert_uint_eq(spool_msg_flags(m), 0);
	ck_assert_int_eq(spool_msg_tenant(m).len, 0);
	ck_assert_int_eq(spool_msg_marks(m), 0);
	ctx_free(c);
}
END_TEST

static void put_rec(FILE *f, uint8_t type, const uint8_t *pl, uint32_t len)
{
	uint8_t rec[4096];
	struct spool_rec_hdr h = { SPOOL_REC_MAGIC, len, type, 0, 0, 0 };
	spool_rec_hdr_put(rec, &h);
	memcpy(rec + SPOOL_REC_HDR, pl, len);
	h.crc = spool_rec_crc(rec, len);
	spool_rec_hdr_put(rec, &h);
	ck_assert_uint_eq(fwrite(rec, 1, SPOOL_REC_HDR + len, f), SPOOL_REC_HDR + len);
}

/* A segment in the format written before message flags existed (envelope without extensions,
 * STATE without the marks byte), built byte by byte: it recovers, with no flags and no marks. */
START_TEST(test_recover_old_format)
{
	struct ctx *c = ctx_new();
	char path[160];
	snprintf(path, sizeof(path), "%s/seg-003-00000001", c->dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	uint8_t pl[1024];
	struct spool_wbuf w = { .p = pl };
	spool_put32(&w, SPOOL_FORMAT);
	spool_put16(&w, 3);
	spool_put32(&w, 1);
	spool_put64(&w, 1700000000000000ull);
	put_rec(f, SPOOL_REC_SEGHDR, pl, w.len);
	const uint64_t qid = 3ull << 56 | 1ull << 24 | 7;
	static const char body[] = "Subject: old\r\n\r\nhello\r\n";
	const uint32_t blen = sizeof(body) - 1;
	uint8_t env[256];
	struct spool_wbuf we = { .p = env };
	spool_put64(&we, 1600000000000000ull);   /* arrival */
	spool_put32(&we, 9);                     /* snapshot */
	spool_put8(&we, SPOOL_RET_HDRS);
	spool_put8(&we, 2);                      /* AF_INET */
	spool_put16(&we, 25);
	uint8_t ip[16] = { 127, 0, 0, 1 };
	spool_putmem(&we, ip, 16);
	spool_put16(&we, 0);                     /* envid */
	spool_put16(&we, 5);
	spool_putmem(&we, "a@b.c", 5);           /* sender */
	spool_put16(&we, 1);
	spool_put8(&we, SPOOL_NOTIFY_DELAY);
	spool_put16(&we, 5);
	spool_putmem(&we, "r@d.e", 5);
	spool_put16(&we, 0);
	w.len = 0;
	spool_put64(&w, qid);
	spool_put32(&w, we.len);
	spool_putmem(&w, env, we.len);
	spool_put32(&w, 0);                      /* prefix */
	spool_put64(&w, blen);
	spool_put32(&w, spool_crc32c(0, body, blen));
	spool_put32(&w, 0);                      /* nchunks */
	spool_putmem(&w, body, blen);
	put_rec(f, SPOOL_REC_COMMIT, pl, w.len);
	w.len = 0;
	spool_put64(&w, qid);
	spool_put64(&w, 4242);
	spool_put16(&w, 2);
	spool_put16(&w, 1);
	spool_put8(&w, SPOOL_RCPT_PENDING);      /* ends here: no marks byte */
	put_rec(f, SPOOL_REC_STATE, pl, w.len);
	fclose(f);

	open_sp(c, false, NULL);
	const struct spool_msg *m = spool_msg_get(c->sp, qid);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(spool_msg_flags(m), 0);
	ck_assert_int_eq(spool_msg_tenant(m).len, 0);
	ck_assert_int_eq(spool_msg_marks(m), 0);
	ck_assert_uint_eq(spool_msg_attempts(m), 2);
	ck_assert_uint_eq(spool_msg_next_attempt(m), 4242);
	struct spool_rcpt_view rv;
	ck_assert_int_eq(spool_msg_rcpt(m, 0, &rv), 0);
	ck_assert_int_eq(rv.notify, SPOOL_NOTIFY_DELAY);
	ck_assert(memcmp(rv.addr.p, "r@d.e", 5) == 0);
	read_body(c, qid);
	ck_assert_uint_eq(c->blen, blen);
	ck_assert(memcmp(c->body, body, blen) == 0);
	spool_body_close(c->rd);
	c->rd = NULL;
	ctx_free(c);
}
END_TEST

/* Direct I/O (where the filesystem has it): batches start mid-block (the partial block is
 * written again in front of them) and the file is zero-filled ahead; fresh bodies come from the
 * read cache, and after a restart every body reads back intact from the file. */
START_TEST(test_direct_io)
{
	struct ctx *c = ctx_direct(__func__);
	if (!c)
		return;
	struct spool_stats st;
	enum { N = 40 };
	uint64_t q[N];
	size_t len[N];
	for (int i = 0; i < N; i++) {
		len[i] = (size_t)(i * 997) % 9000 + (i % 7 == 0 ? 20000 : 1); /* some multi-chunk */
		q[i] = put_msg(c, 100 + (uint64_t)i, len[i], 1500);
		if (i % 3 != 2)
			pump(c); /* mostly one message per batch: many writes starting mid-block */
	}
	pump(c);
	ck_assert_int_eq(c->nack, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(c->result[i], 0);
	for (int i = 0; i < N; i++)
		check_body(c, q[i], 100 + (uint64_t)i, len[i]);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.read_disk, 0);
	ck_assert_uint_gt(st.read_cache_hits, N);
	ck_assert_uint_gt(st.zero_bytes, 0);
	char seg[512];
	first_seg(c, seg, sizeof(seg));
	spool_free(c->sp);
	c->sp = NULL;
	/* on disk: the records, then only zeros (what recovery reads as the end) */
	long end = data_end(seg), sz = fsize(seg);
	ck_assert_int_gt(end, 0);
	ck_assert_int_gt(sz, end);
	FILE *f = fopen(seg, "rb");
	ck_assert_int_eq(fseek(f, end, SEEK_SET), 0);
	int ch, nonzero = 0;
	while ((ch = fgetc(f)) != EOF)
		nonzero += ch != 0;
	fclose(f);
	ck_assert_int_eq(nonzero, 0);
	open_sp(c, false, NULL);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, N);
	ck_assert_uint_eq(st.rec_torn, 0);
	ck_assert_uint_eq(st.rec_quarantined, 0);
	for (int i = 0; i < N; i++)
		check_body(c, q[i], 100 + (uint64_t)i, len[i]);
	spool_stats(c->sp, &st);
	ck_assert_uint_gt(st.read_disk, N); /* recovered messages come from the file */
	ctx_free(c);
}
END_TEST

/* The body is CRC'd once (at append) and the records' CRCs are combined from that: on disk every
 * record's CRC is still exactly the format's (header bytes 0..11 + payload), and a body byte
 * damaged in the file is caught by recovery, in a chunk record and in a commit record's tail. */
static void walk_check_crcs(const char *seg, uint8_t *img, size_t *n, size_t offs[], int *nrec)
{
	FILE *f = fopen(seg, "rb");
	ck_assert_ptr_nonnull(f);
	*n = fread(img, 1, 1 << 20, f);
	fclose(f);
	size_t off = 0;
	*nrec = 0;
	while (off + 16 <= *n && !memcmp(img + off, "DSP1", 4)) {
		uint32_t len, crc;
		memcpy(&len, img + off + 4, 4);
		memcpy(&crc, img + off + 12, 4);
		ck_assert_uint_eq(spool_crc32c(spool_crc32c(0, img + off, 12), img + off + 16, len), crc);
		offs[(*nrec)++] = off;
		off += 16 + len;
	}
}

START_TEST(test_crc_once_corruption)
{
	struct ctx *c = ctx_new();
	open_sp(c, false, NULL);
	uint64_t q[3];
	q[0] = put_msg(c, 1, 3000, 700);    /* one commit record, tail only */
	pump(c);
	q[1] = put_msg(c, 2, 10000, 999);   /* 2 chunks (4096) + tail */
	pump(c);
	q[2] = put_msg(c, 3, 2500, 2500);   /* the last record */
	pump(c);
	char seg[512], cmd[1200];
	first_seg(c, seg, sizeof(seg));
	spool_free(c->sp);
	c->sp = NULL;
	static uint8_t img[1 << 20];
	size_t n, offs[64];
	int nrec;
	walk_check_crcs(seg, img, &n, offs, &nrec);
	ck_assert_int_eq(nrec, 1 + 1 + 3 + 1); /* SEGHDR, commit, 2 chunks + commit, commit */
	snprintf(cmd, sizeof(cmd), "cp %s %s/orig.img", seg, c->dir);
	ck_assert_int_eq(system(cmd), 0);
	/* a byte of the last message's inline body (its commit record ends the data): torn tail */
	uint32_t len;
	memcpy(&len, img + offs[5] + 4, 4);
	int fd = open(seg, O_RDWR);
	uint8_t b = img[offs[5] + 16 + len - 100] ^ 0x20;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)(offs[5] + 16 + len - 100)), 1);
	close(fd);
	open_sp(c, false, NULL);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 2);
	ck_assert_uint_eq(st.rec_torn + st.rec_quarantined, 1);
	ck_assert_ptr_null(spool_msg_get(c->sp, q[2]));
	check_body(c, q[0], 1, 3000);
	check_body(c, q[1], 2, 10000);
	spool_free(c->sp);
	c->sp = NULL;
	/* a byte of the second message's first chunk (records follow it): quarantined from there,
	 * the first message alone survives, and nothing damaged is ever delivered */
	snprintf(cmd, sizeof(cmd), "rm -f %s/seg-003-* %s/quarantine/*; cp %s/orig.img %s", c->dir,
		 c->dir, c->dir, seg);
	ck_assert_int_eq(system(cmd), 0);
	fd = open(seg, O_RDWR);
	b = img[offs[2] + 16 + 12 + 2000] ^ 0x01;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)(offs[2] + 16 + 12 + 2000)), 1);
	close(fd);
	open_sp(c, false, NULL);
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.live, 1);
	ck_assert_uint_eq(st.rec_quarantined, 1);
	check_body(c, q[0], 1, 3000);
	ck_assert_ptr_null(spool_msg_get(c->sp, q[1]));
	ctx_free(c);
}
END_TEST

/* Bodies served from the read cache are the same bytes, with no disk read; a reader's piece is
 * a pointer into a cached batch buffer, which stays valid and unchanged while held even when the
 * cache evicts that buffer meanwhile (ASan catches a use after free here); sealed records too
 * (copied and opened). */
static void rcache_round(bool enc)
{
	struct ctx *c = ctx_new();
	c->rcache_bytes = 256 << 10; /* a few batches: eviction is easy to reach */
	open_sp(c, enc, enc ? key1 : NULL);
	const size_t lens[] = { 0, 1, 100, 4095, 4096, 4097, 10240, 30000 };
	enum { NL = sizeof(lens) / sizeof(lens[0]) };
	uint64_t q[NL];
	for (size_t i = 0; i < NL; i++) {
		q[i] = put_msg(c, 200 + i, lens[i], 1000);
		if (i % 2)
			pump(c);
	}
	pump(c);
	for (size_t i = 0; i < NL; i++)
		check_body(c, q[i], 200 + i, lens[i]);
	struct spool_stats st;
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.read_disk, 0);
	ck_assert_uint_ge(st.read_cache_hits, NL);
	/* hold the first body piece of a fresh message, then push its batch out of the cache */
	uint64_t qh = put_msg(c, 300, 6000, 6000);
	pump(c);
	int err;
	c->hold = true;
	c->rd = spool_body_open(c->sp, qh, &err);
	ck_assert_ptr_nonnull(c->rd);
	ck_assert_int_eq(spool_body_next(c->rd, 1), 0);
	spool_poll(c->sp, now_us());
	ck_assert_ptr_nonnull(c->held);
	ck_assert_uint_eq(c->held_len, sizeof(prefix) - 1);
	const uint8_t *piece = c->held;
	c->held = NULL;
	ck_assert_int_eq(spool_body_next(c->rd, 2), 0); /* the first chunk (4096 bytes) */
	spool_poll(c->sp, now_us());
	ck_assert_uint_eq(c->held_len, 4096);
	const uint8_t *chunk = c->held;
	for (uint64_t i = 0; i < 40; i++) {
		put_msg(c, 400 + i, 20000, 20000);
		pump(c);
	}
	spool_stats(c->sp, &st);
	static uint8_t want[6000];
	body_of(300, sizeof(want), want);
	ck_assert(memcmp(piece, prefix, sizeof(prefix) - 1) == 0);
	ck_assert(memcmp(chunk, want, 4096) == 0);
	/* the rest of the message, then the verified end */
	c->hold = false;
	c->blen = 0;
	c->bdone = false;
	ck_assert_int_eq(spool_body_next(c->rd, 3), 0);
	uint64_t end = now_us() + 5000000;
	while (!c->bdone && now_us() < end)
		spool_poll(c->sp, now_us());
	ck_assert(c->bdone);
	ck_assert_int_eq(c->bres, 0);
	ck_assert_uint_eq(c->blen, sizeof(want) - 4096);
	ck_assert(memcmp(c->body, want + 4096, sizeof(want) - 4096) == 0);
	spool_body_close(c->rd);
	c->rd = NULL;
	/* the held message's batch was evicted meanwhile: now it comes from the file */
	uint64_t disk0 = st.read_disk;
	check_body(c, qh, 300, sizeof(want));
	spool_stats(c->sp, &st);
	ck_assert_uint_gt(st.read_disk, disk0);
	ctx_free(c);
}

START_TEST(test_rcache_zero_copy)
{
	rcache_round(false);
	rcache_round(true);
}
END_TEST

/* Batch buffers are recycled: once the cache is full, a steady load maps no new buffer (each
 * fresh mapping is a page fault per 4 KiB written); after a burst of large batches, small ones
 * still fill the cache (a buffer accounts what it holds, not the burst's pages) and are served
 * from it. */
START_TEST(test_batch_buffers_recycled)
{
	struct ctx *c = ctx_new();
	c->rcache_bytes = 4 << 20;
	open_sp(c, false, NULL);
	struct spool_stats st;
	uint64_t maps_warm = 0;
	for (uint64_t i = 0; i < 600; i++) {
		uint64_t q = put_msg(c, 1000 + i, 10240, 1000);
		pump(c);
		check_body(c, q, 1000 + i, 10240);
		if (i == 400) {		/* well past filling 4 MiB with ~10 KiB batches */
			spool_stats(c->sp, &st);
			maps_warm = st.buf_maps;
		}
	}
	spool_stats(c->sp, &st);
	ck_assert_uint_gt(maps_warm, 0);
	ck_assert_uint_eq(st.buf_maps, maps_warm);
	ck_assert_uint_eq(st.read_disk, 0);
	ctx_free(c);
	/* bursts of large batches (60 x 30 KB: 1.8 MB) between small ones: their buffers go round
	 * again as spares, and would count 1.8 MB each for a 12 KiB batch if they kept the pages */
	c = ctx_new();
	c->rcache_bytes = 16 << 20;
	open_sp(c, false, NULL);
	for (uint64_t b = 0; b < 8; b++) {
		for (uint64_t i = 0; i < 60; i++)
			put_msg(c, 2000 + 100 * b + i, 30000, 30000);
		pump(c);
		for (uint64_t i = 0; i < 40; i++) {
			put_msg(c, 5000 + 100 * b + i, 10240, 1000);
			pump(c);
		}
	}
	spool_stats(c->sp, &st);
	uint64_t q[400], disk0 = st.read_disk;
	for (uint64_t i = 0; i < 400; i++) {
		q[i] = put_msg(c, 6000 + i, 10240, 1000);
		pump(c);
	}
	for (uint64_t i = 0; i < 400; i++)
		check_body(c, q[i], 6000 + i, 10240); /* 400 batches of ~12 KiB: under 8 MiB */
	spool_stats(c->sp, &st);
	ck_assert_uint_eq(st.read_disk, disk0);
	ctx_free(c);
}
END_TEST

/* Group commit window: commits wait commit_delay_us (spool time, from spool_poll's now) after
 * the first one, the lcore may sleep meanwhile (not runnable), then share one durable write. */
START_TEST(test_commit_window)
{
	struct ctx *c = ctx_new();
	c->commit_delay_us = 50000;
	open_sp(c, false, NULL);
	pump(c); /* the spare segment etc. */
	char trace[64];
	spool_set_trace(c->sp, trace, sizeof(trace));
	uint64_t t0 = now_us();
	spool_poll(c->sp, t0);
	put_msg(c, 1, 100, 100);
	spool_poll(c->sp, t0 + 10000);
	put_msg(c, 2, 5000, 5000); /* more than a chunk: its chunk is staged with the commit */
	spool_poll(c->sp, t0 + 40000);
	ck_assert_str_eq(trace, "");            /* inside the window: nothing written */
	ck_assert(!spool_runnable(c->sp));      /* nothing to do before the window ends */
	ck_assert(spool_busy(c->sp));
	spool_poll(c->sp, t0 + 50001);          /* the window is over: one write for both */
	uint64_t end = now_us() + 10000000;
	while (c->nack < 2 && now_us() < end)
		spool_poll(c->sp, t0 + 50002);
	ck_assert_int_eq(c->nack, 2);
	ck_assert_str_eq(trace, "WSAA");
	check_body(c, c->qid[1], 2, 5000);
	ctx_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spool");
	for (int mode = 0; mode < 2; mode++) {
	TCase *tc = tcase_create(mode ? "direct" : "buffered");
	tcase_add_checked_fixture(tc, mode ? mode_direct : mode_buffered, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_commit_ack_after_sync);
	tcase_add_test(tc, test_runnable_vs_busy);
	tcase_add_test(tc, test_chunked_and_recovery);
	tcase_add_test(tc, test_outcomes_and_gc);
	tcase_add_test(tc, test_recover_torn);
	tcase_add_test(tc, test_recover_corrupt_middle);
	tcase_add_test(tc, test_encryption);
	tcase_add_test(tc, test_wrong_key_and_tamper);
	tcase_add_test(tc, test_io_errors);
	tcase_add_test(tc, test_chunk_lost_before_commit);
	tcase_add_test(tc, test_append_backpressure);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_body_damaged_on_disk);
	tcase_add_test(tc, test_space_guard);
	tcase_add_test(tc, test_flags_tenant_marks);
	tcase_add_test(tc, test_recover_old_format);
	tcase_add_test(tc, test_commit_window);
	tcase_add_test(tc, test_crc_once_corruption);
	tcase_add_test(tc, test_rcache_zero_copy);
	tcase_add_test(tc, test_batch_buffers_recycled);
	if (mode) {
		tcase_add_test(tc, test_direct_io);
		tcase_add_test(tc, test_runnable_waits_for_zero_fill);
	}
	suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
