/* SPDX-License-Identifier: ISC */
/*
 * db-purge: history retention for the Pandora tables that db-load
 * fills.  It deletes history older than days_purge (tagente_datos),
 * string_purge (tagente_datos_string) and event_purge (tevento) in
 * bounded batches, each its own short transaction, and compacts numeric
 * history older than days_compact into one average per module and
 * step_compact hours, as Pandora's pandora_db.pl does.  Pandora's own
 * tconfig settings win when the table has them, so the console's
 * settings keep working.  A run holds Pandora's maintenance lock, so it
 * never overlaps pandora_db.pl or another db-purge, and it can be killed
 * at any point: the next run finishes the work with the same result.
 * See db-purge(8) and doc/DATABASE.md.
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "drain.h"
#include "log.h"
#include "tool.h"
#include "xalloc.h"

#define SECTION		"db-purge"
#define DEFAULT_USER	"octospool-purge"
#define DAY		86400LL
#define MAX_DAYS	36500LL
#define MAX_TRIES	5	/* a batch retried after temporary errors */

/* The settings, each from tconfig, [db-purge] or the default. */
enum pg_key { K_DAYS, K_STRING, K_EVENT, K_COMPACT, K_STEP, K_BATCH,
    K_LAST, K_N };

static const struct pg_setting {
	const char	*token;		/* tconfig token */
	const char	*key;		/* [db-purge] key */
	long long	 min, max, def;
} settings[K_N] = {
	{ "days_purge", "days_purge", 0, MAX_DAYS, 45 },
	{ "string_purge", "string_purge", 0, MAX_DAYS, 7 },
	{ "event_purge", "event_purge", 0, MAX_DAYS, 10 },
	{ "days_compact", "days_compact", 0, MAX_DAYS, 0 },
	{ "step_compact", "step_compact", 0, 24 * 365, 1 },
	{ "small_operation_step_datos_purge", "batch_size", 1, 100000, 1000 },
	{ "last_compact", NULL, 0, INT64_MAX / 2, 0 },
};

/* The history tables and the setting that keeps each. */
static const struct pg_table {
	const char	*name;
	enum pg_key	 key;
} tables[] = {
	{ "tagente_datos", K_DAYS },
	{ "tagente_datos_string", K_STRING },
	{ "tevento", K_EVENT },
};
#define NTABLES	(sizeof(tables) / sizeof(tables[0]))

static const char *const known_keys[] = {
	"user", "days_purge", "string_purge", "event_purge", "days_compact",
	"step_compact", "batch_size", "batch_pause", "load_share", "tconfig",
	DB_TOOL_KEYS,
	NULL
};

struct pg {
	struct db	*db;
	struct db_conf	 dbc;
	char		*user;
	long long	 val[K_N];
	const char	*src[K_N];	/* "tconfig", "conf" or "default" */
	int		 set[K_N];	/* tconfig had it */
	int		 use_tconfig;
	long long	 pause_ms;
	long long	 share;		/* % of the time its statements may take */
	long long	 now;
	int		 dry;
	unsigned long	 batches;	/* statements that deleted */
	struct db_stmt	*agg;		/* an interval's sums and counts */
};

static volatile sig_atomic_t pg_stop;

static struct tool tool = {
	.name = "db-purge",
	.section = SECTION,
	.usage =
	    "usage: db-purge [-dhnVv] [-c file] [-t time] [--dry-run]\n"
	    "  deletes and compacts old history; --dry-run: only report;\n"
	    "  -n: check the configuration\n"
	    "See db-purge(8).\n",
};

/* Log a database failure and return the exit code of its class. */
static int
dbfail(struct pg *pg, const char *what)
{
	char vis[LOG_VISBUF];
	const char *e = db_error(pg->db);
	int ex = db_class_exit(db_errclass(pg->db));

	log_warnx("event=db.error step=%s class=%s errno=%u name=%s "
	    "msg=\"%s\"", what, db_class_name(db_errclass(pg->db)),
	    db_errno(pg->db), db_errname(db_errno(pg->db)) ?
	    db_errname(db_errno(pg->db)) : "-", log_vis(vis, sizeof(vis), e,
	    strlen(e)));
	return ex == EX_OK ? EX_SOFTWARE : ex;
}

/*
 * After a failed statement: a temporary error is retried after a
 * reconnect (at most MAX_TRIES times per batch); 0 to retry, else the
 * exit code.
 */
static int
retry_or_fail(struct pg *pg, const char *what, int *tries)
{
	int ex = dbfail(pg, what);

	if (db_errclass(pg->db) != DB_TEMP || ++*tries >= MAX_TRIES ||
	    pg_stop)
		return ex;
	(void)db_rollback(pg->db);
	if (db_reconnect(pg->db) == -1)
		return dbfail(pg, "reconnect");
	return 0;
}

/* Read [db-purge]: every bad value is a configuration error (78). */
static void
configure(struct pg *pg, const struct conf *conf)
{
	char err[512];
	const char *v;

	if (conf != NULL && (conf_check(conf, SECTION, known_keys, err,
	    sizeof(err)) == -1 || db_conf_check(conf, err, sizeof(err)) == -1))
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	for (int k = 0; k < K_N; k++) {
		pg->val[k] = settings[k].def;
		pg->src[k] = "default";
		if (settings[k].key == NULL)
			continue;
		switch (conf_num(conf, SECTION, settings[k].key,
		    settings[k].min, settings[k].max, &pg->val[k], err,
		    sizeof(err))) {
		case -1:
			fatalx(EX_CONFIG, "event=config.error section=%s "
			    "key=%s msg=\"%s\"", SECTION, settings[k].key, err);
		case 1:
			pg->src[k] = "conf";
			break;
		}
	}
	pg->pause_ms = 10;
	if (conf_num(conf, SECTION, "batch_pause", 0, 60000, &pg->pause_ms,
	    err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s key=batch_pause "
		    "msg=\"%s\"", SECTION, err);
	pg->share = 50;
	if (conf_num(conf, SECTION, "load_share", 1, 100, &pg->share, err,
	    sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s key=load_share "
		    "msg=\"%s\"", SECTION, err);
	pg->use_tconfig = 1;
	if (conf_bool(conf, SECTION, "tconfig", &pg->use_tconfig, err,
	    sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s key=tconfig "
		    "msg=\"%s\"", SECTION, err);
	v = conf_get(conf, SECTION, "user");
	pg->user = xstrdup(v != NULL && *v != '\0' ? v : DEFAULT_USER);
	if (db_conf_load(&pg->dbc, conf, SECTION, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"%s\"",
		    SECTION, err);
}

/*
 * Pandora's settings in tconfig win over octospool.conf.  No tconfig
 * table (octospool's minimal schema) is no error.  A value that is not
 * a whole number in range stops the run (78): the console's setting is
 * not guessed at.
 */
static int
read_tconfig(struct pg *pg)
{
	struct db_stmt *st;
	char vis[LOG_VISBUF];
	int r;

	if (!pg->use_tconfig)
		return 0;
	st = db_prepare(pg->db, "SELECT token, value FROM tconfig WHERE token "
	    "IN ('days_purge', 'string_purge', 'event_purge', 'days_compact', "
	    "'step_compact', 'small_operation_step_datos_purge', "
	    "'last_compact')");
	if (st == NULL || db_stmt_exec(st, NULL, 0) == -1) {
		db_stmt_free(st);
		if (db_errno(pg->db) == 1146) {
			log_info("event=tconfig.absent");
			return 0;
		}
		return dbfail(pg, "tconfig");
	}
	while ((r = db_stmt_fetch(st)) == 1) {
		const char *tok = db_col_text(st, 0, NULL), *es = NULL;
		const char *val = db_col_null(st, 1) ? "" :
		    db_col_text(st, 1, NULL);
		long long n;

		for (int k = 0; k < K_N; k++) {
			if (strcmp(tok, settings[k].token) != 0)
				continue;
			/* Pandora's console leaves last_compact empty or
			 * writes a time; an empty batch step means "the
			 * default" to pandora_db.pl. */
			if (*val == '\0' && (k == K_LAST || k == K_BATCH))
				break;
			n = strtonum(val, settings[k].min, settings[k].max,
			    &es);
			if (es != NULL) {
				log_warnx("event=config.error source=tconfig "
				    "token=%s value=\"%s\" msg=\"value is %s "
				    "(want %lld..%lld)\"", tok, log_vis(vis,
				    sizeof(vis), val, strlen(val)), es,
				    settings[k].min, settings[k].max);
				db_stmt_free(st);
				return EX_CONFIG;
			}
			pg->val[k] = n;
			pg->src[k] = "tconfig";
			pg->set[k] = 1;
		}
	}
	db_stmt_free(st);
	if (r == -1)
		return dbfail(pg, "tconfig");
	return 0;
}

/* One scalar from a statement with the given parameters; -1 on error. */
static int
scalar(struct pg *pg, const char *sql, const struct db_val *v, size_t nv,
    long long *out, int *isnull)
{
	struct db_stmt *st = db_prepare(pg->db, sql);
	int r;

	if (st == NULL || db_stmt_exec(st, v, nv) == -1) {
		db_stmt_free(st);
		return -1;
	}
	if ((r = db_stmt_fetch(st)) == 1) {
		*isnull = db_col_null(st, 0);
		*out = *isnull ? 0 : db_col_int(st, 0);
	}
	db_stmt_free(st);
	return r == 1 ? 0 : -1;
}

/*
 * Sleep between batches, so that the loaders' statements go first: at
 * least batch_pause, and long enough that the batch that began at t0
 * took at most load_share percent of the time since the last pause.
 */
static void
pause_batch(const struct pg *pg, const struct timespec *t0)
{
	struct timespec t1, ts;
	long long ms = pg->pause_ms, took;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (t1.tv_sec - t0->tv_sec) * 1000LL +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000L;
	if (pg->share < 100 && took * (100 - pg->share) / pg->share > ms)
		ms = took * (100 - pg->share) / pg->share;
	if (ms == 0)
		return;
	if (ms > 60000)
		ms = 60000;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	(void)nanosleep(&ts, NULL);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Delete a table's rows older than its cutoff: DELETE ... LIMIT n in
 * autocommit, each batch its own transaction on the utimestamp index,
 * until a batch deletes fewer than n.  A kill between batches leaves
 * only whole batches done; the next run deletes the rest.
 */
static int
purge_table(struct pg *pg, const struct pg_table *t)
{
	long long days = pg->val[t->key], cutoff, n = 0, batches = 0;
	long long batch = pg->val[K_BATCH], maxb = 0;
	struct db_stmt *st;
	struct timespec t0;
	char sql[256];
	int tries = 0, isnull, ex;

	if (days == 0) {
		log_info("event=purge.skip table=%s key=%s value=0", t->name,
		    settings[t->key].token);
		return 0;
	}
	cutoff = pg->now - days * DAY;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pg->dry) {
		struct db_val v[] = { DB_INT(cutoff) };

		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE "
		    "utimestamp < ?", t->name);
		if (scalar(pg, sql, v, 1, &n, &isnull) == -1)
			return dbfail(pg, t->name);
		log_info("event=purge.plan table=%s %s=%lld cutoff=%lld "
		    "rows=%lld batch_size=%lld batches=%lld", t->name,
		    settings[t->key].token, days, cutoff, n, batch,
		    (n + batch - 1) / batch);
		return 0;
	}
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE utimestamp < ? "
	    "LIMIT %lld", t->name, batch);
	if ((st = db_prepare(pg->db, sql)) == NULL)
		return dbfail(pg, t->name);
	for (;;) {
		struct db_val v[] = { DB_INT(cutoff) };
		struct timespec tb;
		long long got;

		if (pg_stop) {
			db_stmt_free(st);
			log_info("event=purge.stop table=%s rows=%lld", t->name,
			    n);
			return EX_TEMPFAIL;
		}
		clock_gettime(CLOCK_MONOTONIC, &tb);
		if (db_stmt_exec(st, v, 1) == -1) {
			if ((ex = retry_or_fail(pg, t->name, &tries)) != 0) {
				db_stmt_free(st);
				return ex;
			}
			continue;
		}
		tries = 0;
		got = (long long)db_stmt_affected(st);
		n += got;
		if (got > 0) {
			batches++;
			pg->batches++;
			if (got > maxb)
				maxb = got;
			log_debug("event=purge.batch table=%s rows=%lld",
			    t->name, got);
		}
		if (got < batch)
			break;
		pause_batch(pg, &tb);
	}
	db_stmt_free(st);
	log_info("event=purge.table table=%s %s=%lld cutoff=%lld rows=%lld "
	    "batches=%lld batch_size=%lld max_batch=%lld seconds=%.3f",
	    t->name, settings[t->key].token, days, cutoff, n, batches, batch,
	    maxb, elapsed(&t0));
	return 0;
}

/* The sorted ids of the modules whose history is averaged. */
struct idlist {
	unsigned long long	*id;
	size_t			 n, cap;
};

static int
idcmp(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a;
	unsigned long long y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/*
 * Modules that compaction averages: every module that has a type other
 * than the boolean ones, as pandora_db.pl skips them (types named
 * *_proc, and keep_alive): an average of 0 and 1 is no status.
 */
static int
load_modules(struct pg *pg, struct idlist *ids)
{
	struct db_stmt *st = db_prepare(pg->db, "SELECT m.id_agente_modulo "
	    "FROM tagente_modulo m JOIN ttipo_modulo t ON t.id_tipo = "
	    "m.id_tipo_modulo WHERE t.nombre NOT LIKE '%\\_proc' AND t.nombre "
	    "<> 'keep_alive'");
	int r;

	ids->n = 0;
	if (st == NULL || db_stmt_exec(st, NULL, 0) == -1) {
		db_stmt_free(st);
		return -1;
	}
	while ((r = db_stmt_fetch(st)) == 1) {
		if (ids->n == ids->cap) {
			ids->cap = ids->cap ? ids->cap * 2 : 1024;
			ids->id = xreallocarray(ids->id, ids->cap,
			    sizeof(*ids->id));
		}
		ids->id[ids->n++] = db_col_uint(st, 0);
	}
	db_stmt_free(st);
	if (r == -1)
		return -1;
	qsort(ids->id, ids->n, sizeof(*ids->id), idcmp);
	return 0;
}

/* One module's rows in an interval. */
struct agg {
	unsigned long long	 id;
	double			 sum;
	long long		 count;
};

/* A growing text buffer for the statements of one chunk. */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->p == NULL) {
		b->cap = 256;
		b->p = xmalloc(b->cap);
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fatalx(EX_SOFTWARE, "event=bug msg=\"vsnprintf\"");
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	b->len += (size_t)n;
}

/*
 * Replace the rows of modules a[0..n) in [lo, hi) by their averages at
 * lo, in one transaction.  The DELETE must remove exactly the rows that
 * were averaged; a loader that added a late sample meanwhile makes the
 * counts differ, and the chunk is rolled back (*retry set: read the
 * interval again).  -1 on a database error.
 */
static int
compact_chunk(struct pg *pg, const struct agg *a, size_t n, long long lo,
    long long hi, int *retry)
{
	struct sbuf del = { NULL, 0, 0 }, ins = { NULL, 0, 0 };
	struct db_stmt *st = NULL;
	long long want = 0;
	struct db_val v[] = { DB_INT(lo), DB_INT(hi) };
	int rc = -1;

	*retry = 0;
	sb_printf(&del, "DELETE FROM tagente_datos WHERE utimestamp >= ? AND "
	    "utimestamp < ? AND id_agente_modulo IN (");
	sb_printf(&ins, "INSERT INTO tagente_datos (id_agente_modulo, datos, "
	    "utimestamp) VALUES ");
	for (size_t i = 0; i < n; i++) {
		want += a[i].count;
		sb_printf(&del, "%s%llu", i ? "," : "", a[i].id);
		/* %.17g: the double the division gave, bit for bit. */
		sb_printf(&ins, "%s(%llu,%.17g,%lld)", i ? "," : "", a[i].id,
		    a[i].sum / (double)a[i].count, lo);
	}
	sb_printf(&del, ")");
	/* Tests: a loader's late sample arrives between read and write. */
	drain_pause_point("compact");
	if (db_begin(pg->db) == -1)
		goto out;
	if ((st = db_prepare(pg->db, del.p)) == NULL ||
	    db_stmt_exec(st, v, 2) == -1)
		goto out;
	if ((long long)db_stmt_affected(st) != want) {
		log_info("event=compact.race lo=%lld want=%lld got=%llu", lo,
		    want, db_stmt_affected(st));
		if (db_rollback(pg->db) == -1)
			goto out;
		*retry = 1;
		rc = 0;
		goto out;
	}
	if (db_exec(pg->db, ins.p) == -1 || db_commit(pg->db) == -1)
		goto out;
	rc = 0;
out:
	db_stmt_free(st);
	free(del.p);
	free(ins.p);
	return rc;
}

struct cstats {
	long long	intervals, rows_in, rows_out, txns;
};

/*
 * One interval [lo, hi): read each module's sum and count, then replace
 * the rows in chunks of about batch_size rows, one transaction each.
 * A module whose interval already holds just its average at lo (a run
 * that was killed, or compacted before) is left alone: the result of a
 * rerun equals that of one run.
 */
static int
compact_interval(struct pg *pg, const struct idlist *ids, long long lo,
    long long hi, struct cstats *cs)
{
	struct db_stmt *st;
	struct agg *a = NULL;
	size_t n = 0, cap = 0, first;
	long long rows = 0;
	struct db_val v[] = { DB_INT(lo), DB_INT(hi) };
	int r, retry, tries = 0, ex;

again:
	n = 0;
	rows = 0;
	if (pg->agg == NULL && (pg->agg = db_prepare(pg->db, "SELECT "
	    "id_agente_modulo, SUM(datos), COUNT(*), MIN(utimestamp) FROM "
	    "tagente_datos WHERE utimestamp >= ? AND utimestamp < ? GROUP BY "
	    "id_agente_modulo")) == NULL)
		goto fail;
	st = pg->agg;
	if (db_stmt_exec(st, v, 2) == -1)
		goto fail;
	while ((r = db_stmt_fetch(st)) == 1) {
		unsigned long long id = db_col_uint(st, 0);
		long long c = db_col_int(st, 2);

		if (bsearch(&id, ids->id, ids->n, sizeof(*ids->id),
		    idcmp) == NULL)
			continue;
		if (c == 1 && db_col_int(st, 3) == lo)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			a = xreallocarray(a, cap, sizeof(*a));
		}
		a[n].id = id;
		a[n].sum = db_col_null(st, 1) ? 0 : db_col_double(st, 1);
		a[n].count = c;
		n++;
	}
	if (r == -1)
		goto fail;
	if (n == 0) {
		free(a);
		return 0;
	}
	qsort(a, n, sizeof(*a), idcmp);	/* id is the first member */
	if (pg->dry) {
		for (size_t i = 0; i < n; i++)
			rows += a[i].count;
		cs->intervals++;
		cs->rows_in += rows;
		cs->rows_out += (long long)n;
		free(a);
		return 0;
	}
	first = 0;
	while (first < n) {
		size_t end = first;
		long long crow = 0;
		struct timespec tb;

		if (pg_stop) {
			free(a);
			return EX_TEMPFAIL;
		}
		clock_gettime(CLOCK_MONOTONIC, &tb);
		while (end < n && (end == first || crow + a[end].count <=
		    pg->val[K_BATCH]))
			crow += a[end++].count;
		if (compact_chunk(pg, a + first, end - first, lo, hi,
		    &retry) == -1) {
			if ((ex = retry_or_fail(pg, "compact", &tries)) != 0) {
				free(a);
				return ex;
			}
			/* The chunk was rolled back: read the interval
			 * again (chunks done before are skipped). */
			goto again;
		}
		if (retry) {
			if (++tries >= MAX_TRIES) {
				log_warnx("event=compact.skip lo=%lld msg=\""
				    "rows kept changing\"", lo);
				free(a);
				return 0;
			}
			goto again;
		}
		cs->txns++;
		pg->batches++;
		rows += crow;
		cs->rows_in += crow;
		cs->rows_out += (long long)(end - first);
		log_debug("event=compact.batch lo=%lld modules=%zu rows=%lld",
		    lo, end - first, crow);
		first = end;
		pause_batch(pg, &tb);
	}
	cs->intervals++;
	free(a);
	return 0;
fail:
	if ((ex = retry_or_fail(pg, "compact", &tries)) != 0) {
		free(a);
		return ex;
	}
	goto again;
}

/*
 * Compaction as pandora_db.pl's: from now - days_compact back to the
 * oldest row (or tconfig's last_compact, where pandora_db.pl stopped),
 * intervals of step_compact hours, each module's rows in an interval
 * replaced by their average at the interval's start.  The intervals lie
 * on a fixed grid (multiples of the step since the epoch), so that a
 * second run, or a run after a kill, finds the same intervals.
 */
static int
compact(struct pg *pg)
{
	long long days = pg->val[K_COMPACT], step, start, lower;
	struct idlist ids = { NULL, 0, 0 };
	struct cstats cs = { 0, 0, 0, 0 };
	struct timespec t0;
	int isnull, ex;

	if (days == 0 || pg->val[K_STEP] < 1) {
		log_info("event=compact.skip days_compact=%lld "
		    "step_compact=%lld", days, pg->val[K_STEP]);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	step = pg->val[K_STEP] * 3600;
	start = pg->now - days * DAY;
	start -= ((start % step) + step) % step;
	if (scalar(pg, "SELECT MIN(utimestamp) FROM tagente_datos", NULL, 0,
	    &lower, &isnull) == -1)
		return dbfail(pg, "compact");
	if (isnull) {
		log_info("event=compact.done intervals=0 rows_in=0 rows_out=0");
		return 0;
	}
	if (pg->set[K_LAST] && pg->val[K_LAST] > lower)
		lower = pg->val[K_LAST];
	if (load_modules(pg, &ids) == -1) {
		free(ids.id);
		return dbfail(pg, "compact");
	}
	for (long long hi = start; hi >= lower && hi - step < hi; hi -= step)
		if ((ex = compact_interval(pg, &ids, hi - step, hi, &cs)) != 0) {
			free(ids.id);
			log_info("event=compact.stop intervals=%lld rows_in=%lld "
			    "rows_out=%lld", cs.intervals, cs.rows_in,
			    cs.rows_out);
			return ex;
		}
	free(ids.id);
	log_info("event=compact.%s days_compact=%lld step_compact=%lld "
	    "start=%lld lower=%lld modules=%zu intervals=%lld rows_in=%lld "
	    "rows_out=%lld batches=%lld batch_size=%lld seconds=%.3f",
	    pg->dry ? "plan" : "done", days, pg->val[K_STEP], start, lower,
	    ids.n, cs.intervals, cs.rows_in, cs.rows_out, cs.txns,
	    pg->val[K_BATCH], elapsed(&t0));
	return 0;
}

/*
 * Pandora's maintenance lock, "<db>_pandora_db" as pandora_db.pl takes
 * it: call is "GET_LOCK(?, 0)" (1 held, 0 busy) or "RELEASE_LOCK(?)",
 * which gives it back at once rather than when the server notices that
 * the connection is gone; -1 on error.
 */
static int
maint_lock(struct pg *pg, const char *call)
{
	char name[256], sql[64];
	struct db_val v[1];
	long long got;
	int isnull;

	snprintf(name, sizeof(name), "%s_pandora_db", pg->dbc.name);
	snprintf(sql, sizeof(sql), "SELECT %s", call);
	v[0] = DB_TEXT(name);
	if (scalar(pg, sql, v, 1, &got, &isnull) == -1)
		return -1;
	return !isnull && got == 1;
}

/* Under the lock: the settings, the purge of each table, compaction. */
static int
work(struct pg *pg)
{
	int ex;

	if ((ex = read_tconfig(pg)) != 0)
		return ex;
	for (int k = 0; k < K_N; k++)
		if (k != K_LAST)
			log_info("event=setting key=%s value=%lld source=%s",
			    settings[k].token, pg->val[k], pg->src[k]);
	for (size_t i = 0; i < NTABLES; i++)
		if ((ex = purge_table(pg, &tables[i])) != 0)
			return ex;
	return compact(pg);
}

static int
run(struct pg *pg)
{
	struct timespec t0;
	int ex, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pg->db = db_open(&pg->dbc)) == NULL)
		fatalx(EX_SOFTWARE, "event=db.open");
	if (db_connect(pg->db) == -1)
		return dbfail(pg, "connect");
	if ((r = maint_lock(pg, "GET_LOCK(?, 0)")) == -1)
		return dbfail(pg, "lock");
	if (r == 0) {
		log_info("event=run.busy msg=\"another db-purge or "
		    "pandora_db.pl holds the lock\"");
		return EX_OK;
	}
	ex = work(pg);
	(void)maint_lock(pg, "RELEASE_LOCK(?)");
	if (ex == EX_OK)
		log_info("event=run.done dry_run=%d now=%lld batches=%lu "
		    "seconds=%.3f", pg->dry, pg->now, pg->batches,
		    elapsed(&t0));
	return ex;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "dry-run", no_argument, NULL, 1 },
		{ NULL, 0, NULL, 0 }
	};
	const char *es = NULL;
	struct pg pg;
	int ch, ex;

	memset(&pg, 0, sizeof(pg));
	pg.now = -1;
	while ((ch = tool_getopt(&tool, argc, argv, "c:dhnt:Vv", lopts)) !=
	    -1) {
		switch (ch) {
		case 1:
			pg.dry = 1;
			break;
		case 't':
			pg.now = strtonum(optarg, 1, INT64_MAX / 4, &es);
			if (es != NULL)
				tool_usage(&tool, stderr, EX_USAGE);
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_DAEMON, tool.fg || pg.dry || tool.check);
	configure(&pg, tool_conf_load(&tool));
	conf_free(tool.conf);
	if (tool.check) {
		printf("db-purge: configuration ok\n");
		db_conf_free(&pg.dbc);
		free(pg.user);
		exit(EX_OK);
	}
	if (pg.now == -1)
		pg.now = (long long)time(NULL);
	umask(027);
	tool_drop_privileges(pg.user);
	/* No SA_RESTART: a stop ends the backoff waits. */
	tool_catch_stop(&pg_stop);
	signal(SIGPIPE, SIG_IGN);
	if (db_library_init() == -1)
		fatalx(EX_SOFTWARE, "event=db.init");
	ex = run(&pg);
	db_stmt_free(pg.agg);
	if (pg.db != NULL)
		db_close(pg.db);
	db_library_end();
	db_conf_free(&pg.dbc);
	free(pg.user);
	if (ex != EX_OK)
		log_info("event=run.exit code=%d", ex);
	return ex;
}
