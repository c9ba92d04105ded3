/* SPDX-License-Identifier: ISC */
/* Agent data files parsed and checked with libxml2's SAX2 (agentxml.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "agentxml.h"
#include "xalloc.h"

/* Arena: everything of one agent_data lives in a few big chunks. */
struct ax_chunk {
	struct ax_chunk	*next;
	size_t		 used, cap;
	char		 mem[];
};

struct ax_arena {
	struct ax_chunk	*head;
};

#define AX_CHUNK	(64 * 1024)

static void *
ax_alloc(struct ax_arena *a, size_t n)
{
	struct ax_chunk *c = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > AX_CHUNK ? n : AX_CHUNK;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->mem + c->used;
	c->used += n;
	return p;
}

static void *
ax_zalloc(struct ax_arena *a, size_t n)
{
	void *p = ax_alloc(a, n);

	memset(p, 0, n);
	return p;
}

static char *
ax_strndup(struct ax_arena *a, const char *s, size_t n)
{
	char *p = ax_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
ax_arena_free(struct ax_arena *a)
{
	struct ax_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

/* Names, sorted for bsearch; the enum order is kept in a second field. */
struct ax_name {
	const char	*name;
	int		 id;
};

static const struct ax_name ax_tags[] = {
	{ "alert_template", -2 },		/* repeatable, kept apart */
	{ "critical_instructions", AX_M_CRITICAL_INSTRUCTIONS },
	{ "critical_inverse", AX_M_CRITICAL_INVERSE },
	{ "critical_inverse_forced", AX_M_CRITICAL_INVERSE_FORCED },
	{ "cron_interval", AX_M_CRON_INTERVAL },
	{ "crontab", AX_M_CRONTAB },
	{ "custom_id", AX_M_CUSTOM_ID },
	{ "data", -3 },
	{ "datalist", -4 },
	{ "description", AX_M_DESCRIPTION },
	{ "disabled", AX_M_DISABLED },
	{ "each_ff", AX_M_EACH_FF },
	{ "ff_timeout", AX_M_FF_TIMEOUT },
	{ "ff_type", AX_M_FF_TYPE },
	{ "max", AX_M_MAX },
	{ "max_critical", AX_M_MAX_CRITICAL },
	{ "max_critical_forced", AX_M_MAX_CRITICAL_FORCED },
	{ "max_warning", AX_M_MAX_WARNING },
	{ "max_warning_forced", AX_M_MAX_WARNING_FORCED },
	{ "message", AX_M_MESSAGE },
	{ "min", AX_M_MIN },
	{ "min_critical", AX_M_MIN_CRITICAL },
	{ "min_critical_forced", AX_M_MIN_CRITICAL_FORCED },
	{ "min_ff_event", AX_M_MIN_FF_EVENT },
	{ "min_ff_event_critical", AX_M_MIN_FF_EVENT_CRITICAL },
	{ "min_ff_event_normal", AX_M_MIN_FF_EVENT_NORMAL },
	{ "min_ff_event_warning", AX_M_MIN_FF_EVENT_WARNING },
	{ "min_warning", AX_M_MIN_WARNING },
	{ "min_warning_forced", AX_M_MIN_WARNING_FORCED },
	{ "module_ff_interval", AX_M_MODULE_FF_INTERVAL },
	{ "module_group", AX_M_MODULE_GROUP },
	{ "module_interval", AX_M_MODULE_INTERVAL },
	{ "module_parent", AX_M_MODULE_PARENT },
	{ "module_parent_unlink", AX_M_MODULE_PARENT_UNLINK },
	{ "name", AX_M_NAME },
	{ "post_process", AX_M_POST_PROCESS },
	{ "quiet", AX_M_QUIET },
	{ "severity", AX_M_SEVERITY },
	{ "stacktrace", AX_M_STACKTRACE },
	{ "status", AX_M_STATUS },
	{ "str_critical", AX_M_STR_CRITICAL },
	{ "str_critical_forced", AX_M_STR_CRITICAL_FORCED },
	{ "str_warning", AX_M_STR_WARNING },
	{ "str_warning_forced", AX_M_STR_WARNING_FORCED },
	{ "tags", AX_M_TAGS },
	{ "timestamp", AX_M_TIMESTAMP },
	{ "type", AX_M_TYPE },
	{ "unit", AX_M_UNIT },
	{ "unknown_instructions", AX_M_UNKNOWN_INSTRUCTIONS },
	{ "warning_instructions", AX_M_WARNING_INSTRUCTIONS },
	{ "warning_inverse", AX_M_WARNING_INVERSE },
	{ "warning_inverse_forced", AX_M_WARNING_INVERSE_FORCED },
};

static const struct ax_name ax_attrs[] = {
	{ "address", AX_A_ADDRESS },
	{ "agent_alias", AX_A_AGENT_ALIAS },
	{ "agent_mode", AX_A_AGENT_MODE },
	{ "agent_name", AX_A_AGENT_NAME },
	{ "altitude", AX_A_ALTITUDE },
	{ "connection_source", -2 },		/* refused: other channel */
	{ "custom_id", AX_A_CUSTOM_ID },
	{ "description", AX_A_DESCRIPTION },
	{ "group", AX_A_GROUP },
	{ "group_id", AX_A_GROUP_ID },
	{ "group_password", AX_A_GROUP_PASSWORD },
	{ "interval", AX_A_INTERVAL },
	{ "ipam_source", -2 },
	{ "latitude", AX_A_LATITUDE },
	{ "longitude", AX_A_LONGITUDE },
	{ "os_name", AX_A_OS_NAME },
	{ "os_version", AX_A_OS_VERSION },
	{ "parent_agent_name", AX_A_PARENT_AGENT_NAME },
	{ "position_description", AX_A_POSITION_DESCRIPTION },
	{ "satellite_server", AX_A_SATELLITE_SERVER },
	{ "secondary_groups", AX_A_SECONDARY_GROUPS },
	{ "server_name", -2 },
	{ "timestamp", AX_A_TIMESTAMP },
	{ "timezone_offset", AX_A_TIMEZONE_OFFSET },
	{ "url_address", AX_A_URL_ADDRESS },
	{ "version", AX_A_VERSION },
};

static const char *const ax_type_names[] = {
	[AX_TYPE_NONE] = "",
	[AX_GENERIC_DATA] = "generic_data",
	[AX_GENERIC_PROC] = "generic_proc",
	[AX_GENERIC_DATA_STRING] = "generic_data_string",
	[AX_GENERIC_DATA_INC] = "generic_data_inc",
	[AX_GENERIC_DATA_INC_ABS] = "generic_data_inc_abs",
	[AX_ASYNC_PROC] = "async_proc",
	[AX_ASYNC_DATA] = "async_data",
	[AX_ASYNC_STRING] = "async_string",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
ax_name_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct ax_name *)e)->name);
}

/* The id of name in a sorted table, or -1. */
static int
ax_lookup(const struct ax_name *tab, size_t n, const char *name)
{
	const struct ax_name *e = bsearch(name, tab, n, sizeof(*tab),
	    ax_name_cmp);

	return e ? e->id : -1;
}

const char *
agentxml_tag_name(enum agentxml_tag t)
{
	for (size_t i = 0; i < NELEM(ax_tags); i++)
		if (ax_tags[i].id == (int)t)
			return ax_tags[i].name;
	return "?";
}

const char *
agentxml_attr_name(enum agentxml_attr a)
{
	for (size_t i = 0; i < NELEM(ax_attrs); i++)
		if (ax_attrs[i].id == (int)a)
			return ax_attrs[i].name;
	return "?";
}

enum agentxml_type
agentxml_type_of(const char *name)
{
	for (size_t i = 1; i < NELEM(ax_type_names); i++)
		if (strcmp(name, ax_type_names[i]) == 0)
			return (enum agentxml_type)i;
	return AX_TYPE_NONE;
}

const char *
agentxml_type_name(enum agentxml_type t)
{
	return (size_t)t < NELEM(ax_type_names) ? ax_type_names[t] : "";
}

void
agentxml_limits_default(struct agentxml_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_size = AGENTXML_MAX_SIZE;
	l->max_depth = AGENTXML_MAX_DEPTH;
	l->max_elements = AGENTXML_MAX_ELEMENTS;
	l->max_attrs = AGENTXML_MAX_ATTRS;
	l->max_modules = AGENTXML_MAX_MODULES;
	l->max_text = AGENTXML_MAX_TEXT;
	l->max_age = AGENTXML_MAX_AGE;
	l->max_future = AGENTXML_MAX_FUTURE;
}

/* libxml2 must never print anything of its own. */
static void
ax_generic_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
ax_structured_silent(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

void
agentxml_init(void)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, ax_generic_silent);
	xmlSetStructuredErrorFunc(NULL, ax_structured_silent);
	/* No catalogs, no network, whatever the environment says. */
	xmlLoadExtDtdDefaultValue = 0;
	xmlSubstituteEntitiesDefault(0);
}

/* ---- value grammars ---------------------------------------------- */

static int
ax_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
ax_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

/* s trimmed of XML white space: *len and the start. */
static const char *
ax_trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && ax_isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && ax_isspace((unsigned char)s[n - 1]))
		n--;
	*len = n;
	return s;
}

static int
ax_blank(const char *s)
{
	size_t n = strlen(s);

	ax_trim(s, &n);
	return n == 0;
}

int
agentxml_number(const char *s, double *out)
{
	char buf[512];
	size_t n = strlen(s), i = 0, nd = 0;
	const char *p = ax_trim(s, &n);
	char *end;
	double v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	if (p[i] == '+' || p[i] == '-')
		i++;
	while (i < n && ax_isdigit((unsigned char)p[i]))
		i++, nd++;
	if (i < n && (p[i] == '.' || p[i] == ',')) {
		i++;
		while (i < n && ax_isdigit((unsigned char)p[i]))
			i++, nd++;
	}
	if (nd == 0)
		return -1;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t ne = 0;

		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		while (i < n && ax_isdigit((unsigned char)p[i]))
			i++, ne++;
		if (ne == 0)
			return -1;
	}
	if (i != n)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = p[i] == ',' ? '.' : p[i];
	buf[n] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (*end != '\0' || !isfinite(v))
		return -1;
	if (out != NULL)
		*out = v;
	return 0;
}

int
agentxml_integer(const char *s, long long min, long long max,
    long long *out)
{
	char buf[32];
	size_t n = strlen(s), i = 0;
	const char *p = ax_trim(s, &n);
	long long v;
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	if (p[0] == '+' || p[0] == '-')
		i++;
	if (i == n)
		return -1;
	for (; i < n; i++)
		if (!ax_isdigit((unsigned char)p[i]))
			return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	if (out != NULL)
		*out = v;
	return 0;
}

static int
ax_2d(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int
agentxml_time(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	static const char pat[] = "dddd-dd-dd dd:dd:dd";
	struct tm tm;
	int y, mo, d, h, mi, se, dim;
	char sep;
	time_t t;

	if (strlen(s) != sizeof(pat) - 1)
		return -1;
	sep = s[4];
	if (sep != '/' && sep != '-')
		return -1;
	for (size_t i = 0; i < sizeof(pat) - 1; i++) {
		char c = pat[i];

		if (c == 'd' ? !ax_isdigit((unsigned char)s[i]) :
		    c == '-' ? s[i] != sep : s[i] != c)
			return -1;
	}
	y = ax_2d(s) * 100 + ax_2d(s + 2);
	mo = ax_2d(s + 5);
	d = ax_2d(s + 8);
	h = ax_2d(s + 11);
	mi = ax_2d(s + 14);
	se = ax_2d(s + 17);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    se > 59)
		return -1;
	dim = mdays[mo - 1];
	if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		dim = 29;
	if (d > dim)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1 || t < 0)
		return -1;
	if (out != NULL)
		*out = t;
	return 0;
}

/* ---- the parse --------------------------------------------------- */

enum ax_kind {
	K_DOC, K_ROOT, K_MODULE, K_M_TEXT, K_M_DATA, K_M_EXTRA, K_M_ALERT,
	K_DATALIST, K_DL_ENTRY, K_DL_VALUE, K_DL_TS, K_CF, K_CF_FIELD,
	K_CF_NAME, K_CF_VALUE, K_INV, K_INV_MOD, K_INV_NAME, K_INV_DL,
	K_INV_ROW, K_LOG, K_LOG_FIELD, K_EVENTS, K_EVENT, K_CMD, K_CMD_RESP,
	K_CMD_FIELD
};

/* Leaves hold text only; the others hold elements and white space. */
static int
ax_is_leaf(enum ax_kind k)
{
	switch (k) {
	case K_M_TEXT: case K_M_DATA: case K_M_EXTRA: case K_M_ALERT:
	case K_DL_VALUE: case K_DL_TS: case K_CF_NAME: case K_CF_VALUE:
	case K_INV_NAME: case K_INV_ROW: case K_LOG_FIELD: case K_EVENT:
	case K_CMD_FIELD:
		return 1;
	default:
		return 0;
	}
}

struct ax_frame {
	enum ax_kind	 kind;
	int		 tag;		/* K_M_TEXT: enum agentxml_tag */
	const char	*name;		/* element name (parser's dict) */
};

struct ax_state {
	xmlParserCtxtPtr ctxt;
	const struct agentxml_limits *lim;
	struct agent_data *ad;
	struct ax_arena	*arena;
	char		*err;		/* the first refusal, or NULL */
	size_t		 errlen;
	int		 failed;
	struct ax_frame	 stack[AGENTXML_MAX_DEPTH_CAP + 2];
	unsigned	 depth;
	/* text of the open leaf */
	char		*text;
	size_t		 textlen, textcap;
	/* open containers */
	struct agent_module *mod;
	int		 mod_data, mod_datalist;
	struct agent_sample **smp_tail;
	struct agent_kv	**alert_tail, **extra_tail;
	const char	*dl_value, *dl_ts;	/* open datalist entry */
	size_t		 dl_valuelen;
	int		 dl_has_value, dl_has_ts;
	const char	*cf_name, *cf_value;
	size_t		 cf_valuelen;
	struct agent_inventory *inv;
	struct agent_kv	**row_tail;
	struct agent_group *grp;
	struct agent_kv	**fld_tail;
	/* document lists */
	struct agent_module **mod_tail;
	struct agent_kv	**cf_tail, **ev_tail, **attr_tail;
	struct agent_inventory **inv_tail;
	struct agent_group **log_tail, **cmd_tail;
};

static unsigned
ax_line(struct ax_state *st)
{
	if (st->ctxt != NULL && st->ctxt->input != NULL)
		return (unsigned)st->ctxt->input->line;
	return 1;	/* before the parse: the declaration's line */
}

/* Printable ASCII copy of untrusted text for a reason, cut to max. */
static void
ax_quote(char *dst, size_t dlen, const char *s, size_t n, size_t max)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < max && o + 2 < dlen; i++) {
		unsigned char c = s[i];

		dst[o++] = c >= 0x20 && c < 0x7f && c != '"' ? c : '?';
	}
	if (i < n && o + 4 < dlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* Refuse the whole file: the first reason wins; stop the parser. */
static void __attribute__((format(printf, 4, 5)))
ax_fail(struct ax_state *st, const char *rule, const char *attr,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (st->failed)
		return;
	st->failed = 1;
	n = snprintf(st->err, st->errlen, "rule=%s line=%u ", rule,
	    ax_line(st));
	if (attr != NULL && n >= 0 && (size_t)n < st->errlen)
		n += snprintf(st->err + n, st->errlen - n, "attr=%s ", attr);
	if (st->mod != NULL && n >= 0 && (size_t)n < st->errlen)
		n += snprintf(st->err + n, st->errlen - n, "module=%u ",
		    st->mod->index);
	if (n >= 0 && (size_t)n < st->errlen) {
		va_start(ap, fmt);
		vsnprintf(st->err + n, st->errlen - n, fmt, ap);
		va_end(ap);
	}
	if (st->ctxt != NULL)
		xmlStopParser(st->ctxt);
}

/* Refuse one module; the first reason wins. */
static void __attribute__((format(printf, 4, 5)))
ax_mod_refuse(struct ax_state *st, struct agent_module *m, const char *rule,
    const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (m->rule != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	m->rule = rule;
	m->why = ax_strndup(st->arena, buf, strlen(buf));
}

static void
ax_text_add(struct ax_state *st, const char *s, size_t n)
{
	if (st->textlen + n > st->lim->max_text) {
		ax_fail(st, "limit", NULL, "text of <%s> longer than %zu bytes",
		    st->stack[st->depth].name, st->lim->max_text);
		return;
	}
	if (st->textlen + n + 1 > st->textcap) {
		size_t cap = st->textcap ? st->textcap : 4096;

		while (cap < st->textlen + n + 1)
			cap *= 2;
		st->text = xreallocarray(st->text, cap, 1);
		st->textcap = cap;
	}
	memcpy(st->text + st->textlen, s, n);
	st->textlen += n;
}

static const char *const ax_kind_name[] = {
	[K_DOC] = "document", [K_ROOT] = "agent_data", [K_MODULE] = "module",
	[K_DATALIST] = "datalist", [K_DL_ENTRY] = "data",
	[K_CF] = "custom_fields", [K_CF_FIELD] = "field",
	[K_INV] = "inventory", [K_INV_MOD] = "inventory_module",
	[K_INV_DL] = "datalist", [K_LOG] = "log_module", [K_EVENTS] = "events",
	[K_CMD] = "cmd_report", [K_CMD_RESP] = "cmd_response",
};

static void
ax_characters(void *ctx, const xmlChar *ch, int len)
{
	struct ax_state *st = ctx;
	struct ax_frame *f = &st->stack[st->depth];

	if (st->failed)
		return;
	if (ax_is_leaf(f->kind)) {
		ax_text_add(st, (const char *)ch, len);
		return;
	}
	for (int i = 0; i < len; i++)
		if (!ax_isspace(ch[i])) {
			ax_fail(st, "schema", NULL, "text is not allowed in "
			    "<%s>", ax_kind_name[f->kind] ?
			    ax_kind_name[f->kind] : f->name);
			return;
		}
}

/* Agent names: no path characters; other names: only the basics. */
static const char *
ax_name_problem(const char *s, size_t n, int pathlike)
{
	if (n == 0)
		return "is empty";
	if (n > AGENTXML_NAME_MAX)
		return "is longer than 600 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f))
			return "holds a control character";
		if (pathlike && (c == '/' || c == '\\'))
			return "holds '/' or '\\'";
	}
	if (pathlike && s[0] == '.')
		return "starts with '.'";
	return NULL;
}

/* Check one root attribute that names something; NULL or empty is fine
 * unless required. */
static int
ax_root_name(struct ax_state *st, enum agentxml_attr a, int pathlike,
    int required, const char **trimmed)
{
	const char *v = st->ad->attr[a], *p, *why;
	size_t n;

	if (v == NULL) {
		if (required) {
			ax_fail(st, "agent_name", "agent_name", "the root has "
			    "no agent_name attribute");
			return -1;
		}
		return 0;
	}
	n = strlen(v);
	p = ax_trim(v, &n);
	if (n == 0 && !required)
		return 0;
	if ((why = ax_name_problem(p, n, pathlike)) != NULL) {
		char q[64];

		ax_quote(q, sizeof(q), p, n, 40);
		ax_fail(st, required ? "agent_name" : "attribute",
		    agentxml_attr_name(a), "\"%s\" %s", q, why);
		return -1;
	}
	if (trimmed != NULL)
		*trimmed = ax_strndup(st->arena, p, n);
	return 0;
}

/* Is t inside the acceptance window?  Refuses the file if not. */
static int
ax_window(struct ax_state *st, time_t t, const char *attr)
{
	const struct agentxml_limits *l = st->lim;

	if (l->now == 0)
		return 0;
	if (t > l->now + l->max_future) {
		ax_fail(st, "window", attr, "time is %lld s in the future "
		    "(limit %ld s)", (long long)(t - l->now), l->max_future);
		return -1;
	}
	if (t < l->now - l->max_age) {
		ax_fail(st, "window", attr, "time is %lld s old (limit %ld s)",
		    (long long)(l->now - t), l->max_age);
		return -1;
	}
	return 0;
}

/*
 * An attribute value as SAX2 delivers it without entity replacement:
 * every '&' (from &amp; or &#38;) comes as "&#38;", the rest decoded.
 * A raw '&' cannot occur in a value, so undoing that one escape is exact.
 */
static const char *
ax_attr_value(struct ax_state *st, const char *v, size_t n, size_t *outlen)
{
	char *p = ax_strndup(st->arena, v, n), *w = p;

	if (memchr(v, '&', n) == NULL) {
		*outlen = n;
		return p;
	}
	for (size_t i = 0; i < n; i++) {
		*w++ = v[i];
		if (v[i] == '&' && n - i >= 5 && memcmp(v + i, "&#38;", 5) == 0)
			i += 4;
	}
	*w = '\0';
	*outlen = w - p;
	return p;
}

/* The root element: its name and attributes decide most of the file. */
static void
ax_root(struct ax_state *st, const char *name, int nattr,
    const xmlChar **attrs)
{
	struct agent_data *ad = st->ad;
	const char *v;
	long long n;

	for (int i = 0; i < nattr; i++) {
		const char *an = (const char *)attrs[i * 5];
		const char *val = (const char *)attrs[i * 5 + 3];
		size_t vlen = (const char *)attrs[i * 5 + 4] - val;
		struct agent_kv *kv;
		int id;

		if (attrs[i * 5 + 1] != NULL) {
			ax_fail(st, "schema", an, "namespaced attributes are "
			    "not allowed");
			return;
		}
		if (vlen > st->lim->max_text) {
			ax_fail(st, "limit", an, "attribute longer than %zu "
			    "bytes", st->lim->max_text);
			return;
		}
		kv = ax_zalloc(st->arena, sizeof(*kv));
		kv->name = ax_strndup(st->arena, an, strlen(an));
		kv->value = ax_attr_value(st, val, vlen, &kv->len);
		kv->line = ax_line(st);
		*st->attr_tail = kv;
		st->attr_tail = &kv->next;
		id = ax_lookup(ax_attrs, NELEM(ax_attrs), an);
		if (id == -2) {
			ax_fail(st, "server", an, "a root with %s is not agent "
			    "data (server or discovery XML is refused on the "
			    "agent channel)", an);
			return;
		}
		if (id >= 0)
			ad->attr[id] = kv->value;
	}
	if (strcmp(name, "agent_data") != 0) {
		char q[64];

		ax_quote(q, sizeof(q), name, strlen(name), 40);
		ax_fail(st, "root", NULL, "root element <%s> is not "
		    "<agent_data>", q);
		return;
	}
	if (ax_root_name(st, AX_A_AGENT_NAME, 1, 1, &ad->agent_name) == -1 ||
	    ax_root_name(st, AX_A_PARENT_AGENT_NAME, 1, 0, NULL) == -1 ||
	    ax_root_name(st, AX_A_AGENT_ALIAS, 0, 0, NULL) == -1 ||
	    ax_root_name(st, AX_A_GROUP, 0, 0, NULL) == -1)
		return;
	if ((v = ad->attr[AX_A_TIMESTAMP]) != NULL && strcmp(v, "AUTO") != 0 &&
	    agentxml_time(v, NULL) == -1) {
		char q[64];

		ax_quote(q, sizeof(q), v, strlen(v), 40);
		ax_fail(st, "timestamp", "timestamp", "\"%s\" is not "
		    "YYYY/MM/DD HH:MM:SS (or with '-'), a real date from 1970 "
		    "on", q);
		return;
	}
	ad->tz_offset = 0;
	if ((v = ad->attr[AX_A_TIMEZONE_OFFSET]) != NULL && !ax_blank(v)) {
		if (agentxml_integer(v, -12, 14, &n) == -1) {
			char q[64];

			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_fail(st, "attribute", "timezone_offset", "\"%s\" is "
			    "not an integer in [-12, 14]", q);
			return;
		}
		ad->tz_offset = (int)n;
	}
	if ((v = ad->attr[AX_A_TIMESTAMP]) == NULL)
		ad->ts_kind = AX_TS_NONE;
	else if (strcmp(v, "AUTO") == 0)
		ad->ts_kind = AX_TS_AUTO;
	else {
		time_t t;

		if (agentxml_time(v, &t) == -1) {
			char q[64];

			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_fail(st, "timestamp", "timestamp", "\"%s\" is not "
			    "YYYY/MM/DD HH:MM:SS (or with '-'), a real date "
			    "from 1970 on", q);
			return;
		}
		ad->ts_kind = AX_TS_SET;
		ad->timestamp = t + (time_t)ad->tz_offset * 3600;
		if (ax_window(st, ad->timestamp, "timestamp") == -1)
			return;
	}
	ad->interval = 300;
	if ((v = ad->attr[AX_A_INTERVAL]) != NULL) {
		if (agentxml_integer(v, 1, 31536000, &n) == -1) {
			char q[64];

			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_fail(st, "attribute", "interval", "\"%s\" is not an "
			    "integer number of seconds in [1, 31536000]", q);
			return;
		}
		ad->interval = (long)n;
	}
	ad->agent_mode = -1;
	if ((v = ad->attr[AX_A_AGENT_MODE]) != NULL && !ax_blank(v)) {
		if (agentxml_integer(v, 0, 2, &n) == -1) {
			ax_fail(st, "attribute", "agent_mode", "not 0, 1 or 2");
			return;
		}
		ad->agent_mode = (int)n;
	}
	if ((v = ad->attr[AX_A_GROUP_ID]) != NULL && !ax_blank(v) &&
	    agentxml_integer(v, 0, INT_MAX, NULL) == -1) {
		ax_fail(st, "attribute", "group_id", "not a group number");
		return;
	}
	{
		static const struct { enum agentxml_attr a; double lo, hi; }
		    gis[] = {
			{ AX_A_LATITUDE, -90, 90 },
			{ AX_A_LONGITUDE, -180, 180 },
			{ AX_A_ALTITUDE, -1e7, 1e7 },
		};

		for (size_t i = 0; i < NELEM(gis); i++) {
			double d;

			v = ad->attr[gis[i].a];
			if (v == NULL || ax_blank(v))
				continue;
			if (agentxml_number(v, &d) == -1 || d < gis[i].lo ||
			    d > gis[i].hi) {
				ax_fail(st, "attribute",
				    agentxml_attr_name(gis[i].a), "not a number "
				    "in [%g, %g]", gis[i].lo, gis[i].hi);
				return;
			}
		}
	}
}

/* A child element: decide its kind from the parent and its name. */
static int
ax_child_kind(struct ax_state *st, enum ax_kind parent, const char *name,
    int *tag)
{
	struct agent_module *m = st->mod;
	int id;

	*tag = -1;
	switch (parent) {
	case K_ROOT:
		if (!strcmp(name, "module"))
			return K_MODULE;
		if (!strcmp(name, "custom_fields"))
			return K_CF;
		if (!strcmp(name, "inventory"))
			return K_INV;
		if (!strcmp(name, "log_module"))
			return K_LOG;
		if (!strcmp(name, "events"))
			return K_EVENTS;
		if (!strcmp(name, "cmd_report"))
			return K_CMD;
		break;
	case K_MODULE:
		id = ax_lookup(ax_tags, NELEM(ax_tags), name);
		if (id == -2)
			return K_M_ALERT;
		if (id == -3) {
			if (st->mod_data++)
				break;
			return K_M_DATA;
		}
		if (id == -4) {
			if (st->mod_datalist++)
				break;
			return K_DATALIST;
		}
		if (id >= 0) {
			if (m->tag[id] != NULL)
				break;
			*tag = id;
			return K_M_TEXT;
		}
		return K_M_EXTRA;
	case K_DATALIST:
		if (!strcmp(name, "data"))
			return K_DL_ENTRY;
		break;
	case K_DL_ENTRY:
		if (!strcmp(name, "value") && !st->dl_has_value++)
			return K_DL_VALUE;
		if (!strcmp(name, "timestamp") && !st->dl_has_ts++)
			return K_DL_TS;
		break;
	case K_CF:
		if (!strcmp(name, "field"))
			return K_CF_FIELD;
		break;
	case K_CF_FIELD:
		if (!strcmp(name, "name") && st->cf_name == NULL)
			return K_CF_NAME;
		if (!strcmp(name, "value") && st->cf_value == NULL)
			return K_CF_VALUE;
		break;
	case K_INV:
		if (!strcmp(name, "inventory_module"))
			return K_INV_MOD;
		break;
	case K_INV_MOD:
		if (!strcmp(name, "name") && st->inv->name == NULL)
			return K_INV_NAME;
		if (!strcmp(name, "datalist") && st->row_tail == NULL)
			return K_INV_DL;
		break;
	case K_INV_DL:
		if (!strcmp(name, "data"))
			return K_INV_ROW;
		break;
	case K_LOG:
		if (!strcmp(name, "source") || !strcmp(name, "type") ||
		    !strcmp(name, "encoding") || !strcmp(name, "data"))
			return K_LOG_FIELD;
		break;
	case K_EVENTS:
		if (!strcmp(name, "event"))
			return K_EVENT;
		break;
	case K_CMD:
		if (!strcmp(name, "cmd_response"))
			return K_CMD_RESP;
		break;
	case K_CMD_RESP:
		if (!strcmp(name, "cmd_name") || !strcmp(name, "cmd_key") ||
		    !strcmp(name, "cmd_errorlevel") ||
		    !strcmp(name, "cmd_stdout") || !strcmp(name, "cmd_stderr"))
			return K_CMD_FIELD;
		break;
	default:
		break;
	}
	return -1;
}

static void
ax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *URI, int nb_namespaces, const xmlChar **namespaces,
    int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	struct ax_state *st = ctx;
	const char *name = (const char *)localname;
	const struct agentxml_limits *l = st->lim;
	struct ax_frame *parent = &st->stack[st->depth], *f;
	int kind, tag;

	(void)namespaces;
	(void)nb_defaulted;
	if (st->failed)
		return;
	if (++st->ad->elements > l->max_elements) {
		ax_fail(st, "limit", NULL, "more than %lu elements",
		    l->max_elements);
		return;
	}
	if (st->depth + 1 > l->max_depth) {
		ax_fail(st, "limit", NULL, "elements nested deeper than %u",
		    l->max_depth);
		return;
	}
	if ((unsigned)nb_attributes > l->max_attrs) {
		ax_fail(st, "limit", NULL, "more than %u attributes on one "
		    "element", l->max_attrs);
		return;
	}
	if (prefix != NULL || URI != NULL || nb_namespaces > 0) {
		ax_fail(st, "schema", NULL, "XML namespaces are not allowed");
		return;
	}
	if (ax_is_leaf(parent->kind)) {
		ax_fail(st, "schema", NULL, "<%s> holds text only, not <%.40s>",
		    parent->name, name);
		return;
	}
	if (parent->kind == K_DOC) {
		kind = K_ROOT;
		tag = -1;
	} else {
		if (nb_attributes > 0) {
			ax_fail(st, "schema", NULL, "attributes are allowed "
			    "only on the root element, not on <%.40s>", name);
			return;
		}
		if ((kind = ax_child_kind(st, parent->kind, name, &tag)) ==
		    -1) {
			char q[64];

			ax_quote(q, sizeof(q), name, strlen(name), 40);
			ax_fail(st, "schema", NULL, "<%s> is unknown or "
			    "repeated in <%s>", q, parent->kind == K_ROOT ?
			    "agent_data" : parent->name);
			return;
		}
	}
	f = &st->stack[++st->depth];
	if (st->depth > st->ad->depth)
		st->ad->depth = st->depth;
	f->kind = kind;
	f->tag = tag;
	f->name = name;
	if (ax_is_leaf(kind)) {
		st->textlen = 0;
		return;
	}
	switch (kind) {
	case K_ROOT:
		ax_root(st, name, nb_attributes, attributes);
		break;
	case K_MODULE: {
		struct agent_module *m;

		if (st->ad->nmodules + 1 > l->max_modules) {
			ax_fail(st, "limit", NULL, "more than %u modules",
			    l->max_modules);
			return;
		}
		m = ax_zalloc(st->arena, sizeof(*m));
		m->index = ++st->ad->nmodules;
		m->line = ax_line(st);
		st->mod = m;
		st->mod_data = st->mod_datalist = 0;
		st->smp_tail = &m->samples;
		st->alert_tail = &m->alert_templates;
		st->extra_tail = &m->extra;
		*st->mod_tail = m;
		st->mod_tail = &m->next;
		break;
	}
	case K_DATALIST:
		st->mod->has_datalist = 1;
		break;
	case K_DL_ENTRY:
		st->dl_value = st->dl_ts = NULL;
		st->dl_has_value = st->dl_has_ts = 0;
		break;
	case K_CF_FIELD:
		st->cf_name = st->cf_value = NULL;
		break;
	case K_INV_MOD:
		st->inv = ax_zalloc(st->arena, sizeof(*st->inv));
		st->inv->line = ax_line(st);
		st->row_tail = NULL;
		*st->inv_tail = st->inv;
		st->inv_tail = &st->inv->next;
		break;
	case K_INV_DL:
		st->row_tail = &st->inv->rows;
		break;
	case K_LOG:
	case K_CMD_RESP:
		st->grp = ax_zalloc(st->arena, sizeof(*st->grp));
		st->grp->line = ax_line(st);
		st->fld_tail = &st->grp->fields;
		if (kind == K_LOG) {
			*st->log_tail = st->grp;
			st->log_tail = &st->grp->next;
		} else {
			*st->cmd_tail = st->grp;
			st->cmd_tail = &st->grp->next;
		}
		break;
	default:
		break;
	}
}

static struct agent_kv *
ax_kv(struct ax_state *st, const char *name, const char *val, size_t len)
{
	struct agent_kv *kv = ax_zalloc(st->arena, sizeof(*kv));

	kv->name = name;
	kv->value = val;
	kv->len = len;
	kv->line = ax_line(st);
	return kv;
}

static void
ax_add_sample(struct ax_state *st, const char *val, size_t len,
    const char *ts)
{
	struct agent_module *m = st->mod;
	struct agent_sample *s = ax_zalloc(st->arena, sizeof(*s));

	s->value = val;
	s->len = len;
	s->timestamp = ts;
	*st->smp_tail = s;
	st->smp_tail = &s->next;
	m->nsamples++;
	if (ts != NULL) {
		time_t t;

		if (agentxml_time(ts, &t) == -1) {
			char q[64];

			ax_quote(q, sizeof(q), ts, strlen(ts), 40);
			ax_mod_refuse(st, m, "module.timestamp", "datalist "
			    "timestamp \"%s\" is not YYYY/MM/DD HH:MM:SS (or "
			    "with '-'), a real date from 1970 on", q);
			return;
		}
		s->time = t + (time_t)st->ad->tz_offset * 3600;
		(void)ax_window(st, s->time, "datalist/timestamp");
	}
}

/* The module rules (xml-validate(8)): bytes only, no clock, no config. */
static void
ax_module_check(struct ax_state *st, struct agent_module *m)
{
	static const enum agentxml_tag nums[] = { AX_M_MIN, AX_M_MAX,
	    AX_M_POST_PROCESS, AX_M_MIN_WARNING, AX_M_MAX_WARNING,
	    AX_M_MIN_CRITICAL, AX_M_MAX_CRITICAL };
	static const enum agentxml_tag ints[] = { AX_M_MODULE_INTERVAL,
	    AX_M_MIN_FF_EVENT, AX_M_MIN_FF_EVENT_NORMAL,
	    AX_M_MIN_FF_EVENT_WARNING, AX_M_MIN_FF_EVENT_CRITICAL,
	    AX_M_EACH_FF, AX_M_FF_TYPE, AX_M_FF_TIMEOUT,
	    AX_M_MODULE_FF_INTERVAL };
	static const enum agentxml_tag flags[] = { AX_M_WARNING_INVERSE,
	    AX_M_CRITICAL_INVERSE, AX_M_QUIET, AX_M_DISABLED,
	    AX_M_MODULE_PARENT_UNLINK };
	const char *v, *p, *why;
	char q[64];
	size_t n;

	st->ad->nrefused++;	/* undone at the end if the module is fine */
	/* name: CR and LF removed (as Pandora does), trimmed, checked */
	if ((v = m->tag[AX_M_NAME]) == NULL) {
		ax_mod_refuse(st, m, "module.name", "no <name>");
		return;
	}
	{
		char *c = ax_strndup(st->arena, v, strlen(v)), *w = c;

		for (const char *r = c; *r; r++)
			if (*r != '\r' && *r != '\n')
				*w++ = *r;
		*w = '\0';
		n = strlen(c);
		p = ax_trim(c, &n);
		if ((why = ax_name_problem(p, n, 0)) != NULL) {
			ax_quote(q, sizeof(q), p, n, 40);
			ax_mod_refuse(st, m, "module.name", "name \"%s\" %s", q,
			    why);
			return;
		}
		m->name = ax_strndup(st->arena, p, n);
	}
	/* type: absent or blank means generic_data */
	if ((v = m->tag[AX_M_TYPE]) == NULL || ax_blank(v))
		m->type_name = "generic_data";
	else {
		n = strlen(v);
		p = ax_trim(v, &n);
		m->type_name = ax_strndup(st->arena, p, n);
	}
	if ((m->type = agentxml_type_of(m->type_name)) == AX_TYPE_NONE) {
		ax_quote(q, sizeof(q), m->type_name, strlen(m->type_name), 40);
		ax_mod_refuse(st, m, "module.type", "type \"%s\" is not an "
		    "agent module type", q);
		return;
	}
	m->numeric = m->type != AX_GENERIC_DATA_STRING &&
	    m->type != AX_ASYNC_STRING;
	if ((v = m->tag[AX_M_STATUS]) != NULL) {
		n = strlen(v);
		p = ax_trim(v, &n);
		if (n == 6 && strncasecmp(p, "NORMAL", 6) == 0)
			m->status = AX_STATUS_NORMAL;
		else if (n == 7 && strncasecmp(p, "WARNING", 7) == 0)
			m->status = AX_STATUS_WARNING;
		else if (n == 8 && strncasecmp(p, "CRITICAL", 8) == 0)
			m->status = AX_STATUS_CRITICAL;
	}
	for (size_t i = 0; i < NELEM(nums); i++)
		if ((v = m->tag[nums[i]]) != NULL && !ax_blank(v) &&
		    agentxml_number(v, NULL) == -1) {
			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_mod_refuse(st, m, "module.option", "<%s> \"%s\" is "
			    "not a finite number", agentxml_tag_name(nums[i]),
			    q);
			return;
		}
	for (size_t i = 0; i < NELEM(ints); i++)
		if ((v = m->tag[ints[i]]) != NULL && !ax_blank(v) &&
		    agentxml_integer(v, 0, INT_MAX, NULL) == -1) {
			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_mod_refuse(st, m, "module.option", "<%s> \"%s\" is "
			    "not an integer in [0, %d]",
			    agentxml_tag_name(ints[i]), q, INT_MAX);
			return;
		}
	for (size_t i = 0; i < NELEM(flags); i++)
		if ((v = m->tag[flags[i]]) != NULL && !ax_blank(v) &&
		    agentxml_integer(v, 0, 1, NULL) == -1) {
			ax_quote(q, sizeof(q), v, strlen(v), 40);
			ax_mod_refuse(st, m, "module.option", "<%s> \"%s\" is "
			    "not 0 or 1", agentxml_tag_name(flags[i]), q);
			return;
		}
	if (st->mod_data && st->mod_datalist) {
		ax_mod_refuse(st, m, "module.data", "both <data> and "
		    "<datalist>");
		return;
	}
	for (struct agent_sample *s = m->samples; s != NULL; s = s->next) {
		if (s->value == NULL)
			continue;	/* datalist entry without value */
		if (m->numeric) {
			if (agentxml_number(s->value, &s->num) == -1) {
				ax_quote(q, sizeof(q), s->value, s->len, 40);
				ax_mod_refuse(st, m, "module.value", "%s value "
				    "\"%s\" is not a finite number",
				    m->type_name, q);
				return;
			}
		} else if (ax_blank(s->value)) {
			ax_mod_refuse(st, m, "module.value", "%s value is "
			    "empty", m->type_name);
			return;
		}
	}
	if (m->rule == NULL)
		st->ad->nrefused--;
}

static void
ax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *URI)
{
	struct ax_state *st = ctx;
	struct ax_frame *f = &st->stack[st->depth];
	const char *txt = NULL;
	size_t len = 0;

	(void)localname;
	(void)prefix;
	(void)URI;
	if (st->failed || st->depth == 0)
		return;
	if (ax_is_leaf(f->kind)) {
		len = st->textlen;
		txt = ax_strndup(st->arena, st->text ? st->text : "", len);
	}
	switch (f->kind) {
	case K_M_TEXT:
		st->mod->tag[f->tag] = txt;
		break;
	case K_M_DATA:
		ax_add_sample(st, txt, len, NULL);
		break;
	case K_M_ALERT:
		*st->alert_tail = ax_kv(st, "alert_template", txt, len);
		st->alert_tail = &(*st->alert_tail)->next;
		break;
	case K_M_EXTRA:
		*st->extra_tail = ax_kv(st, ax_strndup(st->arena, f->name,
		    strlen(f->name)), txt, len);
		st->extra_tail = &(*st->extra_tail)->next;
		break;
	case K_DL_VALUE:
		st->dl_value = txt;
		st->dl_valuelen = len;
		break;
	case K_DL_TS:
		st->dl_ts = txt;
		break;
	case K_DL_ENTRY:
		ax_add_sample(st, st->dl_value, st->dl_valuelen, st->dl_ts);
		break;
	case K_MODULE:
		ax_module_check(st, st->mod);
		st->mod = NULL;
		break;
	case K_CF_NAME:
		st->cf_name = txt;
		break;
	case K_CF_VALUE:
		st->cf_value = txt;
		st->cf_valuelen = len;
		break;
	case K_CF_FIELD:
		if (st->cf_name == NULL || st->cf_value == NULL) {
			ax_fail(st, "schema", NULL, "<field> needs <name> and "
			    "<value>");
			return;
		}
		*st->cf_tail = ax_kv(st, st->cf_name, st->cf_value,
		    st->cf_valuelen);
		st->cf_tail = &(*st->cf_tail)->next;
		break;
	case K_INV_NAME:
		st->inv->name = txt;
		break;
	case K_INV_ROW:
		*st->row_tail = ax_kv(st, "data", txt, len);
		st->row_tail = &(*st->row_tail)->next;
		break;
	case K_INV_MOD:
		if (st->inv->name == NULL) {
			ax_fail(st, "schema", NULL, "<inventory_module> needs "
			    "<name>");
			return;
		}
		st->inv = NULL;
		break;
	case K_LOG_FIELD:
	case K_CMD_FIELD:
		for (struct agent_kv *kv = st->grp->fields; kv; kv = kv->next)
			if (strcmp(kv->name, f->name) == 0) {
				ax_fail(st, "schema", NULL, "<%s> repeated",
				    f->name);
				return;
			}
		*st->fld_tail = ax_kv(st, ax_strndup(st->arena, f->name,
		    strlen(f->name)), txt, len);
		st->fld_tail = &(*st->fld_tail)->next;
		break;
	case K_EVENT:
		*st->ev_tail = ax_kv(st, "event", txt, len);
		st->ev_tail = &(*st->ev_tail)->next;
		break;
	default:
		break;
	}
	st->depth--;
}

static void
ax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	struct ax_state *st = ctx;
	char q[64];

	(void)data;
	ax_quote(q, sizeof(q), (const char *)target, strlen((const char *)
	    target), 40);
	ax_fail(st, "pi", NULL, "processing instruction <?%s?> is not allowed",
	    q);
}

static void
ax_subset(void *ctx, const xmlChar *name, const xmlChar *eid,
    const xmlChar *sid)
{
	struct ax_state *st = ctx;

	(void)name;
	(void)eid;
	(void)sid;
	ax_fail(st, "doctype", NULL, "a DOCTYPE is not allowed (no DTD, no "
	    "entities)");
}

static void
ax_serror(void *ctx, xmlErrorPtr e)
{
	struct ax_state *st = ctx;
	char msg[256];
	const char *rule = "wellformed";
	size_t n;

	if (st->failed || e == NULL || e->level == XML_ERR_WARNING)
		return;
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "error");
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == ' ')
		msg[--n] = '\0';
	switch (e->code) {
	case XML_ERR_UNDECLARED_ENTITY:
	case XML_WAR_UNDECLARED_ENTITY:
	case XML_ERR_ENTITY_LOOP:
	case XML_ERR_ENTITY_BOUNDARY:
	case XML_ERR_ENTITY_PE_INTERNAL:
		rule = "entity";
		break;
	case XML_ERR_UNSUPPORTED_ENCODING:
	case XML_ERR_INVALID_ENCODING:
	case XML_ERR_UNKNOWN_ENCODING:
		rule = "encoding";
		break;
	default:
		break;
	}
	ax_fail(st, rule, NULL, "libxml2 error %d at line %d: %s", e->code,
	    e->line, msg);
}

/* ---- before libxml2 sees a byte: BOM, declaration, encoding, prolog */

/* Line of offset off in buf (1-based). */
static unsigned
ax_line_at(const char *buf, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

/* Offset of the first byte that is not strict UTF-8, or len. */
static size_t
ax_utf8_bad(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], cp, l;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			l = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			l = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			l = 4, cp = c & 0x07;
		else
			return i;
		if (len - i < l)
			return i;
		for (unsigned k = 1; k < l; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return i;
		i += l;
	}
	return len;
}

/* Value of a pseudo-attribute in the XML declaration decl (NUL-ended). */
static int
ax_decl_attr(const char *decl, const char *key, char *val, size_t vlen)
{
	const char *p = decl;
	size_t kl = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		const char *q = p + kl;
		char quote;
		size_t n = 0;

		if (p > decl && !ax_isspace((unsigned char)p[-1])) {
			p = q;
			continue;
		}
		while (ax_isspace((unsigned char)*q))
			q++;
		if (*q++ != '=')
			return -1;
		while (ax_isspace((unsigned char)*q))
			q++;
		if (*q != '\'' && *q != '"')
			return -1;
		quote = *q++;
		while (q[n] != quote && q[n] != '\0')
			n++;
		if (q[n] != quote || n >= vlen)
			return -1;
		memcpy(val, q, n);
		val[n] = '\0';
		return 1;
	}
	return 0;
}

enum ax_enc { AX_UTF8, AX_LATIN1, AX_ASCII };

static int
ax_prescan(const char *buf, size_t len, struct ax_state *st)
{
	const unsigned char *u = (const unsigned char *)buf;
	enum ax_enc enc = AX_UTF8;
	size_t pos = 0, bad;
	const char *nul;
	int bom = 0;

	if (len == 0) {
		ax_fail(st, "wellformed", NULL, "empty document");
		return -1;
	}
	if (len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) ||
	    (u[0] == 0xfe && u[1] == 0xff))) {
		ax_fail(st, "encoding", NULL, "UTF-16 byte order mark: only "
		    "UTF-8, ISO-8859-1 and US-ASCII are accepted");
		return -1;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		snprintf(st->err, st->errlen, "rule=encoding line=%u NUL byte "
		    "(UTF-16/32 or binary data are not accepted)",
		    ax_line_at(buf, nul - buf));
		st->failed = 1;
		return -1;
	}
	if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
		pos = 3, bom = 1;
	if (len - pos >= 6 && memcmp(buf + pos, "<?xml", 5) == 0 &&
	    ax_isspace(u[pos + 5])) {
		const char *end = memmem(buf + pos, len - pos > 512 ? 512 :
		    len - pos, "?>", 2);
		char decl[520], val[64];
		size_t dl;
		int r;

		if (end == NULL) {
			ax_fail(st, "wellformed", NULL, "XML declaration not "
			    "closed within 512 bytes");
			return -1;
		}
		dl = end - (buf + pos);
		memcpy(decl, buf + pos + 5, dl - 5);
		decl[dl - 5] = '\0';
		if ((r = ax_decl_attr(decl, "encoding", val, sizeof(val))) ==
		    -1) {
			ax_fail(st, "encoding", NULL, "malformed encoding "
			    "declaration");
			return -1;
		}
		if (r == 1) {
			if (!strcasecmp(val, "UTF-8"))
				enc = AX_UTF8;
			else if (!strcasecmp(val, "ISO-8859-1"))
				enc = AX_LATIN1;
			else if (!strcasecmp(val, "US-ASCII"))
				enc = AX_ASCII;
			else {
				char q[64];

				ax_quote(q, sizeof(q), val, strlen(val), 40);
				ax_fail(st, "encoding", NULL, "encoding \"%s\" "
				    "is not accepted (UTF-8, ISO-8859-1, "
				    "US-ASCII only)", q);
				return -1;
			}
		}
		if (bom && enc != AX_UTF8) {
			ax_fail(st, "encoding", NULL, "UTF-8 byte order mark "
			    "with a declaration of another encoding");
			return -1;
		}
		pos += dl + 2;
	}
	for (size_t i = 0; i < len; i++)
		if (u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' &&
		    u[i] != '\r') {
			snprintf(st->err, st->errlen, "rule=control line=%u raw "
			    "control character 0x%02x (not allowed in XML)",
			    ax_line_at(buf, i), u[i]);
			st->failed = 1;
			return -1;
		}
	if (enc == AX_UTF8 &&
	    (bad = ax_utf8_bad(u, len)) != len) {
		snprintf(st->err, st->errlen, "rule=encoding line=%u bytes "
		    "that are not UTF-8 in a file declared (or defaulting to) "
		    "UTF-8", ax_line_at(buf, bad));
		st->failed = 1;
		return -1;
	}
	if (enc == AX_ASCII)
		for (size_t i = 0; i < len; i++)
			if (u[i] >= 0x80) {
				snprintf(st->err, st->errlen, "rule=encoding "
				    "line=%u a byte above 127 in a file "
				    "declared US-ASCII", ax_line_at(buf, i));
				st->failed = 1;
				return -1;
			}
	/* The prolog: white space and comments only, no DOCTYPE, no PI. */
	for (;;) {
		while (pos < len && ax_isspace(u[pos]))
			pos++;
		if (len - pos >= 4 && memcmp(buf + pos, "<!--", 4) == 0) {
			const char *e = memmem(buf + pos + 4, len - pos - 4,
			    "-->", 3);

			if (e == NULL)
				break;	/* libxml2 reports it */
			pos = e + 3 - buf;
			continue;
		}
		if (len - pos >= 2 && memcmp(buf + pos, "<?", 2) == 0) {
			snprintf(st->err, st->errlen, "rule=pi line=%u "
			    "processing instructions are not allowed",
			    ax_line_at(buf, pos));
			st->failed = 1;
			return -1;
		}
		if (len - pos >= 9 && memcmp(buf + pos, "<!DOCTYPE", 9) == 0) {
			snprintf(st->err, st->errlen, "rule=doctype line=%u a "
			    "DOCTYPE is not allowed (no DTD, no entities)",
			    ax_line_at(buf, pos));
			st->failed = 1;
			return -1;
		}
		break;
	}
	if (pos >= len || buf[pos] != '<') {
		snprintf(st->err, st->errlen, "rule=wellformed line=%u no root "
		    "element", ax_line_at(buf, pos < len ? pos : len));
		st->failed = 1;
		return -1;
	}
	return 0;
}

const char *
agentxml_rule(const char *why, char *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (why == NULL || strncmp(why, "rule=", 5) != 0)
		return buf;
	why += 5;
	while (why[n] != '\0' && why[n] != ' ' && n + 1 < len)
		n++;
	memcpy(buf, why, n);
	buf[n] = '\0';
	return buf;
}

void
agentxml_free(struct agent_data *ad)
{
	if (ad != NULL)
		ax_arena_free(ad->arena);
}

int
agentxml_parse(const char *buf, size_t len, const struct agentxml_limits *lim,
    struct agent_data **out, char *why, size_t whylen)
{
	static const xmlSAXHandler sax = {
		.initialized = XML_SAX2_MAGIC,
		.startElementNs = ax_start,
		.endElementNs = ax_end,
		.characters = ax_characters,
		.ignorableWhitespace = ax_characters,
		.cdataBlock = ax_characters,
		.processingInstruction = ax_pi,
		.internalSubset = ax_subset,
		.externalSubset = ax_subset,
		.serror = ax_serror,
	};
	struct agentxml_limits dl;
	struct ax_state *st;
	struct ax_arena *arena;
	xmlParserCtxtPtr ctxt = NULL;
	xmlParserInputBufferPtr ib;
	xmlParserInputPtr in;
	int rc = -1;

	*out = NULL;
	if (whylen > 0)
		why[0] = '\0';
	if (lim == NULL) {
		agentxml_limits_default(&dl);
		lim = &dl;
	}
	st = xcalloc(1, sizeof(*st));
	st->lim = lim;
	st->err = why;
	st->errlen = whylen;
	arena = xcalloc(1, sizeof(*arena));
	st->arena = arena;
	st->ad = ax_zalloc(arena, sizeof(*st->ad));
	st->ad->arena = arena;
	st->mod_tail = &st->ad->modules;
	st->cf_tail = &st->ad->custom_fields;
	st->ev_tail = &st->ad->events;
	st->attr_tail = &st->ad->attrs;
	st->inv_tail = &st->ad->inventory;
	st->log_tail = &st->ad->logs;
	st->cmd_tail = &st->ad->cmds;
	st->stack[0].kind = K_DOC;
	st->stack[0].name = "";
	if (len > lim->max_size) {
		snprintf(why, whylen, "rule=size line=0 %zu bytes of XML "
		    "exceed the limit of %zu", len, lim->max_size);
		goto done;
	}
	if (len > INT_MAX || ax_prescan(buf, len, st) == -1)
		goto done;
	if ((ctxt = xmlNewParserCtxt()) == NULL) {
		snprintf(why, whylen, "rule=internal line=0 out of memory");
		goto done;
	}
	memcpy(ctxt->sax, &sax, sizeof(sax));
	ctxt->userData = st;
	st->ctxt = ctxt;
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOXINCNODE);
	ctxt->replaceEntities = 0;
	ctxt->loadsubset = 0;
	ctxt->validate = 0;
	ib = xmlParserInputBufferCreateMem(buf, (int)len,
	    XML_CHAR_ENCODING_NONE);
	if (ib == NULL || (in = xmlNewIOInputStream(ctxt, ib,
	    XML_CHAR_ENCODING_NONE)) == NULL) {
		if (ib != NULL)
			xmlFreeParserInputBuffer(ib);
		snprintf(why, whylen, "rule=internal line=0 out of memory");
		goto done;
	}
	if (inputPush(ctxt, in) < 0) {
		xmlFreeInputStream(in);
		snprintf(why, whylen, "rule=internal line=0 out of memory");
		goto done;
	}
	(void)xmlParseDocument(ctxt);
	if (!st->failed && !ctxt->wellFormed)
		ax_fail(st, "wellformed", NULL, "not well-formed");
	if (!st->failed && st->ad->attr[AX_A_AGENT_NAME] == NULL &&
	    st->ad->agent_name == NULL)
		ax_fail(st, "agent_name", "agent_name", "the root has no "
		    "agent_name attribute");
	if (st->failed)
		goto done;
	*out = st->ad;
	rc = 0;
done:
	if (ctxt != NULL) {
		ctxt->userData = ctxt;
		xmlFreeParserCtxt(ctxt);
	}
	free(st->text);
	if (rc == -1)
		ax_arena_free(arena);
	free(st);
	return rc;
}
