/* SPDX-License-Identifier: ISC */
/* Pandora FMS data-server rules as pure functions (pandora.h). */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pandora.h"
#include "xalloc.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* UTF-8                                                              */

/* Decode one character at s (n bytes left): its length, or 0 if the
 * bytes are not UTF-8 (then the byte counts as itself). */
static size_t
u8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], v;
	size_t l;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		l = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		l = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		l = 4, v = c & 0x07;
	else
		return 0;
	if (n < l)
		return 0;
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if ((l == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (l == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return l;
}

static size_t
u8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = 0xc0 | (cp >> 6);
		out[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = 0xe0 | (cp >> 12);
		out[1] = 0x80 | ((cp >> 6) & 0x3f);
		out[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	out[0] = 0xf0 | (cp >> 18);
	out[1] = 0x80 | ((cp >> 12) & 0x3f);
	out[2] = 0x80 | ((cp >> 6) & 0x3f);
	out[3] = 0x80 | (cp & 0x3f);
	return 4;
}

size_t
pandora_utf8_cut(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	if (len <= max)
		return len;
	n = max;
	/* Back up over continuation bytes to the start of a character. */
	while (n > 0 && (u[n] & 0xc0) == 0x80)
		n--;
	return n;
}

size_t
pandora_entity_cut(const char *s, size_t len, size_t max)
{
	size_t n = pandora_utf8_cut(s, len, max), k;

	if (n == len)
		return n;
	/* The longest entity safe_input writes is "&thetasym;" (10). */
	for (k = n; k > 0 && n - k < 12; k--) {
		if (s[k - 1] == ';')
			break;
		if (s[k - 1] == '&')
			return k - 1;	/* "&..." cut short: drop it */
	}
	return n;
}

size_t
pandora_utf8_cut_chars(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, chars = 0;

	while (i < len && chars < max) {
		uint32_t cp;
		size_t l = u8_decode(u + i, len - i, &cp);

		i += l ? l : 1;
		chars++;
	}
	return i;
}

/* ------------------------------------------------------------------ */
/* safe_input / safe_output                                           */

/* The server's entity table (PandoraFMS::Tools %ENT2CHR), from 0x100. */
struct ent {
	uint32_t	 cp;
	const char	*name;
};

static const struct ent ent_latin1[] = {
	{ 193, "Aacute" }, { 196, "Auml" }, { 201, "Eacute" },
	{ 203, "Euml" }, { 205, "Iacute" }, { 207, "Iuml" },
	{ 209, "Ntilde" }, { 211, "Oacute" }, { 214, "Ouml" },
	{ 218, "Uacute" }, { 220, "Uuml" }, { 225, "aacute" },
	{ 228, "auml" }, { 233, "eacute" }, { 235, "euml" },
	{ 237, "iacute" }, { 239, "iuml" }, { 241, "ntilde" },
	{ 243, "oacute" }, { 246, "ouml" }, { 250, "uacute" },
	{ 252, "uuml" },
};

/* Sorted by code point. */
static const struct ent ent_multi[] = {
	{ 338, "OElig" }, { 339, "oelig" }, { 352, "Scaron" },
	{ 353, "scaron" }, { 376, "Yuml" }, { 402, "fnof" },
	{ 710, "circ" }, { 732, "tilde" },
	{ 913, "Alpha" }, { 914, "Beta" }, { 915, "Gamma" },
	{ 916, "Delta" }, { 917, "Epsilon" }, { 918, "Zeta" },
	{ 919, "Eta" }, { 920, "Theta" }, { 921, "Iota" },
	{ 922, "Kappa" }, { 923, "Lambda" }, { 924, "Mu" },
	{ 925, "Nu" }, { 926, "Xi" }, { 927, "Omicron" }, { 928, "Pi" },
	{ 929, "Rho" }, { 931, "Sigma" }, { 932, "Tau" },
	{ 933, "Upsilon" }, { 934, "Phi" }, { 935, "Chi" },
	{ 936, "Psi" }, { 937, "Omega" },
	{ 945, "alpha" }, { 946, "beta" }, { 947, "gamma" },
	{ 948, "delta" }, { 949, "epsilon" }, { 950, "zeta" },
	{ 951, "eta" }, { 952, "theta" }, { 953, "iota" },
	{ 954, "kappa" }, { 955, "lambda" }, { 956, "mu" },
	{ 957, "nu" }, { 958, "xi" }, { 959, "omicron" }, { 960, "pi" },
	{ 961, "rho" }, { 962, "sigmaf" }, { 963, "sigma" },
	{ 964, "tau" }, { 965, "upsilon" }, { 966, "phi" },
	{ 967, "chi" }, { 968, "psi" }, { 969, "omega" },
	{ 977, "thetasym" }, { 978, "upsih" }, { 982, "piv" },
	{ 8194, "ensp" }, { 8195, "emsp" }, { 8201, "thinsp" },
	{ 8204, "zwnj" }, { 8205, "zwj" }, { 8206, "lrm" },
	{ 8207, "rlm" }, { 8211, "ndash" }, { 8212, "mdash" },
	{ 8216, "lsquo" }, { 8217, "rsquo" }, { 8218, "sbquo" },
	{ 8220, "ldquo" }, { 8221, "rdquo" }, { 8222, "bdquo" },
	{ 8224, "dagger" }, { 8225, "Dagger" }, { 8226, "bull" },
	{ 8230, "hellip" }, { 8240, "permil" }, { 8242, "prime" },
	{ 8243, "Prime" }, { 8249, "lsaquo" }, { 8250, "rsaquo" },
	{ 8254, "oline" }, { 8260, "frasl" }, { 8364, "euro" },
	{ 8465, "image" }, { 8472, "weierp" }, { 8476, "real" },
	{ 8482, "trade" }, { 8501, "alefsym" }, { 8592, "larr" },
	{ 8593, "uarr" }, { 8594, "rarr" }, { 8595, "darr" },
	{ 8596, "harr" }, { 8629, "crarr" }, { 8656, "lArr" },
	{ 8657, "uArr" }, { 8658, "rArr" }, { 8659, "dArr" },
	{ 8660, "hArr" }, { 8704, "forall" }, { 8706, "part" },
	{ 8707, "exist" }, { 8709, "empty" }, { 8711, "nabla" },
	{ 8712, "isin" }, { 8713, "notin" }, { 8715, "ni" },
	{ 8719, "prod" }, { 8721, "sum" }, { 8722, "minus" },
	{ 8727, "lowast" }, { 8730, "radic" }, { 8733, "prop" },
	{ 8734, "infin" }, { 8736, "ang" }, { 8743, "and" },
	{ 8744, "or" }, { 8745, "cap" }, { 8746, "cup" },
	{ 8747, "int" }, { 8756, "there4" }, { 8764, "sim" },
	{ 8773, "cong" }, { 8776, "asymp" }, { 8800, "ne" },
	{ 8801, "equiv" }, { 8804, "le" }, { 8805, "ge" },
	{ 8834, "sub" }, { 8835, "sup" }, { 8836, "nsub" },
	{ 8838, "sube" }, { 8839, "supe" }, { 8853, "oplus" },
	{ 8855, "otimes" }, { 8869, "perp" }, { 8901, "sdot" },
	{ 8968, "lceil" }, { 8969, "rceil" }, { 8970, "lfloor" },
	{ 8971, "rfloor" }, { 9001, "lang" }, { 9002, "rang" },
	{ 9674, "loz" }, { 9824, "spades" }, { 9827, "clubs" },
	{ 9829, "hearts" }, { 9830, "diams" },
};

static int
ent_cmp(const void *k, const void *e)
{
	uint32_t a = *(const uint32_t *)k, b = ((const struct ent *)e)->cp;

	return a < b ? -1 : a > b;
}

/* The entity for cp in buf ("&#x20;", "&amp;"), or 0 if none. */
static size_t
ent_of(uint32_t cp, char *buf, size_t len)
{
	const struct ent *e;
	const char *name = NULL;

	if ((cp <= 0x20 && cp != '\n') || (cp >= 0x80 && cp <= 0xbe))
		return snprintf(buf, len, "&#x%02x;", (unsigned)cp);
	switch (cp) {
	case '"':
		name = "quot";
		break;
	case '&':
		name = "amp";
		break;
	case '\'':
		name = "#039";
		break;
	case '(':
		name = "#40";
		break;
	case ')':
		name = "#41";
		break;
	case '<':
		name = "lt";
		break;
	case '>':
		name = "gt";
		break;
	case '\\':
		name = "#92";
		break;
	default:
		break;
	}
	if (name == NULL && cp >= 0xc0 && cp <= 0xff) {
		for (size_t i = 0; i < NELEM(ent_latin1); i++)
			if (ent_latin1[i].cp == cp)
				name = ent_latin1[i].name;
	} else if (name == NULL && cp >= 0x100 &&
	    (e = bsearch(&cp, ent_multi, NELEM(ent_multi), sizeof(*e),
	    ent_cmp)) != NULL)
		name = e->name;
	if (name == NULL)
		return 0;
	return snprintf(buf, len, "&%s;", name);
}

/* A growing output buffer. */
struct obuf {
	char	*p;
	size_t	 len, cap;
};

static void
ob_put(struct obuf *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 64;

		while (cap < o->len + n + 1)
			cap *= 2;
		o->p = xreallocarray(o->p, cap, 1);
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static char *
ob_done(struct obuf *o, size_t *outlen)
{
	if (o->p == NULL)
		ob_put(o, "", 0);
	if (outlen != NULL)
		*outlen = o->len;
	return o->p;
}

char *
pandora_safe_input(const char *s, size_t len, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	struct obuf o = { NULL, 0, 0 };
	char ent[16];
	size_t i = 0;

	ob_put(&o, "", 0);
	while (i < len) {
		uint32_t cp;
		size_t l = u8_decode(u + i, len - i, &cp), n;

		if (l == 0) {
			/* Not UTF-8: the byte is copied, never guessed at. */
			ob_put(&o, s + i, 1);
			i++;
			continue;
		}
		if ((n = ent_of(cp, ent, sizeof(ent))) > 0)
			ob_put(&o, ent, n);
		else
			ob_put(&o, s + i, l);
		i += l;
	}
	return ob_done(&o, outlen);
}

/* The code point of a named entity of the table, or -1. */
static long
ent_named(const char *name, size_t n)
{
	static const struct { const char *name; uint32_t cp; } ascii[] = {
		{ "quot", '"' }, { "amp", '&' }, { "lt", '<' }, { "gt", '>' },
	};

	for (size_t i = 0; i < NELEM(ascii); i++)
		if (strlen(ascii[i].name) == n &&
		    memcmp(ascii[i].name, name, n) == 0)
			return ascii[i].cp;
	for (size_t i = 0; i < NELEM(ent_latin1); i++)
		if (strlen(ent_latin1[i].name) == n &&
		    memcmp(ent_latin1[i].name, name, n) == 0)
			return ent_latin1[i].cp;
	for (size_t i = 0; i < NELEM(ent_multi); i++)
		if (strlen(ent_multi[i].name) == n &&
		    memcmp(ent_multi[i].name, name, n) == 0)
			return ent_multi[i].cp;
	return -1;
}

char *
pandora_safe_output(const char *s, size_t len, size_t *outlen)
{
	struct obuf o = { NULL, 0, 0 };
	size_t i = 0;

	ob_put(&o, "", 0);
	while (i < len) {
		const char *semi;
		long cp = -1;
		size_t n;

		if (s[i] != '&' || (semi = memchr(s + i, ';', len - i > 12 ?
		    12 : len - i)) == NULL) {
			ob_put(&o, s + i, 1);
			i++;
			continue;
		}
		n = semi - (s + i + 1);	/* between & and ; */
		if (n >= 2 && s[i + 1] == '#') {
			const char *p = s + i + 2, *end = semi;
			int hex = 0;
			long v = 0;

			if (*p == 'x' || *p == 'X')
				hex = 1, p++;
			if (p < end) {
				for (; p < end; p++) {
					int d;

					if (*p >= '0' && *p <= '9')
						d = *p - '0';
					else if (hex &&
					    isxdigit((unsigned char)*p))
						d = tolower((unsigned char)*p) -
						    'a' + 10;
					else
						break;
					v = v * (hex ? 16 : 10) + d;
					if (v > 0x10ffff)
						break;
				}
				if (p == end && !(v >= 0xd800 && v <= 0xdfff))
					cp = v;
			}
		} else if (n > 0)
			cp = ent_named(s + i + 1, n);
		if (cp < 0) {
			ob_put(&o, s + i, 1);
			i++;
			continue;
		}
		{
			char u[4];

			ob_put(&o, u, u8_encode((uint32_t)cp, u));
		}
		i = semi - s + 1;
	}
	return ob_done(&o, outlen);
}

char *
pandora_html_escape(const char *s, size_t len, size_t *outlen)
{
	struct obuf o = { NULL, 0, 0 };

	ob_put(&o, "", 0);
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			ob_put(&o, "&amp;", 5);
			break;
		case '<':
			ob_put(&o, "&lt;", 4);
			break;
		case '>':
			ob_put(&o, "&gt;", 4);
			break;
		case '"':
			ob_put(&o, "&quot;", 6);
			break;
		case '\'':
			ob_put(&o, "&#039;", 6);
			break;
		default:
			ob_put(&o, s + i, 1);
			break;
		}
	}
	return ob_done(&o, outlen);
}

/* ------------------------------------------------------------------ */
/* values                                                             */

int
pandora_is_numeric(const char *s)
{
	size_t i = 0, nd = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	while (isdigit((unsigned char)s[i]))
		i++, nd++;
	if (s[i] == '.' || s[i] == ',') {
		i++;
		while (isdigit((unsigned char)s[i]))
			i++, nd++;
	}
	return nd > 0 && s[i] == '\0';
}

int
pandora_os_id(const char *os)
{
	static const struct { const char *sub; int id; } rules[] = {
		{ "Windows", 9 }, { "Cisco", 7 }, { "SunOS", 2 },
		{ "Solaris", 2 }, { "AIX", 3 }, { "HP-UX", 5 },
		{ "Apple", 8 }, { "Darwin", 8 }, { "android", 15 },
		{ "Linux", 1 }, { "Enterasys", 11 }, { "3com", 11 },
		{ "Octopods", 13 }, { "embedded", 14 }, { "BSD", 4 },
	};

	if (os == NULL || *os == '\0')
		return 10;
	for (size_t i = 0; i < NELEM(rules); i++)
		if (strcasestr(os, rules[i].sub) != NULL)
			return rules[i].id;
	return 10;	/* Other */
}

double
pandora_post_process(double v, double pp)
{
	return pp != 0 ? v * pp : v;
}

int
pandora_check_min_max(double v, double min, double max)
{
	if (max != min && (v > max || v < min)) {
		/* max < min: only one bound is set (the other is 0). */
		if (max < min && !((max == 0 && v < min) ||
		    (min == 0 && v > max)))
			return 1;
		return 0;
	}
	return 1;
}

int
pandora_format(double v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%.5f", v);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
pandora_event_value(const char *data, int prec, char *buf, size_t len)
{
	char tmp[400];
	int n;

	if (!pandora_is_numeric(data)) {
		n = snprintf(buf, len, "%s", data);
		return n < 0 || (size_t)n >= len ? -1 : n;
	}
	{
		char num[64];
		size_t k;

		strlcpy(num, data, sizeof(num));
		for (k = 0; num[k]; k++)
			if (num[k] == ',')
				num[k] = '.';
		n = snprintf(tmp, sizeof(tmp), "%.*f", prec, strtod(num, NULL));
	}
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	/* As the server: s/0+$//, then s/\.+$//. */
	while (n > 0 && tmp[n - 1] == '0')
		tmp[--n] = '\0';
	while (n > 0 && tmp[n - 1] == '.')
		tmp[--n] = '\0';
	if ((size_t)n >= len)
		return -1;
	memcpy(buf, tmp, n + 1);
	return n;
}

/* ------------------------------------------------------------------ */
/* incremental                                                        */

int
pandora_inc(int abs, int have_prev, double prev, long long prev_t,
    double v, long long t, double *out)
{
	if (!have_prev)
		return PANDORA_INC_FIRST;
	if (t < prev_t)
		return PANDORA_INC_OLD;
	if (t == prev_t)
		return PANDORA_INC_SAME;
	if (v < prev)
		return PANDORA_INC_RESET;
	*out = abs ? v - prev : (v - prev) / (double)(t - prev_t);
	return PANDORA_INC_OK;
}

/* ------------------------------------------------------------------ */
/* status                                                             */

static int
ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

int
pandora_type_is_string(const char *t)
{
	return strstr(t, "_string") != NULL;
}

int
pandora_type_is_proc(const char *t)
{
	return ends_with(t, "_proc");
}

int
pandora_type_is_async(const char *t)
{
	return strstr(t, "async") != NULL;
}

int
pandora_type_is_inc(const char *t)
{
	return ends_with(t, "_inc");
}

int
pandora_type_is_inc_abs(const char *t)
{
	return ends_with(t, "_inc_abs");
}

/* Does v fall in the window (status if so, else -1)? */
static int
window(double v, double min, double max, int inverse, int status)
{
	if (min == max)
		return -1;
	if (inverse) {
		if (max < min) {
			if (v < min)
				return status;
		} else if (v < min || v >= max)
			return status;
	} else {
		if (v >= min && v < max)
			return status;
		if (v >= min && max < min)
			return status;
	}
	return -1;
}

/* Percentage thresholds: the window relative to the previous value. */
static void
percentage(double last, double *min, double *max, int *inverse)
{
	if (*max != 0 && *min != 0) {
		*max = last * (1 + *max / 100.0);
		*min = last * (1 - *min / 100.0);
		*inverse = 1;
	} else if (*min != 0) {
		*max = last * (1 - *min / 100.0);
		*min = 0;
		*inverse = 0;
	} else if (*max != 0) {
		*min = last * (1 + *max / 100.0);
		*max = 0;
		*inverse = 0;
	}
}

int
pandora_status(const char *type, int xml_status,
    const struct pandora_thresholds *t, double num, const char *str,
    size_t len, double last)
{
	double cmin = t->min_critical, cmax = t->max_critical;
	double wmin = t->min_warning, wmax = t->max_warning;
	int cinv = t->critical_inverse, winv = t->warning_inverse, r;

	if (t->budget != NULL)
		t->budget->last_critical = t->budget->last_warning =
		    PANDORA_RE_NOMATCH;
	if (xml_status == PANDORA_NORMAL || xml_status == PANDORA_CRITICAL ||
	    xml_status == PANDORA_WARNING)
		return xml_status;
	if (t->percentage_critical)
		percentage(last, &cmin, &cmax, &cinv);
	if (t->percentage_warning)
		percentage(last, &wmin, &wmax, &winv);
	if ((pandora_type_is_proc(type) || strstr(type, "web_analysis") !=
	    NULL || strstr(type, "keep_alive") != NULL) && cmin == cmax) {
		cmin = 0;
		cmax = 1;
	}
	if (!pandora_type_is_string(type)) {
		if ((r = window(num, cmin, cmax, cinv, PANDORA_CRITICAL)) != -1)
			return r;
		if ((r = window(num, wmin, wmax, winv, PANDORA_WARNING)) != -1)
			return r;
		return PANDORA_NORMAL;
	}
	/* A rule that could not be decided (invalid, a limit, the budget)
	 * does not fire, inverted or not: it is no threshold. */
	if (t->str_critical != NULL) {
		r = pandora_re_match(t->str_critical, str, len, t->max_subject,
		    t->budget);
		if (t->budget != NULL)
			t->budget->last_critical = r;
		if (r >= 0 && (cinv ? r == 0 : r == 1))
			return PANDORA_CRITICAL;
	}
	if (t->str_warning != NULL) {
		r = pandora_re_match(t->str_warning, str, len, t->max_subject,
		    t->budget);
		if (t->budget != NULL)
			t->budget->last_warning = r;
		if (r >= 0 && (winv ? r == 0 : r == 1))
			return PANDORA_WARNING;
	}
	return PANDORA_NORMAL;
}

/* generate_status_event: which event a change to s raises. */
static void
status_event(struct pandora_transition *out, int s, int known)
{
	out->validate = 1;	/* older events of the module */
	switch (s) {
	case PANDORA_NORMAL:
		/* Not from not-init: a new module's first data is quiet. */
		out->event = known == PANDORA_NOTINIT ? PANDORA_EV_NONE :
		    PANDORA_EV_GOING_DOWN_NORMAL;
		break;
	case PANDORA_CRITICAL:
		out->event = PANDORA_EV_GOING_UP_CRITICAL;
		break;
	case PANDORA_WARNING:
		out->event = known == PANDORA_CRITICAL ?
		    PANDORA_EV_GOING_DOWN_WARNING : PANDORA_EV_GOING_UP_WARNING;
		break;
	default:
		out->event = PANDORA_EV_NONE;
		break;
	}
}

void
pandora_apply(struct pandora_estado *st, int new_status,
    const struct pandora_ff *ff, int is_async, long long t, long interval,
    struct pandora_transition *out)
{
	unsigned min = ff->min_ff_event, ffn = st->ff_normal,
	    ffw = st->ff_warning, ffc = st->ff_critical;
	unsigned long sc = st->status_changes;
	int status = st->estado, known = st->known_status;
	long long ff_start = st->ff_start_utimestamp;

	memset(out, 0, sizeof(*out));
	out->current_interval = interval;
	if (ff->each_ff) {
		if (new_status == PANDORA_NORMAL)
			min = ff->min_ff_event_normal;
		else if (new_status == PANDORA_CRITICAL)
			min = ff->min_ff_event_critical;
		else if (new_status == PANDORA_WARNING)
			min = ff->min_ff_event_warning;
	}
	if (st->last_known_status == new_status) {
		/* Avoid overflows. */
		if (sc > min && ff->ff_type == 0)
			sc = min;
		sc++;
		if (is_async && min != 0 && ff->ff_timeout != 0 &&
		    t - ff_start > (long long)ff->ff_timeout) {
			if (ff->ff_type == 0)
				sc = 0;
			ff_start = t;
			ffn = ffw = ffc = 0;
		}
	} else {
		if (ff->ff_type == 0)
			sc = 0;
		if (is_async)
			ff_start = t;
	}
	if (ff->ff_type == 0) {
		if (ff->module_ff_interval != 0 && sc < min)
			out->current_interval = ff->module_ff_interval;
		if (sc >= min && known != new_status) {
			status_event(out, new_status, known);
			status = new_status;
			st->last_status_change = t;
			out->changed = 1;
		}
	} else {
		if (new_status == PANDORA_CRITICAL)
			ffc++;
		if (new_status == PANDORA_WARNING)
			ffw++;
		if (new_status == PANDORA_NORMAL)
			ffn++;
		if ((new_status != status && new_status == PANDORA_NORMAL &&
		    ffn > min) ||
		    (new_status == PANDORA_CRITICAL && ffc > min) ||
		    (new_status == PANDORA_WARNING && ffw > min)) {
			status_event(out, new_status, known);
			status = new_status;
			st->last_status_change = t;
			out->changed = 1;
			ffn = ffw = ffc = 0;
		} else {
			if (new_status == PANDORA_NORMAL && ffn > min)
				ffn = 0;
			if (ff->module_ff_interval != 0 && min > 0 &&
			    st->last_known_status != status)
				out->current_interval = ff->module_ff_interval;
		}
	}
	if (status == PANDORA_NOTINIT) {
		/* Normal on the first data, whatever min_ff_event says. */
		struct pandora_transition tmp;

		memset(&tmp, 0, sizeof(tmp));
		status_event(&tmp, PANDORA_NORMAL, known);
		out->event = tmp.event;
		out->validate = 1;
		status = PANDORA_NORMAL;
		st->last_status_change = t;
		out->changed = 1;
	} else if (status == PANDORA_UNKNOWN) {
		struct pandora_transition tmp;

		memset(&tmp, 0, sizeof(tmp));
		status_event(&tmp, known, known);
		out->event = tmp.event;
		out->validate = 1;
		status = known;
		st->last_status_change = t;
		ffn = ffw = ffc = 0;
		out->changed = 1;
	}
	st->estado = status;
	st->known_status = status;
	st->last_status = new_status;
	st->last_known_status = new_status;
	st->status_changes = sc > 255 ? 255 : (unsigned)sc;
	st->ff_start_utimestamp = ff_start;
	st->ff_normal = ffn;
	st->ff_warning = ffw;
	st->ff_critical = ffc;
}

const char *
pandora_event_type(enum pandora_event e)
{
	switch (e) {
	case PANDORA_EV_GOING_UP_CRITICAL:
		return "going_up_critical";
	case PANDORA_EV_GOING_UP_WARNING:
		return "going_up_warning";
	case PANDORA_EV_GOING_DOWN_WARNING:
		return "going_down_warning";
	case PANDORA_EV_GOING_DOWN_NORMAL:
		return "going_down_normal";
	default:
		return "";
	}
}

int
pandora_event_criticity(enum pandora_event e)
{
	switch (e) {
	case PANDORA_EV_GOING_UP_CRITICAL:
		return 4;
	case PANDORA_EV_GOING_UP_WARNING:
	case PANDORA_EV_GOING_DOWN_WARNING:
		return 3;
	case PANDORA_EV_GOING_DOWN_NORMAL:
		return 2;
	default:
		return 0;
	}
}

const char *
pandora_event_text(enum pandora_event e)
{
	switch (e) {
	case PANDORA_EV_GOING_UP_CRITICAL:
		return "Module '_module_' is going to CRITICAL (_data_)";
	case PANDORA_EV_GOING_UP_WARNING:
	case PANDORA_EV_GOING_DOWN_WARNING:
		return "Module '_module_' is going to WARNING (_data_)";
	case PANDORA_EV_GOING_DOWN_NORMAL:
		return "Module '_module_' is going to NORMAL (_data_)";
	default:
		return "";
	}
}
