/* SPDX-License-Identifier: MIT */
/*
 * ctl_testd.c: the control plane without the data plane, for integration tests: runs the
 * control loop (admin socket, audit, metrics, DNS, accounting) with fake worker threads that
 * behave like worker lcores: QSBR readers of the current snapshot, per-core counters and a
 * histogram, accounting records on their rings, DNS requests through their rings.
 *
 *   ctl_testd -s SOCKET [-a AUDIT] [-m ADDR:PORT] [-A ACCTDIR] [-d FWD -U UBCONF]
 *             [-w WORKERS] [-r RELOADFILE]
 * Prints "ready metrics_port=N" when serving. SIGTERM/SIGINT stop it. Reload reads
 * RELOADFILE: a first line starting with "bad" is refused as "RELOADFILE:1: <line>".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acct/acct.h"
#include "ctl/plane.h"
#include "ctl/server.h"
#include "ctl/wq.h"
#include "dns/dns.h"
#include "log.h"
#include "metrics/stats.h"
#include "snapshot/snapshot.h"

struct worker_stats {
	uint64_t turns_total;
	uint64_t sessions_total;
	uint64_t snapshot_seen;
	uint64_t dns_answers_total;
};

static const struct ctl_stat_field worker_fields[] = {
	{ "test_loop_turns_total", "Loop turns of the fake workers.", CTL_STAT_COUNTER,
	  offsetof(struct worker_stats, turns_total) },
	{ "test_sessions_total", "Fake sessions.", CTL_STAT_COUNTER,
	  offsetof(struct worker_stats, sessions_total) },
	{ "test_snapshot_seen", "Last snapshot version a worker read.", CTL_STAT_GAUGE,
	  offsetof(struct worker_stats, snapshot_seen) },
	{ "test_dns_answers_total", "DNS completions received by workers.", CTL_STAT_COUNTER,
	  offsetof(struct worker_stats, dns_answers_total) },
};

struct worker {
	struct ctl_wq *wq;
	pthread_t tid;
	unsigned slot;
	struct cfg_pub *pub;
	struct ctl_dns *dns;
	struct ctl_acct *acct;
	struct worker_stats st;
	struct ctl_hist lat;
};

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void worker_turn(struct worker *w, uint64_t now, uint64_t turn)
{
	const struct cfg_snapshot *s = cfg_current(w->pub);
	if (s && s->canary != CFG_SNAP_LIVE)
		abort(); /* a retired snapshot reached a reader: the test must fail loudly */
	ctl_gauge_set(&w->st.snapshot_seen, s ? s->version : 0);
	ctl_counter_add(&w->st.turns_total, 1);
	if (turn % 50 == 0) {
		ctl_counter_add(&w->st.sessions_total, 1);
		ctl_hist_observe(&w->lat, 200 + (turn * 7919) % 5000);
	}
	if (w->acct && turn % 200 == 0) {
		struct ctl_acct_event ev = { .type = CTL_ACCT_RECEIVED, .tls_verified = -1,
					     .snapshot_version = s ? s->version : 0, .now_us = now,
					     .accepted_us = now };
		ev.f[CTL_ACCT_QID] = (struct ctl_acct_str){ "testqid", 7 };
		/* the first records name an address that the erasure test removes later */
		ev.f[CTL_ACCT_SENDER] = turn <= 400 ?
			(struct ctl_acct_str){ "early-sender@example.org", 24 } :
			(struct ctl_acct_str){ "sender@example.org", 18 };
		ev.f[CTL_ACCT_RECIPIENT] = (struct ctl_acct_str){ "rcpt@example.net", 16 };
		ctl_acct_emit(w->acct, w->slot, &ev);
	}
	if (w->dns) {
		if (turn == 1)
			ctl_dns_request(w->dns, w->slot, "mx.dpmail.test", CTL_DNS_MX, 42);
		struct ctl_dns_done done[8];
		unsigned n = ctl_dns_completions(w->dns, w->slot, done, 8);
		for (unsigned i = 0; i < n; i++) /* "resume the parked message": read the cache */
			if (ctl_dns_lookup(w->dns, "mx.dpmail.test", CTL_DNS_MX, now))
				ctl_counter_add(&w->st.dns_answers_total, 1);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	rcu_register_thread();
	for (uint64_t turn = 1; !stop; turn++) {
		worker_turn(w, mono_us(), turn);
		ctl_wq_serve(w->wq, w->slot);
		rcu_quiescent_state();
		rcu_thread_offline(); /* a worker going idle: never hold up a grace period */
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		rcu_thread_online();
	}
	rcu_unregister_thread();
	return NULL;
}

/* "conns" the way a module would serve it: each worker reports its own (fake) sessions as
 * binary; the control plane formats the reply once every worker answered. */
enum { WQ_CONNS = 1 };

struct conns_reply {
	uint32_t lcore;
	uint64_t sessions;
};

static size_t conns_worker(uint16_t kind, const void *req, size_t len, void *reply, size_t cap,
			   void *ctx)
{
	const struct worker *w = ctx;
	struct conns_reply r = { w->slot + 1, w->st.sessions_total };
	memcpy(reply, &r, sizeof(r));
	return sizeof(r);
}

struct conns_ctx {
	struct ctl_server *srv;
	struct ctl_wq *wq;
	uint64_t token;
};

static void conns_done(void *arg, const void *const *replies, const size_t *lens, unsigned n,
		       bool complete)
{
	struct conns_ctx *c = arg;
	json_t *a = json_array();
	for (unsigned i = 0; i < n; i++) {
		struct conns_reply r;
		if (lens[i] != sizeof(r))
			continue;
		memcpy(&r, replies[i], sizeof(r));
		json_array_append_new(a, json_pack("{s:i,s:I}", "lcore", (int)r.lcore, "sessions",
						   (json_int_t)r.sessions));
	}
	ctl_server_reply_async(c->srv, c->token, json_pack("{s:o,s:b}", "workers", a, "complete",
							   complete), NULL);
}

static int cmd_conns(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	struct conns_ctx *c = arg;
	c->token = rq->token;
	int rc = ctl_wq_broadcast(c->wq, WQ_CONNS, NULL, 0, mono_us(), 1000000, conns_done, c);
	if (rc < 0) {
		snprintf(err, errlen, "workers busy: %s", strerror(-rc));
		return CTL_ERROR;
	}
	return CTL_ASYNC;
}

struct reload_ctx {
	struct cfg_pub *pub;
	const char *file;
};

static int test_reload(void *arg, uint64_t *version, char *err, size_t errlen)
{
	struct reload_ctx *r = arg;
	if (r->file) {
		char line[256] = "";
		FILE *f = fopen(r->file, "r");
		if (!f) {
			snprintf(err, errlen, "%s: %s", r->file, strerror(errno));
			return -1;
		}
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "bad", 3) == 0) {
			snprintf(err, errlen, "%s:1: %s", r->file, line);
			return -1;
		}
	}
	*version = cfg_publish(r->pub, cfg_snapshot_new(NULL, NULL));
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl_plane_opts po = { .version = "dpmail ctl_testd" };
	struct ctl_dns_opts dopt;
	struct ctl_acct_opts aopt;
	ctl_dns_opts_defaults(&dopt);
	ctl_acct_opts_defaults(&aopt);
	char maddr[64] = "";
	unsigned nworkers = 2;
	const char *acct_dir = NULL, *reload_file = NULL;
	int c;
	while ((c = getopt(argc, argv, "s:a:m:A:d:U:w:r:")) != -1) {
		switch (c) {
		case 's': po.admin_socket = optarg; break;
		case 'a': po.audit_log = optarg; break;
		case 'm': {
			char *colon = strrchr(optarg, ':');
			snprintf(maddr, sizeof(maddr), "%.*s", colon ? (int)(colon - optarg) : 0, optarg);
			po.metrics_addr = maddr;
			po.metrics_port = colon ? (uint16_t)atoi(colon + 1) : 0;
			break;
		}
		case 'A': acct_dir = optarg; break;
		case 'd': dopt.forwarders = optarg; break;
		case 'U': dopt.unbound_conf = optarg; break;
		case 'w': nworkers = (unsigned)atoi(optarg); break;
		case 'r': reload_file = optarg; break;
		default: fprintf(stderr, "usage: see the header of ctl_testd.c\n"); return 2;
		}
	}
	if (!po.admin_socket || nworkers == 0 || nworkers > 8)
		return 2;
	rcu_register_thread();
	struct cfg_pub pub;
	cfg_pub_init(&pub);
	cfg_publish(&pub, cfg_snapshot_new(NULL, NULL));
	int err = 0;
	struct ctl_plane *p = ctl_plane_new(&po, &pub, &err);
	if (!p)
		return 1;
	struct ctl_dns *dns = NULL;
	struct ctl_acct *acct = NULL;
	dopt.nworkers = aopt.nslots = nworkers;
	if (dopt.forwarders && !(dns = ctl_dns_new(&dopt, &err)))
		return 1;
	aopt.dir = acct_dir;
	memset(aopt.key, 0x5a, sizeof(aopt.key));
	aopt.pseudo_fields = getenv("CTL_TESTD_PSEUDO") ? CTL_ACCT_PSEUDO(CTL_ACCT_SENDER) : 0;
	if (acct_dir && !(acct = ctl_acct_new(&aopt, &err)))
		return 1;
	ctl_plane_attach_dns(p, dns);
	ctl_plane_attach_acct(p, acct);
	struct reload_ctx rctx = { &pub, reload_file };
	ctl_plane_set_reload(p, test_reload, &rctx);
	ctl_plane_install_signals(p);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct worker w[8];
	unsigned ids[8];
	memset(w, 0, sizeof(w));
	struct ctl_wq *wq = ctl_wq_new(nworkers);
	struct conns_ctx cctx = { ctl_plane_server(p), wq, 0 };
	ctl_plane_attach_wq(p, wq);
	ctl_register(ctl_plane_server(p), "conns", cmd_conns, &cctx);
	for (unsigned i = 0; i < nworkers; i++) {
		w[i] = (struct worker){ .wq = wq, .slot = i, .pub = &pub, .dns = dns, .acct = acct };
		ctl_wq_set_handler(wq, WQ_CONNS, i, conns_worker, &w[i]);
		ids[i] = i + 1;
		ctl_stats_add_block(ctl_plane_stats(p), i + 1, worker_fields,
				    sizeof(worker_fields) / sizeof(worker_fields[0]), &w[i].st);
		ctl_stats_add_hist(ctl_plane_stats(p), i + 1, "test_accept_to_250_seconds",
				   "Fake accept to 250 latency.", 1e6, &w[i].lat);
		pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
	}
	ctl_plane_set_lcores(p, ids, nworkers);
	printf("ready metrics_port=%u\n", ctl_plane_metrics_port(p));
	fflush(stdout);
	while (!stop)
		ctl_plane_poll(p, 100, 0);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(w[i].tid, NULL);
	ctl_plane_free(p);
	ctl_wq_free(wq);
	ctl_dns_free(dns);
	ctl_acct_free(acct);
	cfg_pub_fini(&pub);
	rcu_unregister_thread();
	log_info("ctl_testd stopped");
	return 0;
}
