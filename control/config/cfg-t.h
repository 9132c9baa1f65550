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

struct cfg_log {
	int level;                /* enum log_level */
};

/* control plane (control/config/cfg_params_control.c) */
struct cfg_control {
	char *admin_socket;       /* unix socket of dpmailctl */
	char *audit_log;          /* "" = no audit file */
	struct cfg_ip metrics_listen; /* family 0 = no metrics endpoint */
	uint32_t metrics_port;
};

struct cfg_dns {
	struct cfg_strv forwarders;   /* "ip" or "ip@port"; empty: /etc/resolv.conf */
	char *trust_anchor;           /* "" = no DNSSEC validation */
	char *unbound_conf;           /* "" = none */
	uint32_t negative_ttl_max, failure_ttl, max_ttl, timeout_ms;
};

struct cfg_accounting {
	char *dir;                    /* "" = accounting off */
	uint32_t max_mb;
	uint32_t retention_days;
	struct cfg_strv pseudonymise; /* field names */
	char *key_file;               /* HMAC key of pseudonyms ("" = none: refused if needed) */
};

struct cfg {
	char *file;               /* where it came from ("<embedded>" for the default) */
	uint32_t *lines;          /* per parameter (cfg_param_index order): line, 0 = default */
	struct cfg_eal eal;
	struct cfg_port port;
	struct cfg_dataplane dataplane;
	struct cfg_arp arp;
	struct cfg_log log;
	struct cfg_control control;
	struct cfg_dns dns;
	struct cfg_accounting accounting;
};

#endif
