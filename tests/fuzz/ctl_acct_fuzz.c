/* SPDX-License-Identifier: MIT */
/*
 * ctl_acct_fuzz.c: accounting records with arbitrary field bytes (what a worker could copy
 * from a peer: replies, addresses, host names) through the ring and the JSON formatter; every
 * line written must parse as a JSON object. Input: fields separated by 0xfe bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct/acct.h"
#include "log.h"

static char dir[64];
static struct ctl_acct *ac;

static void cleanup(void)
{
	ctl_acct_free(ac);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERR);
	/* a fixed directory, emptied at start: libFuzzer may end without running atexit */
	snprintf(dir, sizeof(dir), "/tmp/dpmail-ctl-fuzz-acct-%d", (int)getuid());
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir, dir);
	if (system(cmd) != 0)
		abort();
	struct ctl_acct_opts o;
	ctl_acct_opts_defaults(&o);
	o.dir = dir;
	o.max_bytes = 0; /* never rotate: the file is truncated after each input */
	o.retention_s = 0;
	o.pseudo_fields = CTL_ACCT_PSEUDO(CTL_ACCT_SENDER);
	int err;
	ac = ctl_acct_new(&o, &err);
	if (!ac)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_acct_event ev = { .type = size ? data[0] % 8 : 1, .tls_verified = -1,
				     .now_us = 1000, .accepted_us = size & 1 ? 10 : 0 };
	const uint8_t *p = data + (size ? 1 : 0), *end = data + size;
	for (int f = 0; f < CTL_ACCT_FIELD__MAX && p < end; f++) {
		const uint8_t *sep = memchr(p, 0xfe, (size_t)(end - p));
		size_t n = (size_t)((sep ? sep : end) - p);
		ev.f[f] = (struct ctl_acct_str){ (const char *)p, (uint16_t)(n > 4000 ? 4000 : n) };
		p += n + (sep != NULL);
	}
	if (ctl_acct_emit(ac, 0, &ev) < 0)
		return 0;
	/* format into the file, then check the last line */
	char path[128];
	snprintf(path, sizeof(path), "%s/acct.jsonl", dir);
	if (ctl_acct_poll(ac, 0) != 1)
		abort();
	FILE *fp = fopen(path, "r");
	if (!fp)
		abort();
	char *line = NULL, *last = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, fp)) > 0) {
		free(last);
		last = strdup(line);
	}
	fclose(fp);
	free(line);
	if (truncate(path, 0) != 0) /* the writer appends (O_APPEND): next line at offset 0 */
		abort();
	if (last) {
		json_error_t jerr;
		json_t *j = json_loads(last, 0, &jerr);
		if (!json_is_object(j)) {
			fprintf(stderr, "not JSON: %s (%s)\n", last, jerr.text);
			abort();
		}
		json_decref(j);
	}
	free(last);
	return 0;
}
