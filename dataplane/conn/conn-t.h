/* SPDX-License-Identifier: MIT */
/*
 * conn-t.h: types of the transport API (see conn.h for the contract).
 */
#ifndef DPMAIL_CONN_T_H
#define DPMAIL_CONN_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conn;

/* Addresses are kept ready for IPv6; only IPv4 is used today. Network byte order. */
struct conn_addr {
	uint8_t family;           /* AF_INET or AF_INET6 */
	uint16_t port;            /* network byte order */
	union {
		uint32_t v4;      /* network byte order */
		uint8_t v6[16];
	} ip;
};

enum conn_close_reason {
	CONN_CLOSED_LOCAL = 0,    /* we called close/abort */
	CONN_CLOSED_PEER,         /* orderly: peer's FIN after ours, or peer closed and we finished */
	CONN_CLOSED_RESET,        /* peer sent RST */
	CONN_CLOSED_TIMEOUT,      /* retransmissions or connect gave up */
	CONN_CLOSED_REFUSED,      /* active open answered with RST / port unreachable */
	CONN_CLOSED_UNREACHABLE,  /* no route / ARP failed */
	CONN_CLOSED_NOMEM,        /* a resource limit (buffers, flow table) */
	CONN_CLOSED_PROTO,        /* protocol error in a layer above TCP (e.g. TLS alert) */
	CONN_CLOSED__MAX
};

/* Callbacks from a transport to the layer above it. All are optional except on_data and
 * on_closed. ctx is the handler_ctx given with conn_set_handler(). */
struct conn_handler {
	/* Active open completed (or a passive one is ready for data). */
	void (*on_connected)(void *ctx, struct conn *c);
	/*
	 * In-order bytes, zero-copy: data points into the transport's receive buffers and is valid
	 * only during the call. Returns how many bytes were consumed (0..len). Bytes not consumed
	 * are offered again, with anything that arrived since appended, after conn_resume_read();
	 * the transport stops calling on_data() until then, and its receive window closes as the
	 * unconsumed data accumulates (backpressure to the peer).
	 * len == 0 never happens; the peer's FIN is signalled by on_eof().
	 */
	size_t (*on_data)(void *ctx, struct conn *c, const uint8_t *data, size_t len);
	/* The peer sent FIN (no more data will come). The upper layer may still send. */
	void (*on_eof)(void *ctx, struct conn *c);
	/* Room appeared in the send buffer after a short conn_send(). */
	void (*on_sendable)(void *ctx, struct conn *c);
	/* The connection is gone; c must not be used after this returns. */
	void (*on_closed)(void *ctx, struct conn *c, enum conn_close_reason why);
};

/* Operations of one transport implementation (a vtable; see conn.h for each contract). */
struct conn_ops {
	const char *name;                                           /* "tcp", "sock", "tls" */
	ssize_t (*send)(struct conn *c, const void *buf, size_t len);
	void (*flush)(struct conn *c);                              /* may be NULL */
	size_t (*send_space)(const struct conn *c);
	void (*resume_read)(struct conn *c);
	void (*shutdown)(struct conn *c);
	void (*close)(struct conn *c);
	void (*abort)(struct conn *c);
};

/*
 * The part of every connection that the API sees. Implementations embed it as their first
 * member and recover their own struct with container_of-style casts.
 */
struct conn {
	const struct conn_ops *ops;
	const struct conn_handler *handler;
	void *handler_ctx;
	struct conn_addr local;
	struct conn_addr remote;
	uint64_t id;                  /* unique on this lcore, for logs */
};

/*
 * A transport instance on one lcore (our TCP stack on a port, or the posix epoll loop): it
 * opens connections. Listeners hand each accepted conn to accept(), which must set a handler
 * (conn_set_handler) before returning or the conn is aborted; returning non-zero refuses it.
 */
typedef int (*conn_accept_fn)(void *ctx, struct conn *c);

struct conn_net_ops {
	const char *name;
	/* Listen on local port (host byte order) on every local address; -errno on failure. */
	int (*listen)(void *net, uint16_t port, conn_accept_fn accept, void *accept_ctx);
	/*
	 * Active open to dst from src (src->ip.v4 == 0: the default address; src->port == 0: pick
	 * one). Returns the conn in SYN_SENT with h/ctx attached; on_connected() or
	 * on_closed(REFUSED|TIMEOUT|UNREACHABLE) follows later. NULL with *err = -errno on
	 * immediate failure (no ports, no memory).
	 */
	struct conn *(*connect)(void *net, const struct conn_addr *dst, const struct conn_addr *src,
				const struct conn_handler *h, void *ctx, int *err);
};

struct conn_net {
	const struct conn_net_ops *ops;
	void *impl;
};

#endif
