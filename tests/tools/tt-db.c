/* SPDX-License-Identifier: ISC */
/*
 * tt-db: a tiny client for the database tests.  It connects through
 * lib/db with the [db] settings of a configuration file (as tool SECTION
 * would) and runs the steps in order:
 *
 *   tt-db -c CONF [-s SECTION] STEP...
 *     -e SQL    prepare and execute SQL with the -p values that follow it;
 *               print result rows, tab-separated, NULL as "NULL"
 *     -p VAL    a parameter of the -e before it: i:N, u:N, d:X, s:TEXT,
 *               x:HEX (bytes), null
 *     -E        execute the last -e statement again (same handle, so it
 *               is prepared again after a reconnect) with the -p after it
 *     -x SQL    execute SQL without parameters or results (db_exec)
 *     -B  -C  -R            START TRANSACTION, COMMIT, ROLLBACK
 *     -S NAME  -U NAME  -L NAME   SAVEPOINT, ROLLBACK TO, RELEASE
 *     -a        print "affected=N insert_id=N" of the last -e
 *     -t        print "tls=<version cipher>" or "tls=none"
 *     -w MS     sleep
 *     -r        reconnect (with backoff); statements stay valid
 *     -k        keep going after a failed step (anywhere on the line):
 *               report it and exit at the end with the worst code
 *
 * On error one line on stderr: "tt-db: step N: class=C errno=E (NAME):
 * message".  Exit codes: 0 all steps done, 75 a temporary failure
 * (class temp), 1 any other failure (configuration, TLS, login, grants,
 * data, bug), 64 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "xalloc.h"

#define EXIT_FAIL	1
#define EXIT_TEMP	75
#define EXIT_USAGE	64
#define MAX_PARAMS	64

struct step {
	int		 op;
	const char	*arg;
};

static struct db *db;
static struct db_stmt *last;
static int keep_going, worst;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tt-db -c conf [-s section] "
	    "[-e sql] [-E] [-p val] [-x sql] [-B] [-C] [-R] [-S name]\n"
	    "             [-U name] [-L name] [-a] [-t] [-w ms] [-r] [-k] ...\n");
	exit(EXIT_USAGE);
}

/*
 * Report the db error of step n; exit with its class's code unless -k,
 * which remembers the worst code for the end and goes on.
 */
static void
fail_db(int n)
{
	unsigned int e = db_errno(db);
	const char *name = db_errname(e);
	int code = db_errclass(db) == DB_TEMP ? EXIT_TEMP : EXIT_FAIL;

	fprintf(stderr, "tt-db: step %d: class=%s errno=%u (%s): %s\n", n,
	    db_class_name(db_errclass(db)), e, name ? name : "-",
	    db_error(db));
	if (!keep_going)
		exit(code);
	if (worst != EXIT_TEMP)
		worst = code;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse VAL into v; bytes for x: go into a malloc'd buffer in *keep. */
static void
parse_param(const char *a, struct db_val *v, void **keep)
{
	const char *es = NULL;
	char *end;

	*keep = NULL;
	if (strcmp(a, "null") == 0)
		*v = DB_NULL;
	else if (strncmp(a, "i:", 2) == 0) {
		*v = DB_INT(strtonum(a + 2, LLONG_MIN, LLONG_MAX, &es));
	} else if (strncmp(a, "u:", 2) == 0) {
		errno = 0;
		*v = DB_UINT(strtoull(a + 2, &end, 10));
		if (errno != 0 || *end != '\0' || a[2] == '\0' || a[2] == '-')
			es = "invalid";
	} else if (strncmp(a, "d:", 2) == 0) {
		errno = 0;
		*v = DB_DOUBLE(strtod(a + 2, &end));
		if (errno != 0 || *end != '\0' || a[2] == '\0')
			es = "invalid";
	} else if (strncmp(a, "s:", 2) == 0)
		*v = DB_TEXT(a + 2);
	else if (strncmp(a, "x:", 2) == 0) {
		size_t n = strlen(a + 2);
		unsigned char *b = xmalloc(n / 2 + 1);

		if (n % 2 != 0)
			es = "odd length";
		for (size_t i = 0; es == NULL && i < n / 2; i++) {
			int hi = hexval(a[2 + 2 * i]), lo = hexval(a[3 + 2 * i]);

			if (hi < 0 || lo < 0)
				es = "not hex";
			b[i] = (unsigned char)(hi << 4 | lo);
		}
		*v = DB_BLOB(b, n / 2);
		*keep = b;
	} else
		es = "unknown type";
	if (es != NULL) {
		fprintf(stderr, "tt-db: -p %s: %s\n", a, es);
		exit(EXIT_USAGE);
	}
}

static void
print_rows(int n)
{
	int r;

	while ((r = db_stmt_fetch(last)) == 1) {
		for (unsigned int i = 0; i < db_col_count(last); i++) {
			size_t len;
			const char *t = db_col_text(last, i, &len);

			if (i > 0)
				putchar('\t');
			if (t == NULL)
				fputs("NULL", stdout);
			else
				fwrite(t, 1, len, stdout);
		}
		putchar('\n');
	}
	if (r == -1)
		fail_db(n);
}

int
main(int argc, char *argv[])
{
	struct step *steps = xcalloc(argc, sizeof(*steps));
	struct db_val params[MAX_PARAMS];
	void *keep[MAX_PARAMS];
	const char *conffile = NULL, *section = NULL, *pending = NULL;
	struct db_conf dc;
	struct conf *cf;
	char err[512];
	size_t nsteps = 0, np = 0;
	int ch, rc, pn = 0, again = 0;

	while ((ch = getopt(argc, argv, "ac:e:Ekp:x:BCRS:U:L:s:tw:rh")) != -1) {
		switch (ch) {
		case 'c':
			conffile = optarg;
			break;
		case 's':
			section = optarg;
			break;
		case 'k':
			keep_going = 1;
			break;
		case 'h':
			usage();
		case '?':
			usage();
		default:
			steps[nsteps].op = ch;
			steps[nsteps].arg = optarg;
			nsteps++;
			break;
		}
	}
	if (optind != argc || conffile == NULL)
		usage();
	cf = conf_load(conffile, err, sizeof(err));
	rc = cf == NULL || db_conf_check(cf, err, sizeof(err)) == -1 ||
	    db_conf_load(&dc, cf, section, err, sizeof(err)) == -1;
	conf_free(cf);
	if (rc) {
		fprintf(stderr, "tt-db: config: %s\n", err);
		free(steps);
		return EXIT_FAIL;
	}
	if (db_library_init() == -1) {
		fprintf(stderr, "tt-db: mysql_library_init failed\n");
		return EXIT_FAIL;
	}
	db = db_open(&dc);
	db_conf_free(&dc);
	if (db_connect(db) == -1) {
		keep_going = 0;
		fail_db(0);
	}

	for (size_t i = 0; i <= nsteps; i++) {
		int n = (int)i + 1, op = i < nsteps ? steps[i].op : 0;
		const char *a = i < nsteps ? steps[i].arg : NULL;

		if (op == 'p') {
			if (pending == NULL && !again) {
				fprintf(stderr, "tt-db: -p before any -e\n");
				return EXIT_USAGE;
			}
			if (np == MAX_PARAMS) {
				fprintf(stderr, "tt-db: too many -p\n");
				return EXIT_USAGE;
			}
			parse_param(a, &params[np], &keep[np]);
			np++;
			continue;
		}
		/* Any other step runs the pending -e with its parameters. */
		if (pending != NULL || again) {
			if (!again) {
				db_stmt_free(last);
				last = db_prepare(db, pending);
			}
			rc = last == NULL ? -1 : db_stmt_exec(last, params, np);
			for (size_t k = 0; k < np; k++)
				free(keep[k]);
			np = 0;
			pending = NULL;
			again = 0;
			if (rc == -1)
				fail_db(pn);
			else
				print_rows(pn);
		}
		switch (op) {
		case 'e':
			pending = a;
			pn = n;
			break;
		case 'E':
			if (last == NULL) {
				fprintf(stderr, "tt-db: -E without a prepared "
				    "statement\n");
				return EXIT_USAGE;
			}
			again = 1;
			pn = n;
			break;
		case 'x':
			if (db_exec(db, a) == -1)
				fail_db(n);
			break;
		case 'B':
			if (db_begin(db) == -1)
				fail_db(n);
			break;
		case 'C':
			if (db_commit(db) == -1)
				fail_db(n);
			break;
		case 'R':
			if (db_rollback(db) == -1)
				fail_db(n);
			break;
		case 'S':
			if (db_savepoint(db, a) == -1)
				fail_db(n);
			break;
		case 'U':
			if (db_rollback_to(db, a) == -1)
				fail_db(n);
			break;
		case 'L':
			if (db_release(db, a) == -1)
				fail_db(n);
			break;
		case 'a':
			if (last == NULL) {
				fprintf(stderr, "tt-db: -a without a statement\n");
				return EXIT_USAGE;
			}
			printf("affected=%llu insert_id=%llu\n",
			    db_stmt_affected(last), db_stmt_insert_id(last));
			break;
		case 't': {
			const char *t = db_tls_cipher(db);

			printf("tls=%s\n", *t ? t : "none");
			break;
		}
		case 'w': {
			const char *es = NULL;
			long long ms = strtonum(a, 0, 600000, &es);
			struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

			if (es != NULL)
				usage();
			fflush(stdout);
			nanosleep(&ts, NULL);
			break;
		}
		case 'r':
			if (db_reconnect(db) == -1)
				fail_db(n);
			break;
		}
	}
	db_stmt_free(last);
	db_close(db);
	db_library_end();
	free(steps);
	if (fflush(stdout) == EOF)
		return EXIT_FAIL;
	return worst;
}
