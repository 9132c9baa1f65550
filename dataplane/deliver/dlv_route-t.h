/* SPDX-License-Identifier: MIT */
/*
 * dlv_route-t.h: next-hop selection types: static routes from the snapshot and MX records from
 * the resolver, reduced to an ordered list of hosts to try and a rollup key that names the
 * shaping destination.
 */
#ifndef DPMAIL_DLV_ROUTE_T_H
#define DPMAIL_DLV_ROUTE_T_H

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
