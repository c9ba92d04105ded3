#!/bin/sh
# SPDX-License-Identifier: ISC
# Where a lingering db-load's database time goes, statement by statement,
# at the batch size of the saturated pipeline.  A private MariaDB
# (tools/mariadb.sh, stopped by PID at the end, also on failure) with its
# slow query log at long_query_time 0; AGENTS agents created by a first
# run (one file each); then one lingering db-load (idle_exit 300, over
# TCP with TLS, as deployed) is fed FILES generated files of 25 modules
# in batches of BATCH, each batch moved into its queue once the one
# before is committed (the drain takes what has arrived, so a
# transaction may hold less: the mean is printed).  Printed: db-load's and mariadbd's CPU per file,
# and per statement the server's time summed over the run (the slow
# log's Query_time) with its count, the agent lookups split into those
# by name (FOR UPDATE, the first of each agent in a transaction) and any
# other.
#
#   sh bench/db-stmts.sh [FILES]        (default 3000)
#
# Environment: BENCH_BATCH (27, the saturated phase's mean batch in
# make bench-e2e), BENCH_AGENTS (200, as make bench-e2e), BENCH_TMPDIR
# (/tmp), OCTO_BIN (bin/).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FILES=${1:-3000}
BATCH=${BENCH_BATCH:-27}
AGENTS=${BENCH_AGENTS:-200}
BIN=${OCTO_BIN:-$ROOT/bin}
TMP=${BENCH_TMPDIR:-/tmp}
export TZ=UTC

make -s bin/db-load
. bench/workdir.sh
bench_workdir stmts
DLP=
cleanup() {
	[ -z "$DLP" ] || kill -TERM "$DLP" 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT INT TERM
bench_db_start
sql() {
	sh tools/mariadb.sh sql "$DB" -N -B -e "$1"
}
sh tools/mkspool.sh "$W/spool"
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool"
conf() {
	echo "spool_dir $W/spool"
	echo "idle_exit $1"
	cat "$DB/octospool-db.conf"
	printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey none\n' \
	    "$RUN_USER" "$RUN_USER"
	echo "allow_create yes"
}
conf 0 > "$W/once.conf"
conf 300 > "$W/linger.conf"
gen() {
	sh tools/gen-agents.sh "$W/$1" "$2" "$AGENTS" 25 "$3"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/$1"
}
gen cold "$AGENTS" 1795000000
gen warm "$FILES" $((1795000000 + 300))
mv "$W"/cold/* "$W/spool/db-load/new/"
"$BIN/db-load" -c "$W/once.conf" 2> "$W/cold.log"

pid=$(cat "$DB"/data/mariadbd.pid)
cpu() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
q=$W/spool/db-load
sql "SET GLOBAL long_query_time = 0; SET GLOBAL slow_query_log = 1"
"$BIN/db-load" -c "$W/linger.conf" 2> "$W/warm.log" &
DLP=$!
c0=$(cpu "$pid")
ls "$W/warm" | LC_ALL=C sort | split -l "$BATCH" - "$W/chunk."
for c in "$W"/chunk.*; do
	# One mv for the batch: the renames follow one another closely,
	# but the drain may claim the first before the last arrives (mv
	# then reports that it cannot stat one it moved: harmless).
	(cd "$W/warm" && xargs mv -t "$q/new/" < "$c" 2>/dev/null) || true
	while [ -n "$(ls -A "$q/new")$(ls -A "$q/cur")" ]; do
		sleep 0.002
	done
done
c1=$(cpu "$pid")
d=$(cpu "$DLP")
sql "SET GLOBAL slow_query_log = 0"
kill -TERM "$DLP"
wait "$DLP" || true
DLP=
n=$(sql "SELECT COUNT(*) FROM pandora.octo_loaded_file")
[ "$n" -eq $((FILES + AGENTS)) ] || {
	echo "db-stmts: $n files loaded, want $((FILES + AGENTS))" >&2
	exit 1
}
ticks=$(getconf CLK_TCK)
echo "db-stmts: $FILES files, $AGENTS agents, batches of $BATCH, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v f="$FILES" -v t="$ticks" -v d="$d" -v m=$((c1 - c0)) 'BEGIN {
	printf "CPU ms per file: db-load %.3f, mariadbd %.3f\n",
	    d * 1000 / t / f, m * 1000 / t / f }'
echo "files per transaction: $(grep -c '^COMMIT' "$DB"/data/*-slow.log | awk -v f="$FILES" '{ printf "%.1f", f / $1 }')"
# Per statement: its first words (the lookups by the WHERE clause).
awk -v f="$FILES" '
/^# Query_time/ { qt = $3 }
/^SET timestamp/ {
	getline
	if ($0 ~ /FOR UPDATE/)
		k = ($0 ~ /WHERE a\.nombre = /) ? "agent lookup by name (FOR UPDATE)" : "other FOR UPDATE"
	else
		k = substr($0, 1, 40)
	t[k] += qt; n[k]++
}
END {
	for (k in t)
		printf "%9.3f ms/file %8.3f ms each %7d  %s\n",
		    t[k] * 1000 / f, t[k] * 1000 / n[k], n[k], k
}' "$DB"/data/*-slow.log | sort -rn | head -14
