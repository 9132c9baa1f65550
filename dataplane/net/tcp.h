/* SPDX-License-Identifier: MIT */
/*
 * tcp.h: dpmail's own TCP stack, one instance per worker lcore. The stack implements the conn
 * API (conn/conn.h): tcp_stack_net() gives the struct conn_net whose listen/connect open
 * connections, and every connection is a struct conn. See docs/tcp.md for the design.
 *
 * Driving it: the lcore loop calls tcp_input() for each received segment and tcp_poll() once
 * per loop turn, both with the current monotonic time in microseconds. Nothing here reads a
 * clock, allocates with malloc after creation, blocks or takes a lock.
 */
#ifndef DPMAIL_TCP_H
#define DPMAIL_TCP_H

#include <stdint.h>

#include "conn/conn.h"
#include "net/tcp-t.h"

/* Headroom a segment handed to the output function has in front of its TCP header. */
#define TCP_HDR_ROOM 128

/* Fills t with the defaults documented in struct tcp_tunables. */
void tcp_tunables_defaults(struct tcp_tunables *t);

/*
 * Creates a stack. t: tunables (copied; NULL = defaults); mp: pool for transmitted segments and
 * send buffers (borrowed, must outlive the stack); laddr: default local IPv4 address (network
 * order); out/out_ctx: where segments go; now: current time (us).
 * Returns the stack, or NULL with *err = -errno (-EINVAL bad tunables, -ENOMEM).
 */
struct tcp_stack *tcp_stack_create(const struct tcp_tunables *t, struct rte_mempool *mp,
				   uint32_t laddr, tcp_output_fn out, void *out_ctx, uint64_t now,
				   int *err);

/* Aborts every connection (on_closed(LOCAL) for those still open) and frees the stack. */
void tcp_stack_free(struct tcp_stack *st);

/*
 * One received segment. m's data begins at the TCP header and is trimmed to the TCP length
 * (single-segment or not; chained mbufs are linearised). src/dst: IPv4 addresses, network
 * order. Ownership of m passes to the stack. Never fails: bad segments are counted and dropped.
 */
void tcp_input(struct tcp_stack *st, struct rte_mbuf *m, uint32_t src, uint32_t dst,
	       uint64_t now);

/* Once per loop turn: timers, deferred output and deferred deliveries. */
void tcp_poll(struct tcp_stack *st, uint64_t now);

/*
 * An ICMP error about a segment we sent (RFC 1122/1191/5927). dst/dport/sport identify the
 * flow (network order); seq is the sequence number from the quoted TCP header; type/code are
 * ICMP's; mtu is the next-hop MTU for fragmentation-needed (0 if unknown).
 */
void tcp_icmp_error(struct tcp_stack *st, uint32_t src, uint32_t dst, uint16_t sport,
		    uint16_t dport, uint32_t seq, uint8_t type, uint8_t code, uint16_t mtu);

/* The conn_net through which upper layers listen and connect (lives as long as st). */
struct conn_net *tcp_stack_net(struct tcp_stack *st);

/* Listen on port (host order) on every local address; -EADDRINUSE, -ENOSPC. */
int tcp_listen(struct tcp_stack *st, uint16_t port, conn_accept_fn accept, void *ctx);
/* Stop listening on port (host order); established connections stay. */
void tcp_unlisten(struct tcp_stack *st, uint16_t port);

/* Active open; see conn_net_ops.connect for the contract. */
struct conn *tcp_connect(struct tcp_stack *st, const struct conn_addr *dst,
			 const struct conn_addr *src, const struct conn_handler *h, void *ctx,
			 int *err);

const struct tcp_counters *tcp_stack_counters(const struct tcp_stack *st);
/* Connections in any state but TIME_WAIT, and TIME_WAIT entries. */
uint32_t tcp_stack_nconns(const struct tcp_stack *st);
uint32_t tcp_stack_ntw(const struct tcp_stack *st);

/* TCP state of a connection created by this stack (for tests and the admin socket). */
enum tcp_state tcp_conn_state(const struct conn *c);
const char *tcp_state_str(enum tcp_state s);

#endif
