#!/bin/bash
# SPDX-License-Identifier: ISC
# db-purge against the method of Pandora's pandora_db.pl on the same rows
# (doc/BENCHMARKS.md, "db-purge").  A private MariaDB (tools/mariadb.sh,
# durable InnoDB defaults, a 1 GiB buffer pool) gets N history rows
# (default 10,000,000: 90% tagente_datos, 5% tagente_datos_string, 5%
# tevento, 90 days back from a fixed clock), made by SQL and identical
# for every run; tconfig says days_purge 60, string_purge 30,
# event_purge 30, days_compact 30, step_compact 1.  Then, each on a fresh
# copy:
#   pandora   bench/pandora-db-method.pl: pandora_db.pl's purge and
#             compaction statements, steps and pauses (Perl DBI)
#   db-purge  bin/db-purge -t NOW, as the octo_db_purge account over TCP
#             with TLS, as deployed
# while db-load drains a steady stream of agent files (BENCH_STREAM files
# every 200 ms, one db-load run each); and once with nothing else
# running (idle).  It prints each method's seconds, the ratio, whether
# the rows left are the same (the generated modules and events: every
# row, datos rounded to 6 decimals, checksummed), and db-load's run
# latency p50/p99/max (ms per run: connect, load, commit) idle and
# during each method.
#
#   bash bench/purge.sh [N]        (or BENCH_ROWS=N; default 10000000)
#
# Environment: BENCH_TMPDIR (default /tmp), BENCH_DB_OPTS (extra mariadbd
# options), BENCH_STREAM (files per db-load run, default 10),
# BENCH_IDLE (seconds of the idle stream, default 20), OCTO_BIN.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-${BENCH_ROWS:-10000000}}
BIN=${OCTO_BIN:-$ROOT/bin}
TMP=${BENCH_TMPDIR:-/tmp}
PER=${BENCH_STREAM:-10}
IDLE=${BENCH_IDLE:-20}
export TZ=UTC
# The clock of both methods: on the hour, so that pandora_db.pl's
# intervals (from now - days_compact) fall on db-purge's grid.
NOW=1789999200
T0=$((NOW - 90 * 86400))
# The generated modules: ids from BASE + 1, apart from db-load's.
BASE=1000000
MODS=400
SMODS=50
ND=$((N * 90 / 100))
NS=$((N * 5 / 100))
NE=$((N - ND - NS))

log() {
	printf '%s\n' "$*" >&2
}

perl -MDBD::MariaDB -e1 2>/dev/null || {
	log "bench/purge.sh: needs DBD::MariaDB (apt-get install libdbd-mariadb-perl)"
	exit 1
}
make -s bin/db-purge bin/db-load bin/tt-wire

. bench/workdir.sh
bench_workdir purge
cleanup() {
	touch "$W/stop"
	wait 2>/dev/null || true
	bench_cleanup
}
trap cleanup EXIT INT TERM
bench_db_start "${BENCH_DB_OPTS:---innodb-buffer-pool-size=1G}"
. "$DB/env"
sh tools/mkspool.sh "$W/spool"
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool"
CONF=$W/octospool.conf
{
	echo "spool_dir $W/spool"
	echo "idle_exit 0"
	cat "$DB/octospool-db.conf"
	printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey none\n' \
	    "$RUN_USER" "$RUN_USER"
	printf 'allow_create yes\n'
	printf '[db-purge]\nuser %s\n' "$RUN_USER"
} > "$CONF"
sql() {
	sh tools/mariadb.sh sql "$DB" -N -B -e "$1" pandora
}

# gen: the N rows, the same every time (sequence engine, no RAND()).
gen() {
	local step=$((90 * 86400 * MODS / ND)) sstep=$((90 * 86400 * SMODS / NS))
	local estep=$((90 * 86400 / NE)) chunk=1000000 i
	sql "TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    DELETE FROM tevento WHERE id_evento <= $NE;
	    DELETE FROM tconfig;
	    INSERT INTO tconfig (token, value) VALUES ('days_purge', '60'),
	    ('string_purge', '30'), ('event_purge', '30'),
	    ('days_compact', '30'), ('step_compact', '1');
	    INSERT IGNORE INTO tagente_modulo (id_agente_modulo, id_agente,
	    id_tipo_modulo, nombre) SELECT $BASE + seq, 0, IF(seq <= $MODS, 1, 3),
	    CONCAT('bench-', seq) FROM seq_1_to_$((MODS + SMODS))"
	for ((i = 0; i < ND; i += chunk)); do
		sql "INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp)
		    SELECT $BASE + 1 + seq % $MODS, (seq * 7919 % 100000) / 100,
		    $T0 + (seq DIV $MODS) * $step + (seq % $MODS) * 7 % $step
		    FROM seq_${i}_to_$(( (i + chunk < ND ? i + chunk : ND) - 1 ))"
	done
	sql "INSERT INTO tagente_datos_string (id_agente_modulo, datos, utimestamp)
	    SELECT $BASE + $MODS + 1 + seq % $SMODS, CONCAT('s', seq % 977),
	    $T0 + (seq DIV $SMODS) * $sstep FROM seq_0_to_$((NS - 1));
	    INSERT INTO tevento (id_evento, id_agente, evento, utimestamp,
	    event_type) SELECT seq + 1, 0, 'bench', $T0 + seq * $estep,
	    'system' FROM seq_0_to_$((NE - 1))"
}

# rows: the rows left of the generated data, checksummed.
rows() {
	{
		sql "SELECT id_agente_modulo, ROUND(datos, 6), utimestamp FROM
		    tagente_datos WHERE id_agente_modulo > $BASE
		    ORDER BY 1, 3, 2"
		sql "SELECT id_agente_modulo, datos, utimestamp FROM
		    tagente_datos_string WHERE id_agente_modulo > $BASE
		    ORDER BY 1, 3, 2"
		sql "SELECT id_evento, utimestamp FROM tevento WHERE id_evento
		    <= $NE ORDER BY 1"
	} > "$W/rows.$1"
	printf '%s %s\n' "$(wc -l < "$W/rows.$1")" \
	    "$(sha256sum < "$W/rows.$1" | cut -c1-16)"
}

# The stream: agent files of 10 agents, 10 modules each, from an hour
# before NOW on (never purged), PER files per db-load run every 200 ms.
sh tools/gen-agents.sh "$W/pool" 30000 10 10 $((NOW - 3600)) >/dev/null
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/pool"
ls "$W/pool" > "$W/pool.list"
# The position in the pool, in a file: the streams run in subshells.
echo 0 > "$W/pos"
next_files() {
	local pos
	pos=$(cat "$W/pos")
	sed -n "$((pos + 1)),$((pos + PER))p" "$W/pool.list" |
	    while read -r f; do mv "$W/pool/$f" "$W/spool/db-load/new/"; done
	echo $((pos + PER)) > "$W/pos"
}
# stream OUT: until $W/stop exists, one db-load run per PER files.
stream() {
	local t0 t1
	: > "$1"
	while [ ! -e "$W/stop" ] && [ "$(cat "$W/pos")" -lt 30000 ]; do
		next_files
		t0=$(date +%s%N)
		"$BIN/db-load" -c "$CONF" 2>> "$W/db-load.log" || true
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000)) >> "$1"
		sleep 0.2
	done
}
pct() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
	    if (NR == 0) { print "- - - 0"; exit }
	    printf "%d %d %d %d\n", v[int((NR + 1) / 2)], v[int((NR * 99 + 99) / 100)], v[NR], NR }'
}

log "purge bench: $N rows ($ND numeric, $NS string, $NE events), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up: the stream's agents and modules exist before any measure.
next_files
"$BIN/db-load" -c "$CONF" 2>> "$W/db-load.log"

t=$(date +%s)
gen
log "generated in $(( $(date +%s) - t )) s: $(sql 'SELECT COUNT(*) FROM tagente_datos') numeric rows"
rm -f "$W/stop"
stream "$W/lat.idle" &
sleep "$IDLE"
touch "$W/stop"; wait

# locks: InnoDB's row lock waits and their total ms so far (a loader
# that waited for a purge's lock shows here).
locks() {
	sql "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME SEPARATOR ' ')
	    FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN
	    ('INNODB_ROW_LOCK_TIME', 'INNODB_ROW_LOCK_WAITS')"
}

# method NAME CMD...: run CMD while the stream runs; seconds, and the row
# lock waits and ms meanwhile, and the load average at the start.
method() {
	local name=$1 t0 t1 l0 l1
	shift
	rm -f "$W/stop"
	cut -d' ' -f1 /proc/loadavg > "$W/$name.load"
	l0=$(locks)
	stream "$W/lat.$name" &
	t0=$(date +%s.%N)
	"$@" > "$W/$name.out" 2>&1 || { cat "$W/$name.out" >&2; exit 1; }
	t1=$(date +%s.%N)
	touch "$W/stop"; wait
	l1=$(locks)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' > "$W/$name.secs"
	set -- $l0 $l1
	echo "$(($4 - $2)) $(($3 - $1))" > "$W/$name.locks"
}
method pandora perl bench/pandora-db-method.pl "$MYSQL_SOCKET" pandora "$NOW"
P_SECS=$(cat "$W/pandora.secs")
P_ROWS=$(rows pandora)
log "pandora: $P_SECS s, rows left $P_ROWS"

t=$(date +%s)
gen
log "generated again in $(( $(date +%s) - t )) s"
method db-purge "$BIN/db-purge" -d -c "$CONF" -t "$NOW"
D_SECS=$(cat "$W/db-purge.secs")
D_ROWS=$(rows db-purge)
log "db-purge: $D_SECS s, rows left $D_ROWS"
grep -E 'event=(purge.table|compact.done|run.done)' "$W/db-purge.out" >&2 || true

same=no
cmp -s "$W/rows.pandora" "$W/rows.db-purge" && same=yes
[ "$same" = yes ] || diff "$W/rows.pandora" "$W/rows.db-purge" | head -20 >&2
printf 'rows\tmethod\tseconds\trows_left\tsame\tdb-load_ms_p50\tp99\tmax\truns\tlock_waits\tlock_ms\tload\n'
printf '%s\tidle\t-\t-\t-\t%s\t-\t-\t-\n' "$N" "$(pct "$W/lat.idle" | tr ' ' '\t')"
printf '%s\tpandora_db.pl\t%s\t%s\t-\t%s\t%s\t%s\n' "$N" "$P_SECS" "${P_ROWS% *}" \
    "$(pct "$W/lat.pandora" | tr ' ' '\t')" "$(tr ' ' '\t' < "$W/pandora.locks")" \
    "$(cat "$W/pandora.load")"
printf '%s\tdb-purge\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$D_SECS" "${D_ROWS% *}" "$same" \
    "$(pct "$W/lat.db-purge" | tr ' ' '\t')" "$(tr ' ' '\t' < "$W/db-purge.locks")" \
    "$(cat "$W/db-purge.load")"
awk -v p="$P_SECS" -v d="$D_SECS" 'BEGIN { printf "time ratio pandora_db.pl / db-purge: %.2f\n", p / d }'
[ "$same" = yes ]
