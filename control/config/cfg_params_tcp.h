/* SPDX-License-Identifier: MIT */
/* cfg_params_tcp.h: the "tcp" section's parameter table (cfg_params_tcp.c). The count is a
 * constant so cfg_sections[] can be initialised with it; a static assertion keeps it true. */
#ifndef DPMAIL_CFG_PARAMS_TCP_H
#define DPMAIL_CFG_PARAMS_TCP_H

#include "config/cfg_param-t.h"

#define CFG_TCP_NPARAMS 30
extern const struct cfg_param cfg_tcp_params[CFG_TCP_NPARAMS];

#endif
