/* SPDX-License-Identifier: MIT */
/*
 * ctl_config_fuzz.c: the configuration loader (YAML, parameter table, list items, validators)
 * on arbitrary text; a configuration that loads must survive write-back: its dump loads again
 * and dumps to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "config/cfg_dump.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_LVL_ERR);
	return 0;
}

static char *dump(const struct cfg *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	if (!f)
		abort();
	cfg_dump(c, f);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct cfg *c = cfg_load_string("fuzz.yaml", (const char *)data, size, err, sizeof(err));
	if (!c) {
		if (strncmp(err, "fuzz.yaml", 9) != 0)
			abort(); /* every refusal names the file */
		return 0;
	}
	size_t n1, n2;
	char *one = dump(c, &n1);
	struct cfg *c2 = cfg_load_string("fuzz.yaml", one, n1, err, sizeof(err));
	if (!c2) {
		fprintf(stderr, "dump does not load: %s\n%s\n", err, one);
		abort();
	}
	char *two = dump(c2, &n2);
	if (n1 != n2 || memcmp(one, two, n1) != 0)
		abort();
	free(one);
	free(two);
	cfg_free(c2);
	cfg_free(c);
	return 0;
}
