/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/audit.c: JSON escaping of untrusted bytes (quotes,
 * backslash, control characters, invalid UTF-8 as \ufffd, overlong
 * forms and surrogates refused), the event layout, the per-value cap
 * and the 64 KiB event cap.  Every event is checked with a small strict
 * JSON validator written here, not shared with the library.
 */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#include "check.h"

/* ---- a strict JSON validator (RFC 8259), independent of lib/ ---- */

struct jp {
	const unsigned char	*s;
	size_t			 n, i;
	int			 depth;
};

static int j_value(struct jp *);

static void
j_ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

/* Length of a well-formed UTF-8 sequence (Unicode table 3-7), else 0. */
static size_t
u8(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned hi = c == 0xed ? 0x9f : 0xbf;

		return n >= 3 && s[1] >= lo && s[1] <= hi &&
		    (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned hi = c == 0xf4 ? 0x8f : 0xbf;

		return n >= 4 && s[1] >= lo && s[1] <= hi &&
		    (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

static int
j_string(struct jp *p)
{
	if (p->i >= p->n || p->s[p->i] != '"')
		return 0;
	p->i++;
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];
		size_t l;

		if (c == '"') {
			p->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (p->i + 1 >= p->n)
				return 0;
			c = p->s[p->i + 1];
			if (c == 'u') {
				if (p->i + 6 > p->n)
					return 0;
				for (int k = 2; k < 6; k++)
					if (strchr("0123456789abcdefABCDEF",
					    p->s[p->i + k]) == NULL ||
					    p->s[p->i + k] == '\0')
						return 0;
				p->i += 6;
			} else if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL)
				p->i += 2;
			else
				return 0;
			continue;
		}
		if ((l = u8(p->s + p->i, p->n - p->i)) == 0)
			return 0;
		p->i += l;
	}
	return 0;
}

static int
j_number(struct jp *p)
{
	size_t st = p->i;

	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n)
		return 0;
	if (p->s[p->i] == '0')
		p->i++;
	else if (p->s[p->i] >= '1' && p->s[p->i] <= '9')
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	else
		return 0;
	return p->i > st;
}

static int
j_lit(struct jp *p, const char *w)
{
	size_t l = strlen(w);

	if (p->n - p->i < l || memcmp(p->s + p->i, w, l) != 0)
		return 0;
	p->i += l;
	return 1;
}

static int
j_object(struct jp *p)
{
	p->i++;		/* '{' */
	j_ws(p);
	if (p->i < p->n && p->s[p->i] == '}') {
		p->i++;
		return 1;
	}
	for (;;) {
		j_ws(p);
		if (!j_string(p))
			return 0;
		j_ws(p);
		if (p->i >= p->n || p->s[p->i++] != ':')
			return 0;
		if (!j_value(p))
			return 0;
		j_ws(p);
		if (p->i >= p->n)
			return 0;
		if (p->s[p->i] == '}') {
			p->i++;
			return 1;
		}
		if (p->s[p->i++] != ',')
			return 0;
	}
}

static int
j_array(struct jp *p)
{
	p->i++;		/* '[' */
	j_ws(p);
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return 1;
	}
	for (;;) {
		if (!j_value(p))
			return 0;
		j_ws(p);
		if (p->i >= p->n)
			return 0;
		if (p->s[p->i] == ']') {
			p->i++;
			return 1;
		}
		if (p->s[p->i++] != ',')
			return 0;
	}
}

static int
j_value(struct jp *p)
{
	int ok;

	j_ws(p);
	if (p->i >= p->n || ++p->depth > 64)
		return 0;
	switch (p->s[p->i]) {
	case '{':
		ok = j_object(p);
		break;
	case '[':
		ok = j_array(p);
		break;
	case '"':
		ok = j_string(p);
		break;
	case 't':
		ok = j_lit(p, "true");
		break;
	case 'f':
		ok = j_lit(p, "false");
		break;
	case 'n':
		ok = j_lit(p, "null");
		break;
	default:
		ok = j_number(p);
	}
	p->depth--;
	return ok;
}

/* 1 if s[0..n) is exactly one JSON object followed by one '\n'. */
static int
json_line(const char *s, size_t n)
{
	struct jp p = { (const unsigned char *)s, n, 0, 0 };

	if (n < 3 || s[0] != '{' || s[n - 1] != '\n' ||
	    memchr(s, '\n', n - 1) != NULL)
		return 0;
	p.n = n - 1;
	return j_value(&p) && p.i == p.n;
}

/* ---- tests ---- */

static void
test_validator(void)
{
	/* The validator itself must refuse what the library must not emit. */
	static const char *const bad[] = {
		"{\"a\":\"\x01\"}\n", "{\"a\":\"\xc0\x80\"}\n",
		"{\"a\":\"\xed\xa0\x80\"}\n", "{\"a\":\"x\\\"}\n",
		"{\"a\":1,}\n", "{\"a\":\"b\"}x\n", "{\"a\":\"b\"}",
		"{\"a\":\"\\x41\"}\n", "{\"a\":\"\\u12g4\"}\n",
	};
	static const char *const good[] = {
		"{}\n", "{\"a\":\"\\u0000\\\"\\\\\\/\"}\n",
		"{\"a\":[1,-2,{\"b\":null}],\"c\":true}\n",
		"{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!json_line(bad[i], strlen(bad[i])), "validator accepts "
		    "\"%s\"", check_show(bad[i], 0));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(json_line(good[i], strlen(good[i])), "validator refuses "
		    "\"%s\"", check_show(good[i], 0));
}

#define FFFD	"\\ufffd"

static void
test_escape(void)
{
	static const struct {
		const char	*in;
		size_t		 len;	/* 0: strlen(in) */
		const char	*want;
	} t[] = {
		{ "abc", 0, "abc" },
		{ "", 0, "" },
		{ "\"", 0, "\\\"" },
		{ "\\", 0, "\\\\" },
		{ "a\"b\\c", 0, "a\\\"b\\\\c" },
		{ "\\u0041", 0, "\\\\u0041" },
		{ "/", 0, "/" },
		{ "\n", 0, "\\u000a" },
		{ "\r", 0, "\\u000d" },
		{ "\t", 0, "\\u0009" },
		{ "\b\f", 0, "\\u0008\\u000c" },
		{ "\0", 1, "\\u0000" },
		{ "a\0b", 3, "a\\u0000b" },
		{ "\x01\x1f", 0, "\\u0001\\u001f" },
		{ "\x1b[31m", 0, "\\u001b[31m" },
		{ "\x7f", 0, "\\u007f" },
		{ " ~", 0, " ~" },
		/* Valid UTF-8 passes through. */
		{ "\xc2\x80", 0, "\xc2\x80" }, /* U+0080 */
		{ "\xc3\xa9t\xc3\xa9", 0, "\xc3\xa9t\xc3\xa9" },
		{ "\xdf\xbf", 0, "\xdf\xbf" }, /* U+07FF */
		{ "\xe0\xa0\x80", 0, "\xe0\xa0\x80" }, /* U+0800 */
		{ "\xe2\x82\xac", 0, "\xe2\x82\xac" }, /* euro */
		{ "\xed\x9f\xbf", 0, "\xed\x9f\xbf" }, /* U+D7FF */
		{ "\xee\x80\x80", 0, "\xee\x80\x80" }, /* U+E000 */
		{ "\xef\xbf\xbf", 0, "\xef\xbf\xbf" }, /* U+FFFF */
		{ "\xf0\x90\x80\x80", 0, "\xf0\x90\x80\x80" }, /* U+10000 */
		{ "\xf0\x9f\x98\x80", 0, "\xf0\x9f\x98\x80" },
		{ "\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf" }, /* U+10FFFF */
		/* Overlong forms are refused byte by byte. */
		{ "\xc0\x80", 0, FFFD FFFD },
		{ "\xc0\xaf", 0, FFFD FFFD },
		{ "\xc1\xbf", 0, FFFD FFFD },
		{ "\xe0\x80\x80", 0, FFFD FFFD FFFD },
		{ "\xe0\x80\xaf", 0, FFFD FFFD FFFD },
		{ "\xe0\x9f\xbf", 0, FFFD FFFD FFFD },
		{ "\xf0\x80\x80\x80", 0, FFFD FFFD FFFD FFFD },
		{ "\xf0\x80\x80\xaf", 0, FFFD FFFD FFFD FFFD },
		{ "\xf0\x8f\xbf\xbf", 0, FFFD FFFD FFFD FFFD },
		/* UTF-16 surrogates are not UTF-8. */
		{ "\xed\xa0\x80", 0, FFFD FFFD FFFD }, /* D800 */
		{ "\xed\xaf\xbf", 0, FFFD FFFD FFFD }, /* DBFF */
		{ "\xed\xb0\x80", 0, FFFD FFFD FFFD }, /* DC00 */
		{ "\xed\xbf\xbf", 0, FFFD FFFD FFFD }, /* DFFF */
		{ "\xed\xa0\xbd\xed\xb8\x80", 0,
		  FFFD FFFD FFFD FFFD FFFD FFFD }, /* CESU-8 pair */
		/* Beyond U+10FFFF and bytes that never appear. */
		{ "\xf4\x90\x80\x80", 0, FFFD FFFD FFFD FFFD },
		{ "\xf5\x80\x80\x80", 0, FFFD FFFD FFFD FFFD },
		{ "\xf8\x88\x80\x80\x80", 0, FFFD FFFD FFFD FFFD FFFD },
		{ "\xfe\xff", 0, FFFD FFFD },
		{ "\x80", 0, FFFD },
		{ "\xbf\x80", 0, FFFD FFFD },
		/* Truncated and interrupted sequences. */
		{ "\xc3", 0, FFFD },
		{ "a\xc3", 0, "a" FFFD },
		{ "\xe2\x82", 0, FFFD FFFD },
		{ "\xf0\x9f\x98", 0, FFFD FFFD FFFD },
		{ "\xc3" "A", 0, FFFD "A" },
		{ "\xe2\x82x", 0, FFFD FFFD "x" },
		{ "\xc3\"", 0, FFFD "\\\"" },
		{ "\xe2\n\xac", 0, FFFD "\\u000a" FFFD },
		/* Only len bytes are read. */
		{ "\xc3\xa9", 1, FFFD },
		{ "abcdef", 3, "abc" },
	};
	struct audit_buf ab;
	char what[64];

	audit_buf_init(&ab);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].in);
		char *in = malloc(len ? len : 1);

		if (in == NULL)
			break;
		/* An exact-size copy: ASan sees any overread. */
		memcpy(in, t[i].in, len);
		snprintf(what, sizeof(what), "escape #%zu \"%s\"", i,
		    check_show(t[i].in, 0));
		audit_buf_reset(&ab);
		audit_json_escape(&ab, in, len);
		CHECK_STR(what, ab.len ? ab.buf : "", t[i].want);
		free(in);
	}
	audit_buf_free(&ab);
}

/* Start an event and return the length of its head. */
static size_t
head(struct audit_buf *ab, const char *outcome)
{
	audit_begin(ab, "tentacle-recv", "file.receive", outcome);
	return ab->len - ab->start;
}

static void
test_event(void)
{
	struct audit_buf ab;
	regex_t re;
	char all[256];
	const char *tail;
	int rc;

	audit_buf_init(&ab);
	head(&ab, "ok");
	audit_str(&ab, "agent", "web01");
	audit_strn(&ab, "peer", "192.0.2.7xxxx", 9);
	audit_num(&ab, "size", 1234);
	audit_num(&ab, "neg", -5);
	audit_num(&ab, "min", LLONG_MIN);
	audit_num(&ab, "max", LLONG_MAX);
	audit_str(&ab, "new", NULL);
	audit_str(&ab, "k\"ey\n", "v");
	audit_str(&ab, "empty", "");
	audit_end(&ab);
	CHECK_INT("events", ab.n, 1);
	CHECK(json_line(ab.buf, ab.len), "event is not one JSON line: "
	    "\"%s\"", check_show(ab.buf, 0));
	rc = regcomp(&re, "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\",\"tool\":\"tentacle-recv\","
	    "\"action\":\"file.receive\",\"outcome\":\"ok\",",
	    REG_EXTENDED | REG_NOSUB);
	CHECK(rc == 0 && regexec(&re, ab.buf, 0, NULL, 0) == 0,
	    "event head: got \"%s\"", check_show(ab.buf, 0));
	if (rc == 0)
		regfree(&re);
	tail = strstr(ab.buf, ",\"agent\"");
	CHECK_STR("event tail", tail, ",\"agent\":\"web01\","
	    "\"peer\":\"192.0.2.7\",\"size\":1234,\"neg\":-5,"
	    "\"min\":-9223372036854775808,\"max\":9223372036854775807,"
	    "\"new\":null,\"k\\\"ey\\u000a\":\"v\",\"empty\":\"\"}\n");

	/* Every byte value in one field: still one valid JSON line. */
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	audit_buf_reset(&ab);
	CHECK_INT("reset: len", ab.len, 0);
	CHECK_INT("reset: events", ab.n, 0);
	head(&ab, "ok");
	audit_strn(&ab, "all", all, 256);
	audit_end(&ab);
	CHECK(json_line(ab.buf, ab.len), "all bytes: not one JSON line: "
	    "\"%s\"", check_show(ab.buf, 0));

	/* Two events in one batch: two lines. */
	head(&ab, "refused");
	audit_str(&ab, "reason", "line\nbreak");
	audit_end(&ab);
	CHECK_INT("batch events", ab.n, 2);
	{
		char *nl = memchr(ab.buf, '\n', ab.len);

		CHECK(nl != NULL && json_line(nl + 1, ab.len - (nl + 1 -
		    ab.buf)), "second event: not one JSON line");
	}
	audit_buf_free(&ab);
}

static void
test_caps(void)
{
	struct audit_buf ab;
	char *big = malloc(AUDIT_EVENT_MAX), key[16];
	const char *v;
	size_t h, len, fill;

	if (big == NULL)
		return;
	audit_buf_init(&ab);

	/* One value is cut to AUDIT_VALUE_MAX bytes. */
	memset(big, 'a', 5000);
	head(&ab, "ok");
	audit_strn(&ab, "v", big, 5000);
	audit_end(&ab);
	v = strstr(ab.buf, ",\"v\":\"");
	CHECK(v != NULL && strspn(v + 6, "a") == AUDIT_VALUE_MAX &&
	    strcmp(v + 6 + AUDIT_VALUE_MAX, "\"}\n") == 0,
	    "value of 5000 bytes: got %zu, want %d", v ? strspn(v + 6, "a") :
	    0, AUDIT_VALUE_MAX);

	/* A cut through a UTF-8 sequence leaves valid JSON. */
	audit_buf_reset(&ab);
	memcpy(big + AUDIT_VALUE_MAX - 1, "\xc3\xa9", 2);
	head(&ab, "ok");
	audit_strn(&ab, "v", big, AUDIT_VALUE_MAX + 1);
	audit_end(&ab);
	CHECK(json_line(ab.buf, ab.len), "cut through UTF-8: not valid JSON");

	/* An event over 64 KiB keeps its head and says it was cut. */
	for (int ch = 0; ch < 2; ch++) {
		char want[512];

		memset(big, ch ? 0x01 : 'a', AUDIT_VALUE_MAX);
		audit_buf_reset(&ab);
		h = head(&ab, "ok");
		memcpy(want, ab.buf, h);
		strlcpy(want + h, ",\"truncated\":true}\n",
		    sizeof(want) - h);
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof(key), "f%02d", i);
			audit_strn(&ab, key, big, AUDIT_VALUE_MAX);
		}
		audit_end(&ab);
		CHECK(ab.len <= AUDIT_EVENT_MAX, "oversized event: got %zu "
		    "bytes, want <= %d", ab.len, AUDIT_EVENT_MAX);
		CHECK_STR(ch ? "oversized event (control bytes)" :
		    "oversized event", ab.buf, want);
		CHECK(json_line(ab.buf, ab.len), "oversized event: not valid "
		    "JSON");
		CHECK_INT("oversized event: count", ab.n, 1);
	}

	/* Exactly 64 KiB stays whole; one byte more is cut. */
	for (int extra = 0; extra < 2; extra++) {
		audit_buf_reset(&ab);
		h = head(&ab, "ok");
		memset(big, 'b', AUDIT_VALUE_MAX);
		for (int i = 0; i < 15; i++) {
			snprintf(key, sizeof(key), "f%02d", i);
			audit_strn(&ab, key, big, AUDIT_VALUE_MAX);
		}
		len = ab.len - ab.start;
		/* ,"last":"<fill>"}\n */
		fill = AUDIT_EVENT_MAX - len - strlen(",\"last\":\"\"") - 2 +
		    extra;
		audit_strn(&ab, "last", big, fill);
		audit_end(&ab);
		if (extra == 0) {
			CHECK_INT("event of exactly 64 KiB: length", ab.len,
			    AUDIT_EVENT_MAX);
			CHECK(strstr(ab.buf, "\"truncated\"") == NULL,
			    "event of exactly 64 KiB: got truncated");
		} else {
			CHECK(strstr(ab.buf, "\"truncated\":true}") != NULL &&
			    ab.len == h + 19, "event of 64 KiB + 1: got %zu "
			    "bytes, want cut to %zu", ab.len, h + 19);
		}
		CHECK(json_line(ab.buf, ab.len), "64 KiB boundary: not valid "
		    "JSON");
	}

	/* A small event, then a big one: the first is left alone. */
	audit_buf_reset(&ab);
	head(&ab, "ok");
	audit_str(&ab, "first", "kept");
	audit_end(&ab);
	len = ab.len;
	head(&ab, "ok");
	for (int i = 0; i < 20; i++)
		audit_strn(&ab, "f", big, AUDIT_VALUE_MAX);
	audit_end(&ab);
	CHECK_INT("batch with a cut event: count", ab.n, 2);
	CHECK(strstr(ab.buf, "\"first\":\"kept\"}\n") == ab.buf + len - 16,
	    "batch: first event changed");
	CHECK(json_line(ab.buf, len) && json_line(ab.buf + len, ab.len - len),
	    "batch with a cut event: not two JSON lines");
	CHECK(ab.len - len <= AUDIT_EVENT_MAX, "batch: second event %zu "
	    "bytes", ab.len - len);

	/*
	 * The cut must hold whatever the outcome is: a quote inside it,
	 * or null.
	 */
	{
		static const char *const outcomes[] = { "a\"b", "x\\", NULL };

		for (size_t k = 0; k < 3; k++) {
			audit_buf_reset(&ab);
			head(&ab, outcomes[k]);
			for (int i = 0; i < 20; i++)
				audit_strn(&ab, "f", big, AUDIT_VALUE_MAX);
			audit_end(&ab);
			CHECK(json_line(ab.buf, ab.len) && ab.len <=
			    AUDIT_EVENT_MAX, "cut event with outcome %s%s%s: "
			    "got %zu bytes \"%s\", want valid JSON <= 64 KiB",
			    outcomes[k] ? "\"" : "", outcomes[k] ?
			    check_show(outcomes[k], 1) : "NULL", outcomes[k] ?
			    "\"" : "", ab.len, check_show(ab.buf, 0));
		}
	}
	audit_buf_free(&ab);
	free(big);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_validator();
	test_escape();
	test_event();
	test_caps();
	return check_report("test_audit");
}
