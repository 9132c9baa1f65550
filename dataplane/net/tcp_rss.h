/* SPDX-License-Identifier: MIT */
/*
 * tcp_rss.h: which lcore owns a TCP flow. With NIC RSS the owner is the queue that the NIC's
 * Toeplitz hash and redirection table pick for the flow's inbound packets; on ports without
 * RSS control (tap, memif, af_packet) the same computation in software (a fixed key and a
 * table filled round-robin over the workers) decides, and the receiving lcore hands packets
 * of other lcores' flows to their owner over an rte_ring. Active opens choose a source port
 * whose reply tuple the owner function maps to the opening lcore, so a flow lives on one lcore
 * in both directions.
 */
#ifndef DPMAIL_TCP_RSS_H
#define DPMAIL_TCP_RSS_H

#include <stdint.h>

#define TCP_RSS_KEY_LEN 40
#define TCP_RSS_RETA_MAX 512

struct tcp_rss {
	uint8_t key[TCP_RSS_KEY_LEN];   /* Toeplitz key as programmed into the NIC */
	uint16_t reta[TCP_RSS_RETA_MAX]; /* hash % reta_size -> queue (= worker index) */
	uint32_t reta_size;             /* power of two, <= TCP_RSS_RETA_MAX */
	uint16_t self;                  /* this lcore's queue */
};

/*
 * Software RSS for n workers: the well-known default Toeplitz key and a round-robin table.
 * Also what a NIC configured with that key and table would compute.
 */
void tcp_rss_init_sw(struct tcp_rss *r, uint16_t nworkers, uint16_t self);

/*
 * Owner queue of a packet with these addresses and ports (network order, as on the wire:
 * src is the sender). Uses rte_softrss over the IPv4/TCP 4-tuple.
 */
uint16_t tcp_rss_owner(const struct tcp_rss *r, uint32_t src, uint32_t dst, uint16_t sport,
		       uint16_t dport);

struct tcp_stack;
/* Makes active opens of st pick source ports whose replies land on r->self (copied). */
void tcp_stack_set_rss(struct tcp_stack *st, const struct tcp_rss *r);

#endif
