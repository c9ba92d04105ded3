/* SPDX-License-Identifier: ISC */
/* The configuration file: "key value" lines, [sections] per tool. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "conf.h"
#include "xalloc.h"

#define CONF_MAX_SIZE	(1024 * 1024)
#define CONF_MAX_LINE	4096

struct conf_ent {
	char	*section;	/* "" for the top part */
	char	*key;
	char	*val;
	int	 line;
};

struct conf {
	char		*name;
	struct conf_ent	*ents;
	size_t		 n;
};

static const struct conf_ent *
conf_find(const struct conf *c, const char *section, const char *key)
{
	/* The last occurrence wins, as in the stock tentacle_server. */
	for (size_t i = c->n; i-- > 0;)
		if (strcmp(c->ents[i].section, section) == 0 &&
		    strcmp(c->ents[i].key, key) == 0)
			return &c->ents[i];
	return NULL;
}

/* Parse a configuration held in memory; name is used in messages. */
struct conf *
conf_parse(const char *buf, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	char section[128] = "", line[CONF_MAX_LINE + 1];
	size_t pos = 0;
	int lineno = 0;

	c->name = xstrdup(name);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char *p, *e, *k;

		lineno++;
		if (ll > CONF_MAX_LINE) {
			snprintf(err, errlen, "%s:%d: line too long", name,
			    lineno);
			goto bad;
		}
		if (memchr(buf + pos, '\0', ll) != NULL) {
			snprintf(err, errlen, "%s:%d: NUL byte", name, lineno);
			goto bad;
		}
		memcpy(line, buf + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);
		for (e = line + ll; e > line && isspace((unsigned char)e[-1]);)
			*--e = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		if (*p == '[') {
			size_t sl = strlen(p);

			if (p[sl - 1] != ']' || sl < 3 ||
			    sl - 2 >= sizeof(section) ||
			    strcspn(p + 1, " \t") < sl - 2) {
				snprintf(err, errlen, "%s:%d: bad section",
				    name, lineno);
				goto bad;
			}
			memcpy(section, p + 1, sl - 2);
			section[sl - 2] = '\0';
			continue;
		}
		if (!isalpha((unsigned char)*p)) {
			snprintf(err, errlen, "%s:%d: expected 'key value'",
			    name, lineno);
			goto bad;
		}
		k = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		c->ents = xreallocarray(c->ents, c->n + 1, sizeof(*c->ents));
		c->ents[c->n].section = xstrdup(section);
		c->ents[c->n].key = xstrdup(k);
		c->ents[c->n].val = xstrdup(p);
		c->ents[c->n].line = lineno;
		c->n++;
	}
	return c;
bad:
	conf_free(c);
	return NULL;
}

/* Read and parse path; refuse anything but a regular file of sane size. */
struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	struct conf *c;
	struct stat st;
	char *buf;
	ssize_t r;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_MAX_SIZE) {
		snprintf(err, errlen, "%s: not a regular file of at most %d "
		    "bytes", path, CONF_MAX_SIZE);
		close(fd);
		return NULL;
	}
	buf = xmalloc(st.st_size + 1);
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	c = conf_parse(buf, got, path, err, errlen);
	free(buf);
	return c;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->ents[i].section);
		free(c->ents[i].key);
		free(c->ents[i].val);
	}
	free(c->ents);
	free(c->name);
	free(c);
}

const char *
conf_get(const struct conf *c, const char *section, const char *key)
{
	const struct conf_ent *e = NULL;

	if (c == NULL)
		return NULL;
	if (section != NULL)
		e = conf_find(c, section, key);
	if (e == NULL)
		e = conf_find(c, "", key);
	return e ? e->val : NULL;
}

/* A number in [min, max]; returns 1 if set, 0 if absent, -1 if bad. */
int
conf_num(const struct conf *c, const char *section, const char *key,
    long long min, long long max, long long *val, char *err, size_t errlen)
{
	const char *v = conf_get(c, section, key), *es = NULL;
	long long n;

	if (v == NULL)
		return 0;
	n = strtonum(v, min, max, &es);
	if (es != NULL) {
		snprintf(err, errlen, "%s: %s: value is %s (want %lld..%lld)",
		    c->name, key, es, min, max);
		return -1;
	}
	*val = n;
	return 1;
}

/* A boolean: 1/0, yes/no, on/off, true/false. */
int
conf_bool(const struct conf *c, const char *section, const char *key,
    int *val, char *err, size_t errlen)
{
	const char *v = conf_get(c, section, key);

	if (v == NULL)
		return 0;
	if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
	    !strcasecmp(v, "true"))
		*val = 1;
	else if (!strcmp(v, "0") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off") || !strcasecmp(v, "false"))
		*val = 0;
	else {
		snprintf(err, errlen, "%s: %s: not a boolean", c->name, key);
		return -1;
	}
	return 1;
}

int
conf_check(const struct conf *c, const char *section,
    const char *const *known, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct conf_ent *e = &c->ents[i];
		size_t k;

		if (strcmp(e->section, section) != 0 && e->section[0] != '\0')
			continue;
		for (k = 0; known[k] != NULL; k++)
			if (strcmp(known[k], e->key) == 0)
				break;
		if (known[k] == NULL && e->section[0] != '\0') {
			snprintf(err, errlen, "%s:%d: unknown key '%s' in [%s]",
			    c->name, e->line, e->key, section);
			return -1;
		}
	}
	return 0;
}

int
conf_has_section(const struct conf *c, const char *section)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->ents[i].section, section) == 0)
			return 1;
	return 0;
}
