/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the string thresholds (lib/pandora_re.c, PCRE2
 * through db-load's wrapper): the input up to its first LF is a
 * pattern, the rest a value.  The pattern is compiled at once, then
 * made a lazy rule of both kinds and matched through pandora_status
 * under a 5 ms budget, as db-load does.  Every outcome must be one of
 * PANDORA_RE_*, and the budget must hold (1 s allows for the sanitizers
 * and a loaded machine; unbounded would be minutes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pandora.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int rc)
{
	if (rc != PANDORA_RE_MATCH && rc != PANDORA_RE_NOMATCH &&
	    rc != PANDORA_RE_INVALID && rc != PANDORA_RE_LIMIT &&
	    rc != PANDORA_RE_BUDGET)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t plen = lf != NULL ? (size_t)(lf - data) : size;
	const char *subj = lf != NULL ? (const char *)lf + 1 : "";
	size_t slen = lf != NULL ? size - plen - 1 : 0;
	struct pandora_thresholds t;
	struct pandora_re_budget b;
	struct pandora_re *re;
	const char *why;
	char *pat;

	if ((pat = malloc(plen + 1)) == NULL)
		return 0;
	memcpy(pat, data, plen);
	pat[plen] = '\0';
	/* Compiled at once, without a budget: the pattern cap bounds it. */
	why = NULL;
	re = pandora_re_compile(pat, PANDORA_RE_MAX_PATTERN, &why);
	if (re == NULL && why == NULL && *pat != '\0' && strlen(pat) ==
	    plen)
		abort();	/* invalid, but no reason */
	pandora_re_free(re);
	memset(&t, 0, sizeof(t));
	t.str_critical = pandora_re_new(pat, PANDORA_RE_MAX_PATTERN, NULL);
	t.str_warning = pandora_re_new(pat, PANDORA_RE_MAX_PATTERN, NULL);
	t.critical_inverse = 1;
	t.max_subject = PANDORA_RE_MAX_SUBJECT;
	pandora_re_budget_init(&b, 5 * 1000000LL);
	t.budget = &b;
	(void)pandora_status("generic_data_string", -1, &t, 0, subj, slen, 0);
	check(b.last_critical);
	check(b.last_warning);
	(void)pandora_re_why(t.str_critical);
	(void)strlen(pandora_re_pattern(t.str_warning));
	if (b.used_ns > 1000 * 1000000LL)
		abort();
	pandora_re_free(t.str_critical);
	pandora_re_free(t.str_warning);
	free(pat);
	return 0;
}
