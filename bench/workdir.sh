# SPDX-License-Identifier: ISC
# Sourced by the stage benchmarks that start a private MariaDB
# (db-load.sh, agent-auth.sh, purge.sh): bench_workdir NAME makes the
# work directory W under TMP (BENCH_TMPDIR), names the database's
# directory DB in it, and sets the user the tools run as (RUN_USER,
# RUN_GROUP: nobody when run as root).
bench_workdir() {
	W=$(mktemp -d "$TMP/octo-$1.XXXXXX")
	chmod 0755 "$W"
	DB=$W/db
	if [ "$(id -u)" -eq 0 ]; then
		RUN_USER=nobody
		RUN_GROUP=nogroup
	else
		RUN_USER=$(id -un)
		RUN_GROUP=$(id -gn)
	fi
}

# bench_db_start [OPTIONS]: the private MariaDB in DB (mariadbd OPTIONS),
# its secrets readable by RUN_GROUP.
bench_db_start() {
	mkdir "$DB"
	OCTO_DB_GROUP=$RUN_GROUP OCTO_DB_OPTS=${1:-} \
	    sh tools/mariadb.sh start "$DB" >&2
}

# bench_cleanup: the server stopped (by its PID file), W removed.
bench_cleanup() {
	sh tools/mariadb.sh stop "$DB" >/dev/null 2>&1 || true
	rm -rf "$W"
}
