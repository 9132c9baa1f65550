/* SPDX-License-Identifier: MIT */
/* keyfile_test.c: the key-file formats that load (raw bytes; hex with or without one newline)
 * and every near miss that must not (short, long, hex with junk, extra newline, missing file). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyfile.h"

static char path[64];

static void put(const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void setup(void)
{
	strcpy(path, "/tmp/dpmail-keyfile.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(path);
}

START_TEST(test_raw_and_hex)
{
	uint8_t raw[32], key[32];
	const char *why = NULL;
	for (int i = 0; i < 32; i++)
		raw[i] = (uint8_t)(i * 7 + 1);
	put(raw, 32);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), 0);
	ck_assert_mem_eq(key, raw, 32);

	char hex[66];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, i & 1 ? "%02X" : "%02x", raw[i]);
	memset(key, 0, sizeof key);
	put(hex, 64);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), 0);
	ck_assert_mem_eq(key, raw, 32);
	hex[64] = '\n';
	memset(key, 0, sizeof key);
	put(hex, 65);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), 0);
	ck_assert_mem_eq(key, raw, 32);
}
END_TEST

START_TEST(test_refused)
{
	uint8_t key[32], junk[200];
	const char *why = NULL;
	memset(junk, 'a', sizeof junk);
	size_t bad_sizes[] = { 0, 1, 31, 33, 63, 64 + 2, 129 };
	for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
		put(junk, bad_sizes[i]);
		why = NULL;
		ck_assert_int_eq(keyfile_read(path, key, 32, &why), -EINVAL);
		ck_assert_ptr_nonnull(why);
	}
	memset(junk, 'a', 64);
	junk[10] = 'g';                 /* not hex */
	put(junk, 64);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), -EINVAL);
	junk[10] = 'a';
	junk[64] = '\r';                /* only "\n" may follow */
	put(junk, 65);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), -EINVAL);
	unlink(path);
	ck_assert_int_eq(keyfile_read(path, key, 32, &why), -ENOENT);
	ck_assert_int_eq(keyfile_read(path, key, 65, &why), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keyfile");
	TCase *tc = tcase_create("keyfile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_raw_and_hex);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
