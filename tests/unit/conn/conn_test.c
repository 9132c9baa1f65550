/* SPDX-License-Identifier: MIT */
/* conn_test.c: helpers of the transport API. */
#include <arpa/inet.h>
#include <check.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/conn.h"

START_TEST(test_addr_str_v4)
{
	struct conn_addr a = { .family = AF_INET, .port = htons(25) };
	inet_pton(AF_INET, "198.18.0.2", &a.ip.v4);
	char buf[64];
	ck_assert_str_eq(conn_addr_str(&a, buf, sizeof(buf)), "198.18.0.2:25");
}
END_TEST

START_TEST(test_close_reason_names)
{
	ck_assert_str_eq(conn_close_reason_str(CONN_CLOSED_RESET), "reset");
	ck_assert_str_eq(conn_close_reason_str(CONN_CLOSED__MAX), "unknown");
	for (int r = 0; r < CONN_CLOSED__MAX; r++)
		ck_assert_ptr_nonnull(conn_close_reason_str((enum conn_close_reason)r));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("api");
	tcase_add_test(tc, test_addr_str_v4);
	tcase_add_test(tc, test_close_reason_names);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
