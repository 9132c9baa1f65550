/* SPDX-License-Identifier: MIT */
/*
 * spool_bench.c: benchmark of the spool (driven by bench/spool_bench.sh).
 *   spool_bench commit DIR [--conc C] [--size B] [--secs S] [--encrypt]
 *       C sessions each finish a message of B body bytes, wait for its acknowledgement, start the
 *       next: messages committed per second on this core, fdatasyncs per message, MB/s written.
 *   spool_bench recovery DIR [--n N] [--size B] [--encrypt] [--cold]
 *       writes N queued messages (2 recipients each), closes the spool, then times spool_recover
 *       in a fresh process (--cold: the segment files are evicted from the page cache first, with
 *       fadvise) and reports the memory the queue costs (RSS delta and accounted bytes per
 *       message). `spool_bench recover DIR [--encrypt]` is that second step alone.
 *   spool_bench paced DIR [--rate R] [--conc C] [--size B] [--secs S] [--encrypt] [--read]
 *                         [--direct auto|on|off] [--rcache BYTES] [--prezero BYTES]
 *                         [--commit-delay US]
 *       open loop like the relay: R messages per second (at most C waiting for their
 *       acknowledgement), each read back through a body reader after its acknowledgement with
 *       --read (as delivery does); the loop sleeps when it has nothing to do. Reports the CPU per
 *       message split by who spends it: the polling thread during turns that did work, the
 *       process's other threads (io_uring io-wq workers), and kernel kworker threads of the
 *       whole machine (writeback, block completion; noisy on a shared machine).
 * One line of key=value results per run. The commit loop polls without sleeping, like an lcore.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool_common.h"

struct bench {
	struct spool *sp;
	bool *waiting;
	uint64_t acked, failed;
	bool read;                /* paced --read: read each message back after its ack */
	struct spool_body **rd;   /* per session: the reader in progress */
	uint64_t *qids;
	uint64_t read_ok, read_bad, read_bytes;
	uint64_t *t_commit;       /* paced: when session i committed (for the ack latency) */
	uint32_t *lat_us;         /* paced: commit -> acknowledgement latencies */
	size_t nlat, latcap;
};

static void on_commit(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct bench *b = arg;
	(void)qid;
	if (result)
		b->failed++;
	else
		b->acked++;
	if (b->t_commit && b->nlat < b->latcap)
		b->lat_us[b->nlat++] = (uint32_t)(spool_test_now() - b->t_commit[cookie]);
	if (!b->read || result) {
		b->waiting[cookie] = false;
		return;
	}
	int err;
	b->rd[cookie] = spool_body_open(b->sp, qid, &err);
	if (!b->rd[cookie] || spool_body_next(b->rd[cookie], cookie)) {
		b->read_bad++;
		if (b->rd[cookie])
			spool_body_close(b->rd[cookie]);
		b->rd[cookie] = NULL;
		b->waiting[cookie] = false;
	}
}

static void on_body(void *a, uint64_t c, int r, const uint8_t *d, uint32_t l)
{
	struct bench *b = a;
	(void)d;
	if (!b->rd || !b->rd[c])
		return;
	if (r > 0) {
		b->read_bytes += l;
		if (spool_body_next(b->rd[c], c) == 0)
			return;
		r = -EIO;
	}
	if (r == 0)
		b->read_ok++;
	else
		b->read_bad++;
	spool_body_close(b->rd[c]);
	b->rd[c] = NULL;
	b->waiting[c] = false;
}

static const struct spool_rcpt rcpts[2] = {
	{ { "first.recipient@example.org", 27 }, { NULL, 0 }, 0 },
	{ { "second.recipient@example.net", 28 }, { NULL, 0 }, 0 },
};
static const char pfx[] = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; "
			  "s=sel; h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
			  "b=placeholder\r\n";

static enum spool_direct_io direct_io = SPOOL_DIO_AUTO; /* --direct auto|on|off */
static long rcache_bytes = -1, prezero_bytes = -1;       /* --rcache B, --prezero B */
static long commit_delay_us = -1;                        /* --commit-delay US */

static struct spool *open_spool(const char *dir, bool enc, struct bench *b)
{
	struct spool_tunables t;
	spool_tunables_defaults(&t);
	t.direct_io = direct_io;
	if (rcache_bytes >= 0)
		t.read_cache_bytes = (uint32_t)rcache_bytes;
	if (prezero_bytes >= 0)
		t.prezero_bytes = (uint32_t)prezero_bytes;
	if (commit_delay_us >= 0)
		t.commit_delay_us = (uint32_t)commit_delay_us;
	t.dir = dir;
	t.min_free_bytes = 64ull << 20;
	t.encrypt = enc;
	t.stage_bytes = 64u << 20;
	struct spool_callbacks cb = { on_commit, on_body, b };
	int err;
	struct spool *sp = spool_create(&t, 0, &cb, &err);
	if (!sp) {
		fprintf(stderr, "spool_create: %s\n", strerror(-err));
		exit(2);
	}
	if (enc && (spool_key_add(sp, 1, spool_test_key) || spool_key_use(sp, 1)))
		exit(2);
	return sp;
}

/* Begins, fills and commits one message for session i; false when the spool pushes back. */
static bool one(struct bench *b, unsigned i, const uint8_t *body, size_t size, uint64_t id)
{
	char snd[48];
	int sl = snprintf(snd, sizeof(snd), "bounce+%lu@example.com", (unsigned long)id);
	struct spool_envelope e = { .arrival_us = id, .sender = { snd, (uint16_t)sl },
				    .nrcpt = 2, .rcpts = rcpts };
	int err;
	struct spool_txn *tx = spool_msg_begin(b->sp, &e, &err);
	if (!tx)
		return false;
	size_t got = 0;
	while (got < size) {
		ssize_t r = spool_msg_append(tx, body + got, size - got);
		if (r < 0) {
			spool_msg_abort(tx);
			return false;
		}
		got += (size_t)r;
		if (got < size)
			spool_poll(b->sp, spool_test_now()); /* stage full: let the batch go */
	}
	if (b->t_commit)
		b->t_commit[i] = spool_test_now();
	if (spool_msg_commit(tx, pfx, sizeof(pfx) - 1, i))
		return false;
	b->waiting[i] = true;
	return true;
}

static void drain(struct bench *b)
{
	while (spool_busy(b->sp))
		if (spool_poll(b->sp, spool_test_now()) == 0)
			sched_yield();
}

static double cpu_secs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int run_commit(const char *dir, unsigned conc, size_t size, double secs, bool enc)
{
	struct bench b = { 0 };
	b.sp = open_spool(dir, enc, &b);
	if (spool_recover(b.sp, spool_test_now()))
		return 2;
	b.waiting = calloc(conc, sizeof(bool));
	uint8_t *body = malloc(size + 1);
	spool_test_body(7, 0, body, size);
	uint64_t id = 0, t0 = spool_test_now(), end = t0 + (uint64_t)(secs * 1e6);
	double c0 = cpu_secs(), work = 0;
	while (spool_test_now() < end) {
		double w0 = cpu_secs();
		bool any = false;
		for (unsigned i = 0; i < conc; i++)
			if (!b.waiting[i])
				any |= one(&b, i, body, size, id++);
		int n = spool_poll(b.sp, spool_test_now());
		if (any || n)
			work += cpu_secs() - w0; /* CPU spent producing and completing, not spinning */
		else
			sched_yield();
	}
	drain(&b);
	double el = (double)(spool_test_now() - t0) / 1e6;
	(void)c0;
	struct spool_stats st;
	spool_stats(b.sp, &st);
	printf("mode=commit conc=%u size=%zu encrypt=%d secs=%.2f msgs=%lu failed=%lu msgs_per_s=%.0f "
	       "fdatasyncs=%lu fdatasync_per_msg=%.4f batches=%lu msgs_per_batch=%.1f MB_per_s=%.1f "
	       "cpu_us_per_msg=%.2f\n",
	       conc, size, enc, el, (unsigned long)b.acked, (unsigned long)b.failed, b.acked / el,
	       (unsigned long)st.fdatasyncs, b.acked ? (double)st.fdatasyncs / b.acked : 0,
	       (unsigned long)st.batches, st.batches ? (double)b.acked / st.batches : 0,
	       st.bytes_written / el / 1e6, b.acked ? work * 1e6 / b.acked : 0);
	spool_free(b.sp);
	free(body);
	free(b.waiting);
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
	return a < c ? -1 : a > c;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU nanoseconds of the kworker threads of the machine (writeback, block and dio completion
 * work): the kernel's share of the spool that no getrusage shows. Other jobs add noise.
 * Called with base == NULL it records each kworker's time in *snap; with a base it returns the
 * time spent since then (threads that appeared meanwhile count whole, vanished ones not). */
struct kw_snap {
	int n;
	int pid[4096];
	uint64_t ns[4096];
};

static uint64_t kworker_ns(struct kw_snap *snap, const struct kw_snap *base)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	uint64_t sum = 0;
	long hz = sysconf(_SC_CLK_TCK);
	snap->n = 0;
	while (d && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char p[300], buf[512];
		snprintf(p, sizeof(p), "/proc/%s/stat", de->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *c = strchr(buf, '('), *e = strrchr(buf, ')');
		if (!c || !e || strncmp(c + 1, "kworker", 7))
			continue;
		unsigned long ut = 0, st = 0;
		if (sscanf(e + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
			continue;
		uint64_t ns = (uint64_t)(ut + st) * (1000000000u / (uint64_t)hz), was = 0;
		int pid = atoi(de->d_name);
		for (int i = 0; base && i < base->n; i++)
			if (base->pid[i] == pid)
				was = base->ns[i] <= ns ? base->ns[i] : ns;
		sum += ns - was;
		if (snap->n < 4096) {
			snap->pid[snap->n] = pid;
			snap->ns[snap->n++] = ns;
		}
	}
	if (d)
		closedir(d);
	return sum;
}

static int run_paced(const char *dir, unsigned conc, size_t size, double secs, bool enc,
		     double rate, bool rd)
{
	struct bench b = { 0 };
	b.sp = open_spool(dir, enc, &b);
	if (spool_recover(b.sp, spool_test_now()))
		return 2;
	b.read = rd;
	b.waiting = calloc(conc, sizeof(bool));
	b.rd = calloc(conc, sizeof(*b.rd));
	b.t_commit = calloc(conc, sizeof(*b.t_commit));
	b.latcap = (size_t)(rate * secs) + 1024;
	b.lat_us = calloc(b.latcap, sizeof(*b.lat_us));
	uint8_t *body = malloc(size + 1);
	spool_test_body(7, 0, body, size);
	uint64_t id = 0, sent = 0, t0 = spool_test_now(), end = t0 + (uint64_t)(secs * 1e6);
	double gap = 1e6 / rate;
	static struct kw_snap kw0, kw1;
	kworker_ns(&kw0, NULL);
	uint64_t p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t m0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), work = 0, late = 0;
	unsigned next_sess = 0;
	for (;;) {
		uint64_t now = spool_test_now();
		if (now >= end && !spool_busy(b.sp))
			break;
		uint64_t w0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		bool any = false;
		/* messages due by now (open loop), each on a free session */
		while (now < end && t0 + (uint64_t)(sent * gap) <= now) {
			unsigned i, k;
			for (k = 0, i = next_sess; k < conc && b.waiting[i]; k++)
				i = (i + 1) % conc;
			if (k == conc) {
				late++; /* every session busy: the spool is behind the offered rate */
				break;
			}
			next_sess = (i + 1) % conc;
			if (!one(&b, i, body, size, id++))
				break;
			sent++;
			any = true;
		}
		int n = spool_poll(b.sp, now);
		if (any || n) {
			work += clock_ns(CLOCK_THREAD_CPUTIME_ID) - w0;
			continue;
		}
		/* idle: sleep until the next message is due, at most 50 us while I/O is in flight */
		uint64_t due = t0 + (uint64_t)(sent * gap), wake = now + 50;
		if (!spool_busy(b.sp) && due > wake)
			wake = due;
		struct timespec ts = { 0, (long)((wake > now ? wake - now : 1) * 1000) };
		nanosleep(&ts, NULL);
	}
	double el = (double)(spool_test_now() - t0) / 1e6;
	uint64_t proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - p0;
	uint64_t main_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - m0;
	uint64_t kw = kworker_ns(&kw1, &kw0);
	struct spool_stats st;
	spool_stats(b.sp, &st);
	double a = b.acked ? (double)b.acked : 1;
	qsort(b.lat_us, b.nlat, sizeof(*b.lat_us), cmp_u32);
	uint32_t p50 = b.nlat ? b.lat_us[b.nlat / 2] : 0, p99 = b.nlat ? b.lat_us[b.nlat * 99 / 100] : 0;
	printf("mode=paced rate=%.0f conc=%u size=%zu encrypt=%d read=%d secs=%.2f msgs=%lu failed=%lu "
	       "late=%lu read_ok=%lu read_bad=%lu msgs_per_s=%.0f fdatasync_per_msg=%.3f "
	       "msgs_per_batch=%.2f MB_written_per_s=%.1f work_us_per_msg=%.2f iowq_us_per_msg=%.2f "
	       "kworker_us_per_msg=%.2f spool_us_per_msg=%.2f idle_loop_us_per_msg=%.2f direct=%lu "
	       "zero_MB=%.1f read_cache_hits=%lu read_disk=%lu ack_p50_us=%u ack_p99_us=%u\n",
	       rate, conc, size, enc, rd, el, (unsigned long)b.acked, (unsigned long)b.failed,
	       (unsigned long)late, (unsigned long)b.read_ok, (unsigned long)b.read_bad, b.acked / el,
	       (double)st.fdatasyncs / a, st.batches ? (double)b.acked / st.batches : 0,
	       st.bytes_written / el / 1e6, work / 1e3 / a, (proc - main_ns) / 1e3 / a, kw / 1e3 / a,
	       (work + proc - main_ns + kw) / 1e3 / a, (main_ns - work) / 1e3 / a,
	       (unsigned long)st.direct, st.zero_bytes / 1e6, (unsigned long)st.read_cache_hits,
	       (unsigned long)st.read_disk, p50, p99);
	spool_free(b.sp);
	free(body);
	free(b.waiting);
	free(b.rd);
	free(b.t_commit);
	free(b.lat_us);
	return b.failed || b.read_bad ? 1 : 0;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void evict(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	while (d && (de = readdir(d))) {
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		int fd = open(p, O_RDONLY);
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	if (d)
		closedir(d);
}

static int run_recovery(const char *dir, uint64_t n, size_t size, bool enc, bool cold)
{
	struct bench b = { 0 };
	unsigned conc = 4096;
	b.waiting = calloc(conc, sizeof(bool));
	b.sp = open_spool(dir, enc, &b);
	if (spool_recover(b.sp, spool_test_now()))
		return 2;
	uint8_t *body = malloc(size + 1);
	spool_test_body(9, 0, body, size);
	uint64_t id = 0, t0 = spool_test_now();
	while (id < n) {
		for (unsigned i = 0; i < conc && id < n; i++)
			if (!b.waiting[i] && one(&b, i, body, size, id))
				id++;
		spool_poll(b.sp, spool_test_now());
	}
	drain(&b);
	double gen = (double)(spool_test_now() - t0) / 1e6;
	spool_free(b.sp);
	free(body);
	free(b.waiting);
	printf("mode=generate n=%lu size=%zu encrypt=%d gen_secs=%.2f\n", (unsigned long)n, size, enc, gen);
	fflush(stdout);
	if (cold)
		evict(dir);
	/* recover in a fresh process so its RSS reflects the queue only */
	if (enc)
		execl("/proc/self/exe", "spool_bench", "recover", dir, "--encrypt", (char *)NULL);
	else
		execl("/proc/self/exe", "spool_bench", "recover", dir, (char *)NULL);
	return 2;
}

static int run_recover(const char *dir, bool enc)
{
	struct bench b = { 0 };
	long rss0 = rss_kb();
	b.sp = open_spool(dir, enc, &b);
	uint64_t t0 = spool_test_now();
	int e = spool_recover(b.sp, t0);
	double rec = (double)(spool_test_now() - t0) / 1e6;
	long rss1 = rss_kb();
	struct spool_stats st;
	spool_stats(b.sp, &st);
	printf("mode=recover encrypt=%d recover_secs=%.2f recovered=%lu records=%lu rc=%d "
	       "rss_delta_per_msg=%.0f accounted_per_msg=%.0f overhead_per_msg=%zu msgs_per_s=%.0f\n",
	       enc, rec, (unsigned long)st.live, (unsigned long)st.rec_records, e,
	       st.live ? (rss1 - rss0) * 1024.0 / st.live : 0,
	       st.live ? (double)st.live_bytes / st.live : 0, spool_msg_overhead(), st.live / rec);
	spool_free(b.sp);
	return e ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spool_bench commit|paced|recovery DIR [--conc C] [--size B] [--secs S] "
				"[--n N] [--rate R] [--read] [--direct auto|on|off] [--rcache B] [--prezero B] "
				"[--commit-delay US] "
				"[--encrypt] [--cold]\n");
		return 2;
	}
	unsigned conc = 64;
	size_t size = 4096;
	double secs = 3;
	uint64_t n = 100000;
	bool enc = false, cold = false, rd = false;
	double rate = 2000;
	for (int i = 3; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "0";
		if (!strcmp(argv[i], "--encrypt"))
			enc = true;
		else if (!strcmp(argv[i], "--direct") && ++i)
			direct_io = !strcmp(v, "on") ? SPOOL_DIO_ON : !strcmp(v, "off") ? SPOOL_DIO_OFF
										: SPOOL_DIO_AUTO;
		else if (!strcmp(argv[i], "--rcache") && ++i)
			rcache_bytes = strtol(v, NULL, 0);
		else if (!strcmp(argv[i], "--commit-delay") && ++i)
			commit_delay_us = strtol(v, NULL, 0);
		else if (!strcmp(argv[i], "--prezero") && ++i)
			prezero_bytes = strtol(v, NULL, 0);
		else if (!strcmp(argv[i], "--read"))
			rd = true;
		else if (!strcmp(argv[i], "--rate") && ++i)
			rate = strtod(v, NULL);
		else if (!strcmp(argv[i], "--cold"))
			cold = true;
		else if (!strcmp(argv[i], "--conc") && ++i)
			conc = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(argv[i], "--size") && ++i)
			size = strtoull(v, NULL, 0);
		else if (!strcmp(argv[i], "--secs") && ++i)
			secs = strtod(v, NULL);
		else if (!strcmp(argv[i], "--n") && ++i)
			n = strtoull(v, NULL, 0);
		else
			return 2;
	}
	if (!strcmp(argv[1], "commit"))
		return run_commit(argv[2], conc ? conc : 1, size, secs, enc);
	if (!strcmp(argv[1], "paced"))
		return run_paced(argv[2], conc ? conc : 1, size, secs, enc, rate > 0 ? rate : 1, rd);
	if (!strcmp(argv[1], "recovery"))
		return run_recovery(argv[2], n, size, enc, cold);
	if (!strcmp(argv[1], "recover"))
		return run_recover(argv[2], enc);
	return 2;
}
