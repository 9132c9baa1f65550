/* SPDX-License-Identifier: MIT */
/* dpmailctl_main.c: the admin CLI (placeholder until the control plane lands). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: dpmailctl [-s SOCKET] [--json] COMMAND ...\n");
		return 0;
	}
	fprintf(stderr, "usage: dpmailctl [-s SOCKET] [--json] COMMAND ...\n");
	return 2;
}
