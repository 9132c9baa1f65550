/* SPDX-License-Identifier: MIT */
/* daemon.c: the control plane wired into dpmaild (see daemon.h). */
#include "ctl/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acct/acct.h"
#include "config/cfg.h"
#include "ctl/cfgcmd.h"
#include "ctl/ctl_modules.h"
#include "ctl/plane.h"
#include "ctl/server.h"
#include "ctl/wq.h"
#include "main/dp.h"
#include "dns/dns.h"
#include "keyfile.h"
#include "log.h"
#include "main/dp-t.h"
#include "metrics/stats.h"
#include "snapshot/cfg_builders.h"
#include "snapshot/snapshot.h"

#define VERSION "dpmail 0.1.0"

struct ctl_daemon {
	struct dp_rt *rt;
	struct cfg_pub pub;
	struct ctl_plane *plane;
	struct ctl_dns *dns;
	struct ctl_acct *acct;
	struct ctl_cfgcmd *cfgcmd;  /* the configuration file + admin changes */
	struct ctl_wq *wq;
	size_t modules_started;     /* ctl_modules[] whose init succeeded */
	struct wq_hook {            /* worker poll hook context, one per worker */
		struct ctl_wq *wq;
		unsigned slot;
	} hooks[RTE_MAX_LCORE];
};

/* Worker poll hook: serve the control plane's requests once per turn. */
static int wq_serve_hook(void *ctx, uint64_t now_us)
{
	struct wq_hook *h = ctx;
	return (int)ctl_wq_serve(h->wq, h->slot);
}

#define NC(f) offsetof(struct dp_lcore, nif.cnt.f)
static const struct ctl_stat_field lcore_fields[] = {
	{ "loop_turns_total", "Worker loop turns.", CTL_STAT_COUNTER, offsetof(struct dp_lcore, turns) },
	{ "loop_idle_turns_total", "Worker loop turns that found no work.", CTL_STAT_COUNTER,
	  offsetof(struct dp_lcore, idle_turns) },
	{ "net_rx_packets_total", "Frames received.", CTL_STAT_COUNTER, NC(rx_pkts) },
	{ "net_rx_bytes_total", "Bytes received.", CTL_STAT_COUNTER, NC(rx_bytes) },
	{ "net_tx_packets_total", "Frames sent.", CTL_STAT_COUNTER, NC(tx_pkts) },
	{ "net_tx_bytes_total", "Bytes sent.", CTL_STAT_COUNTER, NC(tx_bytes) },
	{ "net_tx_held_total", "Frames the port's TX queue did not take at once, sent a turn later.",
	  CTL_STAT_COUNTER, NC(tx_held) },
	{ "net_ip_rx_total", "IPv4 packets received for us.", CTL_STAT_COUNTER, NC(ip_rx) },
	{ "net_ip_tx_total", "IPv4 packets sent.", CTL_STAT_COUNTER, NC(ip_tx) },
	{ "net_icmp_echo_rx_total", "ICMP echo requests received.", CTL_STAT_COUNTER, NC(icmp_echo_rx) },
	{ "net_icmp_echo_tx_total", "ICMP echo replies sent.", CTL_STAT_COUNTER, NC(icmp_echo_tx) },
	{ "net_arp_rx_request_total", "ARP requests received.", CTL_STAT_COUNTER, NC(arp_rx_req) },
	{ "net_arp_tx_request_total", "ARP requests sent.", CTL_STAT_COUNTER, NC(arp_tx_req) },
};

/* Warns about sections a reload cannot change in a running process. */
static void restart_only(const struct cfg *old, const struct cfg *c)
{
	if (strcmp(old->port.device, c->port.device) != 0 || old->port.ipv4.ip.u.v4 != c->port.ipv4.ip.u.v4 ||
	    old->port.ipv4.len != c->port.ipv4.len || old->dataplane.workers.n != c->dataplane.workers.n ||
	    old->eal.memory_mb != c->eal.memory_mb)
		log_warn("event=reload note=\"port, eal and dataplane changes take effect at the next restart\"");
	if (strcmp(old->control.admin_socket, c->control.admin_socket) != 0 ||
	    old->control.metrics_port != c->control.metrics_port ||
	    strcmp(old->accounting.dir, c->accounting.dir) != 0)
		log_warn("event=reload note=\"control and accounting endpoints change at the next restart\"");
}

/* SIGHUP / `dpmailctl reload`: file + admin changes, validated, published; the running
 * snapshot stays on error. */
static int daemon_reload(void *arg, uint64_t *version, char *err, size_t errlen)
{
	struct ctl_daemon *d = arg;
	struct cfg *c = ctl_cfgcmd_build(d->cfgcmd, err, errlen);
	if (!c)
		return -1;
	restart_only(cfg_current(&d->pub)->cfg, c);
	return ctl_cfgcmd_publish(d->cfgcmd, c, version, err, errlen);
}

static int start_acct(struct ctl_daemon *d, const struct cfg *c)
{
	struct ctl_acct_opts o;
	ctl_acct_opts_defaults(&o);
	o.dir = c->accounting.dir;
	o.max_bytes = (uint64_t)c->accounting.max_mb << 20;
	o.retention_s = (uint64_t)c->accounting.retention_days * 86400u;
	o.nslots = d->rt->n_workers;
	for (uint32_t i = 0; i < c->accounting.pseudonymise.n; i++)
		for (int f = 0; f < CTL_ACCT_FIELD__MAX; f++)
			if (strcmp(ctl_acct_field_str((enum ctl_acct_field)f), c->accounting.pseudonymise.v[i]) == 0)
				o.pseudo_fields |= CTL_ACCT_PSEUDO(f);
	const char *why;
	if (c->accounting.key_file[0] && keyfile_read(c->accounting.key_file, o.key, sizeof o.key, &why) < 0) {
		log_err("event=startup_failed reason=\"accounting.key_file %s: %s\"", c->accounting.key_file, why);
		return -1;
	}
	int err;
	d->acct = ctl_acct_new(&o, &err);
	return d->acct ? 0 : -1;
}

static int start_dns(struct ctl_daemon *d, const struct cfg *c)
{
	struct ctl_dns_opts o;
	ctl_dns_opts_defaults(&o);
	char *fwd = NULL;
	size_t len = 0;
	for (uint32_t i = 0; i < c->dns.forwarders.n; i++)
		len += strlen(c->dns.forwarders.v[i]) + 1;
	if (len && (fwd = calloc(1, len))) {
		for (uint32_t i = 0; i < c->dns.forwarders.n; i++) {
			if (i)
				strcat(fwd, ",");
			strcat(fwd, c->dns.forwarders.v[i]);
		}
	}
	o.forwarders = fwd;
	o.trust_anchor_file = c->dns.trust_anchor[0] ? c->dns.trust_anchor : NULL;
	o.unbound_conf = c->dns.unbound_conf[0] ? c->dns.unbound_conf : NULL;
	o.neg_ttl_max_s = c->dns.negative_ttl_max;
	o.fail_ttl_s = c->dns.failure_ttl;
	o.max_ttl_s = c->dns.max_ttl;
	o.timeout_ms = c->dns.timeout_ms;
	o.nworkers = d->rt->n_workers;
	int err;
	d->dns = ctl_dns_new(&o, &err);
	free(fwd);
	return d->dns ? 0 : -1;
}

static void mkdir_parent(const char *path)
{
	char *copy = strdup(path);
	if (copy) {
		mkdir(dirname(copy), 0700); /* an existing directory keeps its own mode */
		free(copy);
	}
}

static int start_plane(struct ctl_daemon *d, const struct cfg *c)
{
	char maddr[INET_ADDRSTRLEN] = "";
	struct ctl_plane_opts po = {
		.version = VERSION,
		.admin_socket = c->control.admin_socket,
		.audit_log = c->control.audit_log[0] ? c->control.audit_log : NULL,
		.metrics_port = (uint16_t)c->control.metrics_port,
	};
	if (c->control.metrics_listen.family) {
		inet_ntop(AF_INET, &c->control.metrics_listen.u.v4, maddr, sizeof(maddr));
		po.metrics_addr = maddr;
	}
	mkdir_parent(po.admin_socket);
	int err;
	d->plane = ctl_plane_new(&po, &d->pub, &err);
	if (!d->plane)
		return -1;
	unsigned ids[RTE_MAX_LCORE];
	for (uint16_t i = 0; i < d->rt->n_workers; i++) {
		struct dp_lcore *lc = d->rt->lc[i];
		ids[i] = lc->lcore_id;
		ctl_stats_add_block(ctl_plane_stats(d->plane), lc->lcore_id, lcore_fields,
				    sizeof(lcore_fields) / sizeof(lcore_fields[0]), lc);
		for (unsigned b = 0; b < lc->n_stats; b++)
			ctl_stats_add_block(ctl_plane_stats(d->plane), lc->lcore_id, lc->stats[b].fields,
					    lc->stats[b].n, lc->stats[b].base);
	}
	ctl_plane_set_lcores(d->plane, ids, d->rt->n_workers);
	ctl_plane_set_reload(d->plane, daemon_reload, d);
	return 0;
}

struct ctl_daemon *ctl_daemon_start(struct dp_rt *rt)
{
	const struct cfg *c = rt->cfg;
	struct ctl_daemon *d = calloc(1, sizeof(*d));
	if (!d)
		goto err;
	d->rt = rt;
	rcu_register_thread();
	cfg_pub_init(&d->pub);
	/* snapshot 1 borrows the start-up configuration: dpmaild_main frees it at exit */
	struct cfg_snapshot *s = cfg_snapshot_new((struct cfg *)c, NULL);
	char why[512] = "";
	if (!s)
		goto err;
	if (cfg_snapshot_build(s, cfg_builders, cfg_n_builders, why, sizeof(why)) < 0) {
		log_err("event=startup_failed reason=\"%s\"", why);
		cfg_snapshot_free(s);
		goto err;
	}
	cfg_publish(&d->pub, s);
	if (!(d->cfgcmd = ctl_cfgcmd_new(&d->pub, c->file)))
		goto err;
	for (uint16_t i = 0; i < rt->n_workers; i++)
		rt->lc[i]->pub = &d->pub;
	if (start_plane(d, c) < 0 || start_dns(d, c) < 0 ||
	    (c->accounting.dir[0] && start_acct(d, c) < 0))
		goto err;
	ctl_plane_catch_signal(d->plane, SIGUSR1); /* see ctl_plane_catch_signal */
	ctl_plane_attach_dns(d->plane, d->dns);
	for (uint16_t i = 0; i < rt->n_workers; i++)
		rt->lc[i]->dns = d->dns;   /* workers start after this: they see it from their first turn */
	ctl_cfgcmd_register(d->cfgcmd, ctl_plane_server(d->plane));
	if (!(d->wq = ctl_wq_new(rt->n_workers)))
		goto err;
	for (uint16_t i = 0; i < rt->n_workers; i++) {
		d->hooks[i] = (struct wq_hook){ d->wq, i };
		if (dp_lcore_add_poll(rt->lc[i], wq_serve_hook, &d->hooks[i]) < 0)
			goto err;
	}
	ctl_plane_attach_wq(d->plane, d->wq);
	for (; d->modules_started < ctl_n_modules; d->modules_started++)
		if (ctl_modules[d->modules_started].init(d) < 0) {
			log_err("event=startup_failed reason=\"control side of module %s\"",
				ctl_modules[d->modules_started].name);
			goto err;
		}
	ctl_plane_attach_acct(d->plane, d->acct);
	log_info("event=control_started admin_socket=%s metrics_port=%u snapshot=1",
		 c->control.admin_socket, ctl_plane_metrics_port(d->plane));
	return d;
err:
	log_err("event=startup_failed reason=\"control plane could not start (see above)\"");
	ctl_daemon_stop(d);
	return NULL;
}

int ctl_daemon_poll(struct ctl_daemon *d, int sfd, int timeout_ms)
{
	return ctl_plane_poll_fd(d->plane, sfd, timeout_ms, 0);
}

void ctl_daemon_signal(struct ctl_daemon *d, int signo) { ctl_plane_signal(d->plane, signo); }
struct cfg_pub *ctl_daemon_pub(struct ctl_daemon *d) { return &d->pub; }
struct ctl_plane *ctl_daemon_plane(struct ctl_daemon *d) { return d->plane; }
struct ctl_dns *ctl_daemon_dns(struct ctl_daemon *d) { return d->dns; }
struct ctl_acct *ctl_daemon_acct(struct ctl_daemon *d) { return d->acct; }
struct ctl_server *ctl_daemon_server(struct ctl_daemon *d) { return ctl_plane_server(d->plane); }
struct ctl_wq *ctl_daemon_wq(struct ctl_daemon *d) { return d->wq; }
struct dp_rt *ctl_daemon_rt(struct ctl_daemon *d) { return d->rt; }

void ctl_daemon_stop(struct ctl_daemon *d)
{
	if (!d)
		return;
	if (d->rt)
		for (uint16_t i = 0; i < d->rt->n_workers; i++)
			if (d->rt->lc[i])
				d->rt->lc[i]->pub = NULL;
	while (d->modules_started > 0) {
		const struct ctl_module *m = &ctl_modules[--d->modules_started];
		if (m->fini)
			m->fini(d);
	}
	ctl_plane_free(d->plane);
	ctl_wq_free(d->wq);
	ctl_dns_free(d->dns);
	ctl_acct_free(d->acct);
	if (d->rt) {
		cfg_pub_fini(&d->pub);
		rcu_unregister_thread();
	}
	ctl_cfgcmd_free(d->cfgcmd);
	free(d);
}
