/* SPDX-License-Identifier: MIT */
/*
 * bench_tcp.c: `dpmail-bench tcp` (bench_tcp.h). One client, three workloads, written once
 * against the conn API and run over either transport:
 *   crr    short connections: connect, send a request of --size bytes to the echo service,
 *          read the echo, close; --conns of them in flight, each replaced when it ends
 *   bulk   --conns long connections pushing the test pattern into the discard service
 *   echo   --conns long connections pushing the pattern through the echo service and
 *          checking every byte that comes back
 * A run lasts --seconds after a --warmup (or, with --bytes, until every connection moved that
 * many bytes: the byte-exact mode of the integration test). Rates and CPU time are taken over
 * the measured interval only: the client's own (getrusage) plus the server's (/proc/PID/stat
 * of --server-pid and its children) plus, for the record, the machine's softirq time from
 * /proc/stat (where the kernel's loopback work is partly accounted).
 */
#include "bench.h"
#include "bench_tcp.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "conn/conn.h"
#include "net/tcp_testsvc.h"

enum bt_mode { BT_CRR, BT_BULK, BT_ECHO };
static const char *const mode_names[] = { "crr", "bulk", "echo" };

struct bt;

struct bt_conn {
	struct bt *b;
	struct conn *c;
	uint64_t sent, rcvd;
	bool shut, stalled;
};

/* Counters of the measured interval are "now" minus the snapshot at its start. */
struct bt_count {
	uint64_t done, failed, tx_bytes, rx_bytes;
};

struct bt {
	struct bench_tcp_io io;
	enum bt_mode mode;
	struct conn_addr dst;
	uint32_t nconns, size;
	uint64_t bytes;                /* per connection (0: time-bound) */
	bool running;                  /* open new connections / keep sending */
	bool connected_any;            /* the first handshake completed (path and ARP are up) */
	uint32_t live, to_open;
	uint64_t connect_errs, verify_errs;
	uint64_t port_waits;           /* connects postponed: every local port busy (TIME_WAIT) */
	uint64_t retry_at;             /* no connect before (after a port wait) */
	const char *first_err;
	struct bt_count cnt;
	struct bt_conn *conns;
	struct bt_conn **free_list;
	uint32_t nfree;
	uint8_t block[TCP_TESTSVC_PERIOD];
};

/* ---- the client ---------------------------------------------------------------------------- */

static uint64_t want_bytes(const struct bt *b)
{
	return b->mode == BT_CRR ? b->size : b->bytes;
}

/* Sends the pattern from x->sent on until the buffer is full, the target is reached or the run
 * stops; then half-closes (long modes). */
static void pump(struct bt_conn *x)
{
	struct bt *b = x->b;
	uint64_t want = want_bytes(b);
	while (!x->shut && (want == 0 ? b->running : x->sent < want)) {
		uint64_t off = x->sent % TCP_TESTSVC_PERIOD, n = TCP_TESTSVC_PERIOD - off;
		if (want && n > want - x->sent)
			n = want - x->sent;
		ssize_t k = conn_send(x->c, b->block + off, (size_t)n);
		if (k <= 0)
			return; /* full: on_sendable resumes */
		x->sent += (uint64_t)k;
		b->cnt.tx_bytes += (uint64_t)k;
	}
	if (!x->shut && b->mode != BT_CRR) {
		x->shut = true;
		conn_shutdown(x->c);
	}
	conn_flush(x->c);
}

static void on_connected(void *ctx, struct conn *c)
{
	struct bt_conn *x = ctx;
	(void)c;
	x->b->connected_any = true;
	pump(x);
}

static bool verify(struct bt *b, uint64_t at, const uint8_t *d, size_t len)
{
	while (len) {
		uint64_t off = at % TCP_TESTSVC_PERIOD;
		size_t n = TCP_TESTSVC_PERIOD - off < len ? TCP_TESTSVC_PERIOD - off : len;
		if (memcmp(b->block + off, d, n) != 0)
			return false;
		at += n;
		d += n;
		len -= n;
	}
	return true;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct bt_conn *x = ctx;
	struct bt *b = x->b;
	if (!verify(b, x->rcvd, d, len) && !b->verify_errs++)
		b->first_err = "echoed bytes differ from what was sent";
	x->rcvd += len;
	b->cnt.rx_bytes += len;
	if (b->mode == BT_CRR && x->rcvd >= b->size)
		conn_close(c);
	return len;
}

static void on_eof(void *ctx, struct conn *c)
{
	(void)ctx;
	conn_close(c);
}

static void on_sendable(void *ctx, struct conn *c)
{
	(void)c;
	pump(ctx);
}

static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct bt_conn *x = ctx;
	struct bt *b = x->b;
	(void)c;
	bool ok = why == CONN_CLOSED_LOCAL || why == CONN_CLOSED_PEER;
	if (b->mode != BT_BULK && x->rcvd != x->sent)
		ok = false;
	if (b->bytes && b->mode != BT_CRR && x->sent != b->bytes)
		ok = false;
	if (ok) {
		b->cnt.done++;
	} else {
		b->cnt.failed++;
		if (!b->first_err)
			b->first_err = conn_close_reason_str(why);
	}
	x->c = NULL;
	b->free_list[b->nfree++] = x;
	b->live--;
	if (b->running && b->mode == BT_CRR)
		b->to_open++; /* from the loop, not from inside the stack's callback */
}

static const struct conn_handler handler = {
	.on_connected = on_connected, .on_data = on_data, .on_eof = on_eof,
	.on_sendable = on_sendable, .on_closed = on_closed,
};

static void open_one(struct bt *b)
{
	if (!b->nfree || !b->running)
		return;
	struct bt_conn *x = b->free_list[--b->nfree];
	memset(x, 0, sizeof(*x));
	x->b = b;
	b->live++;
	int e = 0;
	x->c = b->io.net->ops->connect(b->io.net->impl, &b->dst, NULL, &handler, x, &e);
	if (!x->c) {
		b->live--;
		b->free_list[b->nfree++] = x;
		if (e == -EADDRNOTAVAIL || e == -EADDRINUSE) {
			/* the client's ports are all in TIME_WAIT (about 28,000 per server address
			 * and port, reusable after 1 s): a limit of the workload, not a failure */
			b->port_waits++;
			b->to_open++;
			b->retry_at = bench_now_us() + 1000;
		} else if (!b->connect_errs++) {
			fprintf(stderr, "dpmail-bench tcp: connect: %s\n", strerror(-e));
		}
	}
}

/* ---- running and measuring ----------------------------------------------------------------- */

/* Seconds of irq + softirq time of the whole machine (/proc/stat), where the kernel accounts
 * part of its network work instead of charging the process. */
static double machine_softirq_s(void)
{
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = { 0 };
	if (!f)
		return 0;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	return n >= 7 ? (double)(v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK) : 0;
}

struct bt_snap {
	uint64_t t_us;
	struct bt_count cnt;
	double cpu_client, cpu_server, softirq;
};

static void snap(struct bt *b, const struct bench_cpu *srv, struct bt_snap *s)
{
	s->t_us = bench_now_us();
	s->cnt = b->cnt;
	s->cpu_client = bench_self_cpu();
	s->cpu_server = srv->npids ? bench_cpu_seconds(srv) : 0;
	s->softirq = machine_softirq_s();
}

/* One loop turn: the transport, then connections to replace; sleeps when idle. */
static void turn(struct bt *b)
{
	uint64_t now = bench_now_us();
	int work = b->io.poll(b->io.ctx, now, 1);
	uint32_t n = now >= b->retry_at ? b->to_open : 0;
	b->to_open -= n;
	for (; n; n--, work++)
		open_one(b);
	if (!work)
		bench_tcp_io_idle(&b->io);
}

/* Ends the sending of long connections (they half-close, then close on the echo's EOF). */
static void stop_all(struct bt *b)
{
	b->running = false;
	for (uint32_t i = 0; i < b->nconns; i++)
		if (b->conns[i].c && b->mode != BT_CRR)
			pump(&b->conns[i]);
}

/* Runs the workload; fills a (start) and z (end) of the measured interval. */
static void run(struct bt *b, double warmup, double seconds, const struct bench_cpu *srv,
		struct bt_snap *a, struct bt_snap *z)
{
	b->running = true;
	/* one connection first: it resolves the server's MAC (arp.hold keeps 64 frames per next hop;
	 * thousands of SYNs at once would lose the rest to a 1 s SYN retry) */
	open_one(b);
	uint64_t t = bench_now_us();
	while (!b->connected_any && b->live && bench_now_us() < t + 10000000)
		turn(b);
	for (uint32_t i = 1; i < b->nconns; i++)
		open_one(b);
	t = bench_now_us();
	if (!b->bytes) {
		while (bench_now_us() < t + (uint64_t)(warmup * 1e6))
			turn(b);
		snap(b, srv, a);
		while (bench_now_us() < a->t_us + (uint64_t)(seconds * 1e6))
			turn(b);
		snap(b, srv, z);
		stop_all(b);
	} else {
		snap(b, srv, a);
	}
	uint64_t deadline = bench_now_us() + (uint64_t)((b->bytes ? 300 : 30) * 1e6);
	while (b->live && bench_now_us() < deadline)
		turn(b);
	if (b->bytes)
		snap(b, srv, z);
}

static json_t *report(const struct bt *b, const struct bt_snap *a, const struct bt_snap *z,
		      const char *label)
{
	double s = (double)(z->t_us - a->t_us) / 1e6;
	double cc = z->cpu_client - a->cpu_client, cs = z->cpu_server - a->cpu_server;
	double si = z->softirq - a->softirq, cpu = cc + cs;
	uint64_t done = z->cnt.done - a->cnt.done;
	double mb = (double)(b->mode == BT_BULK ? z->cnt.tx_bytes - a->cnt.tx_bytes
						: z->cnt.rx_bytes - a->cnt.rx_bytes) / 1e6;
	double work = b->mode == BT_CRR ? (double)done : mb;
	const char *unit = b->mode == BT_CRR ? "conns" : "MB";
	printf("tcp label=%s backend=%s mode=%s conns=%u seconds=%.2f done=%llu failed=%llu "
	       "port_waits=%llu rate=%.1f%s/s cpu_client=%.2f cpu_server=%.2f cpu=%.2f softirq=%.2f "
	       "per_cpu_s=%.1f%s per_cpu_s_with_softirq=%.1f%s\n",
	       label, b->io.name, mode_names[b->mode], b->nconns, s,
	       (unsigned long long)done, (unsigned long long)(z->cnt.failed - a->cnt.failed),
	       (unsigned long long)b->port_waits, s > 0 ? work / s : 0, unit, cc, cs, cpu, si, cpu > 0 ? work / cpu : 0, unit,
	       cpu + si > 0 ? work / (cpu + si) : 0, unit);
	return json_pack("{s:s,s:s,s:s,s:i,s:i,s:f,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:s}",
			 "label", label, "backend", b->io.name, "mode", mode_names[b->mode],
			 "conns", (int)b->nconns, "size", (int)b->size, "seconds", s,
			 "done", (json_int_t)done, "failed", (json_int_t)(z->cnt.failed - a->cnt.failed),
			 "mb", mb, "rate", s > 0 ? work / s : 0, "cpu_client_s", cc,
			 "cpu_server_s", cs, "softirq_s", si, "per_cpu_s", cpu > 0 ? work / cpu : 0,
			 "unit", unit);
}

/* ---- command line -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dpmail-bench tcp --backend dpdk|posix [options]\n"
		"  --config FILE     (dpdk) dpmaild-style YAML: eal (e.g. a net_memif client vdev),\n"
		"                    port, dataplane.idle_sleep_us, tcp tunables\n"
		"  --server IP       address of dpmaild's test services (default 127.0.0.1)\n"
		"  --port N          service port (default 7: echo; 9 for --mode bulk)\n"
		"  --mode M          crr (default) | bulk | echo\n"
		"  --conns N         connections in flight (default 32)\n"
		"  --size N          crr request (and echoed response) size (default 100)\n"
		"  --bytes N         long modes: move exactly N bytes per connection, then stop\n"
		"                    (byte-exact check; no warm-up, no time limit)\n"
		"  --seconds S       measured interval (default 5), after --warmup S (default 1)\n"
		"  --server-pid P[,P..]  server process(es) whose CPU time counts too\n"
		"  --label L         name of the run in the output; --json FILE writes the result\n");
}

struct bt_opts {
	const char *backend, *config, *server, *label, *json, *pids;
	uint32_t port;
	double seconds, warmup;
};

static int parse(int argc, char **argv, struct bt *b, struct bt_opts *o)
{
	static const struct option lo[] = {
		{ "backend", 1, NULL, 'B' }, { "config", 1, NULL, 'c' }, { "server", 1, NULL, 's' },
		{ "port", 1, NULL, 'p' }, { "mode", 1, NULL, 'm' }, { "conns", 1, NULL, 'n' },
		{ "size", 1, NULL, 'z' }, { "bytes", 1, NULL, 'b' }, { "seconds", 1, NULL, 't' },
		{ "warmup", 1, NULL, 'w' }, { "server-pid", 1, NULL, 'P' }, { "label", 1, NULL, 'l' },
		{ "json", 1, NULL, 'j' }, { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'B': o->backend = optarg; break;
		case 'c': o->config = optarg; break;
		case 's': o->server = optarg; break;
		case 'p': o->port = (uint32_t)atoi(optarg); break;
		case 'n': b->nconns = (uint32_t)atoi(optarg); break;
		case 't': o->seconds = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'P': o->pids = optarg; break;
		case 'l': o->label = optarg; break;
		case 'j': o->json = optarg; break;
		case 'z':
		case 'b':
			if (bench_parse_size(optarg, &v) < 0)
				return -1;
			if (c == 'z')
				b->size = (uint32_t)v;
			else
				b->bytes = v;
			break;
		case 'm':
			for (b->mode = BT_CRR; b->mode <= BT_ECHO; b->mode++)
				if (strcmp(optarg, mode_names[b->mode]) == 0)
					break;
			if (b->mode > BT_ECHO)
				return -1;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	return optind == argc && o->backend && b->nconns > 0 && b->size > 0 &&
	       o->seconds > 0 && o->port < 65536 ? 0 : -1;
}

static int setup(struct bt *b, const struct bt_opts *o, char *err, size_t errlen)
{
	struct in_addr ip;
	if (inet_pton(AF_INET, o->server, &ip) != 1) {
		snprintf(err, errlen, "--server %s: not an IPv4 address", o->server);
		return -1;
	}
	b->dst.family = AF_INET;
	b->dst.ip.v4 = ip.s_addr;
	b->dst.port = htons((uint16_t)(o->port ? o->port : b->mode == BT_BULK ? 9 : 7));
	int rc;
	if (strcmp(o->backend, "dpdk") == 0) {
		if (!o->config) {
			snprintf(err, errlen, "--backend dpdk needs --config FILE");
			return -1;
		}
		rc = bench_tcp_io_dpdk(&b->io, o->config, err, errlen);
	} else if (strcmp(o->backend, "posix") == 0) {
		rc = bench_tcp_io_posix(&b->io, b->nconns * 2, err, errlen);
	} else {
		snprintf(err, errlen, "--backend %s: dpdk or posix", o->backend);
		return -1;
	}
	if (rc < 0)
		return -1;
	b->conns = calloc(b->nconns, sizeof(*b->conns));
	b->free_list = calloc(b->nconns, sizeof(*b->free_list));
	if (!b->conns || !b->free_list) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = b->nconns; i-- > 0;)
		b->free_list[b->nfree++] = &b->conns[i];
	tcp_testsvc_pattern(b->block);
	return 0;
}

int bench_tcp_main(int argc, char **argv)
{
	struct bt *b = calloc(1, sizeof(*b));
	struct bt_opts o = { .server = "127.0.0.1", .seconds = 5, .warmup = 1 };
	struct bench_cpu srv;
	char err[512] = "";
	int status = 1;
	memset(&srv, 0, sizeof(srv));
	if (!b)
		return 1;
	b->nconns = 32;
	b->size = 100;
	if (parse(argc, argv, b, &o) < 0 || (o.pids && bench_cpu_parse(&srv, o.pids) < 0)) {
		usage(stderr);
		free(b);
		return 2;
	}
	if (setup(b, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpmail-bench tcp: %s\n", err);
		goto out;
	}
	struct bt_snap a, z;
	run(b, o.warmup, o.seconds, &srv, &a, &z);
	json_t *j = report(b, &a, &z, o.label ? o.label : b->io.name);
	if (o.json && (!j || bench_json_save(j, o.json) < 0))
		fprintf(stderr, "dpmail-bench tcp: cannot write %s\n", o.json);
	json_decref(j);
	bool ok = !b->live && !b->cnt.failed && !b->verify_errs && !b->connect_errs &&
		  (!b->bytes || b->cnt.done == b->nconns);
	if (!ok)
		fprintf(stderr, "dpmail-bench tcp: FAILED live=%u failed=%llu verify_errors=%llu "
			"connect_errors=%llu first_error=%s\n", b->live,
			(unsigned long long)b->cnt.failed, (unsigned long long)b->verify_errs,
			(unsigned long long)b->connect_errs, b->first_err ? b->first_err : "-");
	status = ok ? 0 : 1;
out:
	if (b->io.fini)
		b->io.fini(b->io.ctx);
	free(b->conns);
	free(b->free_list);
	free(b);
	return status;
}
