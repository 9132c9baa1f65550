/* SPDX-License-Identifier: MIT */
/*
 * cfg_params_relay.h: the relay's sections of the parameter table (cfg_params_relay.c):
 * smtp listeners, relay permissions (networks, AUTH users), TLS certificates, DKIM keys, spool
 * keys, delivery (routes, TLS policy, shaping, retry) and limits. Array sizes are part of the
 * declarations so cfg_sections[] can take sizeof().
 */
#ifndef DPMAIL_CFG_PARAMS_RELAY_H
#define DPMAIL_CFG_PARAMS_RELAY_H

#include "config/cfg_list.h"
#include "config/cfg_param-t.h"

extern const struct cfg_param cfg_smtp_params[3];
extern const struct cfg_param cfg_relay_params[2];
extern const struct cfg_param cfg_tls_params[5];
extern const struct cfg_param cfg_dkim_params[4];
extern const struct cfg_param cfg_spool_params[8];
extern const struct cfg_param cfg_delivery_params[18];
extern const struct cfg_param cfg_limits_params[5];

/* Item tables of the lists, for code that walks them (cfg_list_at). */
extern const struct cfg_list_desc cfg_listener_list, cfg_client_list, cfg_user_list, cfg_cert_list,
	cfg_dkim_key_list, cfg_spool_key_list, cfg_route_list, cfg_tls_policy_list,
	cfg_shaping_list, cfg_pool_list, cfg_site_list;

int cfg_validate_smtp(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_relay(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_tls(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_dkim(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_spool(const struct cfg *c, char *err, size_t errlen);
int cfg_validate_delivery(const struct cfg *c, char *err, size_t errlen);

/* The client entry whose network holds addr (network byte order; longest prefix), or NULL. */
const struct cfg_client *cfg_relay_client(const struct cfg *c, uint32_t addr);
/* True when client entry e may send as sender domain `domain` (no senders listed: any). */
bool cfg_relay_client_sender_ok(const struct cfg_client *e, const char *domain);

/* The user `name`, or NULL. */
const struct cfg_user *cfg_relay_user(const struct cfg *c, const char *name);
/*
 * Checks password against the user's crypt(3) hash (constant-time compare of the result).
 * Slow by design (yescrypt): never call on a worker lcore; the control plane answers AUTH
 * requests. Returns true when it matches.
 */
bool cfg_relay_password_ok(const struct cfg_user *u, const char *password);
/* True when user u may send as sender domain `domain` (case-insensitive; "*" allows any). */
bool cfg_relay_sender_ok(const struct cfg_user *u, const char *domain);

#endif
