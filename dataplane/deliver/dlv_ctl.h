/* SPDX-License-Identifier: MIT */
/*
 * dlv_ctl.h: operator actions on the delivery queues (dpmailctl queue summary/list/show/
 * flush/delete/bounce, suspend, resume). The control thread never touches worker memory: a
 * command is broadcast to the workers through the control plane's worker queue (control/ctl
 * wq.h, request kind DLV_WQ_KIND); each worker executes it in its own loop turn (dlv_ops.c)
 * and answers with a count and a JSON array of rows; the control thread merges the answers
 * and completes the admin request. The control-side start-up is a ctl_modules[] entry; it also
 * hands each worker's engine the accounting sink.
 */
#ifndef DPMAIL_DLV_CTL_H
#define DPMAIL_DLV_CTL_H

#define DLV_WQ_KIND 9          /* ctl_wq request kind of delivery's commands */

struct ctl_daemon;

/* ctl_modules[] entry "deliver" (control/ctl/ctl_modules.c). 0 or -errno. */
int dlv_ctl_init(struct ctl_daemon *d);
void dlv_ctl_fini(struct ctl_daemon *d);

#endif
