/* SPDX-License-Identifier: MIT */
/*
 * bench.h: prototypes shared by the dpmail-bench files. Subcommands: bench_load_main,
 * bench_sink_main, bench_report_main; building blocks: histogram, mixes, the socket/TLS
 * connection, the sink's SMTP engine, /proc CPU accounting, SVG charts.
 */
#ifndef DPMAIL_BENCH_H
#define DPMAIL_BENCH_H

#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "bench-t.h"

/* ---- bench_hist.c: HDR-style histogram --------------------------------------------------- */
void bench_hist_init(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t v);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The value at quantile q in [0, 1] (highest value equivalent to the bucket, clamped to max);
 * 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
double bench_hist_mean(const struct bench_hist *h);
/* Index and range of buckets (exposed for tests). */
unsigned bench_hist_index(uint64_t v);
uint64_t bench_hist_lowest(unsigned idx);
uint64_t bench_hist_highest(unsigned idx);
/* {"count","min","mean","p50","p90","p99","p999","max"} in microseconds. */
json_t *bench_hist_json(const struct bench_hist *h);

/* ---- bench_mix.c: weighted mixes and sizes ----------------------------------------------- */
/* Parses "2k", "10K", "1m", "512" (bytes); returns 0 or -1. */
int bench_parse_size(const char *s, uint64_t *out);
/* "250:95,451:3,550:1,421:1" -> codes with weights. 0 or -1 with a message in err. */
int bench_mix_parse_codes(struct bench_mix *m, const char *s, char *err, size_t errlen);
/* "2k:10k:50k:200k" (equal weights) or "2k@60,10k@30,200k@10" -> sizes. */
int bench_mix_parse_sizes(struct bench_mix *m, const char *s, char *err, size_t errlen);
/* A value chosen with r uniform in [0, 2^64). */
uint64_t bench_mix_pick(const struct bench_mix *m, uint64_t r);
/* xorshift64*: the bench's only PRNG (seeded per run). */
uint64_t bench_rand(uint64_t *state);

/* ---- bench_conn.c: non-blocking socket + optional TLS ------------------------------------ */
int bench_conn_init(struct bench_conn *c, int fd, size_t rcap, size_t wcap);
void bench_conn_free(struct bench_conn *c);
/* Appends to the send buffer (grows to at most 1 MiB); -1 when full. */
int bench_conn_queue(struct bench_conn *c, const void *data, size_t len);
int bench_conn_queuef(struct bench_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes what is queued; returns 1 when all is out, 0 when the socket is full, -1 on error. */
int bench_conn_flush(struct bench_conn *c);
/* Reads into rbuf; returns >0 bytes, 0 on EOF, -EAGAIN, or -1 on error/TLS failure. */
ssize_t bench_conn_read(struct bench_conn *c);
/* Drops n parsed bytes from the front of rbuf. */
void bench_conn_consume(struct bench_conn *c, size_t n);
/* Starts TLS on the socket (client or server side); the handshake is driven by
 * bench_conn_handshake: 1 done, 0 in progress, -1 failed. Over the conn API ctx is unused
 * (crypto/tls with the transport's contexts, bench_cnet_tls_*) and the handshake progresses
 * in the transport's poll, which calls on_event(EPOLLOUT) when it is done. */
int bench_conn_start_tls(struct bench_conn *c, SSL_CTX *ctx, bool server);
int bench_conn_handshake(struct bench_conn *c);
/* Keeps the epoll interest in line with what the conn waits for (data is the event tag);
 * nothing over the conn API. */
void bench_conn_interest(struct bench_conn *c, int epfd, void *tag);
SSL_CTX *bench_tls_client_ctx(void);
SSL_CTX *bench_tls_server_ctx(const char *cert, const char *key);

/* ---- bench_cnet.c: the conn-API transport (DPDK port or posix sock backend + crypto/tls) -- */
/*
 * Opens the transport of this process: backend "dpdk" (our TCP stack on the port of the
 * dpmaild-style YAML file at dpdk_cfg, loop on the main lcore) or "sock" (kernel sockets
 * through the conn API), plus a crypto/tls core. max_conns sizes the sock backend. NULL with a
 * message in err. Ownership: the caller frees it with bench_cnet_free().
 */
struct bench_cnet *bench_cnet_open(const char *backend, const char *dpdk_cfg, uint32_t max_conns,
				   char *err, size_t errlen);
/* Frees the transport: connections still open are aborted (their owners are not told). */
void bench_cnet_free(struct bench_cnet *n);
/* TLS contexts of crypto/tls: the client side (no verification, no session reuse: every
 * session makes a full handshake, as the kernel path does) and the server side (cert/key
 * PEM files). 0, or -1 with a message in err. */
int bench_cnet_tls_client(struct bench_cnet *n, char *err, size_t errlen);
int bench_cnet_tls_server(struct bench_cnet *n, const char *cert, const char *key, char *err,
			  size_t errlen);
/* One loop turn at now: the transport (rx, TCP, tx), then crypto/tls. wait_ms: how long a
 * blocking backend (sock) may wait for events. Returns the work done (0: idle); after an idle
 * turn of a polling backend the caller should call bench_cnet_idle(). */
int bench_cnet_poll(struct bench_cnet *n, uint64_t now, int wait_ms);
/* The idle back-off of a polling backend (dataplane.idle_sleep_us; nothing for sock). */
void bench_cnet_idle(struct bench_cnet *n);
const char *bench_cnet_name(const struct bench_cnet *n);
/* Listens on port (host order) on the transport's address; every accepted conn goes to accept
 * (which must bench_conn_attach it, or bench_cnet_refuse it). 0 or -errno. */
int bench_cnet_listen(struct bench_cnet *n, uint16_t port, int (*accept)(void *ctx, struct conn *cn),
		      void *ctx);
/* Sends msg on a conn that was not attached and closes it (a 421 at the limit). */
void bench_cnet_refuse(struct conn *cn, const char *msg);
/* Takes an accepted conn into c (buffers of rcap/wcap bytes); 0 or -1 (cn is then refused). */
int bench_conn_attach(struct bench_conn *c, struct bench_cnet *n, struct conn *cn, size_t rcap,
		      size_t wcap, bench_conn_event_fn on_event, void *owner);
/* Opens a connection to dst (IPv4 sockaddr) into c; on_event(EPOLLOUT) follows when it is up
 * (bench_conn_connect_error() then says whether it failed). 0 or -1. */
int bench_conn_connect(struct bench_conn *c, struct bench_cnet *n, const struct sockaddr_storage *dst,
		       size_t rcap, size_t wcap, bench_conn_event_fn on_event, void *owner);
/* After a connect completed: 0 when the connection is up, else an errno value. */
int bench_conn_connect_error(struct bench_conn *c);

/* ---- bench_smtpd.c: the sink's SMTP engine (no I/O: bytes in, replies out) --------------- */
/* Resets s for a new session and queues the 220 banner. */
void bench_smtpd_init(struct bench_smtpd *s, bool offer_tls, const char *hostname);
/*
 * Consumes client bytes (commands, pipelined groups, message content) and appends replies to
 * s->out; returns how many bytes were consumed. It stops early, leaving the rest unconsumed,
 * when s->out is nearly full (drain it and call again), when it needs the rest of a line
 * (call again with more bytes), and when the state leaves CMD/DATA (EOM, TLS, QUIT: the owner
 * acts, and for TLS must discard any unconsumed bytes: STARTTLS injection).
 */
size_t bench_smtpd_input(struct bench_smtpd *s, const uint8_t *d, size_t len);
/* Answers the end of message with code (250, 4xx, 5xx; 421 also ends the session) and goes
 * back to reading commands. */
void bench_smtpd_eom_reply(struct bench_smtpd *s, unsigned code);
/* The TLS handshake finished: a new EHLO is required (RFC 3207). */
void bench_smtpd_tls_started(struct bench_smtpd *s);
/* The session must end with 421 (limits, shutdown). */
void bench_smtpd_reply_421(struct bench_smtpd *s, const char *why);
const char *bench_smtpd_state_name(enum bench_smtpd_state st);

/* ---- bench_dkimv.c: DKIM verification with keys from a file (no DNS) -------------------- */
int bench_dkimv_init(const char *keyfile);
void bench_dkimv_fini(void);
/* A verifier for one message (NULL when not initialised); its bytes go to _chunk; _end frees
 * it and returns 1 pass, 0 fail, -1 no signature or error. */
void *bench_dkimv_begin(void);
void bench_dkimv_chunk(void *v, const uint8_t *p, size_t n);
int bench_dkimv_end(void *v);

/* ---- bench_cpu.c: CPU time of the system under test from /proc ---------------------------- */
/* Parses "PID[,PID...]"; 0 or -1. */
int bench_cpu_parse(struct bench_cpu *c, const char *list);
/* CPU seconds (utime+stime+cutime+cstime) of every live process in the trees rooted at the
 * pids (a reaped child's time is in its parent's c-times, so each second counts once). */
double bench_cpu_seconds(const struct bench_cpu *c);
/* CPU seconds this process used so far (user + system). */
double bench_self_cpu(void);

/* ---- bench_svg.c: line charts ------------------------------------------------------------ */
#define BENCH_SVG_MAX_SERIES 8
#define BENCH_SVG_MAX_POINTS 32
struct bench_svg_series {
	const char *name;
	unsigned n;
	double x[BENCH_SVG_MAX_POINTS];
	double y[BENCH_SVG_MAX_POINTS];
};
/* Writes an SVG line chart; returns 0 or -1 (errno). */
int bench_svg_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
		    const struct bench_svg_series *s, unsigned nseries, bool logx);

/* ---- bench_util.c ------------------------------------------------------------------------ */
uint64_t bench_now_us(void);
/* "HOST:PORT" -> sockaddr (IPv4 literal or a name resolved with getaddrinfo, numeric only for
 * safety: no DNS). 0 or -1. */
int bench_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* Writes j to path atomically (tmp + rename), indented. 0 or -1. */
int bench_json_save(json_t *j, const char *path);
/* ISO-8601 UTC of the wall clock now. */
void bench_iso_now(char *buf, size_t len);

/* ---- bench_report.c ---------------------------------------------------------------------- */
/* Fills r from a run's JSON (load or sink); 0, or -1 when it is not a dpmail-bench run. */
int bench_report_row(json_t *j, const char *fallback_label, struct bench_row *r);

/* ---- subcommands ------------------------------------------------------------------------- */
int bench_load_main(int argc, char **argv);
int bench_sink_main(int argc, char **argv);

/* ---- bench_sink.c as a part of another loop (the load's, sharing its transport) ------------- */
struct sink;
/* Parses the sink's options and sets it up (listener, TLS, DKIM keys) on cnet, or on kernel
 * sockets / its own --backend when cnet is NULL. NULL after printing why. */
struct sink *bench_sink_new(int argc, char **argv, struct bench_cnet *cnet);
/* Once per loop turn: held replies that fell due, the JSON file, the progress line. */
void bench_sink_tick(struct sink *sk, uint64_t now);
/* When the sink next needs bench_sink_tick (a held reply due, the JSON file, progress), for
 * the wait of a loop that blocks (monotonic us). */
uint64_t bench_sink_wake(const struct sink *sk);
/* Unique accepted Message-IDs so far; *last_us: when the last message was accepted. */
uint64_t bench_sink_unique(const struct sink *sk, uint64_t *last_us);
/* Writes the JSON, the ids and the summary line, then frees the sink (connections closed). */
void bench_sink_finish(struct sink *sk);
int bench_report_main(int argc, char **argv);
int bench_verify_main(int argc, char **argv);

#endif
