/* SPDX-License-Identifier: ISC */
/*
 * Pandora FMS data-server rules, as pure functions: the entity encoding
 * of names (safe_input/safe_output), module status from thresholds, the
 * flip-flop state machine of tagente_estado, incremental rates, value
 * checks and formatting, and the string thresholds: Perl regular
 * expressions by PCRE2, with a bounded cost (pandora_re.c).  No I/O, no
 * database: db-load applies them and the unit tests check them.  See
 * db-load(8) and spec/agent-xml.md §2.
 */
#ifndef OCTO_PANDORA_H
#define OCTO_PANDORA_H

#include <stddef.h>

/* Module status values (tagente_estado.estado). */
#define PANDORA_NORMAL		0
#define PANDORA_CRITICAL	1
#define PANDORA_WARNING		2
#define PANDORA_UNKNOWN		3
#define PANDORA_NOTINIT		4

/* ---- text --------------------------------------------------------- */

/*
 * Pandora's safe_input: every character with an entry in the server's
 * table becomes its entity (space "&#x20;", "'" "&#039;", "(" "&#40;",
 * "ñ" "&ntilde;", ...); LF is kept (the server's regex "." skips it);
 * everything else is copied.  Returns a malloc'ed NUL-terminated string
 * and its length in *outlen (may be NULL).
 */
char		*pandora_safe_input(const char *s, size_t len, size_t *outlen);
/* safe_output: the entities of the same table and numeric &#N; &#xH;. */
char		*pandora_safe_output(const char *s, size_t len, size_t *outlen);
/* & < > " ' as &amp; &lt; &gt; &quot; &#039; (free text, display-safe). */
char		*pandora_html_escape(const char *s, size_t len, size_t *outlen);
/* The longest prefix of s (len bytes) of at most max bytes that ends on
 * a UTF-8 character boundary. */
size_t		 pandora_utf8_cut(const char *s, size_t len, size_t max);
/* The same, and never inside an entity ("&...;") of safe_input's text. */
size_t		 pandora_entity_cut(const char *s, size_t len, size_t max);
/* The same, counting characters (VARCHAR(n) limits), not bytes. */
size_t		 pandora_utf8_cut_chars(const char *s, size_t len, size_t max);

/* ---- values ------------------------------------------------------- */

/* Perl-numeric as the server's is_numeric: [+-]?(D+([.,]D*)?|[.,]D+). */
int		 pandora_is_numeric(const char *s);
/* tagente.id_os from the os_name attribute (substring rules). */
int		 pandora_os_id(const char *os_name);
/* post_process: v * pp when pp != 0. */
double		 pandora_post_process(double v, double pp);
/* 1 if v passes the module's [min, max] check (only when min != max). */
int		 pandora_check_min_max(double v, double min, double max);
/* "%.5f" into buf; returns the length, or -1 if it does not fit. */
int		 pandora_format(double v, char *buf, size_t len);
/* The value in event text: "%.<prec>f", trailing 0s and '.' removed. */
int		 pandora_event_value(const char *data, int prec, char *buf,
		    size_t len);

/* ---- incremental modules ------------------------------------------ */

#define PANDORA_INC_OK		0	/* *out is the rate (or delta) */
#define PANDORA_INC_FIRST	1	/* no previous raw: store it, no data */
#define PANDORA_INC_OLD		2	/* older than the stored raw: no data */
#define PANDORA_INC_SAME	3	/* same timestamp: no data */
#define PANDORA_INC_RESET	4	/* counter went back: store, no data */

/*
 * One sample v at time t of a generic_data_inc (abs = 0: rate Δv/Δt)
 * or generic_data_inc_abs (abs = 1: Δv) module, against the stored raw
 * (prev, prev_t) if have_prev.  On OK and RESET and FIRST the caller
 * stores (v, t) as the new raw; on OLD and SAME nothing changes.
 */
int		 pandora_inc(int abs, int have_prev, double prev,
		    long long prev_t, double v, long long t, double *out);

/* ---- status ------------------------------------------------------- */

struct pandora_re;
struct pandora_re_budget;

/* What decides a module's status (tagente_modulo columns). */
struct pandora_thresholds {
	double		 min_warning, max_warning;
	double		 min_critical, max_critical;
	int		 warning_inverse, critical_inverse;
	int		 percentage_warning, percentage_critical;
	struct pandora_re *str_warning;		/* NULL: none */
	struct pandora_re *str_critical;
	size_t		 max_subject;	/* string matching limit (bytes) */
	/* What matching may still cost (NULL: only PCRE2's limits); the
	 * outcome of each rule is left in it. */
	struct pandora_re_budget *budget;
};

/* Type name classes, by suffix as the server does. */
int		 pandora_type_is_string(const char *type);	/* *_string* */
int		 pandora_type_is_proc(const char *type);	/* *_proc */
int		 pandora_type_is_async(const char *type);	/* async* */
int		 pandora_type_is_inc(const char *type);		/* *_inc */
int		 pandora_type_is_inc_abs(const char *type);	/* *_inc_abs */

/*
 * The status of one processed sample: xml_status (NORMAL, CRITICAL or
 * WARNING; -1 if the file had none) wins; otherwise the windows
 * (numeric types, num) or the regular expressions (string types, str),
 * critical before warning.  last is the previous value (percentage
 * thresholds).  Returns PANDORA_NORMAL, _CRITICAL or _WARNING.
 */
int		 pandora_status(const char *type, int xml_status,
		    const struct pandora_thresholds *, double num,
		    const char *str, size_t len, double last);

/* Flip-flop settings of a module (tagente_modulo). */
struct pandora_ff {
	unsigned	 min_ff_event;
	unsigned	 min_ff_event_normal, min_ff_event_warning,
			 min_ff_event_critical;
	int		 each_ff, ff_type;
	unsigned	 ff_timeout;
	unsigned	 module_ff_interval;
};

/* The status bookkeeping of tagente_estado. */
struct pandora_estado {
	int		 estado, known_status, last_status, last_known_status;
	unsigned	 status_changes;	/* TINYINT UNSIGNED: <= 255 */
	long long	 ff_start_utimestamp;
	unsigned	 ff_normal, ff_warning, ff_critical;
	long long	 last_status_change;
};

/* Event types (tevento.event_type) a transition may raise. */
enum pandora_event {
	PANDORA_EV_NONE = 0,
	PANDORA_EV_GOING_UP_CRITICAL,	/* criticity 4 */
	PANDORA_EV_GOING_UP_WARNING,	/* 3 */
	PANDORA_EV_GOING_DOWN_WARNING,	/* 3 */
	PANDORA_EV_GOING_DOWN_NORMAL	/* 2, created validated */
};

struct pandora_transition {
	enum pandora_event event;	/* NONE: no tevento row */
	int		 validate;	/* validate the module's open events */
	int		 changed;	/* estado changed: counters */
	long		 current_interval;
};

/*
 * Apply a sample's new_status to st as pandora_process_module does:
 * flip-flop counters (ff_type 0: consecutive samples, 1: counters with
 * ff_timeout for async types), not-init becomes normal on the first
 * data, unknown returns to the last known status.  interval is the
 * module's (or the agent's) interval; t the sample time.  The estado
 * row then gets estado = known_status = st->estado and last_status =
 * last_known_status = new_status.
 */
void		 pandora_apply(struct pandora_estado *st, int new_status,
		    const struct pandora_ff *, int is_async, long long t,
		    long interval, struct pandora_transition *out);
/* tevento.event_type and criticity of an event. */
const char	*pandora_event_type(enum pandora_event);
int		 pandora_event_criticity(enum pandora_event);
/* The server's default text: "Module '_module_' is going to ... (_data_)". */
const char	*pandora_event_text(enum pandora_event);

/* ---- regular expressions ------------------------------------------ */

#define PANDORA_RE_MAX_PATTERN	1024	/* default pattern cap, bytes */
#define PANDORA_RE_MAX_SUBJECT	(1024 * 1024)
/*
 * Pattern bytes times subject bytes: one pattern item (a class of many
 * code points, say) costs up to its size for each subject character,
 * and nothing can stop PCRE2 inside an item, so a value is examined up
 * to PANDORA_RE_MAX_WORK / pattern length bytes (8 KiB for a pattern of
 * 1,024 bytes, 1 MiB for one of 8 bytes or less): one item then costs
 * at most about 4.5 ms here (bench/regex.sh).
 */
#define PANDORA_RE_MAX_WORK	(8L * 1024 * 1024)
/* PCRE2's limits, per start position in the subject. */
#define PANDORA_RE_MATCH_LIMIT	100000	/* backtracking steps */
#define PANDORA_RE_DEPTH_LIMIT	100000	/* nested backtracking points */
#define PANDORA_RE_HEAP_LIMIT	16384	/* KiB of backtracking memory */
#define PANDORA_RE_BUDGET_MS	40	/* default per file (db-load) */

/* The outcome of one rule on one value. */
#define PANDORA_RE_MATCH	1
#define PANDORA_RE_NOMATCH	0
#define PANDORA_RE_INVALID	(-1)	/* does not compile, or too long */
#define PANDORA_RE_LIMIT	(-2)	/* a PCRE2 limit, or no memory */
#define PANDORA_RE_BUDGET	(-3)	/* the budget is spent: not run */

/*
 * What compiling and matching may cost, in CPU time: db-load gives each
 * file one.  Time is measured with the monotonic clock around every
 * compilation and match and, inside a match, before every pattern item
 * (automatic callouts); when that says the budget is spent, the
 * thread's CPU time since the first use is asked too, and the smaller
 * of the two counts (both are upper bounds of the time matching took,
 * the first inflated by preemption, the second by the loader's own
 * work).  Once spent, nothing more runs.
 */
struct pandora_re_budget {
	long long	 limit_ns;
	long long	 used_ns;	/* an upper bound of the time spent */
	int		 spent;
	unsigned long	 runs;		/* matches started (the first of a
					 * rule compiles it) */
	/* The last pandora_status: what each rule gave (PANDORA_RE_*;
	 * NOMATCH when it was not asked). */
	int		 last_critical, last_warning;
	/* private: the operation in progress */
	long long	 cpu0_ns;	/* thread CPU time at the first use */
	long long	 t0_ns, base_ns, deadline_ns;
	unsigned long	 items;		/* callouts */
};

void		 pandora_re_budget_init(struct pandora_re_budget *,
		    long long limit_ns);

/*
 * A string threshold: a Perl regular expression, matched as the server
 * does "$data =~ /$re/" (no flags), by PCRE2's interpreter in UTF-8
 * mode, ASCII \d \s \w and \b, "." not LF, "$" also before a final LF.
 * NULL (and why) if the pattern is empty; a pattern longer than maxlen
 * gives a rule that is invalid.  It is compiled at its first match,
 * under that match's budget.
 */
struct pandora_re *pandora_re_new(const char *pattern, size_t maxlen,
		    const char **why);
/* The same, compiled now without a budget: NULL and why (valid until
 * the next call) if it is invalid. */
struct pandora_re *pandora_re_compile(const char *pattern, size_t maxlen,
		    const char **why);
/*
 * Search s (len bytes; only the first max_subject, 0 for no cap, and
 * PANDORA_RE_MAX_WORK's share) for the rule: PANDORA_RE_MATCH,
 * _NOMATCH, or why it could not say (_INVALID, _LIMIT, _BUDGET: see
 * pandora_re_why).  budget may be NULL.  Not thread-safe: one matcher
 * per process.
 */
int		 pandora_re_match(struct pandora_re *, const char *s,
		    size_t len, size_t max_subject, struct pandora_re_budget *);
/* Why the rule's last outcome was negative, as text. */
const char	*pandora_re_why(const struct pandora_re *);
/* The pattern, "" if it was too long to keep. */
const char	*pandora_re_pattern(const struct pandora_re *);
void		 pandora_re_free(struct pandora_re *);

#endif
