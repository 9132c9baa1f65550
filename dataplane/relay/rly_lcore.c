/* SPDX-License-Identifier: MIT */
/*
 * rly_lcore.c: composition of one lcore's MTA (see rly_lcore.h). Start-up may block (spool
 * recovery reads every segment of this lcore); the per-turn poll never does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/cfg.h"
#include "config/cfg_params_relay.h"
#include "deliver/dlv.h"
#include "dkim/dkim.h"
#include "keyfile.h"
#include "log.h"
#include "main/dp.h"
#include "metrics/stats.h"
#include "net/tcp_lcore.h"
#include "relay/rly_lcore.h"
#include "snapshot/snapshot.h"
#include "sock/sock.h"
#include "spool/spool.h"
#include "tls/tls.h"

struct rly_lcore {
	struct dp_lcore *lc;
	struct spool *sp;
	struct tls_core *tls;
	struct dkim_signer_ctx *dk;
	struct rly_core *rly;
	struct dlv_engine *dlv;
	bool recovered;               /* the spool's live messages were handed to delivery */
	struct sock_net *sock;        /* posix backend only */
	struct conn_net net;
	struct rly_policy fallback;   /* no snapshot (tests): relay for nobody */
};

static int64_t wall_offset_us(void)
{
	struct timespec r, m;
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000 + (r.tv_nsec - m.tv_nsec) / 1000;
}

/* The spool's callbacks: delivery's commits (DSNs) carry DLV_COOKIE_BIT, the relay's don't. */
static void on_committed(void *arg, uint64_t cookie, int result, uint64_t qid)
{
	struct rly_lcore *st = arg;
	if (cookie & DLV_COOKIE_BIT)
		dlv_engine_spool_committed(st->dlv, cookie, result, qid);
	else
		rly_spool_committed(st->rly, cookie, result, qid);
}

static void on_body(void *arg, uint64_t cookie, int result, const uint8_t *data, uint32_t len)
{
	struct rly_lcore *st = arg;
	dlv_engine_spool_body(st->dlv, cookie, result, data, len);
}

static void on_queued(void *ctx, uint64_t qid)
{
	struct rly_lcore *st = ctx;
	dlv_engine_enqueue(st->dlv, qid);
}

static int spool_setup(struct rly_lcore *st, const struct cfg *c)
{
	struct spool_tunables t;
	struct spool_callbacks cb = { .committed = on_committed, .body = on_body, .arg = st };
	int err = 0;
	spool_tunables_defaults(&t);
	t.dir = c->spool.dir;
	t.segment_bytes = (uint64_t)c->spool.segment_mb << 20;
	t.min_free_bytes = (uint64_t)c->spool.min_free_mb << 20;
	t.encrypt = c->spool.encrypt;
	t.direct_io = (enum spool_direct_io)c->spool.direct_io;
	t.commit_delay_us = c->spool.commit_delay_us;
	t.read_cache_bytes = c->spool.read_cache_mb << 20;
	st->sp = spool_create(&t, st->lc->index, &cb, &err);
	if (!st->sp) {
		log_err("event=startup_failed reason=\"spool %s: %s\"", c->spool.dir, strerror(-err));
		return err;
	}
	uint32_t newest = 0;
	for (uint32_t i = 0; i < c->spool.keys.n; i++) {
		const struct cfg_spool_key *k = cfg_list_at(&cfg_spool_key_list, &c->spool.keys, i);
		uint8_t key[32];
		const char *why;
		if ((err = keyfile_read(k->file, key, sizeof key, &why)) < 0) {
			log_err("event=startup_failed reason=\"spool key %s: %s\"", k->file, why);
			return err;
		}
		err = spool_key_add(st->sp, (uint16_t)k->id, key);
		explicit_bzero(key, sizeof key);
		if (err < 0) {
			log_err("event=startup_failed reason=\"spool key %s: %s\"", k->file, strerror(-err));
			return err;
		}
		newest = k->id > newest ? k->id : newest;
	}
	if (newest && (err = spool_key_use(st->sp, (uint16_t)newest)) < 0)
		return err;
	if ((err = spool_recover(st->sp, dp_now_us())) < 0) {
		log_err("event=startup_failed reason=\"spool recovery in %s: %s\"", c->spool.dir,
			strerror(-err));
		return err;
	}
	return 0;
}

static int listen_all(struct rly_lcore *st, const struct cfg *c)
{
	const struct cfg_list *l = &c->smtp.listeners;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cfg_listener *li = cfg_list_at(&cfg_listener_list, l, i);
		int rc;
		if (st->sock) {
			struct conn_addr a = { .family = AF_INET, .port = htons((uint16_t)li->port) };
			a.ip.v4 = li->address.family ? li->address.u.v4 : c->port.ipv4.ip.u.v4;
			rc = sock_net_listen_addr(st->sock, &a, rly_accept, st->rly);
		} else {
			rc = st->net.ops->listen(st->net.impl, (uint16_t)li->port, rly_accept, st->rly);
		}
		if (rc < 0) {
			log_err("event=startup_failed reason=\"listen on port %u: %s\"", li->port,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

#define RS(f) offsetof(struct rly_stats, f)
static const struct ctl_stat_field rly_fields[] = {
	{ "smtp_sessions_total", "Inbound SMTP sessions accepted.", CTL_STAT_COUNTER, RS(sessions) },
	{ "smtp_sessions_refused_total", "Inbound sessions refused: no free slot.", CTL_STAT_COUNTER, RS(sessions_refused) },
	{ "smtp_sessions_active", "Inbound sessions open now.", CTL_STAT_GAUGE, RS(active) },
	{ "smtp_messages_total", "Messages accepted (250 after the spool commit).", CTL_STAT_COUNTER, RS(messages) },
	{ "smtp_messages_failed_total", "Messages answered 4xx/5xx at end of data.", CTL_STAT_COUNTER, RS(messages_failed) },
	{ "smtp_bytes_total", "Message octets accepted.", CTL_STAT_COUNTER, RS(bytes) },
	{ "smtp_relay_denied_total", "RCPTs refused: not a relay client.", CTL_STAT_COUNTER, RS(relay_denied) },
	{ "smtp_sender_denied_total", "Senders refused by domain policy.", CTL_STAT_COUNTER, RS(sender_denied) },
	{ "smtp_starttls_total", "STARTTLS handshakes completed.", CTL_STAT_COUNTER, RS(starttls) },
	{ "dkim_signed_total", "Messages DKIM-signed.", CTL_STAT_COUNTER, RS(dkim_signed) },
	{ "dkim_unsigned_total", "Messages passed unsigned (no key, or policy pass).", CTL_STAT_COUNTER, RS(dkim_unsigned) },
	{ "dkim_rejected_total", "Messages refused: no or several From: headers.", CTL_STAT_COUNTER, RS(dkim_rejected) },
	{ "spool_stage_full_total", "Messages refused because the spool stage was full.", CTL_STAT_COUNTER, RS(stage_full) },
};
#define DS(f) offsetof(struct dlv_stats, f)
static const struct ctl_stat_field dlv_fields[] = {
	{ "delivery_jobs_total", "Delivery jobs created (recipients of one message at one domain).", CTL_STAT_COUNTER, DS(jobs) },
	{ "delivery_delivered_total", "Recipients delivered.", CTL_STAT_COUNTER, DS(delivered) },
	{ "delivery_bounced_total", "Recipients bounced (5xx, null MX, NXDOMAIN).", CTL_STAT_COUNTER, DS(bounced) },
	{ "delivery_expired_total", "Recipients expired (maximum age).", CTL_STAT_COUNTER, DS(expired) },
	{ "delivery_deferred_total", "Recipient deferrals (4xx, connection failures).", CTL_STAT_COUNTER, DS(deferred) },
	{ "delivery_dsn_total", "Delivery status notifications queued.", CTL_STAT_COUNTER, DS(dsn_sent) },
	{ "delivery_connections_total", "Outbound connections opened.", CTL_STAT_COUNTER, DS(conns_opened) },
	{ "delivery_connections_failed_total", "Destinations whose every hop failed.", CTL_STAT_COUNTER, DS(conns_failed) },
	{ "delivery_connections_refused_busy_total", "New connections refused while others to the destination worked (concurrency feedback).", CTL_STAT_COUNTER, DS(conns_refused_busy) },
	{ "delivery_connections_reused_total", "Messages sent on an already used connection.", CTL_STAT_COUNTER, DS(conns_reused) },
	{ "delivery_tls_total", "Outbound TLS sessions.", CTL_STAT_COUNTER, DS(tls_sessions) },
	{ "delivery_tls_verified_total", "Outbound TLS sessions with a verified peer.", CTL_STAT_COUNTER, DS(tls_verified) },
	{ "delivery_mta_sts_enforced_total", "Verified TLS sessions under an MTA-STS enforce policy.", CTL_STAT_COUNTER, DS(sts_enforced) },
	{ "delivery_mta_sts_mx_refused_total", "MX hosts skipped: not in the domain's MTA-STS enforce policy.", CTL_STAT_COUNTER, DS(sts_mx_refused) },
	{ "delivery_mta_sts_testing_failed_total", "MTA-STS testing-mode checks that failed (mail delivered anyway).", CTL_STAT_COUNTER, DS(sts_testing_failed) },
	{ "delivery_queued", "Delivery jobs queued now.", CTL_STAT_GAUGE, DS(queued) },
	{ "delivery_connections_active", "Outbound connections open now.", CTL_STAT_GAUGE, DS(active_conns) },
};

static int rly_lcore_poll(void *ctx, uint64_t now)
{
	struct rly_lcore *st = ctx;
	const struct cfg_snapshot *snap = st->lc->snap;
	const struct rly_policy *pol = rly_snap_policy(snap);
	rly_core_set_policy(st->rly, pol ? pol : &st->fallback, snap ? snap->version : 0);
	dlv_engine_set_policy(st->dlv, dlv_snap_policy(snap));
	dlv_engine_set_dns(st->dlv, st->lc->dns);
	if (!st->recovered) {
		/* First turn: the policy is known now; hand over what the spool recovered. */
		st->recovered = true;
		dlv_engine_recover(st->dlv, now);
	}
	int work = 0;
	rly_core_set_now(st->rly, now);
	struct dp_lcore *lc = st->lc;
	if (st->sock)
		work += dp_lcore_busy(lc, DP_BUSY_SOCK, sock_net_poll(st->sock, now, 0));
	work += dp_lcore_busy(lc, DP_BUSY_SMTP, rly_core_poll(st->rly, now));
	work += dp_lcore_busy(lc, DP_BUSY_DELIVERY, dlv_engine_poll(st->dlv, now));
	work += dp_lcore_busy(lc, DP_BUSY_SPOOL, spool_poll(st->sp, now));
	/* Last: seals the partial records everything above produced this turn (replies, message
	 * pieces) and pushes them to the transport, one record per connection per turn. */
	tls_core_poll(st->tls, now);
	/* Work this lcore can do next turn keeps the loop from sleeping (a staged batch, a
	 * signature waiting); a write or fdatasync in flight does not: it completes in the kernel
	 * and the next turn after the idle sleep reaps it (spinning on it cost a whole core). */
	return work + dp_lcore_busy(lc, DP_BUSY_RUNNABLE,
				    spool_runnable(st->sp) || rly_core_busy(st->rly));
}

/* Idle turns on the posix backend block in epoll (woken by the first ready socket or spool
 * completion) instead of sleeping a fixed time and polling again; how long (deepening over a
 * long idle stretch) is the loop's rule (dp_lcore_idle). > 0: an event ended the wait. */
static int rly_lcore_idle_wait(void *ctx, uint32_t max_us)
{
	struct rly_lcore *st = ctx;
	return sock_net_wait(st->sock, max_us) > 0;
}

static void rly_params_from_cfg(struct rly_params *p, const struct cfg *c)
{
	rly_params_defaults(p);
	p->max_sessions = c->limits.max_sessions;
	p->limits.message_max = c->limits.max_message_size;
	p->limits.rcpt_max = c->limits.max_recipients;
	p->limits.cmd_timeout_us = (uint64_t)c->limits.idle_timeout * 1000000;
	p->limits.errors_max = c->limits.max_errors;
	p->wall_offset_us = wall_offset_us();
}

void *rly_lcore_init(struct dp_lcore *lc, const struct cfg *c, int *err)
{
	if (c->smtp.listeners.n == 0)
		return NULL;   /* no SMTP listener configured: the module stays out of the loop */
	struct rly_lcore *st = calloc(1, sizeof(*st));
	if (!st) {
		*err = -ENOMEM;
		return NULL;
	}
	st->lc = lc;
	st->fallback.hostname = "localhost";
	if ((*err = spool_setup(st, c)) < 0)
		goto err;
	struct tls_core_cfg tc;
	struct dkim_params dp;
	struct rly_params rp;
	tls_core_cfg_defaults(&tc);
	tc.gcm_records = c->tls.batched_records;
	tc.gcm_batch_sessions = c->tls.batch_across_sessions;
	dkim_params_defaults(&dp);
	dp.hdr_canon = c->dkim.canonicalization <= CFG_DKIM_RELAXED_SIMPLE ? DKIM_CANON_RELAXED_
									 : DKIM_CANON_SIMPLE_;
	dp.body_canon = c->dkim.canonicalization == CFG_DKIM_RELAXED_RELAXED ||
			c->dkim.canonicalization == CFG_DKIM_SIMPLE_RELAXED ? DKIM_CANON_RELAXED_
									    : DKIM_CANON_SIMPLE_;
	rly_params_from_cfg(&rp, c);
	rp.queued = on_queued;
	rp.queued_ctx = st;
	st->tls = tls_core_new(&tc);
	st->dk = dkim_signer_new(&dp, rp.wall_offset_us);
	st->rly = st->tls && st->dk ? rly_core_new(&rp, st->sp, st->dk, st->tls, err) : NULL;
	if (!st->rly) {
		*err = *err ? *err : -ENOMEM;
		goto err;
	}
	rly_core_set_now(st->rly, dp_now_us()); /* start-up time until the first turn */
	rly_core_set_policy(st->rly, &st->fallback, 0);
	if (c->dataplane.backend == CFG_BACKEND_POSIX) {
		struct sock_tunables t;
		sock_tunables_defaults(&t);
		t.reuseport = 1;   /* one listener per worker; the kernel spreads connections */
		if (!(st->sock = sock_net_create(&t, err)))
			goto err;
		st->net = sock_net_conn_net(st->sock);
		dp_lcore_set_idle_wait(lc, rly_lcore_idle_wait, st);
		/* a spool completion (fdatasync done: 250s to send) ends the idle wait too */
		sock_net_watch_wakeup(st->sock, spool_wakeup_fd(st->sp));
	} else {
		struct conn_net *tcp = tcp_lcore_net(lc);
		if (!tcp) {
			log_err("event=startup_failed reason=\"the mta module needs the tcp module\"");
			*err = -ENOENT;
			goto err;
		}
		st->net = *tcp;
		/* with RX interrupts the idle wait also ends for a spool completion (-ENOTSUP: the
		 * idle turns sleep a fixed time, which bounds the delay) */
		dp_lcore_add_wakeup_fd(lc, spool_wakeup_fd(st->sp));
	}
	struct dlv_params dp2;
	dlv_params_defaults(&dp2);
	dp2.lcore_index = lc->index;
	dp2.n_lcores = c->dataplane.workers.n;
	dp2.dns_slot = lc->index;
	dp2.wall_offset_us = rp.wall_offset_us;
	if (!(st->dlv = dlv_engine_new(&dp2, st->sp, st->tls, st->net, err)))
		goto err;
	dp_lcore_add_stats(lc, rly_fields, sizeof(rly_fields) / sizeof(rly_fields[0]), rly_core_stats(st->rly));
	dp_lcore_add_stats(lc, dlv_fields, sizeof(dlv_fields) / sizeof(dlv_fields[0]), dlv_engine_stats(st->dlv));
	if ((*err = listen_all(st, c)) < 0 || (*err = dp_lcore_add_poll(lc, rly_lcore_poll, st)) < 0)
		goto err;
	return st;
err:
	rly_lcore_fini(lc, st);
	return NULL;
}

struct dlv_engine *rly_lcore_dlv(void *state)
{
	return state ? ((struct rly_lcore *)state)->dlv : NULL;
}

void rly_lcore_fini(struct dp_lcore *lc, void *state)
{
	struct rly_lcore *st = state;
	if (!st)
		return;
	if (st->sock)
		sock_net_free(st->sock);   /* aborts its conns: sessions are told first */
	rly_core_free(st->rly);
	dlv_engine_free(st->dlv);      /* closes its body readers: the spool must still exist */
	/* spool_free waits for the writes in flight without calling back (polling here would call
	 * back into the relay and delivery engine just freed); what it drops was never
	 * acknowledged. */
	spool_free(st->sp);
	if (st->tls)
		tls_core_free(st->tls);
	if (st->dk)
		dkim_signer_free(st->dk);
	free(st);
}
