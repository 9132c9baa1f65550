/* SPDX-License-Identifier: MIT */
/*
 * http.h: the Prometheus scrape endpoint (GET /metrics, text format 0.0.4) served by
 * libmicrohttpd in external-epoll mode from the control loop: the control thread polls one fd
 * and calls ctl_metrics_run(), so the registry and collectors are only ever read on that
 * thread, and a slow scraper never blocks anything (libmicrohttpd does non-blocking I/O).
 */
#ifndef DPMAIL_METRICS_HTTP_H
#define DPMAIL_METRICS_HTTP_H

#include <stdint.h>

struct ctl_stats;
struct ctl_metrics;

/*
 * Listens on addr:port (IPv4 or IPv6 literal; port 0 picks one) and serves st (borrowed; must
 * outlive the server). Returns NULL with *err = -errno (EINVAL: bad address; EADDRINUSE...).
 */
struct ctl_metrics *ctl_metrics_start(const char *addr, uint16_t port, struct ctl_stats *st,
				      int *err);
/* The fd to poll for POLLIN, and the longest the caller may sleep before ctl_metrics_run. */
int ctl_metrics_fd(const struct ctl_metrics *m);
int ctl_metrics_timeout_ms(struct ctl_metrics *m);
/* Does all pending HTTP work without blocking. */
void ctl_metrics_run(struct ctl_metrics *m);
uint16_t ctl_metrics_port(const struct ctl_metrics *m);
/* Closes the listener and every connection. NULL is a no-op. */
void ctl_metrics_stop(struct ctl_metrics *m);

#endif
