/* SPDX-License-Identifier: MIT */
/*
 * plane.h: the control plane as one object run by the main lcore: admin socket and audit log,
 * statistics registry and Prometheus endpoint, DNS resolver, accounting writer, signals
 * (SIGHUP reload, SIGUSR1 reopen/rotate). The owner calls ctl_plane_poll() in its loop; the
 * calling thread must be rcu_register_thread()ed (call_rcu needs it): ctl_plane_poll goes
 * offline while it sleeps and reports a quiescent state at the end of each turn.
 */
#ifndef DPMAIL_CTL_PLANE_H
#define DPMAIL_CTL_PLANE_H

#include <stddef.h>
#include <stdint.h>

struct cfg_pub;
struct ctl_server;
struct ctl_stats;
struct ctl_plane;
struct ctl_dns;
struct ctl_acct;
struct ctl_wq;

struct ctl_plane_opts {
	const char *version;        /* shown by status: "dpmail 0.1.0" */
	const char *admin_socket;   /* required */
	const char *audit_log;      /* NULL: no audit file (records still reach accounting) */
	const char *metrics_addr;   /* NULL: no metrics endpoint */
	uint16_t metrics_port;      /* 0: any free port */
};

/*
 * Rebuilds and publishes the configuration (SIGHUP, `dpmailctl reload`). Returns 0 with the
 * new snapshot version, or -1 with a message (file:line and reason); the running snapshot
 * stays.
 */
typedef int ctl_reload_fn(void *arg, uint64_t *version, char *err, size_t errlen);

/* Builds the plane; pub is borrowed (status shows its versions). NULL with *err = -errno and
 * a log line naming what failed. */
struct ctl_plane *ctl_plane_new(const struct ctl_plane_opts *o, struct cfg_pub *pub, int *err);
void ctl_plane_free(struct ctl_plane *p);

struct ctl_server *ctl_plane_server(struct ctl_plane *p);
struct ctl_stats *ctl_plane_stats(struct ctl_plane *p);
uint16_t ctl_plane_metrics_port(const struct ctl_plane *p);

/* The lcores status reports (copied). */
void ctl_plane_set_lcores(struct ctl_plane *p, const unsigned *ids, size_t n);
void ctl_plane_set_reload(struct ctl_plane *p, ctl_reload_fn *fn, void *arg);
/* Attach the resolver / accounting writer: polled by the plane from then on (borrowed). */
void ctl_plane_attach_dns(struct ctl_plane *p, struct ctl_dns *dns);
void ctl_plane_attach_acct(struct ctl_plane *p, struct ctl_acct *acct);
void ctl_plane_attach_wq(struct ctl_plane *p, struct ctl_wq *wq);

/* Installs SIGHUP (reload) and SIGUSR1 (reopen logs, rotate accounting) handlers that wake
 * ctl_plane_poll. One plane per process. */
int ctl_plane_install_signals(struct ctl_plane *p);
/*
 * Catches one signal (SIGHUP or SIGUSR1) with a handler that wakes ctl_plane_poll. Needed for
 * SIGUSR1 even where the owner reads signals from a signalfd: liburcu's hash-table worker
 * thread unblocks SIGUSR1 (its SIGRCU), so the signal may land there instead of the signalfd.
 */
int ctl_plane_catch_signal(struct ctl_plane *p, int signo);

/*
 * One turn of the control loop: waits up to timeout_ms (offline for RCU), then serves
 * whatever is ready and reports a quiescent state. now_us: monotonic microseconds.
 */
void ctl_plane_poll(struct ctl_plane *p, int timeout_ms, uint64_t now_us);

/* The same turn, also waiting on extra_fd (a caller's own fd, e.g. a signalfd). Returns 1
 * when extra_fd is readable, else 0. */
int ctl_plane_poll_fd(struct ctl_plane *p, int extra_fd, int timeout_ms, uint64_t now_us);

/* What a signal means to the control plane: SIGHUP reloads, SIGUSR1 reopens and rotates the
 * audit and accounting files. For owners that take signals themselves (signalfd). */
void ctl_plane_signal(struct ctl_plane *p, int signo);

/* Runs the reload hook as SIGHUP would; returns its result. */
int ctl_plane_reload(struct ctl_plane *p, uint64_t *version, char *err, size_t errlen);

#endif
