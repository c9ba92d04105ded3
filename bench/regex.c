/* SPDX-License-Identifier: ISC */
/*
 * bench/regex.sh's driver: the string thresholds of generated agent
 * files, parsed by lib/agentxml and evaluated as db-load does (every
 * sample of every string module, str_critical then str_warning), by
 * the PCRE2 engine under a file's budget (lib/pandora_re.c) and by the
 * hand-written matcher it replaced (old_*, built from git by
 * bench/regex.sh), each also with every pattern replaced by a plain
 * one.  Prints the CPU time of compiling and matching per file: the
 * median and the maximum over the rounds.  Exit 1 if a file costs the
 * PCRE2 engine more than the goal.
 *
 *   regex [-o] [-r rounds] [-b budget_ms] [-g goal_ms] [-c old_cap_s]
 *         [-w dir]
 *   -o: also the old matcher; -w: write the generated files there.
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentxml.h"
#include "pandora.h"

/* The matcher pandora.c had until issue 12 (symbols renamed old_*). */
struct old_re;
struct old_re	*old_pandora_re_compile(const char *, size_t, const char **);
int		 old_pandora_re_match(const struct old_re *, const char *,
		    size_t, size_t);
void		 old_pandora_re_free(struct old_re *);

#define PLAIN		"ERROR"
#define MAX_FILE	2000000		/* max_size, db-load's default */

/* A generated file, written through open_memstream. */
struct buf {
	FILE	*fp;
	char	*p;
	size_t	 len;
};

static void __attribute__((format(printf, 2, 3)))
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(b->fp, fmt, ap) < 0)
		err(1, "vfprintf");
	va_end(ap);
}

/* Bytes written so far. */
static size_t
blen(struct buf *b)
{
	long n = ftell(b->fp);

	if (n < 0)
		err(1, "ftell");
	return (size_t)n;
}

/* s n times, NUL-terminated, malloc'ed */
static char *
rep(const char *s, size_t n)
{
	size_t l = strlen(s);
	char *r = malloc(l * n + 1);

	if (r == NULL)
		err(1, "malloc");
	for (size_t i = 0; i < n; i++)
		memcpy(r + i * l, s, l);
	r[l * n] = '\0';
	return r;
}

static void
head(struct buf *b)
{
	bprintf(b, "<?xml version='1.0' encoding='UTF-8'?>\n<agent_data "
	    "agent_name='bench-01' interval='300' version='7.0NG' "
	    "os_name='linux' timestamp='2026/11/27 21:00:00'>\n");
}

static void
tail(struct buf *b)
{
	bprintf(b, "</agent_data>\n");
}

/* A string module with its thresholds and a datalist of n copies of
 * value (one <data> when n is 1). */
static void
module(struct buf *b, const char *name, const char *crit, const char *warn,
    const char *value, size_t n)
{
	bprintf(b, "<module><name>%s</name><type>generic_data_string</type>",
	    name);
	if (crit != NULL)
		bprintf(b, "<str_critical><![CDATA[%s]]></str_critical>", crit);
	if (warn != NULL)
		bprintf(b, "<str_warning><![CDATA[%s]]></str_warning>", warn);
	if (n == 1)
		bprintf(b, "<data><![CDATA[%s]]></data>", value);
	else {
		bprintf(b, "<datalist>");
		for (size_t i = 0; i < n; i++)
			bprintf(b, "<data><value><![CDATA[%s]]></value></data>",
			    value);
		bprintf(b, "</datalist>");
	}
	bprintf(b, "</module>\n");
}

/* The issue's file: one value of 200 KB and (\B{1000}){8}z. */
static void
gen_issue(struct buf *b)
{
	char *v = rep("a", 200000);

	v[199999] = 'z';
	head(b);
	module(b, "Bomb", "(\\B{1000}){8}z", NULL, v, 1);
	tail(b);
	free(v);
}

/* n modules "<prefix> <i>" with the same rules and samples. */
static void
many(struct buf *b, int n, const char *prefix, const char *crit,
    const char *warn, const char *value, size_t samples)
{
	char name[64];

	head(b);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s %d", prefix, i);
		module(b, name, crit, warn, value, samples);
	}
	tail(b);
}

/* Exponential backtracking in every rule of 1,000 modules (module_cap),
 * 26 samples each. */
static void
gen_backtrack(struct buf *b)
{
	many(b, 1000, "Backtrack", "^(a?){25}a{25}$", "^(a+)+$",
	    "aaaaaaaaaaaaaaaaaaaaaaaaa!", 26);
}

/*
 * The most one pattern item costs: a caseless class of 509 two-byte
 * code points (1,024 bytes of pattern), scanned along a value made of
 * the one it compares last, from every start position; the work cap
 * leaves 8 KiB of each value to a pattern of 1,024 bytes.
 */
static void
gen_scan(struct buf *b)
{
	char pat[1100], name[32], *v;
	size_t n = 5;

	memcpy(pat, "(?i)[", n);
	for (int i = 0; n + 2 + 4 <= 1024; i++) {
		pat[n++] = (char)(0xc4 + (i >> 6));	/* U+0100 on */
		pat[n++] = (char)(0x80 + (i & 63));
	}
	memcpy(pat + n, "]*\\d", 5);
	/* The last character of the class, 4,096 times: 8 KiB. */
	v = malloc(8 * 1024 + 1);
	if (v == NULL)
		err(1, "malloc");
	for (size_t i = 0; i < 8 * 1024; i += 2)
		memcpy(v + i, pat + n - 2, 2);
	v[8 * 1024] = '\0';
	head(b);
	for (int i = 0; blen(b) + 2 * n + 8 * 1024 + 256 < MAX_FILE; i++) {
		snprintf(name, sizeof(name), "Scan %d", i);
		module(b, name, pat, pat, v, 1);
	}
	tail(b);
	free(v);
}

/* Quadratic in the value: each start position scans to the end of a
 * value of 1 MiB (the longest text agentxml takes). */
static void
gen_quadratic(struct buf *b)
{
	char *v = rep("a", 1024 * 1024 - 64);

	head(b);
	module(b, "Quadratic 1", "a*\\d", "a*\\w\\d", v, 1);
	v[1000] = '\0';
	module(b, "Quadratic 2", "a*\\d", "a*\\w\\d", v, 1);
	tail(b);
	free(v);
}

/* Compilation: 800 modules, two distinct patterns of 1,000+ bytes of
 * named groups each, one short value. */
static void
gen_compile(struct buf *b)
{
	char name[32], c[1100], w[1100];

	head(b);
	for (int i = 0; i < 800; i++) {
		size_t nc = 0, nw = 0;

		for (int g = 0; nc < 1000; g++) {
			nc += snprintf(c + nc, sizeof(c) - nc, "(?<c%d_%d>a|b)",
			    i, g);
			nw += snprintf(w + nw, sizeof(w) - nw, "(?<w%d_%d>a|b)",
			    i, g);
		}
		snprintf(name, sizeof(name), "Compile %d", i);
		module(b, name, c, w, "x", 1);
	}
	tail(b);
}

/* A big benign file: 1,000 modules of 16 log lines, plain patterns. */
static void
gen_plainbig(struct buf *b)
{
	many(b, 1000, "Log", "ERROR|FATAL", "WARN", "2026-11-27 21:00:00 "
	    "app[4711]: request served in 12 ms, status 200", 16);
}

static const struct gen {
	const char *name;
	void	(*make)(struct buf *);
} gens[] = {
	{ "issue", gen_issue },
	{ "backtrack", gen_backtrack },
	{ "scan", gen_scan },
	{ "quadratic", gen_quadratic },
	{ "compile", gen_compile },
	{ "plain-big", gen_plainbig },
};

/* ------------------------------------------------------------------ */

static double
cpu_ms(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == -1)
		err(1, "clock_gettime");
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Outcomes of the new engine: match, no match, invalid, limit, budget. */
struct tally {
	unsigned long	 n[5];
	unsigned long	 evals;
};

static void
tally(struct tally *t, int rc)
{
	switch (rc) {
	case PANDORA_RE_MATCH: t->n[0]++; break;
	case PANDORA_RE_NOMATCH: t->n[1]++; break;
	case PANDORA_RE_INVALID: t->n[2]++; break;
	case PANDORA_RE_LIMIT: t->n[3]++; break;
	default: t->n[4]++; break;
	}
}

/* The pattern as db-load compiles it: stored HTML-escaped, decoded. */
static char *
as_stored(const char *raw)
{
	char *esc, *dec;

	esc = pandora_html_escape(raw, strlen(raw), NULL);
	dec = pandora_safe_output(esc, strlen(esc), NULL);
	free(esc);
	return dec;
}

/* A file's string modules with their patterns as db-load stores and
 * decodes them (plain: every pattern PLAIN); made before the clock
 * starts, as db-load makes them when it reads or creates a module. */
struct rules {
	const struct agent_module **m;
	char		**pat;		/* 2 per module; NULL: none */
	size_t		 n;
};

static void
rules_make(struct rules *r, const struct agent_data *ad, int plain)
{
	size_t cap = 0;

	memset(r, 0, sizeof(*r));
	for (const struct agent_module *m = ad->modules; m; m = m->next)
		cap++;
	if ((r->m = calloc(cap + 1, sizeof(*r->m))) == NULL ||
	    (r->pat = calloc(2 * cap + 2, sizeof(*r->pat))) == NULL)
		err(1, "calloc");
	for (const struct agent_module *m = ad->modules; m; m = m->next) {
		const char *raw[2] = { m->tag[AX_M_STR_CRITICAL],
		    m->tag[AX_M_STR_WARNING] };

		if (m->rule != NULL || !pandora_type_is_string(m->type_name))
			continue;
		for (int i = 0; i < 2; i++)
			if (raw[i] != NULL)
				r->pat[2 * r->n + i] = as_stored(plain ? PLAIN :
				    raw[i]);
		r->m[r->n++] = m;
	}
}

static void
rules_free(struct rules *r)
{
	for (size_t i = 0; i < 2 * r->n; i++)
		free(r->pat[i]);
	free(r->pat);
	free(r->m);
}

/* The new engine on one file: CPU ms of compiling and matching (the
 * rules made first, lazily compiled), outcomes in t. */
static double
run_new(const struct rules *r, long long budget_ns, struct tally *t)
{
	struct pandora_re_budget b;
	struct pandora_re **re = calloc(2 * r->n + 2, sizeof(*re));
	double c0, c1;

	if (re == NULL)
		err(1, "calloc");
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < 2 * r->n; i++)
		if (r->pat[i] != NULL)
			re[i] = pandora_re_new(r->pat[i],
			    PANDORA_RE_MAX_PATTERN, NULL);
	pandora_re_budget_init(&b, budget_ns);
	c0 = cpu_ms();
	for (size_t k = 0; k < r->n; k++) {
		const struct agent_module *m = r->m[k];
		struct pandora_thresholds th;

		memset(&th, 0, sizeof(th));
		th.str_critical = re[2 * k];
		th.str_warning = re[2 * k + 1];
		th.max_subject = PANDORA_RE_MAX_SUBJECT;
		th.budget = &b;
		for (const struct agent_sample *s = m->samples; s; s = s->next) {
			if (s->value == NULL || s->len == 0)
				continue;
			(void)pandora_status(m->type_name, -1, &th, 0,
			    s->value, s->len, 0);
			if (th.str_critical != NULL) {
				tally(t, b.last_critical);
				t->evals++;
			}
			if (th.str_warning != NULL && b.last_critical !=
			    PANDORA_RE_MATCH) {
				tally(t, b.last_warning);
				t->evals++;
			}
		}
	}
	c1 = cpu_ms();
	for (size_t i = 0; i < 2 * r->n; i++)
		pandora_re_free(re[i]);
	free(re);
	return c1 - c0;
}

/* The old matcher on one file, as the old db-load (patterns compiled
 * when the module is read, critical before warning): CPU ms of
 * compiling and matching; stops after cap_ms (*stopped set, *done the
 * evaluations made). */
static double
run_old(const struct rules *r, double cap_ms, int *stopped,
    unsigned long *done)
{
	double c0 = cpu_ms(), c1;

	*stopped = 0;
	*done = 0;
	for (size_t k = 0; k < r->n && !*stopped; k++) {
		struct old_re *re[2] = { NULL, NULL };

		for (int i = 0; i < 2; i++)
			if (r->pat[2 * k + i] != NULL)
				re[i] = old_pandora_re_compile(r->pat[2 * k + i],
				    PANDORA_RE_MAX_PATTERN, NULL);
		for (const struct agent_sample *s = r->m[k]->samples; s &&
		    !*stopped; s = s->next) {
			if (s->value == NULL || s->len == 0)
				continue;
			for (int i = 0; i < 2; i++) {
				if (re[i] == NULL)
					continue;
				(*done)++;
				if (old_pandora_re_match(re[i], s->value, s->len,
				    PANDORA_RE_MAX_SUBJECT) == 1)
					break;
			}
			if (cpu_ms() - c0 > cap_ms)
				*stopped = 1;
		}
		old_pandora_re_free(re[0]);
		old_pandora_re_free(re[1]);
	}
	c1 = cpu_ms();
	return c1 - c0;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: regex [-o] [-r rounds] [-b budget_ms] "
	    "[-g goal_ms] [-c old_cap_s] [-w dir]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	struct agentxml_limits lim;
	const char *wdir = NULL;
	int ch, rounds = 5, old = 0, fail = 0;
	double budget_ms = PANDORA_RE_BUDGET_MS, goal_ms = 50, cap_s = 60;
	double worst = 0;

	while ((ch = getopt(argc, argv, "b:c:g:or:w:")) != -1) {
		switch (ch) {
		case 'b': budget_ms = atof(optarg); break;
		case 'c': cap_s = atof(optarg); break;
		case 'g': goal_ms = atof(optarg); break;
		case 'o': old = 1; break;
		case 'r': rounds = atoi(optarg); break;
		case 'w': wdir = optarg; break;
		default: usage();
		}
	}
	if (rounds < 1 || rounds > 1000 || budget_ms <= 0)
		usage();
	agentxml_init();
	agentxml_limits_default(&lim);
	lim.max_size = MAX_FILE;
	lim.now = 0;
	printf("| file | bytes | modules | rule evaluations | outcomes "
	    "(match/no/invalid/limit/budget) | PCRE2, plain pattern | "
	    "PCRE2 | old, plain pattern | old |\n");
	printf("|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
	for (size_t g = 0; g < sizeof(gens) / sizeof(gens[0]); g++) {
		struct buf b;
		struct agent_data *ad;
		struct rules rp, rf;
		struct tally t;
		char why[256], oldp[64] = "-", oldf[64] = "-";
		double *tp = calloc(rounds, sizeof(double));
		double *tf = calloc(rounds, sizeof(double));
		unsigned nmod = 0;

		if (tp == NULL || tf == NULL)
			err(1, "calloc");
		if ((b.fp = open_memstream(&b.p, &b.len)) == NULL)
			err(1, "open_memstream");
		gens[g].make(&b);
		if (fclose(b.fp) == EOF)
			err(1, "%s", gens[g].name);
		if (b.len > MAX_FILE)
			errx(1, "%s: %zu bytes, over %d", gens[g].name, b.len,
			    MAX_FILE);
		if (wdir != NULL) {
			char path[4096];
			FILE *fp;

			snprintf(path, sizeof(path), "%s/%s.data", wdir,
			    gens[g].name);
			if ((fp = fopen(path, "w")) == NULL ||
			    fwrite(b.p, 1, b.len, fp) != b.len ||
			    fclose(fp) == EOF)
				err(1, "%s", path);
		}
		if (agentxml_parse(b.p, b.len, &lim, &ad, why,
		    sizeof(why)) == -1)
			errx(1, "%s: %s", gens[g].name, why);
		for (const struct agent_module *m = ad->modules; m; m = m->next)
			nmod += m->rule == NULL;
		rules_make(&rp, ad, 1);
		rules_make(&rf, ad, 0);
		for (int r = 0; r < rounds; r++) {
			tp[r] = run_new(&rp, budget_ms * 1e6, &t);
			tf[r] = run_new(&rf, budget_ms * 1e6, &t);
		}
		qsort(tp, rounds, sizeof(double), dbl_cmp);
		qsort(tf, rounds, sizeof(double), dbl_cmp);
		if (old) {
			unsigned long done;
			int stopped;
			double ms;

			ms = run_old(&rp, cap_s * 1e3, &stopped, &done);
			snprintf(oldp, sizeof(oldp), "%s%.1f", stopped ? ">" :
			    "", ms);
			ms = run_old(&rf, cap_s * 1e3, &stopped, &done);
			if (stopped)
				snprintf(oldf, sizeof(oldf), ">%.0f (stopped "
				    "after %lu of %lu)", ms, done, t.evals);
			else
				snprintf(oldf, sizeof(oldf), "%.1f", ms);
		}
		printf("| %s | %zu | %u | %lu | %lu/%lu/%lu/%lu/%lu | "
		    "%.2f (max %.2f) | **%.2f (max %.2f)** | %s | %s |\n",
		    gens[g].name, b.len, nmod, t.evals, t.n[0], t.n[1], t.n[2],
		    t.n[3], t.n[4], tp[rounds / 2], tp[rounds - 1],
		    tf[rounds / 2], tf[rounds - 1], oldp, oldf);
		fflush(stdout);
		if (tf[rounds - 1] > worst)
			worst = tf[rounds - 1];
		if (tf[rounds - 1] > goal_ms || tp[rounds - 1] > goal_ms)
			fail = 1;
		rules_free(&rp);
		rules_free(&rf);
		agentxml_free(ad);
		free(b.p);
		free(tp);
		free(tf);
	}
	printf("\nbudget %.0f ms per file; worst file %.2f ms of CPU "
	    "(goal: at most %.0f ms): %s\n", budget_ms, worst, goal_ms,
	    fail ? "MISSED" : "met");
	return fail;
}
