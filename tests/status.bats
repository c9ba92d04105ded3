#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# octospool-status: queue depths and the oldest item, each stage's last
# run (the status line every drain writes), the database (reachable, TLS,
# db-load's schema check), the audit log, tentacle-recv listening; text,
# JSON and a node_exporter textfile; exit 0 healthy, 1 degraded, 2 down,
# each threshold on its own.

load helpers

MDB=$TOOLS/mariadb.sh

setup() {
	mk_tmp
	SP=$T/spool
	mk_spool "$SP"
	mkdir -p "$T/audit/log/seg"
	: > "$T/audit/log/seg/0000000000000001.seg"
	CONF=$T/o.conf
	mkconf
	# Every stage has run once, cleanly, just now.
	for q in xml-validate agent-auth db-load audit-sign conf-dist/submit \
	    conf-dist/uploads; do
		ran "$q" 0 "$(date +%s)"
	done
}

teardown() {
	stop_recv
	[ -d "$T/db" ] && sh "$MDB" stop "$T/db" >/dev/null 2>&1
	rm -rf "$T"
}

# mkconf LINE...: the spool, the audit log and [status] lines.
mkconf() {
	{
		echo "spool_dir $SP"
		echo "idle_exit 0"
		echo "[audit-sign]"
		echo "log_dir $T/audit/log"
		echo "[status]"
		echo "check_db 0"
		echo "check_recv 0"
		for l in "$@"; do
			echo "$l"
		done
	} > "$CONF"
}

# ran QUEUE EXIT EPOCH: the status line a drain of QUEUE leaves.
ran() {
	printf 'stage=x time=%s epoch=%s pid=1 exit=%s seen=3 done=2 rejected=1 retried=0 ms=7\n' \
	    "$(date -u -d "@$3" +%Y-%m-%dT%H:%M:%SZ)" "$3" "$2" > "$SP/$1/status"
}

# item QUEUE AGE: an item named as the spool names it, AGE seconds old.
item() {
	local t=$(($(date +%s) - $2))
	: > "$SP/$1/new/$t.000001_1_$(openssl rand -hex 4).x"
}

status() {
	"$BIN/octospool-status" -c "$CONF" "$@"
}

# db_conf: $T/db.conf, the test configuration with the private server
# in $T/db and check_db on.
db_conf() {
	# shellcheck disable=SC1091
	. "$T/db/env"
	{
		head -n 1 "$CONF"
		cat "$OCTO_DB_CONF"
		tail -n +2 "$CONF" | sed 's/^check_db 0$/check_db 1/'
	} > "$T/db.conf"
}

@test "healthy: every queue empty, every stage ran, exit 0; text, JSON and the textfile agree" {
	run status
	assert_success
	assert_line "octospool: ok"
	assert_line --regexp '^xml-validate +0 +0 +0 +- +[0-9T:-]+Z exit 0 +ok$'
	run status --json --prometheus "$T/octospool.prom"
	assert_success
	echo "$output" | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["health"] == "ok", d
q = {x["queue"]: x for x in d["queues"]}
assert q["db-load"]["last_run"]["rejected"] == 1, q
assert q["conf-dist/uploads"]["new"] == 0, q'
	grep -qx 'octospool_health 0' "$T/octospool.prom"
	grep -qx 'octospool_queue_items{queue="db-load",dir="new"} 0' "$T/octospool.prom"
	grep -q '^octospool_stage_last_run_exit{queue="agent-auth",stage="agent-auth"} 0$' "$T/octospool.prom"
	# Written whole, then renamed: no temporary left.
	assert_equal "$(ls "$T" | grep -c 'prom.*tmp')" 0
}

@test "a real drain leaves the status line that octospool-status reads" {
	rm "$SP/xml-validate/status"
	keys_conf >> "$CONF"
	sed -i "s/^\[xml-validate\]\$/[xml-validate]\nuser $RUN_USER/" "$CONF"
	"$BIN/xml-validate" -c "$CONF"
	assert_file_exists "$SP/xml-validate/status"
	grep -Eq '^stage=xml-validate time=[0-9T:-]+Z epoch=[0-9]+ pid=[0-9]+ exit=0 seen=0 done=0 rejected=0 retried=0 ms=[0-9]+$' \
	    "$SP/xml-validate/status"
	run status
	assert_success
}

@test "thresholds: items waiting, the oldest item's age, rejects, a failed or stale run" {
	mkconf "queue_warn 3" "queue_age_warn 60" "queue_age_down 600" \
	    "reject_warn 2" "stage_age_warn 120"
	# queue_warn: 3 fresh items.
	for _ in 1 2 3; do item agent-auth 0; done
	run status
	assert_equal "$status" 1
	assert_line --partial "degraded: 3 items waiting (queue_warn 3)"
	rm -f "$SP"/agent-auth/new/*
	# queue_age_warn, then queue_age_down.
	item db-load 100
	run status
	assert_equal "$status" 1
	assert_output --regexp 'db-load +1 .*degraded: oldest item waits 1[0-9][0-9]s \(queue_age_warn 60\)'
	item db-load 700
	run status
	assert_equal "$status" 2
	assert_line "octospool: down"
	assert_output --partial "oldest item waits 70"
	rm -f "$SP"/db-load/new/*
	# reject_warn.
	: > "$SP/xml-validate/reject/a"
	: > "$SP/xml-validate/reject/a.reason"
	: > "$SP/xml-validate/reject/b"
	run status
	assert_equal "$status" 1
	assert_output --partial "2 items in reject/ (reject_warn 2)"
	rm -f "$SP"/xml-validate/reject/*
	# The last run failed.
	ran agent-auth 75 "$(date +%s)"
	run status
	assert_equal "$status" 1
	assert_output --partial "last run exited 75"
	# The last run is stale (its timer stopped).
	ran agent-auth 0 $(($(date +%s) - 500))
	run status
	assert_equal "$status" 1
	assert_output --regexp 'last run 50[0-9]s ago \(stage_age_warn 120\)'
	ran agent-auth 0 "$(date +%s)"
	run status
	assert_success
	# A queue that cannot be read at all: down.
	rm -rf "$SP/conf-dist/uploads"
	run status --json
	assert_equal "$status" 2
	echo "$output" | python3 -c 'import json, sys
d = json.load(sys.stdin)
q = {x["queue"]: x for x in d["queues"]}
assert q["conf-dist/uploads"]["readable"] is False, q
assert q["conf-dist/uploads"]["health"] == "down", q'
}

@test "audit: events waiting while nothing was sealed for longer than audit_age_warn" {
	mkconf "audit_age_warn 60"
	touch -d '10 minutes ago' "$T/audit/log/seg/0000000000000001.seg"
	run status
	assert_success
	item audit-sign 0
	run status
	assert_equal "$status" 1
	assert_output --regexp 'audit log: degraded, 1 segments, last write 6[0-9][0-9]s ago, 1 events waiting'
	rm -rf "$T/audit/log/seg"
	run status
	assert_equal "$status" 1
	assert_output --partial "audit log: degraded:"
}

@test "tentacle-recv: listening and its connections, or down" {
	mkconf "check_recv 1" "recv_port 1"
	run status
	assert_equal "$status" 2
	assert_output --partial "tentacle-recv: down, 127.0.0.1:1 not listening"
	start_recv -F "$T/empty.conf" --spool "$SP"
	mkconf "check_recv 1" "recv_port $PORT"
	# One client holds a connection open.
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	run status --json
	exec 5>&-
	assert_success
	echo "$output" | python3 -c 'import json, sys
d = json.load(sys.stdin)["tentacle_recv"]
assert d["listening"] is True and d["connections"] >= 1, d'
}

@test "database: reachable with TLS and a schema db-load accepts; unreachable or refused is down" {
	command -v mariadbd >/dev/null || command -v mysqld >/dev/null || skip "no MariaDB server"
	run env OCTO_DB_GROUP="$RUN_GROUP" sh "$MDB" start "$T/db"
	assert_success
	db_conf
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_success
	assert_output --regexp 'database: ok, reachable \([^)]*MariaDB[^)]* at 127\.0\.0\.1:[0-9]+\), TLSv1\.[23] [A-Z0-9_-]+, schema ok'
	# One line for the database when it answers (no empty error line).
	[ "$(echo "$output" | grep -c '^database:')" -eq 1 ]
	# A schema db-load refuses: down.
	sh "$MDB" sql "$T/db" -e "ALTER TABLE tagente_estado DROP COLUMN datos" pandora
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_equal "$status" 2
	assert_output --partial "schema refused by db-load --check-schema"
	# Stopped: down.
	sh "$MDB" stop "$T/db"
	sed -i 's/^check_db 1$/check_db 1\ndb_retry_time 0/' "$T/db.conf"
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_equal "$status" 2
	assert_output --partial "database: down:"
}

@test "database on a Galera node (galera-4, one node bootstrapped): the cluster's state; a node not synced, or fewer nodes than cluster_min_size, is degraded; db-load loads there" {
	[ -f /usr/lib/galera/libgalera_smm.so ] || skip "galera-4 is not installed (tools/deps.sh installs it)"
	gp=$("$BIN/tt-wire" --freeport)
	run env OCTO_DB_GROUP="$RUN_GROUP" OCTO_DB_OPTS="--wsrep-on=ON --wsrep-provider=/usr/lib/galera/libgalera_smm.so --wsrep-cluster-address=gcomm:// --wsrep-cluster-name=octo-status --binlog-format=ROW --innodb-autoinc-lock-mode=2 --wsrep-node-address=127.0.0.1 --wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:$gp;base_port=$gp" \
	    sh "$MDB" start "$T/db"
	assert_success
	db_conf
	run "$BIN/octospool-status" -c "$T/db.conf" --json --prometheus "$T/p.prom"
	assert_success
	echo "$output" | python3 -c 'import json, sys
c = json.load(sys.stdin)["database"]["cluster"]
assert c == {"name": "octo-status", "status": "Primary", "size": 1, "node_state": "Synced", "ready": True, "why": ""}, c'
	grep -qx 'octospool_db_cluster_size 1' "$T/p.prom"
	grep -qx 'octospool_db_cluster_primary 1' "$T/p.prom"
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_line "cluster: Galera octo-status, Primary, 1 node, this node Synced"
	# Fewer nodes than the site runs: degraded.
	sed -i 's/^check_db 1$/check_db 1\ncluster_min_size 3/' "$T/db.conf"
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_equal "$status" 1
	assert_line "cluster: Galera octo-status, Primary, 1 node, this node Synced: 1 of at least 3 nodes"
	# A node desynchronised (a donor, a backup in progress): degraded.
	sed -i '/^cluster_min_size 3$/d' "$T/db.conf"
	sh "$MDB" sql "$T/db" -e 'SET GLOBAL wsrep_desync = ON'
	run "$BIN/octospool-status" -c "$T/db.conf"
	assert_equal "$status" 1
	assert_output --regexp 'cluster: Galera octo-status, Primary, 1 node, this node [A-Za-z/]*Desync[a-z]*: this node'
	sh "$MDB" sql "$T/db" -e 'SET GLOBAL wsrep_desync = OFF'
	# db-load on the node: rows replicated by Galera's rules (ROW
	# format, interleaved auto-increment) load as anywhere else.
	{
		cat "$T/db.conf"
		printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey none\nallow_create yes\nidle_exit 0\n' "$RUN_USER" "$RUN_USER"
	} > "$T/dl.conf"
	for f in "$DATA"/variants/v01-*.data "$DATA"/variants/v06-*.data; do
		cp "$f" "$SP/db-load/new/"
	done
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$SP/db-load/new"
	run "$BIN/db-load" -c "$T/dl.conf" -d
	assert_success
	run sh "$MDB" sql "$T/db" -N -B -e 'SELECT COUNT(*) FROM octo_loaded_file' pandora
	assert_output 2
}

@test "nodes: each node publishes its report (--publish, octo_node); --cluster shows every node and what it loaded; a node whose report is old is down, the cluster degraded; every node down is down" {
	command -v mariadbd >/dev/null || command -v mysqld >/dev/null || skip "no MariaDB server"
	run env OCTO_DB_GROUP="$RUN_GROUP" sh "$MDB" start "$T/db"
	assert_success
	db_conf
	sql() { sh "$MDB" sql "$T/db" -N -B -e "$1" pandora; }
	sed -i "s|^\[status\]$|[status]\nserver_name n1\ndb_user octo_status\ndb_password_file $T/db/secrets/octo_status.pw|" "$T/db.conf"
	run "$BIN/octospool-status" -c "$T/db.conf" --publish
	assert_success
	run sql "SELECT node, state, version FROM octo_node"
	assert_output "$(printf 'n1\t0\t%s' "$("$BIN/octospool-status" -V | cut -d' ' -f2)")"
	# The report is the node's --json, whole.
	sql "SELECT report FROM octo_node WHERE node = 'n1'" |
	    perl -MJSON::PP -ne '$r = JSON::PP->new->decode($_); die unless $r->{health} eq "ok" && @{$r->{queues}} == 6; print "ok\n"' | grep -qx ok
	# A second node, with its own spool and an item waiting too long.
	mk_spool "$T/sp2"
	for q in xml-validate agent-auth db-load audit-sign conf-dist/submit conf-dist/uploads; do
		printf 'stage=x time=x epoch=%s pid=1 exit=0 seen=0 done=0 rejected=0 retried=0 ms=1\n' "$(date +%s)" > "$T/sp2/$q/status"
	done
	: > "$T/sp2/db-load/new/$(($(date +%s) - 900)).000001_1_abcd.x"
	sed "s|^spool_dir .*|spool_dir $T/sp2|; s|^server_name n1$|server_name n2|" "$T/db.conf" > "$T/db2.conf"
	run "$BIN/octospool-status" -c "$T/db2.conf" --publish
	assert_equal "$status" 1
	# What each node loaded in the last 5 minutes (octo_loaded_file.node).
	sql "INSERT INTO octo_loaded_file (sha256, node, loaded_at) VALUES
	    (SHA2('a', 256), 'n1', UNIX_TIMESTAMP()), (SHA2('b', 256), 'n1', UNIX_TIMESTAMP() - 20),
	    (SHA2('c', 256), 'n1', UNIX_TIMESTAMP() - 100), (SHA2('d', 256), 'n1', UNIX_TIMESTAMP() - 900),
	    (SHA2('e', 256), 'n2', UNIX_TIMESTAMP() - 4000)"
	run "$BIN/octospool-status" -c "$T/db.conf" --publish --cluster
	assert_equal "$status" 1
	assert_output --partial "nodes: degraded, 2 nodes"
	assert_output --regexp "node n1: ok, report [01]s ago, octospool [0-9.]+, 3 files loaded in 5 min \(last [01]s ago\)"
	assert_output --regexp "node n2: degraded, report [0-9]+s ago, octospool [0-9.]+, 0 files loaded in 5 min \(last none\)"
	run "$BIN/octospool-status" -c "$T/db.conf" --cluster --json --prometheus "$T/prom"
	assert_equal "$status" 1
	echo "$output" | perl -MJSON::PP -ne '$r = JSON::PP->new->decode($_); $n = $r->{nodes}{nodes}; die unless $r->{nodes}{health} eq "degraded" && @$n == 2 && $n->[0]{node} eq "n1" && $n->[0]{loaded_5min} == 3 && $n->[1]{health} eq "degraded"; print "ok\n"' | grep -qx ok
	grep -qx 'octospool_node_health{node="n1"} 0' "$T/prom"
	grep -qx 'octospool_node_health{node="n2"} 1' "$T/prom"
	grep -q '^octospool_node_report_age_seconds{node="n2"} [0-9]*$' "$T/prom"
	# n2 stops reporting: after node_stale seconds it is down, the
	# cluster (n1 healthy) degraded.
	sql "UPDATE octo_node SET state = 0, updated_at = updated_at - 600 WHERE node = 'n2'"
	run "$BIN/octospool-status" -c "$T/db.conf" --cluster
	assert_equal "$status" 1
	assert_output --regexp "node n2: down \(report too old\), report 6[0-9][0-9]s ago"
	# Every node down: down.
	sql "UPDATE octo_node SET updated_at = updated_at - 600"
	run "$BIN/octospool-status" -c "$T/db.conf" --cluster
	assert_equal "$status" 2
	assert_output --partial "nodes: down, 2 nodes"
	# db-load's account may not write octo_node: said, and degraded.
	sed '/^db_user octo_status$/d; /^db_password_file .*octo_status.pw$/d' "$T/db.conf" > "$T/db3.conf"
	run "$BIN/octospool-status" -c "$T/db3.conf" --publish
	assert_equal "$status" 1
	assert_output --partial "nodes: degraded:"
	assert_output --partial "octo_node"
}

@test "usage and configuration: unknown [status] keys are refused" {
	run "$BIN/octospool-status" -h
	assert_success
	mkconf "no_such_key 1"
	run status
	assert_equal "$status" 78
	run "$BIN/octospool-status" --bogus
	assert_equal "$status" 64
}
