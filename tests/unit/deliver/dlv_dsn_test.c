/* SPDX-License-Identifier: MIT */
/* dlv_dsn_test.c: RFC 3464 report structure, RET handling, header-injection refusal. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/dlv_dsn.h"

struct buf {
	char data[65536];
	size_t len;
};

static int emit(void *ctx, const void *d, size_t n)
{
	struct buf *b = ctx;
	if (b->len + n >= sizeof(b->data))
		return -ENOSPC;
	memcpy(b->data + b->len, d, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

static const char orig[] = "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody line\r\n";

static struct dlv_dsn_rcpt rc = {
	.addr = "b@example.net", .orcpt = "rfc822;b@example.net", .action = DLV_DSN_FAILED,
	.status = "5.1.1", .remote_mta = "mx.example.net",
	.diagnostic = "550 5.1.1 <b@example.net>: user unknown", .last_attempt = 1800000000,
};

static struct dlv_dsn_report base(void)
{
	struct dlv_dsn_report r = {
		.reporting_mta = "relay.example.com", .queue_id = "Q1", .envid = "E1",
		.to = "a@example.org", .arrival = 1799990000, .now = 1800000000, .rcpts = &rc,
		.nrcpts = 1, .orig = (const uint8_t *)orig, .orig_len = sizeof(orig) - 1,
		.full_limit = 50000, .unique = 7,
	};
	return r;
}

START_TEST(full_report)
{
	struct buf b = { .len = 0 };
	struct dlv_dsn_report r = base();
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: multipart/report; report-type=delivery-status;"));
	ck_assert_ptr_nonnull(strstr(b.data, "Auto-Submitted: auto-replied\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: message/delivery-status\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Reporting-MTA: dns; relay.example.com\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Original-Envelope-Id: E1\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "\r\n\r\nOriginal-Recipient: rfc822;b@example.net\r\n"
					     "Final-Recipient: rfc822; b@example.net\r\n"
					     "Action: failed\r\nStatus: 5.1.1\r\n"
					     "Remote-MTA: dns; mx.example.net\r\n"
					     "Diagnostic-Code: smtp; 550 5.1.1 <b@example.net>: user unknown\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: message/rfc822\r\n\r\nFrom: a@example.org"));
	ck_assert_ptr_nonnull(strstr(b.data, "body line\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Subject: Undelivered Mail Returned to Sender\r\n"));
	/* Ends with the closing boundary. */
	ck_assert_ptr_nonnull(strstr(b.data + b.len - 40, "--\r\n"));
}
END_TEST

START_TEST(ret_hdrs_and_size_limit)
{
	struct buf b = { .len = 0 };
	struct dlv_dsn_report r = base();
	r.ret = DLV_DSN_RET_HDRS;
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Content-Type: text/rfc822-headers\r\n"));
	ck_assert_ptr_null(strstr(b.data, "body line"));
	b.len = 0;
	r = base();
	r.full_limit = 10;   /* original too large: headers only */
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), 0);
	ck_assert_ptr_null(strstr(b.data, "body line"));
}
END_TEST

START_TEST(delayed_and_utf8)
{
	struct buf b = { .len = 0 };
	struct dlv_dsn_rcpt d = rc;
	d.action = DLV_DSN_DELAYED;
	d.status = "4.4.1";
	d.retry_until = 1800400000;
	d.addr = "j\xc3\xb6rg@example.net";
	d.orcpt = NULL;
	struct dlv_dsn_report r = base();
	r.rcpts = &d;
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "Subject: Delayed Mail"));
	ck_assert_ptr_nonnull(strstr(b.data, "message/global-delivery-status"));
	ck_assert_ptr_nonnull(strstr(b.data, "Final-Recipient: utf-8; j\xc3\xb6rg@example.net"));
	ck_assert_ptr_nonnull(strstr(b.data, "Action: delayed\r\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "Will-Retry-Until: "));
}
END_TEST

START_TEST(refuses_injection)
{
	struct buf b = { .len = 0 };
	struct dlv_dsn_rcpt d = rc;
	d.diagnostic = "550 ok\r\nBcc: victim@example.org";
	struct dlv_dsn_report r = base();
	r.rcpts = &d;
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	r = base();
	r.to = "";
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), -EINVAL);
	r = base();
	r.nrcpts = 0;
	ck_assert_int_eq(dlv_dsn_build(&r, emit, &b), -EINVAL);
}
END_TEST

START_TEST(header_len)
{
	ck_assert_uint_eq(dlv_dsn_header_len((const uint8_t *)orig, sizeof(orig) - 1),
			  strstr(orig, "\r\n\r\n") - orig + 4);
	ck_assert_uint_eq(dlv_dsn_header_len((const uint8_t *)"\r\nbody", 6), 2);
	ck_assert_uint_eq(dlv_dsn_header_len((const uint8_t *)"A: b\r\n", 6), 6);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dlv_dsn");
	TCase *tc = tcase_create("dsn");
	tcase_add_test(tc, full_report);
	tcase_add_test(tc, ret_hdrs_and_size_limit);
	tcase_add_test(tc, delayed_and_utf8);
	tcase_add_test(tc, refuses_injection);
	tcase_add_test(tc, header_len);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
