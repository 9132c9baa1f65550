/* SPDX-License-Identifier: MIT */
/* bench_main.c: dpmail-bench entry point (placeholder until the bench issue lands). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: dpmail-bench {load|sink|report} [options]\n");
		return 0;
	}
	fprintf(stderr, "usage: dpmail-bench {load|sink|report} [options]\n");
	return 2;
}
