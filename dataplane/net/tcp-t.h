/* SPDX-License-Identifier: MIT */
/*
 * tcp-t.h: types of dpmail's own TCP stack. One struct tcp_stack per worker lcore (per port
 * address); nothing in it is shared with another lcore. The stack is driven from outside: its
 * input is tcp_input() (an mbuf that begins at the TCP header), its clock is the "now" the lcore
 * loop passes in, and its output goes through a function pointer (ip_output in the daemon, a
 * capture function in the deterministic test harness).
 */
#ifndef DPMAIL_TCP_T_H
#define DPMAIL_TCP_T_H

#include <stdint.h>

#include "conn/conn-t.h"

struct rte_mbuf;
struct rte_mempool;

/*
 * Sends one segment. m's data begins at the TCP header (checksum already filled) and has at
 * least TCP_HDR_ROOM bytes of headroom; src/dst are IPv4 addresses in network order.
 * Ownership of m passes to the callee in every case. Returns 0 or -errno.
 */
typedef int (*tcp_output_fn)(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst);

/* Limits and tunables of one stack (tcp_tunables_defaults() gives the values in comments). */
#define TCP_MAX_MSS 8960 /* largest tunables.mss: a 9000-byte MTU less IPv4 and TCP headers */

struct tcp_tunables {
	uint32_t max_conns;        /* 4096: connection objects (any state but TIME_WAIT) */
	uint32_t max_time_wait;    /* 8192: compact TIME_WAIT entries */
	uint32_t max_syn_rcvd;     /* 1024: half-open connections in total */
	uint32_t backlog;          /* 256: half-open connections per listener */
	uint8_t syncookies;        /* 1: SYN cookies when backlog or max_syn_rcvd is full
				    * (tcp_syncookie.c); 0: such SYNs are dropped */
	uint32_t snd_buf;          /* 262144: bytes queued for sending per connection */
	uint32_t rcv_buf;          /* 262144: receive window / unconsumed bytes per connection */
	uint32_t rcv_mem_total;    /* 64 MiB: received bytes held by all connections together */
	uint32_t ooo_max_segs;     /* 128: out-of-order segments kept per connection */
	uint16_t mss;              /* 1460: MSS we announce and the cap of our send MSS (at most
	                              TCP_MAX_MSS; tcp_lcore derives it from the port MTU) */
	uint8_t timestamps;        /* 1: offer/accept RFC 7323 timestamps */
	uint8_t sack;              /* 1: offer/accept SACK-permitted (RFC 2018 receiver) */
	uint8_t window_scaling;    /* 1: offer/accept window scaling */
	uint32_t time_wait_ms;     /* 60000: 2*MSL */
	uint32_t fin_wait2_ms;     /* 60000: orphaned FIN_WAIT_2 lifetime */
	uint32_t rto_init_ms;      /* 1000 */
	uint32_t rto_min_ms;       /* 200 */
	uint32_t rto_max_ms;       /* 60000 */
	uint32_t syn_timeout_ms;   /* 75000: give up an opening connection */
	uint32_t user_timeout_ms;  /* 120000: give up when data/FIN stays unacknowledged */
	uint32_t delack_ms;        /* 40 */
	uint32_t challenge_ack_per_s; /* 100: RFC 5961 challenge ACK budget per second */
	uint32_t rst_per_s;        /* 1000: RSTs for segments to closed ports, per second */
	uint16_t eph_lo, eph_hi;   /* 32768..60999: ephemeral ports for active opens */
	uint8_t tx_cksum_offload;  /* 0: the port computes TCP checksums (set from the port) */
	uint8_t trusted_link;      /* 0: neither compute nor verify TCP checksums: only for a link
				    * that cannot corrupt (net_memif between processes of one host,
				    * as the kernel treats loopback); both ends must agree */
	uint8_t stretch_ack;       /* 0: when 1, the ACK owed for every second in-order segment is
				    * sent once at the end of the loop turn (tcp_poll), covering
				    * the whole receive burst, as long as less than rcv_buf/4 is
				    * unacknowledged; only for drivers calling tcp_poll right after
				    * each receive burst (tcp_lcore does) */
};

enum tcp_state {
	TCP_CLOSED = 0,
	TCP_SYN_SENT,
	TCP_SYN_RCVD,
	TCP_ESTABLISHED,
	TCP_FIN_WAIT_1,
	TCP_FIN_WAIT_2,
	TCP_CLOSE_WAIT,
	TCP_CLOSING,
	TCP_LAST_ACK,
	TCP_TIME_WAIT,
	TCP_STATE__MAX
};

/* Per-stack counters (monotonic; read by the control plane through tcp_stack_counters()). */
struct tcp_counters {
	uint64_t rx_segs, tx_segs, rx_bytes, tx_bytes;
	uint64_t rx_bad_csum, rx_bad_hdr, rx_bad_opts, rx_no_flow;
	uint64_t rx_unacceptable, rx_paws_drop, rx_ooo_segs, rx_ooo_drop, rx_dup_bytes;
	uint64_t rx_mem_drop, rx_after_close;
	uint64_t tx_rst, tx_challenge_ack, tx_challenge_limited, tx_rst_limited, tx_nombuf;
	uint64_t tx_err, tx_acks, tx_delacks, tx_win_updates, tx_zwp;
	uint64_t rtx_timeouts, rtx_segs, fast_rtx, partial_acks, dupacks_rx, rtx_syn, rtx_lost, tlp_probes;
	uint64_t syn_rcvd, syn_dropped_full, syn_no_listener, accepted, accept_refused;
	uint64_t syncookies_sent;   /* SYN-ACKs whose ISN is a cookie (no state kept) */
	uint64_t syncookies_ok;     /* ACKs with a valid cookie: connections created */
	uint64_t syncookies_failed; /* ACKs checked as cookies and rejected (RST) */
	uint64_t active_opens, conn_timeouts, conn_resets, conn_refused, conn_nomem;
	uint64_t tw_created, tw_reused, tw_dropped_full, tw_expired, fw2_timeouts;
	uint64_t closed;
	uint64_t state_enter[TCP_STATE__MAX];
};

/* Intrusive list node of the per-stack timer wheel. */
struct tcp_tnode {
	struct tcp_tnode *next, *prev;
	uint64_t expire;          /* absolute microseconds; 0 = not armed */
};

/*
 * A byte queue made of single-segment mbufs linked through m->next; each mbuf's data is
 * exactly its queued bytes. Always released with tcp_mq_free(), segment by segment.
 */
struct tcp_mq {
	struct rte_mbuf *head, *tail;
	uint32_t len;             /* bytes */
	uint32_t nsegs;
	/* read cursor of tcp_mq_copy_out (segments are built from the send queue in sequence
	 * order; without it each one walked the chain from the head): an mbuf in the queue and
	 * the stream offset of its first byte; offsets count from the first byte ever queued */
	struct rte_mbuf *cur;
	uint64_t cur_at, base;    /* base: stream offset of head's first byte */
};

struct tcp_flow_key {
	uint32_t laddr, raddr;    /* network order */
	uint16_t lport, rport;    /* network order */
};

/* What a hash-table entry is: a connection or a compact TIME_WAIT entry. */
enum tcp_flow_kind { TCP_FLOW_CONN = 1, TCP_FLOW_TW = 2 };

struct tcp_flow {
	struct tcp_flow *hnext;
	struct tcp_flow_key key;
	uint8_t kind;
};

/* Compact TIME_WAIT: what RFC 9293/6191/7323 need, and no buffers. */
struct tcp_tw {
	struct tcp_flow f;        /* first */
	struct tcp_tw *lnext;     /* expiry FIFO (all entries have the same lifetime) / free list */
	struct tcp_tw *lprev;
	uint64_t expire;
	uint32_t snd_nxt, rcv_nxt;
	uint32_t ts_recent, ts_off;
	uint16_t rcv_win;         /* window field to send (already scaled) */
	uint8_t ts_ok;
};

/* Parsed TCP options (tcp_opts_parse). */
struct tcp_opts {
	uint16_t mss;
	uint8_t wscale;
	uint8_t has_mss : 1, has_ws : 1, sack_ok : 1, has_ts : 1;
	uint8_t nsack;
	uint32_t tsval, tsecr;
	uint32_t sack[4][2];      /* [start, end) in host order */
};

/* Per-connection flags (tcp_conn.flags). */
enum {
	TF_ACK_NOW      = 1u << 0,  /* send an ACK at the end of this input/poll */
	TF_DELACK       = 1u << 1,  /* an ACK is owed; the delayed-ACK timer runs */
	TF_FIN_WANTED   = 1u << 2,  /* the application shut down its side: FIN after the data */
	TF_FIN_SENT     = 1u << 3,  /* our FIN went out at least once: fin_seq is valid */
	TF_FIN_RCVD     = 1u << 4,  /* peer's FIN is in sequence (rcv_nxt counts it) */
	TF_EOF_TOLD     = 1u << 5,  /* on_eof() was called */
	TF_APP_CLOSED   = 1u << 6,  /* conn_close(): the application is gone from this conn */
	TF_READ_PAUSED  = 1u << 7,  /* on_data consumed less than offered; wait for resume_read */
	TF_WS_OK        = 1u << 8,
	TF_TS_OK        = 1u << 9,
	TF_SACK_OK      = 1u << 10,
	TF_WANT_SENDABLE = 1u << 11, /* a conn_send() came up short */
	TF_RECOVERY     = 1u << 12, /* NewReno fast recovery */
	TF_PENDING      = 1u << 13, /* on the stack's pending list */
	TF_NEED_OUTPUT  = 1u << 14, /* run tcp_output at the next poll */
	TF_NEED_DELIVER = 1u << 15, /* offer received data at the next poll */
	TF_CLOSED_TOLD  = 1u << 16, /* on_closed() was called */
	TF_PASSIVE      = 1u << 17, /* opened by a listener */
	TF_RTT_TIMING   = 1u << 18, /* rtt_seq/rtt_start measure a segment (Karn) */
	TF_PERSIST      = 1u << 19, /* the retransmit timer acts as persist timer */
	TF_REAP         = 1u << 20, /* released: on the reap list (or about to be) */
	TF_PROTO_DONE   = 1u << 21, /* both FINs exchanged and acknowledged */
	TF_TLP          = 1u << 22, /* t_rtx is a tail loss probe timeout (RFC 8985 7) */
	TF_TLP_SENT     = 1u << 23, /* a probe is out: its SACK feedback starts recovery */
	TF_IN_DELIVER   = 1u << 24, /* inside on_data(): the offered bytes are not "unread" yet */
	TF_CLOSE_LATER  = 1u << 25, /* conn_close() came from inside on_data(): run it after */
	TF_ACK_TURN     = 1u << 26, /* stretch ACK: an ACK is owed at the end of this loop turn */
};

struct tcp_listener;
struct tcp_stack;
struct tcp_rss;

#define TCP_SB_MAX 6 /* SACK scoreboard ranges kept per connection */

struct tcp_conn {
	struct conn c;            /* first: the API view */
	struct tcp_flow f;        /* hash entry (f.kind == TCP_FLOW_CONN) */
	struct tcp_tnode tn;      /* timer wheel node: earliest of the deadlines below */
	struct tcp_stack *st;
	struct tcp_listener *lst; /* listener while SYN_RCVD */
	struct tcp_conn *pnext;   /* pending / reap / free list link */
	enum tcp_state state;
	uint32_t flags;
	enum conn_close_reason close_reason;

	/* send side: sndq holds the bytes from snd_una (SYN/FIN take no room in it) */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2, snd_wnd, max_snd_wnd;
	uint32_t fin_seq;         /* sequence number of our FIN once known */
	struct tcp_mq sndq;
	uint16_t mss;             /* segment payload size we send (options subtracted) */
	uint16_t peer_mss;
	uint8_t snd_wscale, rcv_wscale;
	uint8_t rtx_count;        /* consecutive timeouts of the current segment */
	uint8_t dupacks;
	uint8_t soft_err;         /* enum conn_close_reason of an ICMP soft error, 0 = none */

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge we advertised (never moves left) */
	struct tcp_mq rcvq;       /* in-order bytes not yet consumed by the application */
	struct tcp_mq ooo;        /* out-of-order segments sorted by sequence (seq in dynfield) */
	uint32_t ooo_last_seq;    /* start of the most recently received OOO segment (SACK) */
	uint32_t segs_unacked;    /* full segments received since our last ACK */
	uint32_t last_ack_sent;

	/* SACK scoreboard (RFC 6675): SACKed ranges above snd_una, sorted, disjoint */
	uint32_t sb[TCP_SB_MAX][2];
	uint8_t nsb;
	uint32_t high_rxt;        /* HighRxt: holes below it were retransmitted this recovery */
	uint32_t rtx_mark;        /* snd_max when the hole at snd_una was last retransmitted */

	/* congestion control (RFC 5681/6582) and RTT (RFC 6298) */
	uint32_t cwnd, ssthresh, recover, bytes_acked;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;
	uint64_t rtt_start;
	uint64_t last_send;       /* for the restart window after idle */
	uint64_t rtx_since;       /* first unanswered retransmission (give-up clock) */

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_off;
	uint64_t ts_recent_at;

	/* deadlines (absolute us, 0 = off); tn.expire is their minimum */
	uint64_t t_rtx;           /* retransmission, SYN retransmission, or persist */
	uint64_t t_delack;
	uint64_t t_life;          /* FIN_WAIT_2 timeout, connection-establishment give-up */
};

#define TCP_MAX_LISTENERS 16

struct tcp_listener {
	uint16_t port;            /* network order; 0 = free slot */
	uint32_t syn_rcvd;        /* half-open connections of this listener */
	conn_accept_fn accept;
	void *accept_ctx;
};

#define TCP_WHEEL_SLOTS 1024u /* 1 ms ticks: ~1 s per lap; later deadlines wait for their lap */

struct tcp_wheel {
	struct tcp_tnode slot[TCP_WHEEL_SLOTS];
	uint64_t tick;            /* last processed tick */
};

struct tcp_stack {
	struct tcp_tunables tun;
	struct rte_mempool *mp;   /* TX segments and send-buffer chunks */
	tcp_output_fn output;
	void *output_ctx;
	uint32_t laddr;           /* default local address (network order) */
	uint64_t now;             /* latest time seen from the lcore loop */
	int seq_dynoff;           /* mbuf dynfield holding an OOO segment's sequence number */
	uint8_t secret[16];       /* RFC 6528 ISN, timestamp-offset and SYN cookie key */
	uint64_t cookie_sent_at;  /* when the latest SYN cookie left (0 = never): ACKs for a
				   * listener are checked as cookies only for two periods after */
	uint64_t next_id;

	struct tcp_conn *conns;   /* max_conns objects */
	struct tcp_conn *free_conns;
	uint32_t nconns, nsyn_rcvd;
	struct tcp_tw *tws;
	struct tcp_tw *free_tw, *tw_head, *tw_tail;
	uint32_t ntw;
	struct tcp_flow **buckets;
	uint32_t bucket_mask;
	uint32_t rcv_mem;         /* received bytes held in rcvq/ooo of every connection */

	struct tcp_listener lst[TCP_MAX_LISTENERS];
	struct tcp_wheel wheel;
	struct tcp_conn *pending; /* conns with deferred output or delivery */
	struct tcp_conn *reap;    /* closed conns freed at the end of the current entry point */
	int depth;                /* entry-point nesting; reaping only at depth 0 */

	uint16_t eph_next;
	uint64_t chall_sec, rst_sec; /* rate-limit windows (second number) */
	uint32_t chall_used, rst_used;

	struct conn_net net;
	struct tcp_rss *rss;      /* NULL: every port is ours (one lcore) */
	struct tcp_counters cnt;
};

#endif
