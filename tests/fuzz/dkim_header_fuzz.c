/* SPDX-License-Identifier: MIT */
/*
 * dkim_header_fuzz.c: libFuzzer driver for the DKIM header scanner and From parser, which
 * read untrusted input. The input is a message: the end of its header section is searched
 * resumably over growing prefixes (the result must not depend on how it was split), every
 * field is iterated, every From body parsed; the whole input is also parsed as one From body
 * and streamed through a signer without keys (the buffering state machine up to the key
 * selection) in chunks whose sizes come from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"

static struct dkim_signer_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dom[DKIM_DOMAIN_MAX];
	size_t scan = 0, end = 0, whole_scan = 0;
	size_t whole = dkim_hdr_end(data, size, &whole_scan);
	for (size_t n = 0; n <= size && !end; n += 1 + n / 3)
		end = dkim_hdr_end(data, n, &scan);
	if (!end)
		end = dkim_hdr_end(data, size, &scan);
	if (end != whole)
		abort();	/* resumable search disagrees with the one-shot search */
	size_t hlen = end ? end : size, off = 0;
	struct dkim_hdr_field f;
	int r;
	while ((r = dkim_hdr_next(data, hlen, &off, &f)) == 1) {
		if (f.raw + f.raw_len > data + hlen || f.value + f.value_len > data + hlen)
			abort();
		if (dkim_hdr_name_is(&f, "from") &&
		    dkim_from_domain(f.value, f.value_len, dom, sizeof(dom)) == DKIM_FROM_OK &&
		    strlen(dom) == 0)
			abort();
	}
	dkim_from_domain(data, size, dom, sizeof(dom));

	if (!ctx) {
		struct dkim_params p;
		dkim_params_defaults(&p);
		p.header_max = 4096;
		ctx = dkim_signer_new(&p, 0);
		if (!ctx)
			abort();
	}
	struct dkim_msg *m = dkim_msg_new(ctx, "fuzz");
	size_t step = size ? 1 + data[0] % 64 : 1;
	for (size_t o = 0; o < size; o += step)
		dkim_msg_feed(m, NULL, data + o, size - o < step ? size - o : step, 1);
	enum dkim_result res = dkim_msg_finish(m, NULL, 2);
	if (res == DKIM_RES_SIGNED)
		abort();	/* no keyring: nothing can be signed */
	dkim_msg_free(m);
	return 0;
}
