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
