#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A MariaDB Galera cluster of three nodes on this machine (galera-4;
# tools/mariadb.sh per node with OCTO_DB_OPTS, the second and third
# joining by rsync SST; the nodes share the first one's CA, certificates
# and account passwords), started once for the file and stopped by PID:
# db-load through the list of the three servers, two octospool nodes
# loading the same files through different Galera nodes (exactly once;
# certification conflicts run again), a Galera node stopped under load
# (the next server takes over, exactly once after a rerun), and
# octospool-status's view of the cluster.

load helpers

MDB=$TOOLS/mariadb.sh

# galera_start N PORTFILE: node N, joining the nodes before it.
galera_start() {
	local n=$1 peers="" i
	read -r -a gp < "$GDIR/ports"
	for ((i = 1; i < n; i++)); do
		peers="$peers${peers:+,}127.0.0.1:${gp[i - 1]}"
	done
	if [ "$n" -gt 1 ]; then
		mkdir -p "$GDIR/n$n"
		cp -a "$GDIR/n1/tls" "$GDIR/n1/secrets" "$GDIR/n1/.octospool-mariadb" "$GDIR/n$n/"
	fi
	OCTO_DB_GROUP=$RUN_GROUP OCTO_DB_OPTS="--wsrep-on=ON \
--wsrep-provider=/usr/lib/galera/libgalera_smm.so \
--wsrep-cluster-name=octo-cluster --binlog-format=ROW \
--innodb-autoinc-lock-mode=2 --wsrep-node-address=127.0.0.1 \
--wsrep-sst-method=rsync --wsrep-cluster-address=gcomm://$peers \
--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${gp[n - 1]};ist.recv_addr=127.0.0.1:${gp[n + 2]} \
--wsrep-sst-receive-address=127.0.0.1:${gp[n + 5]}" \
	    sh "$MDB" start "$GDIR/n$n" >> "$GDIR/start.log" 2>&1 || {
		tail -30 "$GDIR/n$n/mariadbd.log" >> "$GDIR/start.log"
		return 1
	}
	# Ready for clients only once Galera says so (a joiner takes its
	# state transfer first).
	for _ in $(seq 1 300); do
		[ "$(sh "$MDB" sql "$GDIR/n$n" -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY'" 2>/dev/null)" = ON ] && return 0
		sleep 0.1
	done
	echo "node $n: not ready after 30 s" >> "$GDIR/start.log"
	return 1
}

setup_file() {
	[ -f /usr/lib/galera/libgalera_smm.so ] || return 0
	command -v rsync > /dev/null || return 0
	GDIR=$(mktemp -d /tmp/octo-galera.XXXXXX)
	chmod 0755 "$GDIR"
	export GDIR
	# Per node: Galera's group port, its IST port, its SST port; nine
	# distinct free ports (a port asked for twice can come back twice).
	: > "$GDIR/ports.list"
	while [ "$(wc -l < "$GDIR/ports.list")" -lt 9 ]; do
		p=$("$BIN/tt-wire" --freeport)
		grep -qx "$p" "$GDIR/ports.list" || echo "$p" >> "$GDIR/ports.list"
	done
	paste -sd' ' "$GDIR/ports.list" > "$GDIR/ports"
	for n in 1 2 3; do
		if ! galera_start "$n"; then
			cat "$GDIR/start.log" >&2
			return 1
		fi
	done
}

teardown_file() {
	[ -n "${GDIR:-}" ] || return 0
	for n in 3 2 1; do
		[ -d "$GDIR/n$n" ] && sh "$MDB" stop "$GDIR/n$n" > /dev/null 2>&1
	done
	rm -rf "$GDIR"
}

setup() {
	[ -f /usr/lib/galera/libgalera_smm.so ] || skip "galera-4 is not installed (tools/deps.sh installs it)"
	command -v rsync > /dev/null || skip "rsync is not installed (tools/deps.sh installs it)"
	mk_tmp
	W=$T
	P=()
	for n in 1 2 3; do
		P[n]=$(sed -n "s/^MYSQL_PORT='\([0-9]*\)'$/\1/p" "$GDIR/n$n/env")
	done
	sql 1 "TRUNCATE tagente; TRUNCATE tagente_modulo; TRUNCATE tagente_estado;
	    TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento; TRUNCATE octo_loaded_file"
}

teardown() {
	rm -rf "$T"
}

# sql N QUERY: as the administrator of node N.
sql() {
	sh "$MDB" sql "$GDIR/n$1" -N -B -e "$2" pandora
}

# node NAME HOSTS: an octospool node's spool and configuration
# ($W/NAME.conf): db-load through HOSTS (a list of n:port), its own
# server_name.
node() {
	mk_spool "$W/$1"
	{
		echo "spool_dir $W/$1"
		echo "idle_exit 0"
		sed "s/^host 127.0.0.1$/host $2/; s/^retry_time [0-9]*$/retry_time 2/" "$GDIR/n1/octospool-db.conf"
		printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey none\n' "$RUN_USER" "$RUN_USER"
		printf 'allow_create yes\nbatch 100\nserver_name %s\n' "$1"
	} > "$W/$1.conf"
	grep -q "^host $2$" "$W/$1.conf"
}

# files NAME N: N generated agent files (40 agents) into NAME's db-load queue.
files() {
	sh "$TOOLS/gen-agents.sh" "$W/gen.$1" "$2" 40 10
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/gen.$1"
	mv "$W/gen.$1"/* "$W/$1/db-load/new/"
}

# loaded N: what each Galera node holds (the same everywhere).
loaded() {
	local n
	for n in 1 2 3; do
		sql "$n" "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM octo_loaded_file"
	done | sort -u
}

sanitizer_clean() {
	! grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$@"
}

@test "three Galera nodes: db-load through the list of servers loads, every node holds the rows; octospool-status sees a Primary cluster of 3" {
	node a "127.0.0.1:${P[1]},127.0.0.1:${P[2]},127.0.0.1:${P[3]}"
	files a 400
	run "$BIN/db-load" -c "$W/a.conf" -d
	assert_success
	# Replicated: the same rows on each node.
	run loaded
	assert_output "$(printf '400\t400')"
	for n in 1 2 3; do
		[ "$(sql "$n" 'SELECT COUNT(*) FROM tagente')" -eq 40 ]
	done
	printf '[status]\ncheck_recv 0\ncluster_min_size 3\n' >> "$W/a.conf"
	run "$BIN/octospool-status" -c "$W/a.conf"
	assert_line "cluster: Galera octo-cluster, Primary, 3 nodes, this node Synced"
	assert_line --regexp "^database: ok, reachable \(.* at 127\.0\.0\.1:${P[1]}\)"
}

@test "two octospool nodes, the same 1,000 files, each through another Galera node: loaded once; certification conflicts run the batch again" {
	node a "127.0.0.1:${P[1]}"
	node b "127.0.0.1:${P[2]}"
	files a 1000
	cp -p "$W"/a/db-load/new/* "$W/b/db-load/new/"
	"$BIN/db-load" -c "$W/a.conf" -d 2> "$W/a.log" 3>&- &
	pa=$!
	"$BIN/db-load" -c "$W/b.conf" -d 2> "$W/b.log" 3>&- &
	pb=$!
	wait "$pa" || { tail -5 "$W/a.log" >&3; false; }
	wait "$pb" || { tail -5 "$W/b.log" >&3; false; }
	run loaded
	assert_output "$(printf '1000\t1000')"
	# Every queue empty, nothing rejected.
	[ "$(count "$W"/a/db-load/new/* "$W"/a/db-load/cur/* "$W"/a/db-load/reject/* "$W"/b/db-load/new/* "$W"/b/db-load/cur/* "$W"/b/db-load/reject/*)" -eq 0 ]
	# No history row twice, whichever node wrote it.
	run sql 3 "SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) d"
	assert_output 0
	[ "$(sql 3 'SELECT COUNT(*) FROM tagente')" -eq 40 ]
	run sql 3 "SELECT SUM(node = 'a') + SUM(node = 'b') FROM octo_loaded_file"
	assert_output 1000
	echo "# conflicts run again: $(cat "$W/a.log" "$W/b.log" | grep -c 'event=db.conflict.retry')" >&3
	sanitizer_clean "$W/a.log" "$W/b.log"
}

@test "a Galera node stopped under load: the batch in hand goes back, the next server of the list takes over; exactly once" {
	node a "127.0.0.1:${P[3]},127.0.0.1:${P[1]},127.0.0.1:${P[2]}"
	files a 1000
	sed -i 's/^batch 100$/batch 50/' "$W/a.conf"
	# db-load stops before its first COMMIT (on node 3, the first of
	# its list); node 3 goes away meanwhile.
	pause=$(pause_file "$W/p")
	PIPELINE_PAUSE_AT=precommit PIPELINE_PAUSE_FILE=$pause \
	    "$BIN/db-load" -c "$W/a.conf" -d -v 2> "$W/a.log" 3>&- &
	pa=$!
	wait_pause "$pause" "$pa"
	grep -q "event=db.connected server=127.0.0.1:${P[3]} " "$W/a.log"
	sh "$MDB" stop "$GDIR/n3"
	rm -f "$pause"
	rc=0
	wait "$pa" || rc=$?
	# The batch could not commit: back in new/, exit 75 (the unit's
	# next start); nothing of it is in the cluster.
	[ "$rc" -eq 75 ]
	[ "$(sql 1 'SELECT COUNT(*) FROM octo_loaded_file')" -eq 0 ]
	run "$BIN/db-load" -c "$W/a.conf" -d -v
	assert_success
	# Node 3 down: passed over for node 1.
	assert_output --partial "event=db.connected server=127.0.0.1:${P[1]} "
	run sql 1 "SELECT COUNT(*), COUNT(DISTINCT sha256) FROM octo_loaded_file"
	assert_output "$(printf '1000\t1000')"
	run sql 2 "SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) d"
	assert_output 0
	# The cluster is down to two: degraded with cluster_min_size 3.
	printf '[status]\ncheck_recv 0\ncluster_min_size 3\n' >> "$W/a.conf"
	run "$BIN/octospool-status" -c "$W/a.conf"
	assert_line "cluster: Galera octo-cluster, Primary, 2 nodes, this node Synced: 2 of at least 3 nodes"
	# Node 3 rejoins and catches up (IST or SST).
	galera_start 3
	[ "$(sql 3 'SELECT COUNT(*) FROM octo_loaded_file')" -eq 1000 ]
	sanitizer_clean "$W/a.log"
}
