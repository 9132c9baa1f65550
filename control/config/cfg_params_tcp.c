/* SPDX-License-Identifier: MIT */
/*
 * cfg_params_tcp.c: the "tcp" section: limits and timers of the TCP stack of every worker
 * (mapped onto struct tcp_tunables by net/tcp_lcore.c) and the test-only services (echo,
 * discard, source, active-open source) that the interop tests enable. All test_* keys are off
 * by default and have no use in production.
 */
#include <stddef.h>

#include "config/cfg.h"
#include "config/cfg_params_tcp.h"

#define F(field) offsetof(struct cfg, field)

const struct cfg_param cfg_tcp_params[CFG_TCP_NPARAMS] = {
	{ "max_conns", CFG_T_U32, "4096", 16, 1048576, F(tcp.max_conns), 0, NULL, NULL,
	  "Connections per worker (any state but TIME_WAIT); memory is reserved at start." },
	{ "max_time_wait", CFG_T_U32, "8192", 0, 4194304, F(tcp.max_time_wait), 0, NULL, NULL,
	  "Compact TIME_WAIT entries per worker (64 bytes each)." },
	{ "max_syn_rcvd", CFG_T_U32, "1024", 1, 1048576, F(tcp.max_syn_rcvd), 0, NULL, NULL,
	  "Half-open (SYN_RCVD) connections per worker; SYNs beyond get SYN cookies (tcp.syncookies) "
	  "or are dropped and counted." },
	{ "backlog", CFG_T_U32, "256", 1, 65536, F(tcp.backlog), 0, NULL, NULL,
	  "Half-open connections per listener." },
	{ "syncookies", CFG_T_BOOL, "true", 0, 0, F(tcp.syncookies), 0, NULL, NULL,
	  "When a listener's backlog (or max_syn_rcvd) is full, answer SYNs with SYN cookies "
	  "(RFC 4987 3.6) and keep no state until the client's ACK proves its address; false: "
	  "drop such SYNs (counted as syn_dropped_full) and let the client retransmit." },
	{ "snd_buf", CFG_T_U32, "262144", 4096, 67108864, F(tcp.snd_buf), 0, NULL, NULL,
	  "Send buffer (and retransmission queue) per connection, bytes." },
	{ "rcv_buf", CFG_T_U32, "262144", 4096, 67108864, F(tcp.rcv_buf), 0, NULL, NULL,
	  "Receive window / unconsumed received bytes per connection, bytes." },
	{ "rcv_mem_mb", CFG_T_U32, "64", 1, 4095, F(tcp.rcv_mem_mb), 0, NULL, NULL,
	  "Received data held by all connections of a worker together, MiB; data beyond is dropped." },
	{ "mbufs", CFG_T_U32, "8191", 511, 1048575, F(tcp.mbufs), 0, NULL, NULL,
	  "Mbufs in each worker's TCP pool (segments sent and send buffers, about 2.2 KiB each; "
	  "kept apart from the RX pool so full send buffers never starve receiving ACKs)." },
	{ "ooo_max_segs", CFG_T_U32, "128", 1, 4096, F(tcp.ooo_max_segs), 0, NULL, NULL,
	  "Out-of-order segments kept per connection." },
	{ "timestamps", CFG_T_BOOL, "true", 0, 0, F(tcp.timestamps), 0, NULL, NULL,
	  "Offer and accept RFC 7323 timestamps (RTT measurement, PAWS)." },
	{ "sack", CFG_T_BOOL, "true", 0, 0, F(tcp.sack), 0, NULL, NULL,
	  "Offer and accept selective acknowledgements (RFC 2018, RFC 6675 recovery)." },
	{ "window_scaling", CFG_T_BOOL, "true", 0, 0, F(tcp.window_scaling), 0, NULL, NULL,
	  "Offer and accept window scaling (RFC 7323)." },
	{ "time_wait_ms", CFG_T_U32, "60000", 1000, 240000, F(tcp.time_wait_ms), 0, NULL, NULL,
	  "TIME_WAIT duration (2*MSL), ms." },
	{ "fin_wait2_ms", CFG_T_U32, "60000", 1000, 600000, F(tcp.fin_wait2_ms), 0, NULL, NULL,
	  "Lifetime of a closed connection waiting in FIN_WAIT_2 for the peer's FIN, ms." },
	{ "rto_init_ms", CFG_T_U32, "1000", 200, 60000, F(tcp.rto_init_ms), 0, NULL, NULL,
	  "Initial retransmission timeout (RFC 6298), ms." },
	{ "rto_min_ms", CFG_T_U32, "200", 10, 60000, F(tcp.rto_min_ms), 0, NULL, NULL,
	  "Lower bound of the retransmission timeout, ms." },
	{ "rto_max_ms", CFG_T_U32, "60000", 1000, 600000, F(tcp.rto_max_ms), 0, NULL, NULL,
	  "Upper bound of the retransmission timeout, ms." },
	{ "syn_timeout_ms", CFG_T_U32, "75000", 1000, 600000, F(tcp.syn_timeout_ms), 0, NULL, NULL,
	  "Give up opening a connection after this long, ms." },
	{ "user_timeout_ms", CFG_T_U32, "120000", 1000, 3600000, F(tcp.user_timeout_ms), 0, NULL,
	  NULL, "Give up a connection whose data stays unacknowledged this long, ms." },
	{ "delack_ms", CFG_T_U32, "40", 1, 500, F(tcp.delack_ms), 0, NULL, NULL,
	  "Delayed-ACK timeout, ms (every second full segment is acknowledged at once)." },
	{ "trusted_link", CFG_T_BOOL, "false", 0, 0, F(tcp.trusted_link), 0, NULL, NULL,
	  "Neither compute nor verify TCP checksums (IPv4 header checksums stay). Only for a link "
	  "that cannot corrupt data, such as net_memif between two processes on one host (the "
	  "kernel skips them on loopback the same way); both ends must set it." },
	{ "test_echo_port", CFG_T_U32, "0", 0, 65535, F(tcp.test_echo_port), 0, NULL, NULL,
	  "TEST ONLY: echo service on this port (0: off)." },
	{ "test_discard_port", CFG_T_U32, "0", 0, 65535, F(tcp.test_discard_port), 0, NULL, NULL,
	  "TEST ONLY: discard service on this port (0: off)." },
	{ "test_source_port", CFG_T_U32, "0", 0, 65535, F(tcp.test_source_port), 0, NULL, NULL,
	  "TEST ONLY: sends test_source_bytes of the test pattern to each client, then closes (0: off)." },
	{ "test_source_bytes", CFG_T_U32, "1048576", 0, 4294967295u, F(tcp.test_source_bytes), 0,
	  NULL, NULL, "TEST ONLY: bytes the source services send per connection." },
	{ "test_connect_addr", CFG_T_IPV4, NULL, 0, 0, F(tcp.test_connect_addr), 0, NULL, NULL,
	  "TEST ONLY: worker 0 opens test_connect_count connections to this address and port at "
	  "start and sends test_source_bytes of the test pattern on each (unset: off)." },
	{ "test_connect_port", CFG_T_U32, "0", 0, 65535, F(tcp.test_connect_port), 0, NULL, NULL,
	  "TEST ONLY: port for test_connect_addr." },
	{ "test_connect_count", CFG_T_U32, "1", 1, 100000, F(tcp.test_connect_count), 0, NULL,
	  NULL, "TEST ONLY: connections opened to test_connect_addr." },
	{ "test_quiet", CFG_T_BOOL, "false", 0, 0, F(tcp.test_quiet), 0, NULL, NULL,
	  "TEST ONLY: no log line per test-service connection (benchmarks)." },
};
