/* SPDX-License-Identifier: MIT */
/*
 * smtp_golden_test.c: golden transcripts (Postfix style). Each tests/smtp/NAME.in is what a
 * client sends; tests/smtp/NAME.ref is the server's output interleaved with the harness's
 * event lines. Every transcript runs whole, then split at every single offset, then in 200
 * random multi-way splits (seeded per file) and byte by byte: the log must never change.
 *
 * .in syntax: each line is sent followed by CRLF; escapes \r \n \0 \\ \xHH; a line ending
 * in "\c" is sent without the CRLF. "# " lines are comments. "#! wait" is a point where the
 * client waits for the replies (the input is never split across it). Other directives:
 * "#! newline normalise", "#! rcpt_max N", "#! message_max N", "#! header_max N",
 * "#! errors_max N", "#! commands_max N", "#! text_line accept", "#! result CODE",
 * "#! cmd_line_max N".
 * SMTP_GOLDEN_UPDATE=1 rewrites the .ref files from the whole-input run (review the diff!).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_harness.h"

#define GOLDEN_DIR "tests/smtp"
#define MAX_FILES 128
#define MAX_SEGS 64

static char *files[MAX_FILES];
static int nfiles;

struct transcript {
	uint8_t *data;
	size_t len;
	size_t seg_end[MAX_SEGS]; /* "#! wait" offsets */
	int nseg;
	struct smtp_limits lim;
	uint16_t result;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	size_t got = fread(b, 1, (size_t)n, f);
	fclose(f);
	b[got] = '\0';
	*len = got;
	return b;
}

static size_t unescape(const char *l, size_t n, uint8_t *out, bool *crlf)
{
	size_t o = 0;

	*crlf = true;
	for (size_t i = 0; i < n; i++) {
		if (l[i] != '\\' || i + 1 >= n) {
			out[o++] = (uint8_t)l[i];
			continue;
		}
		char e = l[++i];
		if (e == 'r')
			out[o++] = '\r';
		else if (e == 'n')
			out[o++] = '\n';
		else if (e == '0')
			out[o++] = 0;
		else if (e == 'c' && i + 1 == n)
			*crlf = false;
		else if (e == 'x' && i + 2 < n) {
			char hx[3] = { l[i + 1], l[i + 2], 0 };
			out[o++] = (uint8_t)strtoul(hx, NULL, 16);
			i += 2;
		} else
			out[o++] = (uint8_t)e;
	}
	return o;
}

static void directive(struct transcript *t, const char *d)
{
	unsigned long v = 0;
	char key[32];

	if (sscanf(d, "%31s %lu", key, &v) < 1)
		return;
	if (!strcmp(key, "wait") && t->nseg < MAX_SEGS)
		t->seg_end[t->nseg++] = t->len;
	else if (!strcmp(key, "newline"))
		t->lim.newline = SMTP_NL_NORMALISE;
	else if (!strcmp(key, "text_line"))
		t->lim.text_line_reject = false;
	else if (!strcmp(key, "rcpt_max"))
		t->lim.rcpt_max = (uint32_t)v;
	else if (!strcmp(key, "message_max"))
		t->lim.message_max = v;
	else if (!strcmp(key, "header_max"))
		t->lim.header_max = (uint32_t)v;
	else if (!strcmp(key, "errors_max"))
		t->lim.errors_max = (uint32_t)v;
	else if (!strcmp(key, "commands_max"))
		t->lim.commands_max = (uint32_t)v;
	else if (!strcmp(key, "cmd_line_max"))
		t->lim.cmd_line_max = (uint32_t)v;
	else if (!strcmp(key, "result"))
		t->result = (uint16_t)v;
}

static void load(const char *path, struct transcript *t)
{
	size_t n;
	char *src = slurp(path, &n);
	ck_assert_msg(src != NULL, "cannot read %s", path);
	memset(t, 0, sizeof(*t));
	smtp_limits_defaults(&t->lim);
	t->data = malloc(n * 2 + 16);
	for (char *l = src; *l;) {
		char *e = strchr(l, '\n');
		size_t ll = e ? (size_t)(e - l) : strlen(l);
		if (ll >= 2 && l[0] == '#' && l[1] == '!') {
			char d[128];
			snprintf(d, sizeof(d), "%.*s", (int)(ll - 2), l + 2);
			directive(t, d);
		} else if (!(ll >= 1 && l[0] == '#')) {
			bool crlf;
			t->len += unescape(l, ll, t->data + t->len, &crlf);
			if (crlf) {
				t->data[t->len++] = '\r';
				t->data[t->len++] = '\n';
			}
		}
		l += ll + (e ? 1 : 0);
	}
	t->seg_end[t->nseg++] = t->len;
	free(src);
}

/* Runs the transcript with extra cut points inside segments; returns the normalised log. */
static char *run(const struct transcript *t, const size_t *cuts, size_t ncuts)
{
	struct harness h;
	size_t *all = malloc((ncuts + MAX_SEGS) * sizeof(*all));
	size_t na = 0, ci = 0;

	h_init(&h);
	h.lim = t->lim;
	h.result_code = t->result;
	h_start(&h);
	for (int sgi = 0; sgi < t->nseg; sgi++) {
		while (ci < ncuts && cuts[ci] < t->seg_end[sgi])
			all[na++] = cuts[ci++];
		all[na++] = t->seg_end[sgi];
	}
	h_feed_split(&h, t->data, t->len, all, na);
	free(all);
	/* CRLF -> LF for comparison with the .ref text file */
	char *out = malloc(h.log_len + 1);
	size_t o = 0;
	for (size_t i = 0; i < h.log_len; i++)
		if (!(h.log[i] == '\r' && i + 1 < h.log_len && h.log[i + 1] == '\n'))
			out[o++] = h.log[i];
	out[o] = '\0';
	h_free(&h);
	return out;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static void check_same(const char *name, const char *want, const char *got, const char *how)
{
	if (strcmp(want, got) != 0) {
		fprintf(stderr, "%s: %s differs.\n--- want\n%s\n--- got\n%s\n", name, how, want, got);
		ck_abort_msg("%s: output differs (%s)", name, how);
	}
}

START_TEST(test_transcript)
{
	char path[512], ref[512];
	struct transcript t;

	snprintf(path, sizeof(path), GOLDEN_DIR "/%s", files[_i]);
	snprintf(ref, sizeof(ref), GOLDEN_DIR "/%.*s.ref", (int)(strlen(files[_i]) - 3), files[_i]);
	load(path, &t);
	char *whole = run(&t, NULL, 0);
	if (getenv("SMTP_GOLDEN_UPDATE")) {
		FILE *f = fopen(ref, "w");
		fputs(whole, f);
		fclose(f);
	}
	size_t rl;
	char *want = slurp(ref, &rl);
	ck_assert_msg(want != NULL, "missing %s", ref);
	check_same(files[_i], want, whole, "whole input");
	free(whole);

	/* every single cut */
	for (size_t c = 1; c < t.len; c++) {
		char *got = run(&t, &c, 1);
		char how[64];
		snprintf(how, sizeof(how), "cut at %zu", c);
		check_same(files[_i], want, got, how);
		free(got);
	}
	/* random multi-way splits */
	unsigned seed = 1234u + (unsigned)_i;
	for (int r = 0; r < 200; r++) {
		size_t cuts[32];
		size_t nc = (size_t)(rand_r(&seed) % 32);
		for (size_t k = 0; k < nc; k++)
			cuts[k] = (size_t)rand_r(&seed) % (t.len + 1);
		qsort(cuts, nc, sizeof(cuts[0]), cmp_size);
		char *got = run(&t, cuts, nc);
		char how[64];
		snprintf(how, sizeof(how), "random split %d (seed %u)", r, 1234u + (unsigned)_i);
		check_same(files[_i], want, got, how);
		free(got);
	}
	/* byte by byte */
	size_t *every = malloc(t.len * sizeof(size_t));
	for (size_t k = 0; k < t.len; k++)
		every[k] = k;
	char *got = run(&t, every, t.len);
	check_same(files[_i], want, got, "byte by byte");
	free(got);
	free(every);
	free(want);
	free(t.data);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	DIR *d = opendir(GOLDEN_DIR);
	if (!d) {
		fprintf(stderr, "no %s (run from the repository root)\n", GOLDEN_DIR);
		return 1;
	}
	for (struct dirent *e; (e = readdir(d)) && nfiles < MAX_FILES;) {
		size_t l = strlen(e->d_name);
		if (l > 3 && strcmp(e->d_name + l - 3, ".in") == 0)
			files[nfiles++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(files, (size_t)nfiles, sizeof(files[0]), cmp_str);

	Suite *s = suite_create("smtp_golden");
	TCase *tc = tcase_create("transcripts");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_transcript, 0, nfiles);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	return failed ? 1 : 0;
}
