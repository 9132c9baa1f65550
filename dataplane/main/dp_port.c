/* SPDX-License-Identifier: MIT */
/*
 * dp_port.c: the network port: found by its DPDK device name, configured with one RX/TX queue
 * pair per worker (RSS across them when there are several), checksum offloads enabled where
 * the PMD has them, RX queue interrupts requested unless dataplane.rx_interrupts is off
 * (dp_rxintr.c), started, and its MAC address and offloads recorded in every worker's net_if.
 */
#include "main/dp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "config/cfg.h"
#include "log.h"
#include "net/arp.h"
#include "net/net.h"

static void available_ports(char *names, size_t len)
{
	size_t off = 0;
	names[0] = 0;
	uint16_t pid;
	RTE_ETH_FOREACH_DEV(pid) {
		char n[RTE_ETH_NAME_MAX_LEN];
		if (rte_eth_dev_get_name_by_port(pid, n) == 0 && off < len)
			off += (size_t)snprintf(names + off, len - off, "%s%s", off ? "," : "", n);
	}
}

static int port_configure(struct dp_rt *rt, struct rte_eth_dev_info *info)
{
	const struct cfg *c = rt->cfg;
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = c->port.mtu;
	/* memif moves frames of any size (chained descriptors) yet reports a 1518-byte maximum
	 * frame in DPDK 22.11: configure the device at its maximum and let IP use port.mtu (a
	 * jumbo MTU between two local processes). Real NICs keep the strict check. */
	uint32_t dev_max = info->max_mtu;
	if (info->max_rx_pktlen > RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN &&
	    info->max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN < dev_max)
		dev_max = info->max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN;
	if (c->port.mtu > dev_max && info->driver_name &&
	    strcmp(info->driver_name, "net_memif") == 0) {
		log_info("event=port_mtu device_max=%u ip_mtu=%u port=%s", dev_max, c->port.mtu,
			 c->port.device);
		conf.rxmode.mtu = dev_max;
	}
	uint64_t rx_want = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	uint64_t tx_want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	conf.rxmode.offloads = info->rx_offload_capa & rx_want;
	conf.txmode.offloads = info->tx_offload_capa & tx_want;
	/* Several queues: RSS where the PMD hashes; otherwise (TAP) the kernel spreads flows. */
	uint64_t rss = info->flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	if (rt->n_workers > 1 && rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	dp_rxintr_port_conf(c, &conf);
	int rc = rte_eth_dev_configure(rt->port_id, rt->n_workers, rt->n_workers, &conf);
	if (rc < 0 && conf.intr_conf.rxq && c->dataplane.rx_interrupts == CFG_RX_INTR_AUTO) {
		log_info("event=rx_interrupts state=off port=%s reason=\"configure refused them: %s\"",
			 c->port.device, strerror(-rc));
		conf.intr_conf.rxq = 0;
		rc = rte_eth_dev_configure(rt->port_id, rt->n_workers, rt->n_workers, &conf);
	}
	if (rc < 0) {
		log_err("event=startup_failed reason=\"port configure failed: %s\" port=%s queues=%u",
			strerror(-rc), c->port.device, rt->n_workers);
		return -1;
	}
	uint16_t nrx = (uint16_t)c->port.rx_desc, ntx = (uint16_t)c->port.tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(rt->port_id, &nrx, &ntx);
	for (uint16_t q = 0; q < rt->n_workers; q++) {
		struct dp_lcore *lc = rt->lc[q];
		struct rte_eth_rxconf rxc = info->default_rxconf;
		struct rte_eth_txconf txc = info->default_txconf;
		rxc.offloads = conf.rxmode.offloads;
		txc.offloads = conf.txmode.offloads;
		if ((rc = rte_eth_rx_queue_setup(rt->port_id, q, nrx, lc->socket_id, &rxc, lc->pool)) < 0 ||
		    (rc = rte_eth_tx_queue_setup(rt->port_id, q, ntx, lc->socket_id, &txc)) < 0) {
			log_err("event=startup_failed reason=\"queue setup failed: %s\" port=%s queue=%u",
				strerror(-rc), c->port.device, q);
			return -1;
		}
	}
	return 0;
}

/* Give every worker its net_if on the started port. */
static int nifs_init(struct dp_rt *rt, const struct rte_eth_dev_info *info)
{
	const struct cfg *c = rt->cfg;
	struct net_if_conf nc;
	memset(&nc, 0, sizeof(nc));
	nc.port_id = rt->port_id;
	rte_eth_macaddr_get(rt->port_id, &nc.mac);
	nc.ip = c->port.ipv4.ip.u.v4;
	nc.prefix_len = c->port.ipv4.len;
	for (uint32_t i = 0; i < c->port.extra_ipv4.n && i < NET_EXTRA_IP_MAX; i++) {
		struct in_addr a = { 0 };
		inet_pton(AF_INET, c->port.extra_ipv4.v[i], &a);   /* validated by the config */
		nc.extra_ip[nc.n_extra_ip++] = a.s_addr;
	}
	nc.gateway = c->port.gateway.family ? c->port.gateway.u.v4 : 0;
	nc.mtu = (uint16_t)c->port.mtu;
	nc.ttl = 64;
	nc.tx_ip_cksum_offload = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	nc.tx_tcp_cksum_offload = info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	nc.arp = (struct arp_params){ c->arp.reachable_ms, c->arp.retry_ms, c->arp.max_retries,
				      c->arp.hold };
	for (uint16_t q = 0; q < rt->n_workers; q++) {
		nc.queue_id = q;
		nc.pool = rt->lc[q]->pool;
		if (net_if_init(&rt->lc[q]->nif, &nc) < 0) {
			log_err("event=startup_failed reason=\"bad interface parameters\"");
			return -1;
		}
	}
	for (uint16_t q = 0; q < rt->n_workers; q++) {
		struct rte_ring *peers[RTE_MAX_LCORE];
		unsigned n = 0;
		for (uint16_t o = 0; o < rt->n_workers; o++)
			if (o != q)
				peers[n++] = rt->lc[o]->neigh;
		if (net_if_set_peers(&rt->lc[q]->nif, rt->lc[q]->neigh, peers, n) < 0) {
			log_err("event=startup_failed reason=\"more than %d workers on one port\"",
				NET_PEERS_MAX + 1);
			return -1;
		}
	}
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	rte_ether_format_addr(mac, sizeof(mac), &nc.mac);
	log_info("event=port_up port=%s port_id=%u mac=%s queues=%u tcp_cksum_offload=%d",
		 c->port.device, rt->port_id, mac, rt->n_workers, nc.tx_tcp_cksum_offload);
	return 0;
}

/* Starts the port. A net_memif client (role=client in its devargs) connects to its server's
 * socket when started and fails when the socket is not there yet (the server is another
 * process, e.g. VPP or dpmail-bench, that may start later or restart): it is retried every
 * 100 ms for up to 30 s (start-up may block). A started client whose handshake then fails (the
 * server refused it, e.g. while its own port was still starting) stays down for good: DPDK
 * 22.11's memif client never reconnects. So a client whose link is not up within
 * MEMIF_LINK_WAIT_MS is stopped and started again, within the same 30 s; after them the port
 * runs as it is (down) and says so. 0 or -errno. */
#define MEMIF_CLIENT_WAIT_TRIES 300
#define MEMIF_LINK_WAIT_MS 2000
static bool memif_client(const struct cfg *c, const struct rte_eth_dev_info *info)
{
	size_t dl = strlen(c->port.device);
	for (uint32_t i = 0; i < c->eal.vdevs.n && strcmp(info->driver_name, "net_memif") == 0; i++) {
		const char *v = c->eal.vdevs.v[i];
		if (strncmp(v, c->port.device, dl) == 0 && v[dl] == ',' && strstr(v, ",role=client"))
			return true;
	}
	return false;
}

bool dp_port_link_up_within(uint16_t port_id, int ms)
{
	for (int t = 0; t <= ms; t += 10) {
		struct rte_eth_link link = { 0 };
		if (rte_eth_link_get_nowait(port_id, &link) == 0 && link.link_status)
			return true;
		rte_delay_us_sleep(10000);
	}
	return false;
}

static int port_start(struct dp_rt *rt, const struct rte_eth_dev_info *info)
{
	const struct cfg *c = rt->cfg;
	int rc = rte_eth_dev_start(rt->port_id);
	if (!memif_client(c, info))
		return rc;
	int tries = 0;	/* in 100 ms steps */
	while (tries < MEMIF_CLIENT_WAIT_TRIES) {
		if (rc < 0) {
			if (tries == 0)
				log_info("event=port_waiting port=%s reason=\"memif client: no server "
					 "at its socket yet\" wait_s=%d", c->port.device,
					 MEMIF_CLIENT_WAIT_TRIES / 10);
			rte_delay_us_sleep(100000);
			tries++;
			rc = rte_eth_dev_start(rt->port_id);
			continue;
		}
		if (dp_port_link_up_within(rt->port_id, MEMIF_LINK_WAIT_MS))
			return 0;
		tries += MEMIF_LINK_WAIT_MS / 100;
		log_warn("event=port_restart port=%s reason=\"memif client: started but no link "
			 "within %d ms (handshake refused or lost)\"", c->port.device, MEMIF_LINK_WAIT_MS);
		rte_eth_dev_stop(rt->port_id);
		rc = rte_eth_dev_start(rt->port_id);
	}
	if (rc == 0)
		log_warn("event=port_link_down port=%s reason=\"memif client: no link after %d s; "
			 "running with the link down\"", c->port.device, MEMIF_CLIENT_WAIT_TRIES / 10);
	return rc;
}

int dp_port_start(struct dp_rt *rt)
{
	const struct cfg *c = rt->cfg;
	struct rte_eth_dev_info info;
	if (rte_eth_dev_get_port_by_name(c->port.device, &rt->port_id) != 0) {
		char names[512];
		available_ports(names, sizeof(names));
		log_err("event=startup_failed reason=\"port '%s' not found\" available=\"%s\"",
			c->port.device, names);
		return -1;
	}
	int rc = rte_eth_dev_info_get(rt->port_id, &info);
	if (rc < 0) {
		log_err("event=startup_failed reason=\"port info: %s\"", strerror(-rc));
		return -1;
	}
	if (rt->n_workers > info.max_rx_queues || rt->n_workers > info.max_tx_queues) {
		log_err("event=startup_failed reason=\"port '%s' has %u rx / %u tx queues, %u workers need one each\"",
			c->port.device, info.max_rx_queues, info.max_tx_queues, rt->n_workers);
		return -1;
	}
	if (port_configure(rt, &info) < 0)
		return -1;
	if ((rc = port_start(rt, &info)) < 0) {
		log_err("event=startup_failed reason=\"port '%s' failed to start: %s\"", c->port.device,
			strerror(-rc));
		return -1;
	}
	rt->port_started = true;
	if (nifs_init(rt, &info) < 0)
		return -1;
	return dp_rxintr_start(rt, &info);
}

void dp_port_stop(struct dp_rt *rt)
{
	if (!rt->port_started)
		return;
	rte_eth_dev_stop(rt->port_id);
	rte_eth_dev_close(rt->port_id);
	rt->port_started = false;
}
