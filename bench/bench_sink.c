/* SPDX-License-Identifier: MIT */
/*
 * bench_sink.c: `dpmail-bench sink`, an SMTP server that behaves like a receiving provider:
 * it accepts mail (optionally over STARTTLS), counts messages and bytes, checks Message-IDs
 * for duplicates (and writes the accepted list for loss checks), and pushes back the way real
 * MX hosts do: a configurable mix of end-of-data replies (250/4xx/5xx/421), slow replies and a
 * connection limit (421 at the banner). A sink without backpressure makes numbers meaningless.
 * One epoll loop, or the conn API on our TCP stack (bench_cnet.c) when it runs inside the
 * load generator's process (`dpmail-bench load ... -- SINK OPTIONS`) or with --backend; the
 * SMTP protocol itself is bench_smtpd.c.
 */
#include "bench.h"
#include "bench_idset.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct sink;

struct sink_sess {
	struct bench_conn c;
	struct bench_smtpd s;
	struct sink *sk;
	bool in_use;
	bool handshaking;
	bool tls_pending;          /* 220 to STARTTLS still being written */
	bool parked;
	unsigned pending_code;     /* the end-of-data reply held back by --delay-ms */
	uint64_t park_until;
	void *dkimv;               /* --verify-dkim: the verifier of the message in progress */
	bool dkim_skip;            /* --verify-dkim-every: this message is not in the sample */
	struct sink_sess *next;    /* free list / park queue */
};

struct sink_opts {
	const char *listen;
	const char *backend, *dpdk_cfg;  /* standalone sink on the conn API (bench_cnet.c) */
	const char *cert, *key;
	const char *json, *ids, *dkim_keys;
	struct bench_mix mix;
	bool have_mix;
	uint32_t delay_ms;
	uint32_t max_conns;
	uint64_t expect;
	uint32_t timeout_s;
	uint32_t json_ms;
	uint32_t verify_every;     /* verify every Nth message (1: all) */
	bool progress;
};

struct sink {
	struct sink_opts o;
	int epfd, lfd;
	struct bench_cnet *cnet;   /* conn-API transport (shared with the load, or our own) */
	bool own_cnet;
	SSL_CTX *tls;
	struct sink_sess *sess;
	struct sink_sess *free;
	struct sink_sess *park_head, *park_tail;   /* FIFO: one fixed delay keeps it sorted */
	uint32_t nsess;
	uint64_t rng;
	struct bench_idset ids;
	/* counters */
	uint64_t accepted_conns, refused_conns, tls_sessions, cur_conns, peak_conns;
	uint64_t msgs, msgs_ok, bytes_ok, dups, no_msgid, dkim_signed;
	uint64_t dkim_pass, dkim_fail, dkim_none, dkim_unsampled;
	uint64_t dkim_seq;         /* messages whose content started: picks the sample */
	uint64_t by_code[600];
	uint64_t first_msg_us, last_msg_us, start_us;
	uint64_t next_tick, next_json;
	bool ids_ready, dkim_ready;
	double cpu0;
};

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig) { sink_stop = sig; }

static void sess_close(struct sink_sess *ss)
{
	struct sink *sk = ss->sk;
	if (ss->dkimv) {
		bench_dkimv_end(ss->dkimv);
		ss->dkimv = NULL;
	}
	bench_conn_free(&ss->c);
	ss->in_use = false;
	ss->next = sk->free;
	sk->free = ss;
	sk->cur_conns--;
}

/* Moves the engine's replies into the connection's send queue. */
static int drain_out(struct sink_sess *ss)
{
	int r = 0;
	if (ss->s.out_len)
		r = bench_conn_queue(&ss->c, ss->s.out, ss->s.out_len);
	ss->s.out_len = 0;
	return r;
}

static void park(struct sink_sess *ss, unsigned code)
{
	struct sink *sk = ss->sk;
	ss->parked = true;
	ss->pending_code = code;
	ss->park_until = bench_now_us() + (uint64_t)sk->o.delay_ms * 1000;
	ss->c.paused = true;
	ss->next = NULL;
	if (sk->park_tail)
		sk->park_tail->next = ss;
	else
		sk->park_head = ss;
	sk->park_tail = ss;
}

/*
 * --verify-dkim: message bytes go to this session's verifier, started at the first byte.
 * With --verify-dkim-every N only every Nth message (in the order their content starts) is
 * verified: verifying costs the sink about as much CPU as signing costs the relay, and on a
 * small machine a sink that verifies everything slows the relay under test down (fewer
 * messages per loop turn, more wake-ups per message), which is the sink's cost, not the relay's.
 */
static void sess_content(void *ctx, const uint8_t *p, size_t n)
{
	struct sink_sess *ss = ctx;
	if (ss->dkim_skip)
		return;
	if (!ss->dkimv) {
		struct sink *sk = ss->sk;
		if (sk->dkim_seq++ % sk->o.verify_every != 0) {
			ss->dkim_skip = true;
			return;
		}
		ss->dkimv = bench_dkimv_begin();
	}
	bench_dkimv_chunk(ss->dkimv, p, n);
}

/* End of one message: pick the reply from the mix, account, record the Message-ID. */
static void sess_eom(struct sink_sess *ss)
{
	struct sink *sk = ss->sk;
	if (sk->o.dkim_keys && ss->dkim_skip) {
		sk->dkim_unsampled++;
		ss->dkim_skip = false;
	} else if (sk->o.dkim_keys) {
		int v = bench_dkimv_end(ss->dkimv);
		ss->dkimv = NULL;
		sk->dkim_pass += v == 1;
		sk->dkim_fail += v == 0;
		sk->dkim_none += v < 0;
	}
	unsigned code = sk->o.have_mix ? (unsigned)bench_mix_pick(&sk->o.mix, bench_rand(&sk->rng)) : 250;
	uint64_t now = bench_now_us();
	sk->msgs++;
	sk->by_code[code]++;
	if (code / 100 == 2) {
		sk->msgs_ok++;
		sk->bytes_ok += ss->s.msg_bytes;
		if (!sk->first_msg_us)
			sk->first_msg_us = now;
		sk->last_msg_us = now;
		sk->dkim_signed += ss->s.dkim_signed;
		if (ss->s.msgid_len == 0)
			sk->no_msgid++;
		else if (bench_idset_add(&sk->ids, ss->s.msgid, ss->s.msgid_len) == 0)
			sk->dups++;
	}
	if (sk->o.delay_ms)
		park(ss, code);
	else
		bench_smtpd_eom_reply(&ss->s, code);
}

/* Runs the engine over buffered input; returns false when the session must stop reading
 * (parked, TLS starting, quitting, closed). */
static bool sess_process(struct sink_sess *ss)
{
	for (;;) {
		size_t n = bench_smtpd_input(&ss->s, ss->c.rbuf, ss->c.rlen);
		bench_conn_consume(&ss->c, n);
		bool produced = ss->s.out_len > 0;
		switch (ss->s.state) {
		case BENCH_SMTPD_EOM:
			sess_eom(ss);
			if (drain_out(ss) < 0)
				return false;
			if (ss->parked)
				return false;
			continue;
		case BENCH_SMTPD_TLS:
			ss->c.rlen = 0; /* bytes pipelined after STARTTLS are an injection: drop */
			drain_out(ss);
			ss->tls_pending = true;
			return false;
		case BENCH_SMTPD_QUIT:
			drain_out(ss);
			return false;
		default:
			if (drain_out(ss) < 0)
				return false;
			if (n == 0 && !produced)
				return true; /* needs more bytes */
		}
	}
}

/* Progress of one session after an event or an unpark; closes it when it is done. */
static void sess_run(struct sink_sess *ss, bool readable)
{
	struct sink *sk = ss->sk;
	if (ss->handshaking) {
		int r = bench_conn_handshake(&ss->c);
		if (r < 0)
			goto close;
		if (r == 0)
			goto interest;
		ss->handshaking = false;
		sk->tls_sessions++;
		bench_smtpd_tls_started(&ss->s);
		readable = true;
	}
	if (ss->c.want_write && bench_conn_flush(&ss->c) < 0)
		goto close;
	if (ss->tls_pending && !ss->c.want_write) {
		ss->tls_pending = false;
		if (bench_conn_start_tls(&ss->c, sk->tls, true) < 0)
			goto close;
		ss->handshaking = true;
		sess_run(ss, false);
		return;
	}
	while (readable && !ss->parked && !ss->tls_pending && ss->s.state != BENCH_SMTPD_QUIT) {
		if (!sess_process(ss))
			break;
		ssize_t r = bench_conn_read(&ss->c);
		if (r == -EAGAIN)
			break;
		if (r <= 0)
			goto close;
	}
	if (ss->c.want_write && bench_conn_flush(&ss->c) < 0)
		goto close;
	if (ss->tls_pending && !ss->c.want_write) {
		sess_run(ss, false);
		return;
	}
	if (ss->s.state == BENCH_SMTPD_QUIT && !ss->c.want_write)
		goto close;
interest:
	bench_conn_interest(&ss->c, sk->epfd, ss);
	return;
close:
	sess_close(ss);
}

static const char sink_busy[] = "421 4.7.0 Too many connections, try again later\r\n";

/* A free session slot, or NULL at the connection limit. */
static struct sink_sess *slot_get(struct sink *sk)
{
	struct sink_sess *ss = sk->free;
	if (!ss || sk->cur_conns >= sk->o.max_conns) {
		sk->refused_conns++;
		return NULL;
	}
	sk->free = ss->next;
	return ss;
}

static void slot_put(struct sink *sk, struct sink_sess *ss)
{
	ss->next = sk->free;
	sk->free = ss;
}

/* A connection was taken into ss->c: the session starts with the banner. */
static void sess_start(struct sink *sk, struct sink_sess *ss)
{
	ss->in_use = true;
	ss->handshaking = ss->tls_pending = ss->parked = false;
	ss->next = NULL;
	sk->accepted_conns++;
	if (++sk->cur_conns > sk->peak_conns)
		sk->peak_conns = sk->cur_conns;
	bench_smtpd_init(&ss->s, sk->tls != NULL || (sk->cnet && sk->o.cert), "sink.dpmail-bench.test");
	if (sk->o.dkim_keys) {
		ss->s.on_content = sess_content;
		ss->s.content_ctx = ss;
	}
	drain_out(ss);
	sess_run(ss, false);
}

static void sink_accept(struct sink *sk)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(sk->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct sink_sess *ss = slot_get(sk);
		if (!ss) {
			ssize_t w = send(fd, sink_busy, sizeof(sink_busy) - 1, MSG_NOSIGNAL);
			(void)w;
			close(fd);
			continue;
		}
		if (bench_conn_init(&ss->c, fd, 16384, 4096) < 0) {
			close(fd);
			slot_put(sk, ss);
			continue;
		}
		sess_start(sk, ss);
	}
}

/* conn-API transport: what an epoll event would have said (bench_cnet.c). */
static void sink_cn_event(void *owner, uint32_t events, uint64_t now)
{
	struct sink_sess *ss = owner;
	(void)now;
	if (ss->in_use)
		sess_run(ss, (events & EPOLLIN) != 0);
}

static int sink_cn_accept(void *ctx, struct conn *cn)
{
	struct sink *sk = ctx;
	struct sink_sess *ss = slot_get(sk);
	if (!ss) {
		bench_cnet_refuse(cn, sink_busy);
		return 0;
	}
	if (bench_conn_attach(&ss->c, sk->cnet, cn, 16384, 4096, sink_cn_event, ss) < 0) {
		slot_put(sk, ss);
		return 0;
	}
	sess_start(sk, ss);
	return 0;
}

static void sink_unpark(struct sink *sk, uint64_t now)
{
	struct sink_sess *ss;
	while ((ss = sk->park_head) && ss->park_until <= now) {
		sk->park_head = ss->next;
		if (!sk->park_head)
			sk->park_tail = NULL;
		ss->next = NULL;
		ss->parked = false;
		ss->c.paused = false;
		bench_smtpd_eom_reply(&ss->s, ss->pending_code);
		drain_out(ss);
		sess_run(ss, true); /* pipelined input may already be buffered */
	}
}

static json_t *sink_json(struct sink *sk)
{
	uint64_t now = bench_now_us();
	double elapsed = (double)(now - sk->start_us) / 1e6;
	double window = sk->last_msg_us > sk->first_msg_us ? (double)(sk->last_msg_us - sk->first_msg_us) / 1e6 : 0;
	json_t *codes = json_object();
	for (unsigned c = 0; c < 600; c++)
		if (sk->by_code[c]) {
			char k[8];
			snprintf(k, sizeof(k), "%u", c);
			json_object_set_new(codes, k, json_integer((json_int_t)sk->by_code[c]));
		}
	char started[32];
	bench_iso_now(started, sizeof(started));
	return json_pack(
		"{ss ss ss sf sI s{sI sI sI sI sI} s{sI sI sI so} sI s{sI sI sI} sf sf sf sf}", "tool",
		"dpmail-bench", "mode", "sink", "written", started, "elapsed_s", elapsed,
		"last_accept_mono_us", (json_int_t)sk->last_msg_us, "connections",
		"accepted", (json_int_t)sk->accepted_conns, "refused_limit",
		(json_int_t)sk->refused_conns, "tls", (json_int_t)sk->tls_sessions, "current",
		(json_int_t)sk->cur_conns, "peak", (json_int_t)sk->peak_conns, "messages", "received",
		(json_int_t)sk->msgs, "accepted", (json_int_t)sk->msgs_ok, "dkim_signed",
		(json_int_t)sk->dkim_signed, "by_code", codes,
		"bytes_accepted", (json_int_t)sk->bytes_ok, "message_ids", "unique",
		(json_int_t)sk->ids.count, "duplicates", (json_int_t)sk->dups, "missing",
		(json_int_t)sk->no_msgid, "window_s", window, "msgs_per_s",
		window > 0 ? (double)(sk->msgs_ok - 1) / window : 0.0, "mb_per_s",
		window > 0 ? (double)sk->bytes_ok / window / 1e6 : 0.0, "cpu_s",
		bench_self_cpu() - sk->cpu0);
}

static void sink_write_json(struct sink *sk)
{
	if (!sk->o.json)
		return;
	json_t *j = sink_json(sk);
	if (sk->o.dkim_keys)
		json_object_set_new(j, "dkim_verify",
				    json_pack("{sI sI sI sI sI}", "pass", (json_int_t)sk->dkim_pass, "fail",
					      (json_int_t)sk->dkim_fail, "none", (json_int_t)sk->dkim_none,
					      "unsampled", (json_int_t)sk->dkim_unsampled, "every",
					      (json_int_t)sk->o.verify_every));
	if (bench_json_save(j, sk->o.json) < 0)
		fprintf(stderr, "dpmail-bench sink: cannot write %s\n", sk->o.json);
	json_decref(j);
}

static void sink_usage(FILE *f)
{
	fprintf(f,
		"usage: dpmail-bench sink --listen HOST:PORT [options]\n"
		"  --starttls --cert F --key F   offer STARTTLS with this certificate\n"
		"  --mix 250:95,451:3,550:1,421:1  end-of-data replies by weight (default all 250)\n"
		"  --delay-ms D                  hold each end-of-data reply D ms (slow provider)\n"
		"  --max-conns C                 more concurrent connections get 421 (default 20000)\n"
		"  --json FILE                   statistics, rewritten every second and at exit\n"
		"  --json-interval-ms MS         rewrite it this often instead (relay drain checks)\n"
		"  --ids FILE                    accepted Message-IDs, one a line, written at exit\n"
		"  --expect N                    exit once N unique messages were accepted\n"
		"  --timeout S                   exit after S seconds (status 3 if --expect unmet)\n"
		"  --progress                    a status line on stderr every second\n"
		"  --verify-dkim KEYS            verify DKIM signatures; KEYS has lines\n"
		"                                'SELECTOR._domainkey.DOMAIN TXT-VALUE' (no DNS)\n"
		"  --verify-dkim-every N         verify only every Nth message (default 1: all)\n"
		"  --backend kernel|dpdk|sock    kernel sockets + OpenSSL (default), or the conn API:\n"
		"                                our TCP stack on a DPDK port, or the sock backend\n"
		"  --dpdk-config FILE            dpmaild-style YAML: eal, port, dataplane, tcp\n"
		"Inside `dpmail-bench load ... -- SINK OPTIONS` the sink shares the load's transport.\n");
}

static int sink_parse(struct sink_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", 1, 0, 'l' }, { "starttls", 0, 0, 's' }, { "cert", 1, 0, 'c' },
		{ "key", 1, 0, 'k' },    { "mix", 1, 0, 'm' },      { "delay-ms", 1, 0, 'd' },
		{ "max-conns", 1, 0, 'C' }, { "json", 1, 0, 'j' },  { "ids", 1, 0, 'i' },
		{ "expect", 1, 0, 'e' }, { "timeout", 1, 0, 't' },  { "progress", 0, 0, 'p' },
		{ "json-interval-ms", 1, 0, 'J' }, { "verify-dkim", 1, 0, 'V' },
		{ "verify-dkim-every", 1, 0, 'E' },
		{ "backend", 1, 0, 'b' }, { "dpdk-config", 1, 0, 'D' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	bool starttls = false;
	char err[128];
	o->max_conns = 20000;
	o->verify_every = 1;
	o->json_ms = 1000;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': o->listen = optarg; break;
		case 's': starttls = true; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'm':
			if (bench_mix_parse_codes(&o->mix, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "dpmail-bench sink: --mix: %s\n", err);
				return -1;
			}
			o->have_mix = true;
			break;
		case 'd': o->delay_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'C': o->max_conns = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'j': o->json = optarg; break;
		case 'i': o->ids = optarg; break;
		case 'e': o->expect = strtoull(optarg, NULL, 10); break;
		case 't': o->timeout_s = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'p': o->progress = true; break;
		case 'V': o->dkim_keys = optarg; break;
		case 'E': o->verify_every = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'J': o->json_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': o->backend = optarg; break;
		case 'D': o->dpdk_cfg = optarg; break;
		case 'h': sink_usage(stdout); exit(0);
		default: sink_usage(stderr); return -1;
		}
	}
	if (!o->listen || (starttls && (!o->cert || !o->key)) || o->max_conns == 0 ||
	    o->max_conns > 100000 || o->verify_every == 0) {
		sink_usage(stderr);
		return -1;
	}
	if (!starttls)
		o->cert = o->key = NULL;
	return 0;
}

static int sink_listen(struct sink *sk)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (bench_parse_hostport(sk->o.listen, &ss, &sl) < 0) {
		fprintf(stderr, "dpmail-bench sink: bad --listen %s (want IP:PORT)\n", sk->o.listen);
		return -1;
	}
	if (sk->cnet) { /* every local address of the transport (it has one) */
		int e = bench_cnet_listen(sk->cnet, ntohs(((struct sockaddr_in *)&ss)->sin_port),
					  sink_cn_accept, sk);
		if (e < 0)
			fprintf(stderr, "dpmail-bench sink: cannot listen on %s (%s): %s\n", sk->o.listen,
				bench_cnet_name(sk->cnet), strerror(-e));
		return e < 0 ? -1 : 0;
	}
	sk->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(sk->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sk->lfd < 0 || bind(sk->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(sk->lfd, 4096) < 0) {
		fprintf(stderr, "dpmail-bench sink: cannot listen on %s: %s\n", sk->o.listen,
			strerror(errno));
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	return epoll_ctl(sk->epfd, EPOLL_CTL_ADD, sk->lfd, &ev);
}

uint64_t bench_sink_unique(const struct sink *sk, uint64_t *last_us)
{
	if (last_us)
		*last_us = sk->last_msg_us;
	return sk->ids.count;
}

/* Housekeeping of one loop turn: unparking, the JSON file and the progress line when due. */
void bench_sink_tick(struct sink *sk, uint64_t now)
{
	sink_unpark(sk, now);
	if (now >= sk->next_json) {
		sk->next_json = now + (uint64_t)(sk->o.json_ms ? sk->o.json_ms : 1000) * 1000;
		sink_write_json(sk);
	}
	if (now >= sk->next_tick) {
		sk->next_tick = now + 1000000;
		if (sk->o.progress)
			fprintf(stderr, "sink: %.0fs conns=%lu accepted=%lu unique=%lu dups=%lu\n",
				(double)(now - sk->start_us) / 1e6, (unsigned long)sk->cur_conns,
				(unsigned long)sk->msgs_ok, (unsigned long)sk->ids.count,
				(unsigned long)sk->dups);
	}
}

uint64_t bench_sink_wake(const struct sink *sk)
{
	uint64_t wake = sk->next_tick < sk->next_json ? sk->next_tick : sk->next_json;
	if (sk->park_head && sk->park_head->park_until < wake)
		wake = sk->park_head->park_until;
	return wake;
}

/* 0 to go on; else the exit status (--expect met: 0 + stop, --timeout: 3 or 0). */
static int sink_done(const struct sink *sk, uint64_t now, bool *stop)
{
	uint64_t deadline = sk->o.timeout_s ? sk->start_us + (uint64_t)sk->o.timeout_s * 1000000 : 0;
	*stop = true;
	if (sk->o.expect && sk->ids.count >= sk->o.expect)
		return 0;
	if (deadline && now >= deadline)
		return sk->o.expect ? 3 : 0;
	*stop = sink_stop != 0;
	return 0;
}

/* The loop of a standalone sink: events, then the sink's housekeeping. */
static int sink_loop(struct sink *sk)
{
	struct epoll_event evs[256];
	for (;;) {
		uint64_t now = bench_now_us();
		uint64_t wake = bench_sink_wake(sk);
		int timeout = wake > now ? (int)((wake - now + 999) / 1000) : 0;
		if (sk->cnet) {
			if (bench_cnet_poll(sk->cnet, now, timeout) == 0)
				bench_cnet_idle(sk->cnet);
		} else {
			int n = epoll_wait(sk->epfd, evs, 256, timeout);
			for (int i = 0; i < n; i++) {
				if (!evs[i].data.ptr) {
					sink_accept(sk);
					continue;
				}
				struct sink_sess *ss = evs[i].data.ptr;
				if (ss->in_use)
					sess_run(ss, (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0);
			}
		}
		now = bench_now_us();
		bench_sink_tick(sk, now);
		bool stop;
		int rc = sink_done(sk, now, &stop);
		if (stop)
			return rc;
	}
}

/* Frees the sink (its sessions' connections are closed). */
static void sink_free(struct sink *sk)
{
	if (!sk)
		return;
	if (sk->sess)
		for (uint32_t i = 0; i < sk->nsess; i++)
			if (sk->sess[i].in_use)
				bench_conn_free(&sk->sess[i].c);
	if (sk->ids_ready)
		bench_idset_free(&sk->ids);
	if (sk->dkim_ready)
		bench_dkimv_fini();
	if (sk->epfd >= 0)
		close(sk->epfd);
	if (sk->lfd >= 0)
		close(sk->lfd);
	if (sk->tls)
		SSL_CTX_free(sk->tls);
	if (sk->own_cnet)
		bench_cnet_free(sk->cnet);
	free(sk->sess);
	free(sk);
}

/* TLS and the listener, on the kernel or on the conn-API transport. 0 or -1 (printed). */
static int sink_setup_io(struct sink *sk)
{
	char err[256];
	if (!sk->cnet && sk->o.backend && strcmp(sk->o.backend, "kernel") != 0) {
		if (!(sk->cnet = bench_cnet_open(sk->o.backend, sk->o.dpdk_cfg, sk->o.max_conns, err,
						 sizeof(err)))) {
			fprintf(stderr, "dpmail-bench sink: %s\n", err);
			return -1;
		}
		sk->own_cnet = true;
	}
	if (sk->o.cert && sk->cnet) {
		if (bench_cnet_tls_server(sk->cnet, sk->o.cert, sk->o.key, err, sizeof(err)) < 0) {
			fprintf(stderr, "dpmail-bench sink: %s\n", err);
			return -1;
		}
	} else if (sk->o.cert && !(sk->tls = bench_tls_server_ctx(sk->o.cert, sk->o.key))) {
		return -1;
	}
	if (!sk->cnet && (sk->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	return sink_listen(sk);
}

struct sink *bench_sink_new(int argc, char **argv, struct bench_cnet *cnet)
{
	struct sink *sk = calloc(1, sizeof(*sk));
	if (!sk)
		return NULL;
	sk->epfd = sk->lfd = -1;
	sk->cnet = cnet;
	if (sink_parse(&sk->o, argc, argv) < 0)
		goto err;
	sk->nsess = sk->o.max_conns;
	sk->sess = calloc(sk->nsess, sizeof(*sk->sess));
	if (!sk->sess)
		goto err;
	for (uint32_t i = sk->nsess; i-- > 0;) {
		sk->sess[i].sk = sk;
		sk->sess[i].c.fd = -1;
		slot_put(sk, &sk->sess[i]);
	}
	if (sk->o.dkim_keys) {
		if (bench_dkimv_init(sk->o.dkim_keys) < 0) {
			fprintf(stderr, "dpmail-bench sink: cannot set up DKIM verification with %s\n",
				sk->o.dkim_keys);
			goto err;
		}
		sk->dkim_ready = true;
	}
	bench_idset_init(&sk->ids);
	sk->ids_ready = true;
	if (sink_setup_io(sk) < 0)
		goto err;
	sk->rng = bench_now_us() | 1;
	sk->start_us = bench_now_us();
	sk->next_json = sk->start_us;
	sk->next_tick = sk->start_us + 1000000;
	sk->cpu0 = bench_self_cpu();
	printf("sink listening on %s%s%s\n", sk->o.listen, sk->cnet ? " over " : "",
	       sk->cnet ? bench_cnet_name(sk->cnet) : "");
	fflush(stdout);
	return sk;
err:
	sink_free(sk);
	return NULL;
}

void bench_sink_finish(struct sink *sk)
{
	sink_write_json(sk);
	if (sk->o.ids) {
		FILE *f = fopen(sk->o.ids, "we");
		if (!f || bench_idset_write(&sk->ids, f) < 0)
			fprintf(stderr, "dpmail-bench sink: cannot write %s\n", sk->o.ids);
		if (f)
			fclose(f);
	}
	json_t *j = sink_json(sk);
	fprintf(stderr, "sink: accepted=%lu unique=%lu duplicates=%lu missing_id=%lu msgs/s=%.1f MB/s=%.2f\n",
		(unsigned long)sk->msgs_ok, (unsigned long)sk->ids.count, (unsigned long)sk->dups,
		(unsigned long)sk->no_msgid, json_real_value(json_object_get(j, "msgs_per_s")),
		json_real_value(json_object_get(j, "mb_per_s")));
	json_decref(j);
	sink_free(sk);
}

int bench_sink_main(int argc, char **argv)
{
	struct sink *sk = bench_sink_new(argc, argv, NULL);
	if (!sk)
		return 2;
	struct sigaction sa = { .sa_handler = sink_on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = sink_loop(sk);
	bench_sink_finish(sk);
	return rc;
}
