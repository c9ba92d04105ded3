/* SPDX-License-Identifier: ISC */
/*
 * What db-load needs of the user's Pandora database, checked against
 * information_schema when it connects: every table and column it reads
 * or writes, with a compatible type; the module types it loads, by
 * name; no column it does not know that an INSERT could not leave to
 * its default.  The list below is the one source: doc/DATABASE.md
 * describes the same columns for a Pandora administrator, and
 * etc/sql/pandora-min.sql creates exactly these for the tests and the
 * demo.  A problem stops db-load before it writes anything (exit 78).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xalloc.h"

#include "dbload.h"

/* Column classes: what the values db-load binds need. */
enum col_class {
	C_INT,		/* any integer type */
	C_NUM,		/* double, float or decimal */
	C_TEXT,		/* char, varchar, *text */
	C_TIME,		/* datetime or timestamp */
	C_EVENT		/* tevento.event_type: an enum with our values */
};

#define R	0x01	/* read */
#define W	0x02	/* written */
#define OPT	0x04	/* used when the column exists (schema versions) */

struct col {
	const char	*table;
	const char	*name;
	enum col_class	 cls;
	int		 use;
};

static const struct col cols[] = {
	/* tagente: looked up by name (row locked), created, updated */
	{ "tagente", "id_agente", C_INT, R | W },
	{ "tagente", "nombre", C_TEXT, R | W },
	{ "tagente", "alias", C_TEXT, W },
	{ "tagente", "direccion", C_TEXT, R | W },
	{ "tagente", "comentarios", C_TEXT, W },
	{ "tagente", "id_grupo", C_INT, R | W },
	{ "tagente", "id_os", C_INT, W },
	{ "tagente", "server_name", C_TEXT, W },
	{ "tagente", "intervalo", C_INT, R | W },
	{ "tagente", "id_parent", C_INT, R | W },
	{ "tagente", "modo", C_INT, R | W },
	{ "tagente", "custom_id", C_TEXT, W },
	{ "tagente", "url_address", C_TEXT, W },
	{ "tagente", "timezone_offset", C_INT, R | W },
	{ "tagente", "disabled", C_INT, R | W },
	{ "tagente", "quiet", C_INT, R },
	{ "tagente", "fixed_ip", C_INT, R },
	{ "tagente", "os_version", C_TEXT, R | W },
	{ "tagente", "agent_version", C_TEXT, R | W },
	{ "tagente", "ultimo_contacto", C_TIME, W },
	{ "tagente", "ultimo_contacto_remoto", C_TIME, W },
	{ "tagente", "normal_count", C_INT, W },
	{ "tagente", "warning_count", C_INT, W },
	{ "tagente", "critical_count", C_INT, W },
	{ "tagente", "unknown_count", C_INT, W },
	{ "tagente", "notinit_count", C_INT, W },
	{ "tagente", "total_count", C_INT, W },
	{ "tagente", "update_module_count", C_INT, R | W },
	{ "tagente", "update_alert_count", C_INT, W },
	/* tagente_modulo: read with the agent, created, some updated */
	{ "tagente_modulo", "id_agente_modulo", C_INT, R | W },
	{ "tagente_modulo", "id_agente", C_INT, R | W },
	{ "tagente_modulo", "id_tipo_modulo", C_INT, R | W },
	{ "tagente_modulo", "nombre", C_TEXT, R | W },
	{ "tagente_modulo", "descripcion", C_TEXT, R | W },
	{ "tagente_modulo", "extended_info", C_TEXT, R | W },
	{ "tagente_modulo", "unit", C_TEXT, W },
	{ "tagente_modulo", "id_modulo", C_INT, R | W },
	{ "tagente_modulo", "module_interval", C_INT, R | W },
	{ "tagente_modulo", "cron_interval", C_TEXT, W },
	{ "tagente_modulo", "max", C_INT, R | W },
	{ "tagente_modulo", "min", C_INT, R | W },
	{ "tagente_modulo", "post_process", C_NUM, R | W },
	{ "tagente_modulo", "min_warning", C_NUM, R | W },
	{ "tagente_modulo", "max_warning", C_NUM, R | W },
	{ "tagente_modulo", "str_warning", C_TEXT, R | W },
	{ "tagente_modulo", "min_critical", C_NUM, R | W },
	{ "tagente_modulo", "max_critical", C_NUM, R | W },
	{ "tagente_modulo", "str_critical", C_TEXT, R | W },
	{ "tagente_modulo", "warning_inverse", C_INT, R | W },
	{ "tagente_modulo", "critical_inverse", C_INT, R | W },
	{ "tagente_modulo", "percentage_warning", C_INT, R },
	{ "tagente_modulo", "percentage_critical", C_INT, R },
	{ "tagente_modulo", "min_ff_event", C_INT, R | W },
	{ "tagente_modulo", "min_ff_event_normal", C_INT, R | W },
	{ "tagente_modulo", "min_ff_event_warning", C_INT, R | W },
	{ "tagente_modulo", "min_ff_event_critical", C_INT, R | W },
	{ "tagente_modulo", "ff_type", C_INT, R | W },
	{ "tagente_modulo", "each_ff", C_INT, R | W },
	{ "tagente_modulo", "ff_timeout", C_INT, R | W },
	{ "tagente_modulo", "module_ff_interval", C_INT, R | W },
	{ "tagente_modulo", "custom_id", C_TEXT, W },
	{ "tagente_modulo", "critical_instructions", C_TEXT, R | W },
	{ "tagente_modulo", "warning_instructions", C_TEXT, R | W },
	{ "tagente_modulo", "unknown_instructions", C_TEXT, R | W },
	{ "tagente_modulo", "disabled_types_event", C_TEXT, W },
	{ "tagente_modulo", "module_macros", C_TEXT, W },
	{ "tagente_modulo", "quiet", C_INT, R | W },
	{ "tagente_modulo", "disabled", C_INT, R | W },
	{ "tagente_modulo", "history_data", C_INT, R },
	{ "tagente_modulo", "delete_pending", C_INT, R },
	{ "tagente_modulo", "id_policy_module", C_INT, R },
	{ "tagente_modulo", "policy_adopted", C_INT, R },
	{ "tagente_modulo", "policy_linked", C_INT, R },
	{ "tagente_modulo", "parent_module_id", C_INT, W },
	/* tagente_estado: one row per module, rewritten at each commit */
	{ "tagente_estado", "id_agente_estado", C_INT, R | W },
	{ "tagente_estado", "id_agente_modulo", C_INT, R | W },
	{ "tagente_estado", "id_agente", C_INT, W },
	{ "tagente_estado", "datos", C_TEXT, R | W },
	{ "tagente_estado", "estado", C_INT, R | W },
	{ "tagente_estado", "known_status", C_INT, R | W },
	{ "tagente_estado", "last_status", C_INT, R | W },
	{ "tagente_estado", "last_known_status", C_INT, R | W },
	{ "tagente_estado", "status_changes", C_INT, R | W },
	{ "tagente_estado", "utimestamp", C_INT, R | W },
	{ "tagente_estado", "timestamp", C_TIME, R | W },
	{ "tagente_estado", "current_interval", C_INT, R | W },
	{ "tagente_estado", "last_execution_try", C_INT, R | W },
	{ "tagente_estado", "last_try", C_TIME, R | W },
	{ "tagente_estado", "ff_start_utimestamp", C_INT, R | W },
	{ "tagente_estado", "ff_normal", C_INT, R | W },
	{ "tagente_estado", "ff_warning", C_INT, R | W },
	{ "tagente_estado", "ff_critical", C_INT, R | W },
	{ "tagente_estado", "last_status_change", C_INT, R | W },
	/* history */
	{ "tagente_datos", "id_agente_modulo", C_INT, W },
	{ "tagente_datos", "datos", C_NUM, W },
	{ "tagente_datos", "utimestamp", C_INT, W },
	{ "tagente_datos_string", "id_agente_modulo", C_INT, W },
	{ "tagente_datos_string", "datos", C_TEXT, W },
	{ "tagente_datos_string", "utimestamp", C_INT, W },
	{ "tagente_datos_inc", "id_agente_modulo", C_INT, R | W },
	{ "tagente_datos_inc", "datos", C_NUM, R | W },
	{ "tagente_datos_inc", "utimestamp", C_INT, R | W },
	/* tevento: status changes and new agents */
	{ "tevento", "id_agente", C_INT, W },
	{ "tevento", "id_grupo", C_INT, W },
	{ "tevento", "evento", C_TEXT, W },
	{ "tevento", "timestamp", C_TIME, W },
	{ "tevento", "estado", C_INT, W },
	{ "tevento", "utimestamp", C_INT, W },
	{ "tevento", "event_type", C_EVENT, W },
	{ "tevento", "id_agentmodule", C_INT, W },
	{ "tevento", "id_alert_am", C_INT, W },
	{ "tevento", "criticity", C_INT, W },
	{ "tevento", "tags", C_TEXT, W },
	{ "tevento", "source", C_TEXT, W },
	{ "tevento", "id_extra", C_TEXT, W },
	{ "tevento", "id_usuario", C_TEXT, W },
	{ "tevento", "critical_instructions", C_TEXT, W },
	{ "tevento", "warning_instructions", C_TEXT, W },
	{ "tevento", "unknown_instructions", C_TEXT, W },
	{ "tevento", "owner_user", C_TEXT, W },
	{ "tevento", "ack_utimestamp", C_INT, W },
	{ "tevento", "custom_data", C_TEXT, W },
	{ "tevento", "data", C_TEXT, W },
	{ "tevento", "module_status", C_INT, W },
	{ "tevento", "event_custom_id", C_TEXT, W | OPT },
	/* catalogues */
	{ "tgrupo", "id_grupo", C_INT, R },
	{ "tgrupo", "nombre", C_TEXT, R },
	{ "ttipo_modulo", "id_tipo", C_INT, R },
	{ "ttipo_modulo", "nombre", C_TEXT, R },
};

/* The tables db-load inserts rows into: any NOT NULL column without a
 * default that it does not write would make those INSERTs fail. */
static const char *const insert_tables[] = {
	"tagente", "tagente_modulo", "tagente_estado", "tagente_datos",
	"tagente_datos_string", "tagente_datos_inc", "tevento", NULL
};

/* The event types db-load writes (tevento.event_type). */
static const char *const event_types[] = {
	"new_agent", "going_up_critical", "going_up_warning",
	"going_down_warning", "going_down_normal", NULL
};

/* The module types of agent data, looked up by name in ttipo_modulo. */
static const char *const module_types[] = {
	"generic_data", "generic_proc", "generic_data_string",
	"generic_data_inc", "generic_data_inc_abs", "async_data",
	"async_proc", "async_string", NULL
};

#define NCOLS	(sizeof(cols) / sizeof(cols[0]))

/* One column of the database, as information_schema describes it. */
struct dbcol {
	char	*table, *name, *data_type, *column_type;
	int	 nullable, has_default, auto_inc;
};

static int
class_ok(enum col_class c, const struct dbcol *d)
{
	static const char *const ints[] = { "tinyint", "smallint",
	    "mediumint", "int", "bigint", NULL };
	static const char *const nums[] = { "double", "float", "decimal",
	    NULL };
	static const char *const texts[] = { "char", "varchar", "tinytext",
	    "text", "mediumtext", "longtext", NULL };
	const char *const *l = NULL;

	switch (c) {
	case C_INT:
		l = ints;
		break;
	case C_NUM:
		l = nums;
		break;
	case C_TEXT:
		l = texts;
		break;
	case C_TIME:
		return strcasecmp(d->data_type, "datetime") == 0 ||
		    strcasecmp(d->data_type, "timestamp") == 0;
	case C_EVENT:
		if (strcasecmp(d->data_type, "enum") != 0)
			return class_ok(C_TEXT, d);
		return 1;	/* the values: checked apart */
	}
	for (; *l != NULL; l++)
		if (strcasecmp(d->data_type, *l) == 0)
			return 1;
	return 0;
}

static const char *
class_name(enum col_class c)
{
	switch (c) {
	case C_INT:
		return "an integer type";
	case C_NUM:
		return "double, float or decimal";
	case C_TEXT:
		return "a character type (char, varchar, text)";
	case C_TIME:
		return "datetime or timestamp";
	case C_EVENT:
		return "an enum or character type";
	}
	return "?";
}

/* Log one problem and count it. */
static void __attribute__((format(printf, 4, 5)))
problem(int *n, const char *table, const char *column, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("event=schema.problem table=%s column=%s msg=\"%s\"", table,
	    column ? column : "-", msg);
	(*n)++;
}

static void
dbcols_free(struct dbcol *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].table);
		free(c[i].name);
		free(c[i].data_type);
		free(c[i].column_type);
	}
	free(c);
}

static char *
col_dup(struct db_stmt *s, unsigned i)
{
	size_t n = 0;
	const char *t = db_col_text(s, i, &n);
	char *p = xmalloc(n + 1);

	if (t != NULL)
		memcpy(p, t, n);
	p[t ? n : 0] = '\0';
	return p;
}

/* The columns of the tables db-load uses; -1 on a database error. */
static int
dbcols_read(struct db *db, struct dbcol **out, size_t *np)
{
	struct db_stmt *s;
	struct dbcol *c = NULL;
	size_t n = 0, cap = 0;
	int r;

	*out = NULL;
	*np = 0;
	if ((s = db_prepare(db, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, "
	    "COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT IS NOT NULL, "
	    "EXTRA LIKE '%auto_increment%' FROM information_schema.COLUMNS "
	    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('tagente', "
	    "'tagente_modulo', 'tagente_estado', 'tagente_datos', "
	    "'tagente_datos_string', 'tagente_datos_inc', 'tevento', "
	    "'tgrupo', 'ttipo_modulo')")) == NULL)
		return -1;
	if (db_stmt_exec(s, NULL, 0) == -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			c = xreallocarray(c, cap, sizeof(*c));
		}
		c[n].table = col_dup(s, 0);
		c[n].name = col_dup(s, 1);
		c[n].data_type = col_dup(s, 2);
		c[n].column_type = col_dup(s, 3);
		c[n].nullable = db_col_int(s, 4) != 0;
		c[n].has_default = db_col_int(s, 5) != 0;
		c[n].auto_inc = db_col_int(s, 6) != 0;
		n++;
	}
	db_stmt_free(s);
	if (r == -1) {
		dbcols_free(c, n);
		return -1;
	}
	*out = c;
	*np = n;
	return 0;
}

static const struct dbcol *
dbcol_find(const struct dbcol *c, size_t n, const char *table,
    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(c[i].table, table) == 0 &&
		    strcasecmp(c[i].name, name) == 0)
			return &c[i];
	return NULL;
}

static int
known(const char *table, const char *name)
{
	for (size_t i = 0; i < NCOLS; i++)
		if (strcasecmp(cols[i].table, table) == 0 &&
		    strcasecmp(cols[i].name, name) == 0 &&
		    (cols[i].use & W))
			return 1;
	return 0;
}

/*
 * Has tagente the index `nombre` that Pandora's schemas make, on nombre
 * first?  dl_prefetch names it (FORCE INDEX): a list of names that is a
 * large part of a small table would otherwise be read by a scan, whose
 * locking read waits for every agent another writer holds.  Without it,
 * no batch query: each file looks its agent up.  0, or -1 on a
 * database error.
 */
static int
name_index(struct db *db, struct dl_schema *sc)
{
	struct db_stmt *s;
	int r;

	if ((s = db_prepare(db, "SELECT COUNT(*) FROM "
	    "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
	    "AND TABLE_NAME = 'tagente' AND INDEX_NAME = 'nombre' AND "
	    "SEQ_IN_INDEX = 1 AND COLUMN_NAME = 'nombre' AND "
	    "INDEX_TYPE = 'BTREE'")) == NULL)
		return -1;
	if (db_stmt_exec(s, NULL, 0) == -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1)
		sc->agent_name_index = db_col_int(s, 0) > 0;
	db_stmt_free(s);
	if (r == -1)
		return -1;
	if (!sc->agent_name_index)
		log_info("event=schema.note table=tagente msg=\"no index "
		    "nombre on nombre: each file looks its agent up, no "
		    "batch query\"");
	return 0;
}

int
dl_schema_check(struct db *db, struct dl_schema *sc, int *nproblems)
{
	struct dbcol *dc;
	size_t ndc;
	int n = 0;

	memset(sc, 0, sizeof(*sc));
	if (dbcols_read(db, &dc, &ndc) == -1)
		return -1;
	for (size_t i = 0; i < NCOLS; i++) {
		const struct col *c = &cols[i];
		const struct dbcol *d = dbcol_find(dc, ndc, c->table, c->name);
		int seen_table = 0;

		if (d == NULL) {
			if (c->use & OPT)
				continue;
			for (size_t k = 0; k < ndc; k++)
				if (strcasecmp(dc[k].table, c->table) == 0)
					seen_table = 1;
			if (!seen_table) {
				/* One line per missing table is enough. */
				int first = 1;

				for (size_t k = 0; k < i; k++)
					if (strcmp(cols[k].table, c->table) == 0)
						first = 0;
				if (first)
					problem(&n, c->table, NULL, "no such "
					    "table, or db-load's account has no "
					    "privilege on it");
				continue;
			}
			problem(&n, c->table, c->name, "missing: db-load %s "
			    "it (%s)", (c->use & (R | W)) == (R | W) ?
			    "reads and writes" : (c->use & W) ? "writes" :
			    "reads", class_name(c->cls));
			continue;
		}
		if (!class_ok(c->cls, d)) {
			problem(&n, c->table, c->name, "type %s: db-load needs "
			    "%s", d->column_type, class_name(c->cls));
			continue;
		}
		if (c->cls == C_EVENT && strcasecmp(d->data_type, "enum") ==
		    0)
			for (const char *const *e = event_types; *e; e++) {
				char q[64];

				snprintf(q, sizeof(q), "'%s'", *e);
				if (strstr(d->column_type, q) == NULL)
					problem(&n, c->table, c->name, "the enum "
					    "has no value '%s', which db-load "
					    "writes", *e);
			}
		if (strcmp(c->table, "tevento") == 0 &&
		    strcmp(c->name, "event_custom_id") == 0)
			sc->event_custom_id = 1;
	}
	/* What an INSERT of db-load's could not leave to a default. */
	for (size_t i = 0; i < ndc; i++) {
		int ins = 0;

		for (const char *const *t = insert_tables; *t; t++)
			if (strcasecmp(dc[i].table, *t) == 0)
				ins = 1;
		if (ins && !dc[i].nullable && !dc[i].has_default &&
		    !dc[i].auto_inc && !known(dc[i].table, dc[i].name))
			problem(&n, dc[i].table, dc[i].name, "NOT NULL without "
			    "a default, and db-load does not write it: its "
			    "INSERTs would fail");
	}
	dbcols_free(dc, ndc);
	*nproblems = n;
	return name_index(db, sc);
}

int
dl_schema_types(int (*type_id)(const char *), int *nproblems)
{
	for (const char *const *t = module_types; *t; t++)
		if (type_id(*t) < 0)
			problem(nproblems, "ttipo_modulo", NULL, "no module type "
			    "named '%s'", *t);
	return 0;
}

/*
 * The version of the octo_* tables (etc/sql/octo.sql): the octo_schema
 * row, 1 for tables made before it existed (0.1.0: octo_loaded_file
 * without octo_schema), 0 for none at all.  -1 on a database error.
 * What the account cannot see counts as absent, and the message says so.
 */
int
dl_octo_version(struct db *db, unsigned *version)
{
	struct db_stmt *s;
	int r, has_schema = 0, has_loaded = 0;

	*version = 0;
	if ((s = db_prepare(db, "SELECT TABLE_NAME FROM "
	    "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
	    "TABLE_NAME IN ('octo_schema', 'octo_loaded_file')")) == NULL)
		return -1;
	if (db_stmt_exec(s, NULL, 0) == -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1) {
		const char *t = db_col_text(s, 0, NULL);

		if (t != NULL && strcasecmp(t, "octo_schema") == 0)
			has_schema = 1;
		else if (t != NULL)
			has_loaded = 1;
	}
	db_stmt_free(s);
	if (r == -1)
		return -1;
	if (!has_schema) {
		*version = has_loaded ? 1 : 0;
		return 0;
	}
	/* No row: the upgrade that made the table did not finish. */
	*version = 1;
	if ((s = db_prepare(db, "SELECT version FROM octo_schema WHERE "
	    "component = 'octo'")) == NULL)
		return -1;
	if (db_stmt_exec(s, NULL, 0) == -1) {
		db_stmt_free(s);
		return -1;
	}
	while ((r = db_stmt_fetch(s)) == 1) {
		long long v = db_col_int(s, 0);

		if (v > 0 && v <= INT_MAX)
			*version = (unsigned)v;
	}
	db_stmt_free(s);
	return r == -1 ? -1 : 0;
}

/* The octo_* tables must be at the version this db-load writes. */
int
dl_octo_check(struct db *db, int *nproblems)
{
	unsigned v;

	if (dl_octo_version(db, &v) == -1)
		return -1;
	if (v == DL_OCTO_SCHEMA)
		return 0;
	if (v == 0)
		problem(nproblems, "octo_loaded_file", NULL, "no octo_* tables, "
		    "or db-load's account has no privilege on them: db-load "
		    "--init creates them");
	else if (v < DL_OCTO_SCHEMA)
		problem(nproblems, "octo_schema", NULL, "the octo_* tables are "
		    "at version %u (or db-load's account cannot read "
		    "octo_schema), this db-load needs %u: db-load --init "
		    "upgrades them in place", v, DL_OCTO_SCHEMA);
	else
		problem(nproblems, "octo_schema", NULL, "the octo_* tables are "
		    "at version %u, newer than this db-load (%u): install the "
		    "octospool release that upgraded them", v, DL_OCTO_SCHEMA);
	return 0;
}
