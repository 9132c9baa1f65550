/* SPDX-License-Identifier: MIT */
/*
 * tcp_lcore.c: glue between the TCP stack and a worker lcore (see tcp_lcore.h). Owns the
 * stack, its mbuf pool, the hand-off ring of the worker, and the test services when the
 * configuration enables them. Everything here is created on the main lcore before the workers
 * start and used only by its worker afterwards; the table of rings is written once at start-up
 * and only read later.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/cfg.h"
#include "log.h"
#include "main/dp.h"
#include "net/ip.h"
#include "net/tcp_impl.h"
#include "net/tcp_lcore.h"
#include "net/tcp_rss.h"
#include "net/tcp_testsvc.h"
#include "sock/sock.h"

#define HANDOFF_RING 4096
#define HANDOFF_BURST 32

struct tcp_lcore {
	struct net_if *nif;
	struct tcp_stack *st;
	struct rte_mempool *pool;
	struct rte_ring *ring;         /* segments other workers received for our flows */
	struct tcp_rss rss;
	uint16_t nworkers;
	struct tcp_testsvc *svc;
	struct sock_net *sock;         /* posix backend: the test services' kernel sockets */
	struct conn_net sock_net;
	uint64_t handed_off, handoff_drops;
};

/* Rings of every worker, by worker index: written at start-up, read by the workers. */
static struct rte_ring *handoff[RTE_MAX_LCORE];

void tcp_tunables_from_cfg(struct tcp_tunables *t, const struct cfg *c, uint16_t l4_mtu)
{
	const struct cfg_tcp *k = &c->tcp;
	tcp_tunables_defaults(t);
	t->max_conns = k->max_conns;
	t->max_time_wait = k->max_time_wait;
	t->max_syn_rcvd = k->max_syn_rcvd;
	t->backlog = k->backlog;
	t->syncookies = k->syncookies;
	t->snd_buf = k->snd_buf;
	t->rcv_buf = k->rcv_buf;
	t->rcv_mem_total = k->rcv_mem_mb << 20;
	t->ooo_max_segs = k->ooo_max_segs;
	t->timestamps = k->timestamps;
	t->sack = k->sack;
	t->window_scaling = k->window_scaling;
	t->time_wait_ms = k->time_wait_ms;
	t->fin_wait2_ms = k->fin_wait2_ms;
	t->rto_init_ms = k->rto_init_ms;
	t->rto_min_ms = k->rto_min_ms;
	t->rto_max_ms = k->rto_max_ms;
	t->syn_timeout_ms = k->syn_timeout_ms;
	t->user_timeout_ms = k->user_timeout_ms;
	t->delack_ms = k->delack_ms;
	t->trusted_link = k->trusted_link;
	t->stretch_ack = 1; /* poll_tcp runs right after each receive burst */
	t->mss = (uint16_t)(l4_mtu - 20 > TCP_MAX_MSS ? TCP_MAX_MSS : l4_mtu - 20);
}

/* The stack's output: into the worker's IPv4 layer. */
static int out_ip(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	return ip_output(ctx, m, src, dst, IPPROTO_TCP);
}

static void in_tcp(void *ctx, struct rte_mbuf *m, const struct ip_rx_info *info)
{
	struct tcp_lcore *tl = ctx;
	if (tl->nworkers > 1 && rte_pktmbuf_data_len(m) >= 4) {
		const uint16_t *ports = rte_pktmbuf_mtod(m, const uint16_t *);
		uint16_t owner = tcp_rss_owner(&tl->rss, info->src, info->dst, ports[0], ports[1]);
		if (owner != tl->rss.self) {
			/* the addresses ride along in the mbuf's hash fields */
			m->hash.fdir.lo = info->src;
			m->hash.fdir.hi = info->dst;
			if (rte_ring_mp_enqueue(handoff[owner], m) < 0) {
				tl->handoff_drops++;
				rte_pktmbuf_free(m);
			} else {
				tl->handed_off++;
			}
			return;
		}
	}
	tcp_input(tl->st, m, info->src, info->dst, tl->nif->now_us);
}

static void icmp_err(void *ctx, const struct icmp_err_info *e)
{
	struct tcp_lcore *tl = ctx;
	if (e->l4_len < 8)
		return;
	uint16_t sport, dport;
	uint32_t seq;
	memcpy(&sport, e->l4, 2);
	memcpy(&dport, e->l4 + 2, 2);
	memcpy(&seq, e->l4 + 4, 4);
	tcp_icmp_error(tl->st, e->src, e->dst, sport, dport, rte_be_to_cpu_32(seq), e->type,
		       e->code, e->next_mtu);
}

static int poll_tcp(void *ctx, uint64_t now)
{
	struct tcp_lcore *tl = ctx;
	int work = 0;
	if (tl->ring) {
		struct rte_mbuf *ms[HANDOFF_BURST];
		unsigned n = rte_ring_sc_dequeue_burst(tl->ring, (void **)ms, HANDOFF_BURST, NULL);
		for (unsigned i = 0; i < n; i++)
			tcp_input(tl->st, ms[i], ms[i]->hash.fdir.lo, ms[i]->hash.fdir.hi, now);
		work += (int)n;
	}
	if (tl->sock) {
		int n = sock_net_poll(tl->sock, now, 0);
		work += n > 0 ? n : 0;
	} else {
		tcp_poll(tl->st, now);
	}
	if (tl->svc)
		tcp_testsvc_poll(tl->svc, now);
	return work;
}

#define C(name) { #name, offsetof(struct tcp_counters, name) }
static const struct { const char *name; size_t off; } stat_keys[] = {
	C(rx_segs), C(tx_segs), C(rx_bytes), C(tx_bytes), C(rtx_timeouts), C(rtx_segs),
	C(fast_rtx), C(rtx_lost), C(tlp_probes), C(partial_acks), C(dupacks_rx), C(rx_bad_csum), C(rx_bad_hdr),
	C(rx_bad_opts), C(rx_no_flow), C(rx_unacceptable), C(rx_paws_drop), C(rx_ooo_segs),
	C(rx_ooo_drop), C(rx_dup_bytes), C(rx_mem_drop), C(tx_rst), C(tx_challenge_ack),
	C(tx_acks), C(tx_delacks), C(tx_win_updates), C(tx_zwp), C(tx_nombuf), C(tx_err),
	C(syn_rcvd), C(syn_dropped_full), C(syncookies_sent), C(syncookies_ok),
	C(syncookies_failed), C(accepted), C(accept_refused), C(active_opens),
	C(conn_timeouts), C(conn_resets), C(conn_refused), C(conn_nomem), C(tw_created),
	C(tw_reused), C(tw_expired), C(fw2_timeouts), C(closed),
};
#undef C

/* One key=value line with every counter (start-up/shutdown path: formatting allowed). */
static void tcp_lcore_log_stats(const struct tcp_lcore *tl, unsigned lcore_id)
{
	char line[2048];
	size_t n = (size_t)snprintf(line, sizeof(line), "event=tcp_stats lcore=%u conns=%u time_wait=%u "
				    "handed_off=%llu handoff_drops=%llu", lcore_id,
				    tcp_stack_nconns(tl->st), tcp_stack_ntw(tl->st),
				    (unsigned long long)tl->handed_off,
				    (unsigned long long)tl->handoff_drops);
	const char *k = (const char *)tcp_stack_counters(tl->st);
	for (size_t i = 0; i < sizeof(stat_keys) / sizeof(stat_keys[0]) && n < sizeof(line); i++) {
		uint64_t v;
		memcpy(&v, k + stat_keys[i].off, sizeof(v));
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu", stat_keys[i].name,
				      (unsigned long long)v);
	}
	log_info("%s ", line);
}

static void tl_free(struct tcp_lcore *tl)
{
	/* first: they tell the services' connections they are closed */
	if (tl->st)
		tcp_stack_free(tl->st);
	if (tl->sock)
		sock_net_free(tl->sock);
	if (tl->svc)
		tcp_testsvc_free(tl->svc);
	rte_ring_free(tl->ring);
	rte_mempool_free(tl->pool);
	free(tl);
}

/* Last step of both constructors: the loop hook, or the unwinding of tl after error e. */
static void *attach(struct dp_lcore *lc, struct tcp_lcore *tl, int e, int *err)
{
	if (e >= 0 && (e = dp_lcore_add_poll(lc, poll_tcp, tl)) >= 0)
		return tl;
	tl_free(tl);
	*err = e;
	return NULL;
}

/* Posix backend: the kernel does TCP; only the test services run, on kernel sockets. */
static void *posix_init(struct dp_lcore *lc, const struct cfg *c, int *err)
{
	struct sock_tunables t;
	int e = 0;
	struct tcp_lcore *tl = calloc(1, sizeof(*tl));
	if (!tl) {
		*err = -ENOMEM;
		return NULL;
	}
	tl->nworkers = (uint16_t)c->dataplane.workers.n;
	sock_tunables_defaults(&t);
	t.max_conns = c->tcp.max_conns;
	t.reuseport = tl->nworkers > 1;
	if ((tl->sock = sock_net_create(&t, &e))) {
		tl->sock_net = sock_net_conn_net(tl->sock);
		tl->svc = tcp_testsvc_create(&tl->sock_net, c, lc->index, &e);
	}
	return attach(lc, tl, tl->svc ? 0 : (e ? e : -ENOMEM), err);
}

void *tcp_lcore_init(struct dp_lcore *lc, const struct cfg *c, int *err)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct tcp_tunables t;
	int e = -ENOMEM;
	if (c->dataplane.backend != CFG_BACKEND_DPDK)
		return tcp_testsvc_wanted(c) ? posix_init(lc, c, err) : NULL;
	struct tcp_lcore *tl = calloc(1, sizeof(*tl));
	if (!tl)
		goto err;
	tl->nif = &lc->nif;
	tl->nworkers = (uint16_t)c->dataplane.workers.n;
	snprintf(name, sizeof(name), "tcp_%u", lc->index);
	tcp_tunables_from_cfg(&t, c, ip_l4_mtu(tl->nif));
	/* A segment is one mbuf: room for the MSS, headers and options (jumbo on a jumbo port). */
	uint32_t room = RTE_PKTMBUF_HEADROOM + t.mss + 60 + 40;
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE)
		room = RTE_MBUF_DEFAULT_BUF_SIZE;
	tl->pool = rte_pktmbuf_pool_create(name, c->tcp.mbufs, c->dataplane.mbuf_cache, 0,
					   (uint16_t)room, (int)lc->socket_id);
	if (!tl->pool) {
		log_err("event=startup_failed reason=\"tcp pool of %u mbufs: %s\"", c->tcp.mbufs,
			rte_strerror(rte_errno));
		goto err_free;
	}
	t.tx_cksum_offload = ip_tx_l4_cksum_offload(tl->nif, IPPROTO_TCP);
	tl->st = tcp_stack_create(&t, tl->pool, tl->nif->ip, out_ip, tl->nif, tl->nif->now_us, &e);
	if (!tl->st) {
		log_err("event=startup_failed reason=\"tcp stack: %s\"", strerror(-e));
		goto err_free;
	}
	if (tl->nworkers > 1) {
		tcp_rss_init_sw(&tl->rss, tl->nworkers, lc->index);
		tcp_stack_set_rss(tl->st, &tl->rss);
		snprintf(name, sizeof(name), "tcp_ho_%u", lc->index);
		tl->ring = rte_ring_create(name, HANDOFF_RING, (int)lc->socket_id, RING_F_SC_DEQ);
		if (!tl->ring)
			goto err_free;
		handoff[lc->index] = tl->ring;
	}
	if (tcp_testsvc_wanted(c)) {
		tl->svc = tcp_testsvc_create(tcp_stack_net(tl->st), c, lc->index, &e);
		if (!tl->svc)
			goto err_free;
	}
	ip_register_l4(tl->nif, IPPROTO_TCP, in_tcp, tl);
	ip_register_icmp_err(tl->nif, IPPROTO_TCP, icmp_err, tl);
	return attach(lc, tl, 0, err);
err_free:
	return attach(lc, tl, e, err);
err:
	*err = e;
	return NULL;
}

void tcp_lcore_fini(struct dp_lcore *lc, void *state)
{
	struct tcp_lcore *tl = state;
	if (!tl)
		return;
	if (tl->sock) {
		tl_free(tl);
		return;
	}
	tcp_lcore_log_stats(tl, lc->lcore_id);
	ip_register_l4(tl->nif, IPPROTO_TCP, NULL, NULL);
	handoff[lc->index] = NULL;
	tl_free(tl);
}

struct tcp_stack *tcp_lcore_stack(struct dp_lcore *lc)
{
	struct tcp_lcore *tl = dp_lcore_module_state(lc, "tcp");
	return tl ? tl->st : NULL; /* NULL on the posix backend */
}

struct conn_net *tcp_lcore_net(struct dp_lcore *lc)
{
	struct tcp_stack *st = tcp_lcore_stack(lc);
	return st ? tcp_stack_net(st) : NULL;
}
