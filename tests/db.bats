#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The private MariaDB (tools/mariadb.sh), the schema in etc/sql, the
# per-tool accounts and lib/db (through tests/tools/tt-db): TLS refusals,
# grants, socket, statements, error classes, reconnect, and stop by PID.
# One server for the whole file; teardown_file stops it whatever happens.

load helpers

MDB=$TOOLS/mariadb.sh
EXPECT=$DATA/db

setup_file() {
	# Short path: the unix socket lives in it (sun_path is 108 bytes).
	DBDIR=$(mktemp -d /tmp/octo-db.XXXXXX)
	export DBDIR
	if ! sh "$MDB" start "$DBDIR" > "$BATS_FILE_TMPDIR/start.log" 2>&1
	then
		cat "$BATS_FILE_TMPDIR/start.log" >&2
		sh "$MDB" stop "$DBDIR" || true
		return 1
	fi
}

teardown_file() {
	for d in "${DBDIR:-}" "${DBDIR:-}.user"; do
		if [ -z "$d" ] || [ ! -d "$d" ]; then
			continue
		fi
		sh "$MDB" stop "$d" || true
		rm -rf "$d"
	done
	if [ -n "${DBDIR:-}" ]; then
		rm -rf "$DBDIR.tree"
	fi
}

setup() {
	# shellcheck disable=SC1091
	. "$DBDIR/env"
	CONF=$OCTO_DB_CONF
	W=$BATS_TEST_TMPDIR
}

teardown() {
	# The second server of the host-list test, and the first writable.
	if [ -f "$BATS_FILE_TMPDIR/second" ]; then
		sh "$MDB" stop "$(cat "$BATS_FILE_TMPDIR/second")" > /dev/null 2>&1 || true
		rm -rf "$(cat "$BATS_FILE_TMPDIR/second")"
		rm -f "$BATS_FILE_TMPDIR/second"
		admin -e 'SET GLOBAL read_only = 0' || true
	fi
	# A test that swapped the server certificate puts it back.
	if [ -f "$BATS_FILE_TMPDIR/good.crt" ]; then
		cat "$BATS_FILE_TMPDIR/good.crt" > "$DBDIR/tls/server.crt"
		cat "$BATS_FILE_TMPDIR/good.key" > "$DBDIR/tls/server.key"
		rm -f "$BATS_FILE_TMPDIR/good.crt" "$BATS_FILE_TMPDIR/good.key"
		admin -e 'FLUSH SSL' || true
	fi
}

# admin ARGS: the client as the administrator (unix socket, no TLS).
admin() {
	sh "$MDB" sql "$DBDIR" -N -B "$@"
}

# tt [-s SECTION] STEPS...: tt-db with the instance's configuration.
tt() {
	"$BIN/tt-db" -c "$CONF" "$@"
}

# conf_with FILE SED...: a copy of the configuration, edited.
conf_with() {
	local out=$1
	shift
	sed "$@" "$CONF" > "$out"
}

# gone PID: the process has exited (a zombie counts as exited).
gone() {
	! kill -0 "$1" 2>/dev/null ||
	    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# sanitizer_clean FILE: no ASan/UBSan report in a captured stderr.
sanitizer_clean() {
	! grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$1"
}

@test "start: ready within seconds, env and config written, 127.0.0.1 only" {
	run cat "$BATS_FILE_TMPDIR/start.log"
	assert_output --regexp '^mariadb.sh: ready pid=[0-9]+ port=[0-9]+ .*\(([0-9]+\.[0-9]+) s\)$'
	secs=$(sed -n 's/.*(\([0-9.]*\) s)$/\1/p' "$BATS_FILE_TMPDIR/start.log")
	awk -v s="$secs" 'BEGIN { exit !(s < 15) }'
	[ -n "$MYSQL_PORT" ] && [ -S "$MYSQL_SOCKET" ]
	[ "$(cat "$DBDIR/mariadbd.pid")" = "$MYSQL_PID" ]
	kill -0 "$MYSQL_PID"
	run sh "$MDB" status "$DBDIR"
	assert_success
	# Listens on the loopback address only.
	run ss -Htln "sport = :$MYSQL_PORT"
	assert_success
	assert_output --regexp "127\.0\.0\.1:$MYSQL_PORT"
	refute_output --regexp "(0\.0\.0\.0|\*|\[::\]):$MYSQL_PORT"
	# Secrets: 0640, not world-readable; the CA key stays private.
	for f in "$DBDIR"/secrets/*.pw; do
		[ "$(stat -c %a "$f")" = 640 ]
	done
	[ "$(stat -c %a "$DBDIR/secrets")" = 750 ]
	[ "$(stat -c %a "$DBDIR/tls/ca.key")" = 600 ]
	grep -q '^\[db\]$' "$CONF"
	grep -q '^\[db-load\]$' "$CONF"
	grep -q "^db_password_file $DBDIR/secrets/octo_db_load.pw$" "$CONF"
	# The server read no option file: require_secure_transport is ours.
	run admin -e 'SELECT @@require_secure_transport, @@character_set_server, @@local_infile'
	assert_output "$(printf '1\tutf8mb4\t0')"
}

@test "schema: tables, columns, types, defaults and indexes as checked in" {
	admin -e "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA=DATABASE() ORDER BY TABLE_NAME" > "$W/tables"
	diff -u "$EXPECT/schema-tables.txt" "$W/tables"
	admin -e "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT,'(none)'), IF(EXTRA='','-',EXTRA) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION" > "$W/columns"
	diff -u "$EXPECT/schema-columns.txt" "$W/columns"
	admin -e "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(CONCAT(COLUMN_NAME, IFNULL(CONCAT('(',SUB_PART,')'),'')) ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=DATABASE() GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE" |
	    LC_ALL=C sort > "$W/indexes"
	diff -u "$EXPECT/schema-indexes.txt" "$W/indexes"
	# A few columns the console depends on, spelled out.
	grep -qP '^tagente\tnombre\tvarchar\(600\)\tNO\t' "$W/columns"
	grep -qP '^tagente\ttotal_count\tbigint\(20\)\tNO\t0\t' "$W/columns"
	grep -qP '^tagente_datos\tdatos\tdouble\tYES\tNULL\t' "$W/columns"
	grep -qP '^tevento\tdata\ttinytext\tYES\t' "$W/columns"
	# Loading the files again changes nothing (IF NOT EXISTS, IGNORE).
	admin pandora < "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql"
	admin pandora < "$BATS_TEST_DIRNAME/../etc/sql/octo.sql"
	run admin -e 'SELECT COUNT(*) FROM ttipo_modulo'
	assert_output 9
}

@test "ttipo_modulo has the agent's module types under Pandora's numbers, tgrupo its default groups" {
	run admin -e "SELECT GROUP_CONCAT(CONCAT(id_tipo, ':', nombre) ORDER BY id_tipo) FROM ttipo_modulo"
	assert_output "1:generic_data,2:generic_proc,3:generic_data_string,4:generic_data_inc,5:generic_data_inc_abs,21:async_proc,22:async_data,23:async_string,100:keep_alive"
	run admin -e "SELECT GROUP_CONCAT(CONCAT(id_grupo, ':', nombre) ORDER BY id_grupo) FROM tgrupo"
	assert_output "2:Servers,4:Firewalls,8:Databases,9:Network,10:Unknown,11:Workstations,12:Applications,13:Web"
	# The db-load account reads them (it must not write them).
	run tt -s db-load -e "SELECT id_tipo FROM ttipo_modulo WHERE nombre = ?" -p s:async_string
	assert_success
	assert_output 23
}

@test "accounts have exactly the checked-in grants; TCP accounts REQUIRE SSL" {
	admin < "$EXPECT/grants.sql" | LC_ALL=C sort > "$W/grants"
	diff -u "$EXPECT/grants.txt" "$W/grants"
	# No anonymous account, no octo account with global privileges.
	run admin -e "SELECT COUNT(*) FROM mysql.global_priv WHERE User=''"
	assert_output 0
}

@test "db-load account: reads and writes its tables, nothing more" {
	# Everything it may do, in a transaction that is rolled back.
	run tt -s db-load -B \
	    -e "INSERT INTO tagente (nombre, alias, id_grupo) VALUES (?, ?, 10)" -p s:grant-probe -p s:grant-probe \
	    -e "UPDATE tagente SET intervalo = 60 WHERE nombre = 'grant-probe'" -a \
	    -e "INSERT INTO tagente_modulo (id_agente, id_tipo_modulo, nombre) VALUES (1, 1, 'm')" \
	    -e "INSERT INTO tagente_estado (id_agente_modulo, id_agente) VALUES (1, 1)" \
	    -e "INSERT INTO tagente_datos VALUES (1, 1.5, 1)" \
	    -e "INSERT INTO tagente_datos_string VALUES (1, 'x', 1)" \
	    -e "INSERT INTO tagente_datos_inc VALUES (1, 2, 1)" \
	    -e "UPDATE tagente_datos_inc SET datos = 3 WHERE id_agente_modulo = 1" \
	    -e "INSERT INTO tevento (id_agente, evento, event_type) VALUES (1, 'e', 'new_agent')" \
	    -e "UPDATE tevento SET estado = 1 WHERE id_agente = 1" \
	    -e "INSERT INTO octo_loaded_file (sha256, item, size) VALUES (?, ?, 3)" -p "s:$(printf %064d 0)" -p x:2e2e2f \
	    -e "SELECT COUNT(*) FROM octo_agent_policy" \
	    -R
	assert_success
	assert_line "affected=1 insert_id=0"
	# Everything it must not do.
	for sql in "DELETE FROM tagente" "DELETE FROM tagente_datos" \
	    "DELETE FROM octo_loaded_file" "DROP TABLE tagente_datos" \
	    "TRUNCATE TABLE tevento" "CREATE TABLE octo_x (a INT)" \
	    "ALTER TABLE tagente ADD COLUMN x INT" \
	    "UPDATE ttipo_modulo SET nombre = 'x'" \
	    "INSERT INTO tgrupo (nombre) VALUES ('g')" \
	    "UPDATE octo_loaded_file SET size = 0" \
	    "UPDATE octo_agent_policy SET no_learn = 0" \
	    "SELECT * FROM octo_group_credential" \
	    "SELECT * FROM mysql.user" \
	    "GRANT SELECT ON pandora.tgrupo TO 'octo_agent_auth'@'localhost'"
	do
		run tt -s db-load -x "$sql"
		assert_failure 1
		assert_output --regexp "class=config errno=(1142|1044|1227|1045) "
	done
	run admin -e "SELECT COUNT(*) FROM tagente WHERE nombre = 'grant-probe'"
	assert_output 0
}

@test "agent-auth account is read-only; audit-export only has its cursor" {
	run tt -s agent-auth -e "SELECT COUNT(*) FROM tagente" \
	    -e "SELECT COUNT(*) FROM tgrupo" \
	    -e "SELECT COUNT(*) FROM octo_group_credential" \
	    -e "SELECT COUNT(*) FROM octo_agent_policy"
	assert_success
	for sql in "INSERT INTO tagente (nombre) VALUES ('x')" \
	    "UPDATE tagente SET disabled = 1" \
	    "INSERT INTO octo_group_credential (id_grupo) VALUES (10)" \
	    "UPDATE tgrupo SET password = 'x'" \
	    "SELECT * FROM tagente_datos" "SELECT * FROM octo_loaded_file"
	do
		run tt -s agent-auth -x "$sql"
		assert_failure 1
		assert_output --partial "class=config errno=1142 (ER_TABLEACCESS_DENIED_ERROR)"
	done
	run tt -s audit-export -B \
	    -e "INSERT INTO octo_audit_export (sink, seq) VALUES ('siem', 1)" \
	    -e "UPDATE octo_audit_export SET seq = 2 WHERE sink = 'siem'" -R
	assert_success
	run tt -s audit-export -x "SELECT * FROM tagente"
	assert_failure 1
	run tt -s audit-export -x "DELETE FROM octo_audit_export"
	assert_failure 1
	# conf-dist adds file versions and moves head rows, never changes or
	# deletes a version; octospool-status writes only its node's report.
	{
		cat "$CONF"
		printf '[conf-dist]\ndb_user octo_conf_dist\ndb_password_file %s\n' "$DBDIR/secrets/octo_conf_dist.pw"
		printf '[status]\ndb_user octo_status\ndb_password_file %s\n' "$DBDIR/secrets/octo_status.pw"
	} > "$W/roles.conf"
	tt() { "$BIN/tt-db" -c "$W/roles.conf" "$@"; }
	run tt -s conf-dist -B \
	    -e "INSERT INTO octo_conf_file (dir, name, serial, body, manifest) VALUES ('conf', 'x.conf', 1, 'b', 'm')" \
	    -e "INSERT INTO octo_conf_head (dir, name, serial, file_id) VALUES ('conf', 'x.conf', 1, 1) ON DUPLICATE KEY UPDATE serial = 1" \
	    -e "SELECT COUNT(*) FROM tagente" -R
	assert_success
	for sql in "UPDATE octo_conf_file SET body = 'x'" "DELETE FROM octo_conf_file" \
	    "DELETE FROM octo_conf_head" "UPDATE tagente SET nombre = 'x'" \
	    "SELECT * FROM octo_group_credential"; do
		run tt -s conf-dist -x "$sql"
		assert_failure 1
	done
	run tt -s status -B \
	    -e "INSERT INTO octo_node (node, report) VALUES ('n', '{}')" \
	    -e "SELECT COUNT(*) FROM octo_loaded_file" -R
	assert_success
	for sql in "DELETE FROM octo_node" "SELECT * FROM tagente" "INSERT INTO octo_loaded_file (sha256) VALUES (SHA2('x', 256))"; do
		run tt -s status -x "$sql"
		assert_failure 1
	done
	# The administrator account re-runs octo.sql ("db-load --init") but
	# cannot delete or drop.
	# One statement per line: octo.sql ends statements with ";" at the
	# end of a line and has no other ";" (its header says so).
	sed '/^--/d' "$BATS_TEST_DIRNAME/../etc/sql/octo.sql" |
	    awk '{ s = s " " $0 } /;$/ { sub(/;$/, "", s); print s; s = "" }' \
	    > "$W/stmts"
	run grep -c ';' "$W/stmts"
	assert_output 0
	[ "$(wc -l < "$W/stmts")" -eq 12 ]
	while IFS= read -r stmt; do
		tt -s db-admin -x "$stmt"
	done < "$W/stmts"
	run tt -s db-admin -x "DROP TABLE octo_audit_export"
	assert_failure 1
	run tt -s db-admin -x "DELETE FROM tagente"
	assert_failure 1
}

@test "TLS: plain TCP is refused by the server, TLS 1.2+ is used" {
	# The stock client with TLS switched off and the right password
	# (from an option file, not the command line).
	run mariadb --defaults-file="$DBDIR/secrets/octo_db_load.cnf" \
	    --skip-ssl --skip-ssl-verify-server-cert -e 'SELECT 1'
	assert_failure
	assert_output --partial "Access denied"
	refute_output --regexp '^1$'
	# The same client with TLS gets in: the refusal was about TLS.
	run mariadb --defaults-file="$DBDIR/secrets/octo_db_load.cnf" -N -B \
	    -e 'SELECT 1'
	assert_success
	assert_output 1
	# Even an account without REQUIRE SSL: require_secure_transport.
	admin -e "CREATE USER IF NOT EXISTS 'octo_probe'@'127.0.0.1' IDENTIFIED BY 'probe-pw'"
	printf '[client]\nuser=octo_probe\npassword=probe-pw\nhost=127.0.0.1\nport=%s\nprotocol=tcp\n' \
	    "$MYSQL_PORT" > "$W/probe.cnf"
	run mariadb --defaults-file="$W/probe.cnf" --skip-ssl -e 'SELECT 1'
	admin -e "DROP USER 'octo_probe'@'127.0.0.1'"
	assert_failure
	refute_output --regexp '^1$'
	# lib/db: encrypted and verified.
	run tt -s db-load -t -e "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'"
	assert_success
	assert_line --regexp '^tls=TLSv1\.[23] '
	assert_line --regexp '^TLSv1\.[23]$'
	# TLS 1.2: an AEAD suite with (EC)DHE, nothing older is offered.
	conf_with "$W/tls12.conf" '/^\[db\]$/a tls_version TLSv1.2'
	run "$BIN/tt-db" -c "$W/tls12.conf" -s db-load -t
	assert_success
	assert_output --regexp '^tls=TLSv1\.2 (ECDHE|DHE)-[A-Z0-9-]*(GCM|CHACHA20-POLY1305)'
	# TLS 1.1 only: no connection.
	conf_with "$W/tls11.conf" 's/^tls_version .*//; /^\[db\]$/a tls_version TLSv1.1'
	run "$BIN/tt-db" -c "$W/tls11.conf" -s db-load -e 'SELECT 1'
	assert_failure
	refute_output --regexp '^1$'
}

@test "a list of servers: a server that is down or not listening is passed over, each with TLS verified; all down is temporary (75); a bad list is refused" {
	dead=$("$BIN/tt-wire" --freeport)
	# The first server down: the second (the running one) takes it.
	conf_with "$W/two.conf" "s/^host 127.0.0.1$/host 127.0.0.1:$dead,127.0.0.1/"
	grep -q "^host 127.0.0.1:$dead,127.0.0.1$" "$W/two.conf"
	run "$BIN/tt-db" -c "$W/two.conf" -s db-load -t -e 'SELECT 1'
	assert_success
	assert_line --regexp '^tls=TLSv1\.[23] '
	assert_line '1'
	# The running one first: no detour.
	conf_with "$W/two2.conf" "s/^host 127.0.0.1$/host 127.0.0.1,127.0.0.1:$dead/"
	run "$BIN/tt-db" -c "$W/two2.conf" -s db-load -e 'SELECT 1'
	assert_success
	# A server whose certificate does not name it ("127.1" reaches the
	# running server; its certificate has 127.0.0.1 and localhost): a
	# TLS failure is not passed over, it is the operator's to see.
	conf_with "$W/name.conf" "s/^host 127.0.0.1$/host 127.1,127.0.0.1/"
	run "$BIN/tt-db" -c "$W/name.conf" -s db-load -e 'SELECT 1'
	assert_failure
	assert_output --partial 'class=config errno=2026'
	refute_line '1'
	# Every server down: temporary, after the retry budget.
	dead2=$("$BIN/tt-wire" --freeport)
	conf_with "$W/none.conf" "s/^host 127.0.0.1$/host 127.0.0.1:$dead,[::1]:$dead2/; s/^retry_time [0-9]*$/retry_time 1/"
	grep -q "^retry_time 1$" "$W/none.conf"
	run "$BIN/tt-db" -c "$W/none.conf" -s db-load -e 'SELECT 1'
	assert_failure 75
	# Malformed lists: refused before any connection.
	for bad in '127.0.0.1,,127.0.0.2' '::1' '127.0.0.1:0' "db'1"; do
		conf_with "$W/bad.conf" "s/^host 127.0.0.1$/host $bad/"
		run "$BIN/tt-db" -c "$W/bad.conf" -s db-load -e 'SELECT 1'
		assert_failure
		assert_output --partial "config: db host: '$bad': not a list"
	done
}

@test "a list of servers: a read-only one is passed over for a writable one, and used when it is the only one answering (reads work, writes are temporary failures)" {
	# A second server with the same CA, certificates and accounts.
	D2=$(mktemp -d /tmp/octo-db2.XXXXXX)
	echo "$D2" > "$BATS_FILE_TMPDIR/second"
	cp -a "$DBDIR/tls" "$DBDIR/secrets" "$DBDIR/.octospool-mariadb" "$D2/"
	OCTO_DB_GROUP=$RUN_GROUP sh "$MDB" start "$D2" > "$W/d2.log" 2>&1 || { cat "$W/d2.log" >&3; false; }
	p1=$MYSQL_PORT
	p2=$(sed -n "s/^MYSQL_PORT='\([0-9]*\)'$/\1/p" "$D2/env")
	[ -n "$p2" ] && [ "$p2" != "$p1" ]
	conf_with "$W/list.conf" "s/^host 127.0.0.1$/host 127.0.0.1:$p1,127.0.0.1:$p2/; s/^retry_time [0-9]*$/retry_time 1/"
	# Both writable: the first.
	run "$BIN/tt-db" -c "$W/list.conf" -s db-load -e 'SELECT @@port'
	assert_success
	assert_output "$p1"
	# The first read-only (a replica, a node being drained): the second,
	# and a write goes there.
	admin -e 'SET GLOBAL read_only = 1'
	run "$BIN/tt-db" -c "$W/list.conf" -s db-load -e 'SELECT @@port' \
	    -e "INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp) VALUES (424242, 1, 1)"
	assert_success
	assert_line "$p2"
	run sh "$MDB" sql "$D2" -N -B -e 'SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo = 424242' pandora
	assert_output 1
	# The second gone: the read-only one still answers reads; a write
	# there is a temporary failure (exit 75), never a loss.
	sh "$MDB" stop "$D2"
	run "$BIN/tt-db" -c "$W/list.conf" -s db-load -e 'SELECT @@port'
	assert_success
	assert_output "$p1"
	run "$BIN/tt-db" -c "$W/list.conf" -s db-load \
	    -e "INSERT INTO tagente_datos (id_agente_modulo, datos, utimestamp) VALUES (424242, 1, 1)"
	assert_failure 75
	assert_output --partial 'errno=1290'
	admin -e 'SET GLOBAL read_only = 0'
	[ "$(admin pandora -e 'SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo = 424242')" -eq 0 ]
}

@test "TLS: a server certificate from another CA is refused" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/other.key" -subj "/CN=octospool test other CA" \
	    -days 2 -out "$W/other-ca.crt" 2>/dev/null
	conf_with "$W/wrongca.conf" "s#^ssl_ca .*#ssl_ca $W/other-ca.crt#"
	run "$BIN/tt-db" -c "$W/wrongca.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "class=config errno=2026 (CR_SSL_CONNECTION_ERROR)"
	refute_output --regexp '^1$'
	# The system trust store does not vouch for a private server either.
	conf_with "$W/sysca.conf" "s#^ssl_ca .*#ssl_ca /etc/ssl/certs/ca-certificates.crt#"
	run "$BIN/tt-db" -c "$W/sysca.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "errno=2026"
}

@test "TLS: a server certificate for another host name is refused" {
	# Signed by the right CA, but for elsewhere.example: swap it in.
	(
		cd "$W"
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		    -out wrong.key 2>/dev/null
		openssl req -new -key wrong.key -subj /CN=elsewhere.example \
		    -out wrong.csr 2>/dev/null
		printf 'subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n' > wrong.ext
		openssl x509 -req -in wrong.csr -CA "$DBDIR/tls/ca.crt" \
		    -CAkey "$DBDIR/tls/ca.key" -CAcreateserial -days 2 \
		    -extfile wrong.ext -out wrong.crt 2>/dev/null
	)
	cp "$DBDIR/tls/server.crt" "$BATS_FILE_TMPDIR/good.crt"
	cp "$DBDIR/tls/server.key" "$BATS_FILE_TMPDIR/good.key"
	cat "$W/wrong.crt" > "$DBDIR/tls/server.crt"
	cat "$W/wrong.key" > "$DBDIR/tls/server.key"
	admin -e 'FLUSH SSL'
	run tt -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "class=config errno=2026 (CR_SSL_CONNECTION_ERROR)"
	assert_output --partial "Validation of SSL server certificate failed"
	refute_output --regexp '^1$'
	# The same name check for "localhost" (DNS SAN) after the swap back.
	teardown
	run tt -s db-load -e 'SELECT 1'
	assert_success
	conf_with "$W/lh.conf" 's/^host .*/host localhost/'
	run "$BIN/tt-db" -c "$W/lh.conf" -s db-load -t -e 'SELECT CURRENT_USER()'
	assert_success
	assert_line --regexp '^tls=TLSv1\.[23] '
}

@test "config: TCP without ssl_ca, open password files and bad keys are refused" {
	conf_with "$W/noca.conf" '/^ssl_ca /d'
	run "$BIN/tt-db" -c "$W/noca.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "ssl_ca: missing"
	cp "$DBDIR/secrets/octo_db_load.pw" "$W/open.pw"
	chmod 0644 "$W/open.pw"
	conf_with "$W/open.conf" "s#^db_password_file .*octo_db_load.pw#db_password_file $W/open.pw#"
	run "$BIN/tt-db" -c "$W/open.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "mode 0644 lets others read it"
	# The wrong password: access denied, not "retry later".
	printf 'wrong\n' > "$W/wrong.pw"
	chmod 0600 "$W/wrong.pw"
	conf_with "$W/wrongpw.conf" "s#^db_password_file .*octo_db_load.pw#db_password_file $W/wrong.pw#"
	run "$BIN/tt-db" -c "$W/wrongpw.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "class=config errno=1045 (ER_ACCESS_DENIED_ERROR)"
	conf_with "$W/typo.conf" 's/^connect_timeout /conect_timeout /'
	run "$BIN/tt-db" -c "$W/typo.conf" -s db-load -e 'SELECT 1'
	assert_failure 1
	assert_output --partial "unknown key 'conect_timeout' in [db]"
}

@test "unix socket: no TLS needed, same accounts and grants" {
	printf '[db]\nsocket %s\nname pandora\n[db-load]\ndb_user octo_db_load\ndb_password_file %s\n[agent-auth]\ndb_user octo_agent_auth\ndb_password_file %s\n' \
	    "$MYSQL_SOCKET" "$DBDIR/secrets/octo_db_load.pw" \
	    "$DBDIR/secrets/octo_agent_auth.pw" > "$W/sock.conf"
	run "$BIN/tt-db" -c "$W/sock.conf" -s db-load -t -e 'SELECT CURRENT_USER()'
	assert_success
	assert_output "$(printf 'tls=none\nocto_db_load@localhost')"
	run "$BIN/tt-db" -c "$W/sock.conf" -s agent-auth -x "INSERT INTO tagente (nombre) VALUES ('x')"
	assert_failure 1
	assert_output --partial "errno=1142"
	# A tool may switch to the socket with a db_ override.
	conf_with "$W/proto.conf" '/^\[db-load\]$/a db_protocol socket'
	run "$BIN/tt-db" -c "$W/proto.conf" -s db-load -t -e 'SELECT CURRENT_USER()'
	assert_success
	assert_line 'tls=none'
	assert_line 'octo_db_load@localhost'
}

@test "statements: parameters, UTF-8, long text, transactions and savepoints" {
	name='web 01 "ñ" €😀'
	run tt -s db-load -B \
	    -e "INSERT INTO tagente (nombre, alias, id_grupo, modo) VALUES (?, ?, ?, ?)" \
	    -p "s:$name" -p "s:$name" -p i:10 -p i:1 -a \
	    -S file1 \
	    -e "INSERT INTO tagente_datos VALUES (?, ?, ?)" -p u:4294967295 -p d:0.1 -p i:1700000000 \
	    -U file1 \
	    -S file2 \
	    -e "INSERT INTO tagente_datos VALUES (?, ?, ?)" -p u:7 -p d:-2.5e-7 -p null \
	    -L file2 \
	    -C
	assert_success
	assert_line --regexp '^affected=1 insert_id=[0-9]+$'
	run admin -e "SELECT nombre, HEX(nombre) = HEX('$name'), modo FROM tagente WHERE alias = '$name'"
	assert_output "$(printf '%s\t1\t1' "$name")"
	# file1 was rolled back to its savepoint, file2 kept.
	run tt -s db-load -e "SELECT id_agente_modulo, datos, utimestamp FROM tagente_datos WHERE id_agente_modulo IN (4294967295, 7)"
	assert_output "$(printf '7\t-2.4999999999999999e-07\tNULL')"
	# The name reads back byte for byte through a prepared statement.
	run tt -s db-load -e "SELECT nombre, CHAR_LENGTH(nombre), LENGTH(nombre) FROM tagente WHERE nombre = ?" -p "s:$name"
	assert_output "$(printf '%s\t13\t%d' "$name" "$(printf %s "$name" | wc -c)")"
	# Text longer than the first buffer, and many rows.
	run tt -s db-load -e "SELECT LENGTH(REPEAT('x', 100000)), REPEAT('ab', 300), NULL"
	assert_output "$(printf '100000\t%s\tNULL' "$(printf 'ab%.0s' $(seq 300))")"
	run tt -s db-load -e "SELECT id_tipo FROM ttipo_modulo ORDER BY id_tipo"
	assert_equal "${#lines[@]}" 9
	# An uncommitted transaction is gone when the connection closes.
	run tt -s db-load -B -e "INSERT INTO tagente (nombre) VALUES ('uncommitted')"
	assert_success
	run admin -e "SELECT COUNT(*) FROM tagente WHERE nombre = 'uncommitted'"
	assert_output 0
	# A bad savepoint name never reaches the server.
	run tt -s db-load -B -S 'x; DROP TABLE tagente'
	assert_failure 1
	assert_output --partial "bad savepoint name"
}

@test "error classes from the live server: data, dup, bug, config" {
	long=$(printf 'a%.0s' $(seq 601))
	run tt -s db-load -e "INSERT INTO tagente (nombre) VALUES (?)" -p "s:$long"
	assert_failure 1
	assert_output --partial "class=data errno=1406 (ER_DATA_TOO_LONG)"
	# One file's data error rolls back to its savepoint; the batch goes on
	# and the other files commit (how db-load groups files per commit).
	run tt -s db-load -k -B \
	    -S f1 -e "INSERT INTO tagente (nombre) VALUES ('sp-good-1')" -L f1 \
	    -S f2 -e "INSERT INTO tagente (nombre) VALUES ('sp-bad-2')" \
	    -e "INSERT INTO tagente (nombre) VALUES (?)" -p "s:$long" -U f2 \
	    -S f3 -e "INSERT INTO tagente (nombre) VALUES ('sp-good-3')" -L f3 \
	    -C
	assert_failure 1
	assert_output --partial "step 7: class=data errno=1406"
	run admin -e "SELECT GROUP_CONCAT(nombre ORDER BY nombre) FROM tagente WHERE nombre LIKE 'sp-%'"
	assert_output "sp-good-1,sp-good-3"
	run tt -s db-load -e "INSERT INTO tagente (nombre, modo) VALUES ('x', ?)" -p i:1000
	assert_failure 1
	assert_output --partial "class=data errno=1264 (ER_WARN_DATA_OUT_OF_RANGE)"
	run tt -s db-load -e "INSERT INTO tagente (nombre, ultimo_contacto) VALUES ('x', ?)" -p s:2024-13-45
	assert_failure 1
	assert_output --partial "class=data errno=1292"
	run tt -s db-load -e "INSERT INTO tagente (nombre, intervalo) VALUES ('x', ?)" -p s:abc
	assert_failure 1
	assert_output --partial "class=data errno=1366"
	run tt -s db-load -e "INSERT INTO tagente (nombre) VALUES (?)" -p x:ff
	assert_failure 1
	assert_output --partial "class=data errno=1366"
	run tt -s db-load -e "INSERT INTO octo_loaded_file (sha256) VALUES ('NOT-HEX')"
	assert_failure 1
	assert_output --partial "class=data errno=4025 (ER_CONSTRAINT_FAILED)"
	digest=$(printf 'x' | sha256sum | cut -c1-64)
	run tt -s db-load -e "INSERT INTO octo_loaded_file (sha256, loaded_at) VALUES (?, 1)" -p "s:$digest"
	assert_success
	run tt -s db-load -e "INSERT INTO octo_loaded_file (sha256, loaded_at) VALUES (?, 2)" -p "s:$digest"
	assert_failure 1
	assert_output --partial "class=dup errno=1062 (ER_DUP_ENTRY)"
	run tt -s db-load -e "SELEKT 1"
	assert_failure 1
	assert_output --partial "class=bug errno=1064 (ER_PARSE_ERROR)"
	run tt -s db-load -e "SELECT ?"
	assert_failure 1
	assert_output --partial "class=bug errno=2031"
	run tt -s db-load -e "SELECT nosuch FROM tagente"
	assert_failure 1
	assert_output --partial "class=config errno=1054 (ER_BAD_FIELD_ERROR)"
}

@test "lock wait timeout is temporary: exit 75" {
	admin -e "INSERT INTO tagente (id_agente, nombre) VALUES (9000, 'locked')"
	db_hold_rows "id_agente = 9000"
	conf_with "$W/lw.conf" 's/^lock_wait_timeout .*/lock_wait_timeout 1/'
	start=$(date +%s%N)
	run "$BIN/tt-db" -c "$W/lw.conf" -s db-load -e "UPDATE tagente SET alias = 'x' WHERE id_agente = 9000"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	db_release_rows
	assert_equal "$status" 75
	assert_output --partial "class=temp errno=1205 (ER_LOCK_WAIT_TIMEOUT)"
	[ "$ms" -lt 3500 ]
}

@test "reconnect: server down is temporary (75); backoff connects when it is back" {
	conf_with "$W/r1.conf" 's/^retry_time .*/retry_time 1/'
	conf_with "$W/r20.conf" 's/^retry_time .*/retry_time 20/'
	run sh "$MDB" stop "$DBDIR"
	assert_success
	gone "$MYSQL_PID"
	start=$(date +%s%N)
	run "$BIN/tt-db" -c "$W/r1.conf" -s db-load -e 'SELECT 1'
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	assert_equal "$status" 75
	assert_output --regexp 'class=temp errno=(2002|2003) '
	[ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ]
	# retry_time 0: one attempt only.
	conf_with "$W/r0.conf" 's/^retry_time .*/retry_time 0/'
	run "$BIN/tt-db" -c "$W/r0.conf" -s db-load -e 'SELECT 1'
	assert_equal "$status" 75
	# A client that is waiting gets in as soon as the server is back.
	"$BIN/tt-db" -c "$W/r20.conf" -s db-load -e 'SELECT 41' \
	    > "$W/waiting.out" 2> "$W/waiting.err" 3>&- &
	waiting=$!
	sleep 0.5
	run sh "$MDB" start "$DBDIR"
	assert_success
	# shellcheck disable=SC1091
	. "$DBDIR/env"
	rc=0
	wait "$waiting" || rc=$?
	cat "$W/waiting.err"
	assert_equal "$rc" 0
	assert_equal "$(cat "$W/waiting.out")" 41
	sanitizer_clean "$W/waiting.err"
	run "$BIN/tt-db" -c "$W/r1.conf" -s db-load -e 'SELECT 1'
	assert_success
}

@test "reconnect: a restart mid-session is temporary; db_reconnect recovers" {
	conf_with "$W/r20.conf" 's/^retry_time .*/retry_time 20/'
	# A keeps its dead connection; B reconnects first (-r) and runs its
	# prepared statement again (-E): lib/db prepares it on the new
	# connection.
	"$BIN/tt-db" -c "$W/r20.conf" -s db-load -e 'SELECT 1' -w 3000 \
	    -e 'SELECT 2' > "$W/a.out" 2> "$W/a.err" 3>&- &
	a=$!
	"$BIN/tt-db" -c "$W/r20.conf" -s db-load \
	    -e 'SELECT id_tipo FROM ttipo_modulo WHERE id_tipo = ?' -p i:1 \
	    -w 3000 -r -E -p i:2 \
	    > "$W/b.out" 2> "$W/b.err" 3>&- &
	b=$!
	sleep 0.7
	sh "$MDB" stop "$DBDIR"
	sh "$MDB" start "$DBDIR"
	rc=0
	wait "$a" || rc=$?
	cat "$W/a.err"
	assert_equal "$rc" 75
	grep -Eq 'step 3: class=temp errno=(2006|2013|1053|1927|5014|5013) ' "$W/a.err"
	rc=0
	wait "$b" || rc=$?
	cat "$W/b.err"
	assert_equal "$rc" 0
	assert_equal "$(cat "$W/b.out")" "$(printf '1\n2')"
	sanitizer_clean "$W/a.err"
	sanitizer_clean "$W/b.err"
}

@test "works as a normal user too (second instance as nobody)" {
	[ "$(id -u)" -eq 0 ] || skip "already running as a normal user"
	command -v setpriv >/dev/null || skip "no setpriv"
	u=$DBDIR.user
	mkdir "$u"
	chown nobody:nogroup "$u"
	# The checkout may sit in a directory nobody cannot enter (a 0700
	# temp dir in CI): give the user its own copy of what it runs.
	tree=$DBDIR.tree
	mkdir -p "$tree/tools" "$tree/etc" "$tree/bin"
	cp "$MDB" "$tree/tools/"
	cp -r "$BATS_TEST_DIRNAME/../etc/sql" "$tree/etc/"
	cp "$BIN/tt-db" "$BIN/tt-wire" "$tree/bin/"
	chmod -R a+rX "$tree"
	as_nobody() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
		    env HOME=/nonexistent OCTO_BIN="$tree/bin" "$@"
	}
	MDB=$tree/tools/mariadb.sh
	BIN=$tree/bin
	run as_nobody sh "$MDB" start "$u"
	assert_success
	assert_output --partial "ready pid="
	pid=$(cat "$u/mariadbd.pid")
	[ "$(ps -o user= -p "$pid")" = nobody ]
	run as_nobody "$BIN/tt-db" -c "$u/octospool-db.conf" -s agent-auth -t \
	    -e 'SELECT CURRENT_USER(), COUNT(*) FROM tgrupo'
	assert_success
	assert_line --regexp '^tls=TLSv1\.[23] '
	assert_line "$(printf 'octo_agent_auth@127.0.0.1\t8')"
	run as_nobody sh "$MDB" sql "$u" -N -B -e 'SELECT CURRENT_USER()'
	assert_output nobody@localhost
	run as_nobody sh "$MDB" stop "$u"
	assert_success
	gone "$pid"
	[ ! -e "$u/mariadbd.pid" ]
}

@test "stop: by PID, nothing left running, idempotent" {
	pid=$MYSQL_PID
	kill -0 "$pid"
	run sh "$MDB" stop "$DBDIR"
	assert_success
	gone "$pid"
	[ ! -e "$DBDIR/mariadbd.pid" ]
	[ ! -S "$MYSQL_SOCKET" ]
	run pgrep -f -- "--datadir=$DBDIR/data"
	assert_failure
	run ss -Htln "sport = :$MYSQL_PORT"
	refute_output --partial ":$MYSQL_PORT"
	run sh "$MDB" status "$DBDIR"
	assert_failure
	run sh "$MDB" stop "$DBDIR"
	assert_success
}
