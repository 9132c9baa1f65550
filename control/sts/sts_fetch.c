/* SPDX-License-Identifier: MIT */
/*
 * sts_fetch.c: the MTA-STS policy fetcher (see sts_fetch.h). libcurl's multi "socket"
 * interface: curl tells us which sockets to watch (socket callback -> our epoll set) and when
 * to wake it (timer callback -> a deadline checked each turn); each turn hands ready sockets
 * and an expired timer back to curl_multi_socket_action and collects finished transfers.
 */
#include "sts/sts_fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "sts/sts-t.h"

struct xfer {
	struct sts_fetcher *f;
	struct xfer *prev, *next;     /* the fetcher's transfers */
	CURL *e;
	struct curl_slist *resolve;
	uint64_t cookie;
	char *body;
	size_t len;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
};

struct sts_fetcher {
	struct sts_fetch_opts o;
	CURLM *m;
	int ep;
	uint64_t now_us;
	uint64_t timer_us;            /* UINT64_MAX: curl wants no timeout call */
	unsigned running;
	struct xfer *xfers;
	sts_fetch_done_fn *done;
	void *arg;
};

static int curl_started;

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	(void)e;
	struct sts_fetcher *f = userp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(f->ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	struct epoll_event ev = { .data.fd = s };
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (!socketp) {
		curl_multi_assign(f->m, s, f);   /* marks the socket as known to the epoll set */
		if (epoll_ctl(f->ep, EPOLL_CTL_ADD, s, &ev) == 0)
			return 0;
	}
	epoll_ctl(f->ep, EPOLL_CTL_MOD, s, &ev);
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	struct sts_fetcher *f = userp;
	f->timer_us = timeout_ms < 0 ? UINT64_MAX : f->now_us + (uint64_t)timeout_ms * 1000u;
	return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userp)
{
	struct xfer *x = userp;
	size_t bytes = size * n;
	if (x->len + bytes > STS_POLICY_BYTES) {
		x->too_big = true;
		return 0;   /* aborts the transfer (CURLE_WRITE_ERROR) */
	}
	char *b = realloc(x->body, x->len + bytes + 1);
	if (!b)
		return 0;
	memcpy(b + x->len, p, bytes);
	x->body = b;
	x->len += bytes;
	b[x->len] = '\0';
	return bytes;
}

struct sts_fetcher *sts_fetcher_new(const struct sts_fetch_opts *o, sts_fetch_done_fn *done,
				    void *arg, int *err)
{
	struct sts_fetcher *f = calloc(1, sizeof(*f));
	*err = -ENOMEM;
	if (!f)
		return NULL;
	f->o = *o;
	f->done = done;
	f->arg = arg;
	f->timer_us = UINT64_MAX;
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->ep < 0) {
		*err = -errno;
		goto err;
	}
	if (!curl_started++ && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("sts event=curl_init_failed");
		*err = -EIO;
		goto err;
	}
	if (!(f->m = curl_multi_init()))
		goto err;
	curl_multi_setopt(f->m, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(f->m, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->m, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->m, CURLMOPT_TIMERDATA, f);
	return f;
err:
	sts_fetcher_free(f);
	return NULL;
}

static void xfer_free(struct sts_fetcher *f, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		f->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	curl_multi_remove_handle(f->m, x->e);
	curl_easy_cleanup(x->e);
	curl_slist_free_all(x->resolve);
	free(x->body);
	free(x);
	f->running--;
}

void sts_fetcher_free(struct sts_fetcher *f)
{
	if (!f)
		return;
	if (f->m) {
		while (f->xfers)
			xfer_free(f, f->xfers);
		curl_multi_cleanup(f->m);
	}
	if (f->ep >= 0)
		close(f->ep);
	free(f);
}

static int xfer_setup(struct sts_fetcher *f, struct xfer *x, const char *domain, const char *ip)
{
	char url[STS_HOST_MAX + 96], pin[STS_HOST_MAX + 96];
	int n1 = f->o.port == 443 ?
		snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", domain) :
		snprintf(url, sizeof(url), "https://mta-sts.%s:%u/.well-known/mta-sts.txt", domain, f->o.port);
	bool v6 = strchr(ip, ':') != NULL;
	int n2 = snprintf(pin, sizeof(pin), v6 ? "mta-sts.%s:%u:[%s]" : "mta-sts.%s:%u:%s", domain,
			  f->o.port, ip);
	if (n1 < 0 || (size_t)n1 >= sizeof(url) || n2 < 0 || (size_t)n2 >= sizeof(pin))
		return -EINVAL;
	if (!(x->resolve = curl_slist_append(NULL, pin)))
		return -ENOMEM;
	CURL *e = x->e;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve);       /* never the system resolver */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);         /* RFC 8461 3.3 */
	curl_easy_setopt(e, CURLOPT_PROXY, "");                  /* ignore *_proxy variables */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->o.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, f->o.ca_file);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)f->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)STS_POLICY_BYTES);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "dpmail-mta-sts/1");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	return 0;
}

int sts_fetch_start(struct sts_fetcher *f, const char *domain, const char *ip, uint64_t cookie)
{
	if (f->running >= f->o.max_parallel)
		return -EBUSY;
	struct xfer *x = calloc(1, sizeof(*x));
	if (!x || !(x->e = curl_easy_init())) {
		free(x);
		return -ENOMEM;
	}
	x->f = f;
	x->cookie = cookie;
	int rc = xfer_setup(f, x, domain, ip);
	if (rc == 0 && curl_multi_add_handle(f->m, x->e) != CURLM_OK)
		rc = -ENOMEM;
	if (rc < 0) {
		curl_easy_cleanup(x->e);
		curl_slist_free_all(x->resolve);
		free(x);
		return rc;
	}
	x->next = f->xfers;
	if (f->xfers)
		f->xfers->prev = x;
	f->xfers = x;
	f->running++;
	return 0;
}

/* A media type "text/plain", parameters allowed ("text/plain; charset=utf-8"). */
static bool text_plain(const char *ct)
{
	if (!ct || strncasecmp(ct, "text/plain", 10) != 0)
		return false;
	return ct[10] == '\0' || ct[10] == ';' || ct[10] == ' ' || ct[10] == '\t';
}

static void finish(struct sts_fetcher *f, CURL *e, CURLcode code)
{
	struct xfer *x = NULL;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
	if (!x)
		return;
	struct sts_fetch_result r = { .cookie = x->cookie, .body = x->body ? x->body : "", .len = x->len };
	char *ct = NULL;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.http_code);
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	if (x->too_big || code == CURLE_FILESIZE_EXCEEDED)
		r.error = "policy larger than 64 KiB";
	else if (code != CURLE_OK)
		r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
	else if (r.http_code != 200)
		r.error = "HTTP status is not 200 (redirects are not followed)";
	else if (!text_plain(ct))
		r.error = "Content-Type is not text/plain";
	else
		r.ok = 1;
	f->done(f->arg, &r);
	xfer_free(f, x);
}

void sts_fetcher_process(struct sts_fetcher *f, uint64_t now_us)
{
	struct epoll_event ev[16];
	int running = 0;
	f->now_us = now_us;
	int n = epoll_wait(f->ep, ev, 16, 0);
	for (int i = 0; i < n; i++) {
		int flags = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
			    (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			    (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(f->m, ev[i].data.fd, flags, &running);
	}
	if (f->timer_us <= now_us) {
		f->timer_us = UINT64_MAX;   /* curl sets a new one from inside the call if it wants */
		curl_multi_socket_action(f->m, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(f->m, &left)))
		if (msg->msg == CURLMSG_DONE)
			finish(f, msg->easy_handle, msg->data.result);
}

int sts_fetcher_fd(const struct sts_fetcher *f) { return f->ep; }
unsigned sts_fetcher_running(const struct sts_fetcher *f) { return f->running; }
