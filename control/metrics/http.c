/* SPDX-License-Identifier: MIT */
/* http.c: GET /metrics over libmicrohttpd, driven by the control loop (see http.h). */
#include "metrics/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/buf.h"
#include "log.h"
#include "metrics/stats.h"

struct ctl_metrics {
	struct MHD_Daemon *d;
	struct ctl_stats *st;
	uint16_t port;
	uint64_t scrapes;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *c, const char *url,
				       const char *method, const char *version,
				       const char *upload, size_t *upload_len, void **req_ctx)
{
	struct ctl_metrics *m = cls;
	static const char not_found[] = "not found: try /metrics\n";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", (char *)"GET only\n", 9,
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", (char *)not_found,
			     sizeof(not_found) - 1, MHD_RESPMEM_PERSISTENT);
	struct ctl_buf out;
	ctl_buf_init(&out);
	ctl_stats_prometheus(m->st, &out);
	ctl_buf_printf(&out, "# HELP %smetrics_scrapes_total Scrapes served by this endpoint.\n"
			     "# TYPE %smetrics_scrapes_total counter\n%smetrics_scrapes_total %llu\n",
		       m->st->prefix, m->st->prefix, m->st->prefix,
		       (unsigned long long)++m->scrapes);
	if (ctl_buf_failed(&out)) {
		ctl_buf_free(&out);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", (char *)"oom\n", 4,
			     MHD_RESPMEM_PERSISTENT);
	}
	/* MHD takes the buffer and frees it with free(). */
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len,
		     MHD_RESPMEM_MUST_FREE);
}

static int parse_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return AF_INET6;
	}
	return -1;
}

struct ctl_metrics *ctl_metrics_start(const char *addr, uint16_t port, struct ctl_stats *st,
				      int *err)
{
	struct sockaddr_storage ss;
	int family = parse_addr(addr, port, &ss);
	if (family < 0) {
		*err = -EINVAL;
		return NULL;
	}
	struct ctl_metrics *m = calloc(1, sizeof(*m));
	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	m->st = st;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
	m->d = MHD_start_daemon(flags, port, NULL, NULL, metrics_handler, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, 64u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!m->d) {
		*err = errno ? -errno : -EADDRINUSE;
		free(m);
		return NULL;
	}
	const union MHD_DaemonInfo *pi = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = pi ? pi->port : port;
	log_info("metrics listen=%s port=%u path=/metrics", addr, m->port);
	return m;
}

int ctl_metrics_fd(const struct ctl_metrics *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	return i ? i->epoll_fd : -1;
}

int ctl_metrics_timeout_ms(struct ctl_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG t;
	if (MHD_get_timeout(m->d, &t) != MHD_YES)
		return -1; /* nothing timed: wait for the fd */
	return t > 60000 ? 60000 : (int)t;
}

void ctl_metrics_run(struct ctl_metrics *m) { MHD_run(m->d); }
uint16_t ctl_metrics_port(const struct ctl_metrics *m) { return m->port; }

void ctl_metrics_stop(struct ctl_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
