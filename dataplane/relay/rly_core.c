/* SPDX-License-Identifier: MIT */
/*
 * rly_core.c: the inbound relay of one lcore: its session pool, per-turn timers and the DKIM
 * batch that signs the messages which ended during the turn, after the turn's I/O, so a
 * 0.2 ms RSA signature never sits between a packet and its processing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay/rly_int.h"

#define TICK_INTERVAL_US 250000   /* SMTP timeouts are minutes; a quarter second is plenty */

void rly_params_defaults(struct rly_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_sessions = 1024;
	smtp_limits_defaults(&p->limits);
}

struct rly_core *rly_core_new(const struct rly_params *p, struct spool *sp,
			      struct dkim_signer_ctx *dkim, struct tls_core *tls, int *err)
{
	struct rly_core *core = calloc(1, sizeof(*core));
	if (!core)
		goto err;
	core->p = *p;
	core->spool = sp;
	core->dkim = dkim;
	core->tls = tls;
	core->n_sessions = p->max_sessions;
	core->sessions = calloc(p->max_sessions, sizeof(*core->sessions));
	if (!core->sessions)
		goto err_core;
	dkim_batch_init(&core->batch);
	for (uint32_t i = p->max_sessions; i-- > 0;) {
		struct rly_session *s = &core->sessions[i];
		s->core = core;
		s->idx = i;
		s->next_free = core->free;
		core->free = s;
	}
	return core;
err_core:
	free(core);
err:
	*err = -ENOMEM;
	return NULL;
}

void rly_core_free(struct rly_core *core)
{
	if (!core)
		return;
	rly_session_abort_all(core);
	for (uint32_t i = 0; i < core->n_sessions; i++) {
		free(core->sessions[i].env.buf);
		free(core->sessions[i].env.rcpts);
	}
	free(core->sessions);
	free(core);
}

void rly_core_set_policy(struct rly_core *core, const struct rly_policy *pol, uint64_t version)
{
	core->pol = pol;
	core->snap_version = version;
}

void rly_core_set_now(struct rly_core *core, uint64_t now)
{
	core->now = now;
}

int rly_core_poll(struct rly_core *core, uint64_t now)
{
	int work = 0;
	core->now = now;
	if (dkim_batch_pending(&core->batch))
		work += (int)dkim_batch_run(&core->batch, core->dkim, core->pol->keyring, now);
	if (now >= core->next_tick) {
		core->next_tick = now + TICK_INTERVAL_US;
		for (uint32_t i = 0; i < core->hi_sessions; i++)
			rly_session_tick(&core->sessions[i], now);
	}
	return work;
}

const struct rly_stats *rly_core_stats(const struct rly_core *core)
{
	return &core->stats;
}

bool rly_core_busy(const struct rly_core *core)
{
	return dkim_batch_pending(&core->batch) != 0;
}
