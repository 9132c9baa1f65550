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
	char *lcores;             /* EAL --lcores map (e.g. "0@0,1@1,2@1"); NULL: -l from dataplane */
};

struct cfg_port {
	char *device;             /* DPDK device name, e.g. net_tap0 or 0000:01:00.0 */
	struct cfg_prefix ipv4;
	struct cfg_strv extra_ipv4;   /* more addresses in the same prefix (delivery source pools) */
	struct cfg_ip gateway;    /* family 0: none */
	uint32_t mtu;
	uint32_t rx_desc, tx_desc;
};

enum cfg_backend { CFG_BACKEND_DPDK = 0, CFG_BACKEND_POSIX };
enum cfg_rx_intr { CFG_RX_INTR_AUTO = 0, CFG_RX_INTR_ON, CFG_RX_INTR_OFF };

struct cfg_dataplane {
	int backend;              /* enum cfg_backend */
	uint32_t main_lcore;
	struct cfg_u32v workers;  /* worker lcore ids; one RX/TX queue pair each */
	uint32_t mbufs;           /* mbufs per worker pool */
	uint32_t mbuf_cache;
	uint32_t burst;
	uint32_t idle_sleep_us;   /* sleep after a turn that found no work; 0 = busy poll */
	int rx_interrupts;        /* enum cfg_rx_intr: idle turns wait on RX queue interrupts */
	uint32_t idle_max_wait_us;    /* with RX interrupts: longest wait after a long idle stretch */
};

struct cfg_arp {
	uint32_t reachable_ms, retry_ms, max_retries, hold;
};

/* The TCP stack of each worker (net/tcp); test_* keys enable test-only services. */
struct cfg_tcp {
	uint32_t max_conns, max_time_wait, max_syn_rcvd, backlog;
	bool syncookies;                  /* SYN cookies when a SYN queue is full */
	uint32_t snd_buf, rcv_buf, rcv_mem_mb, mbufs, ooo_max_segs;
	bool timestamps, sack, window_scaling;
	uint32_t time_wait_ms, fin_wait2_ms, rto_init_ms, rto_min_ms, rto_max_ms;
	uint32_t syn_timeout_ms, user_timeout_ms, delack_ms;
	bool trusted_link;                /* no TCP checksums (memif between local processes) */
	uint32_t test_echo_port, test_discard_port, test_source_port, test_source_bytes;
	struct cfg_ip test_connect_addr;  /* family 0: no test active open */
	uint32_t test_connect_port, test_connect_count;
	bool test_quiet;                  /* no per-connection log line from the test services */
};

struct cfg_log {
	int level;                /* enum log_level */
};

/* A list of section items (listeners, users, routes...), parsed by control/config/cfg_list.c;
 * v points at n items of the list's own struct type. */
struct cfg_list {
	void *v;
	uint32_t n;
};

/* relay sections (control/config/cfg_params_relay.c); enum values index their name tables */
enum cfg_listen_tls { CFG_LISTEN_PLAIN = 0, CFG_LISTEN_STARTTLS, CFG_LISTEN_IMPLICIT };
enum cfg_tls_mode { CFG_TLS_NONE = 0, CFG_TLS_MAY, CFG_TLS_ENCRYPT, CFG_TLS_VERIFY, CFG_TLS_DANE,
		    CFG_TLS_MTA_STS };

struct cfg_listener {
	struct cfg_ip address;        /* family 0: the port's address */
	uint32_t port;
	int tls;                      /* enum cfg_listen_tls */
	bool auth;                    /* offer AUTH (after TLS only) */
};

struct cfg_client {
	struct cfg_prefix network;    /* client network allowed to relay without AUTH */
	struct cfg_strv senders;      /* sender domains it may use; empty = any */
	char *name;                   /* for logs and accounting ("" = the network) */
};

struct cfg_user {
	char *name;
	char *password;               /* crypt(3) hash: yescrypt $y$ or SHA-512-crypt $6$ */
	struct cfg_strv senders;      /* sender domains the user may use ("*" = any) */
};

struct cfg_cert {
	char *cert, *key;             /* PEM files */
	struct cfg_strv names;        /* SNI names served with it; empty = default certificate */
};

struct cfg_dkim_key {
	char *domain, *selector, *key;
};

struct cfg_spool_key {
	uint32_t id;                  /* recorded in each segment: old keys stay to read old data */
	char *file;
};

struct cfg_route {
	char *domain;                 /* "example.com", ".example.com" (subdomains) or "*" */
	struct cfg_strv hosts;        /* "host", "host:port", "[198.18.0.5]:2525" */
	char *name;                   /* rollup name for shaping ("" = derived from the hosts) */
};

struct cfg_tls_policy {
	char *destination;            /* domain or "*" */
	int mode;                     /* enum cfg_tls_mode */
};

struct cfg_shaping {
	char *destination;            /* domain, route name or "*" */
	uint32_t connections;         /* simultaneous connections, all cores (0 = unlimited) */
	uint32_t rate;                /* messages per second, all cores (0 = unlimited) */
	uint32_t burst;               /* messages allowed at once above the rate */
	uint32_t per_connection;      /* messages per connection before it is closed (0 = no limit) */
};

/* A source IP pool (delivery.pools): addresses "IPv4 [HELO name]", chosen by tenant or sender. */
struct cfg_pool {
	char *name;
	struct cfg_strv addresses;    /* "198.18.0.10 mta1.example.com" (no name: smtp.hostname) */
	struct cfg_strv tenants;      /* relay.clients names whose mail uses this pool */
	struct cfg_strv senders;      /* sender domains whose mail uses this pool */
	bool is_default;              /* mail no other pool claims */
};

/* A site (delivery.sites): the MX hosts that make up one receiving infrastructure. */
struct cfg_site {
	char *name;
	struct cfg_strv mx;           /* "*.mail.example.net", "mx1.example.org" */
};

struct cfg_smtp {
	struct cfg_list listeners;    /* struct cfg_listener */
	char *hostname;               /* banner and HELO name ("" = the machine's) */
	bool require_tls;             /* refuse MAIL before STARTTLS (530 5.7.0) */
};

struct cfg_relay {
	struct cfg_list clients;      /* struct cfg_client */
	struct cfg_list users;        /* struct cfg_user */
};

struct cfg_tls {
	struct cfg_list certificates; /* struct cfg_cert */
	int min_version;              /* index into "TLSv1.2", "TLSv1.3" */
	uint32_t handshake_timeout_ms;
	bool batched_records;         /* crypto/gcm takes over AES-GCM records after the handshake */
	bool batch_across_sessions;   /* with batched_records: one burst per loop turn for all
				       * sessions instead of one per call */
};

enum cfg_unsignable { CFG_UNSIGNABLE_REJECT = 0, CFG_UNSIGNABLE_PASS };
/* header/body, in the order of the configuration's names */
enum cfg_dkim_canon { CFG_DKIM_RELAXED_RELAXED = 0, CFG_DKIM_RELAXED_SIMPLE, CFG_DKIM_SIMPLE_RELAXED,
		      CFG_DKIM_SIMPLE_SIMPLE };

struct cfg_dkim {
	struct cfg_list keys;         /* struct cfg_dkim_key */
	char *operator_domain;        /* "" = no second signature by the operator's domain */
	int unsignable;               /* enum cfg_unsignable: zero or several From: headers */
	int canonicalization;         /* enum cfg_dkim_canon: header/body canonicalization */
};

struct cfg_spool {
	struct cfg_list keys;         /* struct cfg_spool_key */
	char *dir;                    /* segment files (one set per worker) */
	bool encrypt;                 /* seal records with the highest key id (needs keys) */
	uint32_t segment_mb;
	uint32_t min_free_mb;         /* free-space guard: below it new mail gets 452 4.3.1 */
	int direct_io;                /* enum spool_direct_io: auto, on, off */
	uint32_t commit_delay_us;     /* group commit window (0: none) */
	uint32_t read_cache_mb;       /* written batches kept for delivery per worker (0: none) */
};

struct cfg_delivery {
	struct cfg_list routes;       /* struct cfg_route */
	struct cfg_list tls_policy;   /* struct cfg_tls_policy */
	struct cfg_list shaping;      /* struct cfg_shaping */
	struct cfg_list pools;        /* struct cfg_pool */
	struct cfg_list sites;        /* struct cfg_site */
	uint32_t retry_first, retry_cap, max_age, retry_jitter_pct; /* seconds, percent */
	uint32_t delay_warning_after; /* seconds; 0 = no delay warnings */
	int chunking;                 /* 0 auto (BDAT when offered), 1 off (always DATA) */
	struct cfg_backoff {          /* automatic backoff (dataplane/deliver dlv_backoff_policy) */
		uint32_t window_ms, min_samples, threshold_pct, decrease_pct, floor_pct;
		uint32_t increase_pct, increase_interval_ms;
	} backoff;
};

struct cfg_limits {
	uint32_t max_message_size;    /* bytes */
	uint32_t max_recipients;      /* per message */
	uint32_t max_sessions;        /* inbound sessions per worker */
	uint32_t idle_timeout;        /* seconds without a command before 421 */
	uint32_t max_errors;          /* protocol errors before the session is closed */
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

/* cluster (control/cluster/ctl_cluster_params.c, docs/cluster.md) */
struct cfg_cluster {
	bool enabled;
	char *node;                   /* "" = hostname-pid */
	char *redis_host;
	uint32_t redis_port;
	char *prefix;
	uint32_t lease_ms, renew_ms, fallback_pct, idle_return_ms;
};

/* MTA-STS policy source (control/sts/sts_params.c, docs/deliver.md) */
struct cfg_mta_sts {
	bool all_domains;             /* honour published policies where no tls_policy entry applies */
	char *ca_file;                /* "" = OpenSSL's default trust store */
	char *cache_file;             /* "" = <spool.dir>/mta-sts.cache */
	uint32_t fetch_timeout_ms, refresh, retry, https_port, max_domains;
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
	struct cfg_smtp smtp;
	struct cfg_relay relay;
	struct cfg_tls tls;
	struct cfg_dkim dkim;
	struct cfg_spool spool;
	struct cfg_delivery delivery;
	struct cfg_limits limits;
	struct cfg_tcp tcp;
	struct cfg_cluster cluster;
	struct cfg_mta_sts mta_sts;
};

#endif
