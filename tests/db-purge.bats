#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# db-purge against the private MariaDB (tools/mariadb.sh, one server for
# the file, stopped by PID in teardown_file): exactly the rows older than
# each table's setting are deleted, in batches of batch_size; compaction
# gives pandora_db.pl's averages (the expectation computed here in SQL);
# tconfig wins over octospool.conf; --dry-run deletes nothing; a late sample
# stored during compaction is averaged in; SIGKILL mid-run and a rerun
# give the same rows as one run; Pandora's maintenance lock; the
# octo_db_purge account's grants; configuration errors exit 78.

load helpers

MDB=$TOOLS/mariadb.sh
# The clock of every run (-t): on the hour.
NOW=1789999200
H=3600
D=86400

setup_file() {
	db_start_file dp || return 1
}

teardown_file() {
	db_stop_file
}

setup() {
	# shellcheck disable=SC1091
	. "$DBDIR/env"
	export TZ=UTC
	mk_tmp
	CONF=$T/octospool.conf
	mkconf
	sql "TRUNCATE tagente_modulo; TRUNCATE tagente_datos;
	    TRUNCATE tagente_datos_string; TRUNCATE tagente_datos_inc;
	    TRUNCATE tevento; TRUNCATE tconfig"
}

teardown() {
	local clean=0
	# Every run's stderr: no sanitizer report anywhere.
	if [ -f "$T/dp.log" ] && grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/dp.log"; then
		clean=1
	fi
	rm -rf "$T"
	return "$clean"
}

# mkconf KEY VALUE...: the instance's configuration and [db-purge] keys.
mkconf() {
	{
		cat "$OCTO_DB_CONF"
		echo "[db-purge]"
		echo "user $RUN_USER"
		echo "batch_pause 0"
		while [ $# -ge 2 ]; do
			echo "$1 $2"
			shift 2
		done
	} > "$CONF"
}

# sql QUERY: as the administrator, tab-separated, no headers.
sql() {
	sh "$MDB" sql "$DBDIR" -N -B -e "$1" pandora
}

# dp ARGS...: db-purge at the fixed clock; its log in $T/dp.log.
dp() {
	"$BIN/db-purge" -d -c "$CONF" -t "$NOW" "$@" 2>> "$T/dp.log"
}

# lock_free: wait until the server has noticed that a killed run's
# connection is gone and released Pandora's maintenance lock.
lock_free() {
	for i in $(seq 1 100); do
		[ "$(sql "SELECT IS_USED_LOCK('pandora_pandora_db') IS NULL")" = 1 ] &&
		    return 0
		sleep 0.1
	done
	return 1
}

# modules: 1 and 3 generic_data, 2 generic_proc, 4 async_proc.
modules() {
	sql "INSERT INTO tagente_modulo (id_agente_modulo, id_agente,
	    id_tipo_modulo, nombre) VALUES (1, 1, 1, 'cpu'), (2, 1, 2, 'up'),
	    (3, 1, 1, 'mem'), (4, 1, 21, 'trap')"
}

# history DAYS EVERY: rows of modules 1-4 (and 9, which has no module
# row) every EVERY seconds over DAYS days before NOW, values varying.
history() {
	sql "INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp)
	    SELECT m.id, IF(m.id IN (2, 4), s.seq % 2,
	    (s.seq * 37 + m.id * 11) % 1000 / 8), $NOW - s.seq * $2 - m.id * 7
	    FROM seq_1_to_$(($1 * D / $2)) s,
	    (SELECT 1 AS id UNION SELECT 2 UNION SELECT 3 UNION SELECT 4
	    UNION SELECT 9) m"
}

# expect_compacted DAYS_COMPACT CUTOFF: the rows one run must leave in
# tagente_datos, computed here: rows older than CUTOFF gone; before
# NOW - DAYS_COMPACT days (on the hour), each hour of a module that is
# not boolean (*_proc) and has a module row becomes one row, the average
# at the start of the hour; everything else as it is.
expect_compacted() {
	local start=$((NOW - $1 * D))
	sql "DROP TABLE IF EXISTS expect;
	    CREATE TABLE expect AS
	    SELECT d.id_agente_modulo AS id, SUM(d.datos) / COUNT(*) AS datos,
	    FLOOR(d.utimestamp / $H) * $H AS ut FROM tagente_datos d
	    JOIN tagente_modulo m USING (id_agente_modulo)
	    JOIN ttipo_modulo t ON t.id_tipo = m.id_tipo_modulo
	    WHERE t.nombre NOT LIKE '%\\_proc' AND d.utimestamp < $start
	    AND d.utimestamp >= $2
	    GROUP BY d.id_agente_modulo, FLOOR(d.utimestamp / $H)
	    UNION ALL
	    SELECT d.id_agente_modulo, d.datos, d.utimestamp
	    FROM tagente_datos d LEFT JOIN tagente_modulo m
	    USING (id_agente_modulo) LEFT JOIN ttipo_modulo t
	    ON t.id_tipo = m.id_tipo_modulo
	    WHERE d.utimestamp >= $2 AND (d.utimestamp >= $start
	    OR t.nombre IS NULL OR t.nombre LIKE '%\\_proc')"
	sql "SELECT id, ROUND(datos, 6), ut FROM expect ORDER BY 1, 3, 2" \
	    > "$T/expect"
}

# rows: tagente_datos as expect_compacted writes it.
rows() {
	sql "SELECT id_agente_modulo, ROUND(datos, 6), utimestamp FROM
	    tagente_datos ORDER BY 1, 3, 2"
}

@test "purge deletes exactly the rows older than each table's days, and nothing else" {
	mkconf days_purge 10 string_purge 5 event_purge 3 days_compact 0
	for t in 10 5 3; do
		c=$((NOW - t * D))
		case $t in
		10) tb=tagente_datos; v="1, 1.5" ;;
		5) tb=tagente_datos_string; v="1, 'x'" ;;
		3) tb=tevento; v=""
		esac
		if [ "$tb" = tevento ]; then
			sql "INSERT INTO tevento (id_agente, evento, utimestamp)
			    VALUES (1, 'old', 1), (1, 'old', $((c - 1))),
			    (1, 'edge', $c), (1, 'new', $((c + 1))), (1, 'new', $NOW)"
		else
			sql "INSERT INTO $tb (id_agente_modulo, datos, utimestamp)
			    VALUES ($v, 1), ($v, $((c - 1))), ($v, $c),
			    ($v, $((c + 1))), ($v, $NOW)"
		fi
	done
	# The counters of incremental modules are no history.
	sql "INSERT INTO tagente_datos_inc (id_agente_modulo, datos,
	    utimestamp) VALUES (5, 42, 1)"
	run dp
	assert_success
	for tc in "tagente_datos 10" "tagente_datos_string 5" "tevento 3"; do
		set -- $tc
		c=$((NOW - $2 * D))
		run sql "SELECT utimestamp FROM $1 ORDER BY 1"
		assert_output "$(printf '%s\n%s\n%s' "$c" $((c + 1)) "$NOW")"
	done
	run sql "SELECT datos, utimestamp FROM tagente_datos_inc"
	assert_output "$(printf '42\t1')"
	grep -q 'event=purge.table table=tagente_datos days_purge=10 cutoff='$((NOW - 10 * D))' rows=2 ' "$T/dp.log"
	grep -q 'event=purge.table table=tevento event_purge=3 .* rows=2 ' "$T/dp.log"
	# 0 keeps the table's history, as pandora_db.pl.
	mkconf days_purge 0 string_purge 0 event_purge 0
	sql "INSERT INTO tagente_datos VALUES (1, 1, 1)"
	run dp
	assert_success
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos WHERE utimestamp = 1')" -eq 1 ]
	grep -q 'event=purge.skip table=tagente_datos key=days_purge value=0' "$T/dp.log"
}

@test "batches are bounded: batch_size rows each, one autocommit DELETE per batch" {
	mkconf days_purge 1 batch_size 50
	sql "INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp)
	    SELECT seq % 7, seq, $NOW - 2 * $D - seq FROM seq_1_to_1020"
	run dp -v
	assert_success
	grep -q 'event=purge.table table=tagente_datos days_purge=1 .* rows=1020 batches=21 batch_size=50 max_batch=50 ' "$T/dp.log"
	[ "$(grep -c 'event=purge.batch table=tagente_datos rows=50$' "$T/dp.log")" -eq 20 ]
	grep -q 'event=purge.batch table=tagente_datos rows=20$' "$T/dp.log"
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos')" -eq 0 ]
}

@test "--dry-run reports what it would delete and compact, and changes nothing; -n checks the configuration" {
	mkconf days_purge 2 days_compact 1
	modules
	history 3 600
	before=$(rows | sha256sum)
	old=$(sql "SELECT COUNT(*) FROM tagente_datos WHERE utimestamp < $((NOW - 2 * D))")
	[ "$old" -gt 500 ]
	run dp -n
	assert_success
	assert_output --partial "db-purge: configuration ok"
	[ "$(rows | sha256sum)" = "$before" ]
	run dp --dry-run
	assert_success
	grep -q 'event=purge.plan table=tagente_datos days_purge=2 cutoff='$((NOW - 2 * D))' rows='"$old"' ' "$T/dp.log"
	grep -q 'event=compact.plan .* intervals=' "$T/dp.log"
	grep -q 'event=run.done dry_run=1 ' "$T/dp.log"
	[ "$(rows | sha256sum)" = "$before" ]
}

@test "tconfig settings win over octospool.conf; 'tconfig no' ignores them" {
	mkconf days_purge 10
	sql "INSERT INTO tagente_datos VALUES (1, 1, $((NOW - 15 * D))),
	    (1, 1, $((NOW - 25 * D)));
	    INSERT INTO tconfig (token, value) VALUES ('days_purge', '20'),
	    ('string_purge', '4'), ('unrelated', 'x')"
	run dp
	assert_success
	grep -q 'event=setting key=days_purge value=20 source=tconfig' "$T/dp.log"
	grep -q 'event=setting key=string_purge value=4 source=tconfig' "$T/dp.log"
	grep -q 'event=setting key=event_purge value=10 source=default' "$T/dp.log"
	run sql "SELECT utimestamp FROM tagente_datos"
	assert_output $((NOW - 15 * D))
	mkconf days_purge 10 tconfig no
	run dp
	assert_success
	grep -q 'event=setting key=days_purge value=10 source=conf' "$T/dp.log"
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos')" -eq 0 ]
}

@test "compaction leaves pandora_db.pl's averages per module and hour (SQL expectation); a second run changes nothing" {
	mkconf days_purge 3 days_compact 1 step_compact 1 batch_size 40
	modules
	history 4 600
	expect_compacted 1 $((NOW - 3 * D))
	procs=$(sql "SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo
	    IN (2, 4, 9) AND utimestamp >= $((NOW - 3 * D))")
	run dp
	assert_success
	rows > "$T/got"
	diff -u "$T/expect" "$T/got"
	# Boolean modules and rows without a module are never averaged.
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo IN (2, 4, 9)")" -eq "$procs" ]
	grep -q 'event=compact.done days_compact=1 step_compact=1 start='$((NOW - D))' ' "$T/dp.log"
	run dp
	assert_success
	rows > "$T/got2"
	cmp "$T/got" "$T/got2"
	grep 'event=compact.done' "$T/dp.log" | tail -1 | grep -q ' intervals=0 rows_in=0 '
}

@test "tconfig's step_compact and days_compact drive compaction, as the console's settings" {
	mkconf days_purge 30
	modules
	history 2 600
	sql "INSERT INTO tconfig (token, value) VALUES ('days_compact', '1'),
	    ('step_compact', '2')"
	want=$(sql "SELECT COUNT(DISTINCT FLOOR(utimestamp / 7200)) FROM
	    tagente_datos WHERE utimestamp < $((NOW - D)) AND id_agente_modulo = 1")
	[ "$want" -ge 12 ]
	run dp
	assert_success
	# Every non-boolean hour pair before NOW - 1 day: one row at an even hour.
	run sql "SELECT COUNT(*) FROM tagente_datos WHERE utimestamp < $((NOW - D))
	    AND id_agente_modulo IN (1, 3) AND utimestamp % 7200 <> 0"
	assert_output 0
	run sql "SELECT COUNT(*) FROM tagente_datos WHERE utimestamp < $((NOW - D))
	    AND id_agente_modulo = 1"
	assert_output "$want"
}

@test "SIGKILL mid-purge and mid-compaction, then a rerun: the rows of one uninterrupted run" {
	mkconf days_purge 3 days_compact 1 batch_size 10 batch_pause 20
	modules
	history 4 600
	expect_compacted 1 $((NOW - 3 * D))
	# Killed during the purge ...
	"$BIN/db-purge" -d -v -c "$CONF" -t "$NOW" 2>> "$T/dp.log" & pid=$!
	for i in $(seq 1 200); do
		grep -q 'event=purge.batch' "$T/dp.log" 2>/dev/null && break
		sleep 0.05
	done
	kill -KILL "$pid"
	wait "$pid" || true
	lock_free
	grep -q 'event=purge.batch' "$T/dp.log"
	! grep -q 'event=run.done' "$T/dp.log" || false
	# ... and, run again, during the compaction.
	: > "$T/dp.log"
	"$BIN/db-purge" -d -v -c "$CONF" -t "$NOW" 2>> "$T/dp.log" & pid=$!
	for i in $(seq 1 400); do
		[ "$(grep -c 'event=compact.batch' "$T/dp.log" 2>/dev/null)" -ge 3 ] && break
		sleep 0.05
	done
	kill -KILL "$pid"
	wait "$pid" || true
	lock_free
	grep -q 'event=compact.batch' "$T/dp.log"
	! grep -q 'event=run.done' "$T/dp.log" || false
	# The lock died with the connection: the rerun takes it.
	run dp
	assert_success
	grep -q 'event=run.done dry_run=0' "$T/dp.log"
	rows > "$T/got"
	diff -u "$T/expect" "$T/got"
}

@test "a late sample stored between compaction's read and its DELETE: rolled back, read again, averaged in" {
	mkconf days_purge 3 days_compact 1
	modules
	history 2 600
	mkdir "$T/pause"
	chmod 0777 "$T/pause"	# db-purge runs as the service user
	PIPELINE_PAUSE_AT=compact PIPELINE_PAUSE_FILE=$T/pause/p \
	    "$BIN/db-purge" -d -c "$CONF" -t "$NOW" 2>> "$T/dp.log" &
	pid=$!
	for i in $(seq 1 500); do [ -f "$T/pause/p" ] && break; sleep 0.01; done
	[ -f "$T/pause/p" ]
	# The newest interval is read; db-load stores a late sample in it.
	sql "INSERT INTO tagente_datos VALUES (1, 1000, $((NOW - D - 100)))"
	expect_compacted 1 $((NOW - 3 * D))
	while kill -0 "$pid" 2>/dev/null; do rm -f "$T/pause/p"; sleep 0.01; done
	wait "$pid"
	grep -q 'event=compact.race lo='$((NOW - D - H)) "$T/dp.log"
	rows > "$T/got"
	diff -u "$T/expect" "$T/got"
}

@test "Pandora's maintenance lock: while pandora_db.pl (or another db-purge) holds it, a run exits 0 and deletes nothing" {
	mkconf days_purge 1
	sql "INSERT INTO tagente_datos VALUES (1, 1, 1)"
	lock_free
	sql "SELECT GET_LOCK('pandora_pandora_db', 0), SLEEP(4)" > "$T/holder" &
	holder=$!
	for i in $(seq 1 40); do
		[ "$(sql "SELECT IS_USED_LOCK('pandora_pandora_db') IS NOT NULL")" = 1 ] && break
		sleep 0.1
	done
	run dp
	st=$status
	wait "$holder"
	# The holder had the lock (1) all along.
	grep -q '^1' "$T/holder"
	[ "$st" -eq 0 ]
	grep -q 'event=run.busy' "$T/dp.log"
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos')" -eq 1 ]
	! grep -q 'event=purge.table' "$T/dp.log"
}

@test "the octo_db_purge account deletes history and nothing else" {
	acct() {
		sh "$MDB" sql "$DBDIR" octo_db_purge -N -B -e "$1" pandora
	}
	modules
	sql "INSERT INTO tagente (nombre, alias) VALUES ('a', 'a');
	    INSERT INTO tagente_datos VALUES (1, 1, 1)"
	for q in "INSERT INTO tagente (nombre) VALUES ('x')" \
	    "UPDATE tagente SET alias = 'x'" "DELETE FROM tagente" \
	    "UPDATE tagente_datos SET datos = 2" \
	    "INSERT INTO tagente_datos_string VALUES (1, 'x', 1)" \
	    "INSERT INTO tevento (evento) VALUES ('x')" \
	    "DELETE FROM tagente_modulo" "DELETE FROM tagente_estado" \
	    "DELETE FROM tagente_datos_inc" "SELECT nombre FROM tagente_modulo" \
	    "UPDATE tconfig SET value = '1'" "DELETE FROM tconfig" \
	    "DELETE FROM octo_loaded_file" "TRUNCATE tagente_datos" \
	    "DROP TABLE tevento" "SELECT * FROM tagente"; do
		run acct "$q"
		assert_failure
		assert_output --regexp "denied|command denied"
	done
	run acct "SELECT id_agente_modulo, id_tipo_modulo FROM tagente_modulo WHERE id_agente_modulo = 2"
	assert_success
	run acct "INSERT INTO tagente_datos VALUES (7, 1.25, 5)"
	assert_success
	run acct "DELETE FROM tagente_datos WHERE utimestamp < 10"
	assert_success
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos')" -eq 0 ]
}

@test "bad configuration: exit 78 with the reason logged" {
	mkconf days_purge ten
	run dp
	[ "$status" -eq 78 ]
	grep -q 'event=config.error section=db-purge key=days_purge' "$T/dp.log"
	mkconf step_compact -1
	run dp
	[ "$status" -eq 78 ]
	mkconf purge_days 3
	run dp
	[ "$status" -eq 78 ]
	grep -q 'event=config.error msg=.*purge_days' "$T/dp.log"
	mkconf batch_size 0
	run dp -n
	[ "$status" -eq 78 ]
	mkconf load_share 0
	run dp -n
	[ "$status" -eq 78 ]
	grep -q 'event=config.error section=db-purge key=load_share' "$T/dp.log"
	# A console setting that is no whole number is not guessed at.
	mkconf
	sql "INSERT INTO tconfig (token, value) VALUES ('days_purge', '30 days')"
	sql "INSERT INTO tagente_datos VALUES (1, 1, 1)"
	run dp
	[ "$status" -eq 78 ]
	grep -q 'event=config.error source=tconfig token=days_purge value="30 days"' "$T/dp.log"
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos')" -eq 1 ]
	# A wrong password is the operator's too.
	echo wrong > "$T/pw"
	chmod 0640 "$T/pw"
	[ "$(id -u)" -ne 0 ] || chgrp "$RUN_GROUP" "$T/pw"
	mkconf db_password_file "$T/pw"
	run dp
	[ "$status" -eq 78 ]
	grep -q 'event=db.error step=connect class=config' "$T/dp.log"
	run "$BIN/db-purge" -x
	[ "$status" -eq 64 ]
	run "$BIN/db-purge" -V
	assert_output --regexp '^db-purge [0-9]'
}

@test "database down: exit 75 (retry later)" {
	mkconf db_port 1 db_retry_time 0
	run dp
	[ "$status" -eq 75 ]
	grep -q 'event=db.error step=connect class=temp' "$T/dp.log"
}
