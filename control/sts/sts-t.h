/* SPDX-License-Identifier: MIT */
/*
 * sts-t.h: types of the MTA-STS policy source (RFC 8461): a parsed policy, the control-side
 * tunables, and what `dpmailctl sts show` reports about one domain.
 */
#ifndef DPMAIL_STS_T_H
#define DPMAIL_STS_T_H

#include <stdbool.h>
#include <stdint.h>

#define STS_ID_MAX          32          /* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define STS_HOST_MAX        253
#define STS_MX_MAX          16          /* more "mx:" lines make the policy invalid */
#define STS_MAX_AGE_MAX     31557600u   /* RFC 8461 3.2: about one year */
#define STS_POLICY_BYTES    65536       /* RFC 8461 3.3: senders may limit the body to 64 KiB */

enum sts_mode { STS_MODE_NONE = 0, STS_MODE_TESTING, STS_MODE_ENFORCE };

/* A parsed policy (RFC 8461 3.2). Patterns are lower case: "mx.example.com", "*.example.net". */
struct sts_policy {
	enum sts_mode mode;
	uint32_t max_age;             /* seconds, <= STS_MAX_AGE_MAX */
	unsigned n_mx;
	char mx[STS_MX_MAX][STS_HOST_MAX + 1];
};

/* Tunables of the control-side engine (mapped from the mta_sts config section). */
struct sts_opts {
	const char *ca_file;          /* trust store for the HTTPS fetch; NULL: OpenSSL's default */
	const char *cache_file;       /* persisted policies; NULL: not persisted */
	uint32_t fetch_timeout_ms;    /* whole HTTPS transaction (default 10000) */
	uint32_t refresh_s;           /* the TXT record is re-checked this often (default 600) */
	uint32_t retry_s;             /* after a failed refresh, retry this soon (default 60) */
	uint16_t https_port;          /* 443; tests may change it */
	unsigned max_domains;         /* cache size bound (default 100000) */
	unsigned max_fetches;         /* refreshes in flight at once (default 64) */
};

/* Counters of the engine (control thread only). */
struct sts_stats {
	uint64_t txt_lookups, fetches, fetch_ok, fetch_failed, parse_failed;
	uint64_t kept_on_failure;     /* a refresh failed and a cached policy stayed in force */
	uint64_t published;
};

#endif
