/* SPDX-License-Identifier: MIT */
/* tcp_pair_test.c: two stack instances wired back to back through the seeded tamper layer
 * (tcp_tamper.c), on the harness's virtual clock. Each side sends a patterned stream, half-closes
 * and checks what it received byte for byte, under clean, lossy, duplicating and reordering
 * wires, with targeted drops (SYN, SYN-ACK, FIN, final ACK, n-th data segment), with options
 * turned off on one side, and with many connections at once. */
#include "net/tcp_tamper.h"
#include "tcp_harness.h"

#define P_IP_A 0x010012c6u
#define P_IP_B 0x020012c6u
#define WIRE_MAX 65536

struct pkt { struct rte_mbuf *m; uint32_t src, dst; };
struct wire { struct pkt q[WIRE_MAX]; unsigned head, tail; };

struct papp {
	struct conn *c;
	uint8_t *src;
	size_t src_len, sent;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	int eof, closed, connected;
	enum conn_close_reason why;
	int shut;
};

struct pair {
	struct tcp_stack *a, *b;
	struct tcp_tamper ta, tb;
	struct wire to_a, to_b;
	uint64_t now;
	struct papp *apps; /* [0..n) client side on a, [n..2n) server side on b */
	unsigned n, accepted;
	size_t bytes;
};

static int wire_put(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	struct wire *w = ctx;
	ck_assert_uint_lt(w->tail - w->head, WIRE_MAX);
	w->q[w->tail++ % WIRE_MAX] = (struct pkt){ m, src, dst };
	return 0;
}

static void pump(struct papp *p)
{
	while (p->c && p->sent < p->src_len) {
		ssize_t n = conn_send(p->c, p->src + p->sent, p->src_len - p->sent);
		if (n <= 0)
			break;
		p->sent += (size_t)n;
	}
	if (p->c && p->sent == p->src_len && !p->shut) {
		p->shut = 1;
		conn_shutdown(p->c);
	}
}

static size_t p_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct papp *p = ctx;
	if (p->rx_len + len > p->rx_cap) {
		p->rx_cap = (p->rx_len + len) * 2;
		p->rx = realloc(p->rx, p->rx_cap);
	}
	memcpy(p->rx + p->rx_len, d, len);
	p->rx_len += len;
	return len;
}
static void p_connected(void *ctx, struct conn *c) { struct papp *p = ctx; p->connected = 1; pump(p); }
static void p_eof(void *ctx, struct conn *c) { ((struct papp *)ctx)->eof = 1; }
static void p_sendable(void *ctx, struct conn *c) { pump(ctx); }
static void p_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	struct papp *p = ctx;
	p->closed = 1;
	p->why = why;
	p->c = NULL;
}
static const struct conn_handler p_handler = {
	.on_connected = p_connected, .on_data = p_data, .on_eof = p_eof,
	.on_sendable = p_sendable, .on_closed = p_closed,
};

static int p_accept(void *ctx, struct conn *c)
{
	struct pair *pr = ctx;
	ck_assert_uint_lt(pr->accepted, pr->n);
	struct papp *p = &pr->apps[pr->n + pr->accepted++];
	p->c = c;
	p->connected = 1;
	conn_set_handler(c, &p_handler, p);
	pump(p);
	return 0;
}

static void pair_init(struct pair *pr, const struct tcp_tunables *ta, const struct tcp_tunables *tb,
		      unsigned n, size_t bytes, uint64_t seed)
{
	memset(pr, 0, sizeof(*pr));
	pr->now = 1000000;
	pr->n = n;
	pr->bytes = bytes;
	tcp_tamper_init(&pr->ta, wire_put, &pr->to_b, seed);
	tcp_tamper_init(&pr->tb, wire_put, &pr->to_a, seed * 7 + 3);
	int err;
	pr->a = tcp_stack_create(ta, h_mp, P_IP_A, tcp_tamper_output, &pr->ta, pr->now, &err);
	pr->b = tcp_stack_create(tb, h_mp, P_IP_B, tcp_tamper_output, &pr->tb, pr->now, &err);
	ck_assert(pr->a && pr->b);
	ck_assert_int_eq(tcp_listen(pr->b, 2525, p_accept, pr), 0);
	pr->apps = calloc(2 * n, sizeof(*pr->apps));
	for (unsigned i = 0; i < 2 * n; i++) {
		struct papp *p = &pr->apps[i];
		p->src_len = bytes;
		p->src = malloc(bytes);
		h_pattern(p->src, bytes, i * 131);
	}
}

static void pair_connect(struct pair *pr)
{
	struct conn_addr dst = { .family = AF_INET, .port = htons(2525), .ip.v4 = P_IP_B };
	for (unsigned i = 0; i < pr->n; i++) {
		int err = 0;
		pr->apps[i].c = tcp_connect(pr->a, &dst, NULL, &p_handler, &pr->apps[i], &err);
		ck_assert_ptr_nonnull(pr->apps[i].c);
	}
}

static void wire_run(struct wire *w, struct tcp_stack *st, uint64_t now)
{
	unsigned end = w->tail;
	while (w->head != end) {
		struct pkt *p = &w->q[w->head++ % WIRE_MAX];
		tcp_input(st, p->m, p->src, p->dst, now);
	}
}

static bool pair_done(const struct pair *pr)
{
	for (unsigned i = 0; i < 2 * pr->n; i++)
		if (!pr->apps[i].closed)
			return false;
	return true;
}

static void dump_conn(const char *who, struct conn *c)
{
	if (!c)
		return;
	struct tcp_conn *t = tcp_conn_of(c);
	fprintf(stderr, "%s st=%s fl=%x una=%u nxt=%u max=%u sndq=%u wnd=%u cwnd=%u ssth=%u rec=%u dup=%u "
		"rcv_nxt=%u adv=%u rcvq=%u ooo=%u/%u rto=%u rtx=%u t_rtx=%lu fin_seq=%u\n", who,
		tcp_state_str(t->state), t->flags, t->snd_una, t->snd_nxt, t->snd_max, t->sndq.len,
		t->snd_wnd, t->cwnd, t->ssthresh, t->recover, t->dupacks, t->rcv_nxt, t->rcv_adv,
		t->rcvq.len, t->ooo.len, t->ooo.nsegs, t->rto_us, t->rtx_count,
		(unsigned long)(t->t_rtx ? t->t_rtx - t->st->now : 0), t->fin_seq);
}

/* Runs until every application saw on_closed or limit_s of virtual time passed. */
static void pair_run(struct pair *pr, unsigned limit_s)
{
	uint64_t end = pr->now + (uint64_t)limit_s * 1000000;
	while (!pair_done(pr) && pr->now < end) {
		pr->now += 500;
		wire_run(&pr->to_b, pr->b, pr->now);
		wire_run(&pr->to_a, pr->a, pr->now);
		tcp_poll(pr->a, pr->now);
		tcp_poll(pr->b, pr->now);
		tcp_tamper_flush(&pr->ta);
		tcp_tamper_flush(&pr->tb);
		if (getenv("PAIR_DUMP") && pr->now % 5000000 == 0 && pr->n == 1) {
			fprintf(stderr, "t=%lu\n", (unsigned long)pr->now / 1000);
			dump_conn(" A", pr->apps[0].c);
			dump_conn(" B", pr->apps[1].c);
		}
	}
}

static void pair_check(struct pair *pr)
{
	if (getenv("PAIR_DEBUG"))
		for (unsigned i = 0; i < 2 * pr->n; i++) {
			struct papp *p = &pr->apps[i];
			if (p->why != CONN_CLOSED_PEER)
				fprintf(stderr, "app %u why=%d sent=%zu rx=%zu eof=%d\n", i, p->why, p->sent, p->rx_len, p->eof);
		}
	for (unsigned i = 0; i < pr->n; i++) {
		struct papp *c = &pr->apps[i], *s = &pr->apps[pr->n + i];
		ck_assert_msg(c->closed && s->closed, "conn %u not closed (c=%d s=%d)", i, c->closed,
			      s->closed);
		ck_assert_int_eq(c->why, CONN_CLOSED_PEER);
		ck_assert_int_eq(s->why, CONN_CLOSED_PEER);
		ck_assert(c->eof && s->eof);
		ck_assert_uint_eq(c->rx_len, pr->bytes);
		ck_assert_uint_eq(s->rx_len, pr->bytes);
	}
	/* accept order may differ from connect order: match streams by content */
	for (unsigned i = 0; i < pr->n; i++) {
		struct papp *s = &pr->apps[pr->n + i];
		bool found = false;
		for (unsigned j = 0; j < pr->n && !found; j++)
			found = memcmp(s->rx, pr->apps[j].src, pr->bytes) == 0;
		ck_assert_msg(found, "server %u received a corrupted stream", i);
	}
	for (unsigned i = 0; i < pr->n; i++) {
		struct papp *c = &pr->apps[i];
		bool found = false;
		for (unsigned j = 0; j < pr->n && !found; j++)
			found = memcmp(c->rx, pr->apps[pr->n + j].src, pr->bytes) == 0;
		ck_assert_msg(found, "client %u received a corrupted stream", i);
	}
	ck_assert_uint_eq(tcp_stack_nconns(pr->a), 0);
	ck_assert_uint_eq(tcp_stack_nconns(pr->b), 0);
	/* the per-core received-memory account returns to zero (no drift, no leak) */
	ck_assert_uint_eq(pr->a->rcv_mem, 0);
	ck_assert_uint_eq(pr->b->rcv_mem, 0);
}

static void pair_free(struct pair *pr)
{
	tcp_stack_free(pr->a);
	tcp_stack_free(pr->b);
	for (unsigned i = 0; i < 2 * pr->n; i++) {
		free(pr->apps[i].src);
		free(pr->apps[i].rx);
	}
	free(pr->apps);
	for (struct wire *w = &pr->to_a; w; w = w == &pr->to_a ? &pr->to_b : NULL)
		while (w->head != w->tail)
			rte_pktmbuf_free(w->q[w->head++ % WIRE_MAX].m);
}

static void run_case(const struct tcp_tunables *ta, const struct tcp_tunables *tb, unsigned n,
		     size_t bytes, uint64_t seed, uint32_t loss, uint32_t dup, uint32_t reorder,
		     const struct tcp_tamper_rule *rules, unsigned nrules, unsigned limit_s)
{
	static struct pair pr;
	if (getenv("PAIR_SEED")) /* replay or explore: the seed offsets every case */
		seed += strtoull(getenv("PAIR_SEED"), NULL, 0);
	pair_init(&pr, ta, tb, n, bytes, seed);
	pr.ta.loss_pm = pr.tb.loss_pm = loss;
	pr.ta.dup_pm = pr.tb.dup_pm = dup;
	pr.ta.reorder_pm = pr.tb.reorder_pm = reorder;
	for (unsigned i = 0; i < nrules; i++)
		tcp_tamper_add_rule(&pr.ta, &rules[i]);
	pair_connect(&pr);
	uint64_t t0 = pr.now;
	pair_run(&pr, limit_s);
	if (getenv("PAIR_DEBUG")) {
		const struct tcp_counters *ca = tcp_stack_counters(pr.a);
		fprintf(stderr, "case n=%u bytes=%zu loss=%u: %.1f s virtual, fast_rtx=%lu rtos=%lu rtx_segs=%lu\n",
			n, bytes, loss, (double)(pr.now - t0) / 1e6, (unsigned long)ca->fast_rtx,
			(unsigned long)ca->rtx_timeouts, (unsigned long)ca->rtx_segs);
	}
	pair_check(&pr);
	pair_free(&pr);
}

START_TEST(clean_4mb_each_way)
{
	run_case(NULL, NULL, 1, 4 << 20, 1, 0, 0, 0, NULL, 0, 60);
}
END_TEST

START_TEST(loss_5pct)
{
	run_case(NULL, NULL, 1, 1 << 20, 42 + (uint64_t)_i, 50, 0, 0, NULL, 0, 600);
}
END_TEST

START_TEST(loss_dup_reorder)
{
	run_case(NULL, NULL, 1, 1 << 20, 7 + (uint64_t)_i, 10, 20, 50, NULL, 0, 600);
}
END_TEST

START_TEST(options_off_on_one_side_with_loss)
{
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.sack = 0;
	t.timestamps = 0;
	t.window_scaling = 0;
	run_case(NULL, &t, 1, 1 << 20, 99, 20, 0, 10, NULL, 0, 600);
	run_case(&t, NULL, 1, 1 << 20, 98, 20, 0, 10, NULL, 0, 600);
}
END_TEST

START_TEST(targeted_drops)
{
	const struct tcp_tamper_rule r[] = {
		{ .flags_mask = TCP_SYN, .flags_val = TCP_SYN, .nth = 1, .action = TCP_TAMPER_DROP },
		{ .flags_mask = TCP_FIN, .flags_val = TCP_FIN, .nth = 1, .action = TCP_TAMPER_DROP },
		{ .flags_mask = 0, .flags_val = 0, .min_len = 1, .nth = 3, .action = TCP_TAMPER_DROP },
		{ .flags_mask = 0, .flags_val = 0, .min_len = 1, .nth = 5, .action = TCP_TAMPER_DUP },
	};
	run_case(NULL, NULL, 1, 200000, 5, 0, 0, 0, r, 4, 120);
}
END_TEST

START_TEST(many_connections_with_loss)
{
	run_case(NULL, NULL, 200, 20000, 11, 20, 0, 0, NULL, 0, 600);
}
END_TEST

int main(void)
{
	h_eal("tcp_pair");
	Suite *s = suite_create("tcp_pair");
	TCase *tc = tcase_create("pair");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, clean_4mb_each_way);
	tcase_add_loop_test(tc, loss_5pct, 0, 3);
	tcase_add_loop_test(tc, loss_dup_reorder, 0, 3);
	tcase_add_test(tc, options_off_on_one_side_with_loss);
	tcase_add_test(tc, targeted_drops);
	tcase_add_test(tc, many_connections_with_loss);
	suite_add_tcase(s, tc);
	return h_run(s);
}
