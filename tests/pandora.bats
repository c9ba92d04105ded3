#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# db-load as a drop-in on a real Pandora FMS database: each of Pandora's
# own schemas (July 2023 and 7.0NG.776, from ../shared/reference/pandora,
# never copied into the project) loaded into a private MariaDB started as
# Pandora's installer configures its server (sql_mode ""), octospool's
# tables and accounts added by "db-load --init", and the real samples and
# variants loaded: the rows must be those db-load writes on octospool's
# own minimal tables, column for column, and those Pandora's own data
# server writes where they differ from octospool's earlier versions
# (events).  Also: the schema check (exit 78 with the list, nothing
# written) and two writers on one agent's counters.
#
# The schemas are not part of the project (Pandora's licence): without
# them this file is skipped with a message, never silently.  It finds
# them in $OCTO_PANDORA_SCHEMAS, or ../shared/reference/pandora next to
# this checkout or to the repository it was cloned from.

load helpers

MDB=$TOOLS/mariadb.sh

# find_schemas: the directory of the reference schemas, or nothing.
find_schemas() {
	local top origin d
	top=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	for d in "${OCTO_PANDORA_SCHEMAS:-}" "$top/../shared/reference/pandora"; do
		[ -n "$d" ] && [ -f "$d/pandoradb-7.0NG.776.sql" ] && { echo "$d"; return; }
	done
	origin=$(git -C "$top" config --get remote.origin.url 2>/dev/null || true)
	case $origin in
	/*) d="$origin/../shared/reference/pandora"
	    [ -f "$d/pandoradb-7.0NG.776.sql" ] && echo "$d" ;;
	esac
}

# start_db NAME [SCHEMA]: a private MariaDB in $DBS/NAME; with SCHEMA, a
# Pandora pandoradb.sql under Pandora's server settings.
start_db() {
	local dir=$DBS/$1
	if [ -n "${2:-}" ]; then
		OCTO_PANDORA_SCHEMA=$2 OCTO_DB_OPTS="--sql-mode=" \
		    OCTO_DB_GROUP=$RUN_GROUP sh "$MDB" start "$dir" > "$DBS/$1.log" 2>&1
	else
		OCTO_DB_GROUP=$RUN_GROUP sh "$MDB" start "$dir" > "$DBS/$1.log" 2>&1
	fi
}

setup_file() {
	SCHEMAS=$(find_schemas)
	export SCHEMAS
	[ -n "$SCHEMAS" ] || return 0
	DBS=$(mktemp -d /tmp/octo-pandora.XXXXXX)
	chmod 0755 "$DBS"
	export DBS
	start_db min
	start_db p2023 "$SCHEMAS/pandoradb-2023-07.sql"
	start_db p776 "$SCHEMAS/pandoradb-7.0NG.776.sql"
	# A Pandora database has its groups and module types from its
	# installer's data file (not in the reference): the same rows.
	for v in p2023 p776; do
		sed -n '/^INSERT IGNORE INTO `tgrupo`/,$p' \
		    "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql" |
		    sh "$MDB" sql "$DBS/$v" pandora
	done
}

teardown_file() {
	[ -n "${DBS:-}" ] || return 0
	for v in min p2023 p776; do
		[ -d "$DBS/$v" ] && sh "$MDB" stop "$DBS/$v" > /dev/null 2>&1 || true
	done
	rm -rf "$DBS"
}

setup() {
	[ -n "$SCHEMAS" ] || skip "Pandora's reference schemas are not here (../shared/reference/pandora, or set OCTO_PANDORA_SCHEMAS): they are not part of the project"
	export TZ=UTC
	mk_tmp
	mk_keys
}

teardown() {
	[ -n "${T:-}" ] || return 0
	if [ -f "$T/dl.log" ] && grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/dl.log" >&2; then
		rm -rf "$T"
		return 1
	fi
	rm -rf "$T"
}

# sql DB QUERY: as the administrator of that instance.
sql() {
	sh "$MDB" sql "$DBS/$1" -N -B -e "$2" pandora
}

# conf DB [KEY VALUE...]: db-load's configuration for that instance.
conf() {
	local db=$1
	shift
	mk_spool "$T/spool-$db"
	{
		echo "spool_dir $T/spool-$db"
		echo "idle_exit 0"
		cat "$DBS/$db/octospool-db.conf"
		echo "[db-load]"
		echo "user $RUN_USER"
		echo "producer $RUN_USER"
		echo "auth_pubkey none"
		echo "allow_create yes"
		while [ $# -ge 2 ]; do
			echo "$1 $2"
			shift 2
		done
	} > "$T/$db.conf"
}

# load DB FILE...: the files into the instance's queue, then one drain.
load() {
	local db=$1 f
	shift
	for f in "$@"; do
		cp "$f" "$T/spool-$db/db-load/new/"
	done
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$T/spool-$db"
	"$BIN/db-load" -c "$T/$db.conf" -d 2>> "$T/dl.log"
}

reset() {
	# Pandora's schema has foreign keys to tagente (GIS, policies...).
	sql "$1" "SET FOREIGN_KEY_CHECKS = 0; TRUNCATE tagente; TRUNCATE tagente_modulo; TRUNCATE tagente_estado;
	    TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento; TRUNCATE octo_loaded_file"
}

# dump DB: every column db-load writes, in a stable order, with the
# server's clock (ultimo_contacto, event times) left out.
dump() {
	sql "$1" "SELECT id_agente, nombre, alias, direccion, comentarios, id_grupo, id_os,
	    server_name, intervalo, id_parent, modo, custom_id, url_address, timezone_offset,
	    disabled, os_version, agent_version, ultimo_contacto_remoto, normal_count,
	    warning_count, critical_count, unknown_count, notinit_count, total_count,
	    update_module_count FROM tagente ORDER BY id_agente"
	sql "$1" "SELECT id_agente_modulo, id_agente, id_tipo_modulo, nombre, descripcion,
	    extended_info, unit, id_modulo, module_interval, cron_interval, max, min,
	    post_process, min_warning, max_warning, str_warning, min_critical, max_critical,
	    str_critical, warning_inverse, critical_inverse, min_ff_event, min_ff_event_normal,
	    min_ff_event_warning, min_ff_event_critical, ff_type, each_ff, ff_timeout,
	    module_ff_interval, custom_id, critical_instructions, warning_instructions,
	    unknown_instructions, disabled_types_event, module_macros, quiet, disabled,
	    parent_module_id FROM tagente_modulo ORDER BY id_agente_modulo"
	sql "$1" "SELECT id_agente_modulo, id_agente, datos, estado, known_status, last_status,
	    last_known_status, status_changes, utimestamp, timestamp, current_interval,
	    ff_start_utimestamp, ff_normal, ff_warning, ff_critical
	    FROM tagente_estado ORDER BY id_agente_modulo"
	sql "$1" "SELECT * FROM tagente_datos ORDER BY 1, 3, 2"
	sql "$1" "SELECT * FROM tagente_datos_string ORDER BY 1, 3, 2"
	sql "$1" "SELECT * FROM tagente_datos_inc ORDER BY 1"
	sql "$1" "SELECT id_agente, id_grupo, estado, event_type, id_agentmodule, id_alert_am,
	    criticity, tags, source, id_extra, id_usuario, critical_instructions,
	    warning_instructions, unknown_instructions, owner_user, custom_data, data,
	    module_status, ack_utimestamp > 0,
	    REPLACE(evento, '$(hostname)', 'HOST') FROM tevento ORDER BY id_evento"
}

@test "Pandora's installer settings: sql_mode \"\", and both reference schemas are there" {
	for v in p2023 p776; do
		run sql "$v" "SELECT @@GLOBAL.sql_mode"
		assert_output ""
		[ "$(sql "$v" "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'pandora' AND TABLE_NAME NOT LIKE 'octo%'")" -gt 200 ]
	done
	# The differences the issue was about: 776 has no user_comment and
	# has last_compact (TIMESTAMP NOT NULL DEFAULT 0).
	run sql p776 "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'pandora' AND TABLE_NAME = 'tevento' AND COLUMN_NAME = 'user_comment'"
	assert_output 0
	run sql p776 "SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'pandora' AND TABLE_NAME = 'tagente_modulo' AND COLUMN_NAME = 'last_compact'"
	assert_output "'0000-00-00 00:00:00'"
	run sql p2023 "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'pandora' AND TABLE_NAME = 'tevento' AND COLUMN_NAME = 'user_comment'"
	assert_output 1
}

@test "--check-schema passes on both Pandora schemas and on octospool's own tables" {
	for v in min p2023 p776; do
		conf "$v"
		run "$BIN/db-load" -c "$T/$v.conf" --check-schema
		assert_success
		assert_output --partial "has every table, column and module type"
	done
}

@test "the samples and variants load into both Pandora schemas with the same rows as into octospool's tables" {
	files=("$DATA"/samples/*.data "$DATA"/variants/*.data)
	for v in min p2023 p776; do
		reset "$v"
		conf "$v"
		run load "$v" "${files[@]}"
		assert_success
		[ "$(ls "$T/spool-$v/db-load/new" | wc -l)" -eq 0 ]
		# The server's clock (times of loading, of files without one)
		# differs from run to run by a second or two: "NOW".
		dump "$v" | awk -v now="$(date +%s)" -v today="$(date -u +%F)" '
		    BEGIN { FS = OFS = "\t" }
		    { for (i = 1; i <= NF; i++)
			if (($i ~ /^[0-9]+$/ && $i > now - 3600 && $i < now + 3600) ||
			    index($i, today) == 1) $i = "NOW"
		      print }' > "$T/$v.dump"
	done
	grep -q 'event=schema' "$T/dl.log" && { grep 'event=schema' "$T/dl.log" >&3; false; }
	# Every row db-load wrote is the same on the three databases.
	diff -u "$T/min.dump" "$T/p2023.dump"
	diff -u "$T/min.dump" "$T/p776.dump"
	# ...and the same files were refused everywhere (v16: a server file).
	for v in p2023 p776; do
		diff <(ls "$T/spool-min/db-load/reject") <(ls "$T/spool-$v/db-load/reject")
	done
	[ "$(sql p776 "SELECT COUNT(*) FROM tagente")" -gt 10 ]
	[ "$(sql p776 "SELECT COUNT(*) FROM tagente_datos")" -gt 100 ]
	# Pandora's own columns kept their defaults: last_compact is the
	# zero date the schema declares (sql_mode "" lets the server keep it;
	# db-load's strict session neither needs nor refuses it).
	run sql p776 "SELECT COUNT(*), MIN(last_compact) FROM tagente_modulo"
	assert_output --regexp "^[0-9]+	0000-00-00 00:00:00$"
	run sql p2023 "SELECT COUNT(*) FROM tevento WHERE user_comment IS NOT NULL"
	assert_output 0
	run sql p776 "SELECT COUNT(*) FROM tevento WHERE event_custom_id IS NULL OR event_custom_id <> ''"
	assert_output 0
}

@test "events as Pandora's data server writes them: alias, encoded data, no user, acknowledged when created validated" {
	reset p776
	conf p776
	run load p776 "$DATA"/samples/*.data
	assert_success
	run sql p776 "SELECT evento, id_usuario, ack_utimestamp, estado FROM tevento WHERE event_type = 'new_agent' ORDER BY id_agente LIMIT 1"
	assert_output "$(printf 'Agent&#x20;[Research&#x20;Agent&#x20;01]&#x20;created&#x20;by&#x20;%s\t\t0\t0' "$(hostname)")"
	# A string module going critical, then back to normal.
	ts() { date -u -d "@$1" '+%Y/%m/%d %H:%M:%S'; }
	now=$(date +%s)
	for i in 1 2; do
		case $i in 1) val='FreeBSD 14.1-RELEASE' ;; 2) val='ok' ;; esac
		printf "<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='evt-host' interval='300' timestamp='%s'><module><name>OS</name><type>generic_data_string</type><data><![CDATA[%s]]></data><str_critical>FreeBSD</str_critical></module></agent_data>\n" \
		    "$(ts $((now - 100 + i)))" "$val" > "$T/evt.$i.data"
		run load p776 "$T/evt.$i.data"
		assert_success
	done
	run sql p776 "SELECT event_type, estado, data, id_usuario, ack_utimestamp > 0 FROM tevento WHERE id_agentmodule <> 0 ORDER BY id_evento"
	assert_output "$(printf 'going_up_critical\t1\tFreeBSD&#x20;14.1-RELEASE\t\t1\ngoing_down_normal\t1\tok\t\t1')"
}

@test "a database that lacks what db-load needs: exit 78 with every problem, nothing written" {
	conf p2023
	reset p2023
	sql p2023 "CREATE DATABASE IF NOT EXISTS broken"
	sql p2023 "DROP DATABASE broken; CREATE DATABASE broken"
	sh "$MDB" sql "$DBS/p2023" broken < "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql"
	sh "$MDB" sql "$DBS/p2023" broken < "$BATS_TEST_DIRNAME/../etc/sql/octo.sql"
	sql p2023 "GRANT SELECT, INSERT, UPDATE ON broken.* TO 'octo_db_load'@'127.0.0.1'"
	sql p2023 "ALTER TABLE broken.tagente_modulo DROP COLUMN str_warning;
	    ALTER TABLE broken.tagente MODIFY intervalo VARCHAR(10);
	    ALTER TABLE broken.tevento ADD COLUMN mandatory INT NOT NULL;
	    ALTER TABLE broken.tevento MODIFY event_type ENUM('unknown', 'new_agent');
	    DELETE FROM broken.ttipo_modulo WHERE nombre = 'async_string'"
	printf 'db_name broken\n' >> "$T/p2023.conf"
	run "$BIN/db-load" -c "$T/p2023.conf" --check-schema
	assert_failure 78
	assert_output --partial 'table=tagente_modulo column=str_warning msg="missing: db-load reads and writes it'
	assert_output --partial 'table=tagente column=intervalo msg="type varchar(10): db-load needs an integer type"'
	assert_output --partial 'table=tevento column=mandatory msg="NOT NULL without a default, and db-load does not write it'
	assert_output --partial "table=tevento column=event_type msg=\"the enum has no value 'going_up_critical'"
	assert_output --partial "table=ttipo_modulo column=- msg=\"no module type named 'async_string'\""
	# Draining: nothing written, every item stays, exit 78.
	cp "$DATA"/samples/*.data "$T/spool-p2023/db-load/new/"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$T/spool-p2023"
	run "$BIN/db-load" -c "$T/p2023.conf" -d
	assert_failure 78
	assert_output --partial "event=schema.fail problems="
	[ "$(ls "$T/spool-p2023/db-load/new" | wc -l)" -eq "$(ls "$DATA"/samples/*.data | wc -l)" ]
	[ "$(ls "$T/spool-p2023/db-load/reject" | wc -l)" -eq 0 ]
	run sql p2023 "SELECT (SELECT COUNT(*) FROM broken.tagente) + (SELECT COUNT(*) FROM broken.octo_loaded_file)"
	assert_output 0
	sql p2023 "DROP DATABASE broken"
}

@test "--init on a Pandora database adds only octospool's tables and accounts" {
	for v in p2023 p776; do
		sql "$v" "DROP DATABASE IF EXISTS fresh; CREATE DATABASE fresh DEFAULT CHARSET utf8mb4"
		{ echo "SET SESSION sql_mode = '';"; cat "$SCHEMAS/pandoradb-$([ "$v" = p776 ] && echo 7.0NG.776 || echo 2023-07).sql"; } |
		    sh "$MDB" sql "$DBS/$v" fresh
		sed -n '/^INSERT IGNORE INTO `tgrupo`/,$p' "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql" |
		    sh "$MDB" sql "$DBS/$v" fresh
		before=$(sql "$v" "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'fresh' ORDER BY 1, 2" | sha256sum)
		conf "$v"
		{
			printf '[db-dba]\ndb_protocol socket\ndb_socket %s\ndb_user root\ndb_name fresh\n' "$DBS/$v/mysqld.sock"
			printf '[db-admin]\ndb_name fresh\ngrant_host 127.0.0.1\n'
			printf '[db]\nname fresh\n'
		} >> "$T/$v.conf"
		run "$BIN/db-load" -c "$T/$v.conf" --init --dba db-dba
		assert_success
		after=$(sql "$v" "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'fresh' AND TABLE_NAME NOT LIKE 'octo%' ORDER BY 1, 2" | sha256sum)
		[ "$before" = "$after" ]
		# The loader's own account can now load there.
		run load "$v" "$DATA"/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
		assert_success
		[ "$(sql "$v" "SELECT COUNT(*) FROM fresh.tagente")" -eq 1 ]
		sql "$v" "DROP DATABASE fresh"
	done
}

@test "two writers on one agent: the counters count every module, also one another server added meanwhile or flagged" {
	reset p776
	conf p776
	ts() { date -u -d "@$1" '+%Y/%m/%d %H:%M:%S'; }
	now=$(date +%s)
	for i in 1 2 3; do
		printf "<?xml version='1.0'?>\n<agent_data agent_name='busy' interval='60' timestamp='%s'>%s%s</agent_data>\n" \
		    "$(ts $((now - 400 + i)))" \
		    "<module><name>A</name><type>generic_data</type><data>$i</data></module>" \
		    "<module><name>B</name><type>generic_data</type><data>$((i * 100))</data><min_critical>250</min_critical></module>" \
		    > "$T/busy.$i.data"
	done
	load p776 "$T/busy.1.data"
	id=$(sql p776 "SELECT id_agente FROM tagente WHERE nombre = 'busy'")
	# db-load stops just before its COMMIT, holding the agent's row...
	cp "$T/busy.2.data" "$T/busy.3.data" "$T/spool-p776/db-load/new/"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$T/spool-p776"
	mkdir "$T/pause"
	chmod 0777 "$T/pause"	# db-load runs as the service user
	PIPELINE_PAUSE_AT=precommit PIPELINE_PAUSE_FILE=$T/pause/paused \
	    "$BIN/db-load" -c "$T/p776.conf" -d 2>> "$T/dl.log" 3>&- &
	pid=$!
	for _ in $(seq 1 500); do [ -f "$T/pause/paused" ] && break; sleep 0.01; done
	[ -f "$T/pause/paused" ]
	# ...when Pandora's network server adds a remote module to the agent
	# (new rows of its own, committed at once).
	run sql p776 "SET SESSION innodb_lock_wait_timeout = 1; BEGIN;
	    SELECT id_agente FROM tagente WHERE id_agente = $id FOR UPDATE"
	assert_failure	# db-load holds the agent's row
	sql p776 "INSERT INTO tagente_modulo (id_agente, id_tipo_modulo, nombre, id_modulo) VALUES ($id, 2, 'ping', 2);
	    INSERT INTO tagente_estado (id_agente_modulo, id_agente, estado) VALUES (LAST_INSERT_ID(), $id, 3)"
	rm "$T/pause/paused"
	wait "$pid"
	# The counters are the database's own count at db-load's commit: the
	# other server's unknown module included, nothing of it lost.
	run sql p776 "SELECT normal_count, critical_count, unknown_count, total_count FROM tagente WHERE id_agente = $id"
	assert_output "$(printf '1\t1\t1\t3')"
	want=$(sql p776 "SELECT SUM(e.estado = 0), SUM(e.estado = 1), SUM(e.estado = 3), COUNT(*) FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo) WHERE m.id_agente = $id AND m.disabled = 0 AND m.id_modulo <> 0")
	assert_output "$want"
	# Another module added between two files, its agent flagged as
	# Pandora's servers flag it (update_module_count = 1); the next file
	# moves no status (B stays critical), and still its commit counts
	# the new module and clears the flag.
	sql p776 "INSERT INTO tagente_modulo (id_agente, id_tipo_modulo, nombre, id_modulo) VALUES ($id, 2, 'ping2', 2);
	    INSERT INTO tagente_estado (id_agente_modulo, id_agente, estado) VALUES (LAST_INSERT_ID(), $id, 3);
	    UPDATE tagente SET update_module_count = 1 WHERE id_agente = $id"
	printf "<?xml version='1.0'?>\n<agent_data agent_name='busy' interval='60' timestamp='%s'>%s%s</agent_data>\n" \
	    "$(ts $((now - 400 + 4)))" \
	    "<module><name>A</name><type>generic_data</type><data>4</data></module>" \
	    "<module><name>B</name><type>generic_data</type><data>400</data><min_critical>250</min_critical></module>" \
	    > "$T/busy.4.data"
	load p776 "$T/busy.4.data"
	run sql p776 "SELECT normal_count, critical_count, unknown_count, total_count, update_module_count FROM tagente WHERE id_agente = $id"
	assert_output "$(printf '1\t1\t2\t4\t0')"
}
