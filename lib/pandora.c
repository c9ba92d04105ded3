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
	if (t->str_critical != NULL) {
		r = pandora_re_match(t->str_critical, str, len, t->max_subject);
		if (r >= 0 && (cinv ? r == 0 : r == 1))
			return PANDORA_CRITICAL;
	}
	if (t->str_warning != NULL) {
		r = pandora_re_match(t->str_warning, str, len, t->max_subject);
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

/* ------------------------------------------------------------------ */
/* regular expressions: a Thompson NFA over code points               */

enum re_op {
	RE_CHAR, RE_ANY, RE_CLASS, RE_SPLIT, RE_JMP, RE_MATCH,
	RE_BOL, RE_EOL, RE_EOS, RE_WORDB, RE_NWORDB
};

struct re_inst {
	unsigned char	 op;
	uint32_t	 c;		/* code point, or class index */
	int		 x, y;		/* RE_SPLIT, RE_JMP targets */
};

#define CL_DIGIT	0x01
#define CL_NDIGIT	0x02
#define CL_SPACE	0x04
#define CL_NSPACE	0x08
#define CL_WORD		0x10
#define CL_NWORD	0x20

struct re_class {
	int		 negate;
	int		 flags;
	size_t		 n, cap;
	uint32_t	*lo, *hi;
};

enum re_node_kind {
	ND_EMPTY, ND_CHAR, ND_ANY, ND_CLASS, ND_CAT, ND_ALT, ND_REPEAT,
	ND_BOL, ND_EOL, ND_EOS, ND_WORDB, ND_NWORDB
};

#define RE_INF	(-1)

struct re_node {
	enum re_node_kind kind;
	uint32_t	 c;		/* char or class index */
	int		 min, max;	/* ND_REPEAT; max RE_INF */
	struct re_node	*l, *r;
};

struct pandora_re {
	struct re_inst	*prog;
	int		 nprog;
	struct re_class	*cls;
	size_t		 ncls;
};

struct re_parse {
	const unsigned char *p, *end;
	const char	*why;
	struct re_node	*nodes;
	size_t		 nnodes, capnodes;
	struct re_class	*cls;
	size_t		 ncls, capcls;
};

static struct re_node *
re_node(struct re_parse *ps, enum re_node_kind k, struct re_node *l,
    struct re_node *r)
{
	struct re_node *n;

	if (ps->nnodes == ps->capnodes) {
		/* Nodes are referenced by pointer: never reallocate. */
		ps->why = "pattern too complex";
		return NULL;
	}
	n = &ps->nodes[ps->nnodes++];
	memset(n, 0, sizeof(*n));
	n->kind = k;
	n->l = l;
	n->r = r;
	return n;
}

static int
re_newclass(struct re_parse *ps)
{
	struct re_class *c;

	if (ps->ncls == ps->capcls) {
		ps->capcls = ps->capcls ? ps->capcls * 2 : 8;
		ps->cls = xreallocarray(ps->cls, ps->capcls, sizeof(*ps->cls));
	}
	c = &ps->cls[ps->ncls];
	memset(c, 0, sizeof(*c));
	return (int)ps->ncls++;
}

static void
re_addrange(struct re_parse *ps, int ci, uint32_t lo, uint32_t hi)
{
	struct re_class *c = &ps->cls[ci];

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->lo = xreallocarray(c->lo, c->cap, sizeof(*c->lo));
		c->hi = xreallocarray(c->hi, c->cap, sizeof(*c->hi));
	}
	c->lo[c->n] = lo;
	c->hi[c->n] = hi;
	c->n++;
}

static int
re_isdigit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

static int
re_isspace(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

static int
re_isword(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    re_isdigit(c) || c == '_';
}

static int
re_class_match(const struct re_class *c, uint32_t ch)
{
	int m = 0;

	if (((c->flags & CL_DIGIT) && re_isdigit(ch)) ||
	    ((c->flags & CL_NDIGIT) && !re_isdigit(ch)) ||
	    ((c->flags & CL_SPACE) && re_isspace(ch)) ||
	    ((c->flags & CL_NSPACE) && !re_isspace(ch)) ||
	    ((c->flags & CL_WORD) && re_isword(ch)) ||
	    ((c->flags & CL_NWORD) && !re_isword(ch)))
		m = 1;
	for (size_t i = 0; !m && i < c->n; i++)
		if (ch >= c->lo[i] && ch <= c->hi[i])
			m = 1;
	return c->negate ? !m : m;
}

/* Next character of the pattern (UTF-8), advancing p. */
static int
re_getc(struct re_parse *ps, uint32_t *cp)
{
	size_t l;

	if (ps->p >= ps->end)
		return -1;
	if ((l = u8_decode(ps->p, ps->end - ps->p, cp)) == 0) {
		*cp = *ps->p;
		l = 1;
	}
	ps->p += l;
	return 0;
}

static int
re_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * An escape after '\' that stands for one character: *cp set, 1; a
 * class shorthand: *flags set, 2; an assertion (outside classes): 3 with
 * *kind; -1 if unsupported.
 */
static int
re_escape(struct re_parse *ps, int inclass, uint32_t *cp, int *flags,
    enum re_node_kind *kind)
{
	uint32_t c;

	if (re_getc(ps, &c) == -1) {
		ps->why = "trailing backslash";
		return -1;
	}
	switch (c) {
	case 'd': *flags = CL_DIGIT; return 2;
	case 'D': *flags = CL_NDIGIT; return 2;
	case 's': *flags = CL_SPACE; return 2;
	case 'S': *flags = CL_NSPACE; return 2;
	case 'w': *flags = CL_WORD; return 2;
	case 'W': *flags = CL_NWORD; return 2;
	case 't': *cp = '\t'; return 1;
	case 'n': *cp = '\n'; return 1;
	case 'r': *cp = '\r'; return 1;
	case 'f': *cp = '\f'; return 1;
	case 'e': *cp = 0x1b; return 1;
	case 'a': *cp = 0x07; return 1;
	case 'b':
		if (inclass) {
			*cp = 0x08;
			return 1;
		}
		*kind = ND_WORDB;
		return 3;
	case 'B':
		if (inclass)
			break;
		*kind = ND_NWORDB;
		return 3;
	case 'A':
		if (inclass)
			break;
		*kind = ND_BOL;
		return 3;
	case 'z':
		if (inclass)
			break;
		*kind = ND_EOS;
		return 3;
	case 'Z':
		if (inclass)
			break;
		*kind = ND_EOL;
		return 3;
	case '0': {
		uint32_t v = 0;

		for (int i = 0; i < 2 && ps->p < ps->end && *ps->p >= '0' &&
		    *ps->p <= '7'; i++)
			v = v * 8 + (*ps->p++ - '0');
		*cp = v;
		return 1;
	}
	case 'x': {
		uint32_t v = 0;
		int d;

		if (ps->p < ps->end && *ps->p == '{') {
			ps->p++;
			while (ps->p < ps->end &&
			    (d = re_hexval(*ps->p)) >= 0) {
				v = v * 16 + d;
				if (v > 0x10ffff)
					break;
				ps->p++;
			}
			if (ps->p >= ps->end || *ps->p != '}' || v > 0x10ffff) {
				ps->why = "bad \\x{...}";
				return -1;
			}
			ps->p++;
		} else
			for (int i = 0; i < 2 && ps->p < ps->end &&
			    (d = re_hexval(*ps->p)) >= 0; i++, ps->p++)
				v = v * 16 + d;
		*cp = v;
		return 1;
	}
	default:
		/* Escaped punctuation is itself; letters and digits are
		 * features this engine does not have. */
		if (c < 0x80 && !isalnum((int)c)) {
			*cp = c;
			return 1;
		}
		if (c >= 0x80) {
			*cp = c;
			return 1;
		}
		break;
	}
	ps->why = "unsupported escape (backreference, \\p, \\Q ...)";
	return -1;
}

/* [...] after the '['. */
static struct re_node *
re_class(struct re_parse *ps)
{
	static const struct { const char *name; const char *ranges; int flags; }
	    posix[] = {
		{ "alpha", "azAZ", 0 }, { "digit", "09", 0 },
		{ "alnum", "azAZ09", 0 }, { "upper", "AZ", 0 },
		{ "lower", "az", 0 }, { "xdigit", "09afAF", 0 },
		{ "space", "", CL_SPACE }, { "word", "", CL_WORD },
		{ "blank", "  \t\t", 0 }, { "punct", "!/:@[`{~", 0 },
		{ "cntrl", "\001\037\177\177", 0 }, { "print", " ~", 0 },
		{ "graph", "!~", 0 },
	};
	int ci = re_newclass(ps), first = 1;
	struct re_node *n;

	if (ps->p < ps->end && *ps->p == '^') {
		ps->cls[ci].negate = 1;
		ps->p++;
	}
	for (;;) {
		uint32_t lo, hi;
		int flags = 0, r;
		enum re_node_kind k;

		if (ps->p >= ps->end) {
			ps->why = "unterminated [";
			return NULL;
		}
		if (*ps->p == ']' && !first) {
			ps->p++;
			break;
		}
		first = 0;
		if (*ps->p == '[' && ps->p + 1 < ps->end && ps->p[1] == ':') {
			const unsigned char *e = ps->p + 2;
			size_t i;

			while (e + 1 < ps->end && !(e[0] == ':' && e[1] == ']'))
				e++;
			if (e + 1 >= ps->end) {
				ps->why = "unterminated [:class:]";
				return NULL;
			}
			for (i = 0; i < NELEM(posix); i++)
				if (strlen(posix[i].name) == (size_t)(e -
				    (ps->p + 2)) && memcmp(posix[i].name,
				    ps->p + 2, e - (ps->p + 2)) == 0)
					break;
			if (i == NELEM(posix)) {
				ps->why = "unknown [:class:]";
				return NULL;
			}
			ps->cls[ci].flags |= posix[i].flags;
			for (const char *rg = posix[i].ranges; rg[0] && rg[1];
			    rg += 2)
				re_addrange(ps, ci, (unsigned char)rg[0],
				    (unsigned char)rg[1]);
			ps->p = e + 2;
			continue;
		}
		re_getc(ps, &lo);
		if (lo == '\\') {
			if ((r = re_escape(ps, 1, &lo, &flags, &k)) == -1)
				return NULL;
			if (r == 2) {
				ps->cls[ci].flags |= flags;
				continue;
			}
		}
		hi = lo;
		if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
			ps->p++;
			re_getc(ps, &hi);
			if (hi == '\\') {
				if ((r = re_escape(ps, 1, &hi, &flags, &k)) ==
				    -1)
					return NULL;
				if (r == 2) {
					/* "a-\d": '-' is literal, as Perl. */
					re_addrange(ps, ci, lo, lo);
					re_addrange(ps, ci, '-', '-');
					ps->cls[ci].flags |= flags;
					continue;
				}
			}
			if (hi < lo) {
				ps->why = "invalid range in [...]";
				return NULL;
			}
		}
		re_addrange(ps, ci, lo, hi);
	}
	if ((n = re_node(ps, ND_CLASS, NULL, NULL)) != NULL)
		n->c = ci;
	return n;
}

static struct re_node *re_alt(struct re_parse *);

/* A decimal number of at most 4 digits at p; -1 if none. */
static int
re_num(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	int v = 0, nd = 0;

	while (p < end && *p >= '0' && *p <= '9' && nd < 5) {
		v = v * 10 + (*p - '0');
		p++, nd++;
	}
	if (nd == 0 || nd > 4)
		return -1;
	*pp = p;
	return v;
}

/* {n}, {n,}, {n,m} at p ('{' included): 1 and the bounds, or 0. */
static int
re_braces(struct re_parse *ps, int *min, int *max)
{
	const unsigned char *p = ps->p + 1;
	int a, b;

	if ((a = re_num(&p, ps->end)) < 0)
		return 0;
	b = a;
	if (p < ps->end && *p == ',') {
		p++;
		if (p < ps->end && *p == '}')
			b = RE_INF;
		else if ((b = re_num(&p, ps->end)) < 0)
			return 0;
	}
	if (p >= ps->end || *p != '}')
		return 0;
	ps->p = p + 1;
	*min = a;
	*max = b;
	return 1;
}

static struct re_node *
re_atom(struct re_parse *ps)
{
	struct re_node *n;
	uint32_t c;
	int flags = 0, r;
	enum re_node_kind k;

	switch (*ps->p) {
	case '(':
		ps->p++;
		if (ps->p < ps->end && *ps->p == '?') {
			ps->p++;
			if (ps->p < ps->end && *ps->p == ':')
				ps->p++;
			else if (ps->end - ps->p >= 2 && ((ps->p[0] == '<' &&
			    ps->p[1] != '=' && ps->p[1] != '!') ||
			    ps->p[0] == '\'' || (ps->p[0] == 'P' &&
			    ps->p[1] == '<'))) {
				/* A named group: matched as a plain one. */
				unsigned char close = ps->p[0] == '\'' ? '\'' :
				    '>';

				while (ps->p < ps->end && *ps->p != close)
					ps->p++;
				if (ps->p >= ps->end) {
					ps->why = "unterminated group name";
					return NULL;
				}
				ps->p++;
			} else {
				ps->why = "unsupported (?...) construct "
				    "(lookaround, inline flags)";
				return NULL;
			}
		}
		if ((n = re_alt(ps)) == NULL)
			return NULL;
		if (ps->p >= ps->end || *ps->p != ')') {
			ps->why = "unmatched (";
			return NULL;
		}
		ps->p++;
		return n;
	case '[':
		ps->p++;
		return re_class(ps);
	case '.':
		ps->p++;
		return re_node(ps, ND_ANY, NULL, NULL);
	case '^':
		ps->p++;
		return re_node(ps, ND_BOL, NULL, NULL);
	case '$':
		ps->p++;
		return re_node(ps, ND_EOL, NULL, NULL);
	case '*':
	case '+':
	case '?':
		ps->why = "quantifier follows nothing";
		return NULL;
	case '\\':
		ps->p++;
		if ((r = re_escape(ps, 0, &c, &flags, &k)) == -1)
			return NULL;
		if (r == 3)
			return re_node(ps, k, NULL, NULL);
		if (r == 2) {
			int ci = re_newclass(ps);

			ps->cls[ci].flags = flags;
			if ((n = re_node(ps, ND_CLASS, NULL, NULL)) != NULL)
				n->c = ci;
			return n;
		}
		break;
	default:
		re_getc(ps, &c);
		break;
	}
	if ((n = re_node(ps, ND_CHAR, NULL, NULL)) != NULL)
		n->c = c;
	return n;
}

static struct re_node *
re_repeat(struct re_parse *ps)
{
	struct re_node *n = re_atom(ps);
	int quantified = 0;

	while (n != NULL && ps->p < ps->end) {
		int min, max;

		if (*ps->p == '*')
			min = 0, max = RE_INF, ps->p++;
		else if (*ps->p == '+')
			min = 1, max = RE_INF, ps->p++;
		else if (*ps->p == '?')
			min = 0, max = 1, ps->p++;
		else if (*ps->p == '{' && re_braces(ps, &min, &max)) {
			if (min > PANDORA_RE_MAX_REPEAT ||
			    max > PANDORA_RE_MAX_REPEAT ||
			    (max != RE_INF && max < min)) {
				ps->why = "bad or too large {n,m}";
				return NULL;
			}
		} else
			break;
		if (quantified++) {
			ps->why = "nested quantifiers";
			return NULL;
		}
		/* Lazy (x*?) matches the same strings; possessive is not
		 * supported. */
		if (ps->p < ps->end && *ps->p == '?')
			ps->p++;
		else if (ps->p < ps->end && *ps->p == '+') {
			ps->why = "possessive quantifiers are not supported";
			return NULL;
		}
		n = re_node(ps, ND_REPEAT, n, NULL);
		if (n != NULL) {
			n->min = min;
			n->max = max;
		}
	}
	return n;
}

static struct re_node *
re_cat(struct re_parse *ps)
{
	struct re_node *n = re_node(ps, ND_EMPTY, NULL, NULL);

	while (n != NULL && ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
		struct re_node *a = re_repeat(ps);

		if (a == NULL)
			return NULL;
		n = n->kind == ND_EMPTY ? a : re_node(ps, ND_CAT, n, a);
	}
	return n;
}

static struct re_node *
re_alt(struct re_parse *ps)
{
	struct re_node *n = re_cat(ps);

	while (n != NULL && ps->p < ps->end && *ps->p == '|') {
		struct re_node *b;

		ps->p++;
		if ((b = re_cat(ps)) == NULL)
			return NULL;
		n = re_node(ps, ND_ALT, n, b);
	}
	return n;
}

/* Instructions n compiles to; stops counting past the limit. */
static long
re_size(const struct re_node *n)
{
	long a, b;

	switch (n->kind) {
	case ND_EMPTY:
		return 0;
	case ND_CAT:
		a = re_size(n->l);
		b = re_size(n->r);
		return a + b > PANDORA_RE_MAX_PROG ? PANDORA_RE_MAX_PROG + 1 :
		    a + b;
	case ND_ALT:
		a = re_size(n->l);
		b = re_size(n->r);
		return a + b + 2 > PANDORA_RE_MAX_PROG ?
		    PANDORA_RE_MAX_PROG + 1 : a + b + 2;
	case ND_REPEAT:
		a = re_size(n->l);
		if (n->max == RE_INF)
			b = (long)n->min * a + a + 2;
		else
			b = (long)n->max * (a + 1);
		return b > PANDORA_RE_MAX_PROG ? PANDORA_RE_MAX_PROG + 1 : b;
	default:
		return 1;
	}
}

static int
re_emit(struct pandora_re *re, const struct re_node *n)
{
	int pc = re->nprog, l1, i;

	switch (n->kind) {
	case ND_EMPTY:
		break;
	case ND_CHAR:
		re->prog[re->nprog++] = (struct re_inst){ RE_CHAR, n->c, 0, 0 };
		break;
	case ND_ANY:
		re->prog[re->nprog++] = (struct re_inst){ RE_ANY, 0, 0, 0 };
		break;
	case ND_CLASS:
		re->prog[re->nprog++] = (struct re_inst){ RE_CLASS, n->c, 0,
		    0 };
		break;
	case ND_BOL:
		re->prog[re->nprog++] = (struct re_inst){ RE_BOL, 0, 0, 0 };
		break;
	case ND_EOL:
		re->prog[re->nprog++] = (struct re_inst){ RE_EOL, 0, 0, 0 };
		break;
	case ND_EOS:
		re->prog[re->nprog++] = (struct re_inst){ RE_EOS, 0, 0, 0 };
		break;
	case ND_WORDB:
		re->prog[re->nprog++] = (struct re_inst){ RE_WORDB, 0, 0, 0 };
		break;
	case ND_NWORDB:
		re->prog[re->nprog++] = (struct re_inst){ RE_NWORDB, 0, 0, 0 };
		break;
	case ND_CAT:
		re_emit(re, n->l);
		re_emit(re, n->r);
		break;
	case ND_ALT:
		re->nprog++;			/* SPLIT L1, L2 */
		re->prog[pc] = (struct re_inst){ RE_SPLIT, 0, pc + 1, 0 };
		re_emit(re, n->l);
		l1 = re->nprog++;		/* JMP L3 */
		re->prog[pc].y = re->nprog;
		re_emit(re, n->r);
		re->prog[l1] = (struct re_inst){ RE_JMP, 0, re->nprog, 0 };
		break;
	case ND_REPEAT:
		for (i = 0; i < n->min; i++)
			re_emit(re, n->l);
		if (n->max == RE_INF) {
			/* L1: SPLIT L2, L3; L2: e; JMP L1; L3: */
			int sp = re->nprog++;

			re_emit(re, n->l);
			re->prog[re->nprog] = (struct re_inst){ RE_JMP, 0, sp,
			    0 };
			re->nprog++;
			re->prog[sp] = (struct re_inst){ RE_SPLIT, 0, sp + 1,
			    re->nprog };
		} else
			for (i = n->min; i < n->max; i++) {
				/* SPLIT L1, L2; L1: e; L2: */
				int sp = re->nprog++;

				re_emit(re, n->l);
				re->prog[sp] = (struct re_inst){ RE_SPLIT, 0,
				    sp + 1, re->nprog };
			}
		break;
	}
	return 0;
}

void
pandora_re_free(struct pandora_re *re)
{
	if (re == NULL)
		return;
	for (size_t i = 0; i < re->ncls; i++) {
		free(re->cls[i].lo);
		free(re->cls[i].hi);
	}
	free(re->cls);
	free(re->prog);
	free(re);
}

struct pandora_re *
pandora_re_compile(const char *pattern, size_t maxlen, const char **why)
{
	struct re_parse ps;
	struct re_node *root;
	struct pandora_re *re;
	size_t len = strlen(pattern);
	const char *dummy;
	long size;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (len == 0) {
		*why = "empty pattern";
		return NULL;
	}
	if (len > maxlen) {
		*why = "pattern too long";
		return NULL;
	}
	memset(&ps, 0, sizeof(ps));
	ps.p = (const unsigned char *)pattern;
	ps.end = ps.p + len;
	ps.capnodes = 3 * len + 8;
	ps.nodes = xcalloc(ps.capnodes, sizeof(*ps.nodes));
	root = re_alt(&ps);
	if (root != NULL && ps.p < ps.end) {
		ps.why = "unmatched )";
		root = NULL;
	}
	if (root != NULL && (size = re_size(root)) + 1 > PANDORA_RE_MAX_PROG) {
		ps.why = "pattern expands to too many states";
		root = NULL;
	}
	if (root == NULL) {
		*why = ps.why ? ps.why : "malformed pattern";
		for (size_t i = 0; i < ps.ncls; i++) {
			free(ps.cls[i].lo);
			free(ps.cls[i].hi);
		}
		free(ps.cls);
		free(ps.nodes);
		return NULL;
	}
	re = xcalloc(1, sizeof(*re));
	re->prog = xcalloc(size + 1, sizeof(*re->prog));
	re_emit(re, root);
	re->prog[re->nprog++] = (struct re_inst){ RE_MATCH, 0, 0, 0 };
	re->cls = ps.cls;
	re->ncls = ps.ncls;
	free(ps.nodes);
	return re;
}

/* Thread lists of the simulation: a sparse set of program counters. */
struct re_list {
	int	*pc;
	int	 n;
};

struct re_run {
	const struct pandora_re *re;
	const unsigned char *s;
	size_t	 len;
	unsigned *mark;		/* generation each pc was added in */
	unsigned gen;
	int	*stack;
};

/* The code point before position i (for \b), or -1 at the start. */
static long
re_prev(const unsigned char *s, size_t i)
{
	size_t j = i;
	uint32_t cp;

	if (i == 0)
		return -1;
	j--;
	while (j > 0 && (s[j] & 0xc0) == 0x80 && i - j < 4)
		j--;
	if (u8_decode(s + j, i - j, &cp) != i - j)
		return s[i - 1];
	return cp;
}

static long
re_next(const unsigned char *s, size_t len, size_t i)
{
	uint32_t cp;

	if (i >= len)
		return -1;
	if (u8_decode(s + i, len - i, &cp) == 0)
		return s[i];
	return cp;
}

/* Add pc and what it leads to without consuming input; 1 on a match. */
static int
re_add(struct re_run *r, struct re_list *l, int pc0, size_t pos)
{
	const struct re_inst *prog = r->re->prog;
	int sp = 0;

	r->stack[sp++] = pc0;
	while (sp > 0) {
		int pc = r->stack[--sp];
		const struct re_inst *in = &prog[pc];
		long a, b;

		if (r->mark[pc] == r->gen)
			continue;
		r->mark[pc] = r->gen;
		switch (in->op) {
		case RE_MATCH:
			return 1;
		case RE_JMP:
			r->stack[sp++] = in->x;
			break;
		case RE_SPLIT:
			r->stack[sp++] = in->y;
			r->stack[sp++] = in->x;
			break;
		case RE_BOL:
			if (pos == 0)
				r->stack[sp++] = pc + 1;
			break;
		case RE_EOL:
			if (pos == r->len || (pos + 1 == r->len &&
			    r->s[pos] == '\n'))
				r->stack[sp++] = pc + 1;
			break;
		case RE_EOS:
			if (pos == r->len)
				r->stack[sp++] = pc + 1;
			break;
		case RE_WORDB:
		case RE_NWORDB:
			a = re_prev(r->s, pos);
			b = re_next(r->s, r->len, pos);
			if (((a >= 0 && re_isword(a)) != (b >= 0 &&
			    re_isword(b))) == (in->op == RE_WORDB))
				r->stack[sp++] = pc + 1;
			break;
		default:
			l->pc[l->n++] = pc;
			break;
		}
	}
	return 0;
}

#define RE_MAX_STEPS	(64L * 1024 * 1024)

int
pandora_re_match(const struct pandora_re *re, const char *str, size_t len,
    size_t max_subject)
{
	struct re_list a, b, *cl = &a, *nl = &b, *t;
	struct re_run r;
	size_t pos = 0;
	long steps = 0;
	int matched = 0;

	if (re == NULL)
		return 0;
	if (str == NULL)
		str = "";
	if (max_subject > 0 && len > max_subject)
		len = pandora_utf8_cut(str, len, max_subject);
	memset(&r, 0, sizeof(r));
	r.re = re;
	r.s = (const unsigned char *)str;
	r.len = len;
	r.mark = xcalloc(re->nprog, sizeof(*r.mark));
	/* Each pc is pushed at most twice per closure (SPLIT's two arms). */
	r.stack = xcalloc(2 * (size_t)re->nprog + 2, sizeof(*r.stack));
	a.pc = xcalloc(re->nprog, sizeof(*a.pc));
	b.pc = xcalloc(re->nprog, sizeof(*b.pc));
	a.n = b.n = 0;
	r.gen = 1;
	if (re_add(&r, cl, 0, 0)) {
		matched = 1;
		goto done;
	}
	while (pos < len) {
		uint32_t c;
		size_t l = u8_decode(r.s + pos, len - pos, &c);

		if (l == 0) {
			c = r.s[pos];	/* a stray byte stands for itself */
			l = 1;
		}
		r.gen++;
		nl->n = 0;
		for (int i = 0; i < cl->n; i++) {
			const struct re_inst *in = &re->prog[cl->pc[i]];
			int ok = 0;

			switch (in->op) {
			case RE_CHAR:
				ok = c == in->c;
				break;
			case RE_ANY:
				ok = c != '\n';
				break;
			case RE_CLASS:
				ok = re_class_match(&re->cls[in->c], c);
				break;
			default:
				break;
			}
			if (ok && re_add(&r, nl, cl->pc[i] + 1, pos + l)) {
				matched = 1;
				goto done;
			}
		}
		/* Unanchored search: a new attempt at every position. */
		if (re_add(&r, nl, 0, pos + l)) {
			matched = 1;
			goto done;
		}
		steps += cl->n + 1;
		if (steps > RE_MAX_STEPS) {
			matched = -1;	/* over budget: not decided */
			goto done;
		}
		t = cl;
		cl = nl;
		nl = t;
		pos += l;
	}
done:
	free(r.mark);
	free(r.stack);
	free(a.pc);
	free(b.pc);
	return matched;
}
