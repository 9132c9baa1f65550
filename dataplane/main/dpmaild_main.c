/* SPDX-License-Identifier: MIT */
/* dpmaild_main.c: entry point of the relay daemon (placeholder until the foundation lands). */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: dpmaild -c FILE\n"
		   "  -c FILE   configuration file (YAML); see docs/configuration.md\n"
		   "  -h        this help\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
