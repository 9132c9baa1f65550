/* SPDX-License-Identifier: MIT */
/*
 * bench_load.h: private to the load generator (bench_load.c: options, schedule, run loop,
 * results; bench_load_sess.c: one SMTP client session as a state machine).
 */
#ifndef DPMAIL_BENCH_LOAD_H
#define DPMAIL_BENCH_LOAD_H

#include "bench.h"

enum ld_state {
	LD_WAIT = 0,     /* no connection; (re)connects at retry_us */
	LD_CONNECTING,
	LD_BANNER,
	LD_EHLO,
	LD_STARTTLS,
	LD_HANDSHAKE,
	LD_READY,        /* greeted, no message in flight */
	LD_TXN,          /* MAIL / RCPT / DATA replies outstanding (step says which) */
	LD_BODY,         /* content sent, waiting for the end-of-data reply */
	LD_RSET,
	LD_QUIT,
	LD_DONE,         /* finished for good */
	LD__MAX
};

/* Latency histograms, one per protocol step (microseconds). */
enum ld_hist {
	LH_CONNECT = 0, LH_BANNER, LH_EHLO, LH_STARTTLS, LH_MAIL, LH_RCPT, LH_DATA, LH_EOD, LH_MSG,
	LH__MAX
};

struct ld_sess {
	struct bench_conn c;
	struct load *ld;
	enum ld_state st;
	uint32_t idx;
	bool tls_on;
	bool pipelining;       /* server advertised PIPELINING and --pipelining asked for it */
	bool msg_active;
	bool msg_failed;
	unsigned fail_code;
	unsigned step;         /* LD_TXN: replies taken so far (0 = MAIL, 1..R = RCPT, R+1 = DATA) */
	unsigned rcpt_ok;
	uint32_t conn_msgs;    /* messages on this connection */
	uint32_t size;         /* content bytes of the current message */
	uint64_t seq;          /* message number within the run */
	uint64_t intended_us;  /* when the message should have started (open loop: schedule) */
	uint64_t sent_us;      /* when the command now awaiting its reply was sent */
	uint64_t eod_us;       /* when the last content byte left */
	uint64_t phase_us;     /* start of the current session phase (connect, banner...) */
	uint64_t retry_us;
	uint64_t active_us;    /* last progress, for the reply timeout */
	char msgid[128];
	char head[1024];       /* message header block, queued before the body extent */
	struct ld_sess *next_idle;
	bool in_idle;
	bool held;             /* an idle session: greeted, then held until the load ends */
};

struct ld_opts {
	const char *server;
	const char *json, *ids, *label, *from, *rcpt_domain, *ehlo;
	const char *sink_json;  /* relay runs: wait until the sink behind the relay has them all */
	uint32_t drain_timeout_s;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t sessions, mps, rcpts;
	uint32_t idle_sessions; /* --idle-sessions: greeted sessions held beside the load */
	double idle_wait_s;     /* the load starts once 99% of them are greeted, or after this */
	struct bench_mix sizes;
	bool starttls, pipelining, progress;
	double rate;           /* messages/s, 0 = closed loop */
	double duration_s;
	uint64_t count;
	double connect_rate;   /* new connections per second at start, 0 = all at once */
	uint32_t reply_timeout_s;
	struct bench_cpu sut;
	bool have_sut;
	double sut_idle_s;     /* sample the SUT's idle CPU rate this long before the run */
	uint64_t seed;
	const char *backend;    /* kernel (default: sockets + OpenSSL), dpdk, sock (conn API) */
	const char *dpdk_cfg;
	int sink_argc;          /* sink options after "--": a sink in this process */
	char **sink_argv;
};

struct sink;

struct load {
	struct ld_opts o;
	int epfd;
	struct bench_cnet *cnet;   /* conn-API transport (--backend dpdk|sock), else NULL */
	struct sink *sink;         /* the sink run in this process (after "--"), or NULL */
	SSL_CTX *tls;
	struct ld_sess *sess;      /* o.sessions active ones, then o.idle_sessions held ones */
	uint32_t nsess;            /* o.sessions + o.idle_sessions */
	struct ld_sess *idle_head, *idle_tail;   /* READY sessions waiting for a due message */
	uint8_t *body;         /* template content: 76-char lines, none starting with '.' */
	size_t body_len;
	uint64_t rng;
	char runid[32];
	char date_hdr[64];
	FILE *ids;
	bool stopping;
	uint64_t t0_us, end_us, last_done_us;
	uint64_t issued;       /* messages started */
	uint32_t live;         /* sessions not DONE */
	uint32_t live_active;  /* of them, sessions that carry messages (not held) */
	bool warmup;           /* held sessions connecting: the active ones wait */
	uint64_t warmup_end_us;
	uint32_t held_ready, held_peak, held_at_start, held_at_end; /* held sessions greeted: now,
							   * peak, when the load started, ended */
	double warmup_s;       /* how long the held sessions took to be greeted */
	uint64_t quit_t0_us;   /* the held sessions' paced QUIT started (0: not yet) */
	uint32_t quit_next;    /* the next held session to QUIT */
	struct bench_hist held_hist[LH_EHLO + 1];        /* their connect, banner, EHLO */
	bool has_wait;         /* some session is in LD_WAIT (housekeeping must run) */
	uint64_t wake_us;      /* earliest retry_us of a waiting session */
	/* results */
	struct bench_hist hist[LH__MAX];
	uint64_t accepted, tempfail, permfail, errors, bytes_ok;
	uint64_t connects, connect_fail, tls_ok, tls_fail, server_closed, timeouts, ready_peak, ready_now;
	uint64_t eod_codes[600], cmd_codes[600];
	double cpu_sut0, cpu_self0;
	double sut_idle_rate;  /* SUT CPU-seconds per second while no load ran */
	uint64_t sink_base;    /* sink's unique count before the run */
	uint64_t drained_us;   /* when the sink had every accepted message (0 = not waited/failed) */
	uint64_t sink_got;
};

/* bench_load_sess.c */
void ld_sess_connect(struct ld_sess *s, uint64_t now);
void ld_sess_event(struct ld_sess *s, uint32_t events, uint64_t now);
/* Starts message number seq (intended at intended_us) on a READY session. */
void ld_sess_start_msg(struct ld_sess *s, uint64_t seq, uint64_t intended_us, uint64_t now);
/* Ends the session's connection (QUIT when READY, immediately otherwise). */
void ld_sess_quit(struct ld_sess *s, uint64_t now);
void ld_sess_timeout(struct ld_sess *s, uint64_t now);
const char *ld_state_name(enum ld_state st);

/* bench_load.c: the scheduler, called by sessions */
/* A session became READY: give it a message now, park it idle, or tell it to QUIT. */
void ld_ready(struct ld_sess *s, uint64_t now);
/* The session's connection ended; decides whether and when it reconnects. */
void ld_sess_ended(struct ld_sess *s, uint64_t now, bool error);

#endif
