/* SPDX-License-Identifier: MIT */
/*
 * daemon.h: the control plane inside dpmaild, started by the main lcore (dataplane/main
 * dp_run) once the workers exist and stopped after they returned. It publishes the loaded
 * configuration as snapshot 1, hands every worker the publication point (lc->pub), opens the
 * admin socket, audit log, metrics endpoint, resolver and accounting files the configuration
 * asks for, registers the workers' loop and network counters, and reloads the configuration
 * file on SIGHUP or `dpmailctl reload`.
 */
#ifndef DPMAIL_CTL_DAEMON_H
#define DPMAIL_CTL_DAEMON_H

struct dp_rt;
struct ctl_daemon;
struct cfg_pub;
struct ctl_plane;
struct ctl_dns;
struct ctl_acct;
struct ctl_server;
struct ctl_wq;

/*
 * Starts the control plane for rt (rt->cfg borrowed: it stays the caller's and must outlive
 * ctl_daemon_stop). Registers the calling thread with RCU. NULL on failure (one line logged
 * naming the cause).
 */
struct ctl_daemon *ctl_daemon_start(struct dp_rt *rt);

/* One turn of the control loop, also waiting on sfd (the caller's signalfd): returns 1 when
 * sfd is readable. */
int ctl_daemon_poll(struct ctl_daemon *d, int sfd, int timeout_ms);
/* SIGHUP: reload; SIGUSR1: reopen/rotate audit and accounting files. */
void ctl_daemon_signal(struct ctl_daemon *d, int signo);

/* After the workers stopped: closes everything, frees every snapshot after its grace period,
 * unregisters the thread. NULL is a no-op. */
void ctl_daemon_stop(struct ctl_daemon *d);

struct cfg_pub *ctl_daemon_pub(struct ctl_daemon *d);
struct ctl_plane *ctl_daemon_plane(struct ctl_daemon *d);
struct ctl_dns *ctl_daemon_dns(struct ctl_daemon *d);
struct ctl_acct *ctl_daemon_acct(struct ctl_daemon *d);
struct ctl_server *ctl_daemon_server(struct ctl_daemon *d);
/* Requests to the workers (one slot per worker index, served once per loop turn). */
struct ctl_wq *ctl_daemon_wq(struct ctl_daemon *d);
/* The dataplane runtime: workers' contexts and module states (rt->lc[i]->mod_state[m]). */
struct dp_rt *ctl_daemon_rt(struct ctl_daemon *d);

#endif
