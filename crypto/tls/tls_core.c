/* SPDX-License-Identifier: MIT */
/*
 * tls_core.c: the per-lcore TLS state: counters, the client session cache, the list of conns
 * with deferred work (resumed delivery, end-of-turn record sealing, pending closes) and the
 * handshake deadlines, and tls_core_poll() which the lcore loop calls once per turn.
 */
#include "tls/tls_int.h"

#include <stdlib.h>

#include "gcm/gcm.h"

/* ---- per-core state --------------------------------------------------------------------- */

void tls_core_cfg_defaults(struct tls_core_cfg *cfg)
{
	cfg->session_cache_slots = 1024;
	cfg->send_limit = 4 * TLS_RECORD_MAX;
	cfg->close_timeout = 30000000;
	cfg->gcm_records = true;
	cfg->gcm_batch_sessions = false;
}

struct tls_core *tls_core_new(const struct tls_core_cfg *cfg)
{
	struct tls_core *core = calloc(1, sizeof(*core));
	if (!core)
		return NULL;
	core->cfg = *cfg;
	TAILQ_INIT(&core->hs);
	TAILQ_INIT(&core->run);
	if (tls_sess_init(core) < 0) {
		free(core);
		return NULL;
	}
	if (cfg->gcm_records) {
		struct gcm_engine_cfg gc;
		int err;

		gcm_engine_cfg_defaults(&gc);
		core->gcm = gcm_lcore_new(&gc, &err);
		if (!core->gcm) {
			tls_sess_fini(core);
			free(core);
			return NULL;
		}
	}
	return core;
}

void tls_core_free(struct tls_core *core)
{
	if (!core)
		return;
	tls_sess_fini(core);
	gcm_lcore_free(core->gcm);
	free(core);
}

const struct tls_stats *tls_core_stats(const struct tls_core *core)
{
	return &core->stats;
}

uint64_t tls_core_next_deadline(const struct tls_core *core)
{
	if (!TAILQ_EMPTY(&core->run) ||
	    (core->gcm && gcm_engine_next_deadline(core->gcm->e) != UINT64_MAX))
		return 0;
	if (TAILQ_EMPTY(&core->hs))
		return UINT64_MAX;
	return TAILQ_FIRST(&core->hs)->deadline;
}

void tls_run_add(struct tls_conn *tc)
{
	if (tc->on_run || tc->state == TLS_ST_DEAD)
		return;
	tc->on_run = true;
	tc->core->n_run++;
	TAILQ_INSERT_TAIL(&tc->core->run, tc, run_link);
}

void tls_run_del(struct tls_conn *tc)
{
	if (!tc->on_run)
		return;
	tc->on_run = false;
	tc->core->n_run--;
	TAILQ_REMOVE(&tc->core->run, tc, run_link);
}

/* Handshake deadlines are kept sorted; with one timeout value insertion is at the tail. */
void tls_hs_add(struct tls_conn *tc)
{
	struct tls_conn *it;
	if (tc->deadline == 0)
		return;
	TAILQ_FOREACH_REVERSE(it, &tc->core->hs, tls_conn_list, hs_link)
		if (it->deadline <= tc->deadline)
			break;
	if (it)
		TAILQ_INSERT_AFTER(&tc->core->hs, it, tc, hs_link);
	else
		TAILQ_INSERT_HEAD(&tc->core->hs, tc, hs_link);
	tc->on_hs = true;
}

void tls_hs_del(struct tls_conn *tc)
{
	if (!tc->on_hs)
		return;
	tc->on_hs = false;
	TAILQ_REMOVE(&tc->core->hs, tc, hs_link);
}

/* ---- life cycle --------------------------------------------------------------------------- */

/* One pass over the conns that were on the run list when it started. */
static void run_list(struct tls_core *core)
{
	struct tls_conn *tc;
	unsigned budget = core->n_run;
	while (budget-- > 0 && (tc = TAILQ_FIRST(&core->run))) {
		tls_run_del(tc);
		tls_conn_run(tc);
	}
}

void tls_core_poll(struct tls_core *core, uint64_t now)
{
	struct tls_conn *tc;

	core->now = now;
	/* across-sessions mode: the records queued by every session during the turn run as one
	 * burst here; their sessions are on the run list to be delivered/flushed just below. A
	 * second round takes what that work queued (replies, end-of-turn records). */
	tls_gcm_core_flush(core);
	run_list(core);
	if (tls_gcm_core_flush(core))
		run_list(core);
	while ((tc = TAILQ_FIRST(&core->hs)) && tc->deadline <= now)
		tls_conn_expire(tc);
}
