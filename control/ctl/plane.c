/* SPDX-License-Identifier: MIT */
/*
 * plane.c: the control plane's loop and its built-in admin commands (status, stats, reload,
 * log level). One poll set: admin socket, metrics endpoint, libunbound, a wake-up eventfd for
 * signals; accounting rings have no fd, so the loop's timeout bounds how long a record waits.
 */
#include "ctl/plane.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "acct/acct.h"
#include "ctl/audit.h"
#include "ctl/server.h"
#include "ctl/wq.h"
#include "dns/dns.h"
#include "log.h"
#include "metrics/http.h"
#include "metrics/stats.h"
#include "snapshot/snapshot.h"

#define MAX_LCORES 128
#define SWEEP_EVERY_US 3600000000ull

struct ctl_plane {
	struct ctl_plane_opts o;
	struct cfg_pub *pub;
	struct ctl_audit *audit;
	struct ctl_server *srv;
	struct ctl_stats stats;
	struct ctl_metrics *metrics;
	struct ctl_dns *dns;
	struct ctl_acct *acct;
	struct ctl_wq *wq;
	ctl_reload_fn *reload;
	void *reload_arg;
	unsigned lcores[MAX_LCORES];
	size_t nlcores;
	int wake_fd;
	uint64_t started_us, started_wall_s, next_sweep_us;
	uint64_t reloads, reload_failures, loops;
};

/* Signals only set flags and poke the eventfd; the loop does the work. */
static volatile sig_atomic_t sig_hup, sig_usr1;
static int sig_wake_fd = -1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_hup = 1;
	else
		sig_usr1 = 1;
	uint64_t one = 1;
	if (sig_wake_fd >= 0)
		(void)!write(sig_wake_fd, &one, sizeof(one));
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- built-in commands -------------------------------------------------------------------- */

static int cmd_status(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
		      void *arg)
{
	struct ctl_plane *p = arg;
	json_t *lc = json_array();
	for (size_t i = 0; i < p->nlcores; i++)
		json_array_append_new(lc, json_integer(p->lcores[i]));
	uint64_t version = p->pub ? cfg_current_version(p->pub) : 0;
	*result = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:I}",
			    "version", p->o.version ? p->o.version : "dpmail",
			    "pid", (json_int_t)getpid(),
			    "uptime_s", (json_int_t)((mono_us() - p->started_us) / 1000000u),
			    "snapshot_version", (json_int_t)version,
			    "snapshots_published", (json_int_t)(p->pub ? p->pub->published : 0),
			    "snapshots_retired", (json_int_t)(p->pub ? cfg_pub_retired(p->pub) : 0),
			    "lcores", lc,
			    "reloads", (json_int_t)p->reloads,
			    "reload_failures", (json_int_t)p->reload_failures);
	if (p->dns)
		json_object_set_new(*result, "dns_inflight", json_integer(ctl_dns_inflight(p->dns)));
	if (p->acct)
		json_object_set_new(*result, "acct_drops", json_integer((json_int_t)ctl_acct_drops(p->acct)));
	return *result ? CTL_OK : CTL_ERROR;
}

static int cmd_stats(const struct ctl_req *rq, json_t **result, char *err, size_t errlen, void *arg)
{
	struct ctl_plane *p = arg;
	*result = ctl_stats_json(&p->stats);
	return *result ? CTL_OK : CTL_ERROR;
}

static int cmd_log_level(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			 void *arg)
{
	static const char *const names[] = { "err", "warn", "info", "debug" };
	const char *lvl = json_string_value(json_object_get(rq->args, "level"));
	enum log_level old = log_get_level();
	if (lvl)
		log_set_level((enum log_level)log_level_parse(lvl));
	*result = json_pack("{s:s,s:s}", "level", names[log_get_level()], "previous", names[old]);
	return CTL_OK;
}

int ctl_plane_reload(struct ctl_plane *p, uint64_t *version, char *err, size_t errlen)
{
	if (!p->reload) {
		snprintf(err, errlen, "reload is not available in this build");
		return -1;
	}
	int rc = p->reload(p->reload_arg, version, err, errlen);
	if (rc == 0) {
		p->reloads++;
		log_info("reload ok snapshot=%llu", (unsigned long long)*version);
	} else {
		p->reload_failures++;
		log_err("reload refused, the running configuration stays: %s", err);
	}
	return rc;
}

static int cmd_reload(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
		      void *arg)
{
	uint64_t version = 0;
	if (ctl_plane_reload(arg, &version, err, errlen) < 0)
		return CTL_ERROR;
	*result = json_pack("{s:I}", "snapshot_version", (json_int_t)version);
	return CTL_OK;
}

/* ---- life cycle --------------------------------------------------------------------------- */

static void audit_to_acct(json_t *rec, void *arg)
{
	struct ctl_plane *p = arg;
	if (p->acct)
		ctl_acct_admin(p->acct, rec);
}

struct ctl_plane *ctl_plane_new(const struct ctl_plane_opts *o, struct cfg_pub *pub, int *err)
{
	struct ctl_plane *p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->o = *o;
	p->pub = pub;
	p->wake_fd = -1;
	p->started_us = mono_us();
	ctl_stats_init(&p->stats, "dpmail_");
	if (o->audit_log && !(p->audit = ctl_audit_open(o->audit_log, err))) {
		log_err("cannot open audit log %s: %s", o->audit_log, strerror(-*err));
		goto err;
	}
	if (!(p->srv = ctl_server_new(o->admin_socket, p->audit, err))) {
		log_err("cannot listen on admin socket %s: %s", o->admin_socket, strerror(-*err));
		goto err;
	}
	if (o->metrics_addr &&
	    !(p->metrics = ctl_metrics_start(o->metrics_addr, o->metrics_port, &p->stats, err))) {
		log_err("cannot serve metrics on %s port %u: %s", o->metrics_addr, o->metrics_port,
			strerror(-*err));
		goto err;
	}
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wake_fd < 0) {
		*err = -errno;
		goto err;
	}
	ctl_server_set_audit_hook(p->srv, audit_to_acct, p);
	ctl_register(p->srv, "status", cmd_status, p);
	ctl_register(p->srv, "stats", cmd_stats, p);
	ctl_register(p->srv, "log level", cmd_log_level, p);
	ctl_register(p->srv, "reload", cmd_reload, p);
	return p;
err:
	ctl_plane_free(p);
	return NULL;
}

void ctl_plane_free(struct ctl_plane *p)
{
	if (!p)
		return;
	if (sig_wake_fd == p->wake_fd)
		sig_wake_fd = -1;
	ctl_metrics_stop(p->metrics);
	ctl_server_free(p->srv);
	ctl_audit_close(p->audit);
	ctl_stats_fini(&p->stats);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	free(p);
}

struct ctl_server *ctl_plane_server(struct ctl_plane *p) { return p->srv; }
struct ctl_stats *ctl_plane_stats(struct ctl_plane *p) { return &p->stats; }

uint16_t ctl_plane_metrics_port(const struct ctl_plane *p)
{
	return p->metrics ? ctl_metrics_port(p->metrics) : 0;
}

void ctl_plane_set_lcores(struct ctl_plane *p, const unsigned *ids, size_t n)
{
	p->nlcores = n < MAX_LCORES ? n : MAX_LCORES;
	memcpy(p->lcores, ids, p->nlcores * sizeof(*ids));
}

void ctl_plane_set_reload(struct ctl_plane *p, ctl_reload_fn *fn, void *arg)
{
	p->reload = fn;
	p->reload_arg = arg;
}

void ctl_plane_attach_dns(struct ctl_plane *p, struct ctl_dns *dns) { p->dns = dns; }
void ctl_plane_attach_wq(struct ctl_plane *p, struct ctl_wq *wq) { p->wq = wq; }

void ctl_plane_attach_acct(struct ctl_plane *p, struct ctl_acct *acct)
{
	p->acct = acct;
	if (acct) {
		ctl_acct_set_audit(acct, p->audit, p->o.audit_log);
		ctl_acct_register_commands(acct, p->srv);
	}
}

int ctl_plane_catch_signal(struct ctl_plane *p, int signo)
{
	sig_wake_fd = p->wake_fd;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int ctl_plane_install_signals(struct ctl_plane *p)
{
	int rc = ctl_plane_catch_signal(p, SIGHUP);
	return rc < 0 ? rc : ctl_plane_catch_signal(p, SIGUSR1);
}

/* SIGUSR1: rotate accounting and the audit log (renamed beside itself, then reopened). */
static void rotate_logs(struct ctl_plane *p)
{
	if (p->acct)
		ctl_acct_rotate(p->acct);
	if (p->audit && p->o.audit_log) {
		char to[4096];
		if (ctl_acct_rotated_name(p->o.audit_log, to, sizeof(to)) == 0 &&
		    rename(p->o.audit_log, to) == 0)
			ctl_audit_reopen(p->audit);
	}
}

void ctl_plane_signal(struct ctl_plane *p, int signo);

static void handle_signals(struct ctl_plane *p)
{
	uint64_t v;
	(void)!read(p->wake_fd, &v, sizeof(v));
	if (sig_hup) {
		sig_hup = 0;
		ctl_plane_signal(p, SIGHUP);
	}
	if (sig_usr1) {
		sig_usr1 = 0;
		ctl_plane_signal(p, SIGUSR1);
	}
}

void ctl_plane_signal(struct ctl_plane *p, int signo)
{
	if (signo == SIGHUP) {
		char err[512] = "";
		uint64_t v;
		ctl_plane_reload(p, &v, err, sizeof(err));
	} else if (signo == SIGUSR1) {
		rotate_logs(p);
	}
}

void ctl_plane_poll(struct ctl_plane *p, int timeout_ms, uint64_t now_us)
{
	ctl_plane_poll_fd(p, -1, timeout_ms, now_us);
}

int ctl_plane_poll_fd(struct ctl_plane *p, int extra_fd, int timeout_ms, uint64_t now_us)
{
	struct pollfd fds[5];
	int n = 0, srv = -1, met = -1, extra = -1;
	fds[n] = (struct pollfd){ .fd = p->wake_fd, .events = POLLIN };
	n++;
	if (extra_fd >= 0)
		fds[extra = n++] = (struct pollfd){ .fd = extra_fd, .events = POLLIN };
	fds[srv = n++] = (struct pollfd){ .fd = ctl_server_fd(p->srv), .events = POLLIN };
	if (p->metrics) {
		fds[met = n++] = (struct pollfd){ .fd = ctl_metrics_fd(p->metrics), .events = POLLIN };
		int t = ctl_metrics_timeout_ms(p->metrics);
		if (t >= 0 && t < timeout_ms)
			timeout_ms = t;
	}
	if (p->dns)
		fds[n++] = (struct pollfd){ .fd = ctl_dns_fd(p->dns), .events = POLLIN };
	if (p->acct && timeout_ms > 50)
		timeout_ms = 50; /* accounting rings have no fd: bound how long a record waits */
	if (p->wq && ctl_wq_busy(p->wq) && timeout_ms > 2)
		timeout_ms = 2; /* worker replies have no fd either */
	rcu_thread_offline();
	int ready = poll(fds, (nfds_t)n, timeout_ms);
	rcu_thread_online();
	now_us = now_us ? now_us : mono_us();
	if (ready > 0 && fds[0].revents)
		handle_signals(p);
	if (ready > 0 && fds[srv].revents)
		ctl_server_run(p->srv);
	if (met >= 0)
		ctl_metrics_run(p->metrics); /* also runs its timeouts */
	if (p->dns)
		ctl_dns_process(p->dns, now_us);
	if (p->wq)
		ctl_wq_poll(p->wq, now_us);
	if (p->acct) {
		ctl_acct_poll(p->acct, now_us);
		if (now_us >= p->next_sweep_us) {
			ctl_acct_sweep(p->acct);
			p->next_sweep_us = now_us + SWEEP_EVERY_US;
		}
	}
	p->loops++;
	rcu_quiescent_state();
	return ready > 0 && extra >= 0 && fds[extra].revents ? 1 : 0;
}
