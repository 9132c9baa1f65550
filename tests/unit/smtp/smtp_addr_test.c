/* SPDX-License-Identifier: MIT */
/*
 * smtp_addr_test.c: RFC 5321 path parsing, xtext, UTF-8 and base64 helpers, and the
 * picohttpparser-style guard-page tests: every parser is run on every prefix of its input
 * placed so that the octet after the input is an inaccessible page; any overread faults.
 */
#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp_harness.h"

/* ---- guard page ---- */
static uint8_t *guard_base;
static size_t page;

static void guard_setup(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(guard_base != MAP_FAILED);
	ck_assert_int_eq(mprotect(guard_base + page, page, PROT_NONE), 0);
}

static void guard_teardown(void)
{
	munmap(guard_base, 2 * page);
}

/* Copies n octets so that they end exactly at the guard page. */
static const uint8_t *at_guard(const void *p, size_t n)
{
	ck_assert_uint_le(n, page);
	uint8_t *d = guard_base + page - n;
	memcpy(d, p, n);
	return d;
}

static int parse(const char *s, bool null_ok, struct smtp_path *out)
{
	size_t used;
	return smtp_path_parse(s, strlen(s), null_ok, true, out, &used);
}

START_TEST(test_paths)
{
	struct smtp_path p;

	ck_assert_int_eq(parse("<a@b.example>", false, &p), 0);
	ck_assert_str_eq(p.addr, "a@b.example");
	ck_assert_int_eq(p.local_len, 1);
	ck_assert_str_eq(p.addr + p.domain_off, "b.example");
	ck_assert_int_eq(parse("<>", true, &p), 0);
	ck_assert(p.null_path);
	ck_assert_int_eq(parse("<>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<@x.example,@y.example:u@Z.Example>", false, &p), 0);
	ck_assert(p.route_stripped);
	ck_assert_str_eq(p.addr, "u@z.example");
	ck_assert_int_eq(parse("<\"a b\\\"c\"@x.example>", false, &p), 0);
	ck_assert(p.quoted);
	ck_assert_str_eq(p.addr, "\"a b\\\"c\"@x.example");
	ck_assert_int_eq(parse("<u@[192.0.2.1]>", false, &p), 0);
	ck_assert(p.ip_literal);
	ck_assert_int_eq(parse("<u@[IPv6:2001:db8::1]>", false, &p), 0);
	ck_assert_int_eq(parse("<u@[192.0.2]>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u@[foo:bar]>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u@x_y.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u@x.example.>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u@>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u v@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<u@x.example", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<\"unterminated@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<\"ctl\x01\"@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<postmaster>", false, &p), 0);
	ck_assert_int_eq(parse("<root>", false, &p), SMTP_ADDR_SYNTAX);
	/* lengths: local 64, domain 255, path 256 */
	char buf[400], lab[64];
	memset(lab, 'a', 63);
	lab[63] = '\0';
	snprintf(buf, sizeof(buf), "<%s%s@x.example>", lab, "b");
	ck_assert_int_eq(parse(buf, false, &p), 0);
	snprintf(buf, sizeof(buf), "<%s%s@x.example>", lab, "bc");
	ck_assert_int_eq(parse(buf, false, &p), SMTP_ADDR_TOO_LONG);
	snprintf(buf, sizeof(buf), "<u@%s.%.62s.%.61s.%.61s>", lab, lab, lab, lab); /* 250 */
	ck_assert_int_eq(parse(buf, false, &p), 0);
	ck_assert_uint_eq(strlen(p.addr + p.domain_off), 250);
	snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s>", lab, lab, lab, lab); /* path 259 */
	ck_assert_int_eq(parse(buf, false, &p), SMTP_ADDR_TOO_LONG);
	snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%sa>", lab, lab, lab, lab); /* label 64 */
	ck_assert_int_eq(parse(buf, false, &p), SMTP_ADDR_SYNTAX);
	snprintf(buf, sizeof(buf), "<u@a%s.%s.%s.%s>", lab, lab, lab, lab);
	ck_assert_int_eq(parse(buf, false, &p), SMTP_ADDR_SYNTAX);
	snprintf(buf, sizeof(buf), "<uu@%s.%s.%s.%s>", lab, lab, lab, lab); /* path 262 */
	ck_assert_int_eq(parse(buf, false, &p), SMTP_ADDR_TOO_LONG);
	/* UTF-8: flagged, and only well-formed */
	ck_assert_int_eq(parse("<\xc3\xa9@x.example>", false, &p), 0);
	ck_assert(p.utf8);
	ck_assert_int_eq(parse("<\xc3@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<\xed\xa0\x80@x.example>", false, &p), SMTP_ADDR_SYNTAX);
	ck_assert_int_eq(parse("<\xf8\x88\x80\x80\x80@x.example>", false, &p), SMTP_ADDR_SYNTAX);
}
END_TEST

START_TEST(test_xtext_params_b64)
{
	char out[64];

	ck_assert_int_eq(smtp_xtext_decode("a+2Bb+3D", 8, out, sizeof(out)), 4);
	ck_assert_str_eq(out, "a+b=");
	ck_assert_int_eq(smtp_xtext_decode("a+2b", 4, out, sizeof(out)), -1); /* lower-case hex */
	ck_assert_int_eq(smtp_xtext_decode("a+2", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("a=b", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("a b", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_xtext_decode("abcdef", 6, out, 4), -1);
	ck_assert_int_eq(smtp_xtext_encode("a+b= c", 6, out, sizeof(out)), 12);
	ck_assert_str_eq(out, "a+2Bb+3D+20c");

	struct smtp_param p;
	const char *s = " SIZE=10 BODY=8BITMIME  SMTPUTF8", *end = s + strlen(s), *q = s;
	ck_assert_int_eq(smtp_param_next(&q, end, &p), 1);
	ck_assert(p.kw_len == 4 && p.val_len == 2);
	ck_assert_int_eq(smtp_param_next(&q, end, &p), 1);
	ck_assert_int_eq(smtp_param_next(&q, end, &p), 1);
	ck_assert(p.val == NULL);
	ck_assert_int_eq(smtp_param_next(&q, end, &p), 0);
	s = " =x";
	q = s;
	ck_assert_int_eq(smtp_param_next(&q, s + 3, &p), SMTP_ADDR_SYNTAX);
	s = " A=";
	q = s;
	ck_assert_int_eq(smtp_param_next(&q, s + 3, &p), SMTP_ADDR_SYNTAX);

	uint8_t b[32];
	ck_assert_int_eq(smtp_b64_decode("AGFsaWNlAHNlY3JldA==", 20, b, sizeof(b)), 13);
	ck_assert(memcmp(b, "\0alice\0secret", 13) == 0);
	ck_assert_int_eq(smtp_b64_decode("YQ=", 3, b, sizeof(b)), -1);
	ck_assert_int_eq(smtp_b64_decode("Y=Q=", 4, b, sizeof(b)), -1);
	ck_assert_int_eq(smtp_b64_decode("Y!==", 4, b, sizeof(b)), -1);
	char e[32];
	ck_assert_int_eq(smtp_b64_encode((const uint8_t *)"ab", 2, e, sizeof(e)), 4);
	ck_assert_str_eq(e, "YWI=");
}
END_TEST

/* Every prefix of each input, ending at the guard page. */
START_TEST(test_guard_page_paths)
{
	static const char *const in[] = {
		"<a@b.example>", "<\"q\\\"x\"@b.example>", "<@r.example,@s.example:a@[IPv6:::1]>",
		"<a@[1.2.3.4]>", "<\xc3\xa9@b.example>", "<>", "<postmaster>",
	};
	struct smtp_path p;
	size_t used;
	char out[600];
	uint8_t b[600];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t n = strlen(in[i]);
		for (size_t k = 0; k <= n; k++) {
			const char *g = (const char *)at_guard(in[i], k);
			smtp_path_parse(g, k, true, true, &p, &used);
			smtp_xtext_decode(g, k, out, sizeof(out));
			smtp_b64_decode(g, k, b, sizeof(b));
			smtp_utf8_valid((const uint8_t *)g, k);
			const char *q = g;
			struct smtp_param prm;
			while (smtp_param_next(&q, g + k, &prm) == 1)
				;
		}
	}
}
END_TEST

START_TEST(test_guard_page_engines)
{
	static const char *const srv[] = {
		"EHLO c\r\nMAIL FROM:<a@b.test> SIZE=1\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\r\n..y\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 3 LAST\r\nab\r",
	};
	static const char *const cli[] = {
		"220 x\r\n250-x\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
		"220 x\r\n250-x\r\n251 mismatch\r\n",
	};

	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(srv[i]);
		for (size_t k = 0; k <= n; k++) {
			struct harness h;
			h_init(&h);
			h_start(&h);
			const uint8_t *g = at_guard(srv[i], k);
			/* fed directly (not through a copy) so the engine reads up to the guard */
			for (size_t off = 0; off < k;) {
				size_t used = smtp_server_input(&h.s, g + off, k - off, h.now);
				bool waiting = h.want_result || h.want_tls;
				h_drain(&h);
				h_answer(&h);
				off += used;
				if (!used && !waiting)
					break;
			}
			h_free(&h);
		}
		n = strlen(cli[i]);
		for (size_t k = 0; k <= n; k++) {
			struct smtp_client_session c;
			struct smtp_client_limits cl;
			static const struct smtp_client_hooks none;
			smtp_client_limits_defaults(&cl);
			smtp_client_init(&c, &cl, &none, NULL, "c", SMTP_TLS_NONE, false, 0);
			smtp_client_input(&c, at_guard(cli[i], k), k, 0);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_addr");
	TCase *tc = tcase_create("addr");
	tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_xtext_params_b64);
	tcase_add_test(tc, test_guard_page_paths);
	tcase_add_test(tc, test_guard_page_engines);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
