/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the PROXY protocol parsers (lib/proxy.c), fed
 * as tentacle-recv feeds them: a v2 header is its fixed 16 bytes, then
 * at most the stated length; a v1 line at most 107 bytes up to its LF.
 * A header taken must name a numeric source address (or be LOCAL), and
 * the input up to the first comma is also tried as a proxy_from list.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct proxy_hdr *h)
{
	if (!h->local && (h->src[0] == '\0' || h->sport < 0 ||
	    h->sport > 65535 || memchr(h->src, '\0', sizeof(h->src)) == NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h;
	struct proxy_acl acl;
	const char *why;
	char err[128], *list;
	int len;

	if (size >= PROXY_V2_FIXED &&
	    (len = proxy_v2_length(data, &why)) >= 0) {
		size_t have = size - PROXY_V2_FIXED;

		if (have > (size_t)len)
			have = len;
		if (proxy_v2_parse(data, data + PROXY_V2_FIXED, have, &h,
		    &why) == 0)
			check(&h);
	}
	if (size > 0) {
		const uint8_t *lf = memchr(data, '\n', size);
		size_t n = lf != NULL ? (size_t)(lf - data) + 1 : size;

		if (n > PROXY_V1_MAX)
			n = PROXY_V1_MAX;
		if (proxy_v1_parse((const char *)data, n, &h, &why) == 0)
			check(&h);
	}
	if ((list = malloc(size + 1)) == NULL)
		return 0;
	memcpy(list, data, size);
	list[size] = '\0';
	(void)proxy_acl_parse(&acl, list, err, sizeof(err));
	free(list);
	return 0;
}
