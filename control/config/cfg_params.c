/* SPDX-License-Identifier: MIT */
/*
 * cfg_params.c: the parameter table (one entry per configuration key) and the cross-field
 * validators of the dataplane sections. This table is the single source of the keys, their
 * types, defaults, ranges and descriptions: the loader reads it, and docs/configuration.md is
 * generated from it (dpmaild --dump-config-doc). To add a section, see the header of
 * docs/configuration.md.
 */
#include "config/cfg.h"
#include "config/cfg_params_control.h"
#include "config/cfg_params_relay.h"
#include "config/cfg_params_tcp.h"
#include "cluster/ctl_cluster.h"
#include "sts/sts_params.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <sys/socket.h>

#define F(field) offsetof(struct cfg, field)

static const char *const backends[] = { "dpdk", "posix", NULL };
static const char *const rx_intr_modes[] = { "auto", "on", "off", NULL };
static const char *const log_levels[] = { "err", "warn", "info", "debug", NULL };

static const struct cfg_param eal_params[] = {
	{ "vdevs", CFG_T_STRV, "[]", 0, 0, F(eal.vdevs), 0, NULL, NULL,
	  "Virtual devices to create, each passed to EAL as --vdev (e.g. \"net_tap0,iface=dtap0\")." },
	{ "args", CFG_T_STRV, "[]", 0, 0, F(eal.args), 0, NULL, NULL,
	  "Extra EAL arguments, appended after the ones dpmaild builds (e.g. [\"--log-level=lib.eal:debug\"])." },
	{ "hugepages", CFG_T_BOOL, "false", 0, 0, F(eal.hugepages), 0, NULL, NULL,
	  "Use hugepages. When false, EAL runs with --no-huge and memory_mb of ordinary memory." },
	{ "pci", CFG_T_BOOL, "false", 0, 0, F(eal.pci), 0, NULL, NULL,
	  "Probe PCI devices. When false, EAL runs with --no-pci (virtual devices only)." },
	{ "memory_mb", CFG_T_U32, "256", 64, 65536, F(eal.memory_mb), 0, NULL, NULL,
	  "Memory EAL reserves (-m), MiB. Must hold every worker's mbuf pool (about 2.2 KiB per mbuf)." },
	{ "file_prefix", CFG_T_STR, "\"dpmail\"", 0, 64, F(eal.file_prefix), 0, NULL, NULL,
	  "EAL --file-prefix: distinct per dpmaild instance running on one machine." },
	{ "lcores", CFG_T_STR, NULL, 0, 512, F(eal.lcores), 0, NULL, NULL,
	  "EAL --lcores map from lcore ids to CPUs (e.g. \"0@0,1@1,2@1\" runs workers 1 and 2 on "
	  "CPU 1), for more workers than CPUs in tests. Unset: lcore id = CPU (-l main,workers). "
	  "Must name the main lcore and every worker." },
};

static const struct cfg_param port_params[] = {
	{ "device", CFG_T_STR, NULL, 0, 128, F(port.device), CFG_F_REQUIRED, NULL, NULL,
	  "DPDK device name of the port (\"net_tap0\" for --vdev net_tap0,..., or a PCI address)." },
	{ "ipv4", CFG_T_IPV4_PREFIX, NULL, 1, 32, F(port.ipv4), CFG_F_REQUIRED, NULL, NULL,
	  "The port's IPv4 address and prefix length, e.g. 198.18.0.2/24." },
	{ "extra_ipv4", CFG_T_STRV, "[]", 0, 0, F(port.extra_ipv4), 0, NULL, NULL,
	  "More IPv4 addresses of the port, in port.ipv4's prefix (up to 16): answered by ARP and "
	  "usable as sources of outbound connections (delivery.pools). dpdk backend only." },
	{ "gateway", CFG_T_IPV4, NULL, 0, 0, F(port.gateway), 0, NULL, NULL,
	  "Default gateway (must be inside the port's prefix). Unset: on-link destinations only." },
	{ "mtu", CFG_T_U32, "1500", 576, 9000, F(port.mtu), 0, NULL, NULL,
	  "IPv4 MTU of the port, bytes." },
	{ "rx_desc", CFG_T_U32, "512", 64, 16384, F(port.rx_desc), 0, NULL, NULL,
	  "RX descriptors per queue." },
	{ "tx_desc", CFG_T_U32, "512", 64, 16384, F(port.tx_desc), 0, NULL, NULL,
	  "TX descriptors per queue." },
};

static const struct cfg_param dataplane_params[] = {
	{ "backend", CFG_T_ENUM, "dpdk", 0, 0, F(dataplane.backend), 0, backends, NULL,
	  "I/O backend of the workers: dpdk (our TCP/IP stack on the DPDK port) or posix (the same "
	  "lcore loop over kernel sockets, for development and comparison; the port is not "
	  "opened and listeners bind to port.ipv4's address)." },
	{ "main_lcore", CFG_T_U32, "0", 0, 1023, F(dataplane.main_lcore), 0, NULL, NULL,
	  "The lcore (CPU) of the control-plane thread." },
	{ "workers", CFG_T_U32V, "[1]", 0, 1023, F(dataplane.workers), 0, NULL, NULL,
	  "Worker lcores (CPUs), one RX/TX queue pair and one pipeline each. At least one." },
	{ "mbufs", CFG_T_U32, "4095", 512, 1048576, F(dataplane.mbufs), 0, NULL, NULL,
	  "Mbufs in each worker's pool (must exceed rx_desc + tx_desc + in-flight packets: TCP send "
	  "and receive queues, and up to 512 frames held while the TX queue is full)." },
	{ "mbuf_cache", CFG_T_U32, "128", 0, 512, F(dataplane.mbuf_cache), 0, NULL, NULL,
	  "Per-lcore mbuf cache size of each pool." },
	{ "burst", CFG_T_U32, "32", 1, 64, F(dataplane.burst), 0, NULL, NULL,
	  "Frames received per rx_burst call." },
	{ "idle_sleep_us", CFG_T_U32, "0", 0, 100000, F(dataplane.idle_sleep_us), 0, NULL, NULL,
	  "Sleep this long after a loop turn that found no work (0: busy poll). Use a small value "
	  "(50-200) on machines shared with other work; it adds at most that much latency." },
	{ "rx_interrupts", CFG_T_ENUM, "auto", 0, 0, F(dataplane.rx_interrupts), 0, rx_intr_modes, NULL,
	  "dpdk backend with idle_sleep_us > 0: from the 8th idle turn in a row on, the worker waits "
	  "on its RX queue interrupt (and the spool's completions) for at most idle_sleep_us instead "
	  "of sleeping, so a frame wakes an idle worker at once (busy stretches keep the timed "
	  "sleep, which batches better). auto: when the port's driver supports it (net_tap, NICs with "
	  "interrupts; net_memif through the memif ring's interrupt flag), else the timed sleep; on: "
	  "fail the start-up without it; off: always the timed sleep." },
	{ "idle_max_wait_us", CFG_T_U32, "2000", 0, 100000, F(dataplane.idle_max_wait_us), 0, NULL, NULL,
	  "With RX interrupts (DPDK) or the posix backend's epoll wait: after 16 idle turns in a row that found nothing, each wait doubles, up "
	  "to this, until a frame or any work comes (an idle worker then wakes a few hundred times a "
	  "second, not ten thousand). Timers (TCP delayed ACK 40 ms, retransmission >= rto_min_ms, "
	  "SMTP timeouts) may fire up to this late after such a stretch. 0 or <= idle_sleep_us: "
	  "every wait is idle_sleep_us." },
};

static const struct cfg_param arp_params[] = {
	{ "reachable_ms", CFG_T_U32, "60000", 1000, 86400000, F(arp.reachable_ms), 0, NULL, NULL,
	  "How long a learned neighbour is trusted before it is polled again (unicast requests while "
	  "traffic keeps flowing; removed after max_retries unanswered polls), ms." },
	{ "retry_ms", CFG_T_U32, "1000", 10, 60000, F(arp.retry_ms), 0, NULL, NULL,
	  "Interval between ARP requests while resolving, ms." },
	{ "max_retries", CFG_T_U32, "3", 1, 100, F(arp.max_retries), 0, NULL, NULL,
	  "Requests sent before resolution (or a poll of a known neighbour) fails; packets waiting "
	  "for it are dropped." },
	{ "hold", CFG_T_U32, "64", 1, 256, F(arp.hold), 0, NULL, NULL,
	  "Packets held per neighbour while it is being resolved (the oldest is dropped beyond; "
	  "256 are held for all neighbours together)." },
};

static const struct cfg_param log_params[] = {
	{ "level", CFG_T_ENUM, "info", 0, 0, F(log.level), 0, log_levels, NULL,
	  "Log threshold: err, warn, info or debug." },
};

static int validate_port(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_port *p = &c->port;
	uint32_t mask = p->ipv4.len ? htonl(~0u << (32 - p->ipv4.len)) : 0;
	uint32_t host = p->ipv4.ip.u.v4 & ~mask;
	if (p->ipv4.len <= 30 && (host == 0 || host == ~mask))
		return cfg_errf(c, "port.ipv4", err, errlen,
				"the network or broadcast address of the prefix is not a host address");
	if (p->extra_ipv4.n > 16)
		return cfg_errf(c, "port.extra_ipv4", err, errlen, "%u addresses (16 at most)",
				p->extra_ipv4.n);
	for (uint32_t i = 0; i < p->extra_ipv4.n; i++) {
		struct in_addr a;
		if (inet_pton(AF_INET, p->extra_ipv4.v[i], &a) != 1 ||
		    ((a.s_addr ^ p->ipv4.ip.u.v4) & mask) != 0 || a.s_addr == p->ipv4.ip.u.v4 ||
		    (p->ipv4.len <= 30 && ((a.s_addr & ~mask) == 0 || (a.s_addr & ~mask) == ~mask)))
			return cfg_errf(c, "port.extra_ipv4", err, errlen, "'%s' is not another host "
					"address in the port's prefix", p->extra_ipv4.v[i]);
	}
	if (p->gateway.family) {
		if (((p->gateway.u.v4 ^ p->ipv4.ip.u.v4) & mask) != 0)
			return cfg_errf(c, "port.gateway", err, errlen,
					"gateway is not inside the port's prefix");
		if (p->gateway.u.v4 == p->ipv4.ip.u.v4)
			return cfg_errf(c, "port.gateway", err, errlen,
					"gateway is the port's own address");
	}
	return 0;
}

static int validate_dataplane(const struct cfg *c, char *err, size_t errlen)
{
	const struct cfg_dataplane *d = &c->dataplane;
	if (d->workers.n == 0)
		return cfg_errf(c, "dataplane.workers", err, errlen, "at least one worker lcore is needed");
	for (uint32_t i = 0; i < d->workers.n; i++) {
		if (d->workers.v[i] == d->main_lcore)
			return cfg_errf(c, "dataplane.workers", err, errlen,
					"lcore %u is also the main lcore", d->workers.v[i]);
		for (uint32_t j = 0; j < i; j++)
			if (d->workers.v[j] == d->workers.v[i])
				return cfg_errf(c, "dataplane.workers", err, errlen,
						"lcore %u listed twice", d->workers.v[i]);
	}
	if (d->mbufs <= c->port.rx_desc + c->port.tx_desc)
		return cfg_errf(c, "dataplane.mbufs", err, errlen,
				"%u mbufs cannot fill rx_desc + tx_desc = %u descriptors", d->mbufs,
				c->port.rx_desc + c->port.tx_desc);
	if (d->mbuf_cache > d->mbufs / 4)
		return cfg_errf(c, "dataplane.mbuf_cache", err, errlen, "larger than mbufs / 4");
	return 0;
}

#define SECTION(n, d, p, v) { n, d, p, sizeof(p) / sizeof(p[0]), v }
#define SECTION_N(n, d, p, cnt, v) { n, d, p, cnt, v }

const struct cfg_section cfg_sections[] = {
	SECTION("eal", "DPDK Environment Abstraction Layer start-up.", eal_params, NULL),
	SECTION("port", "The network port and its IPv4 configuration.", port_params, validate_port),
	SECTION("dataplane", "Worker lcores, packet buffers and the poll loop.", dataplane_params,
		validate_dataplane),
	SECTION("arp", "Neighbour resolution (ARP) on each worker.", arp_params, NULL),
	SECTION("log", "Logging.", log_params, NULL),
	SECTION("control", "Admin socket, audit log and metrics endpoint of the control plane.",
		cfg_control_params, cfg_validate_control),
	SECTION("dns", "The control plane's resolver (libunbound) and its answer cache.",
		cfg_dns_params, cfg_validate_dns),
	SECTION("accounting", "Accounting files: one JSON line per event; rotation, retention, "
		"pseudonymisation.", cfg_accounting_params, cfg_validate_accounting),
	SECTION("smtp", "SMTP listeners.", cfg_smtp_params, cfg_validate_smtp),
	SECTION("relay", "Who may relay: client networks and AUTH users with their sender domains.",
		cfg_relay_params, cfg_validate_relay),
	SECTION("tls", "TLS certificates and versions.", cfg_tls_params, cfg_validate_tls),
	SECTION("dkim", "DKIM signing keys by domain and selector.", cfg_dkim_params,
		cfg_validate_dkim),
	SECTION("spool", "The durable message spool: directory, segments, free-space guard, encryption.", cfg_spool_params, cfg_validate_spool),
	SECTION("delivery", "Routes, TLS and shaping policy per destination, retry schedule.",
		cfg_delivery_params, cfg_validate_delivery),
	SECTION("limits", "Per-message and per-session limits.", cfg_limits_params, NULL),
	SECTION_N("tcp", "The TCP stack of each worker lcore.", cfg_tcp_params, CFG_TCP_NPARAMS, NULL),
	SECTION_N("cluster", "Several nodes sharing destination budgets and suspensions through "
		  "Redis (docs/cluster.md).", ctl_cluster_params, CTL_CLUSTER_NPARAMS, NULL),
	SECTION_N("mta_sts", "MTA-STS (RFC 8461): policies fetched over HTTPS by the control plane, "
		  "cached and enforced by delivery (docs/deliver.md).", sts_params, STS_NPARAMS, NULL),
};
const size_t cfg_n_sections = sizeof(cfg_sections) / sizeof(cfg_sections[0]);

const char cfg_default_yaml[] =
	"# dpmaild embedded default: a TAP port in the current network namespace.\n"
	"eal:\n"
	"  vdevs: [\"net_tap0,iface=dtap0\"]\n"
	"  memory_mb: 256\n"
	"port:\n"
	"  device: net_tap0\n"
	"  ipv4: 198.18.0.2/24\n"
	"  gateway: 198.18.0.1\n"
	"dataplane:\n"
	"  main_lcore: 0\n"
	"  workers: [1]\n"
	"  mbufs: 4095\n"
	"  idle_sleep_us: 100\n";
