/* SPDX-License-Identifier: MIT */
/*
 * sts_fetch.h: non-blocking HTTPS GET of MTA-STS policy files with libcurl's multi interface,
 * driven from the control thread's poll loop (one epoll fd; no thread, no system resolver).
 *
 *   f = sts_fetcher_new(&o, done, arg, &err)
 *   sts_fetch_start(f, "example.org", "198.18.0.5", cookie)   GET https://mta-sts.example.org/
 *                                                                  .well-known/mta-sts.txt
 *   poll sts_fetcher_fd(f); sts_fetcher_process(f, now) each turn -> done(arg, &result)
 *
 * RFC 8461 3.3: the certificate is verified against the WebPKI (or o.ca_file) for the name
 * mta-sts.<domain>; redirects are not followed; only 200 with Content-Type text/plain counts;
 * bodies above 64 KiB are cut off as failures; the whole transfer has a deadline. The
 * address comes from the caller (our own resolver) and is pinned with CURLOPT_RESOLVE; proxies
 * from the environment are ignored.
 */
#ifndef DPMAIL_STS_FETCH_H
#define DPMAIL_STS_FETCH_H

#include <stddef.h>
#include <stdint.h>

struct sts_fetcher;

struct sts_fetch_opts {
	const char *ca_file;          /* NULL: OpenSSL's default trust store */
	uint32_t timeout_ms;          /* whole transfer */
	uint16_t port;                /* 443 */
	unsigned max_parallel;        /* transfers at once; more are refused with -EBUSY */
};

/* Outcome of one fetch. body is valid during the callback only. */
struct sts_fetch_result {
	uint64_t cookie;
	int ok;                       /* 1: 200, text/plain, within the size limit */
	long http_code;               /* 0 when no HTTP response */
	const char *body;
	size_t len;
	const char *error;            /* why ok == 0 (static or curl's text) */
};

typedef void sts_fetch_done_fn(void *arg, const struct sts_fetch_result *r);

/* NULL with *err = -errno (curl or epoll could not start; logged). done is called from
 * sts_fetcher_process only. */
struct sts_fetcher *sts_fetcher_new(const struct sts_fetch_opts *o, sts_fetch_done_fn *done,
				    void *arg, int *err);
/* Aborts every transfer (no callbacks) and frees. NULL is a no-op. */
void sts_fetcher_free(struct sts_fetcher *f);

/* Starts the GET for domain (policy host mta-sts.<domain>) at IPv4/IPv6 literal ip. 0,
 * -EBUSY (max_parallel reached), -EINVAL (names too long), -ENOMEM. */
int sts_fetch_start(struct sts_fetcher *f, const char *domain, const char *ip, uint64_t cookie);

int sts_fetcher_fd(const struct sts_fetcher *f);
/* Socket events, timers, completions; never blocks. */
void sts_fetcher_process(struct sts_fetcher *f, uint64_t now_us);
unsigned sts_fetcher_running(const struct sts_fetcher *f);

#endif
