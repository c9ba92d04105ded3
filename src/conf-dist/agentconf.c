/* SPDX-License-Identifier: ISC */
/*
 * The Pandora agent configuration language as the Unix agent reads it
 * (pandora_agent read_config/parse_conf_modules): one "token value" per
 * line, "#" comments, module_begin ... module_end blocks.  Parsed
 * strictly, linted for the tokens the agent pastes into shell command
 * lines, diffed token by token for the audit, and stripped of secrets.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "xalloc.h"

#include "confdist.h"

#define AC_LINE_MAX	16384
#define AC_MASK		"********"

void
ac_msg(struct ac_msgs *m, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	m->total++;
	if (m->n >= CD_MSG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	m->msg[m->n++] = xstrdup(buf);
}

void
ac_msgs_free(struct ac_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->msg[i]);
	memset(m, 0, sizeof(*m));
}

void
ac_free(struct agentconf *ac)
{
	if (ac == NULL)
		return;
	for (size_t i = 0; i < ac->n; i++) {
		free(ac->lines[i].key);
		free(ac->lines[i].val);
	}
	for (size_t i = 0; i < ac->nmods; i++)
		free(ac->mods[i].id);
	free(ac->lines);
	free(ac->mods);
	free(ac);
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Module tokens the agent also takes outside a module block. */
static int
module_global_ok(const char *key)
{
	return strcmp(key, "module_plugin") == 0 ||
	    strcmp(key, "module_proc_cmd") == 0 ||
	    strcmp(key, "module_freedisk_cmd") == 0;
}

static void
add_line(struct agentconf *ac, unsigned lineno, const char *key,
    size_t klen, const char *val, size_t vlen, int module)
{
	struct ac_line *l;

	ac->lines = xreallocarray(ac->lines, ac->n + 1, sizeof(*ac->lines));
	l = &ac->lines[ac->n++];
	l->lineno = lineno;
	l->key = xmalloc(klen + 1);
	memcpy(l->key, key, klen);
	l->key[klen] = '\0';
	l->val = xmalloc(vlen + 1);
	memcpy(l->val, val, vlen);
	l->val[vlen] = '\0';
	l->module = module;
}

/* Give every module a unique, readable id for the diff. */
static void
name_modules(struct agentconf *ac)
{
	unsigned unnamed = 0;

	for (size_t i = 0; i < ac->nmods; i++) {
		const char *name = NULL;
		char *id;

		for (size_t k = 0; k < ac->n; k++)
			if (ac->lines[k].module == (int)i + 1 &&
			    strcmp(ac->lines[k].key, "module_name") == 0)
				name = ac->lines[k].val;	/* last wins */
		if (name != NULL) {
			if (asprintf(&id, "module[%s]", name) == -1)
				id = xstrdup("module[?]");
		} else if (asprintf(&id, "module#%u", ++unnamed) == -1)
			id = xstrdup("module#?");
		/* Two modules of one name: the later is name#2, #3 ... */
		for (int dup = 2;; dup++) {
			size_t k;

			for (k = 0; k < i; k++)
				if (strcmp(ac->mods[k].id, id) == 0)
					break;
			if (k == i)
				break;
			free(id);
			if (asprintf(&id, "module[%s]#%d", name ? name : "",
			    dup) == -1)
				id = xstrdup("module[?]");
		}
		ac->mods[i].id = id;
	}
}

struct agentconf *
ac_parse(const char *buf, size_t len, struct ac_msgs *m)
{
	struct agentconf *ac = xcalloc(1, sizeof(*ac));
	size_t pos = 0;
	unsigned lineno = 0, begin_line = 0;
	int cur = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		const char *p = buf + pos, *e, *k, *v, *ve;
		size_t ll = nl ? (size_t)(nl - p) : len - pos, i;
		int bad = 0;

		lineno++;
		pos += ll + (nl ? 1 : 0);
		if (ll > 0 && p[ll - 1] == '\r')	/* the agent: CRLF */
			ll--;
		if (ll > AC_LINE_MAX) {
			ac_msg(m, "line %u: longer than %d bytes", lineno,
			    AC_LINE_MAX);
			continue;
		}
		for (i = 0; i < ll; i++) {
			unsigned char c = p[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				ac_msg(m, "line %u: control character 0x%02x",
				    lineno, c);
				bad = 1;
				break;
			}
		}
		if (bad)
			continue;
		e = p + ll;
		while (p < e && is_blank(*p))
			p++;
		if (p == e || *p == '#')
			continue;
		k = p;
		while (p < e && !is_blank(*p))
			p++;
		v = p;
		while (v < e && is_blank(*v))
			v++;
		ve = e;
		while (ve > v && is_blank(ve[-1]))
			ve--;
		if ((size_t)(p - k) == 12 && memcmp(k, "module_begin", 12) == 0) {
			if (v != ve)
				ac_msg(m, "line %u: module_begin takes no value "
				    "(the agent ignores the line)", lineno);
			else if (cur) {
				ac_msg(m, "line %u: module_begin inside the "
				    "module that starts on line %u", lineno,
				    begin_line);
			} else {
				ac->mods = xreallocarray(ac->mods,
				    ac->nmods + 1, sizeof(*ac->mods));
				ac->mods[ac->nmods].id = NULL;
				ac->mods[ac->nmods].first_line = lineno;
				cur = (int)++ac->nmods;
				begin_line = lineno;
			}
			continue;
		}
		if ((size_t)(p - k) == 10 && memcmp(k, "module_end", 10) == 0) {
			if (v != ve)
				ac_msg(m, "line %u: module_end takes no value "
				    "(the agent ignores the line)", lineno);
			else if (!cur)
				ac_msg(m, "line %u: module_end without "
				    "module_begin", lineno);
			cur = 0;
			continue;
		}
		if (v == ve) {
			ac_msg(m, "line %u: '%.*s' has no value (the agent "
			    "ignores the line)", lineno, (int)(p - k > 64 ? 64 :
			    p - k), k);
			continue;
		}
		if ((size_t)(p - k) > 7 && memcmp(k, "module_", 7) == 0) {
			char key[64];

			snprintf(key, sizeof(key), "%.*s", (int)(p - k), k);
			if (!cur && !module_global_ok(key)) {
				ac_msg(m, "line %u: %s outside module_begin ... "
				    "module_end", lineno, key);
				continue;
			}
		} else if (cur) {
			ac_msg(m, "line %u: '%.*s' inside the module that "
			    "starts on line %u (the agent reads it as a global "
			    "setting)", lineno, (int)(p - k > 64 ? 64 : p - k),
			    k, begin_line);
			continue;
		}
		add_line(ac, lineno, k, p - k, v, ve - v, cur);
	}
	if (cur)
		ac_msg(m, "line %u: module_begin has no module_end",
		    begin_line);
	name_modules(ac);
	for (size_t i = 0; i < ac->n; i++) {
		if (ac->lines[i].module != 0)
			continue;
		if (strcmp(ac->lines[i].key, "agent_name") == 0)
			ac->agent_name = ac->lines[i].val;
		else if (strcmp(ac->lines[i].key, "group") == 0)
			ac->group = ac->lines[i].val;
	}
	return ac;
}

/* ---- lint ---- */

enum lr_kind {
	LR_STRICT,	/* a word: [A-Za-z0-9._,:/@%+=-], not starting '-' */
	LR_WORDS,	/* words and spaces: a command line without shell */
	LR_PASSWORD,	/* inside '...' and a here-document */
	LR_NAME,	/* a file name component */
	LR_INCLUDE,	/* an absolute path, '*' and '?' allowed */
	LR_INT,
	LR_ZERO,	/* must be 0: the feature opens a listener */
	LR_MODE		/* transfer mode */
};

struct lint_rule {
	const char	*key;
	enum lr_kind	 kind;
	long long	 min, max;
};

/*
 * Tokens the Unix agent interpolates into shell command lines (backquotes,
 * exec with one string, an unquoted here-document) or uses as paths and
 * names.  spec/agent-xml.md §3.5 and pandora_agent.
 */
static const struct lint_rule lint_rules[] = {
	{ "agent_name_cmd", LR_WORDS, 0, 0 },
	{ "agent_alias_cmd", LR_WORDS, 0, 0 },
	{ "gis_exec", LR_STRICT, 0, 0 },
	{ "pandora_exec", LR_STRICT, 0, 0 },
	{ "pandora_nice", LR_INT, -20, 19 },
	{ "server_ip", LR_STRICT, 0, 0 },
	{ "secondary_server_ip", LR_STRICT, 0, 0 },
	{ "server_port", LR_INT, 1, 65535 },
	{ "secondary_server_port", LR_INT, 1, 65535 },
	{ "udp_server_port", LR_INT, 1, 65535 },
	{ "server_opts", LR_WORDS, 0, 0 },
	{ "secondary_server_opts", LR_WORDS, 0, 0 },
	{ "server_pwd", LR_PASSWORD, 0, 0 },
	{ "secondary_server_pwd", LR_PASSWORD, 0, 0 },
	{ "server_user", LR_STRICT, 0, 0 },
	{ "secondary_server_user", LR_STRICT, 0, 0 },
	{ "transfer_mode_user", LR_STRICT, 0, 0 },
	{ "server_path", LR_STRICT, 0, 0 },
	{ "secondary_server_path", LR_STRICT, 0, 0 },
	{ "temporal", LR_STRICT, 0, 0 },
	{ "logfile", LR_STRICT, 0, 0 },
	{ "ehorus_conf", LR_STRICT, 0, 0 },
	{ "include", LR_INCLUDE, 0, 0 },
	{ "broker_agent", LR_NAME, 0, 0 },
	{ "file_collection", LR_NAME, 0, 0 },
	{ "cmd_file", LR_NAME, 0, 0 },
	{ "udp_server", LR_ZERO, 0, 0 },
	{ "proxy_mode", LR_ZERO, 0, 0 },
	{ "proxy_max_connection", LR_INT, 1, 100000 },
	{ "proxy_timeout", LR_INT, 1, 86400 },
	{ "transfer_mode", LR_MODE, 0, 0 },
	{ "secondary_transfer_mode", LR_MODE, 0, 0 },
	{ NULL, 0, 0, 0 }
};

static int
strict_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("._,:/@%+=-", c) != NULL);
}

/* The first character of v the rule refuses, or -1; why says which rule. */
static int
lint_value(const struct lint_rule *r, const char *v, const char **why)
{
	const unsigned char *p = (const unsigned char *)v;
	const char *es = NULL;

	*why = "shell metacharacter";
	switch (r->kind) {
	case LR_STRICT:
	case LR_NAME:
		if (*p == '-') {
			*why = "leading '-' (read as an option)";
			return '-';
		}
		if (r->kind == LR_NAME && (strstr(v, "..") != NULL ||
		    *p == '.')) {
			*why = "'..' or a leading '.' in a name";
			return '.';
		}
		for (; *p; p++)
			if (!strict_char(*p) || (r->kind == LR_NAME &&
			    *p == '/'))
				return *p;
		return -1;
	case LR_WORDS:
		for (; *p; p++)
			if (!strict_char(*p) && *p != ' ')
				return *p;
		return -1;
	case LR_PASSWORD:
		for (; *p; p++)
			if (strchr("'\"`$\\", *p) != NULL)
				return *p;
		return -1;
	case LR_INCLUDE:
		if (*p != '/') {
			*why = "not an absolute path";
			return *p;
		}
		for (; *p; p++)
			if (!strict_char(*p) && *p != '*' && *p != '?')
				return *p;
		return -1;
	case LR_INT:
		(void)strtonum(v, r->min, r->max, &es);
		if (es != NULL) {
			*why = "not a number in range";
			return *p;
		}
		return -1;
	case LR_ZERO:
		if (strcmp(v, "0") != 0) {
			*why = "opens a listener on the agent host";
			return *p;
		}
		return -1;
	case LR_MODE:
		if (strcmp(v, "tentacle") && strcmp(v, "ssh") &&
		    strcmp(v, "ftp") && strcmp(v, "local")) {
			*why = "not tentacle, ssh, ftp or local";
			return *p;
		}
		return -1;
	}
	return -1;
}

static int
allowed(char *const *allow, size_t nallow, const char *key)
{
	for (size_t i = 0; i < nallow; i++)
		if (strcmp(allow[i], key) == 0)
			return 1;
	return 0;
}

void
ac_lint(const struct agentconf *ac, const char *agent, char *const *allow,
    size_t nallow, struct ac_msgs *m)
{
	unsigned name_line = 0;

	for (size_t i = 0; i < ac->n; i++) {
		const struct ac_line *l = &ac->lines[i];
		const struct lint_rule *r;
		const char *why;
		char shown[8];
		int c;

		if (l->module != 0)
			continue;
		if (strcmp(l->key, "agent_name") == 0) {
			if (strcmp(l->val, agent) != 0)
				ac_msg(m, "line %u: agent_name is not '%s' "
				    "(the agent would take another identity)",
				    l->lineno, agent);
			name_line = l->lineno;
			continue;
		}
		for (r = lint_rules; r->key != NULL; r++)
			if (strcmp(r->key, l->key) == 0)
				break;
		if (r->key == NULL || allowed(allow, nallow, l->key))
			continue;
		if ((c = lint_value(r, l->val, &why)) == -1)
			continue;
		if (c >= 0x21 && c < 0x7f)
			snprintf(shown, sizeof(shown), "'%c'", c);
		else
			snprintf(shown, sizeof(shown), "0x%02x", c);
		/* Never the value itself: it may be a password. */
		ac_msg(m, "line %u: %s: %s %s (the agent passes %s to a "
		    "shell or uses it as a path; lint_allow %s permits it)",
		    l->lineno, l->key, why, shown, l->key, l->key);
	}
	if (name_line == 0)
		ac_msg(m, "line 0: no agent_name (the agent would name itself "
		    "after agent_name_cmd or its host name)");
}

/* ---- secrets ---- */

int
ac_secret(const char *key)
{
	size_t l = strlen(key);

	return (l >= 4 && strcmp(key + l - 4, "_pwd") == 0) ||
	    strstr(key, "password") != NULL || strstr(key, "passwd") != NULL ||
	    strstr(key, "secret") != NULL;
}

static int
opts_key(const char *key)
{
	return strcmp(key, "server_opts") == 0 ||
	    strcmp(key, "secondary_server_opts") == 0;
}

/*
 * server_opts carries tentacle_client options, among them "-x PASSWORD":
 * a copy with that argument masked (or removed when mask is NULL).
 */
static char *
opts_mask(const char *v, const char *mask)
{
	size_t len = strlen(v), o = 0;
	/* Each "-x" (2 bytes or more) becomes at most 12: 6 times. */
	char *out = xmalloc(len * 6 + 32);
	const char *p = v;

	while (*p) {
		const char *w = p;
		size_t wl;

		while (*p && *p != ' ')
			p++;
		wl = p - w;
		if (wl >= 2 && w[0] == '-' && w[1] == 'x') {
			const char *a = w + 2;

			if (mask != NULL) {
				memcpy(out + o, "-x ", 3);
				o += 3;
				strcpy(out + o, mask);
				o += strlen(mask);
			}
			if (wl == 2) {		/* "-x PW": PW is the next word */
				while (*p == ' ')
					p++;
				a = p;
			}
			/* A quoted password may hold blanks. */
			if (*a == '\'' || *a == '"') {
				const char *q = strchr(a + 1, *a);

				p = q ? q + 1 : a + strlen(a);
			}
			while (*p && *p != ' ')
				p++;
			while (*p == ' ')
				p++;
			if (mask != NULL && *p)
				out[o++] = ' ';
			continue;
		}
		memcpy(out + o, w, wl);
		o += wl;
		while (*p == ' ')
			out[o++] = *p++;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/* ---- diff ---- */

struct ac_ent {
	char		*field;
	const char	*key;
	const char	*val;
	size_t		 pos;
	int		 multi;
};

/* Tokens that may appear many times, each adding something. */
static int
multi_key(const char *key, int module)
{
	if (module)
		return strcmp(key, "module_condition") == 0 ||
		    strcmp(key, "module_precondition") == 0 ||
		    strcmp(key, "module_intensive_condition") == 0;
	return strcmp(key, "include") == 0 ||
	    strcmp(key, "file_collection") == 0 ||
	    strcmp(key, "module_plugin") == 0 ||
	    strcmp(key, "module_proc_cmd") == 0 ||
	    strcmp(key, "module_freedisk_cmd") == 0 ||
	    strcmp(key, "broker_agent") == 0 ||
	    strcmp(key, "cmd_file") == 0;
}

/* Tokens whose value is, or decides, a command the agent runs. */
static int
command_key(const char *key)
{
	static const char *const k[] = { "module_exec", "module_plugin",
	    "module_condition", "module_precondition",
	    "module_intensive_condition", "module_proc_cmd",
	    "module_freedisk_cmd", "agent_name_cmd", "agent_alias_cmd",
	    "gis_exec", "pandora_exec", "cmd_file", "file_collection",
	    "include", NULL };

	for (size_t i = 0; k[i] != NULL; i++)
		if (strcmp(k[i], key) == 0)
			return 1;
	return 0;
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct ac_ent *x = a, *y = b;
	int c = strcmp(x->field, y->field);

	if (c != 0)
		return c;
	if (x->multi && (c = strcmp(x->val, y->val)) != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static struct ac_ent *
entries(const struct agentconf *ac, size_t *np)
{
	struct ac_ent *e;
	size_t n = 0;

	if (ac == NULL) {
		*np = 0;
		return NULL;
	}
	e = xcalloc(ac->n + 1, sizeof(*e));
	for (size_t i = 0; i < ac->n; i++) {
		const struct ac_line *l = &ac->lines[i];

		if (l->module) {
			if (asprintf(&e[n].field, "%s.%s",
			    ac->mods[l->module - 1].id, l->key) == -1)
				e[n].field = xstrdup(l->key);
		} else
			e[n].field = xstrdup(l->key);
		e[n].key = l->key;
		e[n].val = l->val;
		e[n].pos = i;
		e[n].multi = multi_key(l->key, l->module != 0);
		n++;
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	*np = n;
	return e;
}

static void
entries_free(struct ac_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].field);
	free(e);
}

struct diff_out {
	struct audit_buf *ab;
	size_t		 budget;
	size_t		 n, omitted;
};

/* One change object; values of secrets are masked, never written. */
static void
emit(struct diff_out *d, const char *field, const char *key,
    const char *o, const char *n)
{
	char *mo = NULL, *mn = NULL;

	if (d->ab->len - d->ab->start > d->budget) {
		d->omitted++;
		return;
	}
	if (ac_secret(key)) {
		o = o ? AC_MASK : NULL;
		n = n ? AC_MASK : NULL;
	} else if (opts_key(key)) {
		if (o != NULL)
			o = mo = opts_mask(o, AC_MASK);
		if (n != NULL)
			n = mn = opts_mask(n, AC_MASK);
		if (o != NULL && n != NULL && strcmp(o, n) == 0) {
			/* Only the password changed: say that much. */
			free(mo);
			free(mn);
			mo = mn = NULL;
			o = "-x " AC_MASK " (changed)";
			n = "-x " AC_MASK " (changed)";
		}
	}
	audit_raw(d->ab, d->n == 0 ? "{\"field\":" : ",{\"field\":");
	audit_jstr(d->ab, field, strlen(field), 512);
	audit_raw(d->ab, ",\"old\":");
	if (o == NULL)
		audit_raw(d->ab, "null");
	else
		audit_jstr(d->ab, o, strlen(o), 2048);
	audit_raw(d->ab, ",\"new\":");
	if (n == NULL)
		audit_raw(d->ab, "null");
	else
		audit_jstr(d->ab, n, strlen(n), 2048);
	if (command_key(key))
		audit_raw(d->ab, ",\"command\":true");
	audit_raw(d->ab, "}");
	d->n++;
	free(mo);
	free(mn);
}

/* Compare one field's entries a[0..na) with b[0..nb). */
static void
diff_field(struct diff_out *d, const struct ac_ent *a, size_t na,
    const struct ac_ent *b, size_t nb)
{
	const struct ac_ent *any = na ? a : b;
	size_t i = 0, j = 0;

	if (!any->multi) {
		const char *o = na ? a[na - 1].val : NULL;
		const char *n = nb ? b[nb - 1].val : NULL;

		if (o != NULL && n != NULL && strcmp(o, n) == 0)
			return;
		emit(d, any->field, any->key, o, n);
		return;
	}
	/* Sorted by value: a merge gives removed and added values. */
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i].val, b[j].val);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			emit(d, any->field, any->key, a[i].val, NULL);
			i++;
		} else {
			emit(d, any->field, any->key, NULL, b[j].val);
			j++;
		}
	}
}

void
ac_diff_audit(struct audit_buf *ab, const struct agentconf *old,
    const struct agentconf *new, size_t budget, size_t *nchanges)
{
	struct ac_ent *a, *b;
	struct diff_out d;
	size_t na, nb, i = 0, j = 0;

	a = entries(old, &na);
	b = entries(new, &nb);
	memset(&d, 0, sizeof(d));
	d.ab = ab;
	d.budget = budget;
	audit_raw(ab, ",\"changes\":[");
	while (i < na || j < nb) {
		size_t i2 = i, j2 = j;
		int c = i == na ? 1 : j == nb ? -1 :
		    strcmp(a[i].field, b[j].field);

		if (c <= 0)
			while (i2 < na && strcmp(a[i2].field, a[i].field) == 0)
				i2++;
		if (c >= 0)
			while (j2 < nb && strcmp(b[j2].field, b[j].field) == 0)
				j2++;
		diff_field(&d, a + i, i2 - i, b + j, j2 - j);
		i = i2;
		j = j2;
	}
	audit_raw(ab, "]");
	if (d.omitted > 0)
		audit_num(ab, "changes_omitted", (long long)d.omitted);
	*nchanges = d.n + d.omitted;
	entries_free(a, na);
	entries_free(b, nb);
}

/* ---- adopt: strip secrets ---- */

char *
ac_strip(const char *buf, size_t len, const struct agentconf *ac,
    const char *agent, size_t *outlen, size_t *nstripped)
{
	size_t cap = len + strlen(agent) + 64, o = 0, pos = 0;
	char *out;
	unsigned lineno = 0;
	size_t k = 0;

	*nstripped = 0;
	for (size_t i = 0; i < ac->n; i++)
		cap += strlen(ac->lines[i].key) + 48;
	out = xmalloc(cap);
	if (ac->agent_name == NULL)
		o += snprintf(out, cap, "agent_name %s\n", agent);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) + 1 : len - pos;
		const struct ac_line *l = NULL;

		lineno++;
		while (k < ac->n && ac->lines[k].lineno < lineno)
			k++;
		if (k < ac->n && ac->lines[k].lineno == lineno)
			l = &ac->lines[k];
		if (l != NULL && ac_secret(l->key)) {
			o += snprintf(out + o, cap - o, "# %s removed by "
			    "conf-dist adopt\n", l->key);
			(*nstripped)++;
		} else if (l != NULL && opts_key(l->key) &&
		    strstr(l->val, "-x") != NULL) {
			char *v = opts_mask(l->val, NULL);

			if (strcmp(v, l->val) != 0) {
				o += snprintf(out + o, cap - o, "%s %s\n",
				    l->key, v);
				(*nstripped)++;
			} else {
				memcpy(out + o, buf + pos, ll);
				o += ll;
			}
			free(v);
		} else {
			memcpy(out + o, buf + pos, ll);
			o += ll;
		}
		pos += ll;
	}
	*outlen = o;
	return out;
}
