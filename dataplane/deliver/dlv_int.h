/* SPDX-License-Identifier: MIT */
/*
 * dlv_int.h: private types of the delivery engine (jobs, destinations, connections).
 */
#ifndef DPMAIL_DLV_INT_H
#define DPMAIL_DLV_INT_H

#include <string.h>

#include "deliver/dlv.h"
#include "deliver/dlv_heap.h"
#include "deliver/dlv_shape.h"
#include "fmt.h"
#include "smtp/smtp.h"
#include "tls/tls-t.h"

#define DLV_JOB_RCPTS   8
#define DLV_KEY_MAX     300
#define DLV_JOB_SLAB    1024
#define DLV_DEST_HASH   1024
#define DLV_TEXT_MAX    200
#define DLV_TLSA_MAX    8
#define DLV_SUSP_MAX    64
#define DLV_ORCPT_WIRE  800           /* "type;xtext" sent; a longer ORCPT is left out */
#define DLV_POOL_MAX    64            /* delivery.pools entries (the config layer enforces it) */
#define DLV_TLSA_LEN    64            /* SHA-512; full-certificate records are skipped */

/*
 * Bounded string building for the per-message path, without printf (a snprintf call costs
 * 600-2,000 instructions; these a few per octet). buf has cap >= 1 bytes; *off is where the
 * next piece goes (<= cap - 1) and buf[*off] is kept a NUL, so a piece that does not fit is
 * cut like snprintf would cut it. dlv_putn stops at a NUL inside s[0..n), like "%.*s".
 */
static inline void dlv_putn(char *buf, size_t cap, size_t *off, const char *s, size_t n)
{
	size_t room = cap - 1 - *off;
	if (n > room)
		n = room;
	if (n == 0) {   /* s may be NULL with a length of 0 (an empty spool string) */
		buf[*off] = '\0';
		return;
	}
	const char *z = memchr(s, 0, n);
	if (z)
		n = (size_t)(z - s);
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
}

static inline void dlv_puts(char *buf, size_t cap, size_t *off, const char *s)
{
	dlv_putn(buf, cap, off, s, strnlen(s, cap - 1 - *off));
}

/* Decimal digits of v, as "%u" would write them. */
static inline void dlv_putu(char *buf, size_t cap, size_t *off, unsigned v)
{
	char d[20];
	dlv_putn(buf, cap, off, d, fmt_u64(d, v));
}

/* The whole of s into dst (cap bytes), cut to fit: snprintf(dst, cap, "%.*s", n, s). */
static inline void dlv_copyn(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	dst[0] = '\0';
	dlv_putn(dst, cap, &o, s, n);
}

static inline void dlv_copys(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	dst[0] = '\0';
	dlv_puts(dst, cap, &o, s);
}

enum dlv_job_state { DLV_J_FREE = 0, DLV_J_RESOLVE, DLV_J_READY, DLV_J_ACTIVE, DLV_J_DEFERRED };

struct dlv_dest;
struct ctl_dns_sts;
struct spool_msg;

struct dlv_job {
	struct dlv_heap_node hn;      /* first: the retry heap hands back this pointer */
	enum dlv_job_state st;
	uint32_t idx, gen;
	uint64_t qid;
	struct dlv_dest *dest;
	struct dlv_dest *home;        /* the destination it was last queued at (kept while deferred) */
	struct dlv_job *next;         /* dest queue, resolve list or free list */
	uint16_t attempts;
	uint64_t due;                 /* DEFERRED: next attempt (monotonic) */
	uint8_t nrc;
	bool sts_asked;               /* the MTA-STS policy was requested: its completion came back */
	uint16_t rc[DLV_JOB_RCPTS];   /* recipient indexes in the spooled message */
};

struct dlv_hop {
	char host[DLV_HOST_MAX + 1];
	uint16_t port;                /* host order */
	uint16_t pref;                /* MX preference; static route hosts: their rank */
	bool literal;                 /* host is an IPv4 address */
};

/*
 * What a job needs of its destination besides the next hops: a queue serves jobs that agree on
 * all of it, so it is part of the destination key (docs/deliver.md "Destinations").
 */
struct dlv_class {
	enum dlv_tls_mode tls;        /* effective: the policy's, raised to verify by REQUIRETLS */
	bool tls_by_domain;           /* the TLS rule named the recipient domain, not the destination */
	bool requiretls;              /* RFC 8689: verified TLS and REQUIRETLS at every hop */
	const struct dlv_shape_rule *shape;   /* NULL: unlimited */
	bool shape_by_domain;         /* the rule named the recipient domain, not the destination */
	const char *sts_domain;       /* tls MTA_STS with a published policy: the domain (key part) */
	uint32_t src_ip;              /* source address from the message's pool; 0: the port's */
	const char *src_helo;         /* its EHLO name (NULL: smtp.hostname) */
};

/* The MTA-STS policy (testing/enforce) a destination follows, copied from the resolver's
 * answer (answers live only until the next quiescent state). dlv_sts.c. */
struct dlv_sts {
	uint8_t mode;                 /* enum tls_sts_mode: TLS_STS_TESTING or TLS_STS_ENFORCE */
	char id[33];
	uint64_t valid_until_wall_s;
	unsigned n_mx;
	char mx[16][DLV_HOST_MAX + 1];
};

struct dlv_dest {
	char key[DLV_KEY_MAX];
	size_t base_len;              /* key[0..base_len): route:NAME, site:NAME or the MX rollup */
	bool requiretls;
	struct dlv_sts *sts;          /* MTA-STS policy in force (tls == DLV_TLS_MTA_STS), or NULL */
	uint32_t sts_gen;             /* bumped when that policy changes */
	uint32_t src_ip;              /* connect source (network order); 0: the port's address */
	char helo[DLV_HOST_MAX + 1];  /* EHLO name of that source; "": smtp.hostname */
	char domain[DLV_HOST_MAX + 1];  /* the recipient domain that created it */
	uint64_t susp_until;          /* suspended by the operator until (monotonic); 0: not */
	uint32_t n_ready, n_active, n_deferred;   /* scratch of dlv_op_summary */
	uint64_t next_due;
	struct dlv_dest *next_hash;
	struct dlv_dest *next_ready;
	bool in_ready;
	struct dlv_job *qhead, *qtail;
	uint32_t qlen;
	uint32_t nconn;
	uint32_t nsetup;              /* connections not yet ready: each will take one queued job */
	bool idle_hint;               /* an IDLE connection of ours may be without a job (dispatch
	                               * scans the connections only then: false after a scan that
	                               * filled them all; set by a connection going idle empty) */
	uint32_t conn_limit;          /* this lcore's share; 0 = unlimited */
	uint32_t per_conn;            /* messages per connection; 0 = unlimited */
	uint64_t rate_mps;            /* configured share, milli-messages/s; 0 = unlimited */
	struct dlv_bucket bucket;
	struct dlv_backoff bo;
	uint32_t clu_bo_seen;         /* cluster-wide backoff factor last adopted (0: none yet) */
	uint32_t clu_cuts_sent;       /* bo.cuts already reported to the cluster */
	uint64_t clu_asked_us;        /* asked the cluster to manage this key (0: never) */
	bool shape_star;              /* limited by the `*` shaping rule */
	uint64_t fail_until;          /* all hops failed: no new connection before this */
	enum dlv_tls_mode tls;
	unsigned nhops;
	struct dlv_hop hops[DLV_MX_MAX];
	uint64_t hops_expire;
	uint32_t rr;                  /* round robin over the best-preference hops, per connection */
};

enum dlv_conn_state {
	DLV_C_FREE = 0,
	DLV_C_RESOLVE,                /* waiting for the A record of the current hop */
	DLV_C_CONNECT,                /* TCP connect in progress */
	DLV_C_SETUP,                  /* greeting, EHLO, STARTTLS */
	DLV_C_IDLE,                   /* ready for a message */
	DLV_C_BUSY,                   /* a transaction is running */
	DLV_C_QUIT,                   /* QUIT sent or closing */
};

struct dlv_conn {
	struct dlv_engine *eng;
	uint32_t idx, gen;
	enum dlv_conn_state st;
	struct dlv_dest *dest;
	unsigned hop;                 /* attempt number; dlv_conn_hop() maps it onto dest->hops */
	unsigned rot;                 /* rotation of the best-preference group for this connection */
	struct conn *conn;
	bool conn_gone;
	bool tls_pending;
	bool tls_on, tls_verified;
	bool sts_match;               /* MTA-STS: the current hop matches the policy's mx patterns */
	uint32_t sts_gen;             /* the dest's sts_gen when the hop was checked */
	bool in_setup;                /* counted in dest->nsetup */
	char fail_ecode[16];          /* enhanced status of a setup failure (4.7.5 TLS...) */
	char fail_text[DLV_TEXT_MAX]; /* and its reason */
	unsigned ntlsa;               /* DANE: secure TLSA records of the current hop */
	struct tls_tlsa tlsa[DLV_TLSA_MAX];
	uint8_t tlsa_data[DLV_TLSA_MAX][DLV_TLSA_LEN];
	const char *tls_version, *tls_cipher;   /* static strings of the TLS layer */
	uint64_t idle_since;
	uint32_t msgs;
	struct dlv_job *job;
	struct smtp_client_session smtp;
	/* the message being sent */
	struct smtp_client_msg msg;
	char from[SMTP_PATH_MAX + 1];
	char rcpt[DLV_JOB_RCPTS][SMTP_PATH_MAX + 1];
	const char *rcptp[DLV_JOB_RCPTS];
	/* DSN parameters passed on (RFC 3461 4: a DSN-capable relay keeps them), xtext-encoded */
	char envid[3 * SMTP_ENVID_MAX + 1];
	uint32_t notify[DLV_JOB_RCPTS];
	char orcpt[DLV_JOB_RCPTS][DLV_ORCPT_WIRE];
	const char *orcptp[DLV_JOB_RCPTS];
	uint16_t rcode[DLV_JOB_RCPTS];
	char rtext[DLV_JOB_RCPTS][DLV_TEXT_MAX];
	char recode[DLV_JOB_RCPTS][16];
	struct spool_body *body;
	/* The body piece being sent: the spool reader's own buffer, read in place (valid until
	 * the next spool call on dc->body, which h_body_map makes only once it is consumed;
	 * every close of dc->body forgets it). No copy: the client engine's canonicaliser reads
	 * from here (body_map) straight into the output. */
	const uint8_t *piece;
	uint32_t buf_len, buf_off;
	bool body_eof, body_wait, body_err;
	struct dlv_conn *next_free;
};

struct dlv_engine {
	struct dlv_params p;
	struct spool *sp;
	struct tls_core *tls;
	struct conn_net net;
	struct ctl_dns *dns;
	struct ctl_acct *acct;        /* NULL: outcomes are only logged */
	unsigned n_susp;
	struct dlv_susp {
		char name[DLV_HOST_MAX + 1];
		uint64_t until;
	} susp[DLV_SUSP_MAX];
	const struct dlv_policy *pol;
	struct dlv_policy nopol;
	uint32_t pool_rr[DLV_POOL_MAX];   /* round robin over each pool's addresses */
	struct smtp_client_limits climits;   /* borrowed by every client session: lives here */
	uint64_t now;
	uint32_t rnd;
	struct dlv_heap sched;
	struct dlv_job **slabs;
	uint32_t n_slabs;
	struct dlv_job *free_jobs;
	struct dlv_job *resolving;    /* jobs waiting for an MX answer */
	struct dlv_dest *hash[DLV_DEST_HASH];
	struct dlv_dest *ready;       /* destinations with queued jobs */
	struct dlv_conn *conns;
	struct dlv_conn *free_conns;
	uint64_t next_tick;
	struct dlv_stats stats;
	/* DSN being assembled */
	char *dsn;
	size_t dsn_len, dsn_cap;
};

/* dlv_dest.c: the destination of a job of message m created for `domain` at `base` (found or
 * created with the class the message, the policy and the domain's MTA-STS policy `sts` (NULL:
 * none) give); NULL: out of memory. */
struct dlv_dest *dlv_dest_for(struct dlv_engine *eng, const struct spool_msg *m, const char *base,
			      const char *domain, const struct ctl_dns_sts *sts);
/* The configuration word of a TLS mode ("may", "mta-sts"...). */
const char *dlv_tls_name(enum dlv_tls_mode m);

/* dlv_engine.c, used by dlv_conn.c */
struct dlv_job *dlv_dest_pop(struct dlv_dest *d);
void dlv_job_finish(struct dlv_engine *eng, struct dlv_job *j, struct dlv_conn *dc,
		    const struct smtp_reply *msg_reply);
void dlv_job_tempfail(struct dlv_engine *eng, struct dlv_job *j, const char *code, const char *text);
/* One outcome for the destination's backoff (tempfail: 4xx, 421, dropped connection). */
void dlv_dest_outcome(struct dlv_engine *eng, struct dlv_dest *d, bool tempfail);
/* The backoff factor of d changed: re-applies it to the bucket and logs it. */
void dlv_dest_backoff_changed(struct dlv_engine *eng, struct dlv_dest *d);
const struct dlv_backoff_policy *dlv_backoff_policy(const struct dlv_engine *eng);
/* A connection to d failed on every hop: concurrency feedback while others to d still work
 * (no new connection for a moment), else a failed destination (queued jobs deferred, no new
 * connection until the first retry could come due). */
void dlv_dest_conn_failed(struct dlv_engine *eng, struct dlv_dest *d, const char *ecode,
			  const char *why);
uint32_t dlv_rand(struct dlv_engine *eng);
const struct spool_msg *dlv_job_msg(struct dlv_engine *eng, const struct dlv_job *j);

void dlv_job_free(struct dlv_engine *eng, struct dlv_job *j);
void dlv_job_resolve(struct dlv_engine *eng, struct dlv_job *j);
void dlv_job_bounce(struct dlv_engine *eng, struct dlv_job *j, const char *ecode, const char *text);

/* dlv_ops.c: operator actions, run on the worker (see dlv_ctl.h). Rows are JSON objects. */
typedef void dlv_row_fn(void *arg, const char *json, size_t len);
int dlv_op_summary(struct dlv_engine *eng, dlv_row_fn *emit, void *arg);
int dlv_op_list(struct dlv_engine *eng, const char *dest, dlv_row_fn *emit, void *arg);
int dlv_op_show(struct dlv_engine *eng, uint64_t qid, dlv_row_fn *emit, void *arg);
int dlv_op_flush(struct dlv_engine *eng, const char *dest);
int dlv_op_remove(struct dlv_engine *eng, uint64_t qid, const char *dest, bool bounce);
/* until: monotonic end of the suspension (UINT64_MAX: until resumed); 0 resumes. */
int dlv_op_suspend(struct dlv_engine *eng, const char *dest, uint64_t until);
/* The suspension that applies to a new destination (0: none). */
uint64_t dlv_suspended(const struct dlv_engine *eng, const struct dlv_dest *d);
bool dlv_dest_matches(const struct dlv_dest *d, const char *name);

/* dlv_conn.c */
struct dlv_conn *dlv_conn_open(struct dlv_engine *eng, struct dlv_dest *d);
void dlv_conn_start_job(struct dlv_conn *dc, struct dlv_job *j);
void dlv_conn_tick(struct dlv_conn *dc, uint64_t now);
void dlv_conn_dns_done(struct dlv_engine *eng, uint32_t idx, uint32_t gen);
void dlv_conn_body(struct dlv_conn *dc, int result, const uint8_t *data, uint32_t len);
void dlv_conn_abort_all(struct dlv_engine *eng);
/* The hop a connection is on: equal best-preference hosts are rotated per connection, so the
 * connections of a destination spread over them (RFC 5321 5.1); the rest keep their order. */
const struct dlv_hop *dlv_conn_hop(const struct dlv_conn *dc);

/* dlv_sts.c: MTA-STS (RFC 8461) in delivery; the policy comes from control/sts through the
 * resolver's CTL_DNS_STS pseudo type. */
/* 0 with *out set (NULL: no policy applies), 1 parked waiting for the policy, -1 deferred. */
int dlv_sts_lookup(struct dlv_engine *eng, struct dlv_job *j, const char *domain,
		   const struct ctl_dns_sts **out);
/* Raises the class to mta-sts when p is a testing/enforce policy (domain becomes a key part). */
void dlv_sts_class(struct dlv_class *c, const char *domain, const struct ctl_dns_sts *p);
/* Copies p into d (when d follows MTA-STS and the policy id changed). -ENOMEM or 0. */
int dlv_sts_dest_update(struct dlv_dest *d, const struct ctl_dns_sts *p);
/* Before connecting to h: false when an enforce policy excludes it (fail_ecode/text set). */
bool dlv_sts_hop_allowed(struct dlv_conn *dc, const struct dlv_hop *h);
/* False when the destination's policy changed after dc's hop was checked (dc must not take
 * another message: it is closed, a new connection applies the new policy). */
bool dlv_sts_conn_current(const struct dlv_conn *dc);
/* The TLS policy of a connection of an MTA-STS destination. */
void dlv_sts_tls_policy(const struct dlv_conn *dc, struct tls_policy *pol);
/* After the handshake (testing: counts and logs a would-be failure). */
void dlv_sts_tls_result(struct dlv_conn *dc, bool ok, bool verified);
/* "mta-sts:enforce", "mta-sts:testing", or the destination's configured mode name. */
const char *dlv_sts_policy_word(const struct dlv_dest *d, const char *mode_name);

/* dlv_cluster.c: clamps d to the cluster lease; false: dispatch nothing for d this turn. */
bool dlv_cluster_gate(struct dlv_engine *eng, struct dlv_dest *d);
/* d's backoff factor changed: a new cut of this lcore's goes to the cluster (no-op without
 * one; a full request ring is retried by the next gate). */
void dlv_cluster_cut(struct dlv_engine *eng, struct dlv_dest *d);

#endif
