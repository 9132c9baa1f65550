/* SPDX-License-Identifier: MIT */
/*
 * tls_bench.c: crypto/tls per-core throughput, in process, next to `openssl speed` for the same
 * primitives measured in the same run. A server and a client tls conn are connected back to
 * back over the in-memory conn pair (tests/lib/tls_mpipe) on one thread; the time spent in each
 * side's callbacks is measured separately, so "server handshakes/s" is what one core serving
 * only the server side would do.
 *
 *   tls_bench [-t SECONDS_PER_CASE] [-r ROUNDS] [-n]      (-n: skip openssl speed)
 * Each case runs once per round, rounds interleaved; the best round is reported.
 *
 * Bounds from the primitives (TLS 1.3, X25519, one core):
 *   full handshake, server: 1 signature + 2 X25519 (keygen + derive)
 *   full handshake, client: 2 verifications (leaf by the ECDSA CA, CertificateVerify) + 2 X25519
 *   resumed (psk_dhe_ke):  2 X25519 on each side (ticket crypto is symmetric and small)
 *   bulk: AES-128-GCM at 16 KiB records (sealing on the sender, opening on the receiver)
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tls_mpipe.h"
#include "../lib/tls_testcert.h"
#include "tls/tls_int.h"

struct side {
	struct conn *c;
	bool connected, closed;
	uint64_t rx;
};

struct speed {
	double rsa_sign, rsa_verify, ecdsa_sign, ecdsa_verify, x25519, gcm;
};

static double seconds_per_case = 1.0;
static char dir[64];

/* Thread CPU time, like `openssl speed` (which divides by CPU user time unless -elapsed): the
 * project machine is shared, so wall time would measure the neighbours. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connected(void *ctx, struct conn *c)
{
	((struct side *)ctx)->connected = true;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t n)
{
	((struct side *)ctx)->rx += n;
	return n;
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct side *s = ctx;
	s->closed = true;
	s->c = NULL;
}

static const struct conn_handler h = {
	.on_connected = on_connected, .on_data = on_data, .on_closed = on_closed,
};

static void raw_closed(void *ctx, struct conn *c, enum conn_close_reason why) {}
static size_t raw_data(void *ctx, struct conn *c, const uint8_t *d, size_t n) { return n; }
static const struct conn_handler raw = { .on_data = raw_data, .on_closed = raw_closed };

struct bench {
	struct tls_core *score, *ccore;
	struct tls_server_ctx *sc;
	struct tls_client_ctx *cc;
	struct tls_mpipe pipe;
	struct side srv, cli;
	double t_srv, t_cli;
	SSL_SESSION *raw_keep;
};

/* Times one side's callbacks. */
#define TIMED(acc, stmt)                                                                      \
	do {                                                                                  \
		double t0_ = now_s();                                                         \
		stmt;                                                                         \
		(acc) += now_s() - t0_;                                                       \
	} while (0)

static int handshake(struct bench *b, bool resume)
{
	struct tls_conn_opts so = { 0 }, co = { .host = "mx.test", .session_key = resume ? "mx" : "" };
	int err;
	memset(&b->srv, 0, sizeof(b->srv));
	memset(&b->cli, 0, sizeof(b->cli));
	tls_mpipe_init(&b->pipe, 1 << 20, &raw, NULL, &raw, NULL);
	uint64_t stores = tls_core_stats(b->ccore)->sess_cache_stores;
	TIMED(b->t_srv, b->srv.c = tls_conn_server_new(b->score, &b->pipe.b.conn, b->sc, &h, &b->srv, &so, &err));
	TIMED(b->t_cli, b->cli.c = tls_conn_client_new(b->ccore, &b->pipe.a.conn, b->cc, &h, &b->cli, &co, &err));
	if (!b->srv.c || !b->cli.c)
		return -1;
	for (int i = 0; i < 100; i++) {
		TIMED(b->t_srv, tls_mpipe_poll_side(&b->pipe.b));
		TIMED(b->t_cli, tls_mpipe_poll_side(&b->pipe.a));
		if (b->srv.connected && b->cli.connected &&
		    (!resume || tls_core_stats(b->ccore)->sess_cache_stores > stores))
			break;
	}
	int ok = b->srv.connected && b->cli.connected ? 0 : -1;
	/* graceful: an SSL freed without close_notify makes OpenSSL drop its session */
	TIMED(b->t_cli, if (b->cli.c) conn_close(b->cli.c); tls_mpipe_poll_side(&b->pipe.a));
	TIMED(b->t_srv, if (b->srv.c) conn_close(b->srv.c); tls_mpipe_poll_side(&b->pipe.b));
	for (int i = 0; i < 10 && (b->srv.c || b->cli.c); i++)
		tls_mpipe_poll(&b->pipe);
	tls_mpipe_fini(&b->pipe);
	return ok;
}

/* The same handshake with bare OpenSSL over a BIO pair: what the library itself costs. */
static int raw_handshake(struct bench *b, SSL_SESSION **sess)
{
	SSL *s = SSL_new(b->sc->ctx), *c = SSL_new(b->cc->ctx);
	BIO *bs, *bc;
	char buf[16];
	int rs = 0, rc = 0;
	BIO_new_bio_pair(&bs, 0, &bc, 0);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "mx.test");
	SSL_set1_host(c, "mx.test");
	if (*sess)
		SSL_set_session(c, *sess);
	for (int i = 0; i < 20 && (rs != 1 || rc != 1); i++) {
		TIMED(b->t_cli, if (rc != 1) rc = SSL_do_handshake(c));
		TIMED(b->t_srv, if (rs != 1) rs = SSL_do_handshake(s));
	}
	TIMED(b->t_cli, SSL_read(c, buf, sizeof(buf)));      /* NewSessionTicket */
	if (*sess) {
		SSL_SESSION_free(*sess);
		*sess = NULL;
	}
	if (SSL_session_reused(c) || sess == &b->raw_keep)
		*sess = SSL_get1_session(c);
	TIMED(b->t_cli, SSL_shutdown(c); SSL_free(c));
	TIMED(b->t_srv, SSL_shutdown(s); SSL_free(s));
	ERR_clear_error();
	return rs == 1 && rc == 1 ? 0 : -1;
}

static struct tls_server_ctx *server_ctx(const char *name)
{
	char cert[128], key[128], err[256];
	struct tls_ctx_cfg cfg;
	struct tls_ticket_key k;
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	struct tls_identity id = { .certs = { { cert, key } }, .n_certs = 1 };
	tls_ctx_cfg_defaults(&cfg);
	tls_ticket_key_generate(&k);
	struct tls_server_ctx *sc = tls_server_ctx_new(&cfg, &id, 1, &k, getenv("TLS_BENCH_NOTICKET") ? 0 : 1, err,
						       sizeof(err));
	if (!sc)
		fprintf(stderr, "%s\n", err);
	return sc;
}

/* Results: every case runs in each of -r rounds (interleaved, so a burst of load from the
 * neighbours hits one round of one case, not all of it); the best round is kept, since
 * interference only ever slows a round down. */
struct result {
	char what[64], side[16], unit[4];
	double best, bound;
};
static struct result results[64];
static unsigned n_results;

static void report(const char *what, const char *side, double rate, double bound, const char *unit)
{
	struct result *r = NULL;
	for (unsigned i = 0; i < n_results && !r; i++)
		if (!strcmp(results[i].what, what) && !strcmp(results[i].side, side))
			r = &results[i];
	if (!r) {
		if (n_results == sizeof(results) / sizeof(results[0]))
			return;
		r = &results[n_results++];
		snprintf(r->what, sizeof(r->what), "%s", what);
		snprintf(r->side, sizeof(r->side), "%s", side);
		snprintf(r->unit, sizeof(r->unit), "%s", unit);
	}
	if (rate > r->best)
		r->best = rate;
	r->bound = bound;
}

static void print_results(void)
{
	for (unsigned i = 0; i < n_results; i++) {
		const struct result *r = &results[i];
		printf("%-34s %-8s %12.0f %s/s   bound %12.0f   %5.1f%%\n", r->what, r->side, r->best,
		       r->unit, r->bound, r->bound > 0 ? 100.0 * r->best / r->bound : 0.0);
	}
}

static void bench_handshakes(struct bench *b, const char *key, bool resume, bool raw_ssl,
			     const struct speed *sp)
{
	int n = 0;
	SSL_SESSION *none = NULL;
	b->t_srv = b->t_cli = 0;
	if (resume && raw_ssl)
		raw_handshake(b, &b->raw_keep);
	else if (resume)
		handshake(b, true);                /* prime the client's session cache */
	b->t_srv = b->t_cli = 0;
	double end = now_s() + seconds_per_case;
	while (now_s() < end) {
		int r = raw_ssl ? raw_handshake(b, resume ? &b->raw_keep : &none) : handshake(b, resume);
		if (r < 0) {
			fprintf(stderr, "handshake failed\n");
			exit(1);
		}
		n++;
	}
	const struct tls_role_stats *ss = &tls_core_stats(b->score)->role[TLS_ROLE_SERVER];
	if (b->raw_keep) {
		SSL_SESSION_free(b->raw_keep);
		b->raw_keep = NULL;
	}
	if (resume && !raw_ssl && ss->handshakes_resumed < (uint64_t)n) {
		fprintf(stderr, "resumption did not happen (%llu of %d)\n",
			(unsigned long long)ss->handshakes_resumed, n);
		exit(1);
	}
	if (getenv("TLS_BENCH_DEBUG"))
		fprintf(stderr, "n=%d t_srv=%.3f t_cli=%.3f full=%llu resumed=%llu\n", n, b->t_srv, b->t_cli,
			(unsigned long long)ss->handshakes_full, (unsigned long long)ss->handshakes_resumed);
	bool rsa = strcmp(key, "rsa") == 0;
	double sign = rsa ? sp->rsa_sign : sp->ecdsa_sign;
	double verify = rsa ? sp->rsa_verify : sp->ecdsa_verify;
	double bs = 0, bc = 0;
	if (sp->x25519 > 0) {
		bs = resume ? 1 / (2 / sp->x25519) : 1 / (1 / sign + 2 / sp->x25519);
		bc = resume ? 1 / (2 / sp->x25519)
			    : 1 / (1 / sp->ecdsa_verify + 1 / verify + 2 / sp->x25519);
	}
	char what[64];
	snprintf(what, sizeof(what), "%s %s %s", raw_ssl ? "bare OpenSSL" : "handshake",
		 resume ? "resumed" : "full", key);
	report(what, "server", n / b->t_srv, bs, "hs");
	report(what, "client", n / b->t_cli, bc, "hs");
}

static void bench_bulk(struct bench *b, const struct speed *sp)
{
	static uint8_t buf[4 * 16384];
	struct tls_conn_opts so = { 0 }, co = { .host = "mx.test" };
	int err;
	memset(&b->srv, 0, sizeof(b->srv));
	memset(&b->cli, 0, sizeof(b->cli));
	tls_mpipe_init(&b->pipe, 1 << 20, &raw, NULL, &raw, NULL);
	b->srv.c = tls_conn_server_new(b->score, &b->pipe.b.conn, b->sc, &h, &b->srv, &so, &err);
	b->cli.c = tls_conn_client_new(b->ccore, &b->pipe.a.conn, b->cc, &h, &b->cli, &co, &err);
	for (int i = 0; i < 100 && !(b->srv.connected && b->cli.connected); i++)
		tls_mpipe_poll(&b->pipe);
	b->t_srv = b->t_cli = 0;
	uint64_t sent = 0;
	double end = now_s() + seconds_per_case;
	while (now_s() < end) {
		double t0 = now_s();
		while (conn_send_space(b->cli.c) >= sizeof(buf))
			sent += (uint64_t)conn_send(b->cli.c, buf, sizeof(buf));
		conn_flush(b->cli.c);
		double t1 = now_s();
		tls_mpipe_poll_side(&b->pipe.b);
		double t2 = now_s();
		tls_mpipe_poll_side(&b->pipe.a);
		b->t_cli += (t1 - t0) + (now_s() - t2);
		b->t_srv += t2 - t1;
	}
	if (b->srv.rx + 4 * sizeof(buf) < sent)
		tls_mpipe_poll(&b->pipe);
	report("bulk 16 KiB records, AES-128-GCM", "sender", (double)sent / b->t_cli / 1e6,
	       sp->gcm / 1e6, "MB");
	report("bulk 16 KiB records, AES-128-GCM", "receiver", (double)b->srv.rx / b->t_srv / 1e6,
	       sp->gcm / 1e6, "MB");
	conn_abort(b->cli.c);
	conn_abort(b->srv.c);
	tls_mpipe_poll(&b->pipe);
	tls_mpipe_fini(&b->pipe);
}

/* Bulk with bare OpenSSL over a BIO pair (the BIO pair copies, like a transport buffer). */
static void raw_bulk(struct bench *b, const struct speed *sp)
{
	static uint8_t buf[4 * 16384], rbuf[16384];
	SSL *s = SSL_new(b->sc->ctx), *c = SSL_new(b->cc->ctx);
	BIO *bs, *bc;
	int rs = 0, rc = 0;
	size_t n;
	uint64_t sent = 0, got = 0;
	BIO_new_bio_pair(&bs, 1 << 20, &bc, 1 << 20);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int i = 0; i < 20 && (rs != 1 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
	}
	b->t_srv = b->t_cli = 0;
	double end = now_s() + seconds_per_case;
	while (now_s() < end) {
		double t0 = now_s();
		while (BIO_ctrl_get_write_guarantee(bc) > sizeof(buf) + 1024 &&
		       SSL_write_ex(c, buf, sizeof(buf), &n) == 1)
			sent += n;
		double t1 = now_s();
		while (SSL_read_ex(s, rbuf, sizeof(rbuf), &n) == 1)
			got += n;
		b->t_srv += now_s() - t1;
		b->t_cli += t1 - t0;
	}
	report("bare OpenSSL bulk, AES-128-GCM", "sender", (double)sent / b->t_cli / 1e6,
	       sp->gcm / 1e6, "MB");
	report("bare OpenSSL bulk, AES-128-GCM", "receiver", (double)got / b->t_srv / 1e6,
	       sp->gcm / 1e6, "MB");
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
}

#define KEEP_MAX(field, v) (sp->field = (v) > sp->field ? (v) : sp->field)

/* openssl speed, machine-readable, in this run; the best of the rounds is kept. */
static void openssl_speed(struct speed *sp)
{
	char line[256];
	FILE *p = popen("openssl speed -seconds 1 -mr rsa2048 ecdsap256 ecdhx25519 2>/dev/null; "
			"openssl speed -seconds 1 -mr -evp aes-128-gcm -bytes 16384 2>/dev/null", "r");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		unsigned i, bits;
		double a, c;
		if (sscanf(line, "+F2:%u:%u:%lf:%lf", &i, &bits, &a, &c) == 4) {
			KEEP_MAX(rsa_sign, a);
			KEEP_MAX(rsa_verify, c);
		} else if (sscanf(line, "+F4:%u:%u:%lf:%lf", &i, &bits, &a, &c) == 4) {
			KEEP_MAX(ecdsa_sign, a);
			KEEP_MAX(ecdsa_verify, c);
		} else if (sscanf(line, "+F5:%u:%u:%lf", &i, &bits, &a) == 3) {
			KEEP_MAX(x25519, a);
		} else if (strncmp(line, "+F:", 3) == 0) {
			char *last = strrchr(line, ':');
			KEEP_MAX(gcm, last ? atof(last + 1) : 0);
		}
	}
	pclose(p);
	printf("openssl speed: rsa2048 sign %.0f/s verify %.0f/s, ecdsap256 sign %.0f/s verify %.0f/s, "
	       "x25519 %.0f/s, aes-128-gcm 16KiB %.0f MB/s\n", sp->rsa_sign, sp->rsa_verify,
	       sp->ecdsa_sign, sp->ecdsa_verify, sp->x25519, sp->gcm / 1e6);
}

int main(int argc, char **argv)
{
	struct speed sp = { 0 };
	struct tls_core_cfg ccfg;
	struct tls_client_cfg ccf;
	bool speed = true;
	char err[256], ca[128];
	int opt, rounds = 3;
	while ((opt = getopt(argc, argv, "t:r:n")) != -1) {
		if (opt == 't')
			seconds_per_case = atof(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'n')
			speed = false;
		else
			return 2;
	}
	snprintf(dir, sizeof(dir), "/tmp/dpmail-tls-bench.XXXXXX");
	if (!mkdtemp(dir) || tls_testcert_make(dir) < 0)
		return 1;
	struct bench b = { 0 };
	tls_core_cfg_defaults(&ccfg);
	tls_client_cfg_defaults(&ccf);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	ccf.ca_file = ca;
	ccf.use_system_store = false;
	b.cc = tls_client_ctx_new(&ccf, err, sizeof(err));
	if (!b.cc)
		return 1;
	const char *keys[] = { "ecdsa", "rsa" };
	for (int round = 0; round < rounds; round++) {
		if (speed)
			openssl_speed(&sp);
		for (int k = 0; k < 2; k++) {
			for (int r = 0; r < 2; r++) {
				b.score = tls_core_new(&ccfg);
				b.ccore = tls_core_new(&ccfg);
				b.sc = server_ctx(keys[k]);
				if (!b.sc || !b.score || !b.ccore)
					return 1;
				bench_handshakes(&b, keys[k], r == 1, false, &sp);
				bench_handshakes(&b, keys[k], r == 1, true, &sp);
				tls_server_ctx_free(b.sc);
				tls_core_free(b.score);
				tls_core_free(b.ccore);
			}
		}
		b.score = tls_core_new(&ccfg);
		b.ccore = tls_core_new(&ccfg);
		b.sc = server_ctx("ecdsa");
		bench_bulk(&b, &sp);
		raw_bulk(&b, &sp);
		tls_server_ctx_free(b.sc);
		tls_core_free(b.score);
		tls_core_free(b.ccore);
	}
	printf("best of %d rounds of %.2f s per case\n", rounds, seconds_per_case);
	printf("%-34s %-8s %17s   %18s   %6s\n", "case (TLS 1.3, X25519)", "side", "measured",
	       "primitives", "ratio");
	print_results();
	tls_client_ctx_free(b.cc);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
