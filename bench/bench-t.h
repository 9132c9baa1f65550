/* SPDX-License-Identifier: MIT */
/*
 * bench-t.h: types of dpmail-bench (load generator, sink, reports). dpmail-bench is a normal
 * kernel-socket program: one epoll loop per process, non-blocking sockets, OpenSSL directly.
 */
#ifndef DPMAIL_BENCH_T_H
#define DPMAIL_BENCH_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/*
 * HDR-style histogram of microsecond values: exact below 2^BENCH_HIST_SUB_BITS, then
 * 2^(SUB_BITS-1) linear sub-buckets per power of two (relative error < 1/64 = 1.6%), up to
 * 2^40 us (12.7 days).
 */
#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_MAX_EXP 40
#define BENCH_HIST_BUCKETS ((BENCH_HIST_MAX_EXP - BENCH_HIST_SUB_BITS + 2) * (1u << (BENCH_HIST_SUB_BITS - 1)))

struct bench_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

/* A weighted choice: "250:95,451:3" (values with weights) or "2k:10k:50k" (equal weights). */
#define BENCH_MIX_MAX 16
struct bench_mix {
	unsigned n;
	uint64_t value[BENCH_MIX_MAX];
	uint32_t weight[BENCH_MIX_MAX];
	uint64_t total;
};

struct bench_cnet;
struct conn;

/*
 * Called by a conn-API transport (bench_cnet.c) when something happened on the connection:
 * events are EPOLLIN (data, EOF or close), EPOLLOUT (connected, room to send, TLS handshake
 * done); now is the loop turn's time. The owner then drives the conn exactly as it does after
 * an epoll event (bench_conn_read/flush/handshake). Never re-entered for the same conn.
 */
typedef void (*bench_conn_event_fn)(void *owner, uint32_t events, uint64_t now);

/*
 * One connection with optional TLS, owned by a load session or a sink session, over one of two
 * transports behind the same calls: a non-blocking kernel socket with OpenSSL on the fd
 * (cnet == NULL: epoll tells the owner when to read/write), or a struct conn of the conn API
 * (cnet != NULL: our TCP stack on a DPDK port, or the posix sock backend, with crypto/tls as a
 * conn over the conn; the transport pushes received bytes into rbuf and calls on_event).
 */
struct bench_conn {
	int fd;
	SSL *ssl;
	/* conn-API transport (bench_cnet.c) */
	struct bench_cnet *cnet;
	struct conn *cn;        /* the transport conn, or the tls conn stacked on it */
	bench_conn_event_fn on_event;
	void *owner;
	bool cn_up;             /* connected (and the handshake done once TLS started) */
	bool cn_eof;            /* the peer sent FIN (or close_notify) */
	bool cn_closed;         /* the conn is gone (cn is NULL) */
	bool cn_error;          /* ... and not in an orderly way */
	bool cn_stalled;        /* on_data left bytes unconsumed: resume when rbuf has room */
	bool cn_busy;           /* inside on_event (events arriving meanwhile are deferred) */
	bool cn_in_data;        /* inside on_data (a resume must wait until it returned) */
	uint32_t cn_pending;    /* deferred events */
	bool tls_done;          /* handshake finished */
	bool want_write;        /* output pending (EPOLLOUT wanted) */
	bool paused;            /* not reading (a parked session): no EPOLLIN */
	bool registered;        /* fd is in the epoll set */
	uint32_t ev_mask;       /* epoll interest registered */
	uint8_t *rbuf;          /* received, not yet parsed: [0, rlen) */
	size_t rlen, rcap;
	uint8_t *wbuf;          /* to send: [woff, wlen) */
	size_t woff, wlen, wcap;
	const uint8_t *ext;     /* borrowed bytes sent after wbuf (message bodies), then tail */
	size_t ext_len;
	char tail[8];
	size_t tail_len;
	uint64_t bytes_in, bytes_out;
};

/* ---- the sink's SMTP server engine (bench_smtpd.c) ---- */
enum bench_smtpd_state {
	BENCH_SMTPD_CMD = 0,  /* reading commands */
	BENCH_SMTPD_DATA,     /* reading message content until <CRLF>.<CRLF> */
	BENCH_SMTPD_EOM,      /* end of message seen: the owner must call bench_smtpd_eom_reply */
	BENCH_SMTPD_TLS,      /* 220 to STARTTLS queued: the owner starts the handshake */
	BENCH_SMTPD_QUIT,     /* QUIT answered or fatal: the owner closes after flushing */
	BENCH_SMTPD_BDAT,     /* reading the octets of a BDAT chunk (RFC 3030) */
	BENCH_SMTPD__MAX
};

#define BENCH_SMTPD_OUT 4096
#define BENCH_MSGID_MAX 255
#define BENCH_HCARRY_MAX 1000 /* longest header line inspected across BDAT chunks */

struct bench_smtpd {
	enum bench_smtpd_state state;
	bool offer_tls;       /* advertise STARTTLS (the owner has a server context) */
	bool tls;             /* TLS is active (STARTTLS no longer offered) */
	bool greeted;         /* HELO/EHLO seen */
	bool mail;            /* MAIL accepted in this transaction */
	bool discard_line;    /* an over-long command: skip to the next LF */
	bool in_headers;      /* DATA: still in the header section */
	bool line_start;      /* DATA: the next byte starts a line */
	bool dkim_signed;     /* DATA: a DKIM-Signature header field was seen */
	uint32_t rcpts;
	uint32_t errors;      /* bad commands in this session (too many: 421) */
	uint64_t msg_bytes;   /* DATA: unstuffed content bytes */
	uint64_t bdat_left;   /* BDAT: octets of the current chunk still to read */
	bool bdat_last;       /* BDAT: the current chunk is the LAST */
	bool bdat_discard;    /* BDAT: the chunk is read and thrown away (no transaction) */
	bool bdat_txn;        /* BDAT: the transaction's content started with BDAT */
	char msgid[BENCH_MSGID_MAX + 1];
	size_t msgid_len;
	/* BDAT: a header line cut by a chunk's end, kept until its LF arrives in the next chunk
	 * (the command line between them means it cannot wait in the input) */
	uint8_t hcarry[BENCH_HCARRY_MAX];
	size_t hcarry_len;
	bool hcarry_on;       /* the next content bytes continue the carried header line */
	/* optional: every content byte (dot-unstuffed, CRLF kept) as it is parsed */
	void (*on_content)(void *ctx, const uint8_t *p, size_t n);
	void *content_ctx;
	char out[BENCH_SMTPD_OUT]; /* replies produced, drained by the owner */
	size_t out_len;
};

/* One row of the comparison, read from a load or sink JSON file. */
struct bench_row {
	char label[64];
	const char *mode;
	double sessions, msgs_s, mb_s, p50, p99, p999, msg_p99, sut_k, sut_net_k, e2e;
	long long accepted, tempfail, permfail, errors;
	long long greeted;          /* idle runs: sessions greeted at the peak */
	double banner_p99, ehlo_p99; /* idle runs, ms */
	bool tls, has_sut;
};

/* Counters of /proc CPU time for a set of process trees. */
#define BENCH_MAX_PIDS 16
struct bench_cpu {
	unsigned npids;
	int pids[BENCH_MAX_PIDS];
	double start_s;         /* CPU seconds (user+system, tree incl. reaped children) at start */
};

#endif
