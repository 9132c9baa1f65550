/* SPDX-License-Identifier: MIT */
/* wq.c: control -> workers requests with per-worker replies (see wq.h). */
#include "ctl/wq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ring.h"

struct wq_hdr {
	uint64_t id;
	uint16_t kind;
	uint16_t slot;
	uint32_t len;
};

struct wq_pending {
	uint64_t id;                     /* 0: free */
	uint64_t deadline_us;
	ctl_wq_done_fn *done;
	void *arg;
	unsigned answered;
	void **replies;                  /* per slot, malloc'd copies */
	size_t *lens;
};

struct wq_handler {
	ctl_wq_handler_fn *fn;
	void *ctx;
};

struct ctl_wq {
	unsigned nslots;
	struct ctl_ring **req, **rep;
	struct wq_handler (*h)[CTL_WQ_MAX_KINDS]; /* [slot][kind] */
	struct wq_pending pend[CTL_WQ_PENDING];
	uint64_t next_id;
};

struct ctl_wq *ctl_wq_new(unsigned nslots)
{
	struct ctl_wq *q = calloc(1, sizeof(*q));
	if (!q || nslots == 0 || nslots > CTL_WQ_MAX_SLOTS)
		goto err;
	q->nslots = nslots;
	q->next_id = 1;
	q->req = calloc(nslots, sizeof(*q->req));
	q->rep = calloc(nslots, sizeof(*q->rep));
	q->h = calloc(nslots, sizeof(*q->h));
	if (!q->req || !q->rep || !q->h)
		goto err;
	for (unsigned s = 0; s < nslots; s++)
		if (!(q->req[s] = ctl_ring_new(64 * 1024)) || !(q->rep[s] = ctl_ring_new(256 * 1024)))
			goto err;
	for (unsigned i = 0; i < CTL_WQ_PENDING; i++) {
		q->pend[i].replies = calloc(nslots, sizeof(void *));
		q->pend[i].lens = calloc(nslots, sizeof(size_t));
		if (!q->pend[i].replies || !q->pend[i].lens)
			goto err;
	}
	return q;
err:
	ctl_wq_free(q);
	return NULL;
}

void ctl_wq_free(struct ctl_wq *q)
{
	if (!q)
		return;
	for (unsigned s = 0; q->req && s < q->nslots; s++) {
		ctl_ring_free(q->req[s]);
		ctl_ring_free(q->rep[s]);
	}
	for (unsigned i = 0; i < CTL_WQ_PENDING; i++) {
		for (unsigned s = 0; q->pend[i].replies && s < q->nslots; s++)
			free(q->pend[i].replies[s]);
		free(q->pend[i].replies);
		free(q->pend[i].lens);
	}
	free(q->req);
	free(q->rep);
	free(q->h);
	free(q);
}

int ctl_wq_set_handler(struct ctl_wq *q, uint16_t kind, unsigned slot, ctl_wq_handler_fn *fn,
		       void *worker_ctx)
{
	if (kind >= CTL_WQ_MAX_KINDS || slot >= q->nslots)
		return -EINVAL;
	q->h[slot][kind] = (struct wq_handler){ fn, worker_ctx };
	return 0;
}

unsigned ctl_wq_serve(struct ctl_wq *q, unsigned slot)
{
	unsigned n = 0;
	const struct wq_hdr *h;
	size_t len;
	uint8_t reply[CTL_WQ_MSG_MAX];
	while ((h = ctl_ring_peek(q->req[slot], &len))) {
		const struct wq_handler *hd = h->kind < CTL_WQ_MAX_KINDS ? &q->h[slot][h->kind] : NULL;
		size_t rlen = hd && hd->fn ? hd->fn(h->kind, h + 1, h->len, reply, sizeof(reply), hd->ctx) : 0;
		struct wq_hdr r = { h->id, h->kind, (uint16_t)slot, (uint32_t)(rlen < sizeof(reply) ? rlen : sizeof(reply)) };
		/* the reply ring is 4x the request ring's worst case: it cannot be full here unless
		 * the control plane stopped polling; then the request times out on its side */
		ctl_ring_put2(q->rep[slot], &r, sizeof(r), reply, r.len);
		ctl_ring_pop(q->req[slot]);
		n++;
	}
	return n;
}

static struct wq_pending *pend_find(struct ctl_wq *q, uint64_t id)
{
	for (unsigned i = 0; i < CTL_WQ_PENDING; i++)
		if (q->pend[i].id == id)
			return &q->pend[i];
	return NULL;
}

int ctl_wq_broadcast(struct ctl_wq *q, uint16_t kind, const void *req, size_t len,
		     uint64_t now_us, uint64_t timeout_us, ctl_wq_done_fn *done, void *arg)
{
	if (len > CTL_WQ_MSG_MAX)
		return -EMSGSIZE;
	struct wq_pending *p = pend_find(q, 0);
	if (!p)
		return -EBUSY;
	/* all or nothing: check every ring has room before sending to any */
	for (unsigned s = 0; s < q->nslots; s++) {
		struct ctl_ring *r = q->req[s];
		uint64_t used = __atomic_load_n(&r->head, __ATOMIC_RELAXED) -
				__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (used + 2 * (sizeof(struct wq_hdr) + len + 16) > r->size)
			return -ENOBUFS;
	}
	p->id = q->next_id++;
	p->deadline_us = now_us + timeout_us;
	p->done = done;
	p->arg = arg;
	p->answered = 0;
	struct wq_hdr h = { p->id, kind, 0, (uint32_t)len };
	for (unsigned s = 0; s < q->nslots; s++) {
		h.slot = (uint16_t)s;
		ctl_ring_put2(q->req[s], &h, sizeof(h), req, len);
	}
	return 0;
}

static void pend_finish(struct ctl_wq *q, struct wq_pending *p)
{
	p->id = 0; /* free before the callback: it may broadcast again */
	p->done(p->arg, (const void *const *)p->replies, p->lens, q->nslots, p->answered == q->nslots);
	for (unsigned s = 0; s < q->nslots; s++) {
		free(p->replies[s]);
		p->replies[s] = NULL;
		p->lens[s] = 0;
	}
}

void ctl_wq_poll(struct ctl_wq *q, uint64_t now_us)
{
	for (unsigned s = 0; s < q->nslots; s++) {
		const struct wq_hdr *h;
		size_t len;
		while ((h = ctl_ring_peek(q->rep[s], &len))) {
			struct wq_pending *p = h->id ? pend_find(q, h->id) : NULL;
			if (p && !p->replies[s]) { /* late replies of a timed-out request: dropped */
				p->replies[s] = malloc(h->len ? h->len : 1);
				if (p->replies[s])
					memcpy(p->replies[s], h + 1, h->len);
				p->lens[s] = h->len;
				p->answered++;
			}
			ctl_ring_pop(q->rep[s]);
		}
	}
	for (unsigned i = 0; i < CTL_WQ_PENDING; i++) {
		struct wq_pending *p = &q->pend[i];
		if (p->id && (p->answered == q->nslots || now_us >= p->deadline_us))
			pend_finish(q, p);
	}
}

bool ctl_wq_busy(const struct ctl_wq *q)
{
	for (unsigned i = 0; i < CTL_WQ_PENDING; i++)
		if (q->pend[i].id)
			return true;
	return false;
}
