/* SPDX-License-Identifier: MIT */
/*
 * tcp_impl.h: internals shared by the tcp_*.c files of the stack (not for other modules).
 * Sequence arithmetic, header layout helpers and the prototypes that cross file boundaries.
 */
#ifndef DPMAIL_TCP_IMPL_H
#define DPMAIL_TCP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/tcp.h"

/* ---- sequence numbers (RFC 9293 3.4: modulo 2^32 comparisons) ---------------------------- */
static inline bool tcp_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool tcp_seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool tcp_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool tcp_seq_geq(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t tcp_seq_max(uint32_t a, uint32_t b) { return tcp_seq_gt(a, b) ? a : b; }
static inline uint32_t tcp_seq_min(uint32_t a, uint32_t b) { return tcp_seq_lt(a, b) ? a : b; }
/* lo <= x < hi */
static inline bool tcp_seq_in(uint32_t x, uint32_t lo, uint32_t hi)
{
	return tcp_seq_geq(x, lo) && tcp_seq_lt(x, hi);
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

#define TCP_HDR_LEN 20
#define TCP_OPT_MAX 40
#define TCP_IW_SEGS 10
#define TCP_DEFAULT_PEER_MSS 536
#define TCP_MIN_MSS 88   /* a floor for peer-announced and ICMP-lowered MSS */
#define TCP_MS 1000ull

static inline struct tcp_conn *tcp_conn_of(struct conn *c)
{
	return (struct tcp_conn *)c;
}

/* A received segment, parsed (host byte order except addresses/ports). */
struct tcp_seg {
	struct tcp_flow_key key;  /* from our point of view: l = dst of the packet */
	uint32_t seq, ack;
	uint32_t len;             /* payload bytes */
	uint32_t wnd;             /* raw window field */
	uint8_t flags;
	bool old_dup;             /* payload wholly old, dropped: only its ACK is used (never a
				   * duplicate ACK then: RFC 5681 2 (b), it carried data) */
	struct tcp_opts opt;
	struct rte_mbuf *m;       /* data adjusted to the payload (NULL once consumed) */
};

/* Payload length plus SYN and FIN: the sequence space a segment occupies. */
static inline uint32_t tcp_seg_seqlen(const struct tcp_seg *s)
{
	return s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
}

/* ---- tcp_mq.c ---------------------------------------------------------------------------- */
uint32_t tcp_mq_append_copy(struct tcp_mq *q, struct rte_mempool *mp, const uint8_t *buf,
			    uint32_t len);
void tcp_mq_append_mbuf(struct tcp_mq *q, struct rte_mbuf *m);
void tcp_mq_copy_out(struct tcp_mq *q, uint32_t off, uint8_t *dst, uint32_t len);
void tcp_mq_trim_front(struct tcp_mq *q, uint32_t n);
void tcp_mq_free(struct tcp_mq *q);

/* ---- tcp_opts.c -------------------------------------------------------------------------- */
int tcp_opts_parse(const uint8_t *p, uint32_t len, struct tcp_opts *o);
uint32_t tcp_opts_build_syn(uint8_t *p, uint16_t mss, int ws, bool sack_ok, bool ts,
			    uint32_t tsval, uint32_t tsecr);
uint32_t tcp_opts_build(uint8_t *p, bool ts, uint32_t tsval, uint32_t tsecr,
			const uint32_t (*sack)[2], uint32_t nsack);

/* ---- tcp_ooo.c --------------------------------------------------------------------------- */
void tcp_ooo_insert(struct tcp_conn *tc, struct rte_mbuf *m, uint32_t seq);
void tcp_ooo_pull(struct tcp_conn *tc);
uint32_t tcp_ooo_sack(const struct tcp_conn *tc, uint32_t (*blk)[2], uint32_t max);
void tcp_ooo_free(struct tcp_conn *tc);

/* ---- tcp_sack.c -------------------------------------------------------------------------- */
void tcp_sack_update(struct tcp_conn *tc, const struct tcp_opts *o);
void tcp_sack_trim(struct tcp_conn *tc);
uint32_t tcp_sack_bytes(const struct tcp_conn *tc);
bool tcp_sack_active(const struct tcp_conn *tc);
uint32_t tcp_sack_pipe(const struct tcp_conn *tc);
bool tcp_sack_next_hole(const struct tcp_conn *tc, uint32_t *seq, uint32_t *len);
uint32_t tcp_sack_skip(struct tcp_conn *tc);
bool tcp_sack_rtx_lost(struct tcp_conn *tc);

/* ---- tcp_rss.c --------------------------------------------------------------------------- */
bool tcp_rss_port_ok(const struct tcp_stack *st, const struct tcp_flow_key *k);

/* ---- tcp_flow.c -------------------------------------------------------------------------- */
int tcp_flow_init(struct tcp_stack *st);
void tcp_flow_fini(struct tcp_stack *st);
struct tcp_flow *tcp_flow_lookup(struct tcp_stack *st, const struct tcp_flow_key *k);
void tcp_flow_insert(struct tcp_stack *st, struct tcp_flow *f);
void tcp_flow_remove(struct tcp_stack *st, struct tcp_flow *f);
struct tcp_conn *tcp_conn_alloc(struct tcp_stack *st, const struct tcp_flow_key *k);
void tcp_conn_release(struct tcp_conn *tc);
void tcp_reap(struct tcp_stack *st);
int tcp_tw_enter(struct tcp_conn *tc);
void tcp_tw_free(struct tcp_stack *st, struct tcp_tw *tw);
void tcp_tw_expire(struct tcp_stack *st);
void tcp_tw_input(struct tcp_stack *st, struct tcp_tw *tw, struct tcp_seg *s);

/* ---- tcp_timer.c ------------------------------------------------------------------------- */
void tcp_wheel_init(struct tcp_wheel *w, uint64_t now);
void tcp_timer_update(struct tcp_conn *tc);
void tcp_timer_stop(struct tcp_conn *tc);
void tcp_wheel_run(struct tcp_stack *st, uint64_t now);
void tcp_rtx_arm(struct tcp_conn *tc);

/* ---- tcp_cc.c ---------------------------------------------------------------------------- */
void tcp_cc_init(struct tcp_conn *tc);
void tcp_rtt_sample(struct tcp_conn *tc, uint32_t rtt_us);
uint32_t tcp_rto_backed_off(const struct tcp_conn *tc);
void tcp_cc_ack(struct tcp_conn *tc, uint32_t acked);
bool tcp_cc_dupack(struct tcp_conn *tc);
void tcp_cc_timeout(struct tcp_conn *tc);
void tcp_cc_idle_check(struct tcp_conn *tc);
uint32_t tcp_flight(const struct tcp_conn *tc);

/* ---- tcp_output.c ------------------------------------------------------------------------ */
void tcp_output(struct tcp_conn *tc);
void tcp_send_ack(struct tcp_conn *tc);
void tcp_send_syn(struct tcp_conn *tc);
void tcp_retransmit_una(struct tcp_conn *tc);
void tcp_send_probe(struct tcp_conn *tc);
void tcp_send_tlp(struct tcp_conn *tc);
void tcp_send_rst(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq,
		  uint32_t ack, uint8_t flags);
void tcp_send_rst_reply(struct tcp_stack *st, const struct tcp_seg *s);
void tcp_send_challenge_ack(struct tcp_conn *tc);
void tcp_send_raw_ack(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq,
		      uint32_t ack, uint16_t win, bool ts, uint32_t tsval, uint32_t tsecr);
void tcp_send_raw_synack(struct tcp_stack *st, const struct tcp_flow_key *k, uint32_t seq,
			 uint32_t ack, int ws, bool sack, bool ts, uint32_t tsval, uint32_t tsecr);
uint32_t tcp_rcv_window(struct tcp_conn *tc, bool update);
uint32_t tcp_ts_now(const struct tcp_stack *st);
uint16_t tcp_cksum(const struct rte_mbuf *m, uint32_t src, uint32_t dst);
/* Ones' complement sum of len bytes, folded (equal to rte_raw_cksum, faster). */
uint16_t tcp_sum16(const void *p, uint32_t len);
/* The same sum without the vector path (CPUs without AVX2; the unit test checks both). */
uint16_t tcp_sum16_scalar(const void *p, uint32_t len);

/* ---- tcp_conn.c -------------------------------------------------------------------------- */
extern const struct conn_ops tcp_conn_ops;
void tcp_set_state(struct tcp_conn *tc, enum tcp_state s);
void tcp_conn_closed(struct tcp_conn *tc, enum conn_close_reason why);
void tcp_conn_drop(struct tcp_conn *tc, enum conn_close_reason why);
void tcp_deliver(struct tcp_conn *tc);
void tcp_pending_add(struct tcp_conn *tc, uint32_t what);
void tcp_pending_run(struct tcp_stack *st);
void tcp_established(struct tcp_conn *tc);
void tcp_sendable_check(struct tcp_conn *tc);
void tcp_proto_done(struct tcp_conn *tc);

/* ---- tcp_listen.c ------------------------------------------------------------------------ */
struct tcp_listener *tcp_listener_find(struct tcp_stack *st, uint16_t port);
void tcp_listen_input(struct tcp_stack *st, struct tcp_listener *l, struct tcp_seg *s,
		      uint32_t min_isn);
void tcp_syn_options(struct tcp_conn *tc, const struct tcp_opts *o);
uint8_t tcp_rcv_wscale_for(const struct tcp_stack *st);
struct tcp_conn *tcp_passive_conn(struct tcp_stack *st, struct tcp_listener *l,
				  const struct tcp_flow_key *k, uint32_t irs,
				  const struct tcp_opts *o, uint32_t wnd, uint32_t min_isn);

/* ---- tcp_syncookie.c --------------------------------------------------------------------- */
bool tcp_syncookie_send(struct tcp_stack *st, const struct tcp_seg *s);
bool tcp_syncookie_input(struct tcp_stack *st, struct tcp_listener *l, struct tcp_seg *s);

/* ---- tcp_input.c ------------------------------------------------------------------------- */
void tcp_conn_input(struct tcp_conn *tc, struct tcp_seg *s);

/* ---- tcp_stack.c ------------------------------------------------------------------------- */
uint32_t tcp_isn(struct tcp_stack *st, const struct tcp_flow_key *k);
uint32_t tcp_ts_offset(struct tcp_stack *st, const struct tcp_flow_key *k);
uint64_t tcp_siphash(const uint8_t key[16], const void *data, size_t len);
void tcp_enter(struct tcp_stack *st, uint64_t now);
void tcp_leave(struct tcp_stack *st);
bool tcp_ratelimit(struct tcp_stack *st, uint64_t *sec, uint32_t *used, uint32_t per_s);

#endif
