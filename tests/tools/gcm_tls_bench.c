// SPDX-License-Identifier: MIT
/*
 * gcm_tls_bench.c: the two record paths of crypto/tls's gcm hook through the real tls conns:
 * per call (each send or receive span is its own engine burst, flushed before returning) and
 * across sessions (tls_core_cfg.gcm_batch_sessions: every record of a loop turn in one burst,
 * run from tls_core_poll). N client/server session pairs over the in-memory conn pair
 * (tests/lib/tls_mpipe), TLS 1.3 AES-128-GCM, both sides taken over. Each loop turn every
 * client sends one record of SIZE bytes (conn_send, and conn_flush unless -F), the pipes
 * deliver, both cores poll. Thread CPU time of the sending side (client calls + its core's
 * poll) and the receiving side (pipe delivery into the server conns + its core's poll) is
 * measured apart; the best of -r interleaved rounds is reported.
 *
 *   gcm_tls_bench [-t SECONDS] [-r ROUNDS] [-F] [-s SIZE] [-n SESSIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tls_mpipe.h"
#include "../lib/tls_testcert.h"
#include "tls/tls.h"

#define MAX_SESS 64

struct side {
	struct conn *c;
	bool connected, closed;
	uint64_t rx;
};

struct pair {
	struct tls_mpipe pipe;
	struct side srv, cli;
};

struct run {
	struct tls_core *score, *ccore;
	struct pair *p;
	unsigned n;
};

static char dir[64];
static double seconds = 0.5;
static bool no_flush;
static uint8_t payload[16384];

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connected(void *ctx, struct conn *c)
{
	(void)c;
	((struct side *)ctx)->connected = true;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	(void)c;
	(void)d;
	((struct side *)ctx)->rx += n;
	return n;
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct side *s = ctx;

	(void)c;
	(void)why;
	s->closed = true;
	s->c = NULL;
}

static const struct conn_handler h = {
	.on_connected = on_connected, .on_data = on_data, .on_closed = on_closed,
};

static void raw_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	(void)ctx, (void)c, (void)why;
}

static size_t raw_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	(void)ctx, (void)c, (void)d;
	return n;
}

static const struct conn_handler raw = {.on_data = raw_data, .on_closed = raw_closed};

static int run_open(struct run *r, struct tls_server_ctx *sc, struct tls_client_ctx *cc,
		    unsigned n, bool batch)
{
	struct tls_core_cfg cfg;
	int err;

	tls_core_cfg_defaults(&cfg);
	cfg.gcm_batch_sessions = batch;
	cfg.send_limit = 1 << 20;
	r->score = tls_core_new(&cfg);
	r->ccore = tls_core_new(&cfg);
	r->p = calloc(n, sizeof(*r->p));
	r->n = n;
	if (!r->score || !r->ccore || !r->p)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct pair *p = &r->p[i];
		struct tls_conn_opts so = {0}, co = {.host = "mx.test", .session_key = ""};

		tls_mpipe_init(&p->pipe, 4 << 20, &raw, NULL, &raw, NULL);
		p->srv.c = tls_conn_server_new(r->score, &p->pipe.b.conn, sc, &h, &p->srv, &so, &err);
		p->cli.c = tls_conn_client_new(r->ccore, &p->pipe.a.conn, cc, &h, &p->cli, &co, &err);
		if (!p->srv.c || !p->cli.c)
			return -1;
		for (int k = 0; k < 100 && !(p->srv.connected && p->cli.connected); k++) {
			tls_mpipe_poll(&p->pipe);
			tls_core_poll(r->score, 1);
			tls_core_poll(r->ccore, 1);
		}
		if (!p->srv.connected || !p->cli.connected)
			return -1;
	}
	return 0;
}

static void run_close(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct pair *p = &r->p[i];

		if (p->cli.c)
			conn_abort(p->cli.c);
		if (p->srv.c)
			conn_abort(p->srv.c);
		for (int k = 0; k < 4; k++)
			tls_mpipe_poll(&p->pipe);
		tls_mpipe_fini(&p->pipe);
	}
	tls_core_poll(r->score, 2);
	tls_core_poll(r->ccore, 2);
	free(r->p);
	tls_core_free(r->score);
	tls_core_free(r->ccore);
}

/* One timed case; returns records/s of the whole pipeline and fills the per-side CPU. */
static double bench(struct run *r, size_t size, double *t_snd, double *t_rcv, double *recs)
{
	uint64_t rx0 = 0, rx1 = 0, now = 10;
	double ts = 0, tr = 0, t0;
	unsigned turns = 0;

	for (unsigned i = 0; i < r->n; i++)
		rx0 += r->p[i].srv.rx;
	while (ts + tr < seconds) {
		t0 = cpu_s();
		for (unsigned i = 0; i < r->n; i++) {
			conn_send(r->p[i].cli.c, payload, size);
			if (!no_flush)
				conn_flush(r->p[i].cli.c);
		}
		tls_core_poll(r->ccore, now);
		ts += cpu_s() - t0;
		t0 = cpu_s();
		for (unsigned i = 0; i < r->n; i++)
			tls_mpipe_poll_side(&r->p[i].pipe.b);
		tls_core_poll(r->score, now);
		tr += cpu_s() - t0;
		for (unsigned i = 0; i < r->n; i++)
			tls_mpipe_poll_side(&r->p[i].pipe.a); /* nothing flows back; keeps the pipe honest */
		now += 5;
		turns++;
	}
	for (unsigned i = 0; i < r->n; i++)
		rx1 += r->p[i].srv.rx;
	*t_snd = ts;
	*t_rcv = tr;
	*recs = (double)(rx1 - rx0) / (double)size;
	if (rx1 - rx0 < (uint64_t)turns * r->n * size * 9 / 10)
		fprintf(stderr, "warning: received %llu of %llu bytes\n", (unsigned long long)(rx1 - rx0),
			(unsigned long long)turns * r->n * size);
	return *recs / (ts + tr);
}

struct best {
	double snd, rcv; /* records/s per side, best round */
};

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64, 1024, 16384};
	static const unsigned nsess[] = {1, 8, 64};
	static struct best best[3][3][2];
	struct tls_client_cfg ccf;
	struct tls_ctx_cfg cfg;
	struct tls_server_ctx *sc;
	struct tls_client_ctx *cc;
	char err[256], ca[128], cert[128], key[128];
	int opt, rounds = 3;
	size_t only_size = 0;
	unsigned only_n = 0;

	while ((opt = getopt(argc, argv, "t:r:Fs:n:")) != -1) {
		if (opt == 't')
			seconds = atof(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'F')
			no_flush = true;
		else if (opt == 's')
			only_size = (size_t)atol(optarg);
		else if (opt == 'n')
			only_n = (unsigned)atoi(optarg);
		else
			return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/dpmail-gc2-bench.XXXXXX");
	if (!mkdtemp(dir) || tls_testcert_make(dir) < 0)
		return 1;
	snprintf(cert, sizeof(cert), "%s/ecdsa.pem", dir);
	snprintf(key, sizeof(key), "%s/ecdsa.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	struct tls_identity id = {.certs = {{cert, key}}, .n_certs = 1};
	tls_ctx_cfg_defaults(&cfg);
	cfg.ciphersuites = "TLS_AES_128_GCM_SHA256";
	sc = tls_server_ctx_new(&cfg, &id, 1, NULL, 0, err, sizeof(err));
	tls_client_cfg_defaults(&ccf);
	ccf.base.ciphersuites = "TLS_AES_128_GCM_SHA256";
	ccf.ca_file = ca;
	ccf.use_system_store = false;
	cc = tls_client_ctx_new(&ccf, err, sizeof(err));
	if (!sc || !cc) {
		fprintf(stderr, "contexts: %s\n", err);
		return 1;
	}
	memset(payload, 'x', sizeof(payload));
	for (int round = 0; round < rounds; round++)
		for (unsigned si = 0; si < 3; si++)
			for (unsigned ni = 0; ni < 3; ni++)
				for (unsigned m = 0; m < 2; m++) {
					struct run r;
					double ts, tr, recs;

					if ((only_size && sizes[si] != only_size) ||
					    (only_n && nsess[ni] != only_n))
						continue;
					if (run_open(&r, sc, cc, nsess[ni], m == 1) < 0) {
						fprintf(stderr, "setup failed\n");
						return 1;
					}
					bench(&r, sizes[si], &ts, &tr, &recs);
					if (recs / ts > best[si][ni][m].snd)
						best[si][ni][m].snd = recs / ts;
					if (recs / tr > best[si][ni][m].rcv)
						best[si][ni][m].rcv = recs / tr;
					run_close(&r);
				}
	printf("records/s per core (best of %d rounds, %.1f s each, %s), TLS 1.3 AES-128-GCM\n", rounds,
	       seconds, no_flush ? "no conn_flush: sealed at the end of the turn"
				 : "conn_flush after each send");
	printf("%-6s %-5s | %12s %12s %7s | %12s %12s %7s | %9s %9s\n", "size", "sess", "send/call",
	       "send/batch", "ratio", "recv/call", "recv/batch", "ratio", "ms/GB c", "ms/GB b");
	for (unsigned si = 0; si < 3; si++)
		for (unsigned ni = 0; ni < 3; ni++) {
			struct best *b = best[si][ni];
			double mb = (double)sizes[si] / 1e9;

			if (b[0].snd == 0)
				continue;
			/* CPU per GB of plaintext, both sides together */
			printf("%-6zu %-5u | %12.0f %12.0f %6.2fx | %12.0f %12.0f %6.2fx | %9.0f %9.0f\n",
			       sizes[si], nsess[ni], b[0].snd, b[1].snd, b[1].snd / b[0].snd, b[0].rcv,
			       b[1].rcv, b[1].rcv / b[0].rcv,
			       1e3 * (1 / b[0].snd + 1 / b[0].rcv) / mb,
			       1e3 * (1 / b[1].snd + 1 / b[1].rcv) / mb);
		}
	tls_server_ctx_free(sc);
	tls_client_ctx_free(cc);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	return system(err) == 0 ? 0 : 1;
}
