/* SPDX-License-Identifier: ISC */
/*
 * db-raw: the raw database client of bench/db-load.sh and bench/e2e.sh,
 * built by bench/build.sh.  The same lib/db connection as db-load (the
 * [db] and [db-load] settings of CONF: TCP, TLS, verified), no logic,
 * prepared multi-row statements:
 *
 *   db-raw CONF insert|same FILES ROWS BATCH SEED
 *
 * insert: per "file" one ROWS-row INSERT into tagente_datos; same: also
 * the digest INSERT, a ROWS-row upsert of tagente_estado and the tagente
 * UPDATE (what a naive loader writes).  COMMIT every BATCH files.
 * Prints "seconds rows/s".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "db.h"

static struct db *db;

static void
die(const char *what)
{
	fprintf(stderr, "db-raw: %s: %s (%u)\n", what, db_error(db),
	    db_errno(db));
	exit(1);
}

static struct db_stmt *
multi(const char *head, const char *row, int n, const char *tail)
{
	size_t cap = strlen(head) + n * (strlen(row) + 2) + strlen(tail) + 1;
	char *sql = malloc(cap);
	struct db_stmt *s;

	snprintf(sql, cap, "%s", head);
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(sql, ", ");
		strcat(sql, row);
	}
	strcat(sql, tail);
	if ((s = db_prepare(db, sql)) == NULL)
		die("prepare");
	free(sql);
	return s;
}

int
main(int argc, char *argv[])
{
	struct conf *c;
	struct db_conf dc;
	struct db_stmt *ins, *est = NULL, *agt = NULL, *dig = NULL;
	struct db_val *v;
	struct timespec t0, t1;
	char err[512], sha[65];
	int files, rows, batch, same;
	long long base;
	double secs;

	if (argc != 7) {
		fprintf(stderr, "usage: db-raw CONF insert|same FILES ROWS "
		    "BATCH SEED\n");
		return 64;
	}
	same = strcmp(argv[2], "same") == 0;
	files = atoi(argv[3]);
	rows = atoi(argv[4]);
	batch = atoi(argv[5]);
	base = atoll(argv[6]);
	if ((c = conf_load(argv[1], err, sizeof(err))) == NULL ||
	    db_conf_load(&dc, c, "db-load", err, sizeof(err)) == -1) {
		fprintf(stderr, "db-raw: %s\n", err);
		return 78;
	}
	db_library_init();
	db = db_open(&dc);
	if (db_connect(db) == -1)
		die("connect");
	v = calloc(4 * 19 * rows + 8, sizeof(*v));
	ins = multi("INSERT INTO tagente_datos (id_agente_modulo, datos, "
	    "utimestamp) VALUES ", "(?, ?, ?)", rows, "");
	if (same) {
		est = multi("INSERT INTO tagente_estado (id_agente_estado, "
		    "id_agente_modulo, id_agente, datos, estado, known_status, "
		    "last_status, last_known_status, status_changes, "
		    "utimestamp, timestamp, current_interval, "
		    "last_execution_try, last_try, ff_start_utimestamp, "
		    "ff_normal, ff_warning, ff_critical, last_status_change) "
		    "VALUES ", "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		    "?, ?, ?, ?, ?)", rows, " ON DUPLICATE KEY UPDATE "
		    "datos = VALUES(datos), estado = VALUES(estado), "
		    "known_status = VALUES(known_status), utimestamp = "
		    "VALUES(utimestamp), timestamp = VALUES(timestamp), "
		    "last_execution_try = VALUES(last_execution_try), "
		    "last_try = VALUES(last_try), status_changes = "
		    "VALUES(status_changes)");
		if ((agt = db_prepare(db, "UPDATE tagente SET "
		    "ultimo_contacto = ?, ultimo_contacto_remoto = ?, "
		    "normal_count = ?, total_count = ? WHERE id_agente = ?")) ==
		    NULL || (dig = db_prepare(db, "INSERT INTO "
		    "octo_loaded_file (sha256, item, id_agente, loaded_at, "
		    "size) VALUES (?, ?, ?, ?, ?)")) == NULL)
			die("prepare");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int f = 0; f < files; f++) {
		long long t = base + (long long)f * 300;

		if (f % batch == 0 && db_begin(db) == -1)
			die("begin");
		if (same) {
			struct db_val d[5];

			snprintf(sha, sizeof(sha), "%064llx",
			    (unsigned long long)(base * 100000 + f));
			d[0] = DB_TEXT(sha);
			d[1] = DB_TEXT("raw.item");
			d[2] = DB_INT(900000);
			d[3] = DB_INT(t);
			d[4] = DB_INT(6000);
			if (db_stmt_exec(dig, d, 5) == -1)
				die("digest");
		}
		for (int r = 0; r < rows; r++) {
			v[3 * r] = DB_UINT(9000000 + (f % 100) * rows + r);
			v[3 * r + 1] = DB_DOUBLE(f + r / 10.0);
			v[3 * r + 2] = DB_INT(t);
		}
		if (db_stmt_exec(ins, v, 3 * rows) == -1)
			die("insert");
		if (same) {
			struct db_val a[5] = { DB_TEXT("2026-11-28 00:00:00"),
			    DB_TEXT("2026-11-28 00:00:00"), DB_INT(rows),
			    DB_INT(rows), DB_INT(900000 + f % 100) };

			for (int r = 0; r < rows; r++) {
				struct db_val *e = v + 19 * r;
				long long id = 9000000 + (f % 100) * rows + r;

				e[0] = DB_INT(id);
				e[1] = DB_INT(id);
				e[2] = DB_INT(900000 + f % 100);
				e[3] = DB_TEXT("12.50000");
				for (int k = 4; k < 9; k++)
					e[k] = DB_INT(0);
				e[9] = DB_INT(t);
				e[10] = DB_TEXT("2026-11-28 00:00:00");
				e[11] = DB_INT(300);
				e[12] = DB_INT(t);
				e[13] = DB_TEXT("2026-11-28 00:00:00");
				for (int k = 14; k < 19; k++)
					e[k] = DB_INT(0);
			}
			if (db_stmt_exec(est, v, 19 * rows) == -1)
				die("estado");
			if (db_stmt_exec(agt, a, 5) == -1)
				die("agent");
		}
		if ((f + 1) % batch == 0 || f + 1 == files)
			if (db_commit(db) == -1)
				die("commit");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%.3f %.0f\n", secs, files * (double)rows / secs);
	return 0;
}
