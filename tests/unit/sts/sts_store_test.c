/* SPDX-License-Identifier: MIT */
/*
 * sts_store_test.c: the persisted MTA-STS cache: a save/load round trip keeps every field,
 * damaged or hostile lines are skipped (never trusted), a missing file is an empty cache, and
 * a save replaces the file atomically (no .tmp left behind).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sts/sts_store.h"

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-sts-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mta-sts.cache", dir);
}

static void teardown(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static struct sts_policy pols[2];
static const char *const doms[2] = { "example.org", "b.example.net" };

static int next_rec(void *arg, struct sts_store_rec *r)
{
	int *i = arg;
	if (*i >= 2)
		return 0;
	*r = (struct sts_store_rec){ doms[*i], *i ? "B2" : "20240101T000000", 1700000000u + (unsigned)*i,
				     &pols[*i] };
	(*i)++;
	return 1;
}

static struct sts_policy got[4];
static char got_dom[4][256], got_id[4][40];
static uint64_t got_at[4];
static unsigned ngot;

static void add_rec(void *arg, const struct sts_store_rec *r)
{
	(void)arg;
	ck_assert_uint_lt(ngot, 4);
	got[ngot] = *r->policy;
	snprintf(got_dom[ngot], sizeof(got_dom[ngot]), "%s", r->domain);
	snprintf(got_id[ngot], sizeof(got_id[ngot]), "%s", r->id);
	got_at[ngot++] = r->fetched_wall_s;
}

START_TEST(round_trip)
{
	memset(pols, 0, sizeof(pols));
	pols[0] = (struct sts_policy){ .mode = STS_MODE_ENFORCE, .max_age = 86400, .n_mx = 2 };
	strcpy(pols[0].mx[0], "mx.example.org");
	strcpy(pols[0].mx[1], "*.example.net");
	pols[1] = (struct sts_policy){ .mode = STS_MODE_NONE, .max_age = 60 };
	int i = 0;
	ck_assert_int_eq(sts_store_save(path, next_rec, &i), 0);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	unsigned n = 0;
	ngot = 0;
	ck_assert_int_eq(sts_store_load(path, add_rec, NULL, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got_dom[0], "example.org");
	ck_assert_str_eq(got_id[0], "20240101T000000");
	ck_assert_uint_eq(got_at[0], 1700000000u);
	ck_assert_int_eq(got[0].mode, STS_MODE_ENFORCE);
	ck_assert_uint_eq(got[0].max_age, 86400);
	ck_assert_uint_eq(got[0].n_mx, 2);
	ck_assert_str_eq(got[0].mx[1], "*.example.net");
	ck_assert_str_eq(got_dom[1], "b.example.net");
	ck_assert_int_eq(got[1].mode, STS_MODE_NONE);
	ck_assert_uint_eq(got[1].n_mx, 0);
}
END_TEST

START_TEST(damaged_lines)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("# comment\n"
	      "\n"
	      "ok.example id1 1700000000 enforce 3600 mx.ok.example\n"
	      "too.few.fields id1 1700000000 enforce\n"
	      "bad..domain id1 1700000000 enforce 3600 mx.a\n"
	      "*.wild id1 1700000000 enforce 3600 mx.a\n"
	      "x.example id-with-dash 1700000000 enforce 3600 mx.a\n"
	      "x.example id1 17e9 enforce 3600 mx.a\n"
	      "x.example id1 1700000000 Enforce 3600 mx.a\n"
	      "x.example id1 1700000000 enforce 31557601 mx.a\n"
	      "x.example id1 1700000000 enforce 3600 -\n"
	      "x.example id1 1700000000 enforce 3600 mx.a,,mx.b\n"
	      "x.example id1 1700000000 enforce 3600 mx.a extra\n"
	      "none.example id2 1700000000 none 60 -", f);
	fclose(f);
	unsigned n = 0;
	ngot = 0;
	ck_assert_int_eq(sts_store_load(path, add_rec, NULL, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got_dom[0], "ok.example");
	ck_assert_str_eq(got_dom[1], "none.example");
}
END_TEST

START_TEST(missing_file)
{
	unsigned n = 7;
	ck_assert_int_eq(sts_store_load(path, add_rec, NULL, &n), 0);
	ck_assert_uint_eq(n, 0);
	int i = 2;
	ck_assert_int_eq(sts_store_save("/nonexistent-dir/x/cache", next_rec, &i), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sts_store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, damaged_lines);
	tcase_add_test(tc, missing_file);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
