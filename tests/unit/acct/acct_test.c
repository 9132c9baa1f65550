/* SPDX-License-Identifier: MIT */
/*
 * acct_test.c: accounting records from worker rings to JSON lines: every line parses, fields
 * and latencies come through, pseudonymised fields are keyed hashes, rotation by size and on
 * request, retention removes old rotated files only, erasure leaves no trace of an address
 * (plain or pseudonymised) in any accounting or audit file, and the ring refuses when full.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acct/acct.h"
#include "ctl/audit.h"
#include "ctl/ring.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-ctl-acct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

#define S(x) { x, sizeof(x) - 1 }

static struct ctl_acct_event event(uint8_t type, const char *rcpt)
{
	struct ctl_acct_event ev = {
		.type = type, .tls_verified = 1, .attempt = 2, .size = 1234, .snapshot_version = 7,
		.now_us = 5000000, .accepted_us = 4000000,
	};
	ev.f[CTL_ACCT_QID] = (struct ctl_acct_str)S("0a1b2c");
	ev.f[CTL_ACCT_SENDER] = (struct ctl_acct_str)S("alice@example.org");
	ev.f[CTL_ACCT_RECIPIENT] = (struct ctl_acct_str){ rcpt, (uint16_t)strlen(rcpt) };
	ev.f[CTL_ACCT_DESTINATION] = (struct ctl_acct_str)S("example.net");
	ev.f[CTL_ACCT_REMOTE_HOST] = (struct ctl_acct_str)S("mx1.example.net[198.18.0.10]");
	ev.f[CTL_ACCT_REPLY] = (struct ctl_acct_str)S("250 2.0.0 ok queued as <bob@example.net>");
	ev.f[CTL_ACCT_TLS_VERSION] = (struct ctl_acct_str)S("TLSv1.3");
	ev.f[CTL_ACCT_TLS_CIPHER] = (struct ctl_acct_str)S("TLS_AES_256_GCM_SHA384");
	ev.f[CTL_ACCT_DKIM_DOMAINS] = (struct ctl_acct_str)S("example.org,esp.example");
	return ev;
}

static struct ctl_acct *acct_new(uint64_t max_bytes, uint32_t pseudo)
{
	struct ctl_acct_opts o;
	ctl_acct_opts_defaults(&o);
	o.dir = dir;
	o.nslots = 2;
	o.max_bytes = max_bytes;
	o.pseudo_fields = pseudo;
	memset(o.key, 0x42, sizeof(o.key));
	int err;
	struct ctl_acct *a = ctl_acct_new(&o, &err);
	ck_assert_msg(a != NULL, "ctl_acct_new: %d", err);
	return a;
}

/* Every line of every *.jsonl file parses; returns the lines, concatenated into *all. */
static int all_lines(char **all, size_t *alllen)
{
	FILE *mem = open_memstream(all, alllen);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".jsonl"))
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, f)) > 0) {
			json_error_t jerr;
			json_t *j = json_loadb(line, (size_t)len, 0, &jerr);
			ck_assert_msg(json_is_object(j), "%s: not JSON: %s (%s)", e->d_name, line, jerr.text);
			json_decref(j);
			fputs(line, mem);
			n++;
		}
		free(line);
		fclose(f);
	}
	closedir(d);
	fclose(mem);
	return n;
}

static int count_files(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

START_TEST(test_records_to_json)
{
	struct ctl_acct *a = acct_new(0, 0);
	struct ctl_acct_event ev = event(CTL_ACCT_DELIVERED, "bob@example.net");
	ck_assert_int_eq(ctl_acct_emit(a, 0, &ev), 0);
	ev.type = CTL_ACCT_RECEIVED;
	ck_assert_int_eq(ctl_acct_emit(a, 1, &ev), 0);
	ck_assert_int_eq(ctl_acct_emit(a, 2, &ev), -EINVAL);
	ck_assert_uint_eq(ctl_acct_poll(a, 0), 2);
	char *all;
	size_t len;
	ck_assert_int_eq(all_lines(&all, &len), 2);
	json_t *j = json_loads(all, JSON_DISABLE_EOF_CHECK, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "delivered");
	ck_assert_str_eq(json_string_value(json_object_get(j, "recipient")), "bob@example.net");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "snapshot")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "latency_ms")), 1000);
	ck_assert(json_is_true(json_object_get(json_object_get(j, "tls"), "verified")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "tls"), "cipher")),
			 "TLS_AES_256_GCM_SHA384");
	ck_assert_int_eq(json_array_size(json_object_get(j, "dkim_domains")), 2);
	ck_assert_ptr_nonnull(json_object_get(j, "ts"));
	ck_assert_ptr_nonnull(json_object_get(j, "accepted"));
	json_decref(j);
	free(all);
	ctl_acct_free(a);
}
END_TEST

/* Worker data is untrusted: quotes, backslashes, control characters, invalid UTF-8. */
START_TEST(test_hostile_field_bytes)
{
	struct ctl_acct *a = acct_new(0, 0);
	static const char reply[] = "550 \"quoted\" back\\slash\r\n\x01 caf\xc3\xa9 bad\xff\xc3 end";
	struct ctl_acct_event ev = event(CTL_ACCT_BOUNCED, "x@example.org");
	ev.f[CTL_ACCT_REPLY] = (struct ctl_acct_str){ reply, sizeof(reply) - 1 };
	ck_assert_int_eq(ctl_acct_emit(a, 0, &ev), 0);
	ck_assert_uint_eq(ctl_acct_poll(a, 0), 1);
	char *all;
	size_t len;
	ck_assert_int_eq(all_lines(&all, &len), 1); /* parses */
	json_t *j = json_loads(all, JSON_DISABLE_EOF_CHECK, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "reply")),
			 "550 \"quoted\" back\\slash\r\n\x01 caf\xc3\xa9 bad?? end");
	json_decref(j);
	free(all);
	ctl_acct_free(a);
}
END_TEST

START_TEST(test_pseudonymised_fields)
{
	struct ctl_acct *a = acct_new(0, CTL_ACCT_PSEUDO(CTL_ACCT_SENDER) |
					 CTL_ACCT_PSEUDO(CTL_ACCT_RECIPIENT));
	struct ctl_acct_event ev = event(CTL_ACCT_DELIVERED, "Bob@Example.NET");
	ctl_acct_emit(a, 0, &ev);
	ctl_acct_poll(a, 0);
	char *all;
	size_t len;
	all_lines(&all, &len);
	json_t *j = json_loads(all, JSON_DISABLE_EOF_CHECK, NULL);
	char want[35];
	ctl_acct_pseudonym(a, "bob@example.net", 15, want); /* case-folded */
	/* RFC 2104 HMAC-SHA256, key 32 x 0x42, truncated to 128 bits (python3 hmac reference) */
	ck_assert_str_eq(want, "h:3d87b6abcc3ce284337c95233c6eaa73");
	ck_assert_str_eq(json_string_value(json_object_get(j, "recipient")), want);
	ck_assert_uint_eq(strlen(want), 34);
	ck_assert(strncmp(want, "h:", 2) == 0);
	ck_assert_ptr_null(strstr(all, "alice@example.org"));
	/* not pseudonymised: the destination stays readable */
	ck_assert_str_eq(json_string_value(json_object_get(j, "destination")), "example.net");
	json_decref(j);
	free(all);
	ctl_acct_free(a);
}
END_TEST

START_TEST(test_rotation_and_retention)
{
	struct ctl_acct *a = acct_new(4096, 0);
	struct ctl_acct_event ev = event(CTL_ACCT_DELIVERED, "bob@example.net");
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(ctl_acct_emit(a, i & 1, &ev), 0);
		ctl_acct_poll(a, 0);
	}
	int rotated = count_files("acct-");
	ck_assert_int_ge(rotated, 3);
	ck_assert_int_eq(ctl_acct_rotate(a), 0); /* what SIGUSR1 does */
	ck_assert_int_eq(count_files("acct-"), rotated + 1);
	char *all;
	size_t len;
	ck_assert_int_eq(all_lines(&all, &len), 40); /* nothing lost or split by rotation */
	free(all);
	/* retention: age one rotated file past the limit */
	DIR *d = opendir(dir);
	struct dirent *e;
	char old[512] = "";
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "acct-", 5) == 0 && !old[0])
			snprintf(old, sizeof(old), "%s/%s", dir, e->d_name);
	closedir(d);
	struct timespec t[2] = { { time(NULL) - 40 * 86400, 0 }, { time(NULL) - 40 * 86400, 0 } };
	ck_assert_int_eq(utimensat(AT_FDCWD, old, t, 0), 0);
	ck_assert_int_eq(ctl_acct_sweep(a), 1);
	ck_assert_int_ne(access(old, F_OK), 0);
	ck_assert_int_eq(count_files("acct-"), rotated);
	ck_assert_int_eq(count_files("acct.jsonl"), 1);
	ctl_acct_free(a);
}
END_TEST

START_TEST(test_erasure)
{
	struct ctl_acct *a = acct_new(2048, CTL_ACCT_PSEUDO(CTL_ACCT_RECIPIENT));
	char audit_path[128];
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", dir);
	int err;
	struct ctl_audit *au = ctl_audit_open(audit_path, &err);
	ck_assert_ptr_nonnull(au);
	ctl_acct_set_audit(a, au, audit_path);
	json_t *args = json_pack("{s:s}", "id", "carol@example.com");
	ctl_audit_write(au, 0, 1, "queue show", args, NULL, NULL);
	json_decref(args);
	struct ctl_acct_event bob = event(CTL_ACCT_DELIVERED, "bob@example.net");
	struct ctl_acct_event carol = event(CTL_ACCT_BOUNCED, "carol@example.com");
	carol.f[CTL_ACCT_REPLY] = (struct ctl_acct_str)S("550 5.1.1 <CAROL@example.com> unknown");
	for (int i = 0; i < 20; i++) {
		ctl_acct_emit(a, 0, &bob);
		ctl_acct_emit(a, 1, &carol);
		ctl_acct_poll(a, 0);
	}
	char ps[35];
	ctl_acct_pseudonym(a, "carol@example.com", 17, ps);
	char *all;
	size_t len;
	int before = all_lines(&all, &len);
	ck_assert_ptr_nonnull(strstr(all, ps));
	ck_assert_ptr_nonnull(strstr(all, "CAROL@example.com"));
	free(all);
	ck_assert_int_ge(count_files("acct-"), 2);

	json_t *report = json_object();
	ck_assert_int_eq(ctl_acct_erase(a, "carol@example.com", report), 0);
	ck_assert_int_ge(json_integer_value(json_object_get(report, "files_rewritten")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(report, "lines_scrubbed")), 21);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(report, "queue"), "status")),
			 "not available in this build");
	json_decref(report);
	ck_assert_int_eq(all_lines(&all, &len), before);
	ck_assert_ptr_null(strcasestr(all, "carol@example.com"));
	ck_assert_ptr_null(strstr(all, ps));
	ck_assert_ptr_nonnull(strstr(all, "[erased]"));
	ck_assert_ptr_nonnull(strstr(all, "<bob@example.net>")); /* others untouched */
	free(all);
	/* the writers continue in the rewritten files */
	ctl_acct_emit(a, 0, &bob);
	ck_assert_uint_eq(ctl_acct_poll(a, 0), 1);
	ck_assert_int_eq(ctl_audit_write(au, 0, 1, "status", NULL, NULL, NULL), 0);
	ck_assert_int_eq(all_lines(&all, &len), before + 2);
	free(all);
	ctl_acct_free(a);
	ctl_audit_close(au);
}
END_TEST

START_TEST(test_ring_full_and_wrap)
{
	struct ctl_ring *r = ctl_ring_new(4096);
	char rec[300];
	int put = 0;
	while (ctl_ring_put(r, rec, sizeof(rec)) == 0)
		put++;
	ck_assert_int_eq(put, 4096 / 312);
	ck_assert_uint_eq(ctl_ring_drops(r), 1);
	/* consume and refill many times so records wrap around the end; FIFO order and
	 * lengths and contents survive the wrap */
	size_t want[2048];
	unsigned wh = 0, wt = 0;
	for (int i = 0; i < put; i++)
		want[wh++ % 2048] = sizeof(rec);
	int inring = put;
	for (int round = 0; round < 1000; round++) {
		size_t l = (size_t)(100 + round % 200);
		memset(rec, (int)(l & 0xff), sizeof(rec));
		/* a record that must wrap also needs the skipped tail: pop until it fits */
		while (ctl_ring_put(r, rec, l) != 0) {
			size_t len;
			const unsigned char *p = ctl_ring_peek(r, &len);
			ck_assert_ptr_nonnull(p);
			ck_assert_uint_eq(len, want[wt++ % 2048]);
			ck_assert(len == sizeof(rec) || p[len - 1] == (unsigned char)(len & 0xff));
			ctl_ring_pop(r);
			inring--;
		}
		want[wh++ % 2048] = l;
		inring++;
	}
	put = inring;
	size_t len;
	int n = 0;
	while (ctl_ring_peek(r, &len)) {
		ctl_ring_pop(r);
		n++;
	}
	ck_assert_int_eq(n, put);
	ctl_ring_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("acct");
	TCase *tc = tcase_create("writer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_records_to_json);
	tcase_add_test(tc, test_hostile_field_bytes);
	tcase_add_test(tc, test_pseudonymised_fields);
	tcase_add_test(tc, test_rotation_and_retention);
	tcase_add_test(tc, test_erasure);
	tcase_add_test(tc, test_ring_full_and_wrap);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
