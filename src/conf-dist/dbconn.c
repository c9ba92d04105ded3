/* SPDX-License-Identifier: ISC */
/*
 * conf-dist's one database connection, for the registry ("registry db")
 * and the served tree shared by the nodes ("cluster db"): the [conf-dist]
 * db_* settings, opened on first use, connected again (the next server
 * of the list) after a temporary failure, statements prepared once and
 * freed with the connection.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "db.h"
#include "log.h"

#include "confdist.h"

#define SLOTS_MAX	16

static struct db *dbh;
static int lib;			/* db_library_init done */
static int broken;		/* reconnect before the next statement */
static int retry;		/* the last failure may pass on a retry */
static struct db_stmt **slots[SLOTS_MAX];
static size_t nslots;

struct db *
cd_db(void)
{
	return dbh;
}

void
cd_db_close(void)
{
	for (size_t i = 0; i < nslots; i++) {
		if (*slots[i] != NULL)
			db_stmt_free(*slots[i]);
		*slots[i] = NULL;
	}
	nslots = 0;
	if (dbh != NULL)
		db_close(dbh);
	dbh = NULL;
	if (lib)
		db_library_end();
	lib = 0;
	broken = 0;
}

int
cd_db_fail(const char *who, const char *what, char *err, size_t errlen)
{
	char v[LOG_VISBUF];
	enum db_class c = db_errclass(dbh);
	const char *e = db_error(dbh);

	snprintf(err, errlen, "%s %s: %s: %s (%s)", who, db_server(dbh), what,
	    log_vis(v, sizeof(v), e, strlen(e)), db_class_name(c));
	if (c == DB_TEMP) {
		broken = 1;
		return -2;
	}
	cd_db_close();
	return -3;
}

int
cd_db_open(const char *who, char *err, size_t errlen)
{
	retry = 0;
	if (dbh == NULL) {
		if (!lib && db_library_init() == -1) {
			snprintf(err, errlen, "%s: cannot initialise the "
			    "database library", who);
			return -3;
		}
		lib = 1;
		if ((dbh = db_open(&cd_cf.db)) == NULL) {
			snprintf(err, errlen, "%s: cannot open the database",
			    who);
			return -3;
		}
		if (db_connect(dbh) == -1)
			return cd_db_fail(who, "connect", err, errlen);
	} else if (broken) {
		if (db_reconnect(dbh) == -1)
			return cd_db_fail(who, "connect", err, errlen);
	}
	broken = 0;
	/* Connected: a failure from here on may pass on another try. */
	retry = 1;
	return 0;
}

int
cd_db_retry(void)
{
	return retry;
}

struct db_stmt *
cd_db_stmt(struct db_stmt **slot, const char *sql)
{
	if (*slot != NULL)
		return *slot;
	if (nslots == SLOTS_MAX)
		fatalx(EX_SOFTWARE, "event=bug msg=\"too many statements\"");
	if ((*slot = db_prepare(dbh, sql)) != NULL)
		slots[nslots++] = slot;
	return *slot;
}
