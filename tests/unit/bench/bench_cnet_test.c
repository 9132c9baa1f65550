/* SPDX-License-Identifier: MIT */
/*
 * bench_cnet_test.c: bench_conn over the conn API (bench_cnet.c), on the real sock backend over
 * 127.0.0.1:27030-27031: a receiver with a tiny receive buffer that consumes in odd-sized bites
 * gets 256 KiB byte-exact (the transport stalls and is resumed many times: backpressure, no
 * loss, no duplication); a receiver that closes from inside its own event gets no callback
 * afterwards and the sender sees the end; the sender's short sends come back as EPOLLOUT; a
 * parked receiver (it leaves its buffer full, as a sink session holding a reply does) that is
 * unparked from the loop, outside any callback, restarts the stalled transport every time.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "bench.h"
#include "conn/conn.h"

#define TOTAL_MAX (256u * 1024u)
static uint64_t TOTAL = TOTAL_MAX;

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

struct side {
	struct bench_conn c;
	uint64_t got, sent;
	unsigned events, stalls, outs;
	bool up, ended, mismatch;
	uint64_t close_after;    /* receiver: close from inside on_event past this many bytes */
	bool closed_by_me;
	bool paused;             /* receiver: leaves rbuf alone (a parked session) */
	unsigned resumes;        /* receiver: unparked from the loop, outside any callback */
	uint8_t out[4096];
};

static struct side rx, tx;
static struct bench_cnet *net;

/* Receiver: checks and consumes up to 37 bytes at a time, then "reads" (resumes a stall). */
static void rx_event(void *owner, uint32_t events, uint64_t now)
{
	struct side *s = owner;
	(void)events, (void)now;
	ck_assert_msg(!s->closed_by_me, "callback after the owner closed");
	s->events++;
	if (s->paused)
		return;
	for (;;) {
		while (s->c.rlen) {
			size_t n = s->c.rlen < 37 ? s->c.rlen : 37;
			for (size_t i = 0; i < n; i++)
				if (s->c.rbuf[i] != pattern(s->got + i))
					s->mismatch = true;
			s->got += n;
			bench_conn_consume(&s->c, n);
			if (s->close_after && s->got >= s->close_after) {
				s->closed_by_me = true;
				bench_conn_free(&s->c);
				return;
			}
		}
		if (s->c.cn_stalled)
			s->stalls++;
		ssize_t r = bench_conn_read(&s->c);
		if (r == -EAGAIN)
			return;
		s->ended = true; /* EOF or error */
		bench_conn_free(&s->c);
		return;
	}
}

/* Sender: keeps the queue topped up with the pattern until TOTAL, then closes gracefully. */
static void tx_pump(struct side *s)
{
	while (s->sent < TOTAL && !s->c.want_write) {
		size_t n = sizeof(s->out);
		if (n > TOTAL - s->sent)
			n = TOTAL - s->sent;
		for (size_t i = 0; i < n; i++)
			s->out[i] = pattern(s->sent + i);
		ck_assert_int_eq(bench_conn_queue(&s->c, s->out, n), 0);
		s->sent += n;
		int r = bench_conn_flush(&s->c);
		if (r < 0) {
			s->ended = true;
			bench_conn_free(&s->c);
			return;
		}
	}
	if (s->sent == TOTAL && !s->c.want_write && !s->ended) {
		s->ended = true;
		bench_conn_free(&s->c); /* graceful: what is queued still goes out, then FIN */
	}
}

static void tx_event(void *owner, uint32_t events, uint64_t now)
{
	struct side *s = owner;
	(void)now;
	if (s->ended)
		return;
	if (events & EPOLLOUT)
		s->outs++;
	if (!s->up) {
		if (bench_conn_connect_error(&s->c)) {
			s->ended = true;
			bench_conn_free(&s->c);
			return;
		}
		s->up = true;
	}
	if (s->c.want_write && bench_conn_flush(&s->c) < 0) {
		s->ended = true;
		bench_conn_free(&s->c);
		return;
	}
	if (bench_conn_read(&s->c) != -EAGAIN) { /* the receiver went away */
		s->ended = true;
		bench_conn_free(&s->c);
		return;
	}
	tx_pump(s);
}

static int on_accept(void *ctx, struct conn *cn)
{
	(void)ctx;
	return bench_conn_attach(&rx.c, net, cn, 100, 256, rx_event, &rx) < 0 ? -1 : 0;
}

static void run(uint16_t port, uint64_t close_after, bool paused)
{
	char err[256];
	TOTAL = paused ? 32 * 1024 : TOTAL_MAX; /* parked: 100 bytes per unpark */
	memset(&rx, 0, sizeof(rx));
	memset(&tx, 0, sizeof(tx));
	rx.close_after = close_after;
	rx.paused = paused;
	net = bench_cnet_open("sock", NULL, 64, err, sizeof(err));
	ck_assert_msg(net != NULL, "%s", err);
	ck_assert_int_eq(bench_cnet_listen(net, port, on_accept, NULL), 0);
	struct sockaddr_storage dst = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bench_conn_connect(&tx.c, net, &dst, 512, 8192, tx_event, &tx), 0);
	uint64_t end = bench_now_us() + 10000000;
	while (bench_now_us() < end && !(rx.ended || rx.closed_by_me)) {
		bench_cnet_poll(net, bench_now_us(), 1);
		/* a parked receiver holding input is unparked from here, as the sink's timer does */
		if (rx.paused && rx.c.cnet && (rx.c.rlen || rx.c.cn_eof || rx.c.cn_closed)) {
			rx.paused = false;
			rx.resumes++;
			rx_event(&rx, EPOLLIN, bench_now_us());
			rx.paused = true;
		}
	}
	/* the sender learns the end too (its own close, or the receiver's) */
	while (bench_now_us() < end && !tx.ended)
		bench_cnet_poll(net, bench_now_us(), 10);
	ck_assert(tx.ended);
	bench_cnet_free(net);
	net = NULL;
}

START_TEST(test_backpressure_byte_exact)
{
	run(27030, 0, false);
	ck_assert(!rx.mismatch);
	ck_assert_uint_eq(rx.got, TOTAL);
	ck_assert(rx.ended); /* EOF after the last byte */
	ck_assert_uint_gt(rx.stalls, 10); /* 100-byte buffer: the transport was held back often */
	ck_assert_uint_gt(tx.outs, 0);    /* the sender was turned away and told when to go on */
}
END_TEST

START_TEST(test_close_inside_event)
{
	run(27031, 10000, false);
	ck_assert(!rx.mismatch);
	ck_assert(rx.closed_by_me);
	ck_assert_uint_ge(rx.got, 10000);
	ck_assert_uint_lt(rx.got, TOTAL);
	ck_assert(tx.ended); /* the sender saw the connection go (RST or EOF), not a hang */
}
END_TEST

START_TEST(test_parked_reader_resumed)
{
	run(27032, 0, true);
	ck_assert(!rx.mismatch);
	ck_assert_uint_eq(rx.got, TOTAL);
	ck_assert(rx.ended);
	ck_assert_uint_gt(rx.resumes, 300); /* each one restarted a stalled transport */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_cnet");
	TCase *tc = tcase_create("sock");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_backpressure_byte_exact);
	tcase_add_test(tc, test_close_inside_event);
	tcase_add_test(tc, test_parked_reader_resumed);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
