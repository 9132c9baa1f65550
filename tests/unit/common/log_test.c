/* SPDX-License-Identifier: MIT */
/* log_test.c: the line format (stamp, level, key=value text, newline), the level threshold,
 * truncation of an over-long line, and batching: staged lines leave together at
 * log_batch_end(), a warning writes what is staged at once, a full buffer flushes itself,
 * and a nested batch leaves with the outermost end. */
#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char path[64];
static int saved_fd = -1;

/* stderr goes to a temp file for the test */
static void setup(void)
{
	strcpy(path, "/tmp/dpmail-hotin-log.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
	log_set_level(LOG_LVL_INFO);
}

static void teardown(void)
{
	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	unlink(path);
}

/* What has been written so far (static buffer). */
static const char *written(size_t *len)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

static unsigned lines(void)
{
	unsigned n = 0;
	for (const char *p = written(NULL); *p; p++)
		n += *p == '\n';
	return n;
}

START_TEST(test_format_and_level)
{
	log_info("sid=%u event=%s", 7u, "accepted");
	log_debug("sid=1 event=hidden");
	log_warn("sid=2 event=odd");
	const char *w = written(NULL);
	regex_t re;
	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
				 "info sid=7 event=accepted\n[0-9TZ:.-]{24} warn sid=2 event=odd\n$",
			      REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, w, 0, NULL, 0) == 0, "got: %s", w);
	regfree(&re);
}
END_TEST

START_TEST(test_long_line_truncated)
{
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_info("v=%s", big);
	log_batch_begin();
	log_info("v=%s", big);
	log_batch_end();
	size_t len;
	const char *w = written(&len);
	const char *nl = strchr(w, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_uint_le((size_t)(nl - w) + 1, 2047);
	ck_assert_uint_eq(len, 2 * (size_t)(nl - w + 1));	/* both lines alike */
	ck_assert_uint_eq(lines(), 2);
}
END_TEST

START_TEST(test_batch)
{
	log_batch_begin();
	log_info("n=1");
	log_info("n=2");
	log_debug("n=hidden");
	ck_assert_uint_eq(lines(), 0);		/* staged, not written */
	log_batch_end();
	ck_assert_uint_eq(lines(), 2);
	log_batch_begin();
	log_info("n=3");
	log_err("n=4 msg=\"a problem leaves at once, after what was staged\"");
	ck_assert_uint_eq(lines(), 4);
	const char *w = written(NULL);
	ck_assert_ptr_nonnull(strstr(w, "info n=3\n"));
	ck_assert(strstr(w, "n=3") < strstr(w, "n=4"));
	log_info("n=5");
	ck_assert_uint_eq(lines(), 4);
	log_batch_end();
	ck_assert_uint_eq(lines(), 5);
	log_info("n=6");			/* outside a batch: at once */
	ck_assert_uint_eq(lines(), 6);
}
END_TEST

/* A loop turn batches around hooks that batch on their own: the inner end writes nothing. */
START_TEST(test_batch_nested)
{
	log_batch_begin();
	log_info("n=1");
	log_batch_begin();
	log_info("n=2");
	log_batch_end();
	ck_assert_uint_eq(lines(), 0);		/* the inner end: still staged */
	log_info("n=3");
	log_batch_end();
	ck_assert_uint_eq(lines(), 3);
	log_batch_end();			/* unbalanced: harmless */
	log_info("n=4");			/* outside a batch again: at once */
	ck_assert_uint_eq(lines(), 4);
}
END_TEST

START_TEST(test_batch_fills)
{
	log_batch_begin();
	unsigned n = 0;
	while (lines() == 0 && n < 10000)
		log_info("n=%u pad=%0200u", n++, 0u);
	ck_assert_uint_gt(n, 10);		/* lines were staged first... */
	ck_assert_uint_lt(n, 10000);		/* ...then the full buffer flushed itself */
	log_batch_end();
	ck_assert_uint_eq(lines(), n);
	const char *w = written(NULL);
	char want[32];
	for (unsigned i = 0; i < n; i++) {
		snprintf(want, sizeof(want), " info n=%u pad=", i);
		ck_assert_msg(strstr(w, want), "line %u missing", i);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_format_and_level);
	tcase_add_test(tc, test_long_line_truncated);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_nested);
	tcase_add_test(tc, test_batch_fills);
	suite_add_tcase(s, tc);
	SRunner *r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
