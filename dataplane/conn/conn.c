/* SPDX-License-Identifier: MIT */
/* conn.c: helpers shared by every transport implementation. */
#include "conn/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

const char *conn_close_reason_str(enum conn_close_reason r)
{
	static const char *const names[CONN_CLOSED__MAX] = {
		[CONN_CLOSED_LOCAL] = "local",       [CONN_CLOSED_PEER] = "peer",
		[CONN_CLOSED_RESET] = "reset",       [CONN_CLOSED_TIMEOUT] = "timeout",
		[CONN_CLOSED_REFUSED] = "refused",   [CONN_CLOSED_UNREACHABLE] = "unreachable",
		[CONN_CLOSED_NOMEM] = "nomem",       [CONN_CLOSED_PROTO] = "protocol",
	};
	return (unsigned)r < CONN_CLOSED__MAX ? names[r] : "unknown";
}

const char *conn_addr_str(const struct conn_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->family == AF_INET6) {
		inet_ntop(AF_INET6, a->ip.v6, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->port));
	} else {
		inet_ntop(AF_INET, &a->ip.v4, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->port));
	}
	return buf;
}
