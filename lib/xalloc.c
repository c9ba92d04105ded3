/* SPDX-License-Identifier: ISC */
/* Allocation that exits on failure: the only lib/ code allowed to exit. */
#include <sysexits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal(EX_OSERR, "event=oom size=%zu", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatal(EX_OSERR, "event=oom size=%zux%zu", nmemb, size);
	return p;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p = reallocarray(ptr, nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatal(EX_OSERR, "event=oom size=%zux%zu", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal(EX_OSERR, "event=oom size=%zu", strlen(s));
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		fatal(EX_OSERR, "event=oom size=%zu", n);
	return p;
}
