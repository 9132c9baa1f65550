/* SPDX-License-Identifier: MIT */
/*
 * bench_dkimv.c: DKIM verification in the sink (--verify-dkim), with libopendkim reading the
 * public keys from a file (lines "<selector>._domainkey.<domain> <TXT record value>") instead
 * of DNS, so a benchmark proves its signatures are valid without any lookup leaving the host.
 * A message streams through bench_dkimv_chunk() as it arrives; bench_dkimv_end() gives the
 * verdict of the first signature.
 */
#include "bench.h"

#include <dkim.h>
#include <string.h>

static DKIM_LIB *dkimv_lib;

int bench_dkimv_init(const char *keyfile)
{
	dkimv_lib = dkim_init(NULL, NULL);
	if (!dkimv_lib)
		return -1;
	int method = DKIM_QUERY_FILE;
	if (dkim_options(dkimv_lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD, &method, sizeof(method)) !=
		    DKIM_STAT_OK ||
	    dkim_options(dkimv_lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYINFO, (void *)keyfile,
			 strlen(keyfile)) != DKIM_STAT_OK) {
		dkim_close(dkimv_lib);
		dkimv_lib = NULL;
		return -1;
	}
	return 0;
}

void bench_dkimv_fini(void)
{
	if (dkimv_lib)
		dkim_close(dkimv_lib);
	dkimv_lib = NULL;
}

void *bench_dkimv_begin(void)
{
	DKIM_STAT st;
	return dkimv_lib ? dkim_verify(dkimv_lib, (const unsigned char *)"bench", NULL, &st) : NULL;
}

void bench_dkimv_chunk(void *v, const uint8_t *p, size_t n)
{
	if (v && n)
		dkim_chunk(v, (unsigned char *)p, n);
}

int bench_dkimv_end(void *v)
{
	if (!v)
		return -1;
	int verdict = -1;
	dkim_chunk(v, NULL, 0);
	DKIM_STAT st = dkim_eom(v, NULL);
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	if (st != DKIM_STAT_NOSIG && dkim_getsiglist(v, &sigs, &nsigs) == DKIM_STAT_OK && nsigs > 0)
		verdict = DKIM_SIG_CHECK(sigs[0]) ? 1 : 0;
	dkim_free(v);
	return verdict;
}
