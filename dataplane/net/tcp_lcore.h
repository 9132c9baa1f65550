/* SPDX-License-Identifier: MIT */
/*
 * tcp_lcore.h: the TCP stack as a dataplane module: one stack per worker lcore, fed by the
 * IPv4 layer (ip_register_l4), sending through ip_output, driven by a poll hook, and reachable
 * by the modules above it through tcp_lcore_net(). With several workers, segments of flows
 * that belong to another worker (tcp_rss.h) are handed to it over an rte_ring.
 */
#ifndef DPMAIL_TCP_LCORE_H
#define DPMAIL_TCP_LCORE_H

#include "conn/conn-t.h"

struct cfg;
struct dp_lcore;
struct tcp_stack;
struct tcp_tunables;

/* dp_module hooks (dataplane/main/dp_modules.c). */
void *tcp_lcore_init(struct dp_lcore *lc, const struct cfg *c, int *err);
void tcp_lcore_fini(struct dp_lcore *lc, void *state);

/* The conn_net of lc's stack (for listen/connect by upper modules); NULL if TCP is absent. */
struct conn_net *tcp_lcore_net(struct dp_lcore *lc);
struct tcp_stack *tcp_lcore_stack(struct dp_lcore *lc);

/* Maps the "tcp" configuration section onto stack tunables (mss from the port MTU). */
void tcp_tunables_from_cfg(struct tcp_tunables *t, const struct cfg *c, uint16_t l4_mtu);

#endif
