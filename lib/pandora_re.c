/* SPDX-License-Identifier: ISC */
/*
 * String thresholds: Perl regular expressions by PCRE2 (pandora.h).
 *
 * PCRE2's interpreter, not its JIT: db-load runs with
 * MemoryDenyWriteExecute=yes, under which the JIT cannot map its code,
 * and a JIT would give a process that parses hostile input writable
 * executable pages.  PCRE2's match, depth and heap limits hold for one
 * start position in the subject, and nothing interrupts one pattern item
 * (a class scanned across the value), so the cost of a match is bounded
 * three ways: the limits, a cap on pattern length times subject length
 * (PANDORA_RE_MAX_WORK), and a deadline checked before every pattern
 * item through PCRE2_AUTO_CALLOUT, against the budget of the file.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcre2.h>

#include "pandora.h"
#include "xalloc.h"

/*
 * UTF-8 as the rest of db-load (and the old matcher) sees values; an
 * invalid sequence in a value matches nothing; \C, which could split a
 * character, is refused; a callout before every item.
 */
#define RE_OPTIONS	(PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | \
			    PCRE2_NEVER_BACKSLASH_C | PCRE2_AUTO_CALLOUT)

struct pandora_re {
	char		*src;		/* "" when too long to keep */
	size_t		 len;
	pcre2_code	*code;		/* NULL until the first match */
	int		 invalid;
	char		 why[160];
};

/* One matcher per process: contexts and match data made once. */
static struct {
	pthread_once_t	 once;
	int		 ok;
	pcre2_compile_context *cc;
	pcre2_match_context *mc;
	pcre2_match_data *md;
} eng = { .once = PTHREAD_ONCE_INIT };

static void
engine_init(void)
{
	if ((eng.cc = pcre2_compile_context_create(NULL)) == NULL ||
	    (eng.mc = pcre2_match_context_create(NULL)) == NULL ||
	    (eng.md = pcre2_match_data_create(1, NULL)) == NULL)
		return;
	/* Perl's: "." and "$" know LF only; \R is any Unicode newline. */
	if (pcre2_set_newline(eng.cc, PCRE2_NEWLINE_LF) != 0 ||
	    pcre2_set_bsr(eng.cc, PCRE2_BSR_UNICODE) != 0 ||
	    pcre2_set_match_limit(eng.mc, PANDORA_RE_MATCH_LIMIT) != 0 ||
	    pcre2_set_depth_limit(eng.mc, PANDORA_RE_DEPTH_LIMIT) != 0 ||
	    pcre2_set_heap_limit(eng.mc, PANDORA_RE_HEAP_LIMIT) != 0)
		return;
	eng.ok = 1;
}

static int
engine(void)
{
	if (pthread_once(&eng.once, engine_init) != 0 || !eng.ok)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the budget                                                         */

static long long
clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) == -1)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
pandora_re_budget_init(struct pandora_re_budget *b, long long limit_ns)
{
	memset(b, 0, sizeof(*b));
	b->limit_ns = limit_ns;
	b->cpu0_ns = -1;
}

/*
 * The wall clock says the budget is spent at now: take the smaller of it
 * and the thread's CPU time since the first use as what was spent, and
 * go on with the rest, if any.  -1 if it is spent.
 */
static int
budget_recheck(struct pandora_re_budget *b, long long now)
{
	long long bound = b->base_ns + (now - b->t0_ns);
	long long cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	if (cpu >= 0 && b->cpu0_ns >= 0 && cpu - b->cpu0_ns < bound)
		bound = cpu - b->cpu0_ns;
	b->base_ns = bound;
	b->t0_ns = now;
	b->deadline_ns = now + (b->limit_ns - bound);
	if (bound >= b->limit_ns) {
		b->spent = 1;
		return -1;
	}
	return 0;
}

/* Before a compilation or a match: 0, or -1 if the budget is spent. */
static int
budget_start(struct pandora_re_budget *b)
{
	long long now;

	if (b == NULL)
		return 0;
	if (b->spent || (now = clock_ns(CLOCK_MONOTONIC)) < 0) {
		b->spent = 1;
		return -1;
	}
	if (b->cpu0_ns < 0)
		b->cpu0_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	b->runs++;
	b->t0_ns = now;
	b->base_ns = b->used_ns;
	b->deadline_ns = now + (b->limit_ns - b->base_ns);
	if (b->base_ns >= b->limit_ns)
		return budget_recheck(b, now);
	return 0;
}

static void
budget_end(struct pandora_re_budget *b)
{
	long long now;

	if (b == NULL)
		return;
	if ((now = clock_ns(CLOCK_MONOTONIC)) < 0) {
		b->spent = 1;
		return;
	}
	b->used_ns = b->base_ns + (now - b->t0_ns);
}

/*
 * Before every pattern item: stop the match when the budget is spent.
 * The coarse clock costs a fifth of the fine one (5 ns, not 24, here)
 * and lags by at most a tick (4 ms at HZ=250); the fine one every 16
 * items, for cheap items (and in case the ticks stop: nohz_full).
 */
static int
re_callout(pcre2_callout_block *cb, void *arg)
{
	struct pandora_re_budget *b = arg;
	long long now;

	(void)cb;
	now = clock_ns((++b->items & 15) == 0 ? CLOCK_MONOTONIC :
	    CLOCK_MONOTONIC_COARSE);
	if (now >= 0 && now < b->deadline_ns)
		return 0;
	if ((now = clock_ns(CLOCK_MONOTONIC)) < 0 ||
	    (now >= b->deadline_ns && budget_recheck(b, now) == -1)) {
		b->spent = 1;
		return PCRE2_ERROR_CALLOUT;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* rules                                                              */

struct pandora_re *
pandora_re_new(const char *pattern, size_t maxlen, const char **why)
{
	struct pandora_re *re;
	size_t len = strlen(pattern);

	if (len == 0) {
		if (why != NULL)
			*why = "empty pattern";
		return NULL;
	}
	re = xcalloc(1, sizeof(*re));
	if (len > maxlen) {
		re->invalid = 1;
		snprintf(re->why, sizeof(re->why), "pattern of %zu bytes, "
		    "longer than %zu", len, maxlen);
		re->src = xstrdup("");
		return re;
	}
	re->src = xstrdup(pattern);
	re->len = len;
	return re;
}

/* PCRE2's message for code, with the pattern offset if at_offset. */
static void
set_why(struct pandora_re *re, int code, int at_offset, size_t off)
{
	PCRE2_UCHAR msg[120];

	/* A message cut to the buffer is still a message. */
	if (pcre2_get_error_message(code, msg, sizeof(msg)) ==
	    PCRE2_ERROR_BADDATA)
		snprintf((char *)msg, sizeof(msg), "PCRE2 error %d", code);
	if (at_offset)
		snprintf(re->why, sizeof(re->why), "%s at offset %zu",
		    (char *)msg, off);
	else
		snprintf(re->why, sizeof(re->why), "%s", (char *)msg);
}

/* pcre2_compile, once; -1 (why set) if the pattern is invalid. */
static int
re_build(struct pandora_re *re)
{
	PCRE2_SIZE off = 0;
	int err = 0;

	re->code = pcre2_compile((PCRE2_SPTR)re->src, re->len, RE_OPTIONS,
	    &err, &off, eng.cc);
	if (re->code == NULL) {
		set_why(re, err, 1, (size_t)off);
		re->invalid = 1;
		return -1;
	}
	return 0;
}

struct pandora_re *
pandora_re_compile(const char *pattern, size_t maxlen, const char **why)
{
	static char whybuf[sizeof(((struct pandora_re *)0)->why)];
	struct pandora_re *re;

	if ((re = pandora_re_new(pattern, maxlen, why)) == NULL)
		return NULL;
	if (!re->invalid && engine() == -1) {
		snprintf(re->why, sizeof(re->why), "no memory");
		re->invalid = 1;
	}
	if (re->invalid || re_build(re) == -1) {
		strlcpy(whybuf, re->why, sizeof(whybuf));
		if (why != NULL)
			*why = whybuf;
		pandora_re_free(re);
		return NULL;
	}
	return re;
}

int
pandora_re_match(struct pandora_re *re, const char *s, size_t len,
    size_t max_subject, struct pandora_re_budget *b)
{
	size_t n, cap;
	int rc;

	if (re == NULL)
		return PANDORA_RE_NOMATCH;
	if (re->invalid)
		return PANDORA_RE_INVALID;
	if (engine() == -1) {
		snprintf(re->why, sizeof(re->why), "no memory");
		return PANDORA_RE_LIMIT;
	}
	if (budget_start(b) == -1) {
		snprintf(re->why, sizeof(re->why), "the matching budget of "
		    "%lld ms is spent", b->limit_ns / 1000000);
		return PANDORA_RE_BUDGET;
	}
	if (re->code == NULL && re_build(re) == -1) {
		budget_end(b);
		return PANDORA_RE_INVALID;
	}
	if (s == NULL) {
		s = "";
		len = 0;
	}
	n = len;
	if (max_subject > 0 && n > max_subject)
		n = max_subject;
	cap = PANDORA_RE_MAX_WORK / re->len;
	if (n > cap)
		n = cap;
	if (n < len)
		n = pandora_utf8_cut(s, len, n);
	/* Always 0: only the callout and its data are set. */
	(void)pcre2_set_callout(eng.mc, b != NULL ? re_callout : NULL, b);
	rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, eng.md, eng.mc);
	budget_end(b);
	if (rc >= 0)
		return PANDORA_RE_MATCH;
	if (rc == PCRE2_ERROR_NOMATCH)
		return PANDORA_RE_NOMATCH;
	if (rc == PCRE2_ERROR_CALLOUT && b != NULL) {
		snprintf(re->why, sizeof(re->why), "the matching budget of "
		    "%lld ms was spent during the match", b->limit_ns /
		    1000000);
		return PANDORA_RE_BUDGET;
	}
	set_why(re, rc, 0, 0);
	return PANDORA_RE_LIMIT;
}

const char *
pandora_re_why(const struct pandora_re *re)
{
	return re != NULL && re->why[0] != '\0' ? re->why : "";
}

const char *
pandora_re_pattern(const struct pandora_re *re)
{
	return re != NULL ? re->src : "";
}

void
pandora_re_free(struct pandora_re *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	free(re->src);
	free(re);
}
