/* SPDX-License-Identifier: MIT */
/*
 * relay_posix.c: the inbound relay (dataplane/relay) on the posix backend, configured from the
 * command line, for integration tests with real clients (swaks, smtplib, smtp-source):
 *
 *   relay_posix serve --spool DIR [--port P] [--hostname H] [--client CIDR[=dom,dom]]...
 *                     [--cert F --key F]... [--dkim DOMAIN:SELECTOR:rsa|ed25519:KEYFILE]...
 *                     [--operator-domain D] [--unsignable reject|pass] [--require-tls]
 *       prints "listening port=N", then "QUEUED <qid>" for each message on stable storage
 *       (written with write(2) from the callback, so a kill -9 never loses a printed line).
 *   relay_posix dump --spool DIR --out DIR [--core N]
 *       recovers the spool and writes, per live message, OUT/<qid>.eml (stored prefix + body,
 *       exactly what delivery will send) and OUT/<qid>.env ("from <sender>" then "to <rcpt>"
 *       lines); prints "LIVE <n>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "log.h"
#include "relay/rly.h"
#include "sock/sock.h"
#include "spool/spool.h"
#include "tls/tls.h"

#define MAX_ITEMS 16

struct opts {
	const char *spool, *out, *hostname, *op_domain;
	int port;
	unsigned core;
	bool require_tls, pass_unsignable;
	struct rly_client clients[MAX_ITEMS];
	char *client_domains[MAX_ITEMS][MAX_ITEMS];
	unsigned n_clients;
	struct tls_certkey certs[MAX_ITEMS];
	unsigned n_certs, n_keys_given;
	struct dkim_key_conf dkim[MAX_ITEMS];
	unsigned n_dkim;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = sig; }

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int64_t wall_offset(void)
{
	struct timespec r;
	clock_gettime(CLOCK_REALTIME, &r);
	return (int64_t)r.tv_sec * 1000000 + r.tv_nsec / 1000 - (int64_t)mono_us();
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, line, (size_t)n) < 0)
		return;
}

static int parse_client(struct opts *o, char *arg)
{
	if (o->n_clients == MAX_ITEMS)
		return -1;
	struct rly_client *c = &o->clients[o->n_clients];
	char *eq = strchr(arg, '=');
	if (eq) {
		*eq = 0;
		unsigned n = 0;
		for (char *d = strtok(eq + 1, ","); d && n < MAX_ITEMS; d = strtok(NULL, ","))
			o->client_domains[o->n_clients][n++] = d;
		c->domains = (const char *const *)o->client_domains[o->n_clients];
		c->n_domains = n;
	}
	c->name = arg;
	if (rly_parse_prefix(arg, &c->net, &c->prefix_len) < 0)
		return -1;
	o->n_clients++;
	return 0;
}

static int parse_dkim(struct opts *o, char *arg)
{
	if (o->n_dkim == MAX_ITEMS)
		return -1;
	struct dkim_key_conf *k = &o->dkim[o->n_dkim];
	char *f[4];
	for (int i = 0; i < 4; i++) {
		f[i] = strsep(&arg, ":");
		if (!f[i])
			return -1;
	}
	k->domain = f[0];
	k->selector = f[1];
	k->alg = strcmp(f[2], "ed25519") == 0 ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
	k->key_file = f[3];
	o->n_dkim++;
	return 0;
}

static int parse(struct opts *o, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--require-tls") == 0) { o->require_tls = true; continue; }
		if (!v)
			return -1;
		i++;
		if (strcmp(a, "--spool") == 0) o->spool = v;
		else if (strcmp(a, "--out") == 0) o->out = v;
		else if (strcmp(a, "--port") == 0) o->port = atoi(v);
		else if (strcmp(a, "--core") == 0) o->core = (unsigned)atoi(v);
		else if (strcmp(a, "--hostname") == 0) o->hostname = v;
		else if (strcmp(a, "--operator-domain") == 0) o->op_domain = v;
		else if (strcmp(a, "--unsignable") == 0) o->pass_unsignable = strcmp(v, "pass") == 0;
		else if (strcmp(a, "--client") == 0) { if (parse_client(o, v) < 0) return -1; }
		else if (strcmp(a, "--dkim") == 0) { if (parse_dkim(o, v) < 0) return -1; }
		else if (strcmp(a, "--cert") == 0 && o->n_certs < MAX_ITEMS) o->certs[o->n_certs++].cert_file = v;
		else if (strcmp(a, "--key") == 0 && o->n_keys_given < MAX_ITEMS) o->certs[o->n_keys_given++].key_file = v;
		else
			return -1;
	}
	return o->spool ? 0 : -1;
}

static void on_queued(void *ctx, uint64_t qid)
{
	char q[24];
	say("QUEUED %s\n", spool_qid_str(qid, q));
}

struct world {
	struct spool *sp;
	struct rly_core *rly;
	/* dump mode */
	const char *out;
	FILE *eml;
	int body_done;
};

static void cb_committed(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct world *w = arg;
	rly_spool_committed(w->rly, cookie, result, qid);
}

static void cb_body(void *arg, uint64_t cookie, int result, const uint8_t *data, uint32_t len)
{
	struct world *w = arg;
	if (result > 0)
		fwrite(data, 1, (size_t)result, w->eml);
	else
		w->body_done = result == 0 ? 1 : -1;
}

static int serve(struct opts *o)
{
	struct world w = { 0 };
	struct spool_tunables st;
	struct spool_callbacks cb = { .committed = cb_committed, .body = cb_body, .arg = &w };
	int err = 0;
	char msg[512];
	spool_tunables_defaults(&st);
	st.dir = o->spool;
	st.min_free_bytes = 1 << 20;
	w.sp = spool_create(&st, 0, &cb, &err);
	if (!w.sp || spool_recover(w.sp, mono_us()) < 0) {
		fprintf(stderr, "relay_posix: spool %s: %s\n", o->spool, strerror(-err));
		return 1;
	}
	struct tls_core_cfg tcc;
	tls_core_cfg_defaults(&tcc);
	tcc.gcm_batch_sessions = getenv("DPMAIL_GCM_BATCH_SESSIONS") != NULL;
	struct tls_core *tls = tls_core_new(&tcc);
	struct tls_server_ctx *sc = NULL;
	if (o->n_certs) {
		struct tls_ctx_cfg cc;
		struct tls_identity id = { .n_certs = o->n_certs };
		struct tls_ticket_key tk;
		tls_ctx_cfg_defaults(&cc);
		memcpy(id.certs, o->certs, sizeof(o->certs[0]) * o->n_certs);
		tls_ticket_key_generate(&tk);
		sc = tls_server_ctx_new(&cc, &id, 1, &tk, 1, msg, sizeof(msg));
		if (!sc) {
			fprintf(stderr, "relay_posix: tls: %s\n", msg);
			return 1;
		}
	}
	struct dkim_keyring *kr = NULL;
	struct dkim_signer_ctx *dk = NULL;
	if (o->n_dkim) {
		struct dkim_keyring_conf kc = { .keys = o->dkim, .n_keys = o->n_dkim,
						.operator_domain = o->op_domain };
		struct dkim_params dp;
		kr = dkim_keyring_build(&kc, msg, sizeof(msg));
		if (!kr) {
			fprintf(stderr, "relay_posix: dkim: %s\n", msg);
			return 1;
		}
		dkim_params_defaults(&dp);
		dk = dkim_signer_new(&dp, wall_offset());
	}
	struct rly_policy pol = {
		.hostname = o->hostname ? o->hostname : "relay.test",
		.clients = o->clients, .n_clients = o->n_clients, .tls = sc, .keyring = kr,
		.unsignable = o->pass_unsignable ? RLY_UNSIGNABLE_PASS : RLY_UNSIGNABLE_REJECT,
		.require_tls = o->require_tls, .tls_handshake_timeout_us = 10000000,
	};
	struct rly_params rp;
	rly_params_defaults(&rp);
	rp.wall_offset_us = wall_offset();
	rp.queued = on_queued;
	w.rly = rly_core_new(&rp, w.sp, dk, tls, &err);
	rly_core_set_policy(w.rly, &pol, 1);
	struct sock_net *net = sock_net_create(NULL, &err);
	struct conn_addr la = { .family = AF_INET, .port = htons((uint16_t)o->port) };
	la.ip.v4 = htonl(INADDR_LOOPBACK);
	int port = net ? sock_net_listen_addr(net, &la, rly_accept, w.rly) : -1;
	if (!w.rly || port < 0) {
		fprintf(stderr, "relay_posix: listen: %s\n", strerror(port < 0 ? -port : ENOMEM));
		return 1;
	}
	say("listening port=%d\n", port);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		uint64_t now = mono_us();
		int busy = spool_busy(w.sp) || rly_core_busy(w.rly);
		sock_net_poll(net, now, busy ? 0 : 50);
		now = mono_us();
		tls_core_poll(tls, now);
		rly_core_poll(w.rly, now);
		spool_poll(w.sp, now);
	}
	/* Let commits in flight finish so every printed QUEUED is really on disk. */
	while (spool_busy(w.sp))
		spool_poll(w.sp, mono_us());
	sock_net_free(net);
	rly_core_free(w.rly);
	spool_free(w.sp);
	if (sc)
		tls_server_ctx_free(sc);
	tls_core_free(tls);
	if (dk)
		dkim_signer_free(dk);
	if (kr)
		dkim_keyring_free(kr);
	return 0;
}

static int dump_one(void *arg, const struct spool_msg *m)
{
	struct world *w = arg;
	char q[24], path[512];
	const char *out = w->out;
	uint64_t qid = spool_msg_qid(m);
	spool_qid_str(qid, q);
	snprintf(path, sizeof(path), "%s/%s.env", out, q);
	FILE *env = fopen(path, "w");
	if (!env)
		return 1;
	struct spool_str snd = spool_msg_sender(m);
	fprintf(env, "from %.*s\n", snd.len, snd.p);
	for (uint16_t i = 0; i < spool_msg_nrcpt(m); i++) {
		struct spool_rcpt_view rv;
		if (spool_msg_rcpt(m, i, &rv) == 0)
			fprintf(env, "to %.*s\n", rv.addr.len, rv.addr.p);
	}
	fclose(env);
	snprintf(path, sizeof(path), "%s/%s.eml", out, q);
	w->eml = fopen(path, "w");
	int err = 0;
	struct spool_body *b = w->eml ? spool_body_open(w->sp, qid, &err) : NULL;
	if (!b)
		return 1;
	w->body_done = 0;
	while (!w->body_done) {
		if (spool_body_next(b, 1) < 0)
			break;
		while (spool_busy(w->sp))
			spool_poll(w->sp, mono_us());
	}
	spool_body_close(b);
	fclose(w->eml);
	return w->body_done < 0;
}

static int dump(struct opts *o)
{
	struct world w = { 0 };
	struct spool_tunables st;
	struct spool_callbacks cb = { .body = cb_body, .arg = &w };
	int err = 0;
	spool_tunables_defaults(&st);
	st.dir = o->spool;
	st.min_free_bytes = 0;
	w.sp = spool_create(&st, o->core, &cb, &err);
	if (!w.sp || spool_recover(w.sp, mono_us()) < 0 || !o->out)
		return 1;
	w.out = o->out;
	struct spool_stats ss;
	spool_foreach(w.sp, dump_one, &w);
	spool_stats(w.sp, &ss);
	printf("LIVE %llu\n", (unsigned long long)ss.live);
	spool_free(w.sp);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	if (argc < 2 || parse(&o, argc, argv) < 0) {
		fprintf(stderr, "usage: relay_posix serve|dump --spool DIR [options] (see the source)\n");
		return 2;
	}
	log_set_level(LOG_LVL_WARN);
	if (strcmp(argv[1], "serve") == 0)
		return serve(&o);
	if (strcmp(argv[1], "dump") == 0)
		return dump(&o);
	return 2;
}
