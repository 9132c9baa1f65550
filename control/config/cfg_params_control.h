/* SPDX-License-Identifier: MIT */
/*
 * cfg_params_control.h: the control plane's sections of the parameter table
 * (cfg_params_control.c). The array sizes are part of the declarations so cfg_sections[] can
 * take sizeof(); a definition with another number of entries does not compile.
 */
#ifndef DPMAIL_CFG_PARAMS_CONTROL_H
#define DPMAIL_CFG_PARAMS_CONTROL_H

#include "config/cfg_param-t.h"

extern const struct cfg_param cfg_control_params[4];
extern const struct cfg_param cfg_dns_params[7];
extern const struct cfg_param cfg_accounting_params[5];

int cfg_validate_control(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_dns(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_accounting(const struct cfg *c, char *err, size_t errlen);

#endif
