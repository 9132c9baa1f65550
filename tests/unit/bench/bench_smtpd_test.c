/* SPDX-License-Identifier: MIT */
/*
 * bench_smtpd_test.c: the sink's SMTP engine: a full transaction, input split at every byte,
 * pipelining, dot-unstuffing and the end marker, Message-ID capture, sequence errors, the
 * STARTTLS stop (nothing after it is consumed), the reply mix at end of data, 421.
 */
#include <check.h>
#include <string.h>

#include "bench.h"

/* Feeds in in chunks of step bytes, draining replies into out; returns the final state. An
 * end of message is answered with eom_code; eom_code 0 stops there unanswered (the
 * transaction's Message-ID is still there to check). */
static enum bench_smtpd_state feed(struct bench_smtpd *s, const char *in, size_t step, char *out,
				   size_t outcap, unsigned eom_code)
{
	size_t len = strlen(in), have = 0, off = 0, olen = strlen(out);
	char buf[8192];
	while (off < len || have) {
		size_t add = len - off < step ? len - off : step;
		memcpy(buf + have, in + off, add);
		have += add;
		off += add;
		size_t used = bench_smtpd_input(s, (const uint8_t *)buf, have);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (s->state == BENCH_SMTPD_EOM && eom_code == 0)
			break;
		if (s->state == BENCH_SMTPD_EOM)
			bench_smtpd_eom_reply(s, eom_code);
		ck_assert_uint_lt(olen + s->out_len, outcap);
		memcpy(out + olen, s->out, s->out_len);
		olen += s->out_len;
		out[olen] = 0;
		s->out_len = 0;
		if (s->state == BENCH_SMTPD_TLS || s->state == BENCH_SMTPD_QUIT)
			break;
		if (used == 0 && add == 0)
			break;
	}
	return s->state;
}

static const char *txn =
	"EHLO client.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	"Subject: x\r\nMessage-ID: <id-1@test>\r\n\r\n..leading dot\r\nline\r\n.\r\nQUIT\r\n";

START_TEST(test_transaction_every_split)
{
	for (size_t step = 1; step <= strlen(txn); step++) {
		struct bench_smtpd s;
		char out[4096] = "";
		bench_smtpd_init(&s, false, "sink.test");
		size_t olen = s.out_len;
		memcpy(out, s.out, olen);
		out[olen] = 0;
		s.out_len = 0;
		ck_assert_int_eq(feed(&s, txn, step, out, sizeof(out), 250), BENCH_SMTPD_QUIT);
		ck_assert_ptr_nonnull(strstr(out, "220 sink.test"));
		ck_assert_ptr_nonnull(strstr(out, "250-PIPELINING"));
		ck_assert_ptr_null(strstr(out, "STARTTLS"));
		ck_assert_ptr_nonnull(strstr(out, "354 "));
		ck_assert_ptr_nonnull(strstr(out, "250 2.0.0 Ok: queued"));
		ck_assert_ptr_nonnull(strstr(out, "221 "));
	}
}
END_TEST

/* CHUNKING: a pipelined MAIL, RCPT, two BDAT chunks (the header line split between them, a
 * "." line that is content) split at every byte; then a BDAT without a transaction is read
 * and discarded (503) and the next command still parses. */
START_TEST(test_bdat_every_split)
{
	static const char in[] =
		"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
		"BDAT 25\r\nSubject: x\r\nMessage-ID: <"
		"BDAT 19 LAST\r\nid-9@t>\r\n\r\n.\r\nend\r\n"
		"BDAT 5 LAST\r\nQUIT\n"
		"NOOP\r\nQUIT\r\n";
	for (size_t step = 1; step <= strlen(in); step++) {
		struct bench_smtpd s;
		char out[4096] = "";
		bench_smtpd_init(&s, false, "h");
		s.out_len = 0;
		ck_assert_int_eq(feed(&s, in, step, out, sizeof(out), 250), BENCH_SMTPD_QUIT);
		ck_assert_ptr_nonnull(strstr(out, "250-CHUNKING"));
		ck_assert_ptr_nonnull(strstr(out, "250 2.0.0 chunk received\r\n250 2.0.0 Ok: queued\r\n"
						  "503 5.5.1 Error: need RCPT command\r\n250 2.0.0 Ok\r\n221 "));
		ck_assert_uint_eq(s.msg_bytes, 0); /* reset after the message */
	}
	/* the Message-ID line cut by the first chunk's end is captured (feed() stops at the
	 * queued message, before the transaction is reset) */
	for (size_t step = 1; step <= 80; step++) {
		struct bench_smtpd s;
		bench_smtpd_init(&s, false, "h");
		char out[4096] = "";
		ck_assert_int_eq(feed(&s, in, step, out, sizeof(out), 0), BENCH_SMTPD_EOM);
		ck_assert_str_eq(s.msgid, "<id-9@t>");
		ck_assert_uint_eq(s.msg_bytes, 25 + 19);
	}
	/* a header line over three chunks, the header/body separator cut after its CR, and a
	 * DKIM-Signature name cut in two */
	{
		static const char three[] =
			"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
			"BDAT 8\r\nDKIM-Sig"
			"BDAT 18\r\nnature: v=1\r\nMessa"
			"BDAT 5\r\nge-ID"
			"BDAT 10\r\n: <3@c>\r\n\r"
			"BDAT 29 LAST\r\n\nMessage-ID: <not-a-header>\r\n";
		struct bench_smtpd s;
		for (size_t step = 1; step <= strlen(three); step++) {
			char out[4096] = "";
			bench_smtpd_init(&s, false, "h");
			ck_assert_int_eq(feed(&s, three, step, out, sizeof(out), 0), BENCH_SMTPD_EOM);
			ck_assert_str_eq(s.msgid, "<3@c>");
		}
		char out[4096] = "";
		bench_smtpd_init(&s, false, "h");
		ck_assert_int_eq(feed(&s, three, strlen(three), out, sizeof(out), 0), BENCH_SMTPD_EOM);
		ck_assert_str_eq(s.msgid, "<3@c>");
		ck_assert(s.dkim_signed);
		ck_assert(!s.in_headers);
		ck_assert_uint_eq(s.msg_bytes, 8 + 18 + 5 + 10 + 29);
	}
	struct bench_smtpd s;
	char out[4096] = "";
	bench_smtpd_init(&s, false, "h");
	const char *one = "EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 29 LAST\r\n"
			  "Message-ID: <m1@x>\r\n\r\n.\r\nab\r\n";
	ck_assert_uint_eq(bench_smtpd_input(&s, (const uint8_t *)one, strlen(one)), strlen(one));
	ck_assert_int_eq(s.state, BENCH_SMTPD_EOM);
	ck_assert_str_eq(s.msgid, "<m1@x>");
	ck_assert_uint_eq(s.msg_bytes, 29);
	bench_smtpd_init(&s, false, "h");
	ck_assert_int_eq(feed(&s, "EHLO c\r\nBDAT x\r\n", 1000, out, sizeof(out), 0), BENCH_SMTPD_QUIT);
	ck_assert_ptr_nonnull(strstr(out, "501 5.5.4"));
}
END_TEST

START_TEST(test_msgid_and_unstuffing)
{
	struct bench_smtpd s;
	char out[4096] = "";
	bench_smtpd_init(&s, false, "h");
	s.out_len = 0;
	const char *in = "EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<r@x>\r\nDATA\r\n"
			 "message-id:   <abc@def>  \r\n\r\n..x\r\n.\r\n";
	size_t used = bench_smtpd_input(&s, (const uint8_t *)in, strlen(in));
	ck_assert_int_eq(s.state, BENCH_SMTPD_EOM);
	ck_assert_uint_eq(used, strlen(in));
	ck_assert_str_eq(s.msgid, "<abc@def>");
	/* "message-id:   <abc@def>  \r\n" = 27, blank line 2, "..x\r\n" unstuffed to 4 */
	ck_assert_uint_eq(s.msg_bytes, 27 + 2 + 4);
	bench_smtpd_eom_reply(&s, 451);
	ck_assert_ptr_nonnull(memmem(s.out, s.out_len, "451 4.3.0", 9));
	ck_assert_int_eq(s.state, BENCH_SMTPD_CMD);
	ck_assert_uint_eq(s.msgid_len, 0); /* transaction reset */
	(void)out;
}
END_TEST

START_TEST(test_sequence_errors)
{
	struct bench_smtpd s;
	bench_smtpd_init(&s, false, "h");
	s.out_len = 0;
	const char *in = "MAIL FROM:<a@b>\r\nEHLO x\r\nRCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\n"
			 "MAIL FROM:<a@b>\r\nBDAT 4\r\nabcdXYZW\r\nSTARTTLS\r\nVRFY x\r\nNOOP\r\n"
			 "RSET\r\n"; /* BDAT without RCPT: its 4 octets are read and discarded */
	bench_smtpd_input(&s, (const uint8_t *)in, strlen(in));
	s.out[s.out_len] = 0;
	const char *want[] = { "503 5.5.1 Error: send HELO", "503 5.5.1 Error: need MAIL",
			       "503 5.5.1 Error: need RCPT", "503 5.5.1 Error: nested",
			       "502 5.5.2", "502 5.5.1", "252 ", "250 2.0.0 Ok" };
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(s.out, want[i]), "missing %s in %s", want[i], s.out);
	ck_assert_int_eq(s.state, BENCH_SMTPD_CMD);
}
END_TEST

START_TEST(test_starttls_stops_consuming)
{
	struct bench_smtpd s;
	bench_smtpd_init(&s, true, "h");
	s.out_len = 0;
	const char *in = "EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n";
	size_t used = bench_smtpd_input(&s, (const uint8_t *)in, strlen(in));
	ck_assert_int_eq(s.state, BENCH_SMTPD_TLS);
	ck_assert_uint_eq(used, strlen("EHLO x\r\nSTARTTLS\r\n")); /* the injection is left over */
	ck_assert_ptr_nonnull(memmem(s.out, s.out_len, "250-STARTTLS", 12));
	bench_smtpd_tls_started(&s);
	s.out_len = 0;
	const char *after = "MAIL FROM:<a@b>\r\nEHLO x\r\n";
	bench_smtpd_input(&s, (const uint8_t *)after, strlen(after));
	ck_assert_ptr_nonnull(memmem(s.out, s.out_len, "503", 3)); /* EHLO again first */
	ck_assert_ptr_null(memmem(s.out, s.out_len, "STARTTLS", 8)); /* not offered twice */
}
END_TEST

START_TEST(test_421_and_long_lines)
{
	struct bench_smtpd s;
	bench_smtpd_init(&s, false, "h");
	s.out_len = 0;
	char in[3000];
	memset(in, 'A', sizeof(in));
	size_t used = bench_smtpd_input(&s, (const uint8_t *)in, sizeof(in));
	ck_assert_uint_eq(used, sizeof(in)); /* discarded, answered at the LF */
	used = bench_smtpd_input(&s, (const uint8_t *)"AA\r\n", 4);
	ck_assert_uint_eq(used, 4);
	ck_assert_ptr_nonnull(memmem(s.out, s.out_len, "500 5.5.0", 9));
	s.out_len = 0;
	const char *t = "HELO x\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n.\r\n";
	bench_smtpd_input(&s, (const uint8_t *)t, strlen(t));
	ck_assert_int_eq(s.state, BENCH_SMTPD_EOM);
	bench_smtpd_eom_reply(&s, 421);
	ck_assert_int_eq(s.state, BENCH_SMTPD_QUIT);
	ck_assert_ptr_nonnull(memmem(s.out, s.out_len, "421 4.7.0", 9));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_smtpd");
	TCase *tc = tcase_create("engine");
	tcase_add_test(tc, test_transaction_every_split);
	tcase_add_test(tc, test_msgid_and_unstuffing);
	tcase_add_test(tc, test_sequence_errors);
	tcase_add_test(tc, test_starttls_stops_consuming);
	tcase_add_test(tc, test_421_and_long_lines);
	tcase_add_test(tc, test_bdat_every_split);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
