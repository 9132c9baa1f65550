/* SPDX-License-Identifier: MIT */
/*
 * dp_eal.c: EAL start-up from the configuration. dpmaild builds the EAL command line itself
 * (lcores, memory, devices) so the operator writes one config file, not a DPDK argv; extra
 * arguments from eal.args are appended last and win.
 */
#include "main/dp.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "config/cfg.h"
#include "log.h"

#define EAL_ARGV_MAX 128

/* Append a formatted argument; returns -1 if argv or buf is full. */
static int add(char **argv, int *argc, int max, char *buf, size_t buflen, size_t *off,
	       const char *fmt, const char *s1, unsigned u)
{
	if (*argc >= max - 1 || *off >= buflen)
		return -1;
	int n = snprintf(buf + *off, buflen - *off, fmt, s1 ? s1 : "", u);
	if (n < 0 || (size_t)n >= buflen - *off)
		return -1;
	argv[(*argc)++] = buf + *off;
	*off += (size_t)n + 1;
	return 0;
}

int dp_eal_args(const struct cfg *c, const char *prog, char **argv, int max, char *buf, size_t buflen)
{
	int argc = 0;
	size_t off = 0;
	char lcores[1024];
	int lo = snprintf(lcores, sizeof(lcores), "%u", c->dataplane.main_lcore);
	for (uint32_t i = 0; i < c->dataplane.workers.n && lo > 0 && (size_t)lo < sizeof(lcores); i++)
		lo += snprintf(lcores + lo, sizeof(lcores) - (size_t)lo, ",%u", c->dataplane.workers.v[i]);
	if (lo < 0 || (size_t)lo >= sizeof(lcores))
		return -1;
#define ADD(fmt, s, u) do { if (add(argv, &argc, max, buf, buflen, &off, fmt, s, u) < 0) return -1; } while (0)
	ADD("%s", prog, 0);
	if (c->eal.lcores)
		ADD("--lcores=%s", c->eal.lcores, 0);
	else
		ADD("-l%s", lcores, 0);
	ADD("--main-lcore=%s%u", NULL, c->dataplane.main_lcore);
	ADD("--file-prefix=%s", c->eal.file_prefix, 0);
	if (!c->eal.hugepages) {
		ADD("--no-huge%s", NULL, 0);
		ADD("-m%s%u", NULL, c->eal.memory_mb);
	}
	if (!c->eal.pci)
		ADD("--no-pci%s", NULL, 0);
	ADD("--no-telemetry%s", NULL, 0);
	ADD("--log-level=%s", c->log.level >= LOG_LVL_DEBUG ? "*:info" : "*:warning", 0);
	/* The posix backend opens no port: no virtual devices either. */
	for (uint32_t i = 0; c->dataplane.backend == CFG_BACKEND_DPDK && i < c->eal.vdevs.n; i++)
		ADD("--vdev=%s", c->eal.vdevs.v[i], 0);
	for (uint32_t i = 0; i < c->eal.args.n; i++)
		ADD("%s", c->eal.args.v[i], 0);
#undef ADD
	argv[argc] = NULL;
	return argc;
}

/* EAL's own message for a missing CPU is "Invalid argument"; name the lcore instead. With an
 * explicit --lcores map, lcore ids are not CPUs: EAL checks the map itself. */
static int lcores_check(const struct cfg *c)
{
	cpu_set_t set;
	if (c->eal.lcores || sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	unsigned main_lcore = c->dataplane.main_lcore;
	for (uint32_t i = 0; i <= c->dataplane.workers.n; i++) {
		unsigned id = i < c->dataplane.workers.n ? c->dataplane.workers.v[i] : main_lcore;
		if (id >= CPU_SETSIZE || !CPU_ISSET(id, &set)) {
			log_err("event=startup_failed reason=\"%s lcore %u is not a CPU this process may "
				"run on (%d available)\"", i < c->dataplane.workers.n ? "worker" : "main",
				id, CPU_COUNT(&set));
			return -1;
		}
	}
	return 0;
}

int dp_eal_init(const struct cfg *c, const char *prog)
{
	if (lcores_check(c) < 0)
		return -1;
	char *argv[EAL_ARGV_MAX], buf[8192], line[2048];
	int argc = dp_eal_args(c, prog, argv, EAL_ARGV_MAX, buf, sizeof(buf));
	if (argc < 0) {
		log_err("event=startup_failed reason=\"EAL arguments too long\"");
		return -1;
	}
	size_t off = 0;
	for (int i = 1; i < argc && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", i > 1 ? " " : "", argv[i]);
	log_info("event=eal_init args=\"%s\"", line);
	if (rte_eal_init(argc, argv) < 0) {
		log_err("event=startup_failed reason=\"EAL init failed: %s\"", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}
