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
	CTL_DNS_A = 1, CTL_DNS_MX = 15, CTL_DNS_TXT = 16, CTL_DNS_AAAA = 28, CTL_DNS_TLSA = 52,
	/* Pseudo types (DNS private-use range): answered by a provider on the control plane
	 * (ctl_dns_set_provider), published in the same cache, asked for the same way. */
	CTL_DNS_STS = 0xff53,         /* the MTA-STS policy of a domain (control/sts) */
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

/* One TXT record: its character-strings concatenated (RFC 8461 3.1), NUL-terminated. */
struct ctl_dns_txt {
	uint16_t len;
	const char *data;
};

#define CTL_DNS_STS_MX_MAX 16
#define CTL_DNS_STS_ID_MAX 32

/* CTL_DNS_STS, status OK: the policy in force for the domain (RFC 8461), validated by the
 * provider. Status NODATA: the domain has no usable policy (none published, or mode none). */
struct ctl_dns_sts {
	uint8_t mode;                 /* 1 testing, 2 enforce (enum sts_mode) */
	uint32_t max_age;             /* seconds, as published */
	uint64_t valid_until_wall_s;  /* fetched + max_age (CLOCK_REALTIME seconds) */
	char id[CTL_DNS_STS_ID_MAX + 1];
	unsigned n_mx;
	const char *mx[CTL_DNS_STS_MX_MAX];   /* "mx.example.com", "*.example.net" */
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
		struct ctl_dns_txt *txt;
		const struct ctl_dns_sts *sts;
	} rr;
};

/*
 * A provider answers one pseudo type on the control thread. start() is called when a query
 * for (name, qtype) begins (name canonical: lower case, no trailing dot); the provider answers
 * later, or at once, with ctl_dns_publish(). process() runs in every ctl_dns_process() turn;
 * fd (or -1) is watched through ctl_dns_fd(). A query the provider has not answered by the
 * resolver's deadline completes its waiters with CTL_DNS_TIMEOUT and publishes nothing, so a
 * previously published answer stays in place.
 */
struct ctl_dns_provider {
	uint16_t qtype;
	int (*start)(void *arg, const char *name, uint64_t now_us);
	void (*process)(void *arg, uint64_t now_us);
	int fd;
	void *arg;
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
