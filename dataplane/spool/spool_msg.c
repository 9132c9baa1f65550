/* SPDX-License-Identifier: MIT */
/*
 * spool_msg.c: the in-memory queue of one core: queued messages (struct spool_msg, packed, its
 * envelope blob and recipient states in the same allocation), an open-addressing index by queue
 * id, outcome and retry records, and the read-only accessors delivery uses. A message costs
 * sizeof(struct spool_msg) + malloc overhead + one index slot (at most 2 slots per message at
 * the worst load) besides its envelope strings: see spool_msg_overhead().
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t slot_of(const struct spool *sp, uint64_t qid)
{
	return (uint32_t)((qid * 0x9E3779B97F4A7C15ull) >> 32) & sp->tabmask;
}

int spool_index_init(struct spool *sp, uint32_t slots)
{
	uint32_t n = 1024;
	while (n < slots)
		n <<= 1;
	struct spool_msg **t = calloc(n, sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct spool_msg **old = sp->tab;
	uint32_t oldn = old ? sp->tabmask + 1 : 0;
	sp->tab = t;
	sp->tabmask = n - 1;
	for (uint32_t i = 0; i < oldn; i++) {
		if (!old[i])
			continue;
		uint32_t j = slot_of(sp, old[i]->qid);
		while (t[j])
			j = (j + 1) & sp->tabmask;
		t[j] = old[i];
	}
	free(old);
	return 0;
}

static size_t msg_bytes(const struct spool_msg *m)
{
	return sizeof(*m) + m->env_len + m->nrcpt;
}

int spool_index_put(struct spool *sp, struct spool_msg *m)
{
	if (2u * (sp->count + 1) > sp->tabmask + 1) {
		int e = spool_index_init(sp, 2u * (sp->tabmask + 1));
		if (e)
			return e;
	}
	uint32_t j = slot_of(sp, m->qid);
	while (sp->tab[j]) {
		if (sp->tab[j]->qid == m->qid)
			return -EEXIST;
		j = (j + 1) & sp->tabmask;
	}
	sp->tab[j] = m;
	sp->count++;
	sp->st.live_bytes += msg_bytes(m);
	return 0;
}

struct spool_msg *spool_index_get(const struct spool *sp, uint64_t qid)
{
	uint32_t j = slot_of(sp, qid);
	while (sp->tab[j]) {
		if (sp->tab[j]->qid == qid)
			return sp->tab[j];
		j = (j + 1) & sp->tabmask;
	}
	return NULL;
}

/* Linear probing deletion by backward shift: no tombstones, lookups stay short. */
void spool_index_del(struct spool *sp, struct spool_msg *m)
{
	uint32_t j = slot_of(sp, m->qid);
	while (sp->tab[j] != m) {
		if (!sp->tab[j])
			return;
		j = (j + 1) & sp->tabmask;
	}
	uint32_t hole = j;
	for (;;) {
		j = (j + 1) & sp->tabmask;
		if (!sp->tab[j])
			break;
		uint32_t home = slot_of(sp, sp->tab[j]->qid);
		/* move tab[j] into the hole unless its home lies cyclically in (hole, j] */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!stays) {
			sp->tab[hole] = sp->tab[j];
			hole = j;
		}
	}
	sp->tab[hole] = NULL;
	sp->count--;
	sp->st.live_bytes -= msg_bytes(m);
}

void spool_index_fini(struct spool *sp)
{
	if (!sp->tab)
		return;
	for (uint32_t i = 0; i <= sp->tabmask; i++)
		free(sp->tab[i]);
	free(sp->tab);
	sp->tab = NULL;
}

struct spool_msg *spool_msg_new(const uint8_t *env, uint32_t env_len, uint16_t nrcpt)
{
	struct spool_msg *m = calloc(1, sizeof(*m) + env_len + nrcpt);
	if (!m)
		return NULL;
	memcpy(m->data, env, env_len);
	m->env_len = env_len;
	m->nrcpt = nrcpt;
	const uint8_t *v;
	uint16_t vl;
	if (spool_env_ext(env, env_len, SPOOL_ENVX_FLAGS, &v, &vl) && vl >= 4) {
		struct spool_rbuf r = { .p = v, .len = vl };
		m->flags = spool_get32(&r);
	}
	return m;
}

uint8_t *spool_msg_states(struct spool_msg *m) { return m->data + m->env_len; }

void spool_msg_kill(struct spool *sp, struct spool_msg *m)
{
	spool_index_del(sp, m);
	spool_seg_unref(sp, spool_seg_find(sp, m->home_seq));
	sp->st.dead++;
	free(m);
}

/* Sets one recipient's status; returns 1 when the message just became dead (and is freed). */
int spool_msg_set_status(struct spool *sp, struct spool_msg *m, uint16_t idx, uint8_t st)
{
	uint8_t *s = spool_msg_states(m);
	if (s[idx] == SPOOL_RCPT_PENDING && st != SPOOL_RCPT_PENDING)
		m->nfinal++;
	else if (s[idx] != SPOOL_RCPT_PENDING && st == SPOOL_RCPT_PENDING)
		m->nfinal--;
	s[idx] = st;
	if (m->nfinal == m->nrcpt) {
		spool_msg_kill(sp, m);
		return 1;
	}
	return 0;
}

int spool_stage_state(struct spool *sp, struct spool_msg *m)
{
	uint8_t fix[20];
	struct spool_wbuf w = { .p = fix };
	spool_put64(&w, m->qid);
	spool_put64(&w, m->next_attempt_us);
	spool_put16(&w, m->attempts);
	spool_put16(&w, m->nrcpt);
	/* the marks byte trails the states: readers that predate it stop before it */
	struct spool_part p[3] = { { .p = fix, .len = w.len },
				   { .p = spool_msg_states(m), .len = m->nrcpt },
				   { .p = &m->marks, .len = 1 } };
	int e = spool_stage_rec(sp, SPOOL_REC_STATE, p, 3, false, NULL);
	return e ? e : spool_stage_ent(sp, SPOOL_BENT_STATE, m->qid, NULL);
}

int spool_outcome(struct spool *sp, uint64_t qid, uint16_t rcpt_idx, enum spool_rcpt_status st,
		  const char *reply, size_t reply_len)
{
	struct spool_msg *m = spool_index_get(sp, qid);
	if (!m)
		return -ENOENT;
	if (rcpt_idx >= m->nrcpt || (unsigned)st >= SPOOL_RCPT__MAX)
		return -EINVAL;
	if (reply_len > 1000)
		reply_len = 1000;
	uint8_t fix[13];
	struct spool_wbuf w = { .p = fix };
	spool_put64(&w, qid);
	spool_put16(&w, rcpt_idx);
	spool_put8(&w, (uint8_t)st);
	spool_put16(&w, (uint16_t)reply_len);
	struct spool_part p[2] = { { .p = fix, .len = w.len },
				   { .p = reply, .len = (uint32_t)reply_len } };
	int e = spool_stage_rec(sp, SPOOL_REC_OUTCOME, p, 2, false, NULL);
	if (e || (e = spool_stage_ent(sp, SPOOL_BENT_STATE, qid, NULL)))
		return e;
	sp->st.outcomes++;
	spool_msg_set_status(sp, m, rcpt_idx, (uint8_t)st);
	return 0;
}

int spool_retry(struct spool *sp, uint64_t qid, uint64_t next_attempt_us, uint16_t attempts)
{
	struct spool_msg *m = spool_index_get(sp, qid);
	if (!m)
		return -ENOENT;
	m->next_attempt_us = next_attempt_us;
	m->attempts = attempts;
	return spool_stage_state(sp, m);
}

int spool_mark(struct spool *sp, uint64_t qid, uint8_t marks)
{
	struct spool_msg *m = spool_index_get(sp, qid);
	if (!m)
		return -ENOENT;
	if ((m->marks | marks) == m->marks)
		return 0;
	m->marks |= marks;
	return spool_stage_state(sp, m);
}

const struct spool_msg *spool_msg_get(const struct spool *sp, uint64_t qid)
{
	return spool_index_get(sp, qid);
}

void spool_foreach(const struct spool *sp, int (*fn)(void *arg, const struct spool_msg *m), void *arg)
{
	for (uint32_t i = 0; i <= sp->tabmask; i++)
		if (sp->tab[i] && fn(arg, sp->tab[i]))
			return;
}

size_t spool_msg_overhead(void)
{
	/* the struct, malloc's chunk header, two index slots at the worst load factor */
	return sizeof(struct spool_msg) + 16 + 2 * sizeof(struct spool_msg *);
}

uint64_t spool_msg_qid(const struct spool_msg *m) { return m->qid; }
uint64_t spool_msg_body_len(const struct spool_msg *m) { return m->body_len; }
uint64_t spool_msg_next_attempt(const struct spool_msg *m) { return m->next_attempt_us; }
uint16_t spool_msg_attempts(const struct spool_msg *m) { return m->attempts; }
uint16_t spool_msg_nrcpt(const struct spool_msg *m) { return m->nrcpt; }
uint32_t spool_msg_flags(const struct spool_msg *m) { return m->flags; }
uint8_t spool_msg_marks(const struct spool_msg *m) { return m->marks; }

uint8_t spool_msg_ret(const struct spool_msg *m)
{
	struct spool_rbuf r = { .p = m->data, .len = m->env_len, .off = 12 };  /* after arrival, snapshot */
	return spool_get8(&r);
}

struct spool_str spool_msg_tenant(const struct spool_msg *m)
{
	const uint8_t *v;
	uint16_t vl;
	if (!spool_env_ext(m->data, m->env_len, SPOOL_ENVX_TENANT, &v, &vl))
		return (struct spool_str){ "", 0 };
	return (struct spool_str){ (const char *)v, vl };
}

uint64_t spool_msg_arrival(const struct spool_msg *m)
{
	struct spool_rbuf r = { .p = m->data, .len = m->env_len };
	return spool_get64(&r);
}

static struct spool_str get_str(struct spool_rbuf *r)
{
	struct spool_str s;
	s.len = spool_get16(r);
	s.p = (const char *)spool_getmem(r, s.len);
	if (!s.p)
		s.len = 0;
	return s;
}

/* The envelope blob after its fixed part: envid, sender, nrcpt, recipients. */
static struct spool_rbuf env_strings(const struct spool_msg *m)
{
	struct spool_rbuf r = { .p = m->data, .len = m->env_len, .off = SPOOL_ENV_FIXED };
	return r;
}

struct spool_str spool_msg_envid(const struct spool_msg *m)
{
	struct spool_rbuf r = env_strings(m);
	return get_str(&r);
}

struct spool_str spool_msg_sender(const struct spool_msg *m)
{
	struct spool_rbuf r = env_strings(m);
	get_str(&r);
	return get_str(&r);
}

int spool_msg_rcpt(const struct spool_msg *m, uint16_t idx, struct spool_rcpt_view *out)
{
	if (idx >= m->nrcpt)
		return -EINVAL;
	struct spool_rbuf r = env_strings(m);
	get_str(&r);
	get_str(&r);
	spool_get16(&r);
	for (uint16_t i = 0;; i++) {
		out->notify = spool_get8(&r);
		out->addr = get_str(&r);
		out->orcpt = get_str(&r);
		if (i == idx || r.bad)
			break;
	}
	out->status = m->data[m->env_len + idx];
	return r.bad ? -EBADMSG : 0;
}
