/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/pandora.c: Pandora's safe_input/safe_output entity
 * encoding (spaces, quotes, <, >, &, UTF-8, the named table), value
 * checks and formatting, incremental rates, module status from
 * thresholds, the flip-flop state machine; and lib/pandora_re.c: the
 * string thresholds (Perl regular expressions by PCRE2), the outcomes
 * that are not a yes or no, the work cap and the budget.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pandora.h"

#include "check.h"

static void
test_safe_input(void)
{
	static const struct { const char *in, *want; } t[] = {
		{ "research-agent-01", "research-agent-01" },
		{ "web 01", "web&#x20;01" },
		{ "Load Average", "Load&#x20;Average" },
		{ "a\"b'c", "a&quot;b&#039;c" },
		{ "<script>&", "&lt;script&gt;&amp;" },
		{ "(x)\\y", "&#40;x&#41;&#92;y" },
		{ "tab\there", "tab&#x09;here" },
		{ "nl\nkept", "nl\nkept" },		/* Perl "." skips LF */
		{ "cr\rx", "cr&#x0d;x" },
		{ "\x01", "&#x01;" },
		{ "unicode-ñandú-01", "unicode-&ntilde;and&uacute;-01" },
		{ "ÁÄÉËÍÏÑÓÖÚÜ", "&Aacute;&Auml;&Eacute;&Euml;&Iacute;&Iuml;"
		    "&Ntilde;&Oacute;&Ouml;&Uacute;&Uuml;" },
		{ "àçè", "àçè" },			/* not in the table */
		{ "°C", "&#xb0;C" },			/* 0x80-0xBE numeric */
		{ "¿", "¿" },				/* 0xBF: raw */
		{ "\xc2\xa0", "&#xa0;" },		/* NBSP */
		{ "€ – — …", "&euro;&#x20;&ndash;&#x20;&mdash;&#x20;&hellip;" },
		{ "Ωμ", "&Omega;&mu;" },
		{ "東京 🚀", "東京&#x20;🚀" },
		{ "×", "×" },
		{ "Temperatura sala (°C)",
		    "Temperatura&#x20;sala&#x20;&#40;&#xb0;C&#41;" },
		{ "", "" },
		{ "\xff", "\xff" },			/* not UTF-8: copied */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n;
		char *s = pandora_safe_input(t[i].in, strlen(t[i].in), &n);

		CHECK_STR(t[i].in, s, t[i].want);
		CHECK_INT("length", n, strlen(t[i].want));
		free(s);
	}
}

static void
test_safe_output(void)
{
	static const char *const round[] = {
		"web 01", "a\"b'c<>&\\()", "unicode-ñandú-01", "€ Ω 東京 🚀",
		"tab\there", "°±²",
	};
	static const struct { const char *in, *want; } t[] = {
		{ "&#x20;&#32;&#039;", "  '" },
		{ "&amp;lt;", "&lt;" },
		{ "&bogus; & &#xZZ; &", "&bogus; & &#xZZ; &" },
		{ "&#x1F680;", "🚀" },
		{ "&agrave;", "&agrave;" },		/* not in the table */
	};

	for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		char *e = pandora_safe_input(round[i], strlen(round[i]), NULL);
		char *d = pandora_safe_output(e, strlen(e), NULL);

		CHECK_STR("round trip", d, round[i]);
		free(e);
		free(d);
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *d = pandora_safe_output(t[i].in, strlen(t[i].in), NULL);

		CHECK_STR(t[i].in, d, t[i].want);
		free(d);
	}
}

static void
test_text(void)
{
	char *s = pandora_html_escape("<b>\"x\" & 'y'</b>", 17, NULL);

	CHECK_STR("html", s, "&lt;b&gt;&quot;x&quot; &amp; &#039;y&#039;&lt;/b&gt;");
	free(s);
	/* "é" is two bytes: a cut at 2 must not split it. */
	CHECK_INT("cut", pandora_utf8_cut("aé", 3, 2), 1);
	CHECK_INT("cut fits", pandora_utf8_cut("aé", 3, 3), 3);
	CHECK_INT("cut chars", pandora_utf8_cut_chars("aéb", 4, 2), 3);
}

static void
test_values(void)
{
	char buf[512];

	CHECK_INT("numeric 1", pandora_is_numeric("42"), 1);
	CHECK_INT("numeric 2", pandora_is_numeric("-3,14"), 1);
	CHECK_INT("numeric 3", pandora_is_numeric(".5"), 1);
	CHECK_INT("numeric 4", pandora_is_numeric("1e3"), 0);
	CHECK_INT("numeric 5", pandora_is_numeric("00042"), 1);
	CHECK_INT("numeric 6", pandora_is_numeric("x"), 0);
	CHECK_INT("numeric 7", pandora_is_numeric(""), 0);
	CHECK_INT("os linux", pandora_os_id("linux"), 1);
	CHECK_INT("os windows", pandora_os_id("Windows"), 9);
	CHECK_INT("os freebsd", pandora_os_id("freebsd"), 4);
	CHECK_INT("os darwin", pandora_os_id("darwin"), 8);
	CHECK_INT("os other", pandora_os_id("plan9"), 10);
	CHECK_INT("os none", pandora_os_id(NULL), 10);
	CHECK(pandora_post_process(5000000, 0.008) == 40000, "post_process");
	CHECK(pandora_post_process(7, 0) == 7, "post_process 0");
	CHECK_INT("minmax in", pandora_check_min_max(50, 0, 100), 1);
	CHECK_INT("minmax out", pandora_check_min_max(150, 0, 100), 0);
	CHECK_INT("minmax below", pandora_check_min_max(-1, 0, 100), 0);
	CHECK_INT("minmax off", pandora_check_min_max(1e9, 0, 0), 1);
	/* max < min: only one bound set. */
	CHECK_INT("only min ok", pandora_check_min_max(50, 10, 0), 1);
	CHECK_INT("only min low", pandora_check_min_max(5, 10, 0), 0);
	CHECK_INT("only max ok", pandora_check_min_max(-50, 0, -10), 1);
	CHECK_INT("only max", pandora_check_min_max(-5, 0, -10), 0);
	CHECK_INT("format", pandora_format(3.79, buf, sizeof(buf)), 7);
	CHECK_STR("format", buf, "3.79000");
	pandora_format(0.000001, buf, sizeof(buf));
	CHECK_STR("format tiny", buf, "0.00000");
	pandora_format(-0.0, buf, sizeof(buf));
	CHECK_STR("format -0", buf, "-0.00000");
	CHECK(pandora_format(1.7976931348623157e308, buf, sizeof(buf)) == 315,
	    "format max double");
	pandora_event_value("3.79000", 1, buf, sizeof(buf));
	CHECK_STR("event 1", buf, "3.8");
	pandora_event_value("5.00000", 1, buf, sizeof(buf));
	CHECK_STR("event 2", buf, "5");
	pandora_event_value("00042", 2, buf, sizeof(buf));
	CHECK_STR("event 3", buf, "42");
	pandora_event_value("FAILED: x", 1, buf, sizeof(buf));
	CHECK_STR("event 4", buf, "FAILED: x");
}

static void
test_inc(void)
{
	double out = -1;

	CHECK_INT("first", pandora_inc(0, 0, 0, 0, 10, 100, &out),
	    PANDORA_INC_FIRST);
	CHECK_INT("rate", pandora_inc(0, 1, 100, 1000, 400, 1002, &out),
	    PANDORA_INC_OK);
	CHECK(out == 150, "rate value %g", out);
	CHECK_INT("abs", pandora_inc(1, 1, 13514, 1000, 13669, 1002, &out),
	    PANDORA_INC_OK);
	CHECK(out == 155, "abs value %g", out);
	CHECK_INT("same ts", pandora_inc(0, 1, 1, 1000, 5, 1000, &out),
	    PANDORA_INC_SAME);
	CHECK_INT("older", pandora_inc(1, 1, 1, 1000, 5, 999, &out),
	    PANDORA_INC_OLD);
	CHECK_INT("reset", pandora_inc(0, 1, 100, 1000, 5, 1300, &out),
	    PANDORA_INC_RESET);
	CHECK_INT("abs reset", pandora_inc(1, 1, 100, 1000, 5, 1300, &out),
	    PANDORA_INC_RESET);
	CHECK_INT("no change", pandora_inc(0, 1, 100, 1000, 100, 1300, &out),
	    PANDORA_INC_OK);
	CHECK(out == 0, "zero rate");
}

static struct pandora_re *
re(const char *p)
{
	return pandora_re_compile(p, PANDORA_RE_MAX_PATTERN, NULL);
}

static void
test_status(void)
{
	struct pandora_thresholds t;
	struct pandora_re *crit, *warn;

	memset(&t, 0, sizeof(t));
	/* The sample's Load Average: warning [4,8), critical >= 8. */
	t.min_warning = 4;
	t.max_warning = 8;
	t.min_critical = 8;
	t.max_critical = 0;
	CHECK_INT("load 3.79", pandora_status("generic_data", -1, &t, 3.79,
	    NULL, 0, 0), PANDORA_NORMAL);
	CHECK_INT("load 4", pandora_status("generic_data", -1, &t, 4, NULL, 0,
	    0), PANDORA_WARNING);
	CHECK_INT("load 7.99", pandora_status("generic_data", -1, &t, 7.99,
	    NULL, 0, 0), PANDORA_WARNING);
	CHECK_INT("load 8", pandora_status("generic_data", -1, &t, 8, NULL, 0,
	    0), PANDORA_CRITICAL);
	CHECK_INT("load 1e9", pandora_status("generic_data", -1, &t, 1e9, NULL,
	    0, 0), PANDORA_CRITICAL);
	CHECK_INT("xml status", pandora_status("generic_data",
	    PANDORA_NORMAL, &t, 100, NULL, 0, 0), PANDORA_NORMAL);
	/* Inverse: outside [10, 20) is critical. */
	memset(&t, 0, sizeof(t));
	t.min_critical = 10;
	t.max_critical = 20;
	t.critical_inverse = 1;
	CHECK_INT("inv 25", pandora_status("generic_data", -1, &t, 25, NULL,
	    0, 0), PANDORA_CRITICAL);
	CHECK_INT("inv 15", pandora_status("generic_data", -1, &t, 15, NULL,
	    0, 0), PANDORA_NORMAL);
	CHECK_INT("inv 9", pandora_status("generic_data", -1, &t, 9, NULL, 0,
	    0), PANDORA_CRITICAL);
	CHECK_INT("inv 20", pandora_status("generic_data", -1, &t, 20, NULL,
	    0, 0), PANDORA_CRITICAL);
	/* proc: 0 is critical by default, 1 and 3 are normal. */
	memset(&t, 0, sizeof(t));
	CHECK_INT("proc 0", pandora_status("generic_proc", -1, &t, 0, NULL, 0,
	    0), PANDORA_CRITICAL);
	CHECK_INT("proc 1", pandora_status("generic_proc", -1, &t, 1, NULL, 0,
	    0), PANDORA_NORMAL);
	CHECK_INT("proc 3", pandora_status("generic_proc", -1, &t, 3, NULL, 0,
	    0), PANDORA_NORMAL);
	CHECK_INT("async_proc 0", pandora_status("async_proc", -1, &t, 0,
	    NULL, 0, 0), PANDORA_CRITICAL);
	CHECK_INT("data 0", pandora_status("generic_data", -1, &t, 0, NULL, 0,
	    0), PANDORA_NORMAL);
	/* Percentage: critical when more than 50 % off the last value. */
	t.min_critical = 50;
	t.max_critical = 50;
	t.percentage_critical = 1;
	CHECK_INT("pct out", pandora_status("generic_data", -1, &t, 160, NULL,
	    0, 100), PANDORA_CRITICAL);
	CHECK_INT("pct in", pandora_status("generic_data", -1, &t, 120, NULL,
	    0, 100), PANDORA_NORMAL);
	/* Strings. */
	memset(&t, 0, sizeof(t));
	crit = re("^(FAILED|ERROR)");
	warn = re("PARTIAL");
	t.str_critical = crit;
	t.str_warning = warn;
	CHECK_INT("str crit", pandora_status("generic_data_string", -1, &t, 0,
	    "FAILED: disk full", 17, 0), PANDORA_CRITICAL);
	CHECK_INT("str warn", pandora_status("generic_data_string", -1, &t, 0,
	    "a PARTIAL b", 11, 0), PANDORA_WARNING);
	CHECK_INT("str normal", pandora_status("async_string", -1, &t, 0,
	    "ok", 2, 0), PANDORA_NORMAL);
	t.critical_inverse = 1;
	CHECK_INT("str inverse", pandora_status("generic_data_string", -1, &t,
	    0, "ok", 2, 0), PANDORA_CRITICAL);
	pandora_re_free(crit);
	pandora_re_free(warn);
	CHECK(re("(unclosed[group") == NULL, "invalid regex");
}

static void
test_ff(void)
{
	struct pandora_estado st;
	struct pandora_ff ff;
	struct pandora_transition tr;

	/* A new module's first sample: not-init to normal, no event. */
	memset(&st, 0, sizeof(st));
	memset(&ff, 0, sizeof(ff));
	st.estado = st.known_status = st.last_status = st.last_known_status =
	    PANDORA_NOTINIT;
	pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("notinit->normal estado", st.estado, PANDORA_NORMAL);
	CHECK_INT("notinit->normal event", tr.event, PANDORA_EV_NONE);
	CHECK_INT("changed", tr.changed, 1);
	CHECK_INT("last_status_change", st.last_status_change, 1000);
	/* Then critical: an event at once (min_ff_event 0). */
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1300, 300, &tr);
	CHECK_INT("->critical", st.estado, PANDORA_CRITICAL);
	CHECK_INT("->critical event", tr.event, PANDORA_EV_GOING_UP_CRITICAL);
	CHECK_INT("validate", tr.validate, 1);
	pandora_apply(&st, PANDORA_WARNING, &ff, 0, 1600, 300, &tr);
	CHECK_INT("->warning event", tr.event, PANDORA_EV_GOING_DOWN_WARNING);
	pandora_apply(&st, PANDORA_WARNING, &ff, 0, 1900, 300, &tr);
	CHECK_INT("same status: no event", tr.event, PANDORA_EV_NONE);
	CHECK_INT("status_changes", st.status_changes, 1);
	pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 2200, 300, &tr);
	CHECK_INT("->normal event", tr.event, PANDORA_EV_GOING_DOWN_NORMAL);
	pandora_apply(&st, PANDORA_WARNING, &ff, 0, 2500, 300, &tr);
	CHECK_INT("->up warning", tr.event, PANDORA_EV_GOING_UP_WARNING);

	/* A new module whose first sample is critical: an event. */
	memset(&st, 0, sizeof(st));
	st.estado = st.known_status = st.last_status = st.last_known_status =
	    PANDORA_NOTINIT;
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("notinit->critical", st.estado, PANDORA_CRITICAL);
	CHECK_INT("notinit->critical event", tr.event,
	    PANDORA_EV_GOING_UP_CRITICAL);

	/* Flip-flop: min_ff_event 2 needs three critical samples in a
	 * row; not-init still becomes normal on the first. */
	memset(&st, 0, sizeof(st));
	st.estado = st.known_status = st.last_status = st.last_known_status =
	    PANDORA_NOTINIT;
	ff.min_ff_event = 2;
	ff.module_ff_interval = 60;
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("ff 1 estado", st.estado, PANDORA_NORMAL);
	CHECK_INT("ff 1 no event", tr.event, PANDORA_EV_NONE);
	CHECK_INT("ff 1 interval", tr.current_interval, 60);
	CHECK_INT("ff 1 last_status", st.last_status, PANDORA_CRITICAL);
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1300, 300, &tr);
	CHECK_INT("ff 2 estado", st.estado, PANDORA_NORMAL);
	CHECK_INT("ff 2 changes", st.status_changes, 1);
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1600, 300, &tr);
	CHECK_INT("ff 3 estado", st.estado, PANDORA_CRITICAL);
	CHECK_INT("ff 3 event", tr.event, PANDORA_EV_GOING_UP_CRITICAL);
	CHECK_INT("ff 3 interval", tr.current_interval, 300);
	/* A normal sample in between restarts the count. */
	pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 1900, 300, &tr);
	CHECK_INT("ff back", st.estado, PANDORA_CRITICAL);
	CHECK_INT("ff back changes", st.status_changes, 0);

	/* each_ff: per-status thresholds. */
	memset(&st, 0, sizeof(st));
	memset(&ff, 0, sizeof(ff));
	ff.each_ff = 1;
	ff.min_ff_event_critical = 1;
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("each 1", st.estado, PANDORA_NORMAL);
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1300, 300, &tr);
	CHECK_INT("each 2", st.estado, PANDORA_CRITICAL);

	/* ff_type 1: counters. */
	memset(&st, 0, sizeof(st));
	memset(&ff, 0, sizeof(ff));
	ff.ff_type = 1;
	ff.min_ff_event = 1;
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("ctr 1", st.estado, PANDORA_NORMAL);
	CHECK_INT("ctr 1 ffc", st.ff_critical, 1);
	pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 1100, 300, &tr);
	pandora_apply(&st, PANDORA_CRITICAL, &ff, 0, 1200, 300, &tr);
	CHECK_INT("ctr 2", st.estado, PANDORA_CRITICAL);
	CHECK_INT("ctr reset", st.ff_critical, 0);

	/* Unknown returns to the last known status. */
	memset(&st, 0, sizeof(st));
	memset(&ff, 0, sizeof(ff));
	st.estado = PANDORA_UNKNOWN;
	st.known_status = PANDORA_CRITICAL;
	st.last_known_status = PANDORA_CRITICAL;
	ff.min_ff_event = 5;
	pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 1000, 300, &tr);
	CHECK_INT("unknown back", st.estado, PANDORA_CRITICAL);
	CHECK_INT("unknown back event", tr.event,
	    PANDORA_EV_GOING_UP_CRITICAL);

	/* status_changes never overflows TINYINT UNSIGNED. */
	memset(&st, 0, sizeof(st));
	memset(&ff, 0, sizeof(ff));
	ff.ff_type = 1;
	for (int i = 0; i < 300; i++)
		pandora_apply(&st, PANDORA_NORMAL, &ff, 0, 1000 + i, 300, &tr);
	CHECK_INT("clamp", st.status_changes, 255);
	CHECK_STR("type", pandora_event_type(PANDORA_EV_GOING_UP_WARNING),
	    "going_up_warning");
	CHECK_INT("criticity", pandora_event_criticity(
	    PANDORA_EV_GOING_DOWN_NORMAL), 2);
}

static void
test_regex(void)
{
	/* What Perl 5.36 says for "$s =~ /$re/", but for \d and \w on other
	 * scripts (ASCII here, as db-load(8) says) and bytes that are not
	 * UTF-8 (values from libxml2 are always UTF-8). */
	static const struct { const char *re, *s; int want; } t[] = {
		{ "^(FAILED|ERROR)", "FAILED: disk full", 1 },
		{ "^(FAILED|ERROR)", "no FAILED", 0 },
		{ "^active$", "active", 1 },
		{ "^active$", "active\n", 1 },		/* Perl $ */
		{ "^active$", "inactive", 0 },
		{ "x$", "x\n\n", 0 },
		{ "\\Z", "x\n", 1 },
		{ "^$", "", 1 },
		{ "^$", "x", 0 },
		{ ".*BSD.*", "Linux 6.18", 0 },
		{ ".*BSD.*", "FreeBSD 14", 1 },
		{ "a.c", "a\nc", 0 },			/* . skips LF */
		{ "\\d{3}-\\d{2}", "id 123-45", 1 },
		{ "\\d{3}-\\d{2}", "id 12-345", 0 },
		{ "^\\w+\\s\\w+$", "hello world", 1 },
		{ "^\\s*$", " \t\n", 1 },
		{ "\\bcat\\b", "a cat sat", 1 },
		{ "\\bcat\\b", "concat", 0 },
		{ "[^0-9]+", "123", 0 },
		{ "[\\d.]+%", "load 99.5%", 1 },
		{ "[]x]", "]", 1 },
		{ "colou?r", "color", 1 },
		{ "(?:ab)+c", "ababc", 1 },
		{ "x*?y", "xxy", 1 },
		{ "a{2,3}", "baab", 1 },
		{ "a{2,3}b", "ab", 0 },
		{ "{foo}", "x{foo}", 1 },		/* literal brace */
		{ "é+", "café", 1 },
		{ "^.$", "é", 1 },			/* one character */
		{ "[α-ω]", "λ", 1 },
		{ "\\x41", "A", 1 },
		{ "\\.", "a.b", 1 },
		{ "\\.", "ab", 0 },
		{ "row 011999", "row 011998 row 011999", 1 },
		{ "(a|aa)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", 0 },
		{ "[[:digit:]]+", "abc7", 1 },
		{ "\\Afoo\\z", "foo", 1 },
		{ "\\Afoo\\z", "foo\n", 0 },
		/* Perl's, which the hand-written matcher refused. */
		{ "(?=x)", "x", 1 },
		{ "(?i)x", "X", 1 },
		{ "a++a", "aaa", 0 },			/* possessive */
		{ "\\p{L}", "é", 1 },
		{ "(\\w+) \\1", "hello hello", 1 },
		{ "(\\w+) \\1", "hello world", 0 },
		{ "foo(?!bar)", "foobar", 0 },
		{ "foo(?!bar)", "foobaz", 1 },
		{ "(?<=\\$)\\d+", "cost $42", 1 },
		{ "(?<=\\$)\\d+", "cost 42", 0 },
		{ "(?<n>ab)\\k<n>", "abab", 1 },
		/* ASCII classes, as before (Perl: 1 on decoded text). */
		{ "\\d", "٣", 0 },
		{ "\\w", "ñ", 0 },
		/* A byte that is not UTF-8 matches nothing. */
		{ "a.c", "a\xff" "c", 0 },
	};
	static const char *const bad[] = {
		"(unclosed[group", "(a", "a)", "*a", "a**", "\\1", "[z-a]",
		"[[:bogus:]]", "a{65536}", "(?:ab){9000}", "(?<=a+)b", "\\C",
		"\\y", "\xff", "(\\B{1000}){8}z",
		"(((((((((((((((((((((((((x{1000}){1000})))))))))))))))))))))))",
	};
	const char *why;
	char *big, pad[1100];
	size_t n = 700 * 1024;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pandora_re *r;

		why = NULL;
		r = pandora_re_compile(t[i].re, PANDORA_RE_MAX_PATTERN, &why);
		CHECK(r != NULL, "compile %s: %s", t[i].re, why ? why : "?");
		if (r == NULL)
			continue;
		CHECK(pandora_re_match(r, t[i].s, strlen(t[i].s), 0, NULL) ==
		    t[i].want, "/%s/ on \"%s\": want %d", t[i].re, t[i].s,
		    t[i].want);
		pandora_re_free(r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pandora_re *r;

		why = NULL;
		r = pandora_re_compile(bad[i], PANDORA_RE_MAX_PATTERN, &why);
		CHECK(r == NULL && why != NULL && *why != '\0',
		    "%s should not compile", bad[i]);
		pandora_re_free(r);
		/* Made lazily, the same pattern is invalid at its match. */
		r = pandora_re_new(bad[i], PANDORA_RE_MAX_PATTERN, NULL);
		CHECK_INT(bad[i], pandora_re_match(r, "x", 1, 0, NULL),
		    PANDORA_RE_INVALID);
		CHECK(*pandora_re_why(r) != '\0', "%s: no reason", bad[i]);
		pandora_re_free(r);
	}
	why = NULL;
	CHECK(pandora_re_compile("x", 0, &why) == NULL && why != NULL,
	    "length cap");
	CHECK(pandora_re_new("", 10, &why) == NULL, "empty pattern");
	{
		struct pandora_re *r = pandora_re_new("xy", 1, NULL);

		CHECK_INT("too long", pandora_re_match(r, "xy", 2, 0, NULL),
		    PANDORA_RE_INVALID);
		CHECK(strstr(pandora_re_why(r), "longer than 1") != NULL,
		    "too long: %s", pandora_re_why(r));
		pandora_re_free(r);
	}
	/* Exponential backtracking stops at the match limit; Perl would
	 * find the match. */
	{
		struct pandora_re *r = re("^(a?){25}a{25}$");

		CHECK_INT("match limit", pandora_re_match(r,
		    "aaaaaaaaaaaaaaaaaaaaaaaaa", 25, 0, NULL),
		    PANDORA_RE_LIMIT);
		CHECK(strstr(pandora_re_why(r), "limit") != NULL,
		    "match limit: %s", pandora_re_why(r));
		pandora_re_free(r);
	}
	big = malloc(n + 2);
	CHECK(big != NULL, "malloc");
	if (big == NULL)
		return;
	memset(big, 'a', n);
	big[n] = '\0';
	{
		/* The required "b" is not there: no time at all. */
		struct pandora_re *r = re("(a|aa)*(a|aa)*(a|aa)*b");
		clock_t c0 = clock();
		int m = pandora_re_match(r, big, n, PANDORA_RE_MAX_SUBJECT,
		    NULL);
		double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;

		CHECK(m == 0, "pathological: got %d", m);
		CHECK(secs < 5, "pathological took %.2f s", secs);
		pandora_re_free(r);
		r = re("a$");
		CHECK_INT("subject cap", pandora_re_match(r, big, n, 1000,
		    NULL), 1);
		pandora_re_free(r);
	}
	/* The work cap: 1024 bytes of pattern see 8 KiB of the value. */
	big[n - 1] = 'b';
	memset(pad, 'p', sizeof(pad));
	memcpy(pad, "(?#", 3);
	memcpy(pad + PANDORA_RE_MAX_PATTERN - 3, ")a$", 4);
	{
		struct pandora_re *r = re(pad);

		CHECK(r != NULL && strlen(pad) == PANDORA_RE_MAX_PATTERN,
		    "padded pattern");
		CHECK_INT("work cap, long pattern", pandora_re_match(r, big, n,
		    PANDORA_RE_MAX_SUBJECT, NULL), 1);
		pandora_re_free(r);
		r = re("a$");
		CHECK_INT("work cap, short pattern", pandora_re_match(r, big,
		    n, PANDORA_RE_MAX_SUBJECT, NULL), 0);
		pandora_re_free(r);
	}
	free(big);
}

/* The budget: it stops a match, then nothing runs; outcomes per rule. */
static void
test_budget(void)
{
	struct pandora_re_budget b;
	struct pandora_thresholds t;
	struct pandora_re *r, *ok;
	char *s = malloc(16 * 1024 + 1);
	unsigned long runs;
	clock_t c0;
	double secs;

	CHECK(s != NULL, "malloc");
	if (s == NULL)
		return;
	memset(s, 'a', 16 * 1024);
	s[16 * 1024] = '\0';
	/* Quadratic in the value (each start scans to the end): seconds
	 * without the budget, 2 ms with it. */
	pandora_re_budget_init(&b, 2 * 1000000LL);
	r = pandora_re_new("a*\\d", PANDORA_RE_MAX_PATTERN, NULL);
	ok = pandora_re_new("^a", PANDORA_RE_MAX_PATTERN, NULL);
	CHECK_INT("cheap, under budget", pandora_re_match(ok, s, 10, 0, &b),
	    PANDORA_RE_MATCH);
	CHECK(b.used_ns > 0 && !b.spent && b.runs == 1, "accounting: used "
	    "%lld runs %lu", b.used_ns, b.runs);
	c0 = clock();
	CHECK_INT("budget stops the match", pandora_re_match(r, s,
	    16 * 1024, 0, &b), PANDORA_RE_BUDGET);
	secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
	CHECK(b.spent && secs < 1, "stopped after %.3f s", secs);
	CHECK(strstr(pandora_re_why(r), "budget of 2 ms") != NULL, "why: %s",
	    pandora_re_why(r));
	runs = b.runs;
	CHECK_INT("spent: not run", pandora_re_match(ok, s, 10, 0, &b),
	    PANDORA_RE_BUDGET);
	CHECK_INT("spent: nothing started", b.runs, runs);
	/* pandora_status leaves each rule's outcome in the budget. */
	pandora_re_budget_init(&b, 1000 * 1000000LL);
	memset(&t, 0, sizeof(t));
	t.str_critical = r;
	t.str_warning = ok;
	t.budget = &b;
	CHECK_INT("status", pandora_status("generic_data_string", -1, &t, 0,
	    "ab", 2, 0), PANDORA_WARNING);
	CHECK_INT("last critical", b.last_critical, PANDORA_RE_NOMATCH);
	CHECK_INT("last warning", b.last_warning, PANDORA_RE_MATCH);
	pandora_re_free(r);
	r = pandora_re_new("(", PANDORA_RE_MAX_PATTERN, NULL);
	t.str_critical = r;
	t.critical_inverse = 1;		/* invalid: no threshold, inverted */
	CHECK_INT("invalid rule", pandora_status("generic_data_string", -1,
	    &t, 0, "zz", 2, 0), PANDORA_NORMAL);
	CHECK_INT("last critical invalid", b.last_critical,
	    PANDORA_RE_INVALID);
	CHECK_INT("last warning nomatch", b.last_warning, PANDORA_RE_NOMATCH);
	CHECK_INT("numeric type", pandora_status("generic_data", -1, &t, 0,
	    "zz", 2, 0), PANDORA_NORMAL);
	CHECK_INT("numeric: no rule asked", b.last_critical,
	    PANDORA_RE_NOMATCH);
	pandora_re_free(r);
	pandora_re_free(ok);
	free(s);
}

int
main(void)
{
	test_safe_input();
	test_safe_output();
	test_text();
	test_values();
	test_inc();
	test_status();
	test_ff();
	test_regex();
	test_budget();
	return check_report("test_pandora");
}
