/* SPDX-License-Identifier: ISC */
/* The configuration file: "key value" lines, [sections] per tool. */
#ifndef OCTO_CONF_H
#define OCTO_CONF_H

#include <stddef.h>

#define CONF_DEFAULT	"/etc/octospool/octospool.conf"

struct conf;

struct conf	*conf_load(const char *path, char *err, size_t errlen);
struct conf	*conf_parse(const char *buf, size_t len, const char *name,
		    char *err, size_t errlen);
void		 conf_free(struct conf *);
/* The value of key in section, else in the top (global) part, else NULL. */
const char	*conf_get(const struct conf *, const char *section,
		    const char *key);
int		 conf_num(const struct conf *, const char *section,
		    const char *key, long long min, long long max,
		    long long *val, char *err, size_t errlen);
int		 conf_bool(const struct conf *, const char *section,
		    const char *key, int *val, char *err, size_t errlen);
/* Fail on keys in section that known does not list (top part: allowed). */
int		 conf_check(const struct conf *, const char *section,
		    const char *const *known, char *err, size_t errlen);
int		 conf_has_section(const struct conf *, const char *section);

#endif
