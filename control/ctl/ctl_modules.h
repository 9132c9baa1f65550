/* SPDX-License-Identifier: MIT */
/*
 * ctl_modules.h: modules' control-side start-up in dpmaild. After the control plane is up
 * (and after every module's lcore_init), ctl_daemon_start calls each init in table order on
 * the main lcore: register admin commands (ctl_register on ctl_daemon_server), worker request
 * handlers (ctl_wq_set_handler on ctl_daemon_wq, with the worker's module state as context),
 * statistics (ctl_stats_add_block on ctl_plane_stats), the queue-erasure hook, collectors.
 * A module adds one line to ctl_modules[] in ctl_modules.c.
 */
#ifndef DPMAIL_CTL_MODULES_H
#define DPMAIL_CTL_MODULES_H

#include <stddef.h>

struct ctl_daemon;

struct ctl_module {
	const char *name;
	/* Returns 0, or -errno to stop the start-up (log the reason first). */
	int (*init)(struct ctl_daemon *d);
	/* Before the control plane closes, after the workers stopped. May be NULL. */
	void (*fini)(struct ctl_daemon *d);
};

extern const struct ctl_module ctl_modules[];
extern const size_t ctl_n_modules;

#endif
