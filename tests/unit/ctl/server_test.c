/* SPDX-License-Identifier: MIT */
/*
 * server_test.c: the admin socket over a real unix socket: registration rules, replies,
 * unserved and unknown commands, pipelined requests, asynchronous replies, a peer that
 * disconnects with a request in progress, and the audit record of each request.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/audit.h"
#include "ctl/server.h"

static char dir[64], sock[128], auditp[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dpmail-ctl-srv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(auditp, sizeof(auditp), "%s/audit.jsonl", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static int echo_handler(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			void *arg)
{
	(void)arg;
	*result = json_pack("{s:s,s:O}", "cmd", rq->cmd, "args", rq->args);
	return CTL_OK;
}

static int fail_handler(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			void *arg)
{
	snprintf(err, errlen, "no such message");
	return CTL_ERROR;
}

static uint64_t pending_token;
static int async_handler(const struct ctl_req *rq, json_t **result, char *err, size_t errlen,
			 void *arg)
{
	pending_token = rq->token;
	return CTL_ASYNC;
}

static int connect_to(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Runs the server until fd has n reply lines; returns them (malloc'd). */
static char *replies(struct ctl_server *s, int fd, int n)
{
	static char buf[65536];
	size_t len = 0;
	for (int spins = 0; spins < 400; spins++) {
		ctl_server_run(s);
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 5) == 1) {
			ssize_t r = read(fd, buf + len, sizeof(buf) - len - 1);
			if (r <= 0)
				break;
			len += (size_t)r;
			buf[len] = '\0';
			int lines = 0;
			for (char *q = buf; (q = strchr(q, '\n')); q++)
				lines++;
			if (lines >= n)
				return strdup(buf);
		}
	}
	buf[len] = '\0';
	return strdup(buf);
}

START_TEST(test_requests)
{
	int err;
	struct ctl_audit *au = ctl_audit_open(auditp, &err);
	struct ctl_server *s = ctl_server_new(sock, au, &err);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ctl_register(s, "queue show", echo_handler, NULL), 0);
	ck_assert_int_eq(ctl_register(s, "queue show", echo_handler, NULL), -EEXIST);
	ck_assert_int_eq(ctl_register(s, "no such command", echo_handler, NULL), -ENOENT);
	ck_assert_int_eq(ctl_register(s, "queue delete", fail_handler, NULL), 0);
	int fd = connect_to();
	const char req[] =
		"{\"id\":1,\"cmd\":\"queue show\",\"args\":{\"id\":\"abc123\"}}\n"
		"{\"id\":2,\"cmd\":\"queue flush\"}\n"
		"{\"id\":3,\"cmd\":\"queue delete\",\"args\":{\"target\":\"abc\"}}\n"
		"not json\n"
		"{\"id\":5,\"cmd\":\"queue show\",\"args\":{\"id\":\"a b\"}}\n"
		"\n";
	ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	char *out = replies(s, fd, 5);
	ck_assert_msg(strstr(out, "{\"id\":1,\"ok\":true,\"result\":{\"cmd\":\"queue show\""), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "'queue flush' is not available in this build"));
	ck_assert_ptr_nonnull(strstr(out, "no such message"));
	ck_assert_ptr_nonnull(strstr(out, "bad request"));
	ck_assert_ptr_nonnull(strstr(out, "bad id 'a b'"));
	free(out);
	ck_assert_uint_eq(ctl_server_requests(s), 5);
	close(fd);
	ctl_server_free(s);
	ctl_audit_close(au);
	FILE *f = fopen(auditp, "r");
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		ck_assert_ptr_nonnull(j);
		ck_assert_ptr_nonnull(json_object_get(j, "uid"));
		json_decref(j);
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, 5);
	ck_assert_int_ne(access(sock, F_OK), 0); /* the socket file goes with the server */
}
END_TEST

START_TEST(test_async_and_disconnect)
{
	int err;
	struct ctl_server *s = ctl_server_new(sock, NULL, &err);
	ctl_register(s, "queue flush", async_handler, NULL);
	ctl_register(s, "queue show", echo_handler, NULL);
	int fd = connect_to();
	const char req[] = "{\"id\":1,\"cmd\":\"queue flush\"}\n"
			   "{\"id\":2,\"cmd\":\"queue show\",\"args\":{\"id\":\"x1\"}}\n";
	ck_assert_int_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	for (int i = 0; i < 20; i++)
		ctl_server_run(s);
	ck_assert_uint_ne(pending_token, 0);
	ck_assert_uint_eq(ctl_server_requests(s), 0); /* the second waits behind the first */
	ck_assert_int_eq(ctl_server_reply_async(s, pending_token, json_pack("{s:i}", "flushed", 3), NULL), 0);
	char *out = replies(s, fd, 2);
	ck_assert_ptr_nonnull(strstr(out, "\"flushed\":3"));
	char *second = strstr(out, "\"id\":2");
	ck_assert_ptr_nonnull(second);
	free(out);
	/* a second async request whose peer leaves before the answer */
	const char again[] = "{\"id\":3,\"cmd\":\"queue flush\"}\n";
	pending_token = 0;
	ck_assert_int_eq(write(fd, again, sizeof(again) - 1), (ssize_t)sizeof(again) - 1);
	for (int i = 0; i < 20 && !pending_token; i++)
		ctl_server_run(s);
	ck_assert_uint_ne(pending_token, 0);
	close(fd);
	for (int i = 0; i < 20; i++)
		ctl_server_run(s);
	/* the hang-up was noticed although the server stopped reading: the reply is dropped */
	ck_assert_int_eq(ctl_server_reply_async(s, pending_token, json_object(), NULL), -ENOENT);
	ctl_server_free(s);
}
END_TEST

START_TEST(test_dispatch_and_refuse_non_socket)
{
	int err;
	struct ctl_server *s = ctl_server_new(sock, NULL, &err);
	ctl_register(s, "queue show", echo_handler, NULL);
	char *out = NULL;
	size_t len = 0;
	const char l1[] = "{\"cmd\":\"queue show\",\"args\":{\"id\":\"q1\"}}";
	ctl_server_dispatch(s, 0, 1, l1, sizeof(l1) - 1, &out, &len);
	ck_assert_ptr_nonnull(strstr(out, "\"ok\":true"));
	free(out);
	ctl_server_free(s);
	/* never replace a regular file with the socket */
	FILE *f = fopen(sock, "w");
	fclose(f);
	ck_assert_ptr_null(ctl_server_new(sock, NULL, &err));
	ck_assert_int_eq(err, -EEXIST);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("socket");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_async_and_disconnect);
	tcase_add_test(tc, test_dispatch_and_refuse_non_socket);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
