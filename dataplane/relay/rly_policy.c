/* SPDX-License-Identifier: MIT */
/*
 * rly_policy.c: who may relay and which sender domains each client may use. An ESP must stop
 * its customers from sending as each other: a client network is bound to its domains, checked
 * at MAIL FROM and again against the From: header at the end of the header section.
 * Default deny: an address outside every configured network may not relay at all.
 */
#include "relay/rly.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static uint32_t mask_of(uint8_t len)
{
	return len == 0 ? 0 : htonl(~0u << (32 - len));
}

const struct rly_client *rly_client_find(const struct rly_policy *pol, const struct conn_addr *addr)
{
	const struct rly_client *best = NULL;
	if (!pol || addr->family != AF_INET)
		return NULL;
	for (uint32_t i = 0; i < pol->n_clients; i++) {
		const struct rly_client *c = &pol->clients[i];
		if ((addr->ip.v4 & mask_of(c->prefix_len)) != (c->net & mask_of(c->prefix_len)))
			continue;
		if (!best || c->prefix_len > best->prefix_len)
			best = c;
	}
	return best;
}

bool rly_sender_allowed(const struct rly_client *c, const char *domain, size_t len)
{
	if (!c)
		return false;
	if (!c->domains)
		return true;
	if (len == 0)
		return true; /* the null sender (bounces) carries no domain to spoof */
	for (uint32_t i = 0; i < c->n_domains; i++) {
		const char *d = c->domains[i];
		size_t dl = strlen(d);
		if (d[0] == '.') {
			/* ".example.com": any subdomain */
			if (len > dl && strncasecmp(domain + len - dl, d, dl) == 0)
				return true;
		} else if (dl == len && strncasecmp(domain, d, len) == 0) {
			return true;
		}
	}
	return false;
}

int rly_parse_prefix(const char *s, uint32_t *net, uint8_t *len)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	long l = 32;
	if (slash) {
		char *end;
		l = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || l < 0 || l > 32)
			return -EINVAL;
	}
	*net = a.s_addr & mask_of((uint8_t)l);
	*len = (uint8_t)l;
	return 0;
}
