#!/bin/sh
# db-load's throughput next to the raw rate of the same database, in the
# same run: a private MariaDB (tools/mariadb.sh, durable InnoDB defaults:
# innodb_flush_log_at_trx_commit=1, doublewrite on; only the buffer pool
# is bigger than the test instance's), a full queue of FILES generated
# agent files of MODULES modules (tools/gen-agents.sh), drained by one
# db-load run over TCP with TLS, as deployed.
#
#   sh bench/db-load.sh [FILES]        (default 10000)
#
# Each round measures, interleaved:
#   raw.insert  multi-row INSERTs of MODULES rows into tagente_datos, one
#               per "file", COMMIT every BATCH statements (the raw rate of
#               storing that many values: no logic, no status)
#   cold        db-load on an empty database: agents and modules created
#   warm        db-load on the next FILES files of the same agents
#   raw.same    per "file" the writes db-load makes in steady state, with
#               no logic: the digest INSERT, a MODULES-row INSERT into
#               tagente_datos, a MODULES-row upsert of tagente_estado and
#               the tagente UPDATE, COMMIT every BATCH files
# and prints module values per second, the ratios, and db-load's per-file
# time (p50/p99 of the handler) from its log.
#
# Environment: RUNS (rounds, default 3), BENCH_MODULES (25), BENCH_AGENTS
# (100), BENCH_BATCH (files per COMMIT, default 1024 as db-load's),
# BENCH_TMPDIR (where the database and spool go; default /tmp),
# BENCH_DB_OPTS (extra mariadbd options, default a 1 GiB buffer pool),
# OCTO_BIN (binaries, default bin/).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FILES=${1:-10000}
RUNS=${RUNS:-3}
MODS=${BENCH_MODULES:-25}
AGENTS=${BENCH_AGENTS:-100}
BATCH=${BENCH_BATCH:-1024}
BIN=${OCTO_BIN:-$ROOT/bin}
TMP=${BENCH_TMPDIR:-/tmp}
OUT=$ROOT/bench/.build
mkdir -p "$OUT"
export TZ=UTC

log() {
	printf '%s\n' "$*" >&2
}

make -s bin/db-load bin/tt-wire build/release/libocto.a

# The raw client: the same lib/db connection (TCP, TLS, verified), no
# logic, prepared multi-row statements.
cat > "$OUT/db-raw.c" <<'EOF'
/* bench/db-load.sh's raw client: see the script. */
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
EOF
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -Ilib -DLIBBSD_OPENBSD_VIS -D_GNU_SOURCE \
    $(pkg-config --cflags libbsd-overlay libmariadb) -o "$OUT/db-raw" \
    "$OUT/db-raw.c" build/release/libocto.a \
    $(pkg-config --libs openssl libbsd-overlay zlib libxml-2.0 libmariadb) \
    -lssl -lcrypto -pthread

W=$(mktemp -d "$TMP/octo-bench.XXXXXX")
chmod 0755 "$W"
DB=$W/db
if [ "$(id -u)" -eq 0 ]; then
	RUN_USER=nobody
	RUN_GROUP=nogroup
else
	RUN_USER=$(id -un)
	RUN_GROUP=$(id -gn)
fi
cleanup() {
	sh tools/mariadb.sh stop "$DB" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir "$DB"
OCTO_DB_GROUP=$RUN_GROUP OCTO_DB_OPTS=${BENCH_DB_OPTS:---innodb-buffer-pool-size=1G} \
    sh tools/mariadb.sh start "$DB" >&2
sh tools/mkspool.sh "$W/spool"
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool"
CONF=$W/octospool.conf
{
	echo "spool_dir $W/spool"
	echo "idle_exit 0"
	cat "$DB/octospool-db.conf"
	# Bare agent files: no decision of agent-auth, the configuration
	# decides (auth_pubkey none).
	printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey none\n' \
	    "$RUN_USER" "$RUN_USER"
	printf 'allow_create yes\nbatch %s\n' "$BATCH"
} > "$CONF"
sql() {
	sh tools/mariadb.sh sql "$DB" -N -B -e "$1"
}

# load SET: drain a generated set; prints "seconds values/s p50 p99".
load() {
	mv "$W/$1"/* "$W/spool/db-load/new/"
	"$BIN/db-load" -c "$CONF" -d 2> "$W/load.log"
	grep 'event=drain.done' "$W/load.log" | sed -n \
	    's/.* values=\([0-9]*\) ms=\([0-9]*\) .*file_ms_p50=\([0-9.]*\) file_ms_p99=\([0-9.]*\) .*/\1 \2 \3 \4/p' |
	    awk '{ printf "%.3f %.0f %s %s\n", $2 / 1000, $1 * 1000 / $2, $3, $4 }'
}

gen() {
	sh tools/gen-agents.sh "$W/$1" "$FILES" "$AGENTS" "$MODS" "$2"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/$1"
}

log "db-load bench: $FILES files x $MODS modules, $AGENTS agents, batch $BATCH, $RUNS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'round\traw.insert/s\tcold/s\twarm/s\traw.same/s\tcold%%raw\twarm%%raw\twarm%%same\tp50ms\tp99ms\n' > "$W/results"
for r in $(seq 1 "$RUNS"); do
	sql "TRUNCATE tagente; TRUNCATE tagente_modulo; TRUNCATE tagente_estado;
	    TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento; TRUNCATE octo_loaded_file"
	gen cold 1795000000
	gen warm $((1795000000 + (FILES / AGENTS) * 300))
	set -- $("$OUT/db-raw" "$CONF" insert "$FILES" "$MODS" "$BATCH" $((r * 10)))
	raw=$2
	set -- $(load cold)
	cold=$2
	set -- $(load warm)
	warm=$2 p50=$3 p99=$4
	set -- $("$OUT/db-raw" "$CONF" same "$FILES" "$MODS" "$BATCH" $((r * 10 + 1)))
	same=$2
	awk -v r="$r" -v a="$raw" -v c="$cold" -v w="$warm" -v s="$same" \
	    -v p="$p50" -v q="$p99" 'BEGIN { printf "%d\t%d\t%d\t%d\t%d\t%.0f%%\t%.0f%%\t%.0f%%\t%s\t%s\n",
	    r, a, c, w, s, 100 * c / a, 100 * w / a, 100 * w / s, p, q }' >> "$W/results"
	log "round $r: $(tail -1 "$W/results")"
done
column -t -s "$(printf '\t')" "$W/results"
# Medians.
awk -F'\t' 'NR > 1 { for (i = 2; i <= 5; i++) v[i][NR] = $i; n++ }
    END {
	split("raw.insert cold warm raw.same", name, " ")
	for (i = 2; i <= 5; i++) {
		m = 0
		for (k in v[i]) a[++m] = v[i][k]
		asort(a)
		printf "median %s: %d values/s\n", name[i - 1], a[int((m + 1) / 2)]
		delete a
	}
    }' "$W/results"
