/* SPDX-License-Identifier: MIT */
/*
 * keyfile.c: the one reader of secret key files (see keyfile.h for the accepted formats).
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define KEYFILE_MAX 64

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes 2*len hex digits; -1 on any other byte. */
static int unhex(const uint8_t *in, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Reads the whole (small) file into buf; returns its size or -errno. One byte more than the
 * largest accepted form is asked for, so an oversized file is seen as such. */
static ssize_t slurp(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int keyfile_read(const char *path, uint8_t *key, size_t len, const char **why)
{
	uint8_t buf[2 * KEYFILE_MAX + 2];
	*why = "cannot open";
	if (len == 0 || len > KEYFILE_MAX) {
		*why = "unsupported key length";
		return -EINVAL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("event=key_file_readable path=%s reason=\"readable by other users: chmod 600\"", path);
	ssize_t n = slurp(fd, buf, 2 * len + 2);
	int saved = errno;
	close(fd);
	if (n < 0) {
		*why = "cannot read";
		return n ? (int)n : -saved;
	}
	size_t sz = (size_t)n;
	int rc = -EINVAL;
	if (sz == len) {
		memcpy(key, buf, len);
		rc = 0;
	} else {
		if (sz == 2 * len + 1 && buf[2 * len] == '\n')
			sz--;
		if (sz == 2 * len && unhex(buf, len, key) == 0)
			rc = 0;
	}
	explicit_bzero(buf, sizeof buf);
	if (rc)
		*why = "wrong size: want the raw key bytes, or twice as many hex digits";
	return rc;
}
