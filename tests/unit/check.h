/* SPDX-License-Identifier: ISC */
/*
 * The unit tests' checks: each CHECK is one counted expectation, and a
 * failure prints "file:line: what: got X, want Y".  check_report()
 * prints the line tools/check.sh reads, "name: N passed, M failed".
 * Included once per test program (it defines the counters).
 */
#ifndef OCTO_TEST_CHECK_H
#define OCTO_TEST_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...) do {						\
	if (cond)							\
		passed++;						\
	else {								\
		failed++;						\
		printf("%s:%d: ", __FILE__, __LINE__);			\
		printf(__VA_ARGS__);					\
		putchar('\n');						\
	}								\
} while (0)

#define CHECK_INT(what, got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	CHECK(g_ == w_, "%s: got %lld, want %lld", (what), g_, w_);	\
} while (0)

/* Equal strings, or both NULL; shown printable (check_show). */
#define CHECK_STR(what, got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	CHECK((g_ == NULL && w_ == NULL) || (g_ != NULL && w_ != NULL && \
	    strcmp(g_, w_) == 0), "%s: got %s%s%s, want %s%s%s", (what), \
	    g_ ? "\"" : "", check_show(g_, 0), g_ ? "\"" : "",		\
	    w_ ? "\"" : "", check_show(w_, 1), w_ ? "\"" : "");	\
} while (0)

#define CHECK_HAS(what, hay, needle) do {				\
	const char *h_ = (hay), *n_ = (needle);				\
	CHECK(h_ != NULL && strstr(h_, n_) != NULL,			\
	    "%s: got \"%s\", want it to contain \"%s\"", (what),	\
	    check_show(h_, 0), check_show(n_, 1));			\
} while (0)

#define CHECK_MODE(what, got, want) do {				\
	unsigned g_ = (unsigned)(got), w_ = (unsigned)(want);		\
	CHECK(g_ == w_, "%s: got mode %04o, want %04o", (what), g_, w_); \
} while (0)

/* A return code and the errno that came with it. */
#define CHECK_ERRNO(what, rc, want_rc, want_errno) do {		\
	long long r_ = (long long)(rc);					\
	int e_ = errno;							\
	CHECK(r_ == (want_rc) && e_ == (want_errno),			\
	    "%s: got %lld (%s), want %lld (%s)", (what), r_,		\
	    strerror(e_), (long long)(want_rc), strerror(want_errno));	\
} while (0)

/* A printable rendering of s, cut at 300 bytes; two slots. */
static __attribute__((unused)) const char *
check_show(const char *s, int slot)
{
	static char buf[2][1300];
	char *p = buf[slot & 1];
	size_t o = 0;

	if (s == NULL)
		return "NULL";
	for (size_t i = 0; s[i] != '\0' && o < sizeof(buf[0]) - 8; i++) {
		unsigned char c = s[i];

		if (i == 300) {
			o += snprintf(p + o, 8, "[...]");
			break;
		}
		if (c < 0x20 || c >= 0x7f)
			o += snprintf(p + o, 8, "<%02x>", c);
		else
			p[o++] = c;
	}
	p[o] = '\0';
	return p;
}

/* The summary line tools/check.sh parses; the exit status. */
static __attribute__((unused)) int
check_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, passed, failed);
	return failed != 0;
}

#endif
