/* SPDX-License-Identifier: MIT */
/*
 * dp_modules.c: the modules plugged into every worker lcore, in start-up order (TCP before the
 * SMTP server that listens on it...). A module adds one line here; the loop never changes.
 */
#include "main/dp.h"

const struct dp_module dp_modules[] = {
	{ NULL, NULL, NULL },     /* sentinel: keeps the array non-empty */
};
const size_t dp_n_modules = sizeof(dp_modules) / sizeof(dp_modules[0]) - 1;
