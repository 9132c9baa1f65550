/* SPDX-License-Identifier: MIT */
/*
 * dlv_route-t.h: next-hop selection types: static routes from the snapshot and MX records from
 * the resolver, reduced to an ordered list of hosts to try and a rollup key that names the
 * shaping destination.
 */
#ifndef DPMAIL_DLV_ROUTE_T_H
#define DPMAIL_DLV_ROUTE_T_H

#include <stdbool.h>
#include <stdint.h>

#define DLV_HOST_MAX 255      /* RFC 1035 name length */
#define DLV_MX_MAX 16         /* hosts kept per destination; more are ignored */

/* One MX record as the resolver returns it. */
struct dlv_mx_rr {
	uint16_t pref;
	const char *host;         /* no trailing dot; "" or "." for a null MX */
};

/* A static route: mail for `domain` ("example.com", ".example.com" for subdomains only, or "*"
 * for everything) goes to these hosts in order instead of the MX hosts. */
struct dlv_route {
	const char *domain;
	const char *const *hosts; /* "host" or "host:port" or "[198.18.0.5]:2525" */
	unsigned nhosts;
	const char *name;         /* rollup name for shaping; NULL: derived from the hosts */
};

/* One source address of a pool: the connect source and the EHLO name that goes with it. */
struct dlv_src {
	uint32_t ip;              /* IPv4, network byte order */
	const char *helo;         /* NULL: smtp.hostname */
};

/* A source IP pool (delivery.pools). */
struct dlv_pool {
	const char *name;
	const struct dlv_src *addrs;
	unsigned naddrs;
	const char *const *tenants;   /* relay.clients names */
	unsigned ntenants;
	const char *const *senders;   /* sender domains */
	unsigned nsenders;
	bool is_default;
};

/* A site (delivery.sites): MX host patterns ("host" or "*.suffix") naming one infrastructure. */
struct dlv_site {
	const char *name;
	const char *const *mx;
	unsigned nmx;
};

enum dlv_mx_verdict {
	DLV_MX_OK = 0,            /* hosts listed in order */
	DLV_MX_NULL,              /* RFC 7505 null MX: bounce 5.1.10 at once */
	DLV_MX_SELF,              /* the best MX is us: 5.4.6 (mail loops back) */
	DLV_MX_NONE,              /* no usable host */
};

struct dlv_hops {
	enum dlv_mx_verdict verdict;
	unsigned n;
	const char *host[DLV_MX_MAX];   /* borrowed from the inputs */
	uint16_t pref[DLV_MX_MAX];
};

#endif
