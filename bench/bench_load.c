/* SPDX-License-Identifier: MIT */
/*
 * bench_load.c: `dpmail-bench load`: options, the message schedule and the run loop.
 *
 * Closed loop (default): every session starts its next message as soon as the previous one
 * ended. Open loop (--rate R): message k is due at t0 + k/R whether or not a session is free;
 * a due message waits for the next READY session and its latency ("msg") is measured from the
 * time it was due, so a slow server cannot hide its queueing (no coordinated omission).
 * Sessions reconnect after --messages-per-session messages; --messages-per-session 0 holds
 * greeted sessions idle until the run ends (the idle-sessions scenario). --idle-sessions N
 * does both in one process (one DPDK port serves one process): N plain sessions are greeted
 * and held first, then the load runs beside them (its clock, CPU and latencies start then),
 * and the held sessions QUIT when it is over.
 */
#include "bench_load.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t load_stop;

static void load_on_signal(int sig) { load_stop = sig; }

static const char *const hist_names[LH__MAX] = {
	[LH_CONNECT] = "connect", [LH_BANNER] = "banner", [LH_EHLO] = "ehlo",
	[LH_STARTTLS] = "starttls", [LH_MAIL] = "mail", [LH_RCPT] = "rcpt", [LH_DATA] = "data",
	[LH_EOD] = "eod", [LH_MSG] = "msg",
};

/* ---- schedule ----------------------------------------------------------------------------- */

static bool work_left(struct load *ld, uint64_t now)
{
	if (ld->stopping || load_stop)
		return false;
	if (ld->o.count && ld->issued >= ld->o.count)
		return false;
	if (ld->o.duration_s > 0 && now >= ld->end_us)
		return false;
	return true;
}

/* When message number k is due (open loop). */
static uint64_t due_us(const struct load *ld, uint64_t k)
{
	return ld->t0_us + (uint64_t)((double)k * 1e6 / ld->o.rate);
}

static void idle_push(struct load *ld, struct ld_sess *s)
{
	s->next_idle = NULL;
	s->in_idle = true;
	if (ld->idle_tail)
		ld->idle_tail->next_idle = s;
	else
		ld->idle_head = s;
	ld->idle_tail = s;
}

static struct ld_sess *idle_pop(struct load *ld)
{
	struct ld_sess *s = ld->idle_head;
	if (s) {
		ld->idle_head = s->next_idle;
		if (!ld->idle_head)
			ld->idle_tail = NULL;
		s->in_idle = false;
	}
	return s;
}

/* Whether s only holds its greeted session (--messages-per-session 0, --idle-sessions). */
static bool holds(const struct ld_sess *s)
{
	return s->held || s->ld->o.mps == 0;
}

/* Whether a session that is not connected should connect (again). */
static bool wants_session(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	return holds(s) ? !(ld->stopping || load_stop) : work_left(ld, now);
}

static void sess_done(struct ld_sess *s)
{
	s->st = LD_DONE;
	s->ld->live--;
	if (!s->held)
		s->ld->live_active--;
}

void ld_ready(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	if (holds(s)) { /* idle sessions: hold until the end */
		if (ld->stopping || load_stop)
			ld_sess_quit(s, now);
		return;
	}
	if (!work_left(ld, now)) {
		ld_sess_quit(s, now);
		return;
	}
	if (ld->o.rate > 0 && due_us(ld, ld->issued) > now) {
		idle_push(ld, s);
		return;
	}
	uint64_t k = ld->issued++;
	ld_sess_start_msg(s, k, ld->o.rate > 0 ? due_us(ld, k) : now, now);
}

void ld_sess_ended(struct ld_sess *s, uint64_t now, bool error)
{
	struct load *ld = s->ld;
	if (!wants_session(s, now)) {
		sess_done(s);
		return;
	}
	s->retry_us = now + (error ? 50000 : 0); /* reconnected from the loop, never from here */
	ld->has_wait = true;
	if (s->retry_us < ld->wake_us)
		ld->wake_us = s->retry_us;
}

/* Open loop: hands every due message to an idle session. */
static void dispatch_due(struct load *ld, uint64_t now)
{
	while (ld->o.rate > 0 && ld->idle_head && work_left(ld, now) && due_us(ld, ld->issued) <= now) {
		struct ld_sess *s = idle_pop(ld);
		uint64_t k = ld->issued++;
		ld_sess_start_msg(s, k, due_us(ld, k), now);
	}
	if (!work_left(ld, now)) {
		struct ld_sess *s;
		while ((s = idle_pop(ld)))
			ld_sess_quit(s, now);
	}
}

/* ---- options ------------------------------------------------------------------------------ */

static void load_usage(FILE *f)
{
	fprintf(f,
		"usage: dpmail-bench load --server HOST:PORT [options]\n"
		"  --sessions N (1..10000, default 16)   --messages-per-session M (default 10; 0 = idle)\n"
		"  --idle-sessions N (0..10000)  greet N plain sessions first and hold them while the\n"
		"                     load runs (--idle-wait S: start the load after at most S, 60)\n"
		"  --rcpts R (default 1)   --size BYTES (default 10k) | --size-mix 2k:10k:50k:200k\n"
		"  --starttls   --pipelining   --rate MSGS_PER_S (open loop)\n"
		"  --duration S | --count N (default sessions x messages-per-session)\n"
		"  --json FILE  --ids FILE (accepted Message-IDs)  --label NAME  --progress\n"
		"  --sut-pid PID[,PID]  (CPU of the system under test from /proc)\n"
		"  --sut-idle S  measure the SUT's idle CPU rate for S seconds first (polling\n"
		"                servers); reports CPU per message net of it as well\n"
		"  --from ADDR  --rcpt-domain DOMAIN  --ehlo NAME  --connect-rate N/s\n"
		"  --reply-timeout S (default 120)  --seed N\n"
		"  --sink-json FILE  (relay runs: the JSON of the dpmail-bench sink behind the relay;\n"
		"                     the run ends when the sink has every accepted message, and CPU\n"
		"                     and end-to-end rate cover the whole job)  --drain-timeout S\n"
		"  --backend kernel|dpdk|sock  kernel sockets + OpenSSL (default), or the conn API with\n"
		"                     crypto/tls: our TCP stack on a DPDK port (--dpdk-config FILE, a\n"
		"                     dpmaild-style YAML: eal, port, dataplane, tcp) or the sock backend\n"
		"  -- SINK OPTIONS    also run a sink (dpmail-bench sink options) in this process, on\n"
		"                     the same transport; the run ends when it has every accepted\n"
		"                     message (one DPDK port, one lcore, for load and sink)\n");
}

static int load_parse(struct ld_opts *o, int argc, char **argv)
{
	enum { O_SRV = 1, O_SESS, O_MPS, O_RCPTS, O_SIZE, O_MIX, O_TLS, O_PIPE, O_RATE, O_DUR,
	       O_COUNT, O_JSON, O_IDS, O_LABEL, O_PROG, O_SUT, O_FROM, O_RDOM, O_EHLO, O_CRATE,
	       O_RTO, O_SEED, O_SINKJ, O_DRAIN, O_IDLE, O_BACKEND, O_DPDKCFG, O_HELD, O_HELDW,
	       O_HELP };
	static const struct option opts[] = {
		{ "server", 1, 0, O_SRV },     { "sessions", 1, 0, O_SESS },
		{ "messages-per-session", 1, 0, O_MPS }, { "rcpts", 1, 0, O_RCPTS },
		{ "size", 1, 0, O_SIZE },      { "size-mix", 1, 0, O_MIX },
		{ "starttls", 0, 0, O_TLS },   { "pipelining", 0, 0, O_PIPE },
		{ "rate", 1, 0, O_RATE },      { "duration", 1, 0, O_DUR },
		{ "count", 1, 0, O_COUNT },    { "json", 1, 0, O_JSON },
		{ "ids", 1, 0, O_IDS },        { "label", 1, 0, O_LABEL },
		{ "progress", 0, 0, O_PROG },  { "sut-pid", 1, 0, O_SUT },
		{ "from", 1, 0, O_FROM },      { "rcpt-domain", 1, 0, O_RDOM },
		{ "ehlo", 1, 0, O_EHLO },      { "connect-rate", 1, 0, O_CRATE },
		{ "reply-timeout", 1, 0, O_RTO }, { "seed", 1, 0, O_SEED },
		{ "sink-json", 1, 0, O_SINKJ }, { "drain-timeout", 1, 0, O_DRAIN },
		{ "sut-idle", 1, 0, O_IDLE },   { "backend", 1, 0, O_BACKEND },
		{ "dpdk-config", 1, 0, O_DPDKCFG },
		{ "idle-sessions", 1, 0, O_HELD }, { "idle-wait", 1, 0, O_HELDW },
		{ "help", 0, 0, O_HELP },      { 0, 0, 0, 0 },
	};
	char err[128];
	uint64_t v;
	*o = (struct ld_opts){ .sessions = 16, .mps = 10, .rcpts = 1, .from = "bench@bench.test",
			       .rcpt_domain = "sink.test", .ehlo = "load.dpmail-bench.test",
			       .reply_timeout_s = 120, .label = "", .drain_timeout_s = 600,
			       .backend = "kernel", .idle_wait_s = 60 };
	bench_mix_parse_sizes(&o->sizes, "10k", err, sizeof(err));
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_SRV: o->server = optarg; break;
		case O_SESS: o->sessions = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_MPS: o->mps = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_RCPTS: o->rcpts = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_SIZE:
			if (bench_parse_size(optarg, &v) < 0 || v == 0 || v > (64u << 20)) {
				fprintf(stderr, "dpmail-bench load: bad --size %s\n", optarg);
				return -1;
			}
			o->sizes = (struct bench_mix){ .n = 1, .value = { v }, .weight = { 1 }, .total = 1 };
			break;
		case O_MIX:
			if (bench_mix_parse_sizes(&o->sizes, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "dpmail-bench load: --size-mix: %s\n", err);
				return -1;
			}
			break;
		case O_TLS: o->starttls = true; break;
		case O_PIPE: o->pipelining = true; break;
		case O_RATE: o->rate = strtod(optarg, NULL); break;
		case O_DUR: o->duration_s = strtod(optarg, NULL); break;
		case O_COUNT: o->count = strtoull(optarg, NULL, 10); break;
		case O_JSON: o->json = optarg; break;
		case O_IDS: o->ids = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case O_PROG: o->progress = true; break;
		case O_SUT:
			if (bench_cpu_parse(&o->sut, optarg) < 0) {
				fprintf(stderr, "dpmail-bench load: bad --sut-pid %s\n", optarg);
				return -1;
			}
			o->have_sut = true;
			break;
		case O_FROM: o->from = optarg; break;
		case O_RDOM: o->rcpt_domain = optarg; break;
		case O_EHLO: o->ehlo = optarg; break;
		case O_CRATE: o->connect_rate = strtod(optarg, NULL); break;
		case O_RTO: o->reply_timeout_s = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_SEED: o->seed = strtoull(optarg, NULL, 10); break;
		case O_SINKJ: o->sink_json = optarg; break;
		case O_IDLE: o->sut_idle_s = strtod(optarg, NULL); break;
		case O_DRAIN: o->drain_timeout_s = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_BACKEND: o->backend = optarg; break;
		case O_DPDKCFG: o->dpdk_cfg = optarg; break;
		case O_HELD: o->idle_sessions = (uint32_t)strtoul(optarg, NULL, 10); break;
		case O_HELDW: o->idle_wait_s = strtod(optarg, NULL); break;
		case O_HELP: load_usage(stdout); exit(0);
		default: load_usage(stderr); return -1;
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") == 0) {
		/* the sink's own argv: its parser sees argv[0] as the program name */
		o->sink_argc = argc - optind + 1;
		o->sink_argv = argv + optind - 1;
	}
	if (o->sink_argc && strcmp(o->backend, "kernel") == 0) {
		fprintf(stderr, "dpmail-bench load: a sink in this process needs --backend dpdk|sock\n");
		return -1;
	}
	if (!o->server || o->sessions < 1 || o->sessions > 10000 || o->rcpts < 1 ||
	    o->rcpts > 100 || o->rate < 0 || o->idle_sessions > 10000 || o->idle_wait_s < 0) {
		load_usage(stderr);
		return -1;
	}
	if (bench_parse_hostport(o->server, &o->addr, &o->addrlen) < 0) {
		fprintf(stderr, "dpmail-bench load: bad --server %s (want IP:PORT)\n", o->server);
		return -1;
	}
	if (o->idle_sessions && o->mps == 0) {
		fprintf(stderr, "dpmail-bench load: --idle-sessions holds sessions beside a load; "
			"--messages-per-session 0 holds them all\n");
		return -1;
	}
	if (o->mps == 0 && o->duration_s <= 0 && o->count == 0)
		o->duration_s = 10;
	if (o->mps > 0 && o->count == 0 && o->duration_s <= 0)
		o->count = (uint64_t)o->sessions * o->mps;
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* The body template: 76 printable characters + CRLF per line, never a leading dot. */
static int make_body(struct load *ld)
{
	uint64_t max = 0;
	for (unsigned i = 0; i < ld->o.sizes.n; i++)
		if (ld->o.sizes.value[i] > max)
			max = ld->o.sizes.value[i];
	ld->body_len = (size_t)(max / 78 + 1) * 78;
	ld->body = malloc(ld->body_len);
	if (!ld->body)
		return -1;
	static const char cs[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t off = 0; off < ld->body_len; off += 78) {
		for (int i = 0; i < 76; i++)
			ld->body[off + (size_t)i] = (uint8_t)cs[bench_rand(&ld->rng) & 63];
		ld->body[off + 76] = '\r';
		ld->body[off + 77] = '\n';
	}
	return 0;
}

static void update_date(struct load *ld)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ld->date_hdr, sizeof(ld->date_hdr), "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* When the k-th of a paced series (connects, the held sessions' QUITs) starting at t0 is due:
 * --connect-rate per second, or all at once without it. */
static uint64_t paced_at(const struct load *ld, uint64_t t0, uint64_t k)
{
	return ld->o.connect_rate > 0 ? t0 + (uint64_t)((double)k * 1e6 / ld->o.connect_rate) : t0;
}

/* Starts the clock at now: the held sessions connect first (paced) and the active ones after
 * the warm-up (end_warmup); without held sessions the active ones start now. */
static void load_schedule(struct load *ld, uint64_t now)
{
	ld->t0_us = now;
	ld->end_us = now + (uint64_t)(ld->o.duration_s * 1e6);
	ld->warmup = ld->o.idle_sessions > 0;
	ld->warmup_end_us = now + (uint64_t)(ld->o.idle_wait_s * 1e6);
	for (uint32_t i = ld->warmup ? ld->o.sessions : 0; i < ld->nsess; i++)
		ld->sess[i].retry_us = paced_at(ld, now, ld->warmup ? i - ld->o.sessions : i);
}

static int load_setup(struct load *ld)
{
	ld->rng = ld->o.seed ? ld->o.seed : (bench_now_us() ^ ((uint64_t)getpid() << 32)) | 1;
	snprintf(ld->runid, sizeof(ld->runid), "%08lx%04x", (unsigned long)(bench_rand(&ld->rng) >> 32),
		 (unsigned)getpid() & 0xffff);
	if (make_body(ld) < 0)
		return -1;
	update_date(ld);
	for (int i = 0; i < LH__MAX; i++)
		bench_hist_init(&ld->hist[i]);
	for (int i = 0; i <= LH_EHLO; i++)
		bench_hist_init(&ld->held_hist[i]);
	ld->nsess = ld->o.sessions + ld->o.idle_sessions;
	if (strcmp(ld->o.backend, "kernel") != 0) {
		char err[256];
		ld->cnet = bench_cnet_open(ld->o.backend, ld->o.dpdk_cfg, ld->nsess + 4096, err, sizeof(err));
		if (!ld->cnet || (ld->o.starttls && bench_cnet_tls_client(ld->cnet, err, sizeof(err)) < 0)) {
			fprintf(stderr, "dpmail-bench load: %s\n", err);
			return -1;
		}
		if (ld->o.sink_argc && !(ld->sink = bench_sink_new(ld->o.sink_argc, ld->o.sink_argv, ld->cnet)))
			return -1;
	} else if (ld->o.starttls && !(ld->tls = bench_tls_client_ctx())) {
		return -1;
	}
	if (ld->o.ids && !(ld->ids = fopen(ld->o.ids, "we"))) {
		fprintf(stderr, "dpmail-bench load: cannot write %s\n", ld->o.ids);
		return -1;
	}
	ld->epfd = epoll_create1(EPOLL_CLOEXEC);
	ld->sess = calloc(ld->nsess, sizeof(*ld->sess));
	if (ld->epfd < 0 || !ld->sess)
		return -1;
	for (uint32_t i = 0; i < ld->nsess; i++) {
		struct ld_sess *s = &ld->sess[i];
		s->ld = ld;
		s->idx = i;
		s->c.fd = -1;
		s->st = LD_WAIT;
		s->held = i >= ld->o.sessions;
	}
	ld->live = ld->nsess;
	ld->live_active = ld->o.sessions;
	load_schedule(ld, bench_now_us());
	return 0;
}

/* ---- run ---------------------------------------------------------------------------------- */

static void progress(struct load *ld, uint64_t now)
{
	double el = (double)(now - ld->t0_us) / 1e6;
	fprintf(stderr,
		"load: %5.1fs ready=%lu accepted=%lu (%.0f/s) tempfail=%lu permfail=%lu errors=%lu "
		"eod p99=%.1fms\n",
		el, (unsigned long)ld->ready_now, (unsigned long)ld->accepted,
		el > 0 ? (double)ld->accepted / el : 0.0, (unsigned long)ld->tempfail,
		(unsigned long)ld->permfail, (unsigned long)ld->errors,
		(double)bench_hist_quantile(&ld->hist[LH_EOD], 0.99) / 1000.0);
}

/* Over our own stack (--backend dpdk|sock) the first session connects alone until one has
 * connected (at most 5 s): its SYN resolves the server's MAC, and an ARP entry holds only
 * arp.hold frames (64) while it resolves, so hundreds of SYNs at once would mostly wait for
 * TCP's 1 s SYN retry. The kernel queues them itself. */
static bool first_connect_pending(const struct load *ld, uint32_t i, uint64_t now)
{
	return ld->cnet && i > 0 && ld->hist[LH_CONNECT].count + ld->held_hist[LH_CONNECT].count == 0 &&
	       now < ld->t0_us + 5000000;
}

/* Reconnects due sessions, times out stuck ones. */
static void housekeeping(struct load *ld, uint64_t now, bool scan_timeouts)
{
	uint64_t rto = (uint64_t)ld->o.reply_timeout_s * 1000000;
	for (uint32_t i = 0; i < ld->nsess; i++) {
		struct ld_sess *s = &ld->sess[i];
		if (s->st == LD_WAIT) {
			if (!wants_session(s, now)) {
				sess_done(s);
			} else if (s->retry_us <= now && !(ld->warmup && !s->held) &&
				   !first_connect_pending(ld, s->held ? i - ld->o.sessions : i, now)) {
				ld_sess_connect(s, now);
			}
		} else if (scan_timeouts && s->st != LD_DONE && s->st != LD_READY &&
			   now - s->active_us > rto) {
			ld_sess_timeout(s, now);
		}
	}
}

/*
 * One turn of the conn-API transport (sessions' events are called from inside it), the
 * in-process sink's housekeeping, and the idle back-off of a polling backend (bench_tcp_io:
 * dataplane.idle_sleep_us) when the turn found nothing to do.
 */
static void load_cnet_turn(struct load *ld, int timeout_ms)
{
	uint64_t now = bench_now_us();
	int work = bench_cnet_poll(ld->cnet, now, timeout_ms);
	if (ld->sink)
		bench_sink_tick(ld->sink, bench_now_us());
	if (work == 0)
		bench_cnet_idle(ld->cnet);
}

static uint64_t sink_unique(const char *path, uint64_t *last_us);

/* The measured window starts: the clock, the CPU baselines, the sink's count. */
static void start_measure(struct load *ld)
{
	ld->cpu_self0 = bench_self_cpu();
	if (ld->o.have_sut)
		ld->cpu_sut0 = bench_cpu_seconds(&ld->o.sut);
	if (ld->sink)
		ld->sink_base = bench_sink_unique(ld->sink, NULL);
	else if (ld->o.sink_json)
		ld->sink_base = sink_unique(ld->o.sink_json, NULL);
}

/* The held sessions are greeted (99%) or the wait ran out: the load proper starts now. */
static void end_warmup(struct load *ld, uint64_t now)
{
	ld->warmup = false;
	ld->held_at_start = ld->held_ready;
	ld->warmup_s = (double)(now - ld->t0_us) / 1e6;
	if (ld->o.progress)
		fprintf(stderr, "load: %u of %u idle sessions greeted in %.1fs; the load starts\n",
			ld->held_ready, ld->o.idle_sessions, ld->warmup_s);
	ld->t0_us = now;
	ld->end_us = now + (uint64_t)(ld->o.duration_s * 1e6);
	for (uint32_t i = 0; i < ld->o.sessions; i++)
		ld->sess[i].retry_us = paced_at(ld, now, i);
	ld->has_wait = true;
	ld->wake_us = now;
	start_measure(ld);
}

/* The run is over: no session (re)connects; the held ones still greeted are counted. */
static void begin_stop(struct load *ld)
{
	if (!ld->stopping)
		ld->held_at_end = ld->held_ready;
	ld->stopping = true;
}

/* Asks every greeted session of the load to QUIT (the run is over); held sessions QUIT
 * later, paced (quit_held_due). */
static void quit_ready(struct load *ld, uint64_t now)
{
	begin_stop(ld);
	for (uint32_t i = 0; i < ld->o.sessions; i++)
		if (ld->sess[i].st == LD_READY)
			ld_sess_quit(&ld->sess[i], now);
}

/*
 * The load is over: the held sessions QUIT, paced like their connects (--connect-rate) from
 * quit_t0: ten thousand QUITs in one turn overflow any TX ring, and the retransmissions of the
 * lost segments, all timed out together, overflow it again.
 */
static void quit_held_due(struct load *ld, uint64_t now)
{
	if (!ld->quit_t0_us)
		return;
	while (ld->quit_next < ld->nsess &&
	       paced_at(ld, ld->quit_t0_us, ld->quit_next - ld->o.sessions) <= now) {
		struct ld_sess *s = &ld->sess[ld->quit_next++];
		if (s->st == LD_READY)
			ld_sess_quit(s, now);
	}
}

/* Runs sessions until the load's own sessions are done (held ones stay connected), or with
 * held_too until every session is (held ones QUIT paced, see quit_held_due). */
static void load_run(struct load *ld, bool held_too)
{
	struct epoll_event evs[512];
	uint64_t now = bench_now_us(), next_tick = now + 1000000;
	ld->has_wait = true;
	ld->wake_us = now;
	if (held_too && ld->o.idle_sessions) {
		begin_stop(ld);  /* greeted late or dropped: QUIT or stay away */
		ld->quit_t0_us = now;
		ld->quit_next = ld->o.sessions;
	}
	while (held_too ? ld->live > 0 : ld->live_active > 0) {
		quit_held_due(ld, now);
		if (ld->warmup && (ld->held_ready >= ld->o.idle_sessions - ld->o.idle_sessions / 100 ||
				   now >= ld->warmup_end_us || load_stop))
			end_warmup(ld, now);
		if (load_stop && !ld->stopping)
			quit_ready(ld, now);
		if (ld->o.duration_s > 0 && now >= ld->end_us && !ld->stopping && !ld->warmup)
			quit_ready(ld, now);
		uint64_t until = ld->has_wait && ld->wake_us < next_tick ? ld->wake_us : next_tick;
		if (ld->warmup && ld->warmup_end_us < until)
			until = ld->warmup_end_us;
		if (ld->quit_t0_us && ld->quit_next < ld->nsess) {
			uint64_t d = paced_at(ld, ld->quit_t0_us, ld->quit_next - ld->o.sessions);
			if (d < until)
				until = d;
		}
		if (ld->o.rate > 0 && ld->idle_head) {
			uint64_t d = due_us(ld, ld->issued);
			if (d < until)
				until = d;
		}
		if (ld->o.duration_s > 0 && !ld->stopping && ld->end_us < until)
			until = ld->end_us;
		if (ld->sink && bench_sink_wake(ld->sink) < until)
			until = bench_sink_wake(ld->sink);
		int timeout = until > now ? (int)((until - now + 999) / 1000) : 0;
		if (ld->cnet) {
			load_cnet_turn(ld, timeout);
		} else {
			int n = epoll_wait(ld->epfd, evs, 512, timeout);
			now = bench_now_us();
			for (int i = 0; i < n; i++) {
				struct ld_sess *s = evs[i].data.ptr;
				if (s->st != LD_WAIT && s->st != LD_DONE)
					ld_sess_event(s, evs[i].events, now);
			}
		}
		now = bench_now_us();
		dispatch_due(ld, now);
		bool tick = now >= next_tick;
		if ((ld->has_wait && ld->wake_us <= now) || tick) {
			housekeeping(ld, now, tick);
			ld->has_wait = false;
			ld->wake_us = UINT64_MAX;
			for (uint32_t i = 0; i < ld->nsess; i++)
				if (ld->sess[i].st == LD_WAIT && !(ld->warmup && !ld->sess[i].held)) {
					ld->has_wait = true;
					if (ld->sess[i].retry_us < ld->wake_us)
						ld->wake_us = ld->sess[i].retry_us;
				}
		}
		if (tick) {
			next_tick = now + 1000000;
			update_date(ld);
			if (ld->o.progress)
				progress(ld, now);
		}
	}
	if (!ld->last_done_us)
		ld->last_done_us = now;
}

/* ---- relay drain -------------------------------------------------------------------------- */

/* The sink's unique message count, and when (its monotonic clock is ours) it accepted the
 * last one. */
static uint64_t sink_unique(const char *path, uint64_t *last_us)
{
	json_t *j = json_load_file(path, 0, NULL);
	uint64_t n = (uint64_t)json_integer_value(json_object_get(json_object_get(j, "message_ids"), "unique"));
	if (last_us)
		*last_us = (uint64_t)json_integer_value(json_object_get(j, "last_accept_mono_us"));
	json_decref(j);
	return n;
}

/*
 * Waits until the sink behind the relay has received every message the relay accepted: the
 * sink's JSON file (rewritten by the sink every --json-interval-ms) is read every 100 ms, or
 * the counters of the sink in this process directly. Over the conn API the transport keeps
 * running meanwhile (dpmaild's deliveries to the sink here, our connections closing); a
 * kernel-socket client just sleeps.
 */
static void wait_drain(struct load *ld)
{
	uint64_t want = ld->sink_base + ld->accepted;
	uint64_t end = bench_now_us() + (uint64_t)ld->o.drain_timeout_s * 1000000;
	uint64_t last_print = bench_now_us(), next_check = 0;
	while (!load_stop) {
		uint64_t now = bench_now_us(), last = 0;
		if (now >= next_check) {
			ld->sink_got = ld->sink ? bench_sink_unique(ld->sink, &last)
						: sink_unique(ld->o.sink_json, &last);
			next_check = ld->sink ? now : now + 100000;
			if (ld->sink_got >= want) {
				ld->drained_us = last > ld->t0_us && last <= now ? last : now;
				return;
			}
		}
		if (now >= end) {
			fprintf(stderr, "dpmail-bench load: sink has %lu of %lu after %us\n",
				(unsigned long)(ld->sink_got - ld->sink_base), (unsigned long)ld->accepted,
				ld->o.drain_timeout_s);
			return;
		}
		if (ld->o.progress && now - last_print > 1000000) {
			last_print = now;
			fprintf(stderr, "load: draining, sink has %lu of %lu\n",
				(unsigned long)(ld->sink_got - ld->sink_base), (unsigned long)ld->accepted);
		}
		if (ld->cnet) {
			load_cnet_turn(ld, 10);
		} else {
			struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
			nanosleep(&ts, NULL); /* a plain client process: sleeping here blocks nothing */
		}
	}
}

/* ---- results ------------------------------------------------------------------------------ */

static json_t *codes_json(const uint64_t *codes)
{
	json_t *o = json_object();
	for (unsigned c = 0; c < 600; c++)
		if (codes[c]) {
			char k[8];
			snprintf(k, sizeof(k), "%u", c);
			json_object_set_new(o, k, json_integer((json_int_t)codes[c]));
		}
	return o;
}

static json_t *load_json(struct load *ld, double window, double sut_cpu)
{
	json_t *lat = json_object();
	for (int i = 0; i < LH__MAX; i++)
		if (ld->hist[i].count)
			json_object_set_new(lat, hist_names[i], bench_hist_json(&ld->hist[i]));
	char when[32];
	bench_iso_now(when, sizeof(when));
	json_t *cfg = json_pack("{ss si si si si sb sb sf sf sI}", "server", ld->o.server, "sessions",
				(int)ld->o.sessions, "idle_sessions", (int)ld->o.idle_sessions,
				"messages_per_session", (int)ld->o.mps, "rcpts",
				(int)ld->o.rcpts, "starttls", ld->o.starttls, "pipelining",
				ld->o.pipelining, "rate", ld->o.rate, "duration_s", ld->o.duration_s,
				"count", (json_int_t)ld->o.count);
	json_t *sizes = json_array();
	for (unsigned i = 0; i < ld->o.sizes.n; i++)
		json_array_append_new(sizes, json_integer((json_int_t)ld->o.sizes.value[i]));
	json_object_set_new(cfg, "sizes", sizes);
	json_object_set_new(cfg, "backend", json_string(ld->cnet ? bench_cnet_name(ld->cnet) : "kernel"));
	json_t *j = json_pack(
		"{ss ss ss ss so sf s{sI sI sI sI sI} sf sf sI so so s{sI sI sI sI sI sI sI} so sf}",
		"tool", "dpmail-bench", "mode", "load", "label", ld->o.label, "finished", when,
		"config", cfg, "elapsed_s", window, "messages", "issued", (json_int_t)ld->issued,
		"accepted", (json_int_t)ld->accepted, "tempfail", (json_int_t)ld->tempfail,
		"permfail", (json_int_t)ld->permfail, "errors", (json_int_t)ld->errors, "msgs_per_s",
		window > 0 ? (double)ld->accepted / window : 0.0, "mb_per_s",
		window > 0 ? (double)ld->bytes_ok / window / 1e6 : 0.0, "bytes_accepted",
		(json_int_t)ld->bytes_ok, "eod_codes", codes_json(ld->eod_codes), "cmd_codes",
		codes_json(ld->cmd_codes), "sessions", "connects", (json_int_t)ld->connects,
		"connect_failures", (json_int_t)ld->connect_fail, "tls_ok", (json_int_t)ld->tls_ok,
		"tls_failures", (json_int_t)ld->tls_fail, "server_closed",
		(json_int_t)ld->server_closed, "timeouts", (json_int_t)ld->timeouts, "ready_peak",
		(json_int_t)ld->ready_peak, "latency_us", lat, "client_cpu_s",
		bench_self_cpu() - ld->cpu_self0);
	if (ld->o.rate > 0) {
		/* open loop: messages that fell due but never started (the server could not keep up) */
		double span = ld->o.duration_s > 0 ? ld->o.duration_s : window;
		double due = span * ld->o.rate;
		if (ld->o.count && due > (double)ld->o.count)
			due = (double)ld->o.count;
		json_object_set_new(json_object_get(j, "messages"), "backlog",
				    json_integer(due > (double)ld->issued ? (json_int_t)(due - (double)ld->issued) : 0));
	}
	if (ld->o.idle_sessions) {
		json_t *lat = json_object();
		for (int i = 0; i <= LH_EHLO; i++)
			if (ld->held_hist[i].count)
				json_object_set_new(lat, hist_names[i], bench_hist_json(&ld->held_hist[i]));
		json_object_set_new(j, "idle_sessions",
				    json_pack("{sI sI sI sI sf so}", "requested", (json_int_t)ld->o.idle_sessions,
					      "greeted_at_start", (json_int_t)ld->held_at_start,
					      "greeted_at_end", (json_int_t)ld->held_at_end,
					      "greeted_peak", (json_int_t)ld->held_peak,
					      "warmup_s", ld->warmup_s, "latency_us", lat));
	}
	if (ld->o.sink_json || ld->sink) {
		double e2e = ld->drained_us ? (double)(ld->drained_us - ld->t0_us) / 1e6 : 0;
		json_object_set_new(j, "relay", json_pack("{sb sI sf sf}", "drained", ld->drained_us != 0,
							  "sink_received", (json_int_t)(ld->sink_got - ld->sink_base),
							  "end_to_end_s", e2e, "msgs_per_s",
							  e2e > 0 ? (double)ld->accepted / e2e : 0.0));
	}
	if (ld->o.have_sut) {
		json_t *pids = json_array();
		for (unsigned i = 0; i < ld->o.sut.npids; i++)
			json_array_append_new(pids, json_integer(ld->o.sut.pids[i]));
		json_t *sut = json_pack("{so ss sf sf}", "pids", pids, "window",
							 ld->o.sink_json || ld->sink ? "until the sink had every message" : "load run",
							 "cpu_s", sut_cpu,
							 "cpu_s_per_1000_msgs",
							 ld->accepted ? sut_cpu * 1000.0 / (double)ld->accepted : 0.0);
		if (ld->o.sut_idle_s > 0) {
			double job_s = (double)((ld->drained_us ? ld->drained_us : ld->last_done_us) - ld->t0_us) / 1e6;
			double net = sut_cpu - ld->sut_idle_rate * job_s;
			json_object_set_new(sut, "idle_cpu_s_per_s", json_real(ld->sut_idle_rate));
			json_object_set_new(sut, "net_cpu_s_per_1000_msgs",
					    json_real(ld->accepted && net > 0 ? net * 1000.0 / (double)ld->accepted : 0.0));
		}
		json_object_set_new(j, "sut", sut);
	}
	return j;
}

static void summary(struct load *ld, json_t *j)
{
	const struct bench_hist *e = &ld->hist[LH_EOD], *m = &ld->hist[LH_MSG];
	printf("dpmail-bench load %s%s%s: %lu accepted, %lu tempfail, %lu permfail, %lu errors in %.2fs\n",
	       ld->o.server, *ld->o.label ? " " : "", ld->o.label, (unsigned long)ld->accepted,
	       (unsigned long)ld->tempfail, (unsigned long)ld->permfail, (unsigned long)ld->errors,
	       json_real_value(json_object_get(j, "elapsed_s")));
	printf("  throughput  %.1f msgs/s  %.2f MB/s  (%u sessions%s%s)\n",
	       json_real_value(json_object_get(j, "msgs_per_s")),
	       json_real_value(json_object_get(j, "mb_per_s")), ld->o.sessions,
	       ld->o.starttls ? ", STARTTLS" : "", ld->o.pipelining ? ", pipelining" : "");
	printf("  end of data -> 250  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n",
	       (double)bench_hist_quantile(e, 0.5) / 1e3, (double)bench_hist_quantile(e, 0.99) / 1e3,
	       (double)bench_hist_quantile(e, 0.999) / 1e3, (double)e->max / 1e3);
	printf("  message (from %s)  p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
	       ld->o.rate > 0 ? "intended start" : "start", (double)bench_hist_quantile(m, 0.5) / 1e3,
	       (double)bench_hist_quantile(m, 0.99) / 1e3, (double)bench_hist_quantile(m, 0.999) / 1e3);
	if (ld->o.idle_sessions)
		printf("  idle sessions  %u held: %u greeted when the load started (%.1fs), %u at its end; "
		       "banner p99 %.2f ms, EHLO p99 %.2f ms\n", ld->o.idle_sessions, ld->held_at_start,
		       ld->warmup_s, ld->held_at_end,
		       (double)bench_hist_quantile(&ld->held_hist[LH_BANNER], 0.99) / 1e3,
		       (double)bench_hist_quantile(&ld->held_hist[LH_EHLO], 0.99) / 1e3);
	json_t *backlog = json_object_get(json_object_get(j, "messages"), "backlog");
	if (backlog && json_integer_value(backlog) > 0)
		printf("  open loop: %lld messages fell due but never started (server behind)\n",
		       (long long)json_integer_value(backlog));
	json_t *relay = json_object_get(j, "relay");
	if (relay)
		printf("  relay end to end  %.1f msgs/s (%lu of %lu at the sink in %.2fs)\n",
		       json_real_value(json_object_get(relay, "msgs_per_s")),
		       (unsigned long)(ld->sink_got - ld->sink_base), (unsigned long)ld->accepted,
		       json_real_value(json_object_get(relay, "end_to_end_s")));
	json_t *sut = json_object_get(j, "sut");
	if (sut)
	{
		printf("  system under test  %.3f CPU-s, %.3f CPU-s per 1000 messages\n",
		       json_real_value(json_object_get(sut, "cpu_s")),
		       json_real_value(json_object_get(sut, "cpu_s_per_1000_msgs")));
		if (json_object_get(sut, "idle_cpu_s_per_s"))
			printf("  SUT idle %.3f CPU-s/s; net of idle %.3f CPU-s per 1000 messages\n",
			       json_real_value(json_object_get(sut, "idle_cpu_s_per_s")),
			       json_real_value(json_object_get(sut, "net_cpu_s_per_1000_msgs")));
	}
	for (unsigned c = 0; c < 600; c++)
		if (ld->eod_codes[c] && c != 250)
			printf("  end-of-data reply %u: %lu\n", c, (unsigned long)ld->eod_codes[c]);
}

/*
 * Ends the conn-API transport: sessions still connected are closed, the transport runs a
 * little longer so that our FINs and close_notify reach the peers (dpmaild then does not keep
 * half-dead sessions), the in-process sink writes its results, and everything is freed.
 */
static void load_close_cnet(struct load *ld)
{
	if (ld->sess)
		for (uint32_t i = 0; i < ld->nsess; i++)
			if (ld->sess[i].c.rbuf)
				bench_conn_free(&ld->sess[i].c);
	uint64_t end = bench_now_us() + 200000;
	while (bench_now_us() < end)
		load_cnet_turn(ld, 10);
	if (ld->sink)
		bench_sink_finish(ld->sink);
	ld->sink = NULL;
	bench_cnet_free(ld->cnet);
	ld->cnet = NULL;
}

int bench_load_main(int argc, char **argv)
{
	struct load *ld = calloc(1, sizeof(*ld));
	int rc = 2;
	if (!ld || load_parse(&ld->o, argc, argv) < 0)
		goto out;
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = load_on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (load_setup(ld) < 0)
		goto out;
	if (ld->o.have_sut && ld->o.sut_idle_s > 0) {
		double c0 = bench_cpu_seconds(&ld->o.sut);
		uint64_t t0 = bench_now_us();
		struct timespec ts = { .tv_sec = (time_t)ld->o.sut_idle_s,
				       .tv_nsec = (long)((ld->o.sut_idle_s - (double)(time_t)ld->o.sut_idle_s) * 1e9) };
		nanosleep(&ts, NULL);
		ld->sut_idle_rate = (bench_cpu_seconds(&ld->o.sut) - c0) / ((double)(bench_now_us() - t0) / 1e6);
		load_schedule(ld, bench_now_us()); /* the schedule starts after the idle sample */
	}
	if (!ld->warmup)
		start_measure(ld);
	load_run(ld, false);
	if (ld->o.sink_json || ld->sink)
		wait_drain(ld);
	double sut = ld->o.have_sut ? bench_cpu_seconds(&ld->o.sut) - ld->cpu_sut0 : 0;
	if (ld->o.idle_sessions)
		load_run(ld, true); /* measured: now the held sessions QUIT */
	double window = (double)(ld->last_done_us - ld->t0_us) / 1e6;
	json_t *j = load_json(ld, window, sut);
	summary(ld, j);
	if (ld->o.json && bench_json_save(j, ld->o.json) < 0)
		fprintf(stderr, "dpmail-bench load: cannot write %s\n", ld->o.json);
	json_decref(j);
	rc = (ld->accepted > 0 || ld->o.mps == 0) && (!(ld->o.sink_json || ld->sink) || ld->drained_us) ? 0 : 1;
out:
	if (ld) {
		if (ld->cnet)
			load_close_cnet(ld);
		if (ld->ids)
			fclose(ld->ids);
		if (ld->sess)
			for (uint32_t i = 0; i < ld->nsess; i++)
				if (ld->sess[i].c.rbuf)
					bench_conn_free(&ld->sess[i].c);
		if (ld->tls)
			SSL_CTX_free(ld->tls);
		free(ld->sess);
		free(ld->body);
		free(ld);
	}
	return rc;
}
