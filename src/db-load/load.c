/* SPDX-License-Identifier: ISC */
/*
 * One agent file into the Pandora tables, inside the batch transaction
 * under its own savepoint: agent lookup (row locked) or creation, the
 * file's digest into octo_loaded_file, modules (learning, cap), samples
 * (values, incremental rates, status, flip-flop, history, events), then
 * tagente with its status counters.  See db-load(8).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"
#include "xalloc.h"

#include "dbload.h"

/* A module's state as it was before the file, to undo the file. */
struct snap_mod {
	struct dl_module *m;
	struct dl_module copy;		/* datos, descripcion, extended_info
					 * are duplicated */
};

struct dl_snap {
	struct dl_agent	*a;
	int		 intervalo, timezone_offset, disabled, dirty;
	unsigned long long id_parent;
	char		*direccion, *os_version, *agent_version;
	char		 remote_ts[24], contact_ts[24];
	struct snap_mod	*mods;
	size_t		 n;
};

/* The state of one file being loaded. */
struct dl_file {
	struct dl_run	*run;
	struct dl_conf	*cf;
	const char	*item;
	const struct envelope *env;
	struct agent_data *ad;
	struct audit_buf *ab;
	struct dl_result *res;
	struct dl_agent	*agent;
	int		 created_agent;
	time_t		 now;
	char		 now_ts[24];
	long long	 agent_t;
	char		 agent_ts[24];
	char		 sha[65];
	size_t		 bodylen;
	int		 learn;		/* new modules allowed */
	long		 cap;		/* most modules the agent may have */
	int		 sp;		/* the savepoint is taken */
	int		 fresh;		/* the agent was read by this file */
	size_t		 row0;		/* run->nrows at the start */
	struct dl_snap	 snap;		/* the cached agent before the file */
	int		 have_snap;
	int		*code;
	char		*reason;
	size_t		 reasonlen;
	/* string thresholds: the file's budget, what was reported */
	struct pandora_re_budget rb;
	unsigned long	 serial;	/* run->serial of this file */
	unsigned	 re_reports, re_unreported;
	char		*re_skip_module;	/* the first rule not run */
	const char	*re_skip_rule;
};

/* Rules that could not say, logged and audited one by one per file;
 * the others are counted in the file's summary (re_summary). */
#define DL_RE_REPORTS	8
#define DL_RE_AUDIT_PATTERN 256	/* bytes of a pattern in its audit event */

static int	flush_all(struct dl_run *);
static int	schema_refused(struct dl_run *, int);
static int	types_load(struct dl_run *);
static int	counts_update(struct dl_run *, struct dl_agent **, size_t);
static void	snap_take(struct dl_snap *, struct dl_agent *);
static void	rows_truncate(struct dl_run *, size_t);
static struct db_stmt *multi_stmt(struct dl_run *, struct db_stmt **,
		    const char *, const char *, size_t, const char *);
static size_t	multi_chunk(size_t);

/* ------------------------------------------------------------------ */
/* small helpers                                                      */

static void
fmt_dt(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		strlcpy(buf, "1970-01-01 00:00:00", len);
}

/* A DATETIME read back (local time, as written); NULL and 1970-01-01
 * 00:00:00 are 0, as the server's last_try check. */
static long long
parse_dt(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (s == NULL || sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi,
	    &se) != 6 || y <= 1970)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	tm.tm_isdst = -1;
	return (long long)mktime(&tm);
}

/* Envelope "Received: 2026-11-28T10:00:00.123456Z" as Unix time. */
static long long
received_time(const struct envelope *env)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (env == NULL || env->received[0] == '\0' ||
	    sscanf(env->received, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi,
	    &se) != 6)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (long long)timegm(&tm);
}

static char *
dupn(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *
dups(const char *s)
{
	return xstrdup(s ? s : "");
}

/* Free text for a display column: HTML-escaped, cut to max characters
 * (0: no limit) on a character boundary. */
static char *
text_col(const char *s, size_t maxchars)
{
	size_t n;
	char *e;

	if (s == NULL)
		s = "";
	e = pandora_html_escape(s, strlen(s), &n);
	if (maxchars > 0) {
		size_t cut = pandora_utf8_cut_chars(e, n, maxchars);

		/* Never leave half an entity at the end. */
		if (cut < n) {
			char *amp = memrchr(e, '&', cut);

			if (amp != NULL && memchr(amp, ';', cut - (amp - e)) ==
			    NULL)
				cut = amp - e;
			e[cut] = '\0';
		}
	}
	return e;
}

static int
blank(const char *s)
{
	if (s == NULL)
		return 1;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return *s == '\0';
}

static struct db_stmt *
stmt(struct dl_run *run, struct db_stmt **slot, const char *sql)
{
	if (*slot == NULL)
		*slot = db_prepare(run->db, sql);
	return *slot;
}

void
dl_stmts_free(struct dl_stmts *s)
{
	struct db_stmt **all[] = { &s->agent_get, &s->agent_ins,
	    &s->digest_ins, &s->mod_find, &s->mod_ins,
	    &s->mod_upd_conf, &s->mod_parent, &s->estado_ins, &s->event_ins,
	    &s->event_validate, &s->group_by_id, &s->group_by_name,
	    &s->agent_by_name, &s->lock_get, &s->agent_fold,
	    &s->name_claim, &s->name_check, &s->name_reclaim };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		db_stmt_free(*all[i]);
		*all[i] = NULL;
	}
	for (int i = 0; i <= DL_MAX_ROWS; i++) {
		db_stmt_free(s->datos[i]);
		db_stmt_free(s->strs[i]);
		db_stmt_free(s->estado[i]);
		db_stmt_free(s->incs_ins[i]);
		db_stmt_free(s->incs_upd[i]);
		db_stmt_free(s->agents[i]);
		db_stmt_free(s->agent_pre[i]);
		s->datos[i] = s->strs[i] = s->estado[i] = NULL;
		s->incs_ins[i] = s->incs_upd[i] = s->agents[i] = NULL;
		s->agent_pre[i] = NULL;
	}
}

enum dl_outcome
dl_dberr(struct dl_run *run, const char *what, char *reason,
    size_t reasonlen, int *code)
{
	enum db_class c = db_errclass(run->db);
	char vis[LOG_VISBUF];
	const char *msg = db_error(run->db);
	const char *name = db_errname(db_errno(run->db));

	log_vis(vis, sizeof(vis), msg, strlen(msg));
	snprintf(reason, reasonlen, "%s: database error %u (%s, class %s)",
	    what, db_errno(run->db), name ? name : "?", db_class_name(c));
	switch (c) {
	case DB_DATA:
	case DB_DUP:
		*code = EX_DATAERR;
		snprintf(reason, reasonlen, "rule=db line=0 %s: the database "
		    "cannot store a value: error %u (%s) %s", what,
		    db_errno(run->db), name ? name : "?", vis);
		return DL_REJECT;
	case DB_CONFIG:
	case DB_BUG:
		run->exit_code = db_class_exit(c);
		run->broken = 1;
		log_warnx("event=db.fail step=%s class=%s errno=%u name=%s "
		    "msg=\"%s\"", what, db_class_name(c), db_errno(run->db),
		    name ? name : "?", vis);
		return DL_FATAL;
	default:
		run->broken = 1;
		if (dl_conflict(db_errno(run->db)))
			run->conflicts++;
		log_warnx("event=db.temp step=%s errno=%u name=%s msg=\"%s\"",
		    what, db_errno(run->db), name ? name : "?", vis);
		return DL_RETRY;
	}
}

/*
 * A conflict with another writer: a deadlock (1213, also a Galera
 * certification failure) or a lock wait timeout (1205).  The batch was
 * rolled back whole; running it again at once, after a short wait, is
 * the cure (drain_mode), not exit 75.
 */
int
dl_conflict(unsigned int err)
{
	return err == 1213 || err == 1205;
}

#define DBERR(f, what)	dl_dberr((f)->run, (what), (f)->reason, \
			    (f)->reasonlen, (f)->code)

static enum dl_outcome
reject(struct dl_file *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum dl_outcome
reject(struct dl_file *f, int code, const char *fmt, ...)
{
	va_list ap;

	*f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->reason, f->reasonlen, fmt, ap);
	va_end(ap);
	return DL_REJECT;
}

/*
 * The file's savepoint, taken before its first write that a later error
 * of the same file must undo.  A file whose only write is its digest
 * (the usual case: history, status and agent rows wait for the commit)
 * needs none: that INSERT is atomic.
 */
static enum dl_outcome
savepoint(struct dl_file *f)
{
	if (f->sp)
		return DL_LOADED;
	if (db_savepoint(f->run->db, DL_SAVEPOINT) == -1) {
		enum dl_outcome rc = DBERR(f, "savepoint");

		return rc == DL_REJECT ? DL_RETRY : rc;
	}
	f->sp = 1;
	return DL_LOADED;
}

/* ------------------------------------------------------------------ */
/* connection and transaction                                         */

/* Module type names by id, read once per connection. */
struct dl_type {
	int	 id;
	char	*name;
};

static struct dl_type *types;
static size_t ntypes;

static void
types_free(void)
{
	for (size_t i = 0; i < ntypes; i++)
		free(types[i].name);
	free(types);
	types = NULL;
	ntypes = 0;
}

static const char *
type_name(int id)
{
	for (size_t i = 0; i < ntypes; i++)
		if (types[i].id == id)
			return types[i].name;
	return "";
}

static int
type_id(const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i].name, name) == 0)
			return types[i].id;
	return -1;
}

/* A character set or collation name fit to splice into SQL. */
static int
sql_ident_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) >= 64)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
	    strlen(s);
}

/*
 * The character set and collation of tagente.nombre: agent names are
 * looked up byte for byte, and the creation of a name that the
 * collation would confuse with an existing one is refused, under a lock
 * named after the collation's weight of the name (octospool-spool(5)).
 */
static int
name_collation(struct dl_run *run)
{
	struct db_stmt *s;
	int r;

	run->name_cs[0] = run->name_coll[0] = '\0';
	if ((s = db_prepare(run->db, "SELECT CHARACTER_SET_NAME, "
	    "COLLATION_NAME FROM information_schema.COLUMNS WHERE "
	    "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tagente' AND "
	    "COLUMN_NAME = 'nombre'")) == NULL || db_stmt_exec(s, NULL, 0) ==
	    -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1) {
		const char *cs = db_col_text(s, 0, NULL);
		const char *co = db_col_text(s, 1, NULL);

		if (sql_ident_ok(cs) && sql_ident_ok(co)) {
			strlcpy(run->name_cs, cs, sizeof(run->name_cs));
			strlcpy(run->name_coll, co, sizeof(run->name_coll));
		}
	}
	db_stmt_free(s);
	if (r == -1)
		return -1;
	if (run->name_coll[0] == '\0')
		log_warnx("event=db.schema msg=\"tagente.nombre: no usable "
		    "character set or collation; agent names are locked by "
		    "their bytes\"");
	return 0;
}

static int
dl_connect(struct dl_run *run)
{
	if (run->connected)
		return 0;
	if (run->db == NULL)
		run->db = db_open(&run->cf->db);
	if (db_connect(run->db) == -1)
		return -1;
	/*
	 * Read committed: a file's reads see what other loaders committed
	 * once we hold the agent's row lock (repeatable read would keep
	 * the snapshot of the batch's first read).
	 */
	if (db_exec(run->db, "SET SESSION TRANSACTION ISOLATION LEVEL READ "
	    "COMMITTED") == -1)
		return -1;
	/* First what db-load needs of the database: nothing is read or
	 * written through a table before its columns are checked, and
	 * every problem is listed at once. */
	if (!run->schema_checked) {
		int n = 0;

		if (dl_schema_check(run->db, &run->schema, &n) == -1 ||
		    (!run->init && dl_octo_check(run->db, &n) == -1))
			return -1;
		if (n > 0) {
			if (types_load(run) == 0)
				dl_schema_types(type_id, &n);
			return schema_refused(run, n);
		}
	}
	if (name_collation(run) == -1 || types_load(run) == -1)
		return -1;
	if (!run->schema_checked) {
		int n = 0;

		dl_schema_types(type_id, &n);
		if (n > 0)
			return schema_refused(run, n);
		run->schema_checked = 1;
	}
	/*
	 * Autocommit off: a batch's transaction opens with its first
	 * statement, and db_begin sends no START TRANSACTION (a round trip
	 * a transaction).  After the reads above, which end with their
	 * statements.  Nothing runs outside a batch's transaction from here
	 * on (dl_commit's DO RELEASE_ALL_LOCKS() reads no table), so no
	 * lock or snapshot is held between batches.  Not for --init, whose
	 * statements (octo.sql, the accounts) each commit on their own.
	 */
	if (!run->init && db_autocommit(run->db, 0) == -1)
		return -1;
	run->connected = 1;
	log_debug("event=db.connected server=%s tls=\"%s\"",
	    db_server(run->db), db_tls_cipher(run->db));
	return 0;
}

/* The module types of the database, by name (ttipo_modulo). */
static int
types_load(struct dl_run *run)
{
	struct db_stmt *s;
	int r;

	types_free();
	if ((s = db_prepare(run->db, "SELECT id_tipo, nombre FROM "
	    "ttipo_modulo")) == NULL || db_stmt_exec(s, NULL, 0) == -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1) {
		types = xreallocarray(types, ntypes + 1, sizeof(*types));
		types[ntypes].id = (int)db_col_int(s, 0);
		types[ntypes].name = dups(db_col_text(s, 1, NULL));
		ntypes++;
	}
	db_stmt_free(s);
	return r == -1 ? -1 : 0;
}

/* The database lacks something: stop (78) before anything is written;
 * every item stays where it is. */
static int
schema_refused(struct dl_run *run, int n)
{
	log_warnx("event=schema.fail problems=%d msg=\"the database lacks "
	    "what db-load needs (see the event=schema.problem lines; "
	    "db-load(8), EXISTING PANDORA DATABASE)\"", n);
	run->schema_checked = 1;
	run->schema_bad = 1;
	run->exit_code = EX_CONFIG;
	return -1;
}

int
dl_check_schema(struct dl_run *run, int *nproblems)
{
	*nproblems = 0;
	if (dl_connect(run) == 0)
		return 0;
	if (run->schema_bad) {
		*nproblems = -1;
		return 0;
	}
	return -1;
}

int
dl_begin(struct dl_run *run)
{
	if (run->in_txn)
		return 0;
	if (run->schema_bad || dl_connect(run) == -1 ||
	    db_begin(run->db) == -1)
		return -1;
	run->in_txn = 1;
	run->broken = 0;
	return 0;
}

/* Commit the batch; -1 gives it back.  The cache and the named locks
 * end with the transaction. */
int
dl_commit(struct dl_run *run)
{
	int rc = 0;

	if (!run->in_txn)
		return run->broken ? -1 : 0;
	if (run->broken || flush_all(run) == -1) {
		dl_abort(run);
		return -1;
	}
	if (db_commit(run->db) == -1) {
		char vis[LOG_VISBUF];
		const char *msg = db_error(run->db);

		log_warnx("event=db.commit.fail errno=%u class=%s msg=\"%s\"",
		    db_errno(run->db), db_class_name(db_errclass(run->db)),
		    log_vis(vis, sizeof(vis), msg, strlen(msg)));
		if (dl_conflict(db_errno(run->db)))
			run->conflicts++;
		if (db_errclass(run->db) != DB_TEMP)
			run->exit_code = db_class_exit(db_errclass(run->db));
		run->broken = 1;
		rc = -1;
	}
	run->in_txn = 0;
	dl_agents_clear(run);
	if (rc == 0) {
		run->loaded += run->p_loaded;
		run->duplicates += run->p_duplicates;
		run->values += run->p_values;
	}
	run->p_loaded = run->p_duplicates = run->p_values = 0;
	if (rc == 0 && run->locks) {
		/* Named locks outlive transactions: let them go now. */
		if (db_exec(run->db, "DO RELEASE_ALL_LOCKS()") == -1)
			log_warnx("event=db.unlock.fail");
		run->locks = 0;
	}
	return rc;
}

/* Abandon the transaction (a temporary error lost it anyway). */
void
dl_abort(struct dl_run *run)
{
	if (run->in_txn && run->connected)
		(void)db_rollback(run->db);
	run->in_txn = 0;
	run->locks = 0;
	run->p_loaded = run->p_duplicates = run->p_values = 0;
	rows_truncate(run, 0);
	dl_agents_clear(run);
	/* The connection may be dead: connect afresh next time. */
	if (run->broken && run->db != NULL) {
		dl_stmts_free(&run->st);
		db_close(run->db);
		run->db = NULL;
		run->connected = 0;
	}
}

/* ------------------------------------------------------------------ */
/* agents                                                             */

/* Resolve the group for a new agent (spec §2.6); 0 if none. */
static enum dl_outcome
find_group(struct dl_file *f, unsigned long long *gid)
{
	struct dl_run *run = f->run;
	const char *xml = f->ad->attr[AX_A_GROUP];
	char conf_id[32];
	int r;

	*gid = 0;
	snprintf(conf_id, sizeof(conf_id), "%d", f->cf->group);
	for (int pass = 0; pass < 2; pass++) {
		int use_conf = f->cf->group_force ? pass == 0 : pass == 1;
		struct db_stmt *s;
		struct db_val v[1];
		char *enc = NULL;

		if (use_conf) {
			if (f->cf->group < 0)
				continue;
			s = stmt(run, &run->st.group_by_id, "SELECT id_grupo "
			    "FROM tgrupo WHERE id_grupo = ?");
			v[0] = DB_INT(f->cf->group);
		} else {
			if (blank(xml))
				continue;
			if (strcmp(xml, conf_id) == 0) {
				s = stmt(run, &run->st.group_by_id, "SELECT "
				    "id_grupo FROM tgrupo WHERE id_grupo = ?");
				v[0] = DB_INT(f->cf->group);
			} else {
				enc = pandora_safe_input(xml, strlen(xml),
				    NULL);
				s = stmt(run, &run->st.group_by_name, "SELECT "
				    "id_grupo FROM tgrupo WHERE nombre = ? "
				    "ORDER BY id_grupo LIMIT 1");
				v[0] = DB_TEXT(enc);
			}
		}
		if (s == NULL || db_stmt_exec(s, v, 1) == -1) {
			free(enc);
			return DBERR(f, "group lookup");
		}
		free(enc);
		while ((r = db_stmt_fetch(s)) == 1)
			if (*gid == 0)
				*gid = db_col_uint(s, 0);
		if (r == -1)
			return DBERR(f, "group lookup");
		if (*gid != 0)
			return DL_LOADED;
	}
	return DL_LOADED;
}

/* *gid = id if that group exists, else 0. */
static enum dl_outcome
group_exists(struct dl_file *f, unsigned long id, unsigned long long *gid)
{
	struct dl_run *run = f->run;
	struct db_val v[1] = { DB_UINT(id) };
	struct db_stmt *s = stmt(run, &run->st.group_by_id, "SELECT id_grupo "
	    "FROM tgrupo WHERE id_grupo = ?");
	int r;

	*gid = 0;
	if (s == NULL || db_stmt_exec(s, v, 1) == -1)
		return DBERR(f, "group lookup");
	while ((r = db_stmt_fetch(s)) == 1)
		*gid = db_col_uint(s, 0);
	return r == -1 ? DBERR(f, "group lookup") : DL_LOADED;
}

/* tagente.id_agente of a name (parent_agent_name), 0 if none. */
static enum dl_outcome
agent_id_by_name(struct dl_file *f, const char *name,
    unsigned long long *id)
{
	struct dl_run *run = f->run;
	struct db_stmt *s;
	struct db_val v[2];
	char *enc;
	int r;

	*id = 0;
	if (blank(name))
		return DL_LOADED;
	enc = pandora_safe_input(name, strlen(name), NULL);
	v[0] = DB_TEXT(enc);
	v[1] = DB_TEXT(enc);
	s = stmt(run, &run->st.agent_by_name, "SELECT id_agente FROM tagente "
	    "WHERE nombre = ? AND nombre = BINARY ? ORDER BY id_agente "
	    "LIMIT 1");
	if (s == NULL || db_stmt_exec(s, v, 2) == -1) {
		free(enc);
		return DBERR(f, "parent lookup");
	}
	free(enc);
	while ((r = db_stmt_fetch(s)) == 1)
		*id = db_col_uint(s, 0);
	return r == -1 ? DBERR(f, "parent lookup") : DL_LOADED;
}

/*
 * The agent this file would create was created by another loader (another
 * Galera node) since this one looked: the batch goes back whole and runs
 * again, and then finds it, as after a deadlock.
 */
static enum dl_outcome
created_since(struct dl_run *run)
{
	log_info("event=agent.claimed msg=\"created by another loader since "
	    "the lookup: the batch runs again\"");
	run->broken = 1;
	run->conflicts++;
	return DL_RETRY;
}

/*
 * The key of an agent name, as the name lock and octo_agent_name know it:
 * with the collation known, an SQL expression of the name's collation
 * weight (so that "web01", "WEB01" and "web01 ", equal to the database,
 * share it) into sql; else the first 20 bytes of SHA-256 of the name in
 * hex into hex, and sql "?".  Both are 40 hex digits.
 */
static void
name_key(const struct dl_run *run, const char *enc, size_t enclen,
    char *sql, size_t sqllen, char hex[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	hex[0] = '\0';
	if (run->name_coll[0] != '\0') {
		snprintf(sql, sqllen, "LEFT(SHA2(WEIGHT_STRING(TRIM(TRAILING "
		    "' ' FROM CONVERT(? USING %s)) COLLATE %s), 256), 40)",
		    run->name_cs, run->name_coll);
		return;
	}
	strlcpy(sql, "?", sqllen);
	EVP_Digest(enc, enclen, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 20 && i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Serialise the creation of one agent name across loaders (of one
 * server: on Galera, octo_agent_name does it across nodes). */
static enum dl_outcome
name_lock(struct dl_file *f, const char *enc, size_t enclen)
{
	struct dl_run *run = f->run;
	char name[64], key[256], hex[41], sql[512];
	struct db_stmt *s;
	struct db_val v[2];
	int r, got = -1;

	v[1] = DB_INT(run->cf->db.lock_wait_timeout ?
	    run->cf->db.lock_wait_timeout : 10);
	name_key(run, enc, enclen, key, sizeof(key), hex);
	snprintf(sql, sizeof(sql), "SELECT GET_LOCK(CONCAT('octo_agent_', "
	    "%s), ?)", key);
	if (hex[0] == '\0') {
		v[0] = DB_TEXTN(enc, enclen);
		strlcpy(name, "octo_agent_(collation weight)", sizeof(name));
	} else {
		v[0] = DB_TEXT(hex);
		snprintf(name, sizeof(name), "octo_agent_%s", hex);
	}
	s = stmt(run, &run->st.lock_get, sql);
	if (s == NULL || db_stmt_exec(s, v, 2) == -1)
		return DBERR(f, "agent name lock");
	while ((r = db_stmt_fetch(s)) == 1)
		got = db_col_null(s, 0) ? -1 : (int)db_col_int(s, 0);
	if (r == -1)
		return DBERR(f, "agent name lock");
	if (got != 1) {
		/* Another loader holds it too long: try again later. */
		run->broken = 1;
		log_warnx("event=db.lock.timeout lock=%s", name);
		return DL_RETRY;
	}
	run->locks = 1;
	return DL_LOADED;
}

/*
 * Claim the name in octo_agent_name in the transaction that creates the
 * agent.  Another node creating it at the same time: if its row is
 * already here, the insert meets it (this transaction's snapshot was
 * older than that agent, so the batch runs again and sees it); if not,
 * the two transactions write the same key and Galera lets one commit.
 * A row whose agent the console deleted is claimed again.
 */
static enum dl_outcome
name_claim(struct dl_file *f, const char *enc, size_t enclen,
    unsigned long long id)
{
	struct dl_run *run = f->run;
	char key[256], hex[41], sql[768];
	struct db_stmt *s;
	struct db_val v[3], k;
	int r, live = 0;

	name_key(run, enc, enclen, key, sizeof(key), hex);
	k = hex[0] == '\0' ? DB_TEXTN(enc, enclen) : DB_TEXT(hex);
	snprintf(sql, sizeof(sql), "INSERT INTO octo_agent_name (name_key, "
	    "id_agente, node, created_at) VALUES (%s, ?, ?, "
	    "UNIX_TIMESTAMP())", key);
	v[0] = k;
	v[1] = DB_UINT(id);
	v[2] = DB_TEXT(f->cf->server_name);
	if ((s = stmt(run, &run->st.name_claim, sql)) == NULL)
		return DBERR(f, "agent name claim");
	if (db_stmt_exec(s, v, 3) == 0)
		return DL_LOADED;
	if (db_errclass(run->db) != DB_DUP)
		return DBERR(f, "agent name claim");
	/*
	 * Claimed: is its agent there now, under this name (a locking read
	 * sees the latest committed rows, not this transaction's snapshot)?
	 * An agent the console deleted or renamed, or whose id another
	 * agent has since, leaves a stale claim: taken over below.
	 */
	snprintf(sql, sizeof(sql), "SELECT a.id_agente FROM octo_agent_name n "
	    "JOIN tagente a ON a.id_agente = n.id_agente AND a.nombre = ? "
	    "WHERE n.name_key = %s LOCK IN SHARE MODE", key);
	v[0] = DB_TEXTN(enc, enclen);
	v[1] = k;
	if ((s = stmt(run, &run->st.name_check, sql)) == NULL ||
	    db_stmt_exec(s, v, 2) == -1)
		return DBERR(f, "agent name claim");
	while ((r = db_stmt_fetch(s)) == 1)
		live = 1;
	if (r == -1)
		return DBERR(f, "agent name claim");
	if (live)
		return created_since(run);
	snprintf(sql, sizeof(sql), "UPDATE octo_agent_name SET id_agente = ?, "
	    "node = ?, created_at = UNIX_TIMESTAMP() WHERE name_key = %s", key);
	v[0] = DB_UINT(id);
	v[1] = DB_TEXT(f->cf->server_name);
	v[2] = k;
	if ((s = stmt(run, &run->st.name_reclaim, sql)) == NULL ||
	    db_stmt_exec(s, v, 3) == -1)
		return DBERR(f, "agent name claim");
	return DL_LOADED;
}

/* The agent's main address: the first of the list, trimmed. */
static char *
main_address(const char *list)
{
	const char *p = list, *e;

	if (list == NULL)
		return xstrdup("");
	while (*p == ' ' || *p == '\t')
		p++;
	e = strchr(p, ',');
	if (e == NULL)
		e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return dupn(p, e - p);
}

static enum dl_outcome
insert_event(struct dl_file *f, unsigned long long id_module,
    const char *type, int criticity, int estado, const char *text,
    const char *data, size_t datalen, int module_status,
    const struct dl_module *m)
{
	struct dl_run *run = f->run;
	struct db_stmt *s;
	char *enc, *denc;
	size_t enclen, dlen;
	struct db_val v[17];
	enum dl_outcome rc = DL_LOADED;

	if ((rc = savepoint(f)) != DL_LOADED)
		return rc;
	/* As Pandora's pandora_event(): the text and the data entity
	 * encoded (safe_input), no user, an event created already
	 * validated (or in process) acknowledged now. */
	enc = pandora_safe_input(text, strlen(text), &enclen);
	/* tevento.evento is TEXT: 65535 bytes at most. */
	enclen = pandora_entity_cut(enc, enclen, 65535);
	denc = pandora_safe_input(data, datalen, &dlen);
	/* tevento.data is TINYTEXT: 255 bytes, never half an entity. */
	dlen = pandora_entity_cut(denc, dlen, 255);
	v[0] = DB_UINT(f->agent->id);
	v[1] = DB_INT(f->agent->id_grupo);
	v[2] = DB_TEXTN(enc, enclen);
	v[3] = DB_TEXT(f->now_ts);
	v[4] = DB_INT(estado);
	v[5] = DB_INT(f->now);
	v[6] = DB_TEXT(type);
	v[7] = DB_UINT(id_module);
	v[8] = DB_INT(criticity);
	v[9] = DB_TEXT("monitoring_server");
	v[10] = DB_TEXT(m ? m->crit_instr : "");
	v[11] = DB_TEXT(m ? m->warn_instr : "");
	v[12] = DB_TEXT(m ? m->unk_instr : "");
	v[13] = DB_INT(estado == 1 || estado == 2 ? (long long)f->now : 0);
	v[14] = DB_TEXTN(denc, dlen);
	v[15] = DB_INT(module_status);
	s = stmt(run, &run->st.event_ins, run->schema.event_custom_id ?
	    "INSERT INTO tevento (id_agente, id_grupo, evento, timestamp, "
	    "estado, utimestamp, event_type, id_agentmodule, id_alert_am, "
	    "criticity, tags, source, id_extra, id_usuario, "
	    "critical_instructions, warning_instructions, "
	    "unknown_instructions, ack_utimestamp, owner_user, custom_data, "
	    "data, module_status, event_custom_id) VALUES (?, ?, ?, ?, ?, ?, "
	    "?, ?, 0, ?, '', ?, '', '', ?, ?, ?, ?, '', '', ?, ?, '')" :
	    "INSERT INTO tevento (id_agente, id_grupo, evento, timestamp, "
	    "estado, utimestamp, event_type, id_agentmodule, id_alert_am, "
	    "criticity, tags, source, id_extra, id_usuario, "
	    "critical_instructions, warning_instructions, "
	    "unknown_instructions, ack_utimestamp, owner_user, custom_data, "
	    "data, module_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', "
	    "?, '', '', ?, ?, ?, ?, '', '', ?, ?)");
	if (s == NULL || db_stmt_exec(s, v, 16) == -1)
		rc = DBERR(f, "event insert");
	free(enc);
	free(denc);
	if (rc == DL_LOADED)
		f->res->events++;
	return rc;
}

/* Create the agent (allowed, group found); *ap is the new agent. */
static enum dl_outcome
agent_create(struct dl_file *f, const char *enc, size_t enclen,
    struct dl_agent **ap)
{
	struct dl_run *run = f->run;
	struct agent_data *ad = f->ad;
	unsigned long long gid, parent, id = 0;
	const char *alias_raw = ad->attr[AX_A_AGENT_ALIAS];
	char *alias, *addr, *comment, *custom_id, *url, *server, text[1024];
	struct db_val v[13];
	struct db_stmt *s;
	struct dl_agent *a;
	enum dl_outcome rc;
	size_t aliaslen;
	int modo = ad->agent_mode >= 0 ? ad->agent_mode : 1;

	if (f->env != NULL && f->env->have_auth_group) {
		/* Created only in the group agent-auth authenticated. */
		if ((rc = group_exists(f, f->env->auth_group, &gid)) !=
		    DL_LOADED)
			return rc;
		if (gid == 0)
			return reject(f, EX_DATAERR, "rule=group line=0 cannot "
			    "create agent: group %lu of the decision does not "
			    "exist", f->env->auth_group);
	} else {
		if ((rc = find_group(f, &gid)) != DL_LOADED)
			return rc;
		if (gid == 0)
			return reject(f, EX_DATAERR, "rule=group line=0 cannot "
			    "create agent: no valid group (group attribute and "
			    "autocreate_group %d do not exist)", f->cf->group);
	}
	if ((rc = agent_id_by_name(f, ad->attr[AX_A_PARENT_AGENT_NAME],
	    &parent)) != DL_LOADED)
		return rc;
	if (alias_raw == NULL || *alias_raw == '\0')
		alias_raw = ad->agent_name;
	alias = pandora_safe_input(alias_raw, strlen(alias_raw), &aliaslen);
	{
		char *raw = main_address(ad->attr[AX_A_ADDRESS]);

		addr = text_col(raw, 100);
		free(raw);
	}
	comment = text_col(ad->attr[AX_A_DESCRIPTION], 255);
	custom_id = text_col(ad->attr[AX_A_CUSTOM_ID], 255);
	url = text_col(ad->attr[AX_A_URL_ADDRESS], 0);
	server = text_col(f->cf->server_name, 100);
	if ((rc = savepoint(f)) != DL_LOADED)
		goto free;
	v[0] = DB_TEXTN(enc, enclen);
	v[1] = DB_TEXTN(alias, aliaslen);
	v[2] = DB_TEXT(addr);
	v[3] = DB_TEXT(comment);
	v[4] = DB_UINT(gid);
	v[5] = DB_INT(pandora_os_id(ad->attr[AX_A_OS_NAME]));
	v[6] = DB_TEXT(server);
	v[7] = DB_INT(ad->interval);
	v[8] = DB_UINT(parent);
	v[9] = DB_INT(modo);
	v[10] = DB_TEXT(custom_id);
	v[11] = DB_TEXT(url);
	v[12] = DB_INT(ad->tz_offset);
	s = stmt(run, &run->st.agent_ins, "INSERT INTO tagente (nombre, "
	    "alias, direccion, comentarios, id_grupo, id_os, server_name, "
	    "intervalo, id_parent, modo, custom_id, url_address, "
	    "timezone_offset, update_module_count, update_alert_count) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)");
	if (s == NULL || db_stmt_exec(s, v, 13) == -1)
		rc = DBERR(f, "agent insert");
	else {
		id = db_stmt_insert_id(s);
		rc = name_claim(f, enc, enclen, id);
	}
	if (rc == DL_LOADED) {
		a = xcalloc(1, sizeof(*a));
		a->id = id;
		a->nombre = dupn(enc, enclen);
		a->nombre_len = enclen;
		a->id_grupo = (int)gid;
		a->modo = modo;
		a->intervalo = ad->interval;
		a->timezone_offset = ad->tz_offset;
		a->id_parent = parent;
		a->direccion = xstrdup(addr);
		a->os_version = xstrdup("");
		a->agent_version = xstrdup("");
		a->modules_loaded = 1;
		*ap = dl_agent_add(run, a);
		f->agent = a;
		f->created_agent = 1;
		a->recount = 1;
		f->res->agent_created = 1;
		{
			/* As Pandora's pandora_create_agent(): the alias
			 * (the name when there is none), entities
			 * decoded; insert_event() encodes the whole text. */
			char *plain = pandora_safe_output(alias_raw,
			    strlen(alias_raw), NULL);

			snprintf(text, sizeof(text), "Agent [%s] created by "
			    "%s", plain, f->cf->server_name);
			free(plain);
		}
		rc = insert_event(f, 0, "new_agent", 2, 0, text, "", 0, 0,
		    NULL);
		if (rc == DL_LOADED && f->cf->audit) {
			audit_begin(f->ab, DL_STAGE, "agent.created", "ok");
			audit_str(f->ab, "agent", ad->agent_name);
			audit_num(f->ab, "id_agente", (long long)a->id);
			audit_num(f->ab, "id_grupo", (long long)gid);
			audit_str(f->ab, "item", f->item);
			if (f->env != NULL && f->env->hdrlen > 0)
				audit_str(f->ab, "peer", f->env->peer);
			audit_str(f->ab, "authorised_by",
			    f->env && f->env->auth_create == ENVELOPE_YES ?
			    "agent-auth" : "allow_create");
			audit_end(f->ab);
		}
	}
free:
	free(alias);
	free(addr);
	free(comment);
	free(custom_id);
	free(url);
	free(server);
	return rc;
}

/* Columns of the module part of the agent query, from m.id_agente_modulo. */
#define MODULE_COLS \
	"m.id_agente_modulo, " \
	"m.nombre, m.id_tipo_modulo, m.disabled, m.id_modulo, " \
	"m.history_data, m.quiet, m.delete_pending, m.min, m.max, " \
	"m.post_process, m.min_warning, m.max_warning, m.str_warning, " \
	"m.min_critical, m.max_critical, m.str_critical, " \
	"m.warning_inverse, m.critical_inverse, m.percentage_warning, " \
	"m.percentage_critical, m.min_ff_event, m.min_ff_event_normal, " \
	"m.min_ff_event_warning, m.min_ff_event_critical, m.each_ff, " \
	"m.ff_type, m.ff_timeout, m.module_ff_interval, " \
	"m.module_interval, m.descripcion, m.extended_info, " \
	"m.critical_instructions, m.warning_instructions, " \
	"m.unknown_instructions, m.id_policy_module, m.policy_adopted, " \
	"m.policy_linked, " \
	"e.id_agente_estado, e.datos, e.estado, e.known_status, " \
	"e.last_status, e.last_known_status, e.status_changes, " \
	"e.utimestamp, e.timestamp, e.last_try, e.ff_start_utimestamp, " \
	"e.ff_normal, e.ff_warning, e.ff_critical, e.last_status_change, " \
	"e.last_execution_try, e.current_interval, " \
	"i.datos, i.utimestamp, i.id_agente_modulo IS NOT NULL"
#define AGENT_COLS_N	15	/* where the module columns start */
#define MODULE_COLS_N	58

/* The agent query: the agent, its policy, every module with its status
 * row and raw counter, all locked until the commit. */
#define AGENT_SELECT \
	"SELECT a.id_agente, a.id_grupo, " \
	"a.modo, a.disabled, a.quiet, a.fixed_ip, a.intervalo, " \
	"a.timezone_offset, a.id_parent, a.direccion, a.os_version, " \
	"a.agent_version, p.no_learn, p.module_cap, " \
	"a.update_module_count, " MODULE_COLS
#define AGENT_FROM	" FROM tagente a " AGENT_JOINS
#define AGENT_JOINS \
	"LEFT JOIN octo_agent_policy p ON p.id_agente = a.id_agente " \
	"LEFT JOIN tagente_modulo m ON m.id_agente = a.id_agente " \
	"LEFT JOIN tagente_estado e ON " \
	"e.id_agente_modulo = m.id_agente_modulo " \
	"LEFT JOIN tagente_datos_inc i ON " \
	"i.id_agente_modulo = m.id_agente_modulo "

/* One module (with its status row and raw counter) from a result row
 * whose module columns start at o. */
static struct dl_module *
module_row(const struct dl_conf *cf, struct db_stmt *s, unsigned o,
    unsigned long long id_agente)
{
	struct dl_module *m = xcalloc(1, sizeof(*m));
	const char *t;
	size_t n;

	m->id = db_col_uint(s, o);
	m->id_agente = id_agente;
	t = db_col_text(s, o + 1, &n);
	m->nombre = dupn(t ? t : "", t ? n : 0);
	m->nombre_len = t ? n : 0;
	m->plain = pandora_safe_output(m->nombre, m->nombre_len, NULL);
	m->id_tipo = (int)db_col_int(s, o + 2);
	m->type = type_name(m->id_tipo);
	m->disabled = (int)db_col_int(s, o + 3);
	m->id_modulo = (int)db_col_int(s, o + 4);
	m->history_data = db_col_null(s, o + 5) ? 1 :
	    (int)db_col_int(s, o + 5);
	m->quiet = (int)db_col_int(s, o + 6);
	m->delete_pending = (unsigned long)db_col_uint(s, o + 7);
	m->min = db_col_double(s, o + 8);
	m->max = db_col_double(s, o + 9);
	m->post_process = db_col_double(s, o + 10);
	m->thr.min_warning = db_col_double(s, o + 11);
	m->thr.max_warning = db_col_double(s, o + 12);
	m->thr.min_critical = db_col_double(s, o + 14);
	m->thr.max_critical = db_col_double(s, o + 15);
	m->thr.warning_inverse = (int)db_col_int(s, o + 17);
	m->thr.critical_inverse = (int)db_col_int(s, o + 18);
	m->thr.percentage_warning = (int)db_col_int(s, o + 19);
	m->thr.percentage_critical = (int)db_col_int(s, o + 20);
	dl_module_set_regex(m, db_col_text(s, o + 13, NULL),
	    db_col_text(s, o + 16, NULL), cf);
	m->ff.min_ff_event = (unsigned)db_col_uint(s, o + 21);
	m->ff.min_ff_event_normal = (unsigned)db_col_uint(s, o + 22);
	m->ff.min_ff_event_warning = (unsigned)db_col_uint(s, o + 23);
	m->ff.min_ff_event_critical = (unsigned)db_col_uint(s, o + 24);
	m->ff.each_ff = (int)db_col_int(s, o + 25);
	m->ff.ff_type = (int)db_col_int(s, o + 26);
	m->ff.ff_timeout = (unsigned)db_col_uint(s, o + 27);
	m->ff.module_ff_interval = (unsigned)db_col_uint(s, o + 28);
	m->module_interval = (unsigned long)db_col_uint(s, o + 29);
	m->descripcion = dups(db_col_text(s, o + 30, NULL));
	m->extended_info = dups(db_col_text(s, o + 31, NULL));
	m->crit_instr = dups(db_col_text(s, o + 32, NULL));
	m->warn_instr = dups(db_col_text(s, o + 33, NULL));
	m->unk_instr = dups(db_col_text(s, o + 34, NULL));
	m->policy_linked = db_col_int(s, o + 35) != 0 &&
	    (db_col_int(s, o + 36) == 0 || db_col_int(s, o + 37) == 1);
	if (!db_col_null(s, o + 38)) {
		m->have_estado = 1;
		m->id_estado = db_col_uint(s, o + 38);
		t = db_col_text(s, o + 39, &n);
		m->datos = dupn(t ? t : "", t ? n : 0);
		m->datos_len = t ? n : 0;
		m->st.estado = (int)db_col_int(s, o + 40);
		m->st.known_status = (int)db_col_int(s, o + 41);
		m->st.last_status = (int)db_col_int(s, o + 42);
		m->st.last_known_status = (int)db_col_int(s, o + 43);
		m->st.status_changes = (unsigned)db_col_uint(s, o + 44);
		m->e_utimestamp = db_col_int(s, o + 45);
		strlcpy(m->timestamp, db_col_text(s, o + 46, NULL) ?
		    db_col_text(s, o + 46, NULL) : "1970-01-01 00:00:00",
		    sizeof(m->timestamp));
		t = db_col_text(s, o + 47, NULL);
		strlcpy(m->last_try, t ? t : "", sizeof(m->last_try));
		/* A zero date (old schemas) cannot be written back
		 * in strict mode. */
		if (strncmp(m->timestamp, "0000", 4) == 0)
			strlcpy(m->timestamp, "1970-01-01 00:00:00",
			    sizeof(m->timestamp));
		if (strncmp(m->last_try, "0000", 4) == 0)
			strlcpy(m->last_try, "1970-01-01 00:00:00",
			    sizeof(m->last_try));
		m->last_try_t = parse_dt(t);
		m->st.ff_start_utimestamp = db_col_int(s, o + 48);
		m->st.ff_normal = (unsigned)db_col_uint(s, o + 49);
		m->st.ff_warning = (unsigned)db_col_uint(s, o + 50);
		m->st.ff_critical = (unsigned)db_col_uint(s, o + 51);
		m->st.last_status_change = db_col_int(s, o + 52);
		m->last_execution_try = db_col_int(s, o + 53);
		m->current_interval = (long)db_col_int(s, o + 54);
	} else
		m->datos = xstrdup("");
	if (db_col_int(s, o + 57) > 0) {
		m->have_inc = m->inc_in_db = 1;
		m->inc_datos = db_col_double(s, o + 55);
		m->inc_t = db_col_int(s, o + 56);
	}
	m->may_have_events = 1;
	return m;
}

/* By module id, then status row id (no status row last). */
static int
mod_id_cmp(const void *x, const void *y)
{
	const struct dl_module *a = *(struct dl_module *const *)x;
	const struct dl_module *b = *(struct dl_module *const *)y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->have_estado != b->have_estado)
		return a->have_estado ? -1 : 1;
	return a->id_estado < b->id_estado ? -1 : a->id_estado > b->id_estado;
}

/* By stored name, bytewise (the cache's order). */
static int
mod_name_cmp(const void *x, const void *y)
{
	const struct dl_module *a = *(struct dl_module *const *)x;
	const struct dl_module *b = *(struct dl_module *const *)y;
	int c = memcmp(a->nombre, b->nombre, a->nombre_len < b->nombre_len ?
	    a->nombre_len : b->nombre_len);

	if (c != 0)
		return c;
	return a->nombre_len < b->nombre_len ? -1 :
	    a->nombre_len > b->nombre_len;
}

/* The agent part of a row of the agent query. */
static void
agent_fill(struct dl_agent *a, struct db_stmt *s)
{
	free(a->direccion);
	free(a->os_version);
	free(a->agent_version);
	a->id = db_col_uint(s, 0);
	a->id_grupo = (int)db_col_int(s, 1);
	a->modo = (int)db_col_int(s, 2);
	a->disabled = (int)db_col_int(s, 3);
	a->quiet = (int)db_col_int(s, 4);
	a->fixed_ip = (int)db_col_int(s, 5);
	a->intervalo = (long)db_col_int(s, 6);
	a->timezone_offset = (int)db_col_int(s, 7);
	a->id_parent = db_col_uint(s, 8);
	a->direccion = dups(db_col_text(s, 9, NULL));
	a->os_version = dups(db_col_text(s, 10, NULL));
	a->agent_version = dups(db_col_text(s, 11, NULL));
	a->policy_no_learn = !db_col_null(s, 12) && db_col_int(s, 12) != 0;
	a->have_policy_cap = !db_col_null(s, 13);
	a->policy_cap = (long)db_col_int(s, 13);
	/* Another writer asked for a recount (Pandora's "recount me"). */
	if (db_col_int(s, 14) != 0)
		a->recount = 1;
}

/* Keep a module row read for an agent (v grows as needed). */
static void
mods_push(struct dl_module ***v, size_t *nv, size_t *capv,
    struct dl_module *m)
{
	if (*nv == *capv) {
		*capv = *capv ? *capv * 2 : 64;
		*v = xreallocarray(*v, *capv, sizeof(**v));
	}
	(*v)[(*nv)++] = m;
}

/*
 * Give agent a (its name: enc) the module rows v read for it: by module
 * id, a module's second status row dropped (never Pandora's doing), and
 * rows of another agent id dropped; then sorted by name.  v is freed.
 */
static void
agent_take(struct dl_agent *a, const char *enc, size_t enclen,
    struct dl_module **v, size_t nv)
{
	unsigned long long last = 0;

	if (nv > 1)
		qsort(v, nv, sizeof(*v), mod_id_cmp);
	for (size_t i = 0; i < nv; i++) {
		if (v[i]->id_agente != a->id || (i > 0 && v[i]->id == last)) {
			if (v[i]->id_agente == a->id)
				log_info("event=module.estado.duplicate "
				    "module_id=%llu", v[i]->id);
			dl_module_free(v[i]);
			continue;
		}
		last = v[i]->id;
		if (a->nmods == a->capmods) {
			a->capmods = a->capmods ? a->capmods * 2 : 32;
			a->mods = xreallocarray(a->mods, a->capmods,
			    sizeof(*a->mods));
		}
		a->mods[a->nmods++] = v[i];
	}
	free(v);
	if (a->nmods > 1)
		qsort(a->mods, a->nmods, sizeof(*a->mods), mod_name_cmp);
	a->modules_loaded = 1;
	a->nombre = dupn(enc, enclen);
	a->nombre_len = enclen;
}

/*
 * Look the agent up by its encoded name, with every module, status row
 * and raw counter, in one query that locks them until the commit; *ap
 * is NULL if there is no such agent.  There is no ORDER BY (with the
 * TEXT columns it costs a temporary table on disk): two agents of the
 * same name (the console allows it) resolve to the lower id, a module
 * with two status rows (never Pandora's doing) to the lower one.
 */
static enum dl_outcome
agent_get(struct dl_file *f, const char *enc, size_t enclen,
    struct dl_agent **ap)
{
	struct dl_run *run = f->run;
	struct dl_agent *a = NULL;
	struct db_stmt *s;
	struct db_val args[2] = { DB_TEXTN(enc, enclen),
	    DB_TEXTN(enc, enclen) };
	struct dl_module **v = NULL;
	size_t nv = 0, capv = 0;
	int r;

	*ap = NULL;
	log_debug("event=agent.lookup id=%s", f->item);
	s = stmt(run, &run->st.agent_get, AGENT_SELECT AGENT_FROM
	    /* byte for byte: the index finds, BINARY decides */
	    "WHERE a.nombre = ? AND a.nombre = BINARY ? FOR UPDATE");
	if (s == NULL || db_stmt_exec(s, args, 2) == -1)
		return DBERR(f, "agent lookup");
	while ((r = db_stmt_fetch(s)) == 1) {
		unsigned long long id = db_col_uint(s, 0);

		if (a == NULL || id < a->id) {
			if (a == NULL)
				a = xcalloc(1, sizeof(*a));
			agent_fill(a, s);
		}
		if (db_col_null(s, AGENT_COLS_N))
			continue;	/* an agent without modules */
		mods_push(&v, &nv, &capv, module_row(f->cf, s, AGENT_COLS_N,
		    id));
	}
	if (r == -1) {
		for (size_t i = 0; i < nv; i++)
			dl_module_free(v[i]);
		free(v);
		dl_agent_free(a);
		return DBERR(f, "agent lookup");
	}
	if (a == NULL) {
		free(v);
		return DL_LOADED;
	}
	if (dl_agent_find_id(run, a->id) != NULL) {
		/* Already in the transaction under this id: that copy holds
		 * the batch's changes, never a second copy of the row. */
		for (size_t i = 0; i < nv; i++)
			dl_module_free(v[i]);
		free(v);
		*ap = dl_agent_find_id(run, a->id);
		dl_agent_free(a);
		if (!f->have_snap) {
			snap_take(&f->snap, *ap);
			f->have_snap = 1;
		}
		return DL_LOADED;
	}
	agent_take(a, enc, enclen, v, nv);
	*ap = dl_agent_add(run, a);
	return DL_LOADED;
}

/* One agent of dl_prefetch's result, as its rows come. */
struct pre_agent {
	struct dl_agent	 *a;
	size_t		  want;		/* the name it was read for */
	struct dl_module **v;
	size_t		  nv, capv;
};

/* An agent of dl_prefetch's result that goes unused, with its rows. */
static void
pre_free(struct pre_agent *p)
{
	for (size_t i = 0; i < p->nv; i++)
		dl_module_free(p->v[i]);
	free(p->v);
	dl_agent_free(p->a);
	memset(p, 0, sizeof(*p));
}

/*
 * dl_begin failed: DL_FATAL if the schema was refused (logged,
 * run->exit_code set), else as the database's error says (dl_dberr; a
 * BEGIN fails for no value, so never DL_REJECT).
 */
static enum dl_outcome
begin_failed(struct dl_run *run, char *reason, size_t reasonlen, int *code)
{
	enum dl_outcome rc;

	if (run->schema_bad) {
		snprintf(reason, reasonlen, "the database lacks what db-load "
		    "needs (see the log)");
		return DL_FATAL;
	}
	rc = dl_dberr(run, "begin", reason, reasonlen, code);
	return rc == DL_REJECT ? DL_RETRY : rc;
}

/*
 * The agents of names[0..n) (as the files name them, not encoded), read
 * and locked for the transaction in one query per DL_MAX_ROWS names
 * instead of one per file: a batch of files from many agents costs the
 * database one lookup.  A hint, from the items' envelopes before they
 * are checked: an agent found here waits in the cache (marked
 * prefetched) for a file that names it, which then takes it as if it
 * had read it itself (load_file); one no file names is locked and
 * never written.  Agents not found are left to the files' own lookups.
 * A failure ends the transaction, which holds nothing yet.  A temporary
 * one (a conflict with another writer, a lost connection) returns
 * DL_RETRY and a fatal one DL_FATAL (run->exit_code set), logged by
 * dl_dberr: the batch is not started (batch_begin); one the query's
 * values caused is logged and leaves each file to its own lookup
 * (DL_LOADED, as when all went well).
 */
enum dl_outcome
dl_prefetch(struct dl_run *run, char *const *names, size_t n)
{
	char **enc = NULL;
	size_t *enclen = NULL, ne = 0;
	struct db_val args[DL_MAX_ROWS];
	struct pre_agent *pre = NULL;
	size_t npre = 0, cappre = 0, added = 0;
	enum dl_outcome rc = DL_LOADED;
	char reason[256];
	int failed = 0, gone = 0, code;

	if (n == 0 || run->in_txn || run->schema_bad)
		return DL_LOADED;
	/* As the first file's dl_load would: not twice the wait. */
	if (dl_begin(run) == -1)
		return begin_failed(run, reason, sizeof(reason), &code);
	if (!run->schema.agent_name_index)
		return DL_LOADED;
	enc = xcalloc(n, sizeof(*enc));
	enclen = xcalloc(n, sizeof(*enclen));
	for (size_t i = 0; i < n; i++) {
		size_t len;
		char *e = pandora_safe_input(names[i], strlen(names[i]), &len);
		int dup = dl_agent_find(run, e, len) != NULL;

		for (size_t j = 0; j < ne && !dup; j++)
			dup = enclen[j] == len && memcmp(enc[j], e, len) == 0;
		if (dup) {
			free(e);
			continue;
		}
		enc[ne] = e;
		enclen[ne++] = len;
	}
	for (size_t off = 0; off < ne && !failed; ) {
		size_t k = multi_chunk(ne - off < DL_MAX_ROWS ? ne - off :
		    DL_MAX_ROWS), j = 0, p = 0;
		unsigned long long last = 0;
		struct db_stmt *s;
		int r;

		for (size_t i = 0; i < k; i++)
			args[i] = DB_TEXTN(enc[off + i], enclen[off + i]);
		/*
		 * Through the index on nombre, never a scan (schema.c,
		 * name_index).  Rows of a name the collation alone matches
		 * ("LK" for "lk") are locked, as agent_get's are, and
		 * ignored below.
		 */
		s = multi_stmt(run, run->st.agent_pre, AGENT_SELECT
		    ", a.nombre FROM tagente a FORCE INDEX (nombre) "
		    AGENT_JOINS "WHERE a.nombre IN (", "?", k,
		    ") FOR UPDATE");
		if (s == NULL || db_stmt_exec(s, args, k) == -1) {
			if (db_errno(run->db) == DL_ER_NO_SUCH_INDEX) {
				/* Dropped since the connection's check. */
				log_info("event=schema.note table=tagente "
				    "msg=\"index nombre gone: each file looks "
				    "its agent up, no batch query\"");
				run->schema.agent_name_index = 0;
				gone = 1;
			}
			failed = 1;
			break;
		}
		while ((r = db_stmt_fetch(s)) == 1) {
			unsigned long long id = db_col_uint(s, 0);
			size_t tl = 0;
			const char *t;

			if (npre == 0 || id != last) {
				/* byte for byte, as agent_get's BINARY */
				t = db_col_text(s, AGENT_COLS_N +
				    MODULE_COLS_N, &tl);
				for (j = off; j < off + k; j++)
					if (t != NULL && enclen[j] == tl &&
					    memcmp(enc[j], t, tl) == 0)
						break;
				if (j == off + k) {
					last = 0;	/* not asked for */
					continue;
				}
				for (p = 0; p < npre; p++)
					if (pre[p].a->id == id)
						break;
				if (p == npre) {
					if (npre == cappre) {
						cappre = cappre ? cappre * 2 :
						    16;
						pre = xreallocarray(pre,
						    cappre, sizeof(*pre));
					}
					memset(&pre[npre], 0,
					    sizeof(pre[npre]));
					pre[npre].a = xcalloc(1,
					    sizeof(*pre[npre].a));
					agent_fill(pre[npre].a, s);
					pre[npre++].want = j;
				}
				last = id;
			}
			if (db_col_null(s, AGENT_COLS_N))
				continue;	/* an agent without modules */
			mods_push(&pre[p].v, &pre[p].nv, &pre[p].capv,
			    module_row(run->cf, s, AGENT_COLS_N, id));
		}
		if (r == -1)
			failed = 1;
		off += k;
	}
	if (failed) {
		/*
		 * A temporary failure (a conflict with another writer, a
		 * lost connection) or a fatal one: the batch waits, as a
		 * file's lookup would make it.  A value the query could not
		 * take leaves each file to its own lookup.
		 */
		if (!gone)
			rc = dl_dberr(run, "agent prefetch", reason,
			    sizeof(reason), &code);
		if (rc == DL_REJECT) {
			log_warnx("event=agent.prefetch.fail msg=\"%s\" "
			    "then=\"each file reads its agent\"", reason);
			rc = DL_LOADED;
		}
		dl_abort(run);	/* broken, if rc says so: dl_abort closes */
	}
	/* Two agents of one name: the lower id, as agent_get. */
	for (size_t p = 0; p < npre; p++)
		for (size_t q = 0; q < npre; q++)
			if (pre[q].want == pre[p].want &&
			    pre[q].a->id < pre[p].a->id)
				pre[p].want = SIZE_MAX;
	for (size_t p = 0; p < npre; p++) {
		struct pre_agent *x = &pre[p];

		if (failed || x->want == SIZE_MAX ||
		    dl_agent_find_id(run, x->a->id) != NULL) {
			pre_free(x);
			continue;
		}
		agent_take(x->a, enc[x->want], enclen[x->want], x->v, x->nv);
		x->a->prefetched = 1;
		dl_agent_add(run, x->a);
		memset(x, 0, sizeof(*x));
		added++;
	}
	if (!failed)
		log_debug("event=agent.prefetch names=%zu agents=%zu", ne,
		    added);
	free(pre);
	for (size_t i = 0; i < ne; i++)
		free(enc[i]);
	free(enc);
	free(enclen);
	return rc;
}

/* ------------------------------------------------------------------ */
/* modules                                                            */

/* "tag: value<br/>" for the tags Pandora does not know (HTML-escaped). */
static char *
extended_info(const struct agent_module *xm)
{
	static const enum agentxml_tag legacy[] = { AX_M_SEVERITY,
	    AX_M_MESSAGE, AX_M_STACKTRACE };
	size_t len = 0, cap = 64;
	char *out = xmalloc(cap);

	out[0] = '\0';
#define APPEND(tag, val) do {						\
	char *e_ = pandora_html_escape((val), strlen(val), NULL);	\
	size_t need_ = strlen(tag) + strlen(e_) + 8;			\
	while (len + need_ + 1 > cap)					\
		cap *= 2;						\
	out = xreallocarray(out, cap, 1);				\
	len += snprintf(out + len, cap - len, "%s: %s<br/>", (tag), e_); \
	free(e_);							\
} while (0)
	for (const struct agent_kv *kv = xm->extra; kv; kv = kv->next)
		APPEND(kv->name, kv->value);
	for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (xm->tag[legacy[i]] != NULL)
			APPEND(agentxml_tag_name(legacy[i]),
			    xm->tag[legacy[i]]);
#undef APPEND
	return out;
}

/* The module_interval Pandora derives from the XML. */
static long long
module_interval(const struct dl_file *f, const struct agent_module *xm)
{
	long long v;

	if (xm->tag[AX_M_CRON_INTERVAL] != NULL &&
	    agentxml_integer(xm->tag[AX_M_CRON_INTERVAL], 0, 1LL << 40, &v) ==
	    0)
		return v;
	if (xm->tag[AX_M_MODULE_INTERVAL] != NULL &&
	    agentxml_integer(xm->tag[AX_M_MODULE_INTERVAL], 0, 1LL << 31, &v) ==
	    0)
		return v * f->ad->interval;
	return f->ad->interval;
}

/* Five cron fields of [0-9*,/-]: Pandora's cron_check_syntax. */
static int
cron_ok(const char *s)
{
	int fields = 0, in = 0;

	if (s == NULL)
		return 0;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			in = 0;
			continue;
		}
		if (strchr("0123456789*,/-", *s) == NULL)
			return 0;
		if (!in) {
			fields++;
			in = 1;
		}
	}
	return fields == 5;
}

static double
num_tag(const struct agent_module *xm, enum agentxml_tag t)
{
	double d = 0;

	if (xm->tag[t] == NULL || blank(xm->tag[t]) ||
	    agentxml_number(xm->tag[t], &d) == -1)
		return 0;
	return d;
}

static long long
int_tag(const struct agent_module *xm, enum agentxml_tag t)
{
	long long v = 0;

	if (xm->tag[t] == NULL || blank(xm->tag[t]) ||
	    agentxml_integer(xm->tag[t], 0, 1LL << 40, &v) == -1)
		return 0;
	return v;
}

/* A BIGINT column from a number: rounded, or the double itself when it
 * cannot fit (the server then refuses the file). */
/* Round half away from zero (no libm); d within +-9.2e18. */
static long long
round_ll(double d)
{
	return (long long)(d < 0 ? d - 0.5 : d + 0.5);
}

static struct db_val
bigint_val(double d)
{
	if (d > -9.2e18 && d < 9.2e18)
		return DB_INT(round_ll(d));
	return DB_DOUBLE(d);
}

static enum dl_outcome
module_create(struct dl_file *f, const struct agent_module *xm,
    const char *enc, size_t enclen, int id_tipo, struct dl_module **mp)
{
	struct dl_run *run = f->run;
	struct dl_agent *a = f->agent;
	struct dl_module *m;
	struct db_stmt *s;
	struct db_val v[34];
	char *desc, *ext, *unit, *custom, *sw, *sc, *ci, *wi, *ui, *cron;
	long long mi = module_interval(f, xm);
	int status, k = 0;
	enum dl_outcome rc = DL_LOADED;

	desc = text_col(xm->tag[AX_M_DESCRIPTION], 0);
	ext = extended_info(xm);
	unit = text_col(xm->tag[AX_M_UNIT], 0);
	custom = text_col(xm->tag[AX_M_CUSTOM_ID], 0);
	sw = text_col(xm->tag[AX_M_STR_WARNING], 0);
	sc = text_col(xm->tag[AX_M_STR_CRITICAL], 0);
	ci = text_col(xm->tag[AX_M_CRITICAL_INSTRUCTIONS], 0);
	wi = text_col(xm->tag[AX_M_WARNING_INSTRUCTIONS], 0);
	ui = text_col(xm->tag[AX_M_UNKNOWN_INSTRUCTIONS], 0);
	if (cron_ok(xm->tag[AX_M_CRONTAB]))
		cron = xstrdup(xm->tag[AX_M_CRONTAB]);
	else if (xm->tag[AX_M_CRON_INTERVAL] != NULL)
		cron = xstrdup(xm->tag[AX_M_CRON_INTERVAL]);
	else
		cron = xstrdup("");
	v[k++] = DB_UINT(a->id);
	v[k++] = DB_INT(id_tipo);
	v[k++] = DB_TEXTN(enc, enclen);
	v[k++] = DB_TEXT(desc);
	v[k++] = DB_TEXT(ext);
	v[k++] = DB_TEXT(unit);
	v[k++] = DB_INT(mi);
	v[k++] = DB_TEXT(cron);
	v[k++] = bigint_val(num_tag(xm, AX_M_MAX));
	v[k++] = bigint_val(num_tag(xm, AX_M_MIN));
	v[k++] = DB_DOUBLE(num_tag(xm, AX_M_POST_PROCESS));
	v[k++] = DB_DOUBLE(num_tag(xm, AX_M_MIN_WARNING));
	v[k++] = DB_DOUBLE(num_tag(xm, AX_M_MAX_WARNING));
	v[k++] = DB_TEXT(sw);
	v[k++] = DB_DOUBLE(num_tag(xm, AX_M_MIN_CRITICAL));
	v[k++] = DB_DOUBLE(num_tag(xm, AX_M_MAX_CRITICAL));
	v[k++] = DB_TEXT(sc);
	v[k++] = DB_INT(int_tag(xm, AX_M_WARNING_INVERSE));
	v[k++] = DB_INT(int_tag(xm, AX_M_CRITICAL_INVERSE));
	v[k++] = DB_INT(int_tag(xm, AX_M_MIN_FF_EVENT));
	v[k++] = DB_INT(int_tag(xm, AX_M_MIN_FF_EVENT_NORMAL));
	v[k++] = DB_INT(int_tag(xm, AX_M_MIN_FF_EVENT_WARNING));
	v[k++] = DB_INT(int_tag(xm, AX_M_MIN_FF_EVENT_CRITICAL));
	v[k++] = DB_INT(int_tag(xm, AX_M_FF_TYPE));
	v[k++] = DB_INT(int_tag(xm, AX_M_EACH_FF));
	v[k++] = DB_INT(int_tag(xm, AX_M_FF_TIMEOUT));
	v[k++] = DB_INT(int_tag(xm, AX_M_MODULE_FF_INTERVAL));
	v[k++] = DB_TEXT(custom);
	v[k++] = DB_TEXT(ci);
	v[k++] = DB_TEXT(wi);
	v[k++] = DB_TEXT(ui);
	v[k++] = DB_INT(int_tag(xm, AX_M_QUIET));
	v[k++] = DB_INT(int_tag(xm, AX_M_DISABLED));
	if ((rc = savepoint(f)) != DL_LOADED)
		goto out;
	s = stmt(run, &run->st.mod_ins, "INSERT INTO tagente_modulo "
	    "(id_agente, id_tipo_modulo, nombre, descripcion, extended_info, "
	    "unit, id_modulo, module_interval, cron_interval, max, min, "
	    "post_process, min_warning, max_warning, str_warning, "
	    "min_critical, max_critical, str_critical, warning_inverse, "
	    "critical_inverse, min_ff_event, min_ff_event_normal, "
	    "min_ff_event_warning, min_ff_event_critical, ff_type, each_ff, "
	    "ff_timeout, module_ff_interval, custom_id, "
	    "critical_instructions, warning_instructions, "
	    "unknown_instructions, disabled_types_event, module_macros, "
	    "quiet, disabled) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', "
	    "?, ?)");
	if (s == NULL || db_stmt_exec(s, v, k) == -1) {
		rc = DBERR(f, "module insert");
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	m->id = db_stmt_insert_id(s);
	m->id_agente = a->id;
	m->nombre = dupn(enc, enclen);
	m->nombre_len = enclen;
	m->plain = xstrdup(xm->name);
	m->id_tipo = id_tipo;
	m->type = type_name(id_tipo);
	m->disabled = int_tag(xm, AX_M_DISABLED) != 0;
	m->id_modulo = 1;
	m->history_data = 1;
	m->quiet = int_tag(xm, AX_M_QUIET) != 0;
	m->min = num_tag(xm, AX_M_MIN);
	m->max = num_tag(xm, AX_M_MAX);
	if (m->min > -9.2e18 && m->min < 9.2e18)
		m->min = (double)round_ll(m->min);
	if (m->max > -9.2e18 && m->max < 9.2e18)
		m->max = (double)round_ll(m->max);
	m->post_process = num_tag(xm, AX_M_POST_PROCESS);
	m->thr.min_warning = num_tag(xm, AX_M_MIN_WARNING);
	m->thr.max_warning = num_tag(xm, AX_M_MAX_WARNING);
	m->thr.min_critical = num_tag(xm, AX_M_MIN_CRITICAL);
	m->thr.max_critical = num_tag(xm, AX_M_MAX_CRITICAL);
	m->thr.warning_inverse = int_tag(xm, AX_M_WARNING_INVERSE) != 0;
	m->thr.critical_inverse = int_tag(xm, AX_M_CRITICAL_INVERSE) != 0;
	dl_module_set_regex(m, sw, sc, f->cf);
	m->ff.min_ff_event = (unsigned)int_tag(xm, AX_M_MIN_FF_EVENT);
	m->ff.min_ff_event_normal = (unsigned)int_tag(xm,
	    AX_M_MIN_FF_EVENT_NORMAL);
	m->ff.min_ff_event_warning = (unsigned)int_tag(xm,
	    AX_M_MIN_FF_EVENT_WARNING);
	m->ff.min_ff_event_critical = (unsigned)int_tag(xm,
	    AX_M_MIN_FF_EVENT_CRITICAL);
	m->ff.ff_type = (int)int_tag(xm, AX_M_FF_TYPE);
	m->ff.each_ff = (int)int_tag(xm, AX_M_EACH_FF);
	m->ff.ff_timeout = (unsigned)int_tag(xm, AX_M_FF_TIMEOUT);
	m->ff.module_ff_interval = (unsigned)int_tag(xm,
	    AX_M_MODULE_FF_INTERVAL);
	m->module_interval = (unsigned long)mi;
	m->descripcion = desc;
	m->extended_info = ext;
	m->crit_instr = ci;
	m->warn_instr = wi;
	m->unk_instr = ui;
	desc = ext = ci = wi = ui = NULL;
	m->created = 1;
	a->recount = 1;		/* one more module to count */
	/* Not-init until the first data; asynchronous types start normal. */
	status = pandora_type_is_async(m->type) ? PANDORA_NORMAL :
	    PANDORA_NOTINIT;
	m->st.estado = m->st.known_status = m->st.last_status =
	    m->st.last_known_status = status;
	m->datos = xstrdup("");
	strlcpy(m->timestamp, "1970-01-01 00:00:00", sizeof(m->timestamp));
	strlcpy(m->last_try, "1970-01-01 00:00:00", sizeof(m->last_try));
	dl_module_add(a, m);
	{
		struct db_val e[6] = { DB_UINT(m->id), DB_UINT(a->id),
		    DB_INT(status), DB_INT(status), DB_INT(status),
		    DB_INT(status) };

		s = stmt(run, &run->st.estado_ins, "INSERT INTO tagente_estado "
		    "(id_agente_modulo, id_agente, estado, known_status, "
		    "last_status, last_known_status, last_try, datos) VALUES "
		    "(?, ?, ?, ?, ?, ?, '1970-01-01 00:00:00', '')");
		if (s == NULL || db_stmt_exec(s, e, 6) == -1) {
			rc = DBERR(f, "status insert");
			goto out;
		}
		m->have_estado = 1;
		m->id_estado = db_stmt_insert_id(s);
	}
	f->res->modules_created++;
	if (f->cf->audit) {
		audit_begin(f->ab, DL_STAGE, "module.created", "ok");
		audit_str(f->ab, "agent", f->ad->agent_name);
		audit_str(f->ab, "module", xm->name);
		audit_str(f->ab, "type", m->type);
		audit_num(f->ab, "id_agente_modulo", (long long)m->id);
		audit_str(f->ab, "item", f->item);
		audit_end(f->ab);
	}
	*mp = m;
out:
	free(desc);
	free(ext);
	free(unit);
	free(custom);
	free(sw);
	free(sc);
	free(ci);
	free(wi);
	free(ui);
	free(cron);
	return rc;
}

/* Learning mode: description, extended_info and interval follow the
 * file (not for policy modules). */
static enum dl_outcome
module_update_conf(struct dl_file *f, struct dl_module *m,
    const struct agent_module *xm)
{
	struct dl_run *run = f->run;
	char *desc = text_col(xm->tag[AX_M_DESCRIPTION], 0);
	char *ext = extended_info(xm);
	unsigned long mi = (unsigned long)module_interval(f, xm);
	enum dl_outcome rc = DL_LOADED;

	if (*desc == '\0') {
		free(desc);
		desc = xstrdup(m->descripcion);
	}
	if (strcmp(desc, m->descripcion) != 0 ||
	    strcmp(ext, m->extended_info) != 0 || mi != m->module_interval) {
		struct db_val v[4] = { DB_TEXT(desc), DB_TEXT(ext),
		    DB_INT((long long)mi), DB_UINT(m->id) };
		struct db_stmt *s;

		if ((rc = savepoint(f)) != DL_LOADED) {
			free(desc);
			free(ext);
			return rc;
		}
		s = stmt(run, &run->st.mod_upd_conf, "UPDATE "
		    "tagente_modulo SET descripcion = ?, extended_info = ?, "
		    "module_interval = ? WHERE id_agente_modulo = ?");
		if (s == NULL || db_stmt_exec(s, v, 4) == -1)
			rc = DBERR(f, "module update");
		else {
			free(m->descripcion);
			free(m->extended_info);
			m->descripcion = desc;
			m->extended_info = ext;
			m->module_interval = mi;
			return DL_LOADED;
		}
	}
	free(desc);
	free(ext);
	return rc;
}

/* ------------------------------------------------------------------ */
/* samples                                                            */

/* A history row for the batch's INSERTs (a string is copied). */
static void
add_row(struct dl_file *f, unsigned long long id, double v, const char *str,
    size_t len, long long t)
{
	struct dl_run *run = f->run;
	struct dl_row *r;

	if (run->nrows == run->caprows) {
		run->caprows = run->caprows ? run->caprows * 2 : 1024;
		run->rows = xreallocarray(run->rows, run->caprows,
		    sizeof(*run->rows));
	}
	r = &run->rows[run->nrows++];
	r->id = id;
	r->v = v;
	r->s = str ? dupn(str, len) : NULL;
	r->len = len;
	r->t = t;
	run->row_bytes += 32 + len;
}

/* Drop the rows from n on (a file undone), or all of them. */
static void
rows_truncate(struct dl_run *run, size_t n)
{
	for (size_t i = n; i < run->nrows; i++) {
		run->row_bytes -= 32 + run->rows[i].len;
		free(run->rows[i].s);
	}
	if (n < run->nrows)
		run->nrows = n;
	if (run->nrows == 0)
		run->row_bytes = 0;
}

void
dl_rows_clear(struct dl_run *run)
{
	rows_truncate(run, 0);
	free(run->rows);
	run->rows = NULL;
	run->caprows = 0;
}

/* A refused sample: only last_execution_try and current_interval. */
static void
sample_error(struct dl_file *f, struct dl_module *m)
{
	f->res->values_refused++;
	m->last_execution_try = f->now;
	m->current_interval = m->module_interval ? (long)m->module_interval :
	    300;
	m->dirty = 1;
}

static void
set_inc(struct dl_module *m, double v, long long t)
{
	m->have_inc = 1;
	m->inc_datos = v;
	m->inc_t = t;
	m->inc_dirty = 1;
}

static int
xml_status(enum agentxml_status s)
{
	switch (s) {
	case AX_STATUS_NORMAL:
		return PANDORA_NORMAL;
	case AX_STATUS_WARNING:
		return PANDORA_WARNING;
	case AX_STATUS_CRITICAL:
		return PANDORA_CRITICAL;
	default:
		return -1;
	}
}

static enum dl_outcome
emit_event(struct dl_file *f, struct dl_module *m,
    const struct pandora_transition *tr, int status, const char *data,
    size_t datalen)
{
	struct dl_run *run = f->run;
	char val[300], text[1200];
	const char *tpl, *p;
	size_t o = 0, vl;
	enum dl_outcome rc;

	if (f->agent->quiet || m->quiet)
		return DL_LOADED;
	if (tr->validate && m->may_have_events) {
		struct db_val v[2] = { DB_INT(f->now), DB_UINT(m->id) };

		if ((rc = savepoint(f)) != DL_LOADED)
			return rc;
		{
		struct db_stmt *s = stmt(run, &run->st.event_validate,
		    "UPDATE tevento SET estado = 1, ack_utimestamp = ? WHERE "
		    "estado = 0 AND id_agentmodule = ?");

		if (s == NULL || db_stmt_exec(s, v, 2) == -1)
			return DBERR(f, "event validation");
		}
	}
	if (tr->event == PANDORA_EV_NONE)
		return DL_LOADED;
	/* The value as the server shows it, at most 255 bytes. */
	{
		char *tmp = dupn(data, pandora_utf8_cut(data, datalen, 255));

		if (pandora_event_value(tmp, f->cf->event_precision, val,
		    sizeof(val)) < 0)
			strlcpy(val, tmp, sizeof(val));
		free(tmp);
	}
	vl = pandora_utf8_cut(val, strlen(val), 255);
	val[vl] = '\0';
	tpl = pandora_event_text(tr->event);
	for (p = tpl; *p && o + 1 < sizeof(text); ) {
		const char *sub = NULL;

		if (strncmp(p, "_module_", 8) == 0) {
			sub = m->plain;
			p += 8;
		} else if (strncmp(p, "_data_", 6) == 0) {
			sub = val;
			p += 6;
		}
		if (sub != NULL) {
			size_t n = pandora_utf8_cut(sub, strlen(sub),
			    sizeof(text) - o - 1);

			memcpy(text + o, sub, n);
			o += n;
		} else
			text[o++] = *p++;
	}
	text[o] = '\0';
	rc = insert_event(f, m->id, pandora_event_type(tr->event),
	    pandora_event_criticity(tr->event),
	    tr->event == PANDORA_EV_GOING_DOWN_NORMAL ? 1 : 0, text, val,
	    strlen(val), status, m);
	if (rc == DL_LOADED)
		m->may_have_events = 1;
	return rc;
}

/*
 * A string threshold of m that could not say (rc): invalid, or stopped
 * by a PCRE2 limit, is logged and audited, once per file and rule (an
 * invalid one once per batch), at most DL_RE_REPORTS per file; a rule
 * not run because the budget is spent is only counted, for the file's
 * summary.  Either way the rule did not fire.
 */
static void
re_report(struct dl_file *f, struct dl_module *m, int which, int rc)
{
	struct pandora_re *re = which ? m->re_warning : m->re_critical;
	const char *rule = which ? "str_warning" : "str_critical";
	const char *pat = pandora_re_pattern(re), *why = pandora_re_why(re);
	char va[LOG_VISBUF], vm[LOG_VISBUF], vw[LOG_VISBUF], vp[LOG_VISBUF];

	switch (rc) {
	case PANDORA_RE_INVALID:
		f->res->regex_invalid++;
		if (m->re_told[which] != 0)
			return;
		break;
	case PANDORA_RE_LIMIT:
		f->res->regex_limited++;
		if (m->re_told[which] == f->serial)
			return;
		break;
	case PANDORA_RE_BUDGET:
		if (f->res->regex_skipped++ == 0) {
			f->re_skip_module = xstrdup(m->plain);
			f->re_skip_rule = rule;
		}
		return;
	default:
		return;
	}
	m->re_told[which] = f->serial;
	if (f->re_reports >= DL_RE_REPORTS) {
		f->re_unreported++;
		return;
	}
	f->re_reports++;
	log_info("event=module.regex.%s id=%s agent=\"%s\" module=\"%s\" "
	    "module_id=%llu rule=%s reason=\"%s\" pattern=\"%s\"",
	    rc == PANDORA_RE_INVALID ? "invalid" : "limit", f->item,
	    log_vis(va, sizeof(va), f->ad->agent_name,
	    strlen(f->ad->agent_name)), log_vis(vm, sizeof(vm), m->plain,
	    strlen(m->plain)), m->id, rule, log_vis(vw, sizeof(vw), why,
	    strlen(why)), log_vis(vp, sizeof(vp), pat, strlen(pat)));
	/* An invalid rule is the agent's doing when it made the module. */
	if (!f->cf->audit || f->ab == NULL || (rc == PANDORA_RE_INVALID &&
	    !m->created))
		return;
	audit_begin(f->ab, DL_STAGE, "module.regex", rc ==
	    PANDORA_RE_INVALID ? "invalid" : "limited");
	audit_str(f->ab, "agent", f->ad->agent_name);
	audit_str(f->ab, "module", m->plain);
	audit_num(f->ab, "id_agente_modulo", (long long)m->id);
	audit_str(f->ab, "rule", rule);
	audit_str(f->ab, "reason", why);
	audit_strn(f->ab, "pattern", pat, pandora_utf8_cut(pat, strlen(pat),
	    DL_RE_AUDIT_PATTERN));
	audit_str(f->ab, "item", f->item);
	audit_end(f->ab);
}

/* The end of a file whose rules could not all say: one line, and one
 * audit event naming the first rule the spent budget left out. */
static void
re_summary(struct dl_file *f, int audit)
{
	struct dl_result *res = f->res;
	char va[LOG_VISBUF], vm[LOG_VISBUF], why[96], first[LOG_VISBUF + 160];

	if (res->regex_skipped == 0 && f->re_unreported == 0)
		return;
	snprintf(why, sizeof(why), "the matching budget of %lld ms is spent",
	    f->cf->re_budget_ns / 1000000);
	first[0] = '\0';
	if (res->regex_skipped > 0)
		snprintf(first, sizeof(first), " module=\"%s\" rule=%s "
		    "reason=\"%s\"", log_vis(vm, sizeof(vm), f->re_skip_module,
		    strlen(f->re_skip_module)), f->re_skip_rule, why);
	log_info("event=file.regex id=%s agent=\"%s\" invalid=%lu limited=%lu "
	    "skipped=%lu unreported=%u used_ms=%.1f budget_ms=%lld%s", f->item,
	    log_vis(va, sizeof(va), f->ad->agent_name,
	    strlen(f->ad->agent_name)), res->regex_invalid,
	    res->regex_limited, res->regex_skipped, f->re_unreported,
	    res->regex_ns / 1e6, f->cf->re_budget_ns / 1000000, first);
	if (!audit || res->regex_skipped == 0)
		return;
	audit_begin(f->ab, DL_STAGE, "module.regex", "budget");
	audit_str(f->ab, "agent", f->ad->agent_name);
	audit_str(f->ab, "module", f->re_skip_module);
	audit_str(f->ab, "rule", f->re_skip_rule);
	audit_str(f->ab, "reason", why);
	audit_num(f->ab, "skipped", (long long)res->regex_skipped);
	audit_num(f->ab, "budget_ms", f->cf->re_budget_ns / 1000000);
	audit_str(f->ab, "item", f->item);
	audit_end(f->ab);
}

static enum dl_outcome
do_sample(struct dl_file *f, struct dl_module *m,
    const struct agent_module *xm, const struct agent_sample *smp,
    long long t)
{
	const char *type = m->type, *str = smp->value;
	size_t len = smp->len;
	char buf[400];
	double num = 0, v;
	int status, save, is_async = pandora_type_is_async(type);
	struct pandora_estado st;
	struct pandora_transition tr;
	long interval;
	enum dl_outcome rc;

	if (!m->have_estado) {
		/* No status row: the server skips the module, so do we. */
		f->res->values_refused++;
		return DL_LOADED;
	}
	/* What a history or counter row can hold (INT UNSIGNED times,
	 * MEDIUMTEXT and the statement size): checked here, so that the
	 * rows written at the commit cannot be refused. */
	if (t < 0 || t > 4294967295LL || len > DL_MAX_STRING) {
		sample_error(f, m);
		return DL_LOADED;
	}
	if (pandora_type_is_string(type)) {
		if (len == 0) {
			sample_error(f, m);
			return DL_LOADED;
		}
	} else {
		if (xm->numeric)
			num = smp->num;
		else if (agentxml_number(smp->value, &num) == -1) {
			sample_error(f, m);
			return DL_LOADED;
		}
		if (pandora_type_is_inc(type) ||
		    pandora_type_is_inc_abs(type)) {
			int r = pandora_inc(pandora_type_is_inc_abs(type),
			    m->have_inc, m->inc_datos, m->inc_t, num, t, &v);

			switch (r) {
			case PANDORA_INC_FIRST:
				set_inc(m, num, t);
				sample_error(f, m);
				return DL_LOADED;
			case PANDORA_INC_RESET:
				set_inc(m, num, t);
				m->e_utimestamp = f->now;
				sample_error(f, m);
				return DL_LOADED;
			case PANDORA_INC_OLD:
			case PANDORA_INC_SAME:
				sample_error(f, m);
				return DL_LOADED;
			default:
				break;
			}
			set_inc(m, num, t);
			v = pandora_post_process(v, m->post_process);
		} else
			v = pandora_post_process(num, m->post_process);
		if (!isfinite(v) || !pandora_check_min_max(v, m->min, m->max)) {
			sample_error(f, m);
			return DL_LOADED;
		}
		if (pandora_format(v, buf, sizeof(buf)) < 0) {
			sample_error(f, m);
			return DL_LOADED;
		}
		str = buf;
		len = strlen(buf);
		num = strtod(buf, NULL);
	}
	m->thr.budget = &f->rb;
	status = pandora_status(type, xml_status(xm->status), &m->thr, num,
	    str, len, strtod(m->datos, NULL));
	m->thr.budget = NULL;
	re_report(f, m, 0, f->rb.last_critical);
	re_report(f, m, 1, f->rb.last_warning);
	save = m->history_data == 1 && (m->datos_len != len ||
	    memcmp(m->datos, str, len) != 0 || m->last_try_t < t - 86400);
	interval = m->module_interval ? (long)m->module_interval :
	    f->agent->intervalo;
	st = m->st;
	pandora_apply(&st, status, &m->ff, is_async, t, interval, &tr);
	if ((rc = emit_event(f, m, &tr, status, str, len)) != DL_LOADED)
		return rc;
	/* Never update the status with a sample older than the last. */
	if (t >= m->last_try_t) {
		if (st.estado != m->st.estado)
			f->agent->recount = 1;
		m->st = st;
		free(m->datos);
		m->datos = dupn(str, len);
		m->datos_len = len;
		fmt_dt(t, m->timestamp, sizeof(m->timestamp));
		m->e_utimestamp = f->now;
		m->current_interval = tr.current_interval;
		m->last_execution_try = t;
		if (save) {
			strlcpy(m->last_try, m->timestamp, sizeof(m->last_try));
			m->last_try_t = t;
		}
		m->dirty = 1;
	}
	if (is_async || save) {
		f->res->history++;
		if (pandora_type_is_string(type))
			add_row(f, m->id, 0, smp->value, smp->len, t);
		else
			add_row(f, m->id, num, NULL, 0, t);
	}
	f->res->values++;
	return DL_LOADED;
}

/* Samples of a module sorted by time (stable: document order on ties). */
struct tsample {
	const struct agent_sample *s;
	long long	 t;
	unsigned	 ord;
};

static int
tsample_cmp(const void *a, const void *b)
{
	const struct tsample *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Is the XML type of a sample compatible with the module's DB type? */
static int
type_compatible(const struct dl_module *m, const struct agent_module *xm)
{
	enum agentxml_type t = agentxml_type_of(m->type);

	if (t == AX_TYPE_NONE)
		return 0;		/* not an agent type */
	/* A string module takes any text; a numeric one needs numbers. */
	if (pandora_type_is_string(m->type))
		return 1;
	if (!xm->numeric) {
		for (const struct agent_sample *s = xm->samples; s; s = s->next)
			if (s->value != NULL && agentxml_number(s->value,
			    NULL) == -1)
				return 0;
	}
	return 1;
}

static enum dl_outcome
do_module(struct dl_file *f, const struct agent_module *xm)
{
	struct dl_run *run = f->run;
	struct dl_agent *a = f->agent;
	struct dl_module *m;
	struct tsample *ts;
	size_t enclen, n = 0;
	char *enc;
	enum dl_outcome rc = DL_LOADED;
	char vis[LOG_VISBUF];

	f->res->modules++;
	if (xm->has_datalist) {
		/* The server handles a datalist entry by entry: without any
		 * value the module is not even created. */
		const struct agent_sample *s = xm->samples;

		while (s != NULL && s->value == NULL)
			s = s->next;
		if (s == NULL)
			return DL_LOADED;
	}
	enc = pandora_safe_input(xm->name, strlen(xm->name), &enclen);
	if ((m = dl_module_find(a, enc, enclen)) == NULL && a->nmods > 0) {
		/* The collation matches names case-insensitively, as the
		 * server's lookup: ask the database before creating. */
		struct db_val v[2] = { DB_UINT(a->id), DB_TEXTN(enc, enclen) };
		struct db_stmt *s = stmt(run, &run->st.mod_find, "SELECT "
		    "id_agente_modulo FROM tagente_modulo WHERE id_agente = ? "
		    "AND nombre = ? ORDER BY id_agente_modulo LIMIT 1");
		int r;
		unsigned long long id = 0;

		if (s == NULL || db_stmt_exec(s, v, 2) == -1) {
			free(enc);
			return DBERR(f, "module lookup");
		}
		while ((r = db_stmt_fetch(s)) == 1)
			id = db_col_uint(s, 0);
		if (r == -1) {
			free(enc);
			return DBERR(f, "module lookup");
		}
		if (id != 0 && (m = dl_module_by_id(a, id)) == NULL) {
			log_info("event=module.skip id=%s module=\"%s\" "
			    "reason=\"created concurrently\"", f->item,
			    log_vis(vis, sizeof(vis), xm->name,
			    strlen(xm->name)));
			free(enc);
			return DL_LOADED;
		}
	}
	if (m == NULL) {
		int id_tipo = type_id(xm->type_name);

		if (!f->learn) {
			f->res->modules_not_learnt++;
			log_debug("event=module.not_learnt id=%s module=\"%s\"",
			    f->item, log_vis(vis, sizeof(vis), xm->name,
			    strlen(xm->name)));
			free(enc);
			return DL_LOADED;
		}
		if (a->nmods >= (size_t)f->cap) {
			f->res->modules_over_cap++;
			log_info("event=module.cap id=%s agent_id=%llu cap=%ld "
			    "module=\"%s\"", f->item, a->id, f->cap,
			    log_vis(vis, sizeof(vis), xm->name,
			    strlen(xm->name)));
			free(enc);
			return DL_LOADED;
		}
		if (id_tipo < 0) {
			f->res->modules_mismatch++;
			free(enc);
			return DL_LOADED;
		}
		rc = module_create(f, xm, enc, enclen, id_tipo, &m);
		free(enc);
		if (rc != DL_LOADED)
			return rc;
	} else {
		free(enc);
		if ((a->modo == 1 || a->modo == 2) && !m->policy_linked &&
		    (rc = module_update_conf(f, m, xm)) != DL_LOADED)
			return rc;
	}
	if (m->disabled) {
		f->res->modules_disabled++;
		return DL_LOADED;
	}
	if (!type_compatible(m, xm)) {
		f->res->modules_mismatch++;
		log_info("event=module.mismatch id=%s module=\"%s\" "
		    "db_type=%s xml_type=%s", f->item, log_vis(vis,
		    sizeof(vis), xm->name, strlen(xm->name)),
		    *m->type ? m->type : "?", xm->type_name);
		return DL_LOADED;
	}
	ts = xcalloc(xm->nsamples ? xm->nsamples : 1, sizeof(*ts));
	for (const struct agent_sample *s = xm->samples; s; s = s->next) {
		if (s->value == NULL)
			continue;	/* a datalist entry without value */
		ts[n].s = s;
		ts[n].t = s->timestamp != NULL ? (long long)s->time :
		    f->agent_t;
		ts[n].ord = n;
		n++;
	}
	qsort(ts, n, sizeof(*ts), tsample_cmp);
	for (size_t i = 0; i < n && rc == DL_LOADED; i++)
		rc = do_sample(f, m, xm, ts[i].s, ts[i].t);
	free(ts);
	return rc;
}

/* module_parent and module_parent_unlink, after all modules. */
static enum dl_outcome
module_links(struct dl_file *f)
{
	struct dl_run *run = f->run;

	for (const struct agent_module *xm = f->ad->modules; xm;
	    xm = xm->next) {
		const char *pn = xm->tag[AX_M_MODULE_PARENT];
		const char *un = xm->tag[AX_M_MODULE_PARENT_UNLINK];
		struct dl_module *child, *parent = NULL;
		unsigned long long pid;
		size_t l;
		char *e;

		if (xm->rule != NULL || (blank(pn) && (un == NULL ||
		    strcmp(un, "1") != 0)))
			continue;
		e = pandora_safe_input(xm->name, strlen(xm->name), &l);
		child = dl_module_find(f->agent, e, l);
		free(e);
		if (child == NULL)
			continue;
		if (!blank(pn)) {
			e = pandora_safe_input(pn, strlen(pn), &l);
			parent = dl_module_find(f->agent, e, l);
			free(e);
			if (parent == NULL)
				continue;
			pid = parent->id;
		} else
			pid = 0;
		{
			struct db_val v[2] = { DB_UINT(pid),
			    DB_UINT(child->id) };
			struct db_stmt *s;
			enum dl_outcome rc;

			if ((rc = savepoint(f)) != DL_LOADED)
				return rc;
			s = stmt(run, &run->st.mod_parent, "UPDATE "
			    "tagente_modulo SET parent_module_id = ? WHERE "
			    "id_agente_modulo = ?");
			if (s == NULL || db_stmt_exec(s, v, 2) == -1)
				return DBERR(f, "module parent");
		}
	}
	return DL_LOADED;
}

/* ------------------------------------------------------------------ */
/* writing                                                            */

/* "INSERT ... VALUES (...), (...)" for n rows of the row template. */
static char *
multi_sql(const char *head, const char *row, size_t n, const char *tail)
{
	size_t cap = strlen(head) + n * (strlen(row) + 2) + strlen(tail) + 1;
	char *sql = xmalloc(cap);

	strlcpy(sql, head, cap);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strlcat(sql, ", ", cap);
		strlcat(sql, row, cap);
	}
	strlcat(sql, tail, cap);
	return sql;
}

static struct db_stmt *
multi_stmt(struct dl_run *run, struct db_stmt **slot, const char *head,
    const char *row, size_t n, const char *tail)
{
	char *sql;

	if (slot[n] != NULL)
		return slot[n];
	sql = multi_sql(head, row, n, tail);
	slot[n] = db_prepare(run->db, sql);
	free(sql);
	return slot[n];
}

/*
 * The rows of the next statement when left rows remain: all of them up
 * to DL_EXACT_ROWS, else the largest power of two (n = 45: 32, 13;
 * n = 300: 256, 32, 12).  A lingering db-load then keeps at most
 * DL_EXACT_ROWS + log2(DL_MAX_ROWS / DL_EXACT_ROWS) prepared statements
 * per table instead of one per row count (each holds server and client
 * memory: the big ones most), and a small batch (one file every few
 * seconds) still writes each table in one round trip.
 */
static size_t
multi_chunk(size_t left)
{
	size_t k = 1;

	if (left <= DL_EXACT_ROWS)
		return left;
	while (k * 2 <= left)
		k *= 2;
	return k;
}

/* Run the n-row statement in multi_chunk() pieces, cols values per row
 * from v.  0 or -1. */
static int
multi_exec(struct dl_run *run, struct db_stmt **slot, const char *head,
    const char *row, size_t n, const char *tail, const struct db_val *v,
    size_t cols)
{
	for (size_t off = 0; off < n; ) {
		size_t k = multi_chunk(n - off);
		struct db_stmt *st;

		if ((st = multi_stmt(run, slot, head, row, k, tail)) == NULL ||
		    db_stmt_exec(st, v + off * cols, k * cols) == -1)
			return -1;
		off += k;
	}
	return 0;
}

/* A database error while writing the batch's deferred rows. */
static int
flush_err(struct dl_run *run, const char *what)
{
	char reason[512];
	int code;

	/*
	 * The rows were checked when they were made, so a "data" error here
	 * means the server's limits differ from what db-load assumes (e.g.
	 * max_allowed_packet): an operator must look; the batch stays.
	 */
	if (dl_dberr(run, what, reason, sizeof(reason), &code) == DL_REJECT) {
		log_warnx("event=db.fail step=%s msg=\"%s\"", what, reason);
		run->exit_code = EX_SOFTWARE;
	}
	run->broken = 1;
	return -1;
}

/* The batch's history rows: multi-row INSERTs, numbers then strings. */
static int
flush_history(struct dl_run *run)
{
	struct db_val v[3 * DL_MAX_ROWS];

	for (int str = 0; str < 2; str++) {
		size_t n = 0, bytes = 0;

		for (size_t i = 0; i <= run->nrows; i++) {
			struct dl_row *r = i < run->nrows ? &run->rows[i] :
			    NULL;

			if (r != NULL && (r->s != NULL) != str)
				continue;
			if (r != NULL && !(n > 0 && (n == DL_MAX_ROWS ||
			    bytes + r->len > DL_STMT_BYTES))) {
				v[3 * n] = DB_UINT(r->id);
				v[3 * n + 1] = str ? DB_TEXTN(r->s, r->len) :
				    DB_DOUBLE(r->v);
				v[3 * n + 2] = DB_INT(r->t);
				n++;
				bytes += r->len;
				continue;
			}
			if (n > 0) {
				if (multi_exec(run, str ? run->st.strs :
				    run->st.datos, str ? "INSERT INTO "
				    "tagente_datos_string (id_agente_modulo, "
				    "datos, utimestamp) VALUES " : "INSERT INTO "
				    "tagente_datos (id_agente_modulo, datos, "
				    "utimestamp) VALUES ", "(?, ?, ?)", n, "", v,
				    3) == -1)
					return flush_err(run,
					    "history insert");
				n = 0;
				bytes = 0;
			}
			if (r != NULL) {
				i--;	/* this row starts the next statement */
				continue;
			}
		}
	}
	rows_truncate(run, 0);
	return 0;
}

/* 2^k incremental modules' raw counters: one CASE UPDATE. */
static int
flush_inc_update(struct dl_run *run, struct dl_module **im, size_t n)
{
	static struct db_val v[5 * DL_MAX_ROWS];
	struct db_stmt *s;
	size_t k = 0;

	if ((s = run->st.incs_upd[n]) == NULL) {
		size_t cap = 256 + n * 64;
		char *sql = xmalloc(cap);

		strlcpy(sql, "UPDATE tagente_datos_inc SET datos = CASE "
		    "id_agente_modulo", cap);
		for (size_t j = 0; j < n; j++)
			strlcat(sql, " WHEN ? THEN ?", cap);
		strlcat(sql, " END, utimestamp = CASE id_agente_modulo", cap);
		for (size_t j = 0; j < n; j++)
			strlcat(sql, " WHEN ? THEN ?", cap);
		strlcat(sql, " END WHERE id_agente_modulo IN (", cap);
		for (size_t j = 0; j < n; j++)
			strlcat(sql, j ? ", ?" : "?", cap);
		strlcat(sql, ")", cap);
		s = run->st.incs_upd[n] = db_prepare(run->db, sql);
		free(sql);
	}
	for (size_t j = 0; j < n; j++) {
		v[k++] = DB_UINT(im[j]->id);
		v[k++] = DB_DOUBLE(im[j]->inc_datos);
	}
	for (size_t j = 0; j < n; j++) {
		v[k++] = DB_UINT(im[j]->id);
		v[k++] = DB_INT(im[j]->inc_t);
	}
	for (size_t j = 0; j < n; j++)
		v[k++] = DB_UINT(im[j]->id);
	return s == NULL || db_stmt_exec(s, v, k) == -1 ? -1 : 0;
}

/* n incremental modules' raw counters: INSERT (update 0) or UPDATE. */
static int
flush_inc(struct dl_run *run, struct dl_module **im, size_t n, int update)
{
	static struct db_val v[3 * DL_MAX_ROWS];
	int rc = 0;

	if (!update) {
		size_t k = 0;

		for (size_t j = 0; j < n; j++) {
			v[k++] = DB_UINT(im[j]->id);
			v[k++] = DB_DOUBLE(im[j]->inc_datos);
			v[k++] = DB_INT(im[j]->inc_t);
		}
		rc = multi_exec(run, run->st.incs_ins, "INSERT INTO "
		    "tagente_datos_inc (id_agente_modulo, datos, utimestamp) "
		    "VALUES ", "(?, ?, ?)", n, "", v, 3);
	} else
		/* In multi_chunk() pieces, as multi_exec does. */
		for (size_t off = 0; off < n && rc == 0; ) {
			size_t k = multi_chunk(n - off);

			rc = flush_inc_update(run, im + off, k);
			off += k;
		}
	if (rc == -1)
		return flush_err(run, update ? "counter update" :
		    "counter insert");
	for (size_t j = 0; j < n; j++) {
		im[j]->inc_dirty = 0;
		im[j]->inc_in_db = 1;
	}
	return 0;
}

#define ESTADO_COLS	19

static int
flush_estado(struct dl_run *run, struct dl_module **batch, size_t n)
{
	static struct db_val v[ESTADO_COLS * DL_MAX_ROWS];	/* 39 KB */
	static const char head[] = "INSERT INTO tagente_estado (id_agente_estado, "
	    "id_agente_modulo, id_agente, datos, estado, "
	    "known_status, last_status, last_known_status, "
	    "status_changes, utimestamp, timestamp, "
	    "current_interval, last_execution_try, last_try, "
	    "ff_start_utimestamp, ff_normal, ff_warning, "
	    "ff_critical, last_status_change) VALUES ";
	static const char tail[] = " ON DUPLICATE KEY UPDATE "
	    "id_agente_modulo = VALUES(id_agente_modulo), "
	    "id_agente = VALUES(id_agente), "
	    "datos = VALUES(datos), estado = VALUES(estado), "
	    "known_status = VALUES(known_status), "
	    "last_status = VALUES(last_status), "
	    "last_known_status = VALUES(last_known_status), "
	    "status_changes = VALUES(status_changes), "
	    "utimestamp = VALUES(utimestamp), "
	    "timestamp = VALUES(timestamp), "
	    "current_interval = VALUES(current_interval), "
	    "last_execution_try = VALUES(last_execution_try), "
	    "last_try = VALUES(last_try), "
	    "ff_start_utimestamp = VALUES(ff_start_utimestamp), "
	    "ff_normal = VALUES(ff_normal), "
	    "ff_warning = VALUES(ff_warning), "
	    "ff_critical = VALUES(ff_critical), "
	    "last_status_change = VALUES(last_status_change)";

	for (size_t k = 0; k < n; k++) {
		struct dl_module *m = batch[k];
		struct db_val *r = v + ESTADO_COLS * k;

		r[0] = DB_UINT(m->id_estado);
		r[1] = DB_UINT(m->id);
		r[2] = DB_UINT(m->id_agente);
		r[3] = DB_TEXTN(m->datos, m->datos_len);
		r[4] = DB_INT(m->st.estado);
		r[5] = DB_INT(m->st.known_status);
		r[6] = DB_INT(m->st.last_status);
		r[7] = DB_INT(m->st.last_known_status);
		r[8] = DB_UINT(m->st.status_changes);
		r[9] = DB_INT(m->e_utimestamp);
		r[10] = DB_TEXT(m->timestamp);
		r[11] = DB_INT(m->current_interval < 0 ? 0 :
		    m->current_interval);
		r[12] = DB_INT(m->last_execution_try);
		r[13] = m->last_try[0] ? DB_TEXT(m->last_try) : DB_NULL;
		r[14] = DB_INT(m->st.ff_start_utimestamp);
		r[15] = DB_UINT(m->st.ff_normal);
		r[16] = DB_UINT(m->st.ff_warning);
		r[17] = DB_UINT(m->st.ff_critical);
		r[18] = DB_INT(m->st.last_status_change);
	}
	if (multi_exec(run, run->st.estado, head,
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n, tail,
	    v, ESTADO_COLS) == -1)
		return flush_err(run, "status update");
	for (size_t k = 0; k < n; k++)
		batch[k]->dirty = 0;
	return 0;
}

/* The agent rows: contact times, versions, interval, address, and the
 * status counters, from which alone the console shows an agent's
 * status.  One upsert on the primary key for n agents: their rows exist
 * (each is locked by this transaction since its lookup). */
#define AGENT_COLS	10

static int
flush_agents(struct dl_run *run, struct dl_agent **ag, size_t n)
{
	static struct db_val v[AGENT_COLS * DL_MAX_ROWS];

	for (size_t k = 0; k < n; k++) {
		struct dl_agent *a = ag[k];
		struct db_val *r = v + AGENT_COLS * k;

		r[0] = DB_UINT(a->id);
		r[1] = DB_TEXT(a->agent_version);
		r[2] = DB_INT(a->intervalo);
		r[3] = DB_TEXT(a->remote_ts);
		r[4] = DB_TEXT(a->contact_ts);
		r[5] = DB_TEXT(a->os_version);
		r[6] = DB_INT(a->timezone_offset);
		r[7] = DB_UINT(a->id_parent);
		r[8] = DB_TEXT(a->direccion);
		r[9] = DB_INT(a->disabled);
	}
	if (multi_exec(run, run->st.agents, "INSERT INTO tagente (id_agente, "
	    "agent_version, intervalo, ultimo_contacto_remoto, "
	    "ultimo_contacto, os_version, timezone_offset, id_parent, "
	    "direccion, disabled) VALUES ",
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n,
	    " ON DUPLICATE KEY UPDATE "
	    "agent_version = VALUES(agent_version), "
	    "intervalo = VALUES(intervalo), "
	    "ultimo_contacto_remoto = VALUES(ultimo_contacto_remoto), "
	    "ultimo_contacto = VALUES(ultimo_contacto), "
	    "os_version = VALUES(os_version), "
	    "timezone_offset = VALUES(timezone_offset), "
	    "id_parent = VALUES(id_parent), direccion = VALUES(direccion), "
	    "disabled = VALUES(disabled)", v, AGENT_COLS) == -1)
		return flush_err(run, "agent update");
	/*
	 * The status counters of the agents whose counted set this
	 * transaction changed (a status that moved, a module or the agent
	 * created) or that another writer flagged (update_module_count
	 * set when the agent was read): counted by the database in one
	 * statement from the status rows as they are now (ours of this
	 * transaction, and any module another writer, such as Pandora's
	 * own servers, added or changed), never from this process's copy:
	 * no update of another writer is lost.  As Pandora's recount:
	 * enabled modules of a real kind (id_modulo <> 0) not pending
	 * deletion.  An unflagged agent whose statuses all stayed keeps
	 * its counters, as Pandora's data server leaves them.
	 */
	if (counts_update(run, ag, n) == -1)
		return flush_err(run, "agent counters");
	for (size_t k = 0; k < n; k++)
		ag[k]->dirty = ag[k]->recount = 0;
	return 0;
}

/*
 * Write what the batch deferred: history, raw counters, status rows and
 * agent rows.  These values were all checked against their columns when
 * they were made, so they cannot be refused as data: deferring them
 * costs no file its own rollback, and saves a round trip per table per
 * file (and per module, a status row written once per batch).
 */
static int
flush_all(struct dl_run *run)
{
	struct dl_module *im[DL_MAX_ROWS];
	size_t n = 0, bytes = 0;

	if (flush_history(run) == -1)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		n = 0;
		for (size_t ai = 0; ai < run->nagents; ai++) {
			struct dl_agent *a = run->agents[ai];

			for (size_t i = 0; i < a->nmods; i++) {
				struct dl_module *m = a->mods[i];

				if (!m->inc_dirty || m->inc_in_db != pass)
					continue;
				im[n++] = m;
				if (n == DL_MAX_ROWS) {
					if (flush_inc(run, im, n, pass) == -1)
						return -1;
					n = 0;
				}
			}
		}
		if (n > 0 && flush_inc(run, im, n, pass) == -1)
			return -1;
	}
	n = 0;
	for (size_t ai = 0; ai < run->nagents; ai++) {
		struct dl_agent *a = run->agents[ai];

		for (size_t i = 0; i < a->nmods; i++) {
			struct dl_module *m = a->mods[i];

			if (!m->dirty || !m->have_estado)
				continue;
			if (n > 0 && (n == DL_MAX_ROWS ||
			    bytes + m->datos_len > DL_STMT_BYTES)) {
				if (flush_estado(run, im, n) == -1)
					return -1;
				n = 0;
				bytes = 0;
			}
			im[n++] = m;
			bytes += m->datos_len;
		}
	}
	if (n > 0 && flush_estado(run, im, n) == -1)
		return -1;
	{
		struct dl_agent *ag[DL_MAX_ROWS];

		n = 0;
		for (size_t ai = 0; ai <= run->nagents; ai++) {
			if (ai < run->nagents) {
				if (!run->agents[ai]->dirty)
					continue;
				ag[n++] = run->agents[ai];
			}
			if (n == 0 || (n < DL_MAX_ROWS && ai < run->nagents))
				continue;
			if (flush_agents(run, ag, n) == -1)
				return -1;
			n = 0;
		}
	}
	return 0;
}

/*
 * The recount of the status counters of those of n agents marked
 * recount (none marked: no statement), in one statement: a multi-table
 * UPDATE over the grouped count of their modules (one pass;
 * correlated subqueries per counter cost a hundred times more).  Sent
 * as text with the ids written in, not prepared: MariaDB checks a
 * prepared multi-table UPDATE of tagente against every table whose
 * foreign key refers to it (tgis_data_status, ... in Pandora's schema),
 * where db-load's account has no SELECT.
 */
static int
counts_update(struct dl_run *run, struct dl_agent **ag, size_t n)
{
	size_t cap = 2048 + 2 * 24 * n;
	char *sql, *in = xmalloc(24 * n + 1);
	size_t pos = 0;
	int rc;

	in[0] = '\0';
	for (size_t k = 0; k < n; k++)
		if (ag[k]->recount)
			pos += snprintf(in + pos, 24 * n + 1 - pos, "%s%llu",
			    pos ? "," : "", ag[k]->id);
	if (pos == 0) {
		free(in);
		return 0;
	}
	sql = xmalloc(cap);
	snprintf(sql, cap, "UPDATE tagente a LEFT JOIN (SELECT m.id_agente, "
	    "SUM(e.estado = %d) AS n_normal, SUM(e.estado = %d) AS "
	    "n_warning, SUM(e.estado = %d) AS n_critical, SUM(e.estado = %d) "
	    "AS n_unknown, SUM(e.estado = %d) AS n_notinit, COUNT(*) AS "
	    "n_total FROM tagente_modulo m JOIN tagente_estado e ON "
	    "e.id_agente_modulo = m.id_agente_modulo WHERE m.id_agente IN "
	    "(%s) AND m.disabled = 0 AND m.id_modulo <> 0 AND "
	    "m.delete_pending = 0 AND e.estado BETWEEN 0 AND 4 GROUP BY "
	    "m.id_agente) c ON c.id_agente = a.id_agente SET a.normal_count "
	    "= COALESCE(c.n_normal, 0), a.warning_count = "
	    "COALESCE(c.n_warning, 0), a.critical_count = "
	    "COALESCE(c.n_critical, 0), a.unknown_count = "
	    "COALESCE(c.n_unknown, 0), a.notinit_count = "
	    "COALESCE(c.n_notinit, 0), a.total_count = COALESCE(c.n_total, 0), "
	    "a.update_module_count = 0 WHERE a.id_agente IN (%s)",
	    PANDORA_NORMAL, PANDORA_WARNING, PANDORA_CRITICAL,
	    PANDORA_UNKNOWN, PANDORA_NOTINIT, in, in);
	rc = db_exec(run->db, sql);
	free(sql);
	free(in);
	return rc;
}

/* The agent's new values, written at the commit (agent_update). */
static enum dl_outcome
agent_update(struct dl_file *f)
{
	struct dl_agent *a = f->agent;
	struct agent_data *ad = f->ad;
	unsigned long long parent;
	enum dl_outcome rc;

	if (a->modo != 0) {
		a->intervalo = ad->interval;
		a->timezone_offset = ad->tz_offset;
		if (!blank(ad->attr[AX_A_OS_VERSION])) {
			free(a->os_version);
			a->os_version = text_col(ad->attr[AX_A_OS_VERSION],
			    100);
		}
		if (!blank(ad->attr[AX_A_VERSION])) {
			free(a->agent_version);
			a->agent_version = text_col(ad->attr[AX_A_VERSION],
			    100);
		}
		if (!blank(ad->attr[AX_A_ADDRESS])) {
			char *raw = main_address(ad->attr[AX_A_ADDRESS]);
			char *addr = text_col(raw, 100);

			free(raw);
			if (*addr != '\0' && strcmp(addr, a->direccion) != 0 &&
			    !a->fixed_ip) {
				free(a->direccion);
				a->direccion = addr;
			} else
				free(addr);
		}
		if (f->cf->update_parent && !f->created_agent &&
		    !blank(ad->attr[AX_A_PARENT_AGENT_NAME])) {
			if ((rc = agent_id_by_name(f,
			    ad->attr[AX_A_PARENT_AGENT_NAME], &parent)) !=
			    DL_LOADED)
				return rc;
			if (parent != 0)
				a->id_parent = parent;
		}
	}
	if (a->disabled && a->modo == 2)
		a->disabled = 0;	/* autodisable: data re-enables */
	strlcpy(a->remote_ts, f->agent_ts, sizeof(a->remote_ts));
	strlcpy(a->contact_ts, f->now_ts, sizeof(a->contact_ts));
	a->dirty = 1;
	return DL_LOADED;
}

/* ------------------------------------------------------------------ */
/* undo                                                               */

static void
snap_take(struct dl_snap *sn, struct dl_agent *a)
{
	memset(sn, 0, sizeof(*sn));
	sn->a = a;
	sn->intervalo = a->intervalo;
	sn->timezone_offset = a->timezone_offset;
	sn->disabled = a->disabled;
	sn->dirty = a->dirty;
	sn->id_parent = a->id_parent;
	sn->direccion = xstrdup(a->direccion);
	sn->os_version = xstrdup(a->os_version);
	sn->agent_version = xstrdup(a->agent_version);
	strlcpy(sn->remote_ts, a->remote_ts, sizeof(sn->remote_ts));
	strlcpy(sn->contact_ts, a->contact_ts, sizeof(sn->contact_ts));
	sn->mods = xcalloc(a->nmods ? a->nmods : 1, sizeof(*sn->mods));
	sn->n = a->nmods;
	for (size_t i = 0; i < a->nmods; i++) {
		struct dl_module *m = a->mods[i];

		sn->mods[i].m = m;
		sn->mods[i].copy = *m;
		sn->mods[i].copy.datos = dupn(m->datos, m->datos_len);
		sn->mods[i].copy.descripcion = xstrdup(m->descripcion);
		sn->mods[i].copy.extended_info = xstrdup(m->extended_info);
	}
}

static void
snap_free(struct dl_snap *sn)
{
	for (size_t i = 0; i < sn->n; i++) {
		free(sn->mods[i].copy.datos);
		free(sn->mods[i].copy.descripcion);
		free(sn->mods[i].copy.extended_info);
	}
	free(sn->mods);
	free(sn->direccion);
	free(sn->os_version);
	free(sn->agent_version);
	memset(sn, 0, sizeof(*sn));
}

/* Put the agent back as it was before the file (its rows were rolled
 * back to the savepoint): modules it created go, the others get their
 * state back. */
static void
snap_restore(struct dl_snap *sn)
{
	struct dl_agent *a = sn->a;
	size_t k = 0;

	for (size_t i = 0; i < a->nmods; i++) {
		if (a->mods[i]->created)
			dl_module_free(a->mods[i]);
		else
			a->mods[k++] = a->mods[i];
	}
	a->nmods = k;
	for (size_t i = 0; i < sn->n; i++) {
		struct dl_module *m = sn->mods[i].m;

		free(m->datos);
		free(m->descripcion);
		free(m->extended_info);
		*m = sn->mods[i].copy;
		sn->mods[i].copy.datos = NULL;
		sn->mods[i].copy.descripcion = NULL;
		sn->mods[i].copy.extended_info = NULL;
	}
	a->intervalo = sn->intervalo;
	a->timezone_offset = sn->timezone_offset;
	a->disabled = sn->disabled;
	a->dirty = sn->dirty;
	a->id_parent = sn->id_parent;
	free(a->direccion);
	free(a->os_version);
	free(a->agent_version);
	a->direccion = sn->direccion;
	a->os_version = sn->os_version;
	a->agent_version = sn->agent_version;
	sn->direccion = sn->os_version = sn->agent_version = NULL;
	strlcpy(a->remote_ts, sn->remote_ts, sizeof(a->remote_ts));
	strlcpy(a->contact_ts, sn->contact_ts, sizeof(a->contact_ts));
}

/* ------------------------------------------------------------------ */
/* one file                                                           */

static enum dl_outcome
insert_digest(struct dl_file *f)
{
	struct dl_run *run = f->run;
	struct db_val v[6] = { DB_TEXT(f->sha), DB_BLOB(f->item,
	    strlen(f->item)), DB_UINT(f->agent->id), DB_INT(f->now),
	    DB_UINT(f->bodylen), DB_TEXT(run->cf->server_name) };
	struct db_stmt *s = stmt(run, &run->st.digest_ins, "INSERT INTO "
	    "octo_loaded_file (sha256, item, id_agente, loaded_at, size, "
	    "node) VALUES (?, ?, ?, ?, ?, ?)");

	if (s == NULL || db_stmt_exec(s, v, 6) == -1) {
		if (db_errclass(run->db) == DB_DUP) {
			f->res->duplicate = 1;
			return DL_DUPLICATE;
		}
		return DBERR(f, "digest insert");
	}
	return DL_LOADED;
}

/*
 * Before creating an agent: no existing agent may have a name that the
 * database's collation takes for this one ("WEB01" for "web01", "web01 "
 * with a trailing space), or Pandora's own lookups would mix the two.
 */
static enum dl_outcome
name_collision(struct dl_file *f, const char *enc, size_t enclen)
{
	struct dl_run *run = f->run;
	struct db_stmt *s;
	struct db_val v[1] = { DB_TEXTN(enc, enclen) };
	unsigned long long id = 0;
	char other[128], vis[LOG_VISBUF];
	int r, same = 0;

	other[0] = '\0';
	/* A locking read, as agent_get's: the rows committed now, not the
	 * transaction's snapshot. */
	s = stmt(run, &run->st.agent_fold, "SELECT id_agente, nombre FROM "
	    "tagente WHERE nombre = ? ORDER BY id_agente LIMIT 1 "
	    "LOCK IN SHARE MODE");
	if (s == NULL || db_stmt_exec(s, v, 1) == -1)
		return DBERR(f, "agent name collision check");
	while ((r = db_stmt_fetch(s)) == 1) {
		size_t n = 0;
		const char *t = db_col_text(s, 1, &n);

		id = db_col_uint(s, 0);
		same = t != NULL && n == enclen && memcmp(t, enc, n) == 0;
		log_vis(vis, sizeof(vis), t ? t : "", t ? n : 0);
		strlcpy(other, vis, sizeof(other));
	}
	if (r == -1)
		return DBERR(f, "agent name collision check");
	if (id == 0)
		return DL_LOADED;
	if (same)
		return created_since(run);
	return reject(f, EX_NOPERM, "rule=name-collision line=0 agent \"%s\" "
	    "would collide with the existing agent \"%s\" (id_agente %llu), "
	    "which the database's collation takes for the same name",
	    f->ad->agent_name, other, id);
}

static enum dl_outcome
load_file(struct dl_file *f)
{
	struct dl_run *run = f->run;
	struct agent_data *ad = f->ad;
	struct dl_agent *a;
	char *enc;
	size_t enclen;
	enum dl_outcome rc;

	/* agent-auth's decision is for one agent: this file's. */
	if (f->env != NULL && f->env->have_auth_group &&
	    strcmp(f->env->auth_agent, ad->agent_name) != 0)
		return reject(f, EX_NOPERM, "rule=auth-agent line=0 the "
		    "decision was made for another agent than \"%s\"",
		    ad->agent_name);
	enc = pandora_safe_input(ad->agent_name, strlen(ad->agent_name),
	    &enclen);
	if ((a = dl_agent_find(run, enc, enclen)) != NULL && a->prefetched) {
		/* Read for the batch (dl_prefetch) and not used yet: this
		 * file takes it as if it had read it (a reject drops it). */
		a->prefetched = 0;
		f->fresh = 1;
	} else if (a != NULL) {
		/* Read by an earlier file of the batch: its changes wait
		 * for the commit, so keep a copy to undo this file. */
		snap_take(&f->snap, a);
		f->have_snap = 1;
	} else {
		f->fresh = 1;
		if ((rc = agent_get(f, enc, enclen, &a)) != DL_LOADED)
			goto out;
		if (a == NULL) {
			int allowed = (f->env != NULL &&
			    f->env->auth_create == ENVELOPE_YES) ||
			    (f->cf->allow_create && (f->env == NULL ||
			    f->env->auth_create != ENVELOPE_NO));

			if (!allowed) {
				rc = reject(f, EX_NOPERM, "rule=create line=0 "
				    "unknown agent and creation not allowed "
				    "(allow_create off, no Auth-Create: yes)");
				goto out;
			}
			/* One creator per name; then look again. */
			if ((rc = name_lock(f, enc, enclen)) != DL_LOADED ||
			    (rc = agent_get(f, enc, enclen, &a)) != DL_LOADED)
				goto out;
			if (a == NULL &&
			    ((rc = name_collision(f, enc, enclen)) !=
			    DL_LOADED ||
			    (rc = agent_create(f, enc, enclen, &a)) !=
			    DL_LOADED))
				goto out;
		}
	}
	/*
	 * A decision names the group it was made for: the agent must be
	 * registered there.  A second first contact from another group
	 * (the first one created the agent) ends here, refused.
	 */
	f->agent = a;	/* a reject drops or restores it (dl_load) */
	/* "created" marks this file's new modules (undone on a reject). */
	for (size_t i = 0; i < a->nmods; i++)
		a->mods[i]->created = 0;
	if (f->env != NULL && f->env->have_auth_group &&
	    (unsigned long)a->id_grupo != f->env->auth_group) {
		rc = reject(f, EX_NOPERM, "rule=auth-group line=0 agent \"%s\" "
		    "is registered in group %d; the decision was made for "
		    "group %lu", ad->agent_name, a->id_grupo,
		    f->env->auth_group);
		goto out;
	}
	f->res->agent_id = a->id;
	if (a->disabled && a->modo != 2) {
		/* Disabled agents' data is dropped, as the server does;
		 * the file is done once all the same. */
		if ((rc = insert_digest(f)) == DL_LOADED) {
			f->res->skipped = 1;
			rc = DL_SKIPPED;
		}
		goto out;
	}
	/* New modules: learning agents, and the file that created one. */
	f->learn = f->created_agent || (a->modo != 0 && !a->policy_no_learn &&
	    (f->env == NULL || f->env->auth_learn != ENVELOPE_NO));
	f->cap = a->have_policy_cap ? a->policy_cap : f->cf->module_cap;
	if (f->env != NULL && f->env->have_module_cap &&
	    f->env->module_cap < f->cap)
		f->cap = f->env->module_cap;
	for (const struct agent_module *xm = ad->modules; xm; xm = xm->next) {
		if (xm->rule != NULL)
			continue;	/* refused by lib/agentxml */
		if ((rc = do_module(f, xm)) != DL_LOADED)
			goto out;
	}
	if ((rc = module_links(f)) != DL_LOADED ||
	    (rc = agent_update(f)) != DL_LOADED)
		goto out;
	/* Exactly once: the digest commits with the rows.  Last, so that a
	 * file whose other rows all wait for the commit needs no
	 * savepoint; a duplicate is found here and undone. */
	rc = insert_digest(f);
out:
	free(enc);
	return rc;
}

enum dl_outcome
dl_load(struct dl_run *run, const char *item, const struct envelope *env,
    const char *body, size_t len, struct audit_buf *ab,
    struct dl_result *res, int *code, char *reason, size_t reasonlen)
{
	struct agentxml_limits lim;
	struct dl_file f;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t ablen = ab ? ab->len : 0;
	int abn = ab ? ab->n : 0;
	enum dl_outcome rc;
	char why[512];
	long long rt;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	f.run = run;
	f.cf = run->cf;
	f.item = item;
	f.env = env != NULL && env->hdrlen > 0 ? env : NULL;
	f.ab = ab;
	f.res = res;
	f.code = code;
	f.reason = reason;
	f.reasonlen = reasonlen;
	f.bodylen = len;
	f.serial = ++run->serial;
	pandora_re_budget_init(&f.rb, run->cf->re_budget_ns);
	*code = EX_DATAERR;
	agentxml_limits_default(&lim);
	lim.max_size = run->cf->max_size;
	lim.now = 0;	/* xml-validate checked the time window */
	if (agentxml_parse(body, len, &lim, &f.ad, why, sizeof(why)) == -1) {
		snprintf(reason, reasonlen, "%s", why);
		return DL_REJECT;
	}
	EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(f.sha + 2 * i, 3, "%02x", md[i]);
	f.now = time(NULL);
	fmt_dt(f.now, f.now_ts, sizeof(f.now_ts));
	if (f.ad->ts_kind == AX_TS_SET)
		f.agent_t = f.ad->timestamp;
	else if (f.ad->ts_kind == AX_TS_NONE && (rt = received_time(f.env)) >
	    0)
		f.agent_t = rt;	/* the receipt, as the server's mtime */
	else
		f.agent_t = f.now;
	fmt_dt(f.agent_t, f.agent_ts, sizeof(f.agent_ts));
	if (dl_begin(run) == -1) {
		agentxml_free(f.ad);
		return begin_failed(run, reason, reasonlen, code);
	}
	/* Between files, bound the memory of deferred history. */
	if (run->row_bytes > DL_FLUSH_BYTES && flush_history(run) == -1) {
		agentxml_free(f.ad);
		return run->exit_code ? DL_FATAL : DL_RETRY;
	}
	f.row0 = run->nrows;
	rc = load_file(&f);
	res->regex_ns = f.rb.used_ns;
	if (rc == DL_REJECT || rc == DL_DUPLICATE) {
		/* All of the file goes, nothing of the others. */
		if (f.sp && db_rollback_to(run->db, DL_SAVEPOINT) == -1) {
			char r2[128];
			int c2;

			rc = dl_dberr(run, "rollback to savepoint", r2,
			    sizeof(r2), &c2);
			if (rc == DL_REJECT)
				rc = DL_RETRY;
			run->broken = 1;
		}
		rows_truncate(run, f.row0);
		if (f.have_snap)
			snap_restore(&f.snap);
		else if (f.agent != NULL)
			dl_agent_drop(run, f.agent);
		if (ab != NULL) {
			ab->len = ablen;
			ab->n = abn;
			if (ab->buf != NULL)
				ab->buf[ablen] = '\0';
		}
	}
	if (f.have_snap)
		snap_free(&f.snap);
	/* Audited only with the file's rows: a file undone undid them. */
	re_summary(&f, rc == DL_LOADED && run->cf->audit && ab != NULL);
	free(f.re_skip_module);
	if (rc == DL_LOADED) {
		run->p_loaded++;
		run->p_values += res->values;
		if (run->cf->audit && ab != NULL) {
			audit_begin(ab, DL_STAGE, "file.loaded", "ok");
			audit_str(ab, "item", item);
			audit_str(ab, "agent", f.ad->agent_name);
			audit_num(ab, "id_agente", (long long)res->agent_id);
			audit_str(ab, "sha256", f.sha);
			if (f.env != NULL) {
				audit_str(ab, "name", f.env->name);
				audit_str(ab, "peer", f.env->peer);
			}
			audit_num(ab, "modules", res->modules);
			audit_num(ab, "modules_created", res->modules_created);
			if (res->modules_not_learnt)
				audit_num(ab, "modules_not_learnt",
				    res->modules_not_learnt);
			if (res->modules_over_cap)
				audit_num(ab, "modules_over_cap",
				    res->modules_over_cap);
			audit_num(ab, "values", (long long)res->values);
			audit_num(ab, "values_refused",
			    (long long)res->values_refused);
			audit_num(ab, "events", (long long)res->events);
			if (res->regex_invalid)
				audit_num(ab, "regex_invalid",
				    (long long)res->regex_invalid);
			if (res->regex_limited)
				audit_num(ab, "regex_limited",
				    (long long)res->regex_limited);
			if (res->regex_skipped)
				audit_num(ab, "regex_skipped",
				    (long long)res->regex_skipped);
			audit_end(ab);
		}
	} else if ((rc == DL_DUPLICATE || rc == DL_SKIPPED) &&
	    run->cf->audit && ab != NULL) {
		audit_begin(ab, DL_STAGE, rc == DL_DUPLICATE ?
		    "file.duplicate" : "file.skipped", rc == DL_DUPLICATE ?
		    "duplicate" : "skipped");
		audit_str(ab, "item", item);
		audit_str(ab, "agent", f.ad->agent_name);
		audit_str(ab, "sha256", f.sha);
		if (rc == DL_SKIPPED)
			audit_str(ab, "reason", "agent disabled");
		audit_end(ab);
	}
	if (rc == DL_DUPLICATE)
		run->p_duplicates++;
	if (rc == DL_DUPLICATE || rc == DL_SKIPPED) {
		char vis[LOG_VISBUF];

		log_info("event=%s id=%s agent=\"%s\" sha256=%s",
		    rc == DL_DUPLICATE ? "file.duplicate" : "file.skipped",
		    item, log_vis(vis, sizeof(vis), f.ad->agent_name,
		    strlen(f.ad->agent_name)), f.sha);
	}
	agentxml_free(f.ad);
	return rc;
}
