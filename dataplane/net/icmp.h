/* SPDX-License-Identifier: MIT */
/*
 * icmp.h: ICMPv4. Answers echo requests; hands destination-unreachable and time-exceeded errors
 * about our own datagrams to the ICMP error hook of the quoted protocol (ip_register_icmp_err).
 */
#ifndef DPMAIL_NET_ICMP_H
#define DPMAIL_NET_ICMP_H

#include "net/net-t.h"

/* L4 input function for protocol 1 (registered by net_if_init; ctx is the net_if). */
void icmp_input(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info);

#endif
