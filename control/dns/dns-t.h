/* SPDX-License-Identifier: MIT */
/*
 * dns-t.h: types of the control plane's resolver and the answer cache workers read.
 *
 * Cache choice: liburcu's lock-free hash table (rculfhash) under QSBR, not per-snapshot
 * immutable maps. Answers arrive one at a time, at any rate, with their own TTLs; rebuilding
 * and republishing a whole map per answer would cost O(cache) per answer, while rculfhash
 * publishes one immutable node per answer (add_replace) and retires the old one by call_rcu.
 * Workers look up with no lock and no write to shared memory.
 */
#ifndef DPMAIL_DNS_T_H
#define DPMAIL_DNS_T_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#define CTL_DNS_NAME_MAX 256

enum ctl_dns_qtype {
	CTL_DNS_A = 1, CTL_DNS_MX = 15, CTL_DNS_AAAA = 28, CTL_DNS_TLSA = 52,
};

enum ctl_dns_status {
	CTL_DNS_OK = 0,      /* records present */
	CTL_DNS_NODATA,      /* the name exists, no record of this type */
	CTL_DNS_NXDOMAIN,    /* the name does not exist */
	CTL_DNS_SERVFAIL,    /* the resolver failed (SERVFAIL, REFUSED, network error) */
	CTL_DNS_TIMEOUT,     /* no answer within the query deadline */
	CTL_DNS_BOGUS,       /* DNSSEC validation failed: treat as a failure, never use the data */
};

struct ctl_dns_mx {
	uint16_t pref;
	const char *host;    /* lower case, no trailing dot; in the answer's own memory */
};

struct ctl_dns_tlsa {
	uint8_t usage, selector, mtype;
	uint16_t len;
	const uint8_t *data;
};

/* One immutable published answer. Valid for a reader until its next quiescent state. */
struct ctl_dns_answer {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	char name[CTL_DNS_NAME_MAX];  /* lower case, no trailing dot */
	uint16_t qtype;
	enum ctl_dns_status status;
	int rcode;                    /* DNS rcode as received (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) */
	bool secure;                  /* DNSSEC-validated */
	bool null_mx;                 /* RFC 7505: a single MX 0 "." : the domain accepts no mail */
	uint64_t expires_us;          /* monotonic */
	uint32_t ttl;
	unsigned n;                   /* records in the array of qtype */
	union {
		struct ctl_dns_mx *mx;    /* sorted by preference (ties in answer order) */
		struct in_addr *a;
		struct in6_addr *aaaa;
		struct ctl_dns_tlsa *tlsa;
	} rr;
};

/* A worker's request, copied into its request ring. */
struct ctl_dns_req {
	uint64_t req_id;              /* the worker's parking key */
	uint16_t qtype;
	char name[CTL_DNS_NAME_MAX];
};

/* Completion handed back to the worker: the answer is in the cache from now on. */
struct ctl_dns_done {
	uint64_t req_id;
	uint16_t qtype;
	enum ctl_dns_status status;
};

struct ctl_dns_opts {
	const char *forwarders;       /* "127.0.0.1@53,..."; NULL: /etc/resolv.conf */
	const char *trust_anchor_file;/* NULL: no DNSSEC validation */
	const char *unbound_conf;     /* extra libunbound settings (unbound.conf syntax); NULL: none */
	uint32_t neg_ttl_max_s;       /* cap for NXDOMAIN/NODATA caching (default 300) */
	uint32_t fail_ttl_s;          /* SERVFAIL/timeout/bogus caching (default 30) */
	uint32_t max_ttl_s;           /* cap for positive answers (default 86400) */
	uint32_t timeout_ms;          /* per query deadline (default 10000) */
	unsigned max_inflight;        /* distinct queries in flight (default 4096) */
	unsigned nworkers;            /* request/answer ring pairs (lcore slots 0..n-1) */
};

#endif
