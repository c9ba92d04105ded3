/* SPDX-License-Identifier: ISC */
/* Allocation that exits on failure: the only lib/ code allowed to exit. */
#ifndef OCTO_XALLOC_H
#define OCTO_XALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);

#endif
