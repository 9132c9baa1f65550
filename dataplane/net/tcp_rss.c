/* SPDX-License-Identifier: MIT */
/* tcp_rss.c: flow ownership by (software) RSS; see tcp_rss.h. */
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_thash.h>

#include "net/tcp_impl.h"
#include "net/tcp_rss.h"

/* The Toeplitz key from Microsoft's RSS specification, the default of many NICs. */
static const uint8_t default_key[TCP_RSS_KEY_LEN] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

void tcp_rss_init_sw(struct tcp_rss *r, uint16_t nworkers, uint16_t self)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->key, default_key, sizeof(default_key));
	r->reta_size = 128;
	for (uint32_t i = 0; i < r->reta_size; i++)
		r->reta[i] = (uint16_t)(nworkers ? i % nworkers : 0);
	r->self = self;
}

uint16_t tcp_rss_owner(const struct tcp_rss *r, uint32_t src, uint32_t dst, uint16_t sport,
		       uint16_t dport)
{
	uint32_t t[3] = { rte_be_to_cpu_32(src), rte_be_to_cpu_32(dst),
			  (uint32_t)rte_be_to_cpu_16(sport) << 16 | rte_be_to_cpu_16(dport) };
	uint32_t h = rte_softrss(t, 3, r->key);
	return r->reta[h & (r->reta_size - 1)];
}

void tcp_stack_set_rss(struct tcp_stack *st, const struct tcp_rss *r)
{
	if (!st->rss)
		st->rss = malloc(sizeof(*st->rss));
	if (st->rss)
		*st->rss = *r;
}

/* Whether replies on tuple k (our view) reach this lcore. */
bool tcp_rss_port_ok(const struct tcp_stack *st, const struct tcp_flow_key *k)
{
	if (!st->rss)
		return true;
	return tcp_rss_owner(st->rss, k->raddr, k->laddr, k->rport, k->lport) == st->rss->self;
}
