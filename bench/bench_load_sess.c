/* SPDX-License-Identifier: MIT */
/*
 * bench_load_sess.c: one SMTP client session of the load generator: connect, banner, EHLO,
 * optional STARTTLS (+ EHLO again), then messages (MAIL, RCPT x R, DATA, content, end of
 * data; pipelined in one write when the server offers PIPELINING and --pipelining asks), RSET
 * after a failed transaction, QUIT after --messages-per-session. Every reply is timed into the
 * run's histograms; ld_enter() is the one state transition.
 */
#include "bench_load.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CAP_PIPELINING 1u
#define CAP_STARTTLS 2u

static const char *const ld_names[LD__MAX] = {
	[LD_WAIT] = "wait",   [LD_CONNECTING] = "connecting", [LD_BANNER] = "banner",
	[LD_EHLO] = "ehlo",   [LD_STARTTLS] = "starttls",     [LD_HANDSHAKE] = "handshake",
	[LD_READY] = "ready", [LD_TXN] = "txn",               [LD_BODY] = "body",
	[LD_RSET] = "rset",   [LD_QUIT] = "quit",             [LD_DONE] = "done",
};

const char *ld_state_name(enum ld_state st)
{
	return (unsigned)st < LD__MAX ? ld_names[st] : "?";
}

static void ld_enter(struct ld_sess *s, enum ld_state next, uint64_t now)
{
	s->st = next;
	s->active_us = now;
}

static void hist(struct ld_sess *s, enum ld_hist h, uint64_t from, uint64_t now)
{
	/* held sessions keep their own histograms: the load's latencies stay the load's */
	struct bench_hist *hh = s->held && h <= LH_EHLO ? &s->ld->held_hist[h] : &s->ld->hist[h];
	bench_hist_record(hh, now > from ? now - from : 0);
}

/* The connection is gone (or must go): account the message in flight, free, reschedule. */
static void ld_drop(struct ld_sess *s, uint64_t now, bool error)
{
	struct load *ld = s->ld;
	if (s->msg_active) {
		s->msg_active = false;
		ld->errors++;
		ld->last_done_us = now;
	}
	if (s->in_idle) { /* unlink from the idle list */
		struct ld_sess **pp = &ld->idle_head, *prev = NULL;
		while (*pp && *pp != s) {
			prev = *pp;
			pp = &(*pp)->next_idle;
		}
		if (*pp) {
			*pp = s->next_idle;
			if (ld->idle_tail == s)
				ld->idle_tail = prev;
		}
		s->in_idle = false;
	}
	if (s->st >= LD_READY && s->st <= LD_QUIT) {
		if (s->held && ld->held_ready)
			ld->held_ready--;
		else if (!s->held && ld->ready_now)
			ld->ready_now--;
	}
	bench_conn_free(&s->c);
	ld_enter(s, LD_WAIT, now);
	ld_sess_ended(s, now, error);
}

/* conn-API transport: what an epoll event would have said (bench_cnet.c). */
static void ld_cn_event(void *owner, uint32_t events, uint64_t now)
{
	struct ld_sess *s = owner;
	if (s->st != LD_WAIT && s->st != LD_DONE)
		ld_sess_event(s, events, now);
}

static void ld_sess_connect_cn(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	if (bench_conn_connect(&s->c, ld->cnet, &ld->o.addr, 8192, 2048, ld_cn_event, s) < 0) {
		s->c.fd = -1;
		ld->connect_fail++;
		s->retry_us = now + 100000;
		return;
	}
	ld->connects++;
	s->tls_on = false;
	s->conn_msgs = 0;
	s->phase_us = now;
	ld_enter(s, LD_CONNECTING, now);
	s->c.want_write = true;
}

void ld_sess_connect(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	if (ld->cnet) {
		ld_sess_connect_cn(s, now);
		return;
	}
	int fd = socket(ld->o.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bench_conn_init(&s->c, fd, 8192, 2048) < 0) {
		if (fd >= 0)
			close(fd);
		s->c.fd = -1;
		ld->connect_fail++;
		s->retry_us = now + 100000;
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ld->connects++;
	s->tls_on = false;
	s->conn_msgs = 0;
	s->phase_us = now;
	ld_enter(s, LD_CONNECTING, now);
	if (connect(fd, (struct sockaddr *)&ld->o.addr, ld->o.addrlen) < 0 && errno != EINPROGRESS) {
		ld->connect_fail++;
		ld_drop(s, now, true);
		return;
	}
	s->c.want_write = true; /* EPOLLOUT tells us the connect finished */
	bench_conn_interest(&s->c, ld->epfd, s);
}

static void send_cmd(struct ld_sess *s, uint64_t now, const char *fmt, const char *arg)
{
	bench_conn_queuef(&s->c, fmt, arg);
	s->sent_us = now;
}

void ld_sess_start_msg(struct ld_sess *s, uint64_t seq, uint64_t intended_us, uint64_t now)
{
	struct load *ld = s->ld;
	s->msg_active = true;
	s->msg_failed = false;
	s->fail_code = 0;
	s->step = 0;
	s->rcpt_ok = 0;
	s->seq = seq;
	s->intended_us = intended_us;
	s->size = (uint32_t)bench_mix_pick(&ld->o.sizes, bench_rand(&ld->rng));
	snprintf(s->msgid, sizeof(s->msgid), "<%s.%u.%lu@dpmail-bench.test>", ld->runid, s->idx,
		 (unsigned long)seq);
	bench_conn_queuef(&s->c, "MAIL FROM:<%s>\r\n", ld->o.from);
	if (s->pipelining) {
		for (uint32_t r = 0; r < ld->o.rcpts; r++)
			bench_conn_queuef(&s->c, "RCPT TO:<u%lu.%u@%s>\r\n", (unsigned long)(seq % 1000), r,
					  ld->o.rcpt_domain);
		bench_conn_queue(&s->c, "DATA\r\n", 6);
	}
	s->sent_us = now;
	ld_enter(s, LD_TXN, now);
	if (bench_conn_flush(&s->c) >= 0)
		bench_conn_interest(&s->c, ld->epfd, s);
}

/* Queues the header block, the body extent and the end marker. */
static void send_content(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	int n = snprintf(s->head, sizeof(s->head),
			 "Message-ID: %s\r\nDate: %s\r\nFrom: <%s>\r\nTo: <u%lu.0@%s>\r\n"
			 "Subject: dpmail-bench %lu\r\nMIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
			 s->msgid, ld->date_hdr, ld->o.from, (unsigned long)(s->seq % 1000),
			 ld->o.rcpt_domain, (unsigned long)s->seq);
	size_t want = s->size > (uint32_t)n ? s->size - (uint32_t)n : 78;
	if (want > ld->body_len)
		want = ld->body_len;
	want -= want % 78; /* whole lines */
	if (want == 0)
		want = 78;
	bench_conn_queue(&s->c, s->head, (size_t)n);
	s->c.ext = ld->body;
	s->c.ext_len = want;
	memcpy(s->c.tail, ".\r\n", 3);
	s->c.tail_len = 3;
	s->size = (uint32_t)((size_t)n + want);
	s->eod_us = 0;
	s->sent_us = now;
	ld_enter(s, LD_BODY, now);
}

/* The transaction is over (either way): next message, QUIT, or wait. */
static void msg_done(struct ld_sess *s, uint64_t now)
{
	struct load *ld = s->ld;
	s->msg_active = false;
	ld->last_done_us = now;
	s->conn_msgs++;
	ld_enter(s, LD_READY, now);
	if (ld->o.mps && s->conn_msgs >= ld->o.mps) {
		ld_sess_quit(s, now);
		return;
	}
	ld_ready(s, now);
}

static void msg_failed(struct ld_sess *s, unsigned code)
{
	if (!s->msg_failed) {
		s->msg_failed = true;
		s->fail_code = code;
	}
}

static void txn_reply(struct ld_sess *s, unsigned code, uint64_t now)
{
	struct load *ld = s->ld;
	unsigned R = ld->o.rcpts;
	ld->cmd_codes[code]++;
	if (s->step == 0) {
		hist(s, LH_MAIL, s->sent_us, now);
		if (code / 100 != 2)
			msg_failed(s, code);
	} else if (s->step <= R) {
		hist(s, LH_RCPT, s->sent_us, now);
		if (code / 100 == 2)
			s->rcpt_ok++;
	} else {
		hist(s, LH_DATA, s->sent_us, now);
		if (code == 354 && !s->msg_failed && s->rcpt_ok > 0) {
			send_content(s, now);
			return;
		}
		if (code == 354) { /* a server that should not have said 354: end it empty */
			bench_conn_queue(&s->c, ".\r\n", 3);
			msg_failed(s, code);
			s->sent_us = now;
			ld_enter(s, LD_BODY, now);
			return;
		}
		msg_failed(s, s->rcpt_ok ? code : s->fail_code ? s->fail_code : code);
		goto rset;
	}
	s->step++;
	if (s->pipelining)
		return; /* everything was sent up front */
	s->sent_us = now;
	if (s->msg_failed)
		goto rset; /* MAIL refused */
	if (s->step <= R) {
		bench_conn_queuef(&s->c, "RCPT TO:<u%lu.%u@%s>\r\n", (unsigned long)(s->seq % 1000),
				  s->step - 1, ld->o.rcpt_domain);
	} else if (s->rcpt_ok == 0) {
		msg_failed(s, code);
		goto rset;
	} else {
		bench_conn_queue(&s->c, "DATA\r\n", 6);
	}
	return;
rset:
	if (code / 100 == 4)
		ld->tempfail++;
	else
		ld->permfail++;
	s->msg_active = false;
	ld->last_done_us = now;
	send_cmd(s, now, "RSET\r\n%s", "");
	ld_enter(s, LD_RSET, now);
}

static void eod_reply(struct ld_sess *s, unsigned code, uint64_t now)
{
	struct load *ld = s->ld;
	ld->eod_codes[code]++;
	hist(s, LH_EOD, s->eod_us ? s->eod_us : s->sent_us, now);
	if (code / 100 == 2 && !s->msg_failed) {
		ld->accepted++;
		ld->bytes_ok += s->size;
		hist(s, LH_MSG, s->intended_us, now);
		if (ld->ids)
			fprintf(ld->ids, "%s\n", s->msgid);
	} else if (code / 100 == 4 || code == 354) {
		ld->tempfail++;
	} else {
		ld->permfail++;
	}
	msg_done(s, now);
}

static void greeted(struct ld_sess *s, unsigned caps, uint64_t now)
{
	struct load *ld = s->ld;
	if (ld->o.starttls && !s->tls_on && !s->held) { /* held sessions stay plain */
		if (!(caps & CAP_STARTTLS)) {
			ld->tls_fail++;
			fprintf(stderr, "dpmail-bench load: server does not offer STARTTLS\n");
			ld->stopping = true;
			ld_sess_quit(s, now);
			return;
		}
		send_cmd(s, now, "STARTTLS\r\n%s", "");
		s->phase_us = now;
		ld_enter(s, LD_STARTTLS, now);
		return;
	}
	s->pipelining = ld->o.pipelining && (caps & CAP_PIPELINING);
	ld_enter(s, LD_READY, now);
	if (s->held) {
		if (++ld->held_ready > ld->held_peak)
			ld->held_peak = ld->held_ready;
	} else if (++ld->ready_now > ld->ready_peak) {
		ld->ready_peak = ld->ready_now;
	}
	ld_ready(s, now);
}

/* One complete reply: returns false when the session ended. */
static bool on_reply(struct ld_sess *s, unsigned code, unsigned caps, uint64_t now)
{
	struct load *ld = s->ld;
	s->active_us = now;
	if (code == 421 && s->st != LD_QUIT) {
		if (s->msg_active) {
			ld->tempfail++;
			ld->eod_codes[421]++;
			s->msg_active = false;
			ld->last_done_us = now;
		}
		ld->server_closed++;
		ld_drop(s, now, true); /* back off: a server at its limit says 421 at the banner */
		return false;
	}
	switch (s->st) {
	case LD_BANNER:
		hist(s, LH_BANNER, s->phase_us, now);
		if (code != 220)
			break;
		send_cmd(s, now, "EHLO %s\r\n", ld->o.ehlo);
		s->phase_us = now;
		ld_enter(s, LD_EHLO, now);
		return true;
	case LD_EHLO:
		hist(s, LH_EHLO, s->phase_us, now);
		if (code != 250)
			break;
		greeted(s, caps, now);
		return s->st != LD_WAIT;
	case LD_STARTTLS:
		if (code != 220 || s->c.rlen != 0) { /* bytes after 220: injection, refuse */
			ld->tls_fail++;
			break;
		}
		if (bench_conn_start_tls(&s->c, ld->tls, false) < 0)
			break;
		ld_enter(s, LD_HANDSHAKE, now);
		return true;
	case LD_TXN:
		txn_reply(s, code, now);
		return true;
	case LD_BODY:
		eod_reply(s, code, now);
		return s->st != LD_WAIT;
	case LD_RSET:
		msg_done(s, now);
		return s->st != LD_WAIT;
	case LD_QUIT:
		ld_drop(s, now, false);
		return false;
	default:
		break;
	}
	ld->server_closed++;
	ld_drop(s, now, true);
	return false;
}

/*
 * Takes one complete (possibly multi-line) reply from the front of rbuf: returns 1 with its
 * code and the EHLO capabilities seen, 0 when incomplete, -1 when malformed.
 */
static int take_reply(struct bench_conn *c, unsigned *code, unsigned *caps)
{
	size_t off = 0;
	*caps = 0;
	for (;;) {
		const uint8_t *p = c->rbuf + off;
		const uint8_t *lf = memchr(p, '\n', c->rlen - off);
		if (!lf)
			return c->rlen > 4096 ? -1 : 0;
		size_t n = (size_t)(lf - p) + 1;
		if (n < 4 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
			return -1;
		if (n >= 14 && strncasecmp((const char *)p + 4, "PIPELINING", 10) == 0)
			*caps |= CAP_PIPELINING;
		if (n >= 12 && strncasecmp((const char *)p + 4, "STARTTLS", 8) == 0)
			*caps |= CAP_STARTTLS;
		off += n;
		if (p[3] != '-') {
			*code = (unsigned)((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0'));
			bench_conn_consume(c, off);
			return 1;
		}
	}
}

static void connected(struct ld_sess *s, uint64_t now)
{
	if (bench_conn_connect_error(&s->c)) {
		s->ld->connect_fail++;
		ld_drop(s, now, true);
		return;
	}
	hist(s, LH_CONNECT, s->phase_us, now);
	s->c.want_write = false;
	s->phase_us = now;
	ld_enter(s, LD_BANNER, now);
}

/* Reads and handles replies until the socket is dry; false when the session ended. */
static bool read_replies(struct ld_sess *s, uint64_t now)
{
	for (;;) {
		unsigned code, caps;
		int r;
		while ((r = take_reply(&s->c, &code, &caps)) == 1) {
			if (!on_reply(s, code, caps, now))
				return false;
			if (s->st == LD_HANDSHAKE)
				return true;
		}
		if (r < 0) {
			s->ld->server_closed++;
			ld_drop(s, now, true);
			return false;
		}
		ssize_t n = bench_conn_read(&s->c);
		if (n == -EAGAIN)
			return true;
		if (n <= 0) {
			if (s->st != LD_QUIT)
				s->ld->server_closed++;
			ld_drop(s, now, s->st != LD_QUIT);
			return false;
		}
	}
}

/* Sends what is queued; notes when the end of data left. False when the session ended. */
static bool write_out(struct ld_sess *s, uint64_t now)
{
	if (!s->c.want_write)
		return true;
	int w = bench_conn_flush(&s->c);
	if (w < 0) {
		ld_drop(s, now, true);
		return false;
	}
	if (w == 1 && s->st == LD_BODY && !s->eod_us)
		s->eod_us = now;
	return true;
}

void ld_sess_event(struct ld_sess *s, uint32_t events, uint64_t now)
{
	struct load *ld = s->ld;
	if (s->st == LD_CONNECTING) {
		connected(s, now);
		if (s->st != LD_BANNER)
			return;
	}
	for (;;) {
		if (s->st == LD_HANDSHAKE) {
			int r = bench_conn_handshake(&s->c);
			if (r < 0) {
				ld->tls_fail++;
				ld_drop(s, now, true);
				return;
			}
			if (r == 0)
				break;
			ld->tls_ok++;
			hist(s, LH_STARTTLS, s->phase_us, now);
			s->tls_on = true;
			send_cmd(s, now, "EHLO %s\r\n", ld->o.ehlo);
			s->phase_us = now;
			ld_enter(s, LD_EHLO, now);
		}
		if (!write_out(s, now) || !read_replies(s, now))
			return;
		if (s->st == LD_HANDSHAKE)
			continue; /* STARTTLS accepted: drive the handshake now */
		if (!write_out(s, now))
			return;
		break;
	}
	bench_conn_interest(&s->c, ld->epfd, s);
}

void ld_sess_quit(struct ld_sess *s, uint64_t now)
{
	if (s->st == LD_WAIT || s->st == LD_DONE || s->st == LD_CONNECTING) {
		if (s->st == LD_CONNECTING)
			ld_drop(s, now, false);
		return;
	}
	if (s->st != LD_READY) {
		ld_drop(s, now, false);
		return;
	}
	send_cmd(s, now, "QUIT\r\n%s", "");
	ld_enter(s, LD_QUIT, now);
	if (bench_conn_flush(&s->c) < 0) {
		ld_drop(s, now, false);
		return;
	}
	bench_conn_interest(&s->c, s->ld->epfd, s);
}

void ld_sess_timeout(struct ld_sess *s, uint64_t now)
{
	s->ld->timeouts++;
	ld_drop(s, now, true);
}
