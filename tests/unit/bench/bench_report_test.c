/* SPDX-License-Identifier: MIT */
/*
 * bench_report_test.c: reading run JSON into report rows (load and sink), the SVG writer's
 * output, and the Message-ID set used by the sink and by verify.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_idset.h"

START_TEST(test_row_load)
{
	json_error_t e;
	json_t *j = json_loads(
		"{\"tool\":\"dpmail-bench\",\"mode\":\"load\",\"label\":\"postfix\","
		"\"config\":{\"sessions\":64,\"starttls\":true},\"msgs_per_s\":1234.5,\"mb_per_s\":12.5,"
		"\"messages\":{\"accepted\":1000,\"tempfail\":7,\"permfail\":2,\"errors\":1},"
		"\"latency_us\":{\"eod\":{\"p50\":1500,\"p99\":9000,\"p999\":20000},\"msg\":{\"p99\":30000}},"
		"\"sut\":{\"cpu_s\":2.5,\"cpu_s_per_1000_msgs\":2.5}}", 0, &e);
	ck_assert_ptr_nonnull(j);
	struct bench_row r;
	ck_assert_int_eq(bench_report_row(j, "file.json", &r), 0);
	ck_assert_str_eq(r.label, "postfix");
	ck_assert_str_eq(r.mode, "load");
	ck_assert(r.sessions == 64 && r.tls);
	ck_assert(r.msgs_s > 1234.4 && r.msgs_s < 1234.6);
	ck_assert(r.p50 == 1.5 && r.p99 == 9.0 && r.p999 == 20.0 && r.msg_p99 == 30.0);
	ck_assert_int_eq(r.accepted, 1000);
	ck_assert_int_eq(r.tempfail, 7);
	ck_assert_int_eq(r.permfail, 2);
	ck_assert_int_eq(r.errors, 1);
	ck_assert(r.has_sut && r.sut_k == 2.5);
	json_decref(j);
}
END_TEST

START_TEST(test_row_sink_and_foreign)
{
	json_t *j = json_pack("{ss ss s{si} s{si} sf}", "tool", "dpmail-bench", "mode", "sink",
			      "connections", "peak", 16, "messages", "accepted", 320, "msgs_per_s", 99.0);
	struct bench_row r;
	ck_assert_int_eq(bench_report_row(j, "sink.json", &r), 0);
	ck_assert_str_eq(r.label, "sink.json"); /* no label: the file name */
	ck_assert_str_eq(r.mode, "sink");
	ck_assert_int_eq(r.accepted, 320);
	ck_assert(!r.has_sut);
	json_decref(j);
	/* an idle-session run (messages_per_session 0) is listed apart, with its greeting numbers */
	j = json_pack("{ss ss s{si si} s{si} s{s{sf} s{sf}}}", "tool", "dpmail-bench", "mode", "load",
		      "config", "sessions", 10000, "messages_per_session", 0, "sessions", "ready_peak",
		      9990, "latency_us", "banner", "p99", 1500.0, "ehlo", "p99", 2500.0);
	ck_assert_int_eq(bench_report_row(j, "idle.json", &r), 0);
	ck_assert_str_eq(r.mode, "idle");
	ck_assert_int_eq(r.greeted, 9990);
	ck_assert(r.banner_p99 == 1.5 && r.ehlo_p99 == 2.5);
	json_decref(j);
	j = json_pack("{ss}", "tool", "other");
	ck_assert_int_lt(bench_report_row(j, "x", &r), 0);
	json_decref(j);
}
END_TEST

START_TEST(test_svg)
{
	char path[] = "/tmp/dpmail-bench-svg-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct bench_svg_series s[2] = { { .name = "dpmaild <posix>", .n = 3, .x = { 1, 16, 1000 },
					  .y = { 100, 1500, 9000 } },
					{ .name = "postfix", .n = 2, .x = { 1, 16 }, .y = { 50, 400 } } };
	ck_assert_int_eq(bench_svg_write(path, "Throughput & more", "sessions", "msgs/s", s, 2, true), 0);
	FILE *f = fopen(path, "r");
	char buf[16384];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	unlink(path);
	ck_assert_ptr_nonnull(strstr(buf, "<svg "));
	ck_assert_ptr_nonnull(strstr(buf, "</svg>"));
	ck_assert_ptr_nonnull(strstr(buf, "Throughput &amp; more")); /* escaped */
	ck_assert_ptr_nonnull(strstr(buf, "dpmaild &lt;posix&gt;"));
	int lines = 0;
	for (char *p = buf; (p = strstr(p, "<polyline")); p++)
		lines++;
	ck_assert_int_eq(lines, 2);
	/* an empty chart is still valid */
	ck_assert_int_eq(bench_svg_write("/tmp/dpmail-bench-svg-empty.svg", "t", "x", "y", s, 0, false), 0);
	unlink("/tmp/dpmail-bench-svg-empty.svg");
}
END_TEST

START_TEST(test_idset)
{
	struct bench_idset s;
	bench_idset_init(&s);
	char id[64];
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(id, sizeof(id), "<run.%d@x>", i);
		ck_assert_int_eq(bench_idset_add(&s, id, (size_t)n), 1);
	}
	ck_assert_int_eq(bench_idset_add(&s, "<run.123@x>", 11), 0);
	ck_assert(bench_idset_has(&s, "<run.49999@x>", 13));
	ck_assert(!bench_idset_has(&s, "<run.50000@x>", 13));
	ck_assert_uint_eq(s.count, 50000);
	bench_idset_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench_report");
	TCase *tc = tcase_create("report");
	tcase_add_test(tc, test_row_load);
	tcase_add_test(tc, test_row_sink_and_foreign);
	tcase_add_test(tc, test_svg);
	tcase_add_test(tc, test_idset);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
