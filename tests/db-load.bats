#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# db-load against the private MariaDB (tools/mariadb.sh, one server for
# the file, stopped by PID in teardown_file): the samples and variants
# loaded with exact rows (agents, modules, status, history, incremental
# rates, events, counters, entity-encoded names), exactly once (twice the
# same file, SIGKILL at random points, mariadbd restarted mid-load), a
# data error that rejects one file of a batch, creation and learning
# policy (configuration and agent-auth's envelope keys), grants, --init.

load helpers

MDB=$TOOLS/mariadb.sh

setup_file() {
	db_start_file dl || return 1
}

teardown_file() {
	db_stop_file
}

setup() {
	# shellcheck disable=SC1091
	. "$DBDIR/env"
	export TZ=UTC
	mk_tmp
	W=$T
	mk_spool "$W/spool"
	SPOOL=$W/spool
	Q=$SPOOL/db-load
	CONF=$W/octospool.conf
	mkconf allow_create yes
	reset_db
}

teardown() {
	local clean=0
	# A lingering db-load a failed test left running.
	if [ -n "${BG_PID:-}" ]; then
		kill -TERM "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	# A test that dropped tagente's index nombre: back for the next.
	if [ -n "${NO_NAME_INDEX:-}" ] &&
	    [ -z "$(sql "SHOW INDEX FROM tagente WHERE Key_name = 'nombre'")" ]; then
		sql "ALTER TABLE tagente ADD INDEX nombre (nombre(255))"
	fi
	# Every run's stderr: no sanitizer report anywhere.
	if [ -f "$T/dl.log" ] && ! sanitizer_clean "$T/dl.log"; then
		clean=1
	fi
	rm -rf "$T"
	return "$clean"
}

# mkconf KEY VALUE...: the instance's configuration, a spool and
# [db-load] keys (pairs).  The items of these tests are bare agent files
# queued by the test user: no decision of agent-auth (auth_pubkey none)
# unless a test names the key.
mkconf() {
	mk_keys
	{
		echo "spool_dir $SPOOL"
		echo "idle_exit 0"
		cat "$OCTO_DB_CONF"
		echo "[db-load]"
		echo "user $RUN_USER"
		echo "producer $RUN_USER"
		echo "auth_pubkey none"
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

reset_db() {
	sql "TRUNCATE tagente; TRUNCATE tagente_modulo; TRUNCATE tagente_estado;
	    TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento;
	    TRUNCATE octo_loaded_file; TRUNCATE octo_agent_policy;
	    TRUNCATE octo_agent_name"
}

# put FILE [NAME]: an item into the db-load queue (bare agent file).
put() {
	cp "$1" "$Q/new/${2:-$(basename "$1")}"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$Q/new/${2:-$(basename "$1")}"
}

# envelope FILE NAME KEY: VALUE...: FILE with an envelope into the queue.
envelope() {
	local f=$1 name=$2
	shift 2
	{
		printf 'Octospool-Envelope: 1\nOriginal-Name: %s\nPeer: 192.0.2.7 41000\n' "$name"
		printf 'Received: 2026-11-27T21:00:00.000000Z\nAuth: none\n'
		for kv in "$@"; do
			printf '%s\n' "$kv"
		done
		printf 'Sha256: %s\n\n' "$(sha256sum < "$f" | cut -c1-64)"
		cat "$f"
	} > "$Q/new/$name"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$Q/new/$name"
}

# decision FILE NAME AGENT GROUP KEY: VALUE...: FILE into the queue with
# agent-auth's decision for AGENT in GROUP, stamped with its key.
decision() {
	local f=$1 name=$2 agent=$3 group=$4
	shift 4
	envelope "$f" "$name" "Auth-Agent: $agent" "Auth-Group: $group" "$@"
	"$BIN/tt-stamp" "$KEYS/agent-auth.key" agent-auth < "$Q/new/$name" > "$W/stamped"
	cat "$W/stamped" > "$Q/new/$name"
}

# dl ARGS...: db-load with the test configuration; stderr to $W/dl.log.
dl() {
	"$BIN/db-load" -c "$CONF" -d "$@" 2>> "$W/dl.log"
}

# queue_empty: nothing left in new/ or cur/.
queue_empty() {
	[ "$(count "$Q"/new/* "$Q"/cur/*)" -eq 0 ]
}

# settle N: the queue empty and N files done (committed).
settle() {
	for _ in $(seq 1 200); do
		queue_empty && [ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# sanitizer_clean FILE
sanitizer_clean() {
	! grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$1"
}

# xmlesc TEXT: TEXT for an XML attribute.
xmlesc() {
	printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' \
	    -e 's/>/\&gt;/g' -e "s/'/\&apos;/g" -e 's/"/\&quot;/g'
}

# agent XML: agent NAME TIMESTAMP MODULE-XML...
agent() {
	local name ts=$2
	name=$(xmlesc "$1")
	shift 2
	printf "<?xml version='1.0' encoding='UTF-8'?>\n"
	printf "<agent_data agent_name='%s' interval='300' version='7.0NG' os_name='linux' group='Servers' timestamp='%s'>\n" "$name" "$ts"
	for m in "$@"; do
		printf '%s\n' "$m"
	done
	printf '</agent_data>\n'
}

# module NAME TYPE VALUE [EXTRA-XML]
module() {
	printf '<module><name><![CDATA[%s]]></name><type>%s</type><data><![CDATA[%s]]></data>%s</module>' "$1" "$2" "$3" "${4:-}"
}

# count_rows: rows of every table db-load writes, one line.
count_rows() {
	sql "SELECT (SELECT COUNT(*) FROM tagente), (SELECT COUNT(*) FROM tagente_modulo),
	    (SELECT COUNT(*) FROM tagente_estado), (SELECT COUNT(*) FROM tagente_datos),
	    (SELECT COUNT(*) FROM tagente_datos_string), (SELECT COUNT(*) FROM tagente_datos_inc),
	    (SELECT COUNT(*) FROM tevento), (SELECT COUNT(*) FROM octo_loaded_file)"
}

@test "usage, version, -n, --print-init-sql is etc/sql/octo.sql" {
	run "$BIN/db-load" -h
	assert_success
	assert_output --partial "usage: db-load"
	run "$BIN/db-load" -V
	assert_output --regexp '^db-load [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/db-load" -x
	assert_failure 64
	run "$BIN/db-load" -c "$CONF" -n
	assert_success
	assert_output "db-load: configuration ok"
	printf '[db-load]\nallow_create maybe\n' > "$W/bad.conf"
	run "$BIN/db-load" -c "$W/bad.conf" -n
	assert_failure 78
	printf '[db-load]\nmodule_capp 3\n' > "$W/bad.conf"
	run "$BIN/db-load" -c "$W/bad.conf" -n
	assert_failure 78
	assert_output --partial "module_capp"
	# The shipped sample configuration passes.
	sed -E "s|/var/spool/octospool|$SPOOL|; s|/etc/octospool/keys/|$KEYS/|;
	    s/^(user|producer) octospool-[a-z]+\$/\1 $RUN_USER/" \
	    "$BATS_TEST_DIRNAME/../etc/octospool.conf" > "$W/sample.conf"
	run "$BIN/db-load" -c "$W/sample.conf" -n
	assert_success
	# --init runs an embedded copy of octo.sql: it must not drift.
	"$BIN/db-load" --print-init-sql > "$W/octo.sql"
	cmp "$W/octo.sql" "$BATS_TEST_DIRNAME/../etc/sql/octo.sql"
	# The embedded grants template too (src/db-load/mksql.sh).
	sh "$BATS_TEST_DIRNAME/../src/db-load/mksql.sh" |
	    cmp - "$BATS_TEST_DIRNAME/../src/db-load/octo_sql.c"
	# Options that only go with --init.
	run "$BIN/db-load" --print
	assert_failure 64
	run "$BIN/db-load" --dba db-dba
	assert_failure 64
}

@test "samples: agents, modules, status, history, incremental rates, counters" {
	for f in "$DATA"/samples/238cd*.data "$DATA"/samples/f905*.data; do
		put "$f"
	done
	# The autotime agent has no timestamp: the receipt time is used.
	envelope "$DATA"/samples/79cdbf64a0c1c65acee02fc2040ff15c.1795816552.data \
	    zz.79cdbf64a0c1c65acee02fc2040ff15c.1795816552.data
	run dl
	assert_success
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT id_agente, nombre, alias, direccion, comentarios, id_grupo, id_os,
	    os_version, agent_version, intervalo, ultimo_contacto_remoto, modo, custom_id,
	    url_address, timezone_offset, id_parent, normal_count, warning_count, critical_count,
	    unknown_count, notinit_count, total_count FROM tagente ORDER BY id_agente"
	assert_output - <<'OUT'
1	research-agent-01	Research&#x20;Agent&#x20;01	127.0.0.1	Research box for XML capture	2	1	Debian GNU/Linux 12 (bookworm)	7.0NG.776(Build 240328)	600	2026-11-27 21:55:39	1	CID-0001	http://127.0.0.1/agent	0	0	16	0	0	0	0	16
2	research-broker-01	research-broker-01	127.0.0.1	Research box for XML capture	2	1	Debian GNU/Linux 12 (bookworm)	7.0NG.776(Build 240328)	300	2026-11-27 21:55:34	1	CID-0001	http://127.0.0.1/agent	0	0	13	0	0	0	2	15
3	a27052f41fbf737edb9cb6ae2efd4ac5d6c7deed42f977cbbb28228194b25e66	vm	127.0.0.1		10	1	Debian GNU/Linux 12 (bookworm)	7.0NG.776(Build 240328)	300	2026-11-27 21:00:00	1			0	0	2	0	0	0	0	2
OUT
	# ultimo_contacto is the server's clock.
	run sql "SELECT COUNT(*) FROM tagente WHERE ultimo_contacto > NOW() - INTERVAL 10 MINUTE"
	assert_output 3
	run sql "SELECT id_agente_modulo, id_tipo_modulo, nombre, module_interval, min, max,
	    min_warning, max_warning, min_critical, max_critical, str_warning, str_critical,
	    unit, custom_id, cron_interval, min_ff_event, critical_inverse, each_ff,
	    module_ff_interval, id_modulo, history_data FROM tagente_modulo WHERE id_agente = 1
	    ORDER BY 1"
	assert_output - <<'OUT'
1	1	Load&#x20;Average	600	0	1000	4	8	8	0			load			0	0	0	0	1	1
2	2	Proc&#x20;1&#x20;alive	600	0	0	0	0	0	0						0	0	0	0	1	1
3	3	Kernel&#x20;release	600	0	0	0	0	0	0	^$	.*BSD.*				0	0	0	0	1	1
4	4	Context&#x20;switches/s	600	0	0	0	0	0	0						0	0	0	0	1	1
5	5	Forks&#x20;delta	600	0	0	0	0	0	0						0	0	0	0	1	1
6	21	Async&#x20;flag	600	0	0	0	0	0	0						0	0	0	0	1	1
7	22	Async&#x20;value	600	0	0	0	0	0	0						0	0	0	0	1	1
8	23	Async&#x20;text	600	0	0	0	0	0	0						0	0	0	0	1	1
9	3	First&#x20;mounts&#x20;&#40;multi-line&#41;	600	0	0	0	0	0	0						0	0	0	0	1	1
10	3	Special&#x20;&lt;chars&gt;&#x20;&amp;&#x20;&#039;quotes&#039;&#x20;&quot;dq&quot;&#x20;/&#x20;slash	600	0	0	0	0	0	0			%	X&amp;Y		0	0	0	0	1	1
11	1	Tuned&#x20;module	600	0	0	0	0	0	0					* * * * *	2	1	1	60	1	1
12	1	pfresearch_errcount	600	0	0	0	0	0	0						0	0	0	0	1	1
13	1	Temp&#x20;sensor&#x20;history	600	0	0	0	0	0	0			degC			0	0	0	0	1	1
14	1	Memory_Used	600	0	0	0	0	95	100			%			0	0	0	0	1	1
15	1	Swap_Used	600	0	0	0	0	95	100			%			0	0	0	0	1	1
16	1	Pushed&#x20;by&#x20;server	600	0	0	0	0	0	0						0	0	0	0	1	1
OUT
	# Free text is HTML-escaped; string data is stored as sent.
	run sql "SELECT descripcion, critical_instructions FROM tagente_modulo WHERE id_agente_modulo IN (3, 10) ORDER BY id_agente_modulo"
	assert_output - <<'OUT'
Kernel name and release	Call the on-call admin &amp; check &quot;dmesg&quot; &lt;now&gt;
Description with &lt;tags&gt; &amp; ampersands &#039;single&#039; &quot;double&quot;	
OUT
	run sql "SELECT id_agente_modulo, REPLACE(datos, '\n', '|'), estado, known_status,
	    last_status, last_known_status, status_changes, timestamp, last_try,
	    last_execution_try, current_interval, last_status_change FROM tagente_estado
	    WHERE id_agente = 1 ORDER BY 1"
	assert_output - <<'OUT'
1	3.89000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:39	1795816539	600	1795816532
2	1.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
3	Linux 6.18.44-fc-v669	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
4	2381.20000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:39	1795816539	600	1795816534
5	394.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:39	1795816539	600	1795816534
6	1.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	0
7	3.14000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	0
8	event: disk replaced	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	0
9	line one|line two|line three|	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
10	a<b & c>"d" ü€漢	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
11	17.00000	0	0	0	0	2	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
12	0.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:39	1795816539	600	1795816532
13	20.50000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:31	1795816539	600	1795816411
14	4.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
15	0.00000	0	0	0	0	1	2026-11-27 21:55:39	2026-11-27 21:55:32	1795816539	600	1795816532
16	99.00000	0	0	0	0	0	2026-11-27 21:55:39	2026-11-27 21:55:39	1795816539	600	1795816539
OUT
	# History: unchanged values are not stored again (Load Average 3.79
	# twice, Proc 1 three times), asynchronous ones always; incremental
	# modules store rates from their second sample on: (2366947 -
	# 2360152) / 2 s = 3397.5, (2378853 - 2366947) / 5 s = 2381.2, and
	# deltas 13669 - 13514 = 155, 14063 - 13669 = 394.
	run sql "SELECT id_agente_modulo, GROUP_CONCAT(CONCAT(datos, '@', utimestamp)
	    ORDER BY utimestamp SEPARATOR ' ') FROM tagente_datos WHERE id_agente_modulo <= 16
	    GROUP BY 1"
	assert_output - <<'OUT'
1	3.79@1795816532 3.89@1795816539
2	1@1795816532
4	3397.5@1795816534 2381.2@1795816539
5	155@1795816534 394@1795816539
6	1@1795816532 1@1795816534 1@1795816539
7	3.14@1795816532 3.14@1795816534 3.14@1795816539
11	17@1795816532
12	1@1795816532 2@1795816534 0@1795816539
13	22.5@1795816411 22.5@1795816414 22.5@1795816419 21.5@1795816471 21.5@1795816474 21.5@1795816479 20.5@1795816531
14	4@1795816532
15	0@1795816532
16	99@1795816539
OUT
	run sql "SELECT id_agente_modulo, REPLACE(datos, '\n', '|'), utimestamp FROM tagente_datos_string ORDER BY 1, 3"
	assert_output - <<'OUT'
3	Linux 6.18.44-fc-v669	1795816532
8	event: disk replaced	1795816532
8	event: disk replaced	1795816534
8	event: disk replaced	1795816539
9	line one|line two|line three|	1795816532
10	a<b & c>"d" ü€漢	1795816532
19	Linux 6.18.44-fc-v669	1795816534
24	event: disk replaced	1795816534
25	line one|line two|line three|	1795816534
26	a<b & c>"d" ü€漢	1795816534
33	demo-host	1795813200
OUT
	# The last raw counter of each incremental module.
	run sql "SELECT * FROM tagente_datos_inc ORDER BY 1"
	assert_output - <<'OUT'
4	2378853	1795816539
5	14063	1795816539
20	2367046	1795816534
21	13684	1795816534
OUT
	# One new_agent event per agent, nothing else: every module is normal.
	# As Pandora's server: the alias (the name without one), the whole
	# text entity-encoded, no user, not acknowledged.
	run sql "SELECT id_agente, id_grupo, event_type, criticity, estado, evento, id_usuario, ack_utimestamp, data FROM tevento ORDER BY id_evento"
	assert_output - <<OUT
1	2	new_agent	2	0	Agent&#x20;[Research&#x20;Agent&#x20;01]&#x20;created&#x20;by&#x20;$(hostname)		0	
2	2	new_agent	2	0	Agent&#x20;[research-broker-01]&#x20;created&#x20;by&#x20;$(hostname)		0	
3	10	new_agent	2	0	Agent&#x20;[vm]&#x20;created&#x20;by&#x20;$(hostname)		0	
OUT
	run sql "SELECT COUNT(*), SUM(size) FROM octo_loaded_file"
	assert_output "$(printf '5\t%s' "$(cat "$DATA"/samples/*.data | wc -c)")"
	sanitizer_clean "$W/dl.log"
}

@test "variants: every file agentxml accepts loads, with exact rows" {
	for f in "$DATA"/variants/*.data; do
		put "$f"
	done
	run dl -v
	assert_success
	queue_empty
	# v16 is server keepalive XML, refused by lib/agentxml: only it.
	run ls "$Q/reject"
	assert_output "$(printf 'v16-satellite-server-keepalive.1711620840.data\nv16-satellite-server-keepalive.1711620840.data.reason')"
	grep -q '^reason=rule=server ' "$Q/reject/v16-satellite-server-keepalive.1711620840.data.reason"
	grep -q '^stage=db-load$' "$Q/reject/v16-satellite-server-keepalive.1711620840.data.reason"
	# Agents: groups (autocreate_group 10 without one, Web = 13), v02's
	# agent_mode 0 kept when v19 says 1, its interval not taken from v19,
	# timezone_offset, entity-encoded names and aliases, counters.
	run sql "SELECT id_agente, nombre, alias, id_grupo, modo, intervalo, id_os,
	    timezone_offset, direccion, normal_count, warning_count, critical_count,
	    unknown_count, notinit_count, total_count FROM tagente ORDER BY id_agente"
	assert_output - <<'OUT'
1	minimal-01	minimal-01	10	1	300	10	0		1	0	0	0	0	1
2	0f9a2c6e7d8b4a1e9c3f5b7d2e4a6c8b0d1f3e5a7c9b2d4f6e8a0c2e4f6a8b0c	web-01.example.com	13	0	120	1	1	127.0.0.10	1	0	0	0	0	1
3	proc-host-01	proc-host-01	2	1	300	1	0		2	1	2	0	0	5
4	string-host-01	string-host-01	2	1	300	1	0		3	0	2	0	0	5
5	inc-host-01	inc-host-01	2	1	300	1	0		0	0	0	0	3	3
6	async-host-01	async-host-01	2	1	300	1	0		1	0	2	0	0	3
7	datalist-host-01	datalist-host-01	2	1	300	9	0		2	0	0	0	0	2
8	threshold-host-01	threshold-host-01	2	1	60	1	0		2	0	1	0	1	4
9	cdata-host-01	CDATA&#x20;&amp;&#x20;entities&#x20;host	2	1	300	1	0		6	0	0	0	0	6
10	unicode-&ntilde;and&uacute;-01	Servidor&#x20;de&#x20;producci&oacute;n&#x20;&ndash;&#x20;東京&#x20;🚀	2	1	300	1	0		4	0	0	0	0	4
11	WIN-SRV-01	WIN-SRV-01	2	1	300	9	0		2	0	0	0	0	2
12	huge-values-01	huge-values-01	2	1	300	1	0		10	0	1	0	0	11
13	bare-agent-01	bare-agent-01	10	1	300	10	0		2	0	0	0	0	2
14	inventory-host-01	inventory-host-01	2	1	300	1	0		3	0	0	0	0	3
15	tz-host-01	tz-host-01	2	1	300	1	-5		2	0	0	0	0	2
16	many-modules-01	many-modules-01	2	1	300	1	0		375	0	75	0	150	600
17	odd-modules-01	odd-modules-01	2	1	300	1	0		1	0	0	0	0	1
OUT
	# Every module but v17's 600: type, last value, status, last status.
	run sql "SELECT a.id_agente, m.nombre, m.id_tipo_modulo,
	    LEFT(REPLACE(REPLACE(e.datos, '\n', '|'), '\t', '>'), 24), e.estado, e.last_status
	    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo)
	    JOIN tagente a ON a.id_agente = m.id_agente WHERE a.id_agente <> 16
	    ORDER BY m.id_agente_modulo"
	assert_output - <<'OUT'
1	Free&#x20;RAM&#x20;MB	1	2048.00000	0	0
2	HTTP&#x20;workers	1	21.00000	0	0
3	sshd&#x20;running	2	1.00000	0	0
3	cron&#x20;running	2	0.00000	1	1
3	Forced&#x20;critical	1	5.00000	1	1
3	Forced&#x20;warning&#x20;&#40;lowercase&#41;	3	degraded	2	2
3	Proc&#x20;with&#x20;non-boolean&#x20;value	2	3.00000	0	0
4	Last&#x20;backup&#x20;result	3	FAILED: disk full on /ba	1	1
4	Service&#x20;state&#x20;&#40;inverse&#41;	3	inactive	1	1
4	Invalid&#x20;regex&#x20;threshold	3	anything	0	0
4	Numeric&#x20;looking&#x20;string	3	00042	0	0
4	Async&#x20;string&#x20;event	23	user root logged in from	0	0
5	eth0&#x20;rx&#x20;bytes/s	4		4	4
5	Packets&#x20;since&#x20;last&#x20;sample	5		4	4
5	Counter&#x20;with&#x20;post_process	4		4	4
6	Job&#x20;finished	21	0.00000	1	1
6	Job&#x20;duration&#x20;s	22	4211.50000	1	1
6	Job&#x20;output	23	rsync: 1204 files transf	0	0
7	Buffered&#x20;temperature	1	22.70000	0	0
7	Event&#x20;log&#x20;lines	23	Service Spooler started	0	0
8	CPU&#x20;user&#x20;%	1	93.50000	0	1
8	Out&#x20;of&#x20;range&#x20;value	1		4	4
8	Inverse&#x20;critical&#x20;window	1	25.00000	1	1
8	Unknown&#x20;tags&#x20;go&#x20;to&#x20;extended_info	1	1.00000	0	0
9	Escaped&#x20;&lt;name&gt;&#x20;&amp;&#x20;more	3	plain text with <angle> 	0	0
9	CDATA&#x20;containing&#x20;]]&gt;&#x20;split	3	value with ]]> inside, r	0	0
9	Padded&#x20;name	3	  leading and trailing s	0	0
9	Multilinename	3	line 1|line 2|>tabbed li	0	0
9	Mixed&#x20;content	1	12.00000	0	0
9	HTML&#x20;in&#x20;data&#x20;&#40;stored&#x20;XSS&#x20;probe&#41;	3	<script>alert("x")</scri	0	0
10	Temperatura&#x20;sala&#x20;&#40;&#xb0;C&#41;	1	23.40000	0	0
10	ディスク使用率	1	71.00000	0	0
10	Emoji&#x20;status&#x20;😀	3	OK ✅ 𝄞 (4-byte UTF-8) e 	0	0
10	RTL&#x20;mark&#x20;test	3	‏שלום‎ mixed	0	0
11	Espacio&#x20;libre&#x20;C:	1	37.00000	0	0
11	Servicio&#x20;de&#x20;impresi&oacute;n	2	1.00000	0	0
12	Max&#x20;double	1	179769313486231570814527	0	0
12	Min&#x20;double	1	-17976931348623157081452	0	0
12	Tiny	1	0.00000	0	0
12	Many&#x20;digits	1	123456789012345677877719	0	0
12	Negative&#x20;zero	1	-0.00000	0	0
12	Exponent	1	601999999999999995805696	0	0
12	Leading&#x20;plus	1	42.00000	0	0
12	Decimal&#x20;comma	1	3.14150	0	0
12	Leading&#x20;dot	1	0.50000	0	0
12	Bigint&#x20;boundary	1	9223372036854775808.0000	0	0
12	Huge&#x20;string&#x20;~600KB	3	row 000001: xxxxxxxxxxxx	1	1
13	No&#x20;type&#x20;given	1	7.00000	0	0
13	String&#x20;without&#x20;description	3	hello	0	0
14	Disk&#x20;/	1	61.00000	0	0
14	Disk&#x20;/&#x20;inodes	1	12.00000	0	0
14	Orphan&#x20;again	1	3.00000	0	0
15	Server-time&#x20;sample	1	1.00000	0	0
15	Module-level&#x20;epoch&#x20;timestamp	1	2.00000	0	0
17	Same&#x20;name&#x20;twice	1	1.00000	0	0
OUT
	run sql "SELECT data, id_usuario FROM tevento WHERE data LIKE 'FAILED%'"
	assert_output "$(printf 'FAILED:&#x20;disk&#x20;full&#x20;on&#x20;/backup\t')"
	# A status event for each change to critical or warning, with the
	# value entity-encoded as Pandora's server does (tevento.data at most
	# 255 bytes, never half an entity), entity-encoded text.
	run sql "SELECT e.id_agente, m.nombre, e.event_type, e.criticity, e.estado,
	    e.module_status, LEFT(e.evento, 160), LENGTH(e.data) FROM tevento e
	    LEFT JOIN tagente_modulo m ON m.id_agente_modulo = e.id_agentmodule
	    WHERE e.event_type <> 'new_agent' AND e.id_agente <> 16 ORDER BY e.id_evento"
	assert_output - <<'OUT'
3	cron&#x20;running	going_up_critical	4	0	1	Module&#x20;&#039;cron&#x20;running&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;0&#41;	1
3	Forced&#x20;critical	going_up_critical	4	0	1	Module&#x20;&#039;Forced&#x20;critical&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;5&#41;	1
3	Forced&#x20;warning&#x20;&#40;lowercase&#41;	going_up_warning	3	0	2	Module&#x20;&#039;Forced&#x20;warning&#x20;&#40;lowercase&#41;&#039;&#x20;is&#x20;going&#x20;to&#x20;WARNING&#x20;&#40;degraded&#41;	8
4	Last&#x20;backup&#x20;result	going_up_critical	4	0	1	Module&#x20;&#039;Last&#x20;backup&#x20;result&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;FAILED:&#x20;disk&#x20;full&#x20;on&#x20;/backup&#41;	48
4	Service&#x20;state&#x20;&#40;inverse&#41;	going_up_critical	4	0	1	Module&#x20;&#039;Service&#x20;state&#x20;&#40;inverse&#41;&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;inactive&#41;	8
6	Job&#x20;finished	going_up_critical	4	0	1	Module&#x20;&#039;Job&#x20;finished&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;0&#41;	1
6	Job&#x20;duration&#x20;s	going_up_critical	4	0	1	Module&#x20;&#039;Job&#x20;duration&#x20;s&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;4211.5&#41;	6
8	Inverse&#x20;critical&#x20;window	going_up_critical	4	0	1	Module&#x20;&#039;Inverse&#x20;critical&#x20;window&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;25&#41;	2
12	Huge&#x20;string&#x20;~600KB	going_up_critical	4	0	1	Module&#x20;&#039;Huge&#x20;string&#x20;~600KB&#039;&#x20;is&#x20;going&#x20;to&#x20;CRITICAL&#x20;&#40;row&#x20;000001:&#x20;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx	255
OUT
	run sql "SELECT COUNT(*) FROM tevento WHERE event_type = 'new_agent'"
	assert_output 17
	# v17: 600 modules, 75 async_proc at 0 are critical, 150 incremental
	# ones wait for a second sample.
	run sql "SELECT COUNT(*), SUM(e.estado = 1), SUM(e.estado = 4),
	    (SELECT COUNT(*) FROM tevento WHERE id_agente = 16 AND event_type = 'going_up_critical')
	    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo) WHERE m.id_agente = 16"
	assert_output "$(printf '600\t75\t150\t75')"
	# History of v06 (async: every sample) and v07 (datalist entries at
	# their own times, sorted; an entry without value is skipped).
	run sql "SELECT m.nombre, d.datos, d.utimestamp FROM tagente_datos d
	    JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.id_agente IN (6, 7)
	    ORDER BY d.id_agente_modulo, d.utimestamp"
	assert_output - <<'OUT'
Job&#x20;finished	0	1711622100
Job&#x20;duration&#x20;s	4211.5	1711622100
Buffered&#x20;temperature	21.5	1711621800
Buffered&#x20;temperature	22	1711622100
Buffered&#x20;temperature	22.7	1711622400
OUT
	run sql "SELECT m.nombre, d.datos, d.utimestamp FROM tagente_datos_string d
	    JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.id_agente IN (6, 7)
	    ORDER BY d.id_agente_modulo, d.utimestamp"
	assert_output - <<'OUT'
Job&#x20;output	rsync: 1204 files transferred	1711622100
Event&#x20;log&#x20;lines	Service Spooler stopped	1711621872
Event&#x20;log&#x20;lines	Service Spooler started	1711621875
OUT
	# v05: first samples of incremental modules only store the raw counter.
	run sql "SELECT i.id_agente_modulo, m.nombre, i.datos, i.utimestamp
	    FROM tagente_datos_inc i JOIN tagente_modulo m USING (id_agente_modulo)
	    WHERE m.id_agente = 5 ORDER BY 1"
	assert_output - <<'OUT'
13	eth0&#x20;rx&#x20;bytes/s	98231776512	1711621800
14	Packets&#x20;since&#x20;last&#x20;sample	1234567	1711621800
15	Counter&#x20;with&#x20;post_process	5000000	1711621800
OUT
	run sql "SELECT COUNT(*) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.id_agente = 5"
	assert_output 0
	# Decimal comma in an option (post_process 0,008) and in values.
	run sql "SELECT post_process FROM tagente_modulo WHERE nombre = 'Counter&#x20;with&#x20;post_process'"
	assert_output 0.008
	# v08: options at creation; unknown tags into extended_info, escaped;
	# the value outside [min, max] is refused (module stays not-init).
	run sql "SELECT nombre, extended_info, unit, custom_id, cron_interval,
	    module_interval, min, max, min_ff_event_critical, each_ff FROM tagente_modulo
	    WHERE id_agente = 8 ORDER BY id_agente_modulo"
	assert_output - <<'OUT'
CPU&#x20;user&#x20;%		%	CPU-USR	*/5 * * * *	300	0	100	3	1
Out&#x20;of&#x20;range&#x20;value					60	0	100	0	0
Inverse&#x20;critical&#x20;window					60	0	0	0	0
Unknown&#x20;tags&#x20;go&#x20;to&#x20;extended_info	vendor_field: &lt;b&gt;bold&lt;/b&gt;<br/>another_field: 42<br/>				60	0	0	0	0
OUT
	# v12: the 636000-byte string is stored whole, its event is cut.
	run sql "SELECT LENGTH(e.datos), LENGTH(s.datos), LENGTH(v.data), LENGTH(v.evento)
	    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo)
	    JOIN tagente_datos_string s USING (id_agente_modulo)
	    JOIN tevento v ON v.id_agentmodule = m.id_agente_modulo WHERE m.id_agente = 12"
	assert_output "$(printf '636000\t636000\t255\t414')"
	# v19 (no-learn): no new module, v02's interval and mode kept.
	run sql "SELECT COUNT(*) FROM tagente_modulo WHERE id_agente = 2"
	assert_output 1
	run sql "SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.id_agente = 2"
	assert_output 17,21
	grep -q 'event=module.not_learnt .*module="Brand new module"' "$W/dl.log"
	grep -q 'event=module.mismatch .*module="Same name twice" db_type=generic_data xml_type=generic_data_string' "$W/dl.log"
	run sql "SELECT COUNT(*) FROM octo_loaded_file"
	assert_output 18
	sanitizer_clean "$W/dl.log"
}

@test "entity-encoded names: spaces, quotes, <, >, &, UTF-8; console-made agents are found" {
	name='web 01 "x" <a&b> it'\''s ñandú €'
	agent "$name" '2026/11/27 21:00:00' \
	    "$(module 'CPU (user) \ <%>' generic_data 5)" > "$W/a.data"
	put "$W/a.data" 1.a.data
	run dl
	assert_success
	run sql "SELECT nombre, alias FROM tagente"
	assert_output "$(printf 'web&#x20;01&#x20;&quot;x&quot;&#x20;&lt;a&amp;b&gt;&#x20;it&#039;s&#x20;&ntilde;and&uacute;&#x20;&euro;\tweb&#x20;01&#x20;&quot;x&quot;&#x20;&lt;a&amp;b&gt;&#x20;it&#039;s&#x20;&ntilde;and&uacute;&#x20;&euro;')"
	run sql "SELECT nombre FROM tagente_modulo"
	assert_output 'CPU&#x20;&#40;user&#41;&#x20;&#92;&#x20;&lt;%&gt;'
	# The same names again: found, nothing created twice.
	agent "$name" '2026/11/27 21:05:00' \
	    "$(module 'CPU (user) \ <%>' generic_data 6)" > "$W/b.data"
	put "$W/b.data" 2.b.data
	mkconf allow_create no
	run dl
	assert_success
	run sql "SELECT COUNT(*), (SELECT COUNT(*) FROM tagente_modulo), (SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos) FROM tagente"
	assert_output "$(printf '1\t1\t5,6')"
	# An agent the console created (io_safe_input) is found by its
	# encoded name, byte for byte: "console agent" is another agent, and
	# since the database's collation takes it for "Console Agent", it is
	# not created either.
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('Console&#x20;Agent', 'Console&#x20;Agent', 2, 1, 300)"
	agent 'Console Agent' '2026/11/27 21:10:00' "$(module Load generic_data 1)" > "$W/c.data"
	put "$W/c.data" 3.c.data
	agent 'console agent' '2026/11/27 21:15:00' "$(module load generic_data 2)" > "$W/d.data"
	put "$W/d.data" 4.d.data
	run dl
	assert_success
	run sql "SELECT a.nombre, COUNT(m.id_agente_modulo), GROUP_CONCAT(m.nombre) FROM tagente a LEFT JOIN tagente_modulo m USING (id_agente) WHERE a.nombre LIKE 'Console%' GROUP BY a.id_agente"
	assert_output "$(printf 'Console&#x20;Agent\t1\tLoad')"
	run sql "SELECT GROUP_CONCAT(d.datos ORDER BY d.utimestamp) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre = 'Load'"
	assert_output 1
	grep -q '^reason=rule=create line=0 unknown agent' "$Q/reject/4.d.data.reason"
	mkconf allow_create yes
	put "$W/d.data" 5.d.data
	run dl
	assert_success
	grep -q '^reason=rule=name-collision line=0 agent "console agent" would collide with the existing agent "Console&#x20;Agent"' "$Q/reject/5.d.data.reason"
	run sql "SELECT COUNT(*) FROM tagente WHERE nombre LIKE 'Console%'"
	assert_output 1
}

@test "a created agent's name is claimed in octo_agent_name; deleted by the console and sent again, it is created again and its name claimed again" {
	agent web01 '2026/11/27 21:00:00' "$(module Load generic_data 1)" > "$W/a.data"
	put "$W/a.data" 1.a.data
	run dl
	assert_success
	run sql "SELECT n.id_agente = a.id_agente, n.node, LENGTH(n.name_key) FROM octo_agent_name n, tagente a"
	assert_output "$(printf '1\t%s\t40' "$(hostname)")"
	# The console deletes the agent (a plain DELETE); the row stays.
	old=$(sql "SELECT id_agente FROM tagente")
	sql "DELETE FROM tagente"
	agent web01 '2026/11/27 21:05:00' "$(module Load generic_data 2)" > "$W/b.data"
	put "$W/b.data" 2.b.data
	run dl
	assert_success
	run sql "SELECT COUNT(*), MAX(id_agente) <> $old FROM tagente"
	assert_output "$(printf '1\t1')"
	run sql "SELECT COUNT(*), SUM(n.id_agente = a.id_agente) FROM octo_agent_name n, tagente a"
	assert_output "$(printf '1\t1')"
}

@test "a stale name claim is taken over: its agent renamed by the console, or its id now another agent's (ids reused after a TRUNCATE)" {
	agent web01 '2026/11/27 21:00:00' "$(module Load generic_data 1)" > "$W/a.data"
	put "$W/a.data" 1.a.data
	run dl
	assert_success
	# The console renames the agent: a new agent may take the old name.
	sql "UPDATE tagente SET nombre = 'web01-renamed'"
	agent web01 '2026/11/27 21:05:00' "$(module Load generic_data 2)" > "$W/b.data"
	put "$W/b.data" 2.b.data
	run dl
	assert_success
	queue_empty
	run sql "SELECT a.nombre FROM octo_agent_name n JOIN tagente a USING (id_agente) ORDER BY a.nombre"
	assert_output "web01"
	run sql "SELECT nombre FROM tagente ORDER BY nombre"
	assert_output "$(printf 'web01\nweb01-renamed')"
	# Ids reused: another agent now has the id web01's claim names.
	sql "TRUNCATE tagente"
	agent db01 '2026/11/27 21:10:00' "$(module Load generic_data 3)" > "$W/c.data"
	put "$W/c.data" 3.c.data
	run dl
	assert_success
	[ "$(sql "SELECT COUNT(*) FROM octo_agent_name n JOIN tagente a USING (id_agente) WHERE a.nombre = 'db01'")" -eq 1 ]
	agent web01 '2026/11/27 21:15:00' "$(module Load generic_data 4)" > "$W/d.data"
	put "$W/d.data" 4.d.data
	run dl
	assert_success
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT a.nombre FROM octo_agent_name n JOIN tagente a USING (id_agente) ORDER BY a.nombre"
	assert_output "$(printf 'db01\nweb01')"
}

@test "exactly once: the same file twice is a logged duplicate, also with another envelope" {
	f=$DATA/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
	put "$f" 1.first.data
	run dl
	assert_success
	before=$(count_rows)
	# Again, bare; then relayed with an envelope: the digest is of the
	# agent XML, so both are duplicates.
	put "$f" 2.again.data
	envelope "$f" 3.relayed.data 'Auth-Agent: research-agent-01' 'Auth-Group: 2' 'Auth-Create: yes'
	run dl
	assert_success
	[ "$(count_rows)" = "$before" ]
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	[ "$(grep -c 'event=file.duplicate' "$W/dl.log")" -eq 2 ]
	grep -q 'event=drain.done .* loaded=0 duplicates=2 ' "$W/dl.log"
	run sql "SELECT sha256, item, id_agente FROM octo_loaded_file"
	assert_output "$(printf '%s\t1.first.data\t1' "$(sha256sum < "$f" | cut -c1-64)")"
	grep -h '"action":"file.duplicate"' "$SPOOL"/audit-sign/new/* > "$W/dups"
	[ "$(wc -l < "$W/dups")" -eq 2 ]
	grep -q '"outcome":"duplicate"' "$W/dups"
}

@test "status over several files: thresholds, flip-flop, events validated, counters" {
	thr='<min_warning>50</min_warning><max_warning>90</max_warning><min_critical>90</min_critical><max_critical>0</max_critical>'
	ff='<min_ff_event>1</min_ff_event><min_critical>1</min_critical><max_critical>0</max_critical>'
	i=0
	for v in 10:5 60:5 95:5 95:1 40:1 40:0; do
		i=$((i + 1))
		agent st-host "2026/11/27 21:0$i:00" \
		    "$(module Pct generic_data "${v%:*}" "$thr")" \
		    "$(module Flip generic_data "${v#*:}" "$ff")" > "$W/$i.data"
		put "$W/$i.data" "$i.st.data"
	done
	run dl
	assert_success
	# Pct: normal, warning, critical (event each), stays critical (no
	# event), back to normal (going_down_normal, created validated, so
	# acknowledged at once, as Pandora's server does); each new event
	# validates the module's older open ones.
	# Flip (min_ff_event 1): a change needs two samples in a row, so it
	# turns critical at the second 5 and the single 0 at the end is not
	# enough to go back.
	run sql "SELECT m.nombre, e.event_type, e.criticity, e.estado, e.module_status, e.data, e.ack_utimestamp > 0 FROM tevento e JOIN tagente_modulo m ON m.id_agente_modulo = e.id_agentmodule ORDER BY e.id_evento"
	assert_output - <<'OUT'
Pct	going_up_warning	3	1	2	60	1
Flip	going_up_critical	4	0	1	5	0
Pct	going_up_critical	4	1	1	95	1
Pct	going_down_normal	2	1	0	40	1
OUT
	run sql "SELECT m.nombre, e.datos, e.estado, e.known_status, e.last_status, e.last_known_status, e.status_changes, e.last_status_change FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) ORDER BY 1"
	assert_output - <<'OUT'
Flip	0.00000	1	1	0	0	0	1795813320
Pct	40.00000	0	0	0	0	1	1795813500
OUT
	run sql "SELECT normal_count, warning_count, critical_count, unknown_count, notinit_count, total_count FROM tagente"
	assert_output "$(printf '1\t0\t1\t0\t0\t2')"
	# Counters follow the last file: Pct critical again.
	agent st-host '2026/11/27 21:10:00' "$(module Pct generic_data 99 "$thr")" "$(module Flip generic_data 7 "$ff")" > "$W/7.data"
	put "$W/7.data" 7.st.data
	run dl
	assert_success
	run sql "SELECT normal_count, warning_count, critical_count, total_count FROM tagente"
	assert_output "$(printf '0\t0\t2\t2')"
	# A sample older than the last one is history, not status.
	agent st-host '2026/11/27 20:00:00' "$(module Pct generic_data 1 "$thr")" > "$W/8.data"
	put "$W/8.data" 8.st.data
	run dl
	assert_success
	run sql "SELECT e.datos, e.estado, e.timestamp FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre = 'Pct'"
	assert_output "$(printf '99.00000\t1\t2026-11-27 21:10:00')"
	run sql "SELECT COUNT(*) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre = 'Pct' AND d.utimestamp = 1795809600 AND d.datos = 1"
	assert_output 1
}

@test "counters: recounted by a transaction that moves a status or creates a module or the agent, or when another writer flagged the agent; an unflagged agent whose statuses all stay keeps its counters" {
	thr='<min_critical>90</min_critical><max_critical>0</max_critical>'
	mk() {		# mk N MINUTE MODULE...: a bare file into the queue
		local n=$1 min=$2
		shift 2
		agent ct-host "2026/11/27 21:$min:00" "$@" > "$W/$n.data"
		put "$W/$n.data" "$n.ct.data"
	}
	A() { module A generic_data "$1"; }
	B() { module B generic_data "$1" "$thr"; }
	C() { module C generic_data_inc "$1"; }
	mark() {	# mark SET: another writer's update of the agent
		sql "UPDATE tagente SET $1 WHERE nombre = 'ct-host'"
	}
	recount() {	# recount WANT [ARG]: db-load, the counters and flag
		run dl ${2:+"$2"}
		assert_success
		run sql "SELECT normal_count, critical_count, notinit_count, total_count, update_module_count FROM tagente WHERE nombre = 'ct-host'"
		assert_output "$(printf "$1")"
	}
	# Created without a module: counted, the creation's flag cleared.
	mk 0 00
	recount '0\t0\t0\t0\t0'
	# Two modules created, normal with their first data.
	mk 1 01 "$(A 10)" "$(B 5)"
	recount '2\t0\t0\t2\t0'
	# A stale count no recount would leave; new values, the same
	# statuses: data written, counters untouched.
	mark 'normal_count = 77'
	mk 2 02 "$(A 11)" "$(B 6)"
	recount '77\t0\t0\t2\t0'
	run sql "SELECT e.datos FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) ORDER BY m.nombre"
	assert_output "$(printf '11.00000\n6.00000')"
	# Another writer's "recount me" flag: recounted and cleared, though
	# no status moved.
	mark 'update_module_count = 1'
	mk 3 03 "$(A 12)" "$(B 7)"
	recount '2\t0\t0\t2\t0'
	# B goes critical: recounted from the rows.
	mark 'normal_count = 77'
	mk 4 04 "$(A 12)" "$(B 95)"
	recount '1\t1\t0\t2\t0'
	# A module created whose first sample moves nothing (an incremental
	# module's first value: no rate yet, not-init): recounted for the
	# creation alone.
	mark 'normal_count = 77'
	mk 5 05 "$(A 13)" "$(B 96)" "$(C 1000)"
	recount '1\t1\t1\t3\t0'
	# One transaction: a file moving statuses (B back to normal, C's
	# first rate), then one moving none: recounted at the commit, as the
	# last file left them.
	mark 'normal_count = 77'
	mk 6 06 "$(A 14)" "$(B 7)" "$(C 1100)"
	mk 7 07 "$(A 15)" "$(B 8)" "$(C 1200)"
	recount '3\t0\t0\t3\t0'
	grep 'event=drain.done' "$W/dl.log" | tail -n 1 > "$W/done"
	grep -q ' seen=2 ' "$W/done"
	grep -q ' batches=1 ' "$W/done"
	# The flag read by the batch's agent query too (agent-auth's
	# decisions: event=agent.prefetch), no status moving.
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	mark 'normal_count = 77, update_module_count = 1'
	agent ct-host '2026/11/27 21:08:00' "$(A 16)" "$(B 9)" "$(C 1300)" > "$W/8.data"
	decision "$W/8.data" 8.ct.data ct-host 2 'Auth-Create: no'
	recount '3\t0\t0\t3\t0' -v
	grep -q 'event=agent.prefetch names=1 agents=1$' "$W/dl.log"
	queue_empty
}

@test "incremental modules: first sample, rate, equal and older timestamps, counter reset" {
	n=0
	for s in 1000@21:00:00 1600@21:05:00 1900@21:05:00 1300@21:03:00 100@21:10:00 400@21:15:00; do
		n=$((n + 1))
		agent inc-host "2026/11/27 ${s#*@}" \
		    "$(module Rate generic_data_inc "${s%@*}")" \
		    "$(module Delta generic_data_inc_abs "${s%@*}" '<post_process>0,5</post_process>')" > "$W/$n.data"
		put "$W/$n.data" "$n.inc.data"
	done
	run dl
	assert_success
	# Rate: (1600 - 1000) / 300 s = 2; the equal and the older timestamp
	# and the reset (100 < 1600) give nothing; then (400 - 100) / 300 = 1.
	# Delta: x 0.5 post_process: 300, then 150.
	run sql "SELECT m.nombre, GROUP_CONCAT(CONCAT(d.datos, '@', d.utimestamp) ORDER BY d.utimestamp SEPARATOR ' ') FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) GROUP BY m.nombre ORDER BY 1"
	assert_output - <<'OUT'
Delta	300@1795813500 150@1795814100
Rate	2@1795813500 1@1795814100
OUT
	run sql "SELECT m.nombre, i.datos, i.utimestamp FROM tagente_datos_inc i JOIN tagente_modulo m USING (id_agente_modulo) ORDER BY 1"
	assert_output "$(printf 'Delta\t400\t1795814100\nRate\t400\t1795814100')"
	run sql "SELECT COUNT(*) FROM tagente_datos_inc"
	assert_output 2
}

@test "a data error rejects only that file of the batch, all of it" {
	agent good-1 '2026/11/27 21:00:00' "$(module M1 generic_data 1)" > "$W/1.data"
	agent bad-2 '2026/11/27 21:00:00' "$(module M1 generic_data 1)" \
	    "$(module M2 generic_data 2 '<min>1e30</min>')" \
	    "$(module M3 generic_data 3)" > "$W/2.data"
	agent good-3 '2026/11/27 21:00:00' "$(module M1 generic_data 3)" > "$W/3.data"
	put "$W/1.data" 1.good.data
	put "$W/2.data" 2.bad.data
	put "$W/3.data" 3.good.data
	run dl
	assert_success
	queue_empty
	run sql "SELECT GROUP_CONCAT(nombre ORDER BY nombre) FROM tagente"
	assert_output good-1,good-3
	run sql "SELECT COUNT(*), (SELECT COUNT(*) FROM tagente_estado), (SELECT COUNT(*) FROM tagente_datos), (SELECT COUNT(*) FROM tevento), (SELECT COUNT(*) FROM octo_loaded_file) FROM tagente_modulo"
	assert_output "$(printf '2\t2\t2\t2\t2')"
	[ -f "$Q/reject/2.bad.data" ]
	grep -q '^code=65$' "$Q/reject/2.bad.data.reason"
	grep -q '^reason=rule=db line=0 module insert: the database cannot store a value: error 1264 (ER_WARN_DATA_OUT_OF_RANGE)' "$Q/reject/2.bad.data.reason"
	# An existing agent: the file's agent update and new modules go too.
	agent good-1 '2026/11/27 21:05:00' "$(module M1 generic_data 5)" \
	    "$(module M9 generic_data 9 '<module_interval>100000000</module_interval>')" > "$W/4.data"
	put "$W/4.data" 4.bad.data
	run dl
	assert_success
	run sql "SELECT a.ultimo_contacto_remoto, COUNT(*), (SELECT GROUP_CONCAT(datos) FROM tagente_datos d JOIN tagente_modulo x USING (id_agente_modulo) WHERE x.id_agente = a.id_agente) FROM tagente a JOIN tagente_modulo m USING (id_agente) WHERE a.nombre = 'good-1'"
	assert_output "$(printf '2026-11-27 21:00:00\t1\t1')"
	grep -q 'error 1264' "$Q/reject/4.bad.data.reason"
	grep -h '"action":"item.rejected"' "$SPOOL"/audit-sign/new/* | grep -q '"item":"4.bad.data"'
}

@test "creation: off by default (77); agent-auth's Auth-Create: yes allows it, no forbids it" {
	mkconf
	agent new-1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/n.data"
	put "$W/n.data" 1.new.data
	run dl
	assert_success
	[ -f "$Q/reject/1.new.data" ]
	grep -q '^code=77$' "$Q/reject/1.new.data.reason"
	grep -q '^reason=rule=create line=0 unknown agent and creation not allowed' "$Q/reject/1.new.data.reason"
	# Without agent-auth's key, Auth-* keys are nobody's decision: the
	# configuration alone decides (creation off).
	envelope "$W/n.data" 2.new.data 'Auth-Agent: new-1' 'Auth-Group: 2' 'Auth-Create: yes'
	run dl
	assert_success
	grep -q '^code=77$' "$Q/reject/2.new.data.reason"
	grep -q 'reason=rule=create line=0 ' "$Q/reject/2.new.data.reason"
	# With it, only a stamped decision counts, and the agent is created
	# in the decision's group (2), not the file's or autocreate_group.
	mkconf auth_pubkey "$KEYS/agent-auth.pub" autocreate_group 10 autocreate_group_force yes
	envelope "$W/n.data" 3.new.data 'Auth-Agent: new-1' 'Auth-Group: 2' 'Auth-Create: yes'
	run dl
	assert_success
	grep -q '^reason=rule=stamp line=0 the envelope carries no stamp of agent-auth' "$Q/reject/3.new.data.reason"
	decision "$W/n.data" 4.new.data new-1 2 'Auth-Create: yes'
	run dl
	assert_success
	run sql "SELECT nombre, id_grupo FROM tagente"
	assert_output "$(printf 'new-1\t2')"
	grep -h '"action":"agent.created"' "$SPOOL"/audit-sign/new/* | grep -q '"authorised_by":"agent-auth"'
	# A decision for a group that does not exist creates nothing.
	agent new-3 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/o.data"
	decision "$W/o.data" 5.new.data new-3 999 'Auth-Create: yes'
	run dl
	assert_success
	grep -q 'rule=group line=0 cannot create agent: group 999 of the decision does not exist' "$Q/reject/5.new.data.reason"
	# allow_create on, but agent-auth said no.
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	agent new-2 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/m.data"
	decision "$W/m.data" 6.new.data new-2 2 'Auth-Create: no'
	run dl
	assert_success
	grep -q '^code=77$' "$Q/reject/6.new.data.reason"
	# A bare file: no decision at all.
	put "$W/m.data" 7.new.data
	run dl
	assert_success
	grep -q '^reason=rule=auth line=0 no decision of agent-auth' "$Q/reject/7.new.data.reason"
	# A bad value in the envelope is a malformed item.
	envelope "$W/m.data" 8.new.data 'Auth-Create: maybe'
	run dl
	assert_success
	grep -q 'reason=rule=envelope line=0 envelope: bad Auth-Create' "$Q/reject/8.new.data.reason"
	run sql "SELECT COUNT(*) FROM tagente"
	assert_output 1
	# The rejections are audited.
	[ "$(grep -h '"action":"item.rejected"' "$SPOOL"/audit-sign/new/* | grep -c '"tool":"db-load"')" -ge 6 ]
}

@test "an item from another owner than the producer is rejected unread, the batch goes on" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (another owner)"
	agent own-1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	agent stranger-1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/2.data"
	put "$W/1.data" 1.own.data
	put "$W/2.data" 2.stranger.data
	chown daemon "$Q/new/2.stranger.data"
	run dl
	assert_success
	run sql "SELECT nombre FROM tagente"
	assert_output own-1
	grep -q "^reason=rule=producer line=0 owner uid $(id -u daemon) is not a producer" \
	    "$Q/reject/2.stranger.data.reason"
	grep -h '"item":"2.stranger.data"' "$SPOOL"/audit-sign/new/* | grep -q '"action":"item.rejected"'
}

@test "learning: no-learn mode, Auth-Learn: no, octo_agent_policy and module caps" {
	mkconf allow_create yes module_cap 3
	agent cap-host '2026/11/27 21:00:00' "$(module A generic_data 1)" \
	    "$(module B generic_data 1)" "$(module C generic_data 1)" \
	    "$(module D generic_data 1)" > "$W/1.data"
	put "$W/1.data" 1.cap.data
	run dl
	assert_success
	run sql "SELECT GROUP_CONCAT(nombre ORDER BY nombre) FROM tagente_modulo"
	assert_output A,B,C
	grep -q 'event=module.cap .* cap=3 module="D"' "$W/dl.log"
	grep -h '"action":"file.loaded"' "$SPOOL"/audit-sign/new/* | grep -q '"modules_over_cap":1'
	# The envelope's cap is lower still; agent-auth may say no learning.
	agent cap-host '2026/11/27 21:05:00' "$(module A generic_data 2)" "$(module E generic_data 1)" > "$W/2.data"
	mkconf allow_create yes module_cap 3 auth_pubkey "$KEYS/agent-auth.pub"
	decision "$W/2.data" 2.cap.data cap-host 2 'Auth-Create: no' 'Auth-Learn: no'
	run dl
	assert_success
	run sql "SELECT COUNT(*) FROM tagente_modulo"
	assert_output 3
	# A per-agent policy: a cap of 4 lets E in; then no_learn stops F.
	mkconf allow_create yes module_cap 1
	sql "INSERT INTO octo_agent_policy (id_agente, module_cap) VALUES (1, 4)"
	agent cap-host '2026/11/27 21:10:00' "$(module E generic_data 1)" > "$W/3.data"
	put "$W/3.data" 3.cap.data
	run dl
	assert_success
	sql "UPDATE octo_agent_policy SET no_learn = 1 WHERE id_agente = 1"
	agent cap-host '2026/11/27 21:15:00' "$(module F generic_data 1)" "$(module E generic_data 3)" > "$W/4.data"
	put "$W/4.data" 4.cap.data
	run dl
	assert_success
	run sql "SELECT GROUP_CONCAT(nombre ORDER BY nombre) FROM tagente_modulo"
	assert_output A,B,C,E
	run sql "SELECT GROUP_CONCAT(d.datos ORDER BY d.utimestamp) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre IN ('A', 'E')"
	assert_output 1,2,1,3
	# An agent created in no-learn mode (agent_mode 0) gets the modules
	# of its first file only.
	printf "<?xml version='1.0'?>\n<agent_data agent_name='nl' agent_mode='0' timestamp='2026/11/27 21:00:00' interval='60'>%s</agent_data>\n" "$(module X generic_data 1)" > "$W/5.data"
	printf "<?xml version='1.0'?>\n<agent_data agent_name='nl' agent_mode='1' timestamp='2026/11/27 21:01:00' interval='120'>%s%s</agent_data>\n" "$(module X generic_data 2)" "$(module Y generic_data 1)" > "$W/6.data"
	put "$W/5.data" 5.nl.data
	put "$W/6.data" 6.nl.data
	mkconf allow_create yes
	run dl
	assert_success
	run sql "SELECT a.modo, a.intervalo, GROUP_CONCAT(m.nombre) FROM tagente a JOIN tagente_modulo m USING (id_agente) WHERE a.nombre = 'nl' GROUP BY a.id_agente"
	assert_output "$(printf '0\t60\tX')"
}

@test "disabled agents: data dropped (file done once); autodisable agents come back" {
	agent dis '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	put "$W/1.data" 1.dis.data
	run dl
	assert_success
	sql "UPDATE tagente SET disabled = 1"
	agent dis '2026/11/27 21:05:00' "$(module M generic_data 2)" > "$W/2.data"
	put "$W/2.data" 2.dis.data
	run dl
	assert_success
	grep -q 'event=file.skipped id=2.dis.data' "$W/dl.log"
	run sql "SELECT COUNT(*), (SELECT COUNT(*) FROM octo_loaded_file) FROM tagente_datos"
	assert_output "$(printf '1\t2')"
	sql "UPDATE tagente SET modo = 2"
	agent dis '2026/11/27 21:10:00' "$(module M generic_data 3)" > "$W/3.data"
	put "$W/3.data" 3.dis.data
	run dl
	assert_success
	run sql "SELECT disabled, (SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos) FROM tagente"
	assert_output "$(printf '0\t1,3')"
}

# gen_load N: N generated files (40 agents, 10 modules) into the queue.
gen_load() {
	sh "$TOOLS/gen-agents.sh" "$Q/tmp/gen" "$1" 40 10
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$Q/tmp/gen"
	mv "$Q"/tmp/gen/* "$Q/new/"
	rmdir "$Q/tmp/gen"
}

# check_once N: the data of N generated files, each exactly once.
check_once() {
	local n=$1 rounds=$(($1 / 40))
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT COUNT(*) FROM octo_loaded_file"
	assert_output "$n"
	# No (module, time) twice in any history table.
	run sql "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) x), (SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos_string GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) y)"
	assert_output "$(printf '0\t0')"
	# Per file 2 generic_data and 2 async_data rows, per file but each
	# agent's first 2 rates, and 2 proc rows per agent (value constant);
	# 2 strings per file.
	run sql "SELECT (SELECT COUNT(*) FROM tagente_datos), (SELECT COUNT(*) FROM tagente_datos_string), (SELECT COUNT(*) FROM tagente), (SELECT COUNT(*) FROM tagente_modulo), (SELECT COUNT(*) FROM tevento), (SELECT SUM(total_count) FROM tagente)"
	assert_output "$(printf '%d\t%d\t40\t400\t40\t400' $((n * 4 + (n - 40) * 2 + 80)) $((n * 2)))"
	run sql "SELECT COUNT(DISTINCT utimestamp), MIN(utimestamp), MAX(utimestamp) FROM tagente_datos_string"
	assert_output "$(printf '%d\t1795800000\t%d' "$rounds" $((1795800000 + (rounds - 1) * 300)))"
	# The status shows each module's last sample.
	run sql "SELECT COUNT(*) FROM tagente_estado WHERE timestamp <> FROM_UNIXTIME($((1795800000 + (rounds - 1) * 300)))"
	assert_output 0
}

@test "exactly once under SIGKILL at random points and at every crash point (2,000 files)" {
	gen_load 2000
	# Deterministic crash points of lib/drain first, then random kills.
	for p in claimed handled synced published committed; do
		PIPELINE_CRASH_AT=$p "$BIN/db-load" -c "$CONF" -d 2>> "$W/dl.log" && rc=0 || rc=$?
		[ "$rc" -eq 99 ]
	done
	for i in 1 2 3 4 5 6; do
		"$BIN/db-load" -c "$CONF" -d 2>> "$W/dl.log" 3>&- &
		pid=$!
		sleep "0.$((RANDOM % 5 + 1))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
	done
	run dl
	assert_success
	check_once 2000
	grep -q 'event=drain.recover' "$W/dl.log"
	sanitizer_clean "$W/dl.log"
}

@test "two nodes, one database: the same 1,000 files delivered to both (an agent retrying on its secondary server) are loaded once, whichever node takes each" {
	mkconf allow_create yes server_name node-a batch 100
	gen_load 1000
	# The second node: its own spool, the same database.
	mk_spool "$W/spool2"
	sed -e "s#^spool_dir .*#spool_dir $W/spool2#" \
	    -e 's/^server_name node-a$/server_name node-b/' "$CONF" > "$W/b.conf"
	grep -q '^server_name node-b$' "$W/b.conf"
	cp -p "$Q"/new/* "$W/spool2/db-load/new/"
	[ "$(count "$W"/spool2/db-load/new/*)" -eq 1000 ]
	"$BIN/db-load" -c "$CONF" -d 2>> "$W/a.log" 3>&- &
	a=$!
	"$BIN/db-load" -c "$W/b.conf" -d 2>> "$W/b.log" 3>&- &
	b=$!
	wait "$a" || { tail -20 "$W/a.log" >&3; false; }
	wait "$b" || { tail -20 "$W/b.log" >&3; false; }
	check_once 1000
	[ "$(count "$W"/spool2/db-load/new/* "$W"/spool2/db-load/cur/* "$W"/spool2/db-load/reject/*)" -eq 0 ]
	# Each file loaded by one node, a duplicate at the other (summed
	# over the passes: a pass that met the other node's locks ran
	# again, event=db.conflict.retry).
	sum() {
		sed -n 's/.*event=drain.done .* loaded=\([0-9]*\) duplicates=\([0-9]*\) .*/\1 \2/p' "$1" |
		    awk '{ l += $1; d += $2 } END { print l + 0, d + 0 }'
	}
	read -r la_l la_d <<< "$(sum "$W/a.log")"
	read -r lb_l lb_d <<< "$(sum "$W/b.log")"
	echo "# node-a loaded $la_l, duplicates $la_d; node-b loaded $lb_l, duplicates $lb_d; conflicts run again: $(cat "$W/a.log" "$W/b.log" | grep -c 'event=db.conflict.retry')" >&3
	[ $((la_l + lb_l)) -eq 1000 ]
	[ $((la_d + lb_d)) -eq 1000 ]
	run sql "SELECT SUM(node = 'node-a'), SUM(node = 'node-b'), COUNT(*) FROM octo_loaded_file"
	assert_output "$(printf '%d\t%d\t1000' "$la_l" "$lb_l")"
	cat "$W/a.log" "$W/b.log" >> "$W/dl.log"
	sanitizer_clean "$W/dl.log"
}

@test "lingering: SIGKILL mid-batch while files keep arriving (2,000 files); a rerun finishes, exactly once" {
	# Each process lingers (idle_exit 30) and takes the bursts of files
	# that arrive while it runs.  It stops before each COMMIT (a pause
	# file, PIPELINE_PAUSE_AT): released 1 to 4 times, it is killed
	# with SIGKILL at the next one, its batch in cur/ and in an open
	# transaction.
	mkconf allow_create yes batch 50 idle_exit 30
	sh "$TOOLS/gen-agents.sh" "$W/gen" 2000 40 10
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/gen"
	mapfile -t files < <(ls "$W/gen" | LC_ALL=C sort)
	[ "${#files[@]}" -eq 2000 ]
	pause=$(pause_file "$W/p")
	k=0 kills=0 commits=0
	while [ "$k" -lt 2000 ]; do
		rm -f "$pause"
		PIPELINE_PAUSE_AT=precommit PIPELINE_PAUSE_FILE=$pause \
		    "$BIN/db-load" -c "$CONF" -d 2>> "$W/dl.log" 3>&- &
		pid=$!
		# burst: 25 more files, and the process stopped before their
		# commit.
		burst() {
			feed "$W/gen" "$Q" 25
			wait_pause "$pause" "$pid"
		}
		for _ in $(seq 1 $((RANDOM % 4 + 1))); do
			[ "$k" -lt 1975 ] || break
			burst
			# Released: it commits, lingers, takes the next burst.
			rm -f "$pause"
			commits=$((commits + 1))
		done
		burst
		kill -KILL "$pid"
		kills=$((kills + 1))
		wait "$pid" || true
	done
	recovered=$(grep -c 'event=drain.recover' "$W/dl.log" || true)
	echo "# $kills killed mid-batch, $commits batches committed by lingering processes, $recovered recoveries" >&3
	[ "$kills" -ge 10 ]
	[ "$recovered" -ge $((kills - 1)) ]
	rm -f "$pause"
	mkconf allow_create yes
	run dl
	assert_success
	check_once 2000
	sanitizer_clean "$W/dl.log"
}

@test "lingering: each batch reads its agents again; what the console changed between two batches of one process is obeyed" {
	# db-load keeps its agents for one transaction only (db-load(8),
	# idle_exit): between batches the console deletes a module and
	# disables the agent, and the same process must see both.  0.3.0's
	# cache_ttl is accepted and ignored, with a warning.
	mkconf allow_create yes idle_exit 30 cache_ttl 60
	"$BIN/db-load" -c "$CONF" -d 2>> "$W/dl.log" 3>&- &
	pid=$!
	BG_PID=$pid
	agent ling '2026/11/27 21:00:00' "$(module M generic_data 1)" "$(module N generic_data 5)" > "$W/1.data"
	arrive "$W/1.data" 1.ling.data
	settle 1
	old=$(sql "SELECT id_agente_modulo FROM tagente_modulo WHERE nombre = 'M'")
	# The console deletes module M (its status row with it).
	sql "DELETE FROM tagente_estado WHERE id_agente_modulo = $old;
	    DELETE FROM tagente_modulo WHERE id_agente_modulo = $old"
	agent ling '2026/11/27 21:05:00' "$(module M generic_data 2)" "$(module N generic_data 6)" > "$W/2.data"
	arrive "$W/2.data" 2.ling.data
	settle 2
	# M learnt again under a new id; nothing written under the old one.
	run sql "SELECT COUNT(*), MIN(id_agente_modulo) <> $old FROM tagente_modulo WHERE nombre = 'M'"
	assert_output "$(printf '1\t1')"
	run sql "SELECT (SELECT COUNT(*) FROM tagente_estado WHERE id_agente_modulo = $old), (SELECT COUNT(*) FROM tagente_datos WHERE id_agente_modulo = $old), (SELECT COUNT(*) FROM tagente_estado e LEFT JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.id_agente_modulo IS NULL)"
	assert_output "$(printf '0\t1\t0')"
	# The console disables the agent: the next file's data is dropped.
	sql "UPDATE tagente SET disabled = 1 WHERE nombre = 'ling'"
	agent ling '2026/11/27 21:10:00' "$(module M generic_data 3)" "$(module N generic_data 7)" > "$W/3.data"
	arrive "$W/3.data" 3.ling.data
	settle 3
	grep -q 'event=file.skipped id=3.ling.data' "$W/dl.log"
	run sql "SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre = 'N'"
	assert_output "5,6"
	# One process did it all.
	kill -0 "$pid"
	kill -TERM "$pid"
	wait "$pid"
	BG_PID=
	grep -q 'event=conf.ignored key=cache_ttl' "$W/dl.log"
	sanitizer_clean "$W/dl.log"
}

@test "exactly once while mariadbd restarts twice: exit 75, a rerun finishes" {
	gen_load 2000
	# Small batches, and the restart once the first one is committed (its
	# debug line, -v): the run is surely connected and mid-way.
	mkconf allow_create yes batch 40
	touch "$W/dl.log"
	for i in 1 2; do
		n0=$(grep -c 'event=batch.commit rc=0 ' "$W/dl.log" || true)
		"$BIN/db-load" -c "$CONF" -d -v 2>> "$W/dl.log" 3>&- &
		pid=$!
		for _ in $(seq 1 200); do
			[ "$(grep -c 'event=batch.commit rc=0 ' "$W/dl.log" || true)" -gt "$n0" ] && break
			sleep 0.01
		done
		sh "$MDB" stop "$DBDIR"
		sh "$MDB" start "$DBDIR" > /dev/null
		rc=0
		wait "$pid" || rc=$?
		[ "$rc" -eq 75 ]
		! queue_empty || false
	done
	# Either a statement or the COMMIT met the restart; both runs say
	# so and exit 75.
	grep -Eq 'event=(db.temp|db.commit.fail) ' "$W/dl.log"
	[ "$(grep -c 'event=drain.done .* exit=75$' "$W/dl.log")" -eq 2 ]
	run dl
	assert_success
	check_once 2000
	sanitizer_clean "$W/dl.log"
}

@test "the server killed under load (TLS cut: errno 2026 or a lost connection): exit 75, never 78; a rerun finishes" {
	gen_load 400
	mkconf allow_create yes batch 40
	rm -f "$SPOOL"/audit-sign/new/*
	# Stop before a COMMIT, with the TLS connection up, and kill the
	# server there: the next statement meets the cut connection.
	mkdir "$W/pause"
	chmod 0777 "$W/pause"
	PIPELINE_PAUSE_AT=precommit PIPELINE_PAUSE_FILE=$W/pause/paused \
	    "$BIN/db-load" -c "$CONF" -d 2>> "$W/dl.log" 3>&- &
	pid=$!
	for _ in $(seq 1 500); do [ -f "$W/pause/paused" ] && break; sleep 0.01; done
	[ -f "$W/pause/paused" ]
	kill -KILL "$(cat "$DBDIR/mariadbd.pid")"
	sleep 0.2
	rm "$W/pause/paused"
	rc=0
	wait "$pid" || rc=$?
	sh "$MDB" start "$DBDIR" > /dev/null
	[ "$rc" -eq 75 ]
	grep -Eq 'event=(db.temp|db.commit.fail) ' "$W/dl.log"
	! grep -q 'class=config' "$W/dl.log" || false
	run dl
	assert_success
	check_once 400
}

@test "least privilege: a read-only account stops with 78, items stay; db-load's cannot delete" {
	put "$DATA/variants/v01-minimal-generic-data.1711620000.data" 1.ro.data
	{
		cat "$CONF"
		echo "db_user octo_agent_auth"
		echo "db_password_file $DBDIR/secrets/octo_agent_auth.pw"
	} > "$W/ro.conf"
	run "$BIN/db-load" -c "$W/ro.conf" -d
	assert_failure 78
	# The schema check at connection says which tables it cannot see.
	assert_output --partial "event=schema.problem table=tevento column=- msg=\"no such table, or db-load's account has no privilege on it\""
	[ -f "$Q/new/1.ro.data" ]
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT COUNT(*) FROM tagente"
	assert_output 0
	# The grants db-load works with: no DELETE, no DDL anywhere.
	run sh "$MDB" sql "$DBDIR" octo_db_load -N -B -e "SHOW GRANTS"
	assert_success
	refute_output --regexp 'DELETE|DROP|ALTER|CREATE|ALL PRIVILEGES'
	run sh "$MDB" sql "$DBDIR" octo_db_load -e "DELETE FROM octo_loaded_file"
	assert_failure
	run dl
	assert_success
	queue_empty
}

@test "TLS: a server certificate from another CA stops db-load (78), nothing taken" {
	put "$DATA/variants/v01-minimal-generic-data.1711620000.data" 1.tls.data
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/other.key" -subj "/CN=other CA" -days 2 \
	    -out "$W/other-ca.crt" 2>/dev/null
	chmod 0644 "$W/other-ca.crt"
	sed "s#^ssl_ca .*#ssl_ca $W/other-ca.crt#" "$CONF" > "$W/tls.conf"
	run "$BIN/db-load" -c "$W/tls.conf" -d
	assert_failure 78
	assert_output --partial "errno=2026"
	[ -f "$Q/new/1.tls.data" ]
	run dl
	assert_success
	# The loader's session is TLS 1.2+ with the server verified.
	run "$BIN/db-load" -c "$CONF" -vv "$DATA/variants/v01-minimal-generic-data.1711620000.data"
	assert_success
	assert_output --regexp 'event=db.connected server=127\.0\.0\.1:[0-9]+ tls="TLSv1\.[23] '
}

@test "filter mode: one file, exit 0, 65, 77, 75; duplicate is 0" {
	run "$BIN/db-load" -c "$CONF" -v "$DATA/variants/v03-generic-proc-and-status.1711620120.data"
	assert_success
	assert_output --regexp 'loaded: agent_id=1 modules=5 created=5 values=5 refused=0 events=4'
	run "$BIN/db-load" -c "$CONF" "$DATA/variants/v03-generic-proc-and-status.1711620120.data"
	assert_success
	assert_output --partial "duplicate: already loaded"
	run "$BIN/db-load" -c "$CONF" "$DATA/variants/v16-satellite-server-keepalive.1711620840.data"
	assert_failure 65
	assert_output --partial "rule=server"
	printf 'not xml' | "$BIN/db-load" -c "$CONF" - && rc=0 || rc=$?
	[ "$rc" -eq 65 ]
	mkconf
	run "$BIN/db-load" -c "$CONF" "$DATA/variants/v01-minimal-generic-data.1711620000.data"
	assert_failure 77
	assert_output --partial "rule=create"
	# No database: try again later.
	sed -e "s/^port .*/port 1/" "$CONF" > "$W/down.conf"
	printf 'db_retry_time 0\n' >> "$W/down.conf"
	run "$BIN/db-load" -c "$W/down.conf" "$DATA/variants/v01-minimal-generic-data.1711620000.data"
	assert_failure 75
	run sql "SELECT COUNT(*) FROM octo_loaded_file"
	assert_output 1
	grep -h '"action":"file.loaded"' "$SPOOL"/audit-sign/new/* | grep -q '"agent":"proc-host-01"'
}

@test "--init adds only octospool's tables and accounts, never changes Pandora's; --print shows the SQL" {
	for d in dl_full dl_empty; do
		sql "DROP DATABASE IF EXISTS $d; CREATE DATABASE $d"
	done
	sh "$MDB" sql "$DBDIR" -D dl_full < "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql"
	cols() {
		sql "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME NOT LIKE 'octo%' ORDER BY 1, 2"
	}
	before=$(cols dl_full)
	# A database administrator's account (the private server's root over
	# its socket) makes the accounts; the tools' sections name them.
	{
		cat "$CONF"
		printf '[db-dba]\ndb_protocol socket\ndb_socket %s\ndb_user root\ndb_name dl_full\n' "$MYSQL_SOCKET"
		printf '[db-admin]\ndb_name dl_full\ngrant_host 10.9.8.%%\ngrant_require X509\n'
		printf '[db-load]\ndb_user dl_init_load\n'
		printf '[agent-auth]\ndb_user dl_init_auth\ndb_password_file %s\n' "$DBDIR/secrets/octo_agent_auth.pw"
	} > "$W/init.conf"
	n=$(grep -c '^CREATE TABLE IF NOT EXISTS `octo_' "$BATS_TEST_DIRNAME/../etc/sql/octo.sql")
	run "$BIN/db-load" -c "$W/init.conf" --init --dba db-dba
	assert_success
	assert_output --partial "octo_* tables (version 3) and accounts ready"
	run sql "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dl_full' AND TABLE_NAME LIKE 'octo%'"
	assert_output "$(sed -n 's/^CREATE TABLE IF NOT EXISTS `\(octo_[a-z_]*\)`.*/\1/p' "$BATS_TEST_DIRNAME/../etc/sql/octo.sql" | LC_ALL=C sort | paste -sd,)"
	[ "$(echo "$output" | tr ',' '\n' | wc -l)" -eq "$n" ]
	# Pandora's tables: not one column changed.
	[ "$(cols dl_full)" = "$before" ]
	# The accounts: the configured names, host and TLS demand, the
	# passwords of their files, the grants of their role.
	run sql "SELECT User, Host, JSON_VALUE(Priv, '$.ssl_type') FROM mysql.global_priv WHERE User LIKE 'dl_init%' OR (User = 'octo_admin' AND Host = '10.9.8.%') ORDER BY User"
	assert_output "$(printf 'dl_init_auth\t10.9.8.%%\t2\ndl_init_load\t10.9.8.%%\t2\nocto_admin\t10.9.8.%%\t2')"
	run sql "SHOW GRANTS FOR 'dl_init_load'@'10.9.8.%'"
	assert_output --partial 'GRANT SELECT, INSERT, UPDATE ON `dl_full`.`tagente` TO'
	refute_output --regexp 'DELETE|DROP|ALTER|CREATE'
	run sql "SHOW GRANTS FOR 'dl_init_auth'@'10.9.8.%'"
	assert_output --partial 'GRANT SELECT ON `dl_full`.`octo_group_credential` TO'
	refute_output --regexp 'INSERT|UPDATE|DELETE'
	pw=$(head -1 "$DBDIR/secrets/octo_agent_auth.pw")
	run sql "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'dl_init_auth' AND JSON_VALUE(Priv, '$.authentication_string') = PASSWORD('$pw')"
	assert_output 1
	# Again: nothing changes (IF NOT EXISTS; the accounts are reset).
	run "$BIN/db-load" -c "$W/init.conf" --init --dba db-dba
	assert_success
	[ "$(cols dl_full)" = "$before" ]
	# Run by db-load's own account, no other section naming one: no
	# account is made, and the schema's version, octo.sql's last
	# statement, is committed all the same (another session reads it).
	sql "DROP DATABASE IF EXISTS dl_lone; CREATE DATABASE dl_lone"
	sh "$MDB" sql "$DBDIR" -D dl_lone < "$BATS_TEST_DIRNAME/../etc/sql/pandora-min.sql"
	{
		awk '/^\[/ { s = $0 } s == "[db]"' "$OCTO_DB_CONF"
		printf '[db-load]\ndb_protocol socket\ndb_socket %s\ndb_user root\ndb_name dl_lone\n' "$MYSQL_SOCKET"
	} > "$W/init3.conf"
	run "$BIN/db-load" -c "$W/init3.conf" --init --dba db-load
	assert_success
	assert_output --partial "event=init.skip role=agent-auth"
	run sql "SELECT version FROM dl_lone.octo_schema"
	assert_output 3
	sql "DROP DATABASE dl_lone"
	# --print: the same SQL, the passwords left out, no Pandora table.
	run "$BIN/db-load" -c "$W/init.conf" --init --print
	assert_success
	assert_output --partial "CREATE TABLE IF NOT EXISTS \`octo_loaded_file\`"
	assert_output --partial "CREATE USER IF NOT EXISTS 'dl_init_load'@'10.9.8.%'"
	assert_output --partial "IDENTIFIED BY '@PW@' REQUIRE X509"
	refute_output --partial "$pw"
	refute_output --regexp 'ALTER TABLE[^`]*`t[a-z]|DROP|CREATE TABLE[^`]*`t[a-z]'
	# A database without Pandora's tables: refused, nothing created.
	sed 's/db_name dl_full/db_name dl_empty/' "$W/init.conf" > "$W/init2.conf"
	run "$BIN/db-load" -c "$W/init2.conf" --init --dba db-dba
	assert_failure 78
	assert_output --partial "event=schema.problem table=tagente column=- msg=\"no such table"
	assert_output --partial "nothing created"
	run sql "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dl_empty'"
	assert_output 0
	sql "DROP DATABASE dl_full; DROP DATABASE dl_empty"
	sql "DROP USER 'dl_init_load'@'10.9.8.%', 'dl_init_auth'@'10.9.8.%', 'octo_admin'@'10.9.8.%'"
}

@test "upgrade: octo_* tables of the previous release (0.1.0) are refused (78, nothing loaded) until --init upgrades them in place, rows kept; again changes nothing; a newer version is refused" {
	# octo_* columns and indexes of a database, to compare.
	octocols() {
		sql "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME LIKE 'octo%' ORDER BY 1, 3;
		    SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME LIKE 'octo%' ORDER BY 1, 2, 3"
	}
	# What a new installation of this release gets.
	sql "DROP DATABASE IF EXISTS dl_fresh; CREATE DATABASE dl_fresh"
	sh "$MDB" sql "$DBDIR" dl_fresh < "$BATS_TEST_DIRNAME/../etc/sql/octo.sql"
	fresh=$(octocols dl_fresh)
	# The tables as octospool 0.1.0 made them, with rows, and its grants
	# (no octo_schema then).
	sql "DROP TABLE octo_loaded_file, octo_group_credential, octo_agent_policy, octo_audit_export, octo_audit_record, octo_schema, octo_conf_file, octo_conf_head, octo_node, octo_agent_name"
	sh "$MDB" sql "$DBDIR" pandora < "$DATA/db/octo-0.1.0.sql"
	sql "REVOKE SELECT ON pandora.octo_schema FROM 'octo_db_load'@'127.0.0.1'"
	sql "INSERT INTO octo_loaded_file (sha256, item, id_agente, loaded_at, size) VALUES (SHA2('old', 256), 'old.data', 7, 1700000000, 42);
	    INSERT INTO octo_group_credential (id_grupo, salt, hash) VALUES (9, 'salt', 'hash')"
	[ "$(octocols pandora)" != "$fresh" ]
	# db-load refuses them before it writes anything: the item stays.
	put "$DATA/variants/v01-minimal-generic-data.1711620000.data" up.data
	run dl
	assert_failure 78
	grep -q 'event=schema.problem table=octo_schema column=- msg="the octo_\* tables are at version 1 (or db-load.s account cannot read octo_schema), this db-load needs 3: db-load --init upgrades them in place"' "$W/dl.log"
	[ -f "$Q/new/up.data" ]
	run sql "SELECT COUNT(*) FROM tagente"
	assert_output 0
	# The package's postinst (--init --auto) does nothing unless the
	# administrator named an account for it.
	run "$BIN/db-load" -c "$CONF" -d --init --auto
	assert_success
	assert_output --partial "upgrade_on_install is not set: nothing done"
	[ "$(octocols pandora)" != "$fresh" ]
	# With one (a database administrator: root over the socket), it
	# upgrades the tables and re-grants the tools' accounts (same host,
	# TLS and passwords).
	{
		cat "$CONF"
		printf '[db-dba]\ndb_protocol socket\ndb_socket %s\ndb_user root\ndb_name pandora\n' "$MYSQL_SOCKET"
		printf '[db-admin]\ngrant_host 127.0.0.1\ngrant_require SSL\nupgrade_on_install db-dba\n'
	} > "$W/init.conf"
	run "$BIN/db-load" -c "$W/init.conf" -d --init --auto
	assert_success
	assert_output --partial "event=init.upgrade from=1 to=3"
	assert_output --partial "octo_* tables upgraded from version 1 to 3"
	[ "$(octocols pandora)" = "$fresh" ]
	run sql "SELECT component, version FROM octo_schema"
	assert_output "$(printf 'octo\t3')"
	run sql "SELECT item, id_agente, loaded_at, size, node FROM octo_loaded_file; SELECT id_grupo, kdf, salt FROM octo_group_credential"
	assert_output "$(printf 'old.data\t7\t1700000000\t42\t\n9\tscrypt\tsalt')"
	# Now db-load loads, and records its node.
	run dl
	assert_success
	run sql "SELECT node FROM octo_loaded_file WHERE item = 'up.data'"
	assert_output "$(hostname)"
	# Again: nothing changes, nothing is said to be upgraded.
	run "$BIN/db-load" -c "$W/init.conf" -d --init --dba db-dba
	assert_success
	refute_output --partial "upgrade"
	assert_output --partial "octo_* tables (version 3) and accounts ready"
	[ "$(octocols pandora)" = "$fresh" ]
	# Tables newer than this release: --init changes nothing, db-load
	# does not load.
	sql "UPDATE octo_schema SET version = 4"
	run "$BIN/db-load" -c "$W/init.conf" --init --dba db-dba
	assert_failure 78
	assert_output --partial "the octo_* tables are newer than this db-load: nothing changed"
	put "$DATA/variants/v01-minimal-generic-data.1711620000.data" up2.data
	run dl
	assert_failure 78
	grep -q 'msg="the octo_\* tables are at version 4, newer than this db-load (3)' "$W/dl.log"
	[ -f "$Q/new/up2.data" ]
	sql "UPDATE octo_schema SET version = 3; DELETE FROM octo_group_credential; DROP DATABASE dl_fresh"
}

@test "audit: agent and module creation, files loaded, duplicate and rejected" {
	put "$DATA/variants/v06-async-types.1711620300.data" 1.a.data
	put "$DATA/variants/v06-async-types.1711620300.data" 2.a.data
	put "$DATA/variants/v16-satellite-server-keepalive.1711620840.data" 3.a.data
	run dl
	assert_success
	cat "$SPOOL"/audit-sign/new/* > "$W/audit"
	run grep -o '"action":"[a-z._]*","outcome":"[a-z]*"' "$W/audit"
	assert_output - <<'OUT'
"action":"agent.created","outcome":"ok"
"action":"module.created","outcome":"ok"
"action":"module.created","outcome":"ok"
"action":"module.created","outcome":"ok"
"action":"file.loaded","outcome":"ok"
"action":"file.duplicate","outcome":"duplicate"
"action":"item.rejected","outcome":"refused"
OUT
	grep '"action":"file.loaded"' "$W/audit" | grep -q '"item":"1.a.data","agent":"async-host-01","id_agente":1,"sha256":"'"$(sha256sum < "$DATA/variants/v06-async-types.1711620300.data" | cut -c1-64)"'"'
	grep '"action":"module.created"' "$W/audit" | grep -q '"module":"Job duration s","type":"async_data"'
	[ "$(stat -c %a "$SPOOL"/audit-sign/new/*)" = 640 ]
}

@test "within one batch: a rejected file and a duplicate of one agent are undone, the rest kept" {
	agent same '2026/11/27 21:00:00' "$(module A generic_data 1)" "$(module S generic_data_string x)" > "$W/1.data"
	# Creates B, changes A, then fails on C: all of it must go.
	agent same '2026/11/27 21:05:00' "$(module A generic_data 2)" "$(module B generic_data 7)" \
	    "$(module C generic_data 3 '<min>1e30</min>')" > "$W/2.data"
	agent same '2026/11/27 21:10:00' "$(module A generic_data 5)" "$(module S generic_data_string y)" > "$W/4.data"
	put "$W/1.data" 1.same.data
	put "$W/2.data" 2.same.data
	put "$W/1.data" 3.same.data
	put "$W/4.data" 4.same.data
	run dl
	assert_success
	queue_empty
	[ -f "$Q/reject/2.same.data" ]
	grep -q 'event=file.duplicate id=3.same.data' "$W/dl.log"
	run sql "SELECT GROUP_CONCAT(nombre ORDER BY nombre) FROM tagente_modulo"
	assert_output A,S
	run sql "SELECT (SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos), (SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos_string)"
	assert_output "$(printf '1,5\tx,y')"
	# Only files 1 and 4 reached the status: one change counted, not two.
	run sql "SELECT m.nombre, e.datos, e.status_changes, e.timestamp FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) ORDER BY 1"
	assert_output "$(printf 'A\t5.00000\t1\t2026-11-27 21:10:00\nS\ty\t1\t2026-11-27 21:10:00')"
	run sql "SELECT ultimo_contacto_remoto, total_count, (SELECT COUNT(*) FROM octo_loaded_file), (SELECT COUNT(*) FROM tevento) FROM tagente"
	assert_output "$(printf '2026-11-27 21:10:00\t2\t2\t1')"
}

@test "a batch's agents are read in one query: a file's reject or duplicate undone, two agents of one name, a name no file holds" {
	# With agent-auth's decisions, db-load reads the agents the batch's
	# envelopes name in one query (event=agent.prefetch) before the
	# files; each file then takes its agent from there, with the same
	# outcome as reading it itself.
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	n=0
	for a in same other 'x&y'; do
		n=$((n + 1))
		agent "$a" '2026/11/27 20:55:00' "$(module A generic_data 0)" > "$W/0.data"
		decision "$W/0.data" "0.$n.data" "$a" 2 'Auth-Create: yes'
	done
	run dl
	assert_success
	run sql "SELECT COUNT(*) FROM tagente"
	assert_output 3
	# The console allows a second agent of one name (the lower id gets
	# the data) and here adds an agent no file of the batch is for.
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('same', 'same', 2, 1, 300);
	    INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo, ultimo_contacto) VALUES ('idle', 'idle', 2, 1, 300, '2026-01-01 00:00:00')"
	agent same '2026/11/27 21:00:00' "$(module A generic_data 1)" "$(module S generic_data_string x)" > "$W/1.data"
	# Creates B, changes A, then fails on C: all of it must go.
	agent same '2026/11/27 21:05:00' "$(module A generic_data 2)" "$(module B generic_data 7)" \
	    "$(module C generic_data 3 '<min>1e30</min>')" > "$W/2.data"
	agent same '2026/11/27 21:10:00' "$(module A generic_data 5)" "$(module S generic_data_string y)" > "$W/4.data"
	# The first file of "other" fails: the next one reads it again.
	agent other '2026/11/27 21:00:00' "$(module A generic_data 8)" "$(module C generic_data 3 '<min>1e30</min>')" > "$W/5.data"
	agent other '2026/11/27 21:05:00' "$(module A generic_data 3)" > "$W/6.data"
	agent 'x&y' '2026/11/27 21:00:00' "$(module A generic_data 4)" > "$W/8.data"
	decision "$W/1.data" 1.same.data same 2 'Auth-Create: no'
	decision "$W/2.data" 2.same.data same 2 'Auth-Create: no'
	decision "$W/1.data" 3.same.data same 2 'Auth-Create: no'
	decision "$W/4.data" 4.same.data same 2 'Auth-Create: no'
	decision "$W/5.data" 5.other.data other 2 'Auth-Create: no'
	decision "$W/6.data" 6.other.data other 2 'Auth-Create: no'
	# A decision for "idle" on a file of "other": refused, and "idle",
	# read for the batch, is left as it was.
	decision "$W/6.data" 7.idle.data idle 2 'Auth-Create: no'
	decision "$W/8.data" 8.xy.data 'x&y' 2 'Auth-Create: no'
	run dl -v
	assert_success
	queue_empty
	grep -q "event=agent.prefetch names=4 agents=4$" "$W/dl.log"
	# Only the file after its agent's first file was refused looked its
	# agent up again: the others took theirs from the batch's query.
	run grep -o 'event=agent.lookup id=.*' "$W/dl.log"
	assert_output 'event=agent.lookup id=6.other.data'
	[ -f "$Q/reject/2.same.data" ]
	[ -f "$Q/reject/5.other.data" ]
	grep -q '^reason=rule=auth-agent line=0 the decision was made for another agent than "other"' "$Q/reject/7.idle.data.reason"
	grep -q 'event=file.duplicate id=3.same.data' "$W/dl.log"
	run sql "SELECT a.nombre, GROUP_CONCAT(DISTINCT m.nombre ORDER BY m.nombre), GROUP_CONCAT(d.datos ORDER BY d.utimestamp) FROM tagente a JOIN tagente_modulo m USING (id_agente) LEFT JOIN tagente_datos d USING (id_agente_modulo) GROUP BY a.id_agente ORDER BY a.id_agente"
	assert_output "$(printf 'same\tA,S\t0,1,5\nother\tA\t0,3\nx&amp;y\tA\t0,4')"
	run sql "SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos_string"
	assert_output x,y
	run sql "SELECT nombre, ultimo_contacto_remoto, total_count FROM tagente ORDER BY id_agente"
	assert_output "$(printf 'same\t2026-11-27 21:10:00\t2\nother\t2026-11-27 21:05:00\t1\nx&amp;y\t2026-11-27 21:00:00\t1\nsame\t1970-01-01 00:00:00\t0\nidle\t1970-01-01 00:00:00\t0')"
	run sql "SELECT ultimo_contacto FROM tagente WHERE nombre = 'idle'"
	assert_output '2026-01-01 00:00:00'
	run sql "SELECT COUNT(*) FROM octo_loaded_file"
	assert_output 7
}

@test "a batch of 520 agents: their agents read in chunks of at most 256 names, every file loaded with its own agent" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) SELECT CONCAT('p', seq), CONCAT('p', seq), 2, 1, 300 FROM seq_1_to_520"
	# As decision() writes them, without its subshells (520 of them).
	for i in $(seq 1 520); do
		{
			printf 'Octospool-Envelope: 1\nOriginal-Name: %d.data\nPeer: 192.0.2.7 41000\n' "$i"
			printf 'Received: 2026-11-27T21:00:00.000000Z\nAuth: none\n'
			printf 'Auth-Agent: p%d\nAuth-Group: 2\nAuth-Create: no\nSha256: %064d\n\n' "$i" 0
			printf "<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='p%d' interval='300' version='7.0NG' os_name='linux' group='Servers' timestamp='2026/11/27 21:00:00'>\n" "$i"
			printf '<module><name>M</name><type>generic_data</type><data>%d</data></module>\n</agent_data>\n' "$i"
		} | "$BIN/tt-stamp" -s "$KEYS/agent-auth.key" agent-auth > "$Q/new/$(printf '%04d' "$i").p.data"
	done
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$Q"/new/*
	run dl -v
	assert_success
	queue_empty
	grep -q 'event=agent.prefetch names=520 agents=520$' "$W/dl.log"
	run grep -c 'event=agent.lookup' "$W/dl.log"
	assert_output 0
	# Each value went to its own agent's module.
	run sql "SELECT COUNT(*), SUM(a.nombre = CONCAT('p', d.datos)) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) JOIN tagente a USING (id_agente)"
	assert_output "$(printf '520\t520')"
	run sql "SELECT COUNT(*) FROM octo_loaded_file"
	assert_output 520
}

@test "the batch query matches names byte for byte: an agent the collation alone takes for the file's (and of a lower id) gets nothing" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	# The console allows both; the files are for "lk" only.
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('LK', 'LK', 2, 1, 300), ('lk', 'lk', 2, 1, 300)"
	agent lk '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	decision "$W/1.data" 1.lk.data lk 2 'Auth-Create: no'
	run dl -v
	assert_success
	queue_empty
	grep -q 'event=agent.prefetch names=1 agents=1$' "$W/dl.log"
	run grep -c 'event=agent.lookup' "$W/dl.log"
	assert_output 0
	run sql "SELECT a.nombre FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) JOIN tagente a USING (id_agente)"
	assert_output lk
	run sql "SELECT nombre, total_count FROM tagente ORDER BY id_agente"
	assert_output "$(printf 'LK\t0\nlk\t1')"
}

@test "without tagente's index nombre there is no batch query: each file looks its agent up" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	NO_NAME_INDEX=1	# teardown puts it back
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('i1', 'i1', 2, 1, 300), ('i2', 'i2', 2, 1, 300);
	    ALTER TABLE tagente DROP INDEX nombre"
	agent i1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	agent i2 '2026/11/27 21:00:00' "$(module M generic_data 2)" > "$W/2.data"
	decision "$W/1.data" 1.i1.data i1 2 'Auth-Create: no'
	decision "$W/2.data" 2.i2.data i2 2 'Auth-Create: no'
	run dl -v
	assert_success
	queue_empty
	grep -q 'event=schema.note table=tagente msg="no index nombre on nombre: each file looks its agent up' "$W/dl.log"
	run grep -c 'event=agent.prefetch' "$W/dl.log"
	assert_output 0
	run grep -c 'event=agent.lookup' "$W/dl.log"
	assert_output 2
	run sql "SELECT a.nombre, d.datos FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) JOIN tagente a USING (id_agente) ORDER BY 1"
	assert_output "$(printf 'i1\t1\ni2\t2')"
}

@test "tagente's index nombre dropped while db-load lingers: the next batch falls back to each file's lookup, nothing refused" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub" idle_exit 30
	NO_NAME_INDEX=1	# teardown puts it back
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('g1', 'g1', 2, 1, 300)"
	"$BIN/db-load" -c "$CONF" -d -v 2>> "$W/dl.log" 3>&- &
	BG_PID=$!
	# arrive FILE NAME: as a producer hands an item on.
	# The decisions made aside, then handed on as a producer does.
	mkdir -p "$W/stage/new"
	agent g1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	agent g1 '2026/11/27 21:05:00' "$(module M generic_data 2)" > "$W/2.data"
	(Q=$W/stage && decision "$W/1.data" 1.g1.data g1 2 'Auth-Create: no' &&
	    decision "$W/2.data" 2.g1.data g1 2 'Auth-Create: no')
	arrive "$W/stage/new/1.g1.data" 1.g1.data
	settle 1
	sql "ALTER TABLE tagente DROP INDEX nombre"
	arrive "$W/stage/new/2.g1.data" 2.g1.data
	settle 2
	kill -TERM "$BG_PID"
	wait "$BG_PID"
	BG_PID=
	[ "$(grep -c 'event=agent.prefetch names=1 agents=1$' "$W/dl.log")" -eq 1 ]
	grep -q 'event=schema.note table=tagente msg="index nombre gone: each file looks its agent up' "$W/dl.log"
	run grep -o 'event=agent.lookup id=.*' "$W/dl.log"
	assert_output 'event=agent.lookup id=2.g1.data'
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT GROUP_CONCAT(datos ORDER BY utimestamp) FROM tagente_datos"
	assert_output 1,2
}

@test "a batch whose items are all gone once its agents are read: its transaction ends with the pass, no lock kept while db-load lingers" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub" idle_exit 30
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('g1', 'g1', 2, 1, 300)"
	mkdir -p "$W/pause" "$W/stage/new"
	chmod 0777 "$W/pause"
	PIPELINE_PAUSE_AT=hinted PIPELINE_PAUSE_FILE=$W/pause/paused \
	    "$BIN/db-load" -c "$CONF" -d -v 2>> "$W/dl.log" 3>&- &
	BG_PID=$!
	agent g1 '2026/11/27 21:00:00' "$(module M generic_data 1)" > "$W/1.data"
	(Q=$W/stage && decision "$W/1.data" 1.g1.data g1 2 'Auth-Create: no')
	arrive "$W/stage/new/1.g1.data" 1.g1.data
	wait_pause "$W/pause/paused" "$BG_PID"
	# The batch's agent is read and locked; then its only item goes.
	grep -q 'event=agent.prefetch names=1 agents=1$' "$W/dl.log"
	[ "$(db_locking)" -ge 1 ]
	rm "$Q/new/1.g1.data"
	rm "$W/pause/paused"
	# Nothing claimed: the pass ends, and its transaction with it, while
	# db-load lingers on.
	for _ in $(seq 1 100); do
		[ "$(db_locking)" -eq 0 ] && break
		sleep 0.05
	done
	[ "$(db_locking)" -eq 0 ]
	kill -0 "$BG_PID"
	kill -TERM "$BG_PID"
	wait "$BG_PID"
	BG_PID=
	[ "$(sql 'SELECT COUNT(*) FROM octo_loaded_file')" -eq 0 ]
	[ "$(count "$Q"/new/* "$Q"/cur/* "$Q"/reject/*)" -eq 0 ]
}

# com NAME: the server's count of that statement (Com_NAME), every session.
com() {
	sql "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_$1'"
}

@test "autocommit off: a batch's transaction opens with its first statement (no START TRANSACTION), and between batches db-load holds no transaction and no table lock" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub" idle_exit 30
	sql "INSERT INTO tagente (nombre, alias, id_grupo, modo, intervalo) VALUES ('g1', 'g1', 2, 1, 300)"
	mkdir -p "$W/stage/new"
	agent g1 '2026/11/27 21:00:00' "$(module M generic_data 1)$(module S generic_data_string up)$(module I generic_data_inc 10)" > "$W/1.data"
	agent g1 '2026/11/27 21:05:00' "$(module M generic_data 2)$(module S generic_data_string down)$(module I generic_data_inc 20)" > "$W/2.data"
	# The third creates an agent: its name lock is let go after the
	# commit (DO RELEASE_ALL_LOCKS(), which reads no table).
	agent n3 '2026/11/27 21:10:00' "$(module M generic_data 3)" > "$W/3.data"
	(Q=$W/stage && decision "$W/1.data" 1.g1.data g1 2 'Auth-Create: no' &&
	    decision "$W/2.data" 2.g1.data g1 2 'Auth-Create: no' &&
	    decision "$W/3.data" 3.g1.data n3 2 'Auth-Create: yes')
	begins=$(com BEGIN)
	commits=$(com COMMIT)
	dos=$(com DO)
	"$BIN/db-load" -c "$CONF" -d -v 2>> "$W/dl.log" 3>&- &
	BG_PID=$!
	for i in 1 2 3; do
		arrive "$W/stage/new/$i.g1.data" $i.g1.data
		settle $i
		# Lingering after its commit: no transaction open, and a
		# session that needs every table it wrote to itself alone
		# does not wait for it.
		[ "$(sql 'SELECT COUNT(*) FROM information_schema.INNODB_TRX')" -eq 0 ]
		sql "SET SESSION lock_wait_timeout = 2; LOCK TABLES tagente WRITE, tagente_modulo WRITE, tagente_estado WRITE, tagente_datos WRITE, tagente_datos_inc WRITE, tagente_datos_string WRITE, octo_loaded_file WRITE; UNLOCK TABLES"
	done
	kill -0 "$BG_PID"
	kill -TERM "$BG_PID"
	wait "$BG_PID"
	BG_PID=
	[ "$(com BEGIN)" -eq "$begins" ]
	[ "$(com COMMIT)" -eq $((commits + 3)) ]
	[ "$(sql "SELECT COUNT(*) FROM tagente WHERE nombre = 'n3'")" -eq 1 ]
	[ "$(com DO)" -gt "$dos" ]
	run sql "SELECT GROUP_CONCAT(d.datos ORDER BY d.utimestamp) FROM tagente_datos d JOIN tagente_modulo m USING (id_agente_modulo) WHERE m.nombre = 'M'"
	assert_output 1,2,3
	[ "$(sql 'SELECT COUNT(*) FROM tagente_datos_string')" -eq 2 ]
	[ "$(count "$Q"/reject/*)" -eq 0 ]
}

@test "a batch's agent query that waits out a lock: the batch is given back (75, after the conflict retries), loaded once when the lock is gone" {
	mkconf allow_create yes auth_pubkey "$KEYS/agent-auth.pub"
	agent held '2026/11/27 20:55:00' "$(module A generic_data 0)" > "$W/0.data"
	decision "$W/0.data" 0.held.data held 2 'Auth-Create: yes'
	run dl
	assert_success
	sed -i 's/^lock_wait_timeout .*/lock_wait_timeout 1/' "$CONF"
	grep -q '^lock_wait_timeout 1$' "$CONF"
	# Another writer holds the agent's row until its session is killed.
	db_hold_rows "nombre = 'held'"
	agent held '2026/11/27 21:00:00' "$(module A generic_data 1)" > "$W/1.data"
	agent held '2026/11/27 21:05:00' "$(module A generic_data 2)" > "$W/2.data"
	decision "$W/1.data" 1.held.data held 2 'Auth-Create: no'
	decision "$W/2.data" 2.held.data held 2 'Auth-Create: no'
	run dl -v
	db_release_rows
	assert_equal "$status" 75
	grep -q 'event=db.temp step=agent prefetch errno=1205 ' "$W/dl.log"
	grep -q 'event=db.conflict.retry try=1 ' "$W/dl.log"
	grep -q 'event=batch.retry items=2 ' "$W/dl.log"
	# The files are not claimed, nor read on their own meanwhile.
	run grep -c 'step=agent lookup\|event=item.retry' "$W/dl.log"
	assert_output 0
	[ "$(count "$Q"/cur/*)" -eq 0 ]
	[ "$(count "$Q"/new/*)" -eq 2 ]
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run dl -v
	assert_success
	queue_empty
	run sql "SELECT GROUP_CONCAT(datos ORDER BY utimestamp), (SELECT COUNT(*) FROM octo_loaded_file) FROM tagente_datos"
	assert_output "$(printf '0,1,2\t3')"
}

# with_modules FILE MODULE-XML...: the agent file FILE with the modules
# added at its end.
with_modules() {
	sed '$d' "$1"
	shift
	printf '%s\n' "$@"
	printf '</agent_data>\n'
}

# rule TAG PATTERN: a string threshold as an agent sends it.
rule() {
	printf '<%s><![CDATA[%s]]></%s>' "$1" "$2" "$1"
}

# str N C: the character C N times.
str() {
	head -c "$1" /dev/zero | tr '\0' "$2"
}

REAL=$DATA/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data

@test "regex bombs in a real agent file: rows written, rules not fired, reasons logged and audited" {
	local a25 big extra=()
	a25=$(str 25 a)
	big=$(str 20000 a)
	# Rules Perl would find a match for, stopped by the match limit.
	for i in $(seq 10 21); do
		extra+=("$(module "Extra $i" generic_data_string "$a25" "$(rule str_critical '^(a?){25}a{25}$')")")
	done
	with_modules "$REAL" \
	    "$(module 'Bomb B1000' generic_data_string "${big}z" "$(rule str_critical '(\B{1000}){8}z')")" \
	    "$(module 'Nested optional' generic_data_string "$a25" "$(rule str_critical '^(a?){25}a{25}$')")" \
	    "$(module 'Nested plus' generic_data_string "$a25$a25!" "$(rule str_warning '^(a+)+$')")" \
	    "$(module 'Dot star twenty' generic_data_string "x$big" "$(rule str_critical '(.*){20}x')")" \
	    "$(module 'Counted repeats' generic_data_string "$big-!" "$(rule str_critical '(?:\w{1,1000}){1,1000}!')")" \
	    "$(module 'Lookahead bomb' generic_data_string "$a25$a25!" "$(rule str_critical '^(?=(a+)+$)')")" \
	    "$(module 'Too long' generic_data_string "$a25" "$(rule str_critical "$(str 1025 a)")")" \
	    "$(module 'Repeated word' generic_data_string 'error error' "$(rule str_critical '\b(\w+) \1\b')")" \
	    "$(module 'Error not ignored' generic_data_string 'ERROR: disk full' "$(rule str_critical '^(?=.*ERROR)(?!.*IGNORE)')")" \
	    "${extra[@]}" > "$W/bomb.data"
	# Each rule runs to its own limit here; the budget has its test.
	mkconf allow_create yes regex_budget 10000
	put "$W/bomb.data" "$(basename "$REAL")"
	run dl -v
	assert_success
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	# Every module, its status row and its value: the file loaded.
	# Perl's lookaround and backreferences work; the others did not fire.
	run sql "SELECT m.nombre, e.estado, LENGTH(e.datos), COUNT(d.id_agente_modulo)
	    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo)
	    LEFT JOIN tagente_datos_string d USING (id_agente_modulo)
	    WHERE m.id_agente_modulo > 15 AND m.nombre NOT LIKE 'Extra%'
	    GROUP BY m.id_agente_modulo ORDER BY m.id_agente_modulo"
	assert_output - <<'OUT'
Bomb&#x20;B1000	0	20001	1
Nested&#x20;optional	0	25	1
Nested&#x20;plus	0	51	1
Dot&#x20;star&#x20;twenty	0	20001	1
Counted&#x20;repeats	0	20002	1
Lookahead&#x20;bomb	0	51	1
Too&#x20;long	0	25	1
Repeated&#x20;word	1	11	1
Error&#x20;not&#x20;ignored	1	16	1
OUT
	run sql "SELECT COUNT(*), SUM(e.estado) FROM tagente_modulo m
	    JOIN tagente_estado e USING (id_agente_modulo) WHERE m.nombre LIKE 'Extra%'"
	assert_output "$(printf '12\t0')"
	# Logged: the first 8 rules that could not say, one line each.
	grep 'event=module\.regex\.' "$W/dl.log" | sed -E 's/^.*event=(module\.regex\.[a-z]+) .* module="([^"]*)" module_id=[0-9]+ rule=([a-z_]+) reason="([^"]*)".*$/\1|\2|\3|\4/' > "$W/lines"
	run cat "$W/lines"
	assert_output - <<'OUT'
module.regex.invalid|Bomb B1000|str_critical|quantifier does not follow a repeatable item at offset 8
module.regex.limit|Nested optional|str_critical|match limit exceeded
module.regex.limit|Nested plus|str_warning|match limit exceeded
module.regex.limit|Dot star twenty|str_critical|match limit exceeded
module.regex.limit|Counted repeats|str_critical|match limit exceeded
module.regex.limit|Lookahead bomb|str_critical|match limit exceeded
module.regex.invalid|Too long|str_critical|pattern of 1025 bytes, longer than 1024
module.regex.limit|Extra 10|str_critical|match limit exceeded
OUT
	grep -q 'event=module.regex.invalid id=238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data agent="research-agent-01" module="Bomb B1000" module_id=[0-9]* rule=str_critical reason="[^"]*" pattern="(\\\\B{1000}){8}z"' "$W/dl.log"
	# ... and the rest in one summary line.
	run grep -c 'event=file\.regex ' "$W/dl.log"
	assert_output 1
	grep 'event=file.regex ' "$W/dl.log" | grep -q 'agent="research-agent-01" invalid=2 limited=17 skipped=0 unreported=11 '
	# Audited: agent, module, rule, why, the pattern, the file.
	cat "$SPOOL"/audit-sign/new/* > "$W/audit"
	run grep -c '"action":"module.regex"' "$W/audit"
	assert_output 8
	grep -F '"action":"module.regex","outcome":"invalid","agent":"research-agent-01","module":"Bomb B1000","id_agente_modulo":' "$W/audit" |
	    grep -F '"rule":"str_critical","reason":"quantifier does not follow a repeatable item at offset 8","pattern":"(\\B{1000}){8}z","item":"238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data"}'
	grep -F '"action":"module.regex","outcome":"limited","agent":"research-agent-01","module":"Nested plus",' "$W/audit" |
	    grep -F '"rule":"str_warning","reason":"match limit exceeded","pattern":"^(a+)+$","item":"238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data"}'
	grep '"action":"file.loaded"' "$W/audit" | grep -q '"regex_invalid":2,"regex_limited":17}'
}

@test "regex budget: hostile rules of one file share one budget; the rest do not fire, in one line and one audit event" {
	local a25 mods=()
	a25=$(str 25 a)
	printf '[db-load]\nregex_budget 0\n' > "$W/bad.conf"
	run "$BIN/db-load" -c "$W/bad.conf" -n
	assert_failure 78
	assert_output --partial regex_budget
	for i in 1 2; do
		mods+=("$(module "Limited $i" generic_data_string "$a25" "$(rule str_critical '^(a?){25}a{25}$')")")
	done
	# Each start position scans to the end: seconds, if let run.
	mods+=("$(module Quadratic generic_data_string "$(str 200000 a)" "$(rule str_critical 'a*\d')")")
	for i in $(seq 100 199); do
		mods+=("$(module "Skipped $i" generic_data_string "$a25" "$(rule str_warning '^(a?){25}a{25}$')")")
	done
	with_modules "$REAL" "${mods[@]}" > "$W/budget.data"
	put "$W/budget.data" "$(basename "$REAL")"
	run dl
	assert_success
	queue_empty
	[ "$(count "$Q"/reject/*)" -eq 0 ]
	run sql "SELECT COUNT(*), SUM(e.estado), COUNT(DISTINCT d.id_agente_modulo)
	    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo)
	    LEFT JOIN tagente_datos_string d USING (id_agente_modulo)
	    WHERE m.nombre LIKE 'Skipped%' OR m.nombre LIKE 'Limited%' OR m.nombre = 'Quadratic'"
	assert_output "$(printf '103\t0\t103')"
	# Bounded output: the rules stopped by a limit, then one summary
	# for the 101 rules the spent budget left out (the Quadratic one
	# was stopped by it).
	run grep -c 'event=module\.regex\.' "$W/dl.log"
	assert_output 2
	run grep -c 'event=file\.regex ' "$W/dl.log"
	assert_output 1
	grep 'event=file.regex ' "$W/dl.log" | grep -q 'agent="research-agent-01" invalid=0 limited=2 skipped=101 unreported=0 used_ms=[0-9.]* budget_ms=40 module="Quadratic" rule=str_critical reason="the matching budget of 40 ms is spent"'
	cat "$SPOOL"/audit-sign/new/* > "$W/audit"
	run grep -o '"action":"module.regex","outcome":"[a-z]*"' "$W/audit"
	assert_output - <<'OUT'
"action":"module.regex","outcome":"limited"
"action":"module.regex","outcome":"limited"
"action":"module.regex","outcome":"budget"
OUT
	grep -F '"action":"module.regex","outcome":"budget","agent":"research-agent-01","module":"Quadratic","rule":"str_critical","reason":"the matching budget of 40 ms is spent","skipped":101,"budget_ms":40,"item":"238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data"}' "$W/audit"
	grep '"action":"file.loaded"' "$W/audit" | grep -q '"regex_limited":2,"regex_skipped":101}'
}
