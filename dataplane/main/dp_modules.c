/* SPDX-License-Identifier: MIT */
/*
 * dp_modules.c: the modules plugged into every worker lcore, in start-up order (TCP before the
 * SMTP server that listens on it...). A module adds one line here; the loop never changes.
 */
#include "main/dp.h"
#include "net/tcp_lcore.h"
#include "relay/rly_lcore.h"

const struct dp_module dp_modules[] = {
	{ "tcp", tcp_lcore_init, tcp_lcore_fini },   /* our TCP stack (dpdk backend) */
	{ "mta", rly_lcore_init, rly_lcore_fini },   /* spool, TLS, DKIM, inbound SMTP */
	{ NULL, NULL, NULL },     /* sentinel: keeps the array non-empty */
};
const size_t dp_n_modules = sizeof(dp_modules) / sizeof(dp_modules[0]) - 1;
