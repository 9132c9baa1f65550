/* SPDX-License-Identifier: MIT */
/*
 * tcp_input_fuzz.c: libFuzzer target for the TCP stack's input path. Each input is a script
 * of records run against a fresh stack that listens on port 25 and, after a scripted
 * handshake, holds one established connection:
 *   op 0: a raw segment (the checksum is fixed up so parsing goes deeper); an ACK whose
 *         urgent pointer is 0xc00c is turned into the answer to the latest SYN-ACK (ports,
 *         sequence and the cookie), so connections made from SYN cookies are fuzzed too (the
 *         listener's backlog is 4: a fifth half-open connection gets a cookie),
 *   op 1: a segment to the established connection with fuzzed flags, window, options and
 *         payload and sequence/ack numbers near the live ones,
 *   op 2: advance the virtual clock (timers run),
 *   op 3: an application action (send, resume, shutdown, close, abort, partial reads).
 * After every input the stack is freed and the mbuf pool must be whole again (no leak).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "net/tcp_impl.h"

#define POOL_N 4095
static struct rte_mempool *mp;
static const uint32_t PEER = 0x010012c6u, LOCAL = 0x020012c6u;

struct fz {
	struct tcp_stack *st;
	struct conn *c;
	uint64_t now;
	size_t consume;
	uint32_t peer_seq;
	uint32_t sa_seq, sa_ack;  /* the latest SYN-ACK sent, and its destination port */
	uint16_t sa_port;
};

static int out_drop(void *ctx, struct rte_mbuf *m, uint32_t src, uint32_t dst)
{
	struct fz *f = ctx;
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	if (th->tcp_flags & TCP_SYN)
		f->peer_seq = ntohl(th->sent_seq) + 1; /* remember the stack's ISN for op 1 */
	if ((th->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
		f->sa_seq = ntohl(th->sent_seq);
		f->sa_ack = ntohl(th->recv_ack);
		f->sa_port = ntohs(th->dst_port);
	}
	if (tcp_cksum(m, src, dst) != 0)
		abort();
	rte_pktmbuf_free(m);
	return 0;
}

static size_t on_data(void *ctx, struct conn *c, const uint8_t *d, size_t len)
{
	struct fz *f = ctx;
	volatile uint8_t x = 0;
	for (size_t i = 0; i < len; i++)
		x ^= d[i]; /* touch every byte: ASan checks the view */
	(void)x;
	return len < f->consume ? len : f->consume;
}
static void on_closed(void *ctx, struct conn *c, enum conn_close_reason why)
{
	((struct fz *)ctx)->c = NULL;
}
static void on_eof(void *ctx, struct conn *c) {}
static const struct conn_handler handler = { .on_data = on_data, .on_closed = on_closed,
					     .on_eof = on_eof };

static int on_accept(void *ctx, struct conn *c)
{
	struct fz *f = ctx;
	f->c = c;
	conn_set_handler(c, &handler, f);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *eal[] = { "fuzz", "--no-huge", "--no-pci", "-m", "64", "--no-shconf",
			"--file-prefix", "tcpfz", "--log-level", "1", "-l", "0", NULL };
	if (rte_eal_init(12, eal) < 0)
		abort();
	mp = rte_pktmbuf_pool_create("tcpfz", POOL_N, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!mp)
		abort();
	return 0;
}

static void inject(struct fz *f, const uint8_t *seg, size_t len, uint16_t sport, uint16_t dport,
		   int fix_ports)
{
	if (len > 1500)
		len = 1500;
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	if (!p) {
		rte_pktmbuf_free(m);
		return;
	}
	memcpy(p, seg, len);
	if (len >= 20) {
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)p;
		if (!fix_ports && (th->tcp_flags & TCP_ACK) && th->tcp_urp == htons(0xc00c)) {
			th->src_port = htons(f->sa_port);
			th->dst_port = htons(25);
			th->sent_seq = htonl(f->sa_ack);
			th->recv_ack = htonl(f->sa_seq + 1);
			th->tcp_urp = 0;
		}
		if (fix_ports) {
			th->src_port = htons(sport);
			th->dst_port = htons(dport);
		}
		th->cksum = 0;
		th->cksum = tcp_cksum(m, PEER, LOCAL);
	}
	tcp_input(f->st, m, PEER, LOCAL, f->now);
}

/* A segment to the established connection: fuzzed flags/window/options/payload. */
static void to_conn(struct fz *f, const uint8_t *d, size_t n)
{
	if (n < 8 || !f->c)
		return;
	struct tcp_conn *tc = tcp_conn_of(f->c);
	uint8_t seg[1500] = { 0 };
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)seg;
	int16_t dseq = (int16_t)(d[1] << 8 | d[2]), dack = (int16_t)(d[3] << 8 | d[4]);
	uint32_t optlen = (d[5] & 0x0f) * 4 > 40 ? 40 : (d[5] & 0x0f) * 4;
	th->tcp_flags = d[0];
	th->sent_seq = htonl(tc->rcv_nxt + (uint32_t)(int32_t)dseq);
	th->recv_ack = htonl(tc->snd_una + (uint32_t)(int32_t)dack);
	th->rx_win = htons((uint16_t)(d[6] << 8 | d[7]));
	th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	size_t rest = n - 8;
	if (rest < optlen)
		optlen = (uint32_t)rest & ~3u, th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	memcpy(seg + 20, d + 8, optlen);
	size_t pl = rest - optlen;
	if (pl > 1400)
		pl = 1400;
	memcpy(seg + 20 + optlen, d + 8 + optlen, pl);
	inject(f, seg, 20 + optlen + pl, 40000, 25, 1);
}

static void app_op(struct fz *f, uint8_t op)
{
	static uint8_t buf[70000];
	if (!f->c)
		return;
	switch (op % 8) {
	case 0: conn_send(f->c, buf, 1 + (size_t)op * 200); break;
	case 1: conn_flush(f->c); break;
	case 2: f->consume = 0; break;
	case 3: f->consume = SIZE_MAX; conn_resume_read(f->c); break;
	case 4: conn_shutdown(f->c); break;
	case 5: conn_close(f->c); break;
	case 6: conn_abort(f->c); break;
	default: f->consume = op; break;
	}
}

static void handshake(struct fz *f)
{
	uint8_t syn[24] = { 0 };
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)syn;
	th->sent_seq = htonl(1000);
	th->data_off = 6 << 4;
	th->tcp_flags = TCP_SYN;
	th->rx_win = htons(65535);
	syn[20] = 2; syn[21] = 4; syn[22] = 0x05; syn[23] = 0xb4;
	inject(f, syn, 24, 40000, 25, 1);
	uint8_t ack[20] = { 0 };
	th = (struct rte_tcp_hdr *)ack;
	th->sent_seq = htonl(1001);
	th->recv_ack = htonl(f->peer_seq);
	th->data_off = 5 << 4;
	th->tcp_flags = TCP_ACK;
	th->rx_win = htons(65535);
	inject(f, ack, 20, 40000, 25, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .now = 1000000, .consume = SIZE_MAX };
	struct tcp_tunables t;
	tcp_tunables_defaults(&t);
	t.max_conns = 64;
	t.max_time_wait = 64;
	t.ooo_max_segs = 16;
	t.backlog = 4;
	f.st = tcp_stack_create(&t, mp, LOCAL, out_drop, &f, f.now, NULL);
	if (!f.st)
		abort();
	tcp_listen(f.st, 25, on_accept, &f);
	handshake(&f);
	size_t i = 0;
	while (i + 3 <= size) {
		uint8_t op = data[i];
		size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
		i += 3;
		if (len > size - i)
			len = size - i;
		const uint8_t *d = data + i;
		i += len;
		switch (op & 3) {
		case 0: inject(&f, d, len, 0, 0, 0); break;
		case 1: to_conn(&f, d, len); break;
		case 2:
			f.now += (uint64_t)(len ? d[0] : 1) * 10000 + 1000;
			tcp_poll(f.st, f.now);
			break;
		default: if (len) app_op(&f, d[0]); break;
		}
	}
	f.now += 1000;
	tcp_poll(f.st, f.now);
	tcp_stack_free(f.st);
	if (rte_mempool_avail_count(mp) != POOL_N) {
		fprintf(stderr, "mbuf leak: %u of %u free\n", rte_mempool_avail_count(mp), POOL_N);
		abort();
	}
	return 0;
}
