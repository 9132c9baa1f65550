/* SPDX-License-Identifier: MIT */
/*
 * cfg-t.h: the configuration of dpmaild as loaded from YAML (see cfg.h, docs/configuration.md).
 * One struct per top-level section of the file. Every field is declared once in a parameter
 * table (cfg_params.c) that gives its key, type, default, range and description; the loader,
 * the validator and the generated docs all read that table.
 *
 * Addresses are network byte order and typed so IPv6 can be added without changing callers.
 */
#ifndef DPMAIL_CFG_T_H
#define DPMAIL_CFG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_ip {
	uint8_t family;           /* AF_INET (AF_INET6 later); 0 = unset */
	union {
		uint32_t v4;      /* network byte order */
		uint8_t v6[16];
	} u;
};

struct cfg_prefix {
	struct cfg_ip ip;
	uint8_t len;
};

struct cfg_strv {
	char **v;
	uint32_t n;
};

struct cfg_u32v {
	uint32_t *v;
	uint32_t n;
};

struct cfg_eal {
	struct cfg_strv vdevs;    /* --vdev arguments */
	struct cfg_strv args;     /* extra EAL arguments, appended last */
	bool hugepages;           /* false: --no-huge -m memory_mb */
	bool pci;                 /* false: --no-pci */
	uint32_t memory_mb;
	char *file_prefix;
};

struct cfg_port {
	char *device;             /* DPDK device name, e.g. net_tap0 or 0000:01:00.0 */
	struct cfg_prefix ipv4;
	struct cfg_ip gateway;    /* family 0: none */
	uint32_t mtu;
	uint32_t rx_desc, tx_desc;
};

struct cfg_dataplane {
	uint32_t main_lcore;
	struct cfg_u32v workers;  /* worker lcore ids; one RX/TX queue pair each */
	uint32_t mbufs;           /* mbufs per worker pool */
	uint32_t mbuf_cache;
	uint32_t burst;
	uint32_t idle_sleep_us;   /* sleep after a turn that found no work; 0 = busy poll */
};

struct cfg_arp {
	uint32_t reachable_ms, retry_ms, max_retries, hold;
};

/* The TCP stack of each worker (net/tcp); test_* keys enable test-only services. */
struct cfg_tcp {
	uint32_t max_conns, max_time_wait, max_syn_rcvd, backlog;
	uint32_t snd_buf, rcv_buf, rcv_mem_mb, mbufs, ooo_max_segs;
	bool timestamps, sack, window_scaling;
	uint32_t time_wait_ms, fin_wait2_ms, rto_init_ms, rto_min_ms, rto_max_ms;
	uint32_t syn_timeout_ms, user_timeout_ms, delack_ms;
	uint32_t test_echo_port, test_discard_port, test_source_port, test_source_bytes;
	struct cfg_ip test_connect_addr;  /* family 0: no test active open */
	uint32_t test_connect_port, test_connect_count;
};

struct cfg_log {
	int level;                /* enum log_level */
};

struct cfg {
	char *file;               /* where it came from ("<embedded>" for the default) */
	uint32_t *lines;          /* per parameter (cfg_param_index order): line, 0 = default */
	struct cfg_eal eal;
	struct cfg_port port;
	struct cfg_dataplane dataplane;
	struct cfg_arp arp;
	struct cfg_log log;
	struct cfg_tcp tcp;
};

#endif
