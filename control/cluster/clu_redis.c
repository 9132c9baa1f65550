/* SPDX-License-Identifier: MIT */
/*
 * clu_redis.c: the cluster's Redis protocol, used only by the cluster thread (synchronous
 * hiredis with a short per-command timeout: a slow or dead Redis costs the thread one timeout
 * and sends the node to its fallback budget; it never touches a worker lcore).
 *
 * Keys (P = params.prefix):
 *   P:lease:<dest>  sorted set  node -> lease expiry (Redis TIME, ms); expired members are
 *                               dropped by every lease call, so a dead node's share returns
 *                               within one lease term.
 *   P:grant:<dest>  hash        node -> "rate_mps:conns" currently granted to that node.
 *   P:susp          hash        dest -> suspended until (wall ms; "inf" = until resumed)
 *   P:susp:ver      counter     bumped on every suspension change; polled by every node.
 *   P:bo            hash        dest -> "factor:t": the last automatic backoff cut reported by
 *                               any node (per-mille, Redis TIME ms); the factor in force is
 *                               min(1000, factor + step * floor((now - t) / step_ms)): one
 *                               restoration curve for the whole cluster, computed the same way
 *                               by every node; fully restored fields are pruned by the next cut.
 *   P:bo:ver        counter     bumped on every new cut; polled by every node.
 * Both lease keys expire after two terms without any lease call.
 *
 * The lease script grants a node min(fair share, limit - what the other live nodes hold), so
 * the sum of grants never exceeds the limit even while nodes join: a newcomer first gets what
 * is free, the others shrink to their fair share at their next renewal, and the newcomer grows
 * to its own at its next one (one renewal interval). A node's recorded connections are
 * max(grant, connections it still has open), so a shrinking node's surplus connections keep
 * counting until they are closed: the connections open cluster-wide stay within the limit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cluster/clu_int.h"

static const char lease_lua[] =
	"local zk, hk = KEYS[1], KEYS[2]\n"
	"local node, term, want = ARGV[1], tonumber(ARGV[2]), ARGV[3]\n"
	"local lr, lc, held = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local dead = redis.call('ZRANGEBYSCORE', zk, '-inf', now)\n"
	"for _, v in ipairs(dead) do redis.call('ZREM', zk, v); redis.call('HDEL', hk, v) end\n"
	"if want ~= '1' then\n"
	"  redis.call('ZREM', zk, node); redis.call('HDEL', hk, node); return {0, 0, 0, 0}\n"
	"end\n"
	"redis.call('ZADD', zk, now + term, node)\n"
	"local m = redis.call('ZRANGE', zk, 0, -1)\n"
	"table.sort(m)\n"
	"local n, rank = #m, 0\n"
	"for i, v in ipairs(m) do if v == node then rank = i - 1 end end\n"
	"local function split(l)\n"
	"  if l == 0 then return 0 end\n"
	"  local s = math.floor(l / n)\n"
	"  if rank < l % n then s = s + 1 end\n"
	"  return s\n"
	"end\n"
	"local orate, oconn = 0, 0\n"
	"local g = redis.call('HGETALL', hk)\n"
	"for i = 1, #g, 2 do\n"
	"  if g[i] ~= node then\n"
	"    local a, b = string.match(g[i + 1], '(%d+):(%d+)')\n"
	"    orate = orate + tonumber(a); oconn = oconn + tonumber(b)\n"
	"  end\n"
	"end\n"
	"local r, c = split(lr), split(lc)\n"
	"if lr > 0 then r = math.max(0, math.min(r, lr - orate)) end\n"
	"if lc > 0 then c = math.max(0, math.min(c, lc - oconn)) end\n"
	"redis.call('HSET', hk, node, string.format('%d:%d', r, math.max(c, held)))\n"
	"redis.call('PEXPIRE', zk, 2 * term); redis.call('PEXPIRE', hk, 2 * term)\n"
	"return {n, rank, r, c}\n";

/* The factor in force of a backoff record "f:t" at now (restoration curve). */
#define BO_CURVE \
	"local function curve(v, now, step, sms)\n" \
	"  local f, t0 = string.match(v, '(%d+):(%d+)')\n" \
	"  if not f then return 1000 end\n" \
	"  return math.min(1000, tonumber(f) + step * math.floor((now - tonumber(t0)) / sms))\n" \
	"end\n"

static const char bo_lua[] =
	BO_CURVE
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local dest, cut = ARGV[1], tonumber(ARGV[2])\n"
	"local step, sms = math.max(1, tonumber(ARGV[3])), math.max(1, tonumber(ARGV[4]))\n"
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local cf = 1000\n"
	"for i = 1, #all, 2 do\n"
	"  local f = curve(all[i + 1], now, step, sms)\n"
	"  if all[i] == dest then cf = f end\n"
	"  if f >= 1000 then redis.call('HDEL', KEYS[1], all[i]) end\n"
	"end\n"
	"if cut < cf then\n"
	"  cf = cut\n"
	"  redis.call('HSET', KEYS[1], dest, string.format('%d:%d', cut, now))\n"
	"  redis.call('INCR', KEYS[2])\n"
	"end\n"
	"return cf\n";

static const char susp_lua[] =
	"if ARGV[2] == 'del' then redis.call('HDEL', KEYS[1], ARGV[1])\n"
	"else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end\n"
	"return redis.call('INCR', KEYS[2])\n";

redisContext *clu_redis_connect(const char *host, uint16_t port, uint32_t timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (!c)
		return NULL;
	if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
		redisFree(c);
		return NULL;
	}
	return c;
}

static int int_elem(const redisReply *r, size_t i, long long *v)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_INTEGER)
		return -EIO;
	*v = r->element[i]->integer;
	return 0;
}

int clu_redis_lease(redisContext *c, const char *prefix, const char *key, const char *node,
		    uint32_t term_ms, bool want, uint64_t rate_mps, uint32_t conns, uint32_t held,
		    struct clu_lease_reply *out)
{
	char zk[300], hk[300], term[16], lr[24], lc[16], hd[16];
	snprintf(zk, sizeof(zk), "%s:lease:%s", prefix, key);
	snprintf(hk, sizeof(hk), "%s:grant:%s", prefix, key);
	snprintf(term, sizeof(term), "%" PRIu32, term_ms);
	snprintf(lr, sizeof(lr), "%" PRIu64, rate_mps);
	snprintf(lc, sizeof(lc), "%" PRIu32, conns);
	snprintf(hd, sizeof(hd), "%" PRIu32, held);
	const char *argv[] = { "EVAL", lease_lua, "2", zk, hk, node, term, want ? "1" : "0", lr, lc, hd };
	redisReply *r = redisCommandArgv(c, 11, argv, NULL);
	if (!r)
		return -EIO;
	long long v[4];
	int rc = 0;
	for (size_t i = 0; i < 4 && rc == 0; i++)
		rc = int_elem(r, i, &v[i]);
	freeReplyObject(r);
	if (rc)
		return rc;
	*out = (struct clu_lease_reply){ (unsigned)v[0], (unsigned)v[1], (uint64_t)v[2], (uint32_t)v[3] };
	return 0;
}

/* Reads counter P:<what>:ver into *v: 1 when it differs from ver, 0 when not, -EIO. */
static int version_get(redisContext *c, const char *prefix, const char *what, uint64_t ver,
		       uint64_t *v)
{
	redisReply *r = redisCommand(c, "GET %s:%s:ver", prefix, what);
	if (!r)
		return -EIO;
	*v = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
	bool bad = r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL;
	freeReplyObject(r);
	if (bad)
		return -EIO;
	return *v != ver;
}

int clu_redis_bo_push(redisContext *c, const char *prefix, const char *key, uint32_t factor,
		      uint32_t step, uint32_t step_ms, uint32_t *in_force)
{
	char hk[64], vk[64], f[16], st[16], sms[16];
	snprintf(hk, sizeof(hk), "%s:bo", prefix);
	snprintf(vk, sizeof(vk), "%s:bo:ver", prefix);
	snprintf(f, sizeof(f), "%" PRIu32, factor);
	snprintf(st, sizeof(st), "%" PRIu32, step);
	snprintf(sms, sizeof(sms), "%" PRIu32, step_ms);
	const char *argv[] = { "EVAL", bo_lua, "2", hk, vk, key, f, st, sms };
	redisReply *r = redisCommandArgv(c, 9, argv, NULL);
	if (!r)
		return -EIO;
	int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -EIO;
	if (rc == 0)
		*in_force = (uint32_t)r->integer;
	freeReplyObject(r);
	return rc;
}

int clu_redis_bo_poll(redisContext *c, const char *prefix, uint64_t *ver, int64_t *redis_ms,
		      void (*start)(void *arg),
		      void (*fn)(void *arg, const char *key, uint32_t factor, uint64_t t_ms), void *arg)
{
	uint64_t v;
	int vr = version_get(c, prefix, "bo", *ver, &v);
	if (vr <= 0)
		return vr;
	redisReply *r;
	r = redisCommand(c, "TIME");
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
		if (r)
			freeReplyObject(r);
		return -EIO;
	}
	*redis_ms = strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
	freeReplyObject(r);
	r = redisCommand(c, "HGETALL %s:bo", prefix);
	if (!r)
		return -EIO;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	start(arg);
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *u = r->element[i + 1];
		unsigned long f;
		unsigned long long t;
		if (k->type == REDIS_REPLY_STRING && u->type == REDIS_REPLY_STRING &&
		    sscanf(u->str, "%lu:%llu", &f, &t) == 2)
			fn(arg, k->str, (uint32_t)f, (uint64_t)t);
	}
	freeReplyObject(r);
	*ver = v;
	return 1;
}

int clu_redis_susp_push(redisContext *c, const char *prefix, const char *key, bool del,
			uint64_t until_ms)
{
	char hk[64], vk[64], val[24];
	snprintf(hk, sizeof(hk), "%s:susp", prefix);
	snprintf(vk, sizeof(vk), "%s:susp:ver", prefix);
	if (del)
		snprintf(val, sizeof(val), "del");
	else if (until_ms == UINT64_MAX)
		snprintf(val, sizeof(val), "inf");
	else
		snprintf(val, sizeof(val), "%" PRIu64, until_ms);
	const char *argv[] = { "EVAL", susp_lua, "2", hk, vk, key, val };
	redisReply *r = redisCommandArgv(c, 7, argv, NULL);
	if (!r)
		return -EIO;
	int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -EIO;
	freeReplyObject(r);
	return rc;
}

int clu_redis_susp_poll(redisContext *c, const char *prefix, uint64_t *ver,
			void (*start)(void *arg),
			void (*fn)(void *arg, const char *key, uint64_t until_ms), void *arg)
{
	uint64_t v;
	int vr = version_get(c, prefix, "susp", *ver, &v);
	if (vr <= 0)
		return vr;
	redisReply *r;
	r = redisCommand(c, "HGETALL %s:susp", prefix);
	if (!r)
		return -EIO;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	start(arg);
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *u = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || u->type != REDIS_REPLY_STRING)
			continue;
		uint64_t until = strcmp(u->str, "inf") == 0 ? UINT64_MAX : strtoull(u->str, NULL, 10);
		fn(arg, k->str, until);
	}
	freeReplyObject(r);
	*ver = v;
	return 1;
}

int clu_redis_lease_members(redisContext *c, const char *prefix, const char *key,
			    void (*fn)(void *arg, const char *node), void *arg)
{
	redisReply *r = redisCommand(c, "ZRANGE %s:lease:%s 0 -1", prefix, key);
	if (!r)
		return -EIO;
	if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING)
				fn(arg, r->element[i]->str);
	int rc = r->type == REDIS_REPLY_ARRAY ? 0 : -EIO;
	freeReplyObject(r);
	return rc;
}
