/* SPDX-License-Identifier: MIT */
/*
 * cluster_nodes.c: three in-process cluster nodes (control/cluster) against a real
 * redis-server that this tool starts on 127.0.0.1:<port> (and stops, by PID). The tool plays
 * the workers: it marks demand in each node's published table as delivery's lcores do, and
 * sends through a token bucket per node at the node's granted rate (dlv_shape's bucket, as the
 * lcores do), counting messages per second. Checks: the cluster-wide rate limit holds within
 * 10% and the connection limit exactly; a suspension made on one node reaches the others
 * within a second; a node that dies returns its share after its lease term; an idle node
 * returns its lease; without Redis every node keeps sending within its fallback budget, and
 * everything recovers (leases, suspensions made meanwhile) when Redis returns; an automatic
 * backoff cut made by one node's lcore reaches every node within a second, the cluster-wide
 * rate follows it, and it is restored once, on one curve for the whole cluster.
 * Usage: cluster_nodes PORT      prints PASS:/FAIL: lines, exits 1 on any failure.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/clu.h"
#include "deliver/dlv_shape.h"

extern char **environ;

#define N 3
#define DEST "big.example"
#define RATE 300          /* cluster-wide messages/s */
#define CONNS 9

static int fails;
static pid_t redis_pid;
static char port_s[16];

static void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
	char det[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(det, sizeof(det), fmt, ap);
	va_end(ap);
	printf("%s: %s (%s)\n", ok ? "PASS" : "FAIL", name, det);
	fflush(stdout);
	fails += !ok;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void redis_start(void)
{
	char *argv[] = { "redis-server", "--port", port_s, "--bind", "127.0.0.1", "--save", "",
			 "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&redis_pid, "redis-server", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		printf("FAIL: cannot start redis-server\n");
		exit(1);
	}
}

static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = 0;
	}
}

struct sim {
	struct clu_node *node[N];
	bool alive[N], want[N];
	struct dlv_bucket b[N];
	uint64_t sent[N];
	uint64_t next_step;
};

/* Keys added at run time (clu_node_ask) that the simulated lcores have queued work for. */
#define STAR "star.example"
#define UNL "unlimited.example"
#define STAR_RATE 60
static bool extra_demand;

static void mark_extra(struct sim *s, int i, uint64_t now)
{
	static const char *const keys[] = { STAR, UNL };
	for (unsigned k = 0; extra_demand && k < 2; k++) {
		struct clu_entry *e = clu_table_find(clu_node_table(s->node[i]), keys[k]);
		if (e)
			__atomic_store_n(&e->demand_us, now, __ATOMIC_RELAXED);
	}
}

/* One 5 ms tick: step every live node each renew interval, mark demand, send what the
 * granted rate allows (an always-full queue). */
static void tick(struct sim *s, uint64_t now)
{
	bool step = now >= s->next_step;
	if (step)
		s->next_step = now + 100000;
	for (int i = 0; i < N; i++) {
		if (!s->alive[i])
			continue;
		if (step)
			clu_node_step(s->node[i], now, wall_ms());
		mark_extra(s, i, now);
		struct clu_entry *e = clu_table_find(clu_node_table(s->node[i]), DEST);
		if (!e)
			continue;
		if (s->want[i])
			__atomic_store_n(&e->demand_us, now, __ATOMIC_RELAXED);
		if (clu_entry_suspended(e, wall_ms()) || e->g.rate_mps == 0 || !s->want[i])
			continue;
		/* as the lcores do: the cluster's backoff factor scales the share */
		uint64_t f = e->bo_factor ? e->bo_factor : 1000, r = e->g.rate_mps * f / 1000;
		if (s->b[i].rate_mps != r)
			dlv_bucket_set_rate(&s->b[i], r, now);
		while (dlv_bucket_take(&s->b[i], now))
			s->sent[i]++;
	}
}

static void run_for(struct sim *s, uint64_t us)
{
	uint64_t end = mono_us() + us;
	while (mono_us() < end) {
		tick(s, mono_us());
		usleep(5000);
	}
}

/* Runs until cond holds (returns the elapsed microseconds) or timeout (returns UINT64_MAX). */
static uint64_t run_until(struct sim *s, uint64_t timeout_us, bool (*cond)(struct sim *s))
{
	uint64_t start = mono_us();
	while (mono_us() < start + timeout_us) {
		tick(s, mono_us());
		if (cond(s))
			return mono_us() - start;
		usleep(5000);
	}
	return UINT64_MAX;
}

static struct clu_entry *ent(struct sim *s, int i)
{
	return clu_table_find(clu_node_table(s->node[i]), DEST);
}

static bool all_suspended(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (s->alive[i] && (!ent(s, i) || !clu_entry_suspended(ent(s, i), wall_ms())))
			return false;
	return true;
}

static bool none_suspended(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (s->alive[i] && ent(s, i) && clu_entry_suspended(ent(s, i), wall_ms()))
			return false;
	return true;
}

static bool two_share(struct sim *s)
{
	return ent(s, 0)->g.rate_mps == RATE * 500 && ent(s, 1)->g.rate_mps == RATE * 500;
}

static bool a_alone(struct sim *s)
{
	return ent(s, 0)->g.rate_mps == RATE * 1000 && ent(s, 0)->g.conns == CONNS;
}

static bool all_fallback(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (s->alive[i] && ent(s, i)->mode != CLU_M_FALLBACK)
			return false;
	return true;
}

static bool all_leased(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (s->alive[i] && (ent(s, i)->mode != CLU_M_LEASED || !clu_node_redis_up(s->node[i])))
			return false;
	return true;
}

static uint32_t want_factor;

static bool all_factor(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (s->alive[i] && (!ent(s, i) || ent(s, i)->bo_factor != want_factor))
			return false;
	return true;
}

static struct clu_entry *ent_k(struct sim *s, int i, const char *key)
{
	return clu_table_find(clu_node_table(s->node[i]), key);
}

static bool star_leased(struct sim *s)
{
	for (int i = 0; i < N; i++) {
		struct clu_entry *e = ent_k(s, i, STAR);
		if (!e || e->mode != CLU_M_LEASED || e->g.rate_mps != STAR_RATE * 1000 / N)
			return false;
	}
	return true;
}

static bool unl_cut(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (!ent_k(s, i, UNL) || ent_k(s, i, UNL)->bo_factor != 300)
			return false;
	return true;
}

static bool extra_gone(struct sim *s)
{
	for (int i = 0; i < N; i++)
		if (ent_k(s, i, STAR))
			return false;
	return true;
}

/* Keys the lcores add at run time: a destination under the `*` rule gets the `*` limits as its
 * own cluster-wide budget, dropped once idle for dyn_idle_ms; a cut of a destination no node
 * manages is shared too. */
static void dynamic_keys(struct sim *s)
{
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad |= clu_node_ask(s->node[i], 0, STAR);
	check("lcores ask for keys", bad == 0, "rc %d", bad);
	extra_demand = true;
	uint64_t t = run_until(s, 3000000, star_leased);
	check("a `*` destination becomes a cluster key with the `*` limits", t < 1000000,
	      "%" PRIu64 " ms, shares of %d msg/s: %" PRIu64 "/%" PRIu64 "/%" PRIu64 " mmsg/s",
	      t / 1000, STAR_RATE, ent_k(s, 0, STAR) ? ent_k(s, 0, STAR)->g.rate_mps : 0,
	      ent_k(s, 1, STAR) ? ent_k(s, 1, STAR)->g.rate_mps : 0,
	      ent_k(s, 2, STAR) ? ent_k(s, 2, STAR)->g.rate_mps : 0);
	/* a destination no node manages (no limit): node b's cut reaches every node's table */
	bad = clu_node_report_cut(s->node[1], 3, UNL, 300);
	t = run_until(s, 3000000, unl_cut);
	check("an unmanaged destination's cut is shared", bad == 0 && t < 1000000, "%" PRIu64 " ms",
	      t / 1000);
	extra_demand = false;
	t = run_until(s, 5000000, extra_gone);
	check("idle run-time keys are dropped", t != UINT64_MAX, "%" PRIu64 " ms", t / 1000);
}

static uint64_t total(struct sim *s)
{
	uint64_t t = 0;
	for (int i = 0; i < N; i++)
		t += s->sent[i];
	return t;
}

static void measure_rate(struct sim *s, const char *name, uint64_t limit_per_s)
{
	run_for(s, 600000);                      /* converge */
	uint64_t t0 = total(s), start = mono_us();
	uint64_t max_rate = 0, max_conns = 0;
	while (mono_us() < start + 2000000) {
		tick(s, mono_us());
		uint64_t r = 0, c = 0;
		for (int i = 0; i < N; i++)
			if (s->alive[i] && ent(s, i) && s->want[i]) {
				r += ent(s, i)->g.rate_mps;
				c += ent(s, i)->g.conns;
			}
		max_rate = r > max_rate ? r : max_rate;
		max_conns = c > max_conns ? c : max_conns;
		usleep(5000);
	}
	double secs = (double)(mono_us() - start) / 1e6;
	double rate = (double)(total(s) - t0) / secs;
	check(name, rate <= limit_per_s * 1.1 && rate >= limit_per_s * 0.9,
	      "%.1f msg/s cluster-wide, limit %" PRIu64 "/s", rate, limit_per_s);
	if (limit_per_s == RATE)
		check("grants never exceed the limits", max_rate <= RATE * 1000 && max_conns <= CONNS,
		      "max sum rate %" PRIu64 " mmsg/s, max sum conns %" PRIu64, max_rate, max_conns);
}

/* Node a's lcore 0 cuts the destination to 50% (as dlv_cluster.c reports a cut): every node
 * applies it within a second; the cluster-wide rate halves; one step (BO_STEP_MS later)
 * restores everything at once on every node. */
#define BO_STEP_MS 3500
static void backoff_shared(struct sim *s)
{
	check("an lcore reports a cut", clu_node_report_cut(s->node[0], 0, DEST, 500) == 0, "ring");
	uint64_t t0 = mono_us();
	want_factor = 500;
	uint64_t t = run_until(s, 3000000, all_factor);
	check("a backoff cut on one node reaches all within 1 s", t < 1000000, "%" PRIu64 " ms",
	      t / 1000);
	measure_rate(s, "backoff: cluster-wide rate follows the cut within 10%", RATE / 2);
	want_factor = 1000;
	t = run_until(s, 4000000, all_factor);
	uint64_t back = t == UINT64_MAX ? t : mono_us() - t0;
	check("the cluster-wide rate is restored once, on every node together",
	      back != UINT64_MAX && back >= (BO_STEP_MS - 200) * 1000ull &&
	      back < (BO_STEP_MS + 800) * 1000ull, "full again after %" PRIu64 " ms (step %d ms)",
	      back / 1000, BO_STEP_MS);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cluster_nodes PORT\n");
		return 2;
	}
	snprintf(port_s, sizeof(port_s), "%s", argv[1]);
	rcu_register_thread();
	redis_start();
	struct sim s = { 0 };
	struct clu_limit lim = { DEST, RATE, CONNS };
	for (int i = 0; i < N; i++) {
		struct clu_params p;
		clu_params_defaults(&p);
		snprintf(p.node, sizeof(p.node), "node-%c", 'a' + i);
		p.redis_port = (uint16_t)atoi(port_s);
		snprintf(p.prefix, sizeof(p.prefix), "clt%d", (int)getpid());
		p.lease_ms = 1000;
		p.renew_ms = 100;
		p.idle_return_ms = 500;
		p.fallback_pct = 20;
		p.bo_step_factor = 500;         /* 50% -> 100% in one step */
		p.bo_step_ms = BO_STEP_MS;
		p.star_rate = STAR_RATE;
		p.star_conns = 3;
		p.dyn_idle_ms = 1000;
		int err;
		s.node[i] = clu_node_new(&p, &lim, 1, &err);
		s.alive[i] = s.want[i] = true;
		/* a burst of 20 absorbs this tool's coarse ticks on a loaded machine */
		dlv_bucket_init(&s.b[i], RATE * 1000 / N, 20, mono_us());
	}
	/* Redis may take a moment to listen: the nodes retry every second. */
	uint64_t t = run_until(&s, 5000000, all_leased);
	check("three nodes lease", t != UINT64_MAX, "after %" PRIu64 " ms", t / 1000);
	measure_rate(&s, "three nodes: cluster-wide rate within 10%", RATE);
	printf("INFO: shares %" PRIu64 "/%" PRIu64 "/%" PRIu64 " mmsg/s, conns %u/%u/%u\n",
	       ent(&s, 0)->g.rate_mps, ent(&s, 1)->g.rate_mps, ent(&s, 2)->g.rate_mps,
	       ent(&s, 0)->g.conns, ent(&s, 1)->g.conns, ent(&s, 2)->g.conns);

	backoff_shared(&s);
	dynamic_keys(&s);

	clu_node_suspend(s.node[1], DEST, UINT64_MAX);
	uint64_t sent_before = total(&s);
	t = run_until(&s, 3000000, all_suspended);
	check("suspension on one node reaches all within 1 s", t < 1000000, "%" PRIu64 " ms", t / 1000);
	uint64_t at_susp = total(&s);
	run_for(&s, 300000);
	check("nothing sent while suspended", total(&s) == at_susp, "%" PRIu64 " sent after",
	      total(&s) - at_susp);
	(void)sent_before;
	clu_node_resume(s.node[2], DEST);
	t = run_until(&s, 3000000, none_suspended);
	check("resume on another node reaches all within 1 s", t < 1000000, "%" PRIu64 " ms", t / 1000);

	s.alive[2] = false;                     /* node c dies: no return, no renewal */
	t = run_until(&s, 4000000, two_share);
	check("a dead node's share returns after its lease term", t < 1600000, "%" PRIu64 " ms", t / 1000);
	measure_rate(&s, "two nodes: cluster-wide rate within 10%", RATE);

	s.want[1] = false;                      /* node b idles: its lease goes back */
	t = run_until(&s, 3000000, a_alone);
	check("an idle node returns its lease", t < 1500000, "%" PRIu64 " ms", t / 1000);
	s.want[1] = true;
	run_for(&s, 500000);

	redis_stop();
	t = run_until(&s, 4000000, all_fallback);
	check("Redis down: nodes fall back after the lease term", t != UINT64_MAX, "%" PRIu64 " ms", t / 1000);
	measure_rate(&s, "Redis down: delivery goes on within the fallback budget", 2 * RATE * 20 / 100);
	clu_node_suspend(s.node[0], DEST, wall_ms() + 60000);   /* made while Redis is away */
	redis_start();
	t = run_until(&s, 5000000, all_leased);
	check("Redis back: leases again", t != UINT64_MAX, "%" PRIu64 " ms", t / 1000);
	t = run_until(&s, 3000000, all_suspended);
	check("a suspension made without Redis reaches the others when it returns", t != UINT64_MAX,
	      "%" PRIu64 " ms", t / 1000);
	clu_node_resume(s.node[0], DEST);
	run_until(&s, 3000000, none_suspended);
	measure_rate(&s, "after recovery: cluster-wide rate within 10%", RATE);

	for (int i = 0; i < N; i++)
		clu_node_free(s.node[i]);
	redis_stop();
	rcu_unregister_thread();
	return fails ? 1 : 0;
}
