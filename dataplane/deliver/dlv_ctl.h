/* SPDX-License-Identifier: MIT */
/*
 * dlv_ctl.h: operator actions on the delivery queues (dpmailctl queue summary/list/show/
 * flush/delete/bounce, suspend, resume). The control thread never touches worker memory: a
 * command becomes a request record on each worker's ring; every worker executes it in its own
 * loop turn (dlv_engine_poll) and answers with rows on its reply ring, ended by an "end"
 * record; the control thread merges the rows and completes the admin request asynchronously.
 *
 *   control thread:  c = dlv_ctl_new(nworkers); dlv_ctl_register(c, srv);
 *                    each loop turn: dlv_ctl_poll(c);        at exit (workers stopped): free
 *   worker slot w:   dlv_engine_set_ctl(eng, c, w)            (dlv.h); dlv_engine_poll serves
 */
#ifndef DPMAIL_DLV_CTL_H
#define DPMAIL_DLV_CTL_H

#include <stdint.h>

struct dlv_ctl;
struct dlv_engine;
struct ctl_server;

struct dlv_ctl *dlv_ctl_new(unsigned nworkers);
void dlv_ctl_free(struct dlv_ctl *c);
/* Serves the queue/suspend/resume commands of the grammar. 0 or -errno (first failure). */
int dlv_ctl_register(struct dlv_ctl *c, struct ctl_server *srv);
/* Control thread: collects worker answers, completes requests (also times them out). */
void dlv_ctl_poll(struct dlv_ctl *c, uint64_t now_us);

/* Worker side (dlv_engine_poll): executes the requests queued for slot. */
void dlv_ctl_serve(struct dlv_ctl *c, unsigned slot, struct dlv_engine *eng);

#endif
