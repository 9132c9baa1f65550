/* SPDX-License-Identifier: MIT */
/*
 * dns.h: asynchronous MX/A/AAAA/TLSA resolution with libunbound on the control plane, and the
 * RCU-protected answer cache that worker lcores read.
 *
 * Worker slot w (its own lcore, online under urcu-qsbr):
 *     a = ctl_dns_lookup(d, "example.org", CTL_DNS_MX, now);   // NULL: unknown or expired
 *     if (!a) { ctl_dns_request(d, w, "example.org", CTL_DNS_MX, msg_id); park(msg_id); }
 *     ... each loop turn: n = ctl_dns_completions(d, w, done, 32); resume done[i].req_id ...
 * An answer pointer is valid until the worker's next rcu_quiescent_state().
 * Control thread: ctl_dns_fd() in its poll set, ctl_dns_process() every turn.
 * Pseudo types (CTL_DNS_STS) are answered by a provider (control/sts) through the same path.
 */
#ifndef DPMAIL_DNS_H
#define DPMAIL_DNS_H

#include <stddef.h>

#include "dns/dns-t.h"

struct ctl_dns;

void ctl_dns_opts_defaults(struct ctl_dns_opts *o);

/* The resolver and cache. NULL with *err = -errno, and a log line (bad forwarder, trust
 * anchor file unreadable...). The calling thread must be an RCU-registered control thread. */
struct ctl_dns *ctl_dns_new(const struct ctl_dns_opts *o, int *err);
/* Cancels queries, frees every answer (after a grace period). Workers must be stopped. */
void ctl_dns_free(struct ctl_dns *d);

/* Worker side. */
const struct ctl_dns_answer *ctl_dns_lookup(struct ctl_dns *d, const char *name, uint16_t qtype,
					    uint64_t now_us);
/* Asks the control plane for name/qtype; the completion carries req_id. 0 or -ENOBUFS /
 * -EINVAL (bad name, slot). Requests for the same name and type are coalesced. */
int ctl_dns_request(struct ctl_dns *d, unsigned slot, const char *name, uint16_t qtype,
		    uint64_t req_id);
/* Takes up to max completions of slot. */
unsigned ctl_dns_completions(struct ctl_dns *d, unsigned slot, struct ctl_dns_done *out,
			     unsigned max);

/* Control side. */
int ctl_dns_fd(struct ctl_dns *d);
/* Reads libunbound's answers, publishes them, hands completions back, starts queries asked
 * through the rings, enforces deadlines. Never blocks. */
void ctl_dns_process(struct ctl_dns *d, uint64_t now_us);
/* Starts a query from the control plane itself (completion goes nowhere): prefetch, tests. */
int ctl_dns_resolve(struct ctl_dns *d, const char *name, uint16_t qtype, uint64_t now_us);
/* Installs the provider of one pseudo type (at most 4; before workers ask for it). 0 or
 * -EINVAL / -ENOSPC / -errno (epoll). The provider must outlive d or be removed by freeing d. */
int ctl_dns_set_provider(struct ctl_dns *d, const struct ctl_dns_provider *p);
/* Publishes a (one allocation: free() after the grace period; ownership taken) and completes
 * every waiter of the query for (a->name, a->qtype) if one is in flight. Control thread. */
void ctl_dns_publish(struct ctl_dns *d, struct ctl_dns_answer *a);
/* Queries in flight (status/tests). */
unsigned ctl_dns_inflight(const struct ctl_dns *d);

const char *ctl_dns_status_str(enum ctl_dns_status s);

#endif
