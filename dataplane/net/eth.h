/* SPDX-License-Identifier: MIT */
/*
 * eth.h: the Ethernet layer. Input accepts frames sent to our MAC or to broadcast and passes
 * ARP and IPv4 on; everything else is dropped and counted.
 */
#ifndef DPMAIL_NET_ETH_H
#define DPMAIL_NET_ETH_H

#include <stdint.h>

#include "net/net-t.h"

/* One received frame, data at the Ethernet header. Ownership passes. */
void eth_input(struct net_if *nif, struct rte_mbuf *m);

/*
 * Prepend an Ethernet header (src = our MAC, dst left for the caller or ARP to fill) of the
 * given ethertype (host order). Returns the header, or NULL if there is no headroom (m is
 * unchanged then; the caller still owns it).
 */
struct rte_ether_hdr *eth_prepend(struct net_if *nif, struct rte_mbuf *m, uint16_t ethertype);

#endif
