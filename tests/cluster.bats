#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A MariaDB Galera cluster of three nodes on this machine (galera-4;
# tools/mariadb.sh per node with OCTO_DB_OPTS, the second and third
# joining by rsync SST; the nodes share the first one's CA, certificates
# and account passwords; between the nodes TLS with each node's own
# certificate, socket.ssl_*), started once for the file and stopped by
# PID: db-load through the list of the three servers, two octospool
# nodes loading the same files through different Galera nodes (exactly
# once; certification conflicts run again), a Galera node stopped under
# load (the next server takes over, exactly once after a rerun), and
# octospool-status's view of the cluster.
#
# Then the scripted cluster of doc/SCALING.md: HAProxy (mode tcp, health
# checks, send-proxy-v2) in front of two receiver nodes, each the whole
# pipeline on its own spool (tests/tools/octonode.sh), the real agent
# files sent with tentacle-send over TLS with client certificates; the
# faults under load (a receiver node SIGKILLed, a Galera node SIGKILLed
# and back by IST, a Galera node isolated and healed, the same file at
# both nodes) and the unix agent's secondary_server modes
# (tests/tools/pandora-agent-send.sh).  Keep the file under 4 minutes.

load helpers
. "$BATS_TEST_DIRNAME/tools/octonode.sh"

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
--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${gp[n - 1]};ist.recv_addr=127.0.0.1:${gp[n + 2]};$(galera_ssl "$n") \
--wsrep-sst-receive-address=127.0.0.1:${gp[n + 5]}${GALERA_START_POSITION:+ --wsrep-start-position=$GALERA_START_POSITION}" \
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

# galera_recover N: the position (uuid:seqno) node N's InnoDB holds,
# after a crash (mariadbd --wsrep-recover, as galera_recovery runs it).
galera_recover() {
	local d=$GDIR/n$1 u=()
	[ "$(id -u)" -ne 0 ] || u=(--user=mysql)
	mariadbd --no-defaults "${u[@]}" --datadir="$d/data" --tmpdir="$d/tmp" \
	    --skip-networking --socket="$d/recover.sock" \
	    --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
	    --wsrep-on=ON --wsrep-provider=/usr/lib/galera/libgalera_smm.so \
	    --wsrep-cluster-address=gcomm://127.0.0.1:1 --binlog-format=ROW \
	    --wsrep-recover --log-error="$d/recover.log" > /dev/null 2>&1 3>&- ||
	    return 1
	# The line may run on into the next one's timestamp.
	sed -n 's/.*WSREP: Recovered position: \([0-9a-f-]\{36\}:-\{0,1\}[0-9]*\)\(20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] .*\)\{0,1\}$/\1/p' \
	    "$d/recover.log" | tail -n 1
}

# galera_ssl N: the provider options of node N's TLS to the other nodes
# (replication and IST): its own certificate, the nodes' CA.
galera_ssl() {
	printf 'socket.ssl=YES;socket.ssl_ca=%s;socket.ssl_cert=%s;socket.ssl_key=%s' \
	    "$GDIR/gtls/ca.crt" "$GDIR/gtls/node$1.crt" "$GDIR/gtls/node$1.key"
}

# galera_pki: a CA for the Galera nodes and one certificate per node
# (CN galera-nodeN, IP 127.0.0.1, server and client use), in GDIR/gtls.
galera_pki() {
	local g=$GDIR/gtls n
	mkdir -p "$g"
	(
		cd "$g" && umask 077 &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout ca.key -out ca.crt -days 30 \
		    -subj "/CN=octospool Galera test CA" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
		for n in 1 2 3; do
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			    -nodes -keyout "node$n.key" -out "node$n.crt" \
			    -days 30 -subj "/CN=galera-node$n" -CA ca.crt \
			    -CAkey ca.key -addext subjectAltName=IP:127.0.0.1 \
			    -addext extendedKeyUsage=serverAuth,clientAuth \
			    -addext basicConstraints=critical,CA:FALSE \
			    2>/dev/null || exit 1
		done
	) || return 1
	chmod 0755 "$g"
	chmod 0644 "$g"/*.crt
	# The server's user reads its key (mysql when run as root).
	[ "$(id -u)" -ne 0 ] || chown mysql "$g"/node*.key
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
	galera_pki || return 1
	for n in 1 2 3; do
		if ! galera_start "$n"; then
			cat "$GDIR/start.log" >&2
			return 1
		fi
	done
	# The receiver nodes' PKI (server, agents' CA, the
	# research-agent-01 client certificate) and stamp keys; the group
	# of the real agent files: its password (slow KDF, once) and
	# self-creation.
	export OCTO_TOP PKI=$GDIR/pki KEYS
	OCTO_TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	mk_certs "$PKI"
	mk_keys
	octonode_conf "$GDIR" admin "$GDIR/n1/octospool-db.conf" "127.0.0.1:$(env_port 1)" ||
	    return 1
	printf 's3cretPw\n' | "$BIN/agent-auth" -c "$GDIR/admin/admin.conf" passwd Servers ||
	    return 1
	"$BIN/agent-auth" -c "$GDIR/admin/admin.conf" selfcreate Servers on || return 1
}

# env_port N: node N's client port.
env_port() {
	sed -n "s/^MYSQL_PORT='\([0-9]*\)'$/\1/p" "$GDIR/n$1/env"
}

teardown_file() {
	[ -n "${GDIR:-}" ] || return 0
	for n in 3 2 1; do
		[ -d "$GDIR/n$n" ] && sh "$MDB" stop "$GDIR/n$n" > /dev/null 2>&1
	done
	# OCTO_KEEP=1 keeps the nodes' files (logs, data) for a look.
	[ -n "${OCTO_KEEP:-}" ] || rm -rf "$GDIR"
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
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento; TRUNCATE octo_loaded_file;
	    TRUNCATE octo_agent_name"
}

teardown() {
	if [ -n "${C:-}" ]; then
		haproxy_stop "$C"
		octonode_stop "$C" r1
		octonode_stop "$C" r2
		C=
	fi
	# A Galera node a test stopped or isolated: back for the next.
	for n in 1 2 3; do
		sh "$MDB" status "$GDIR/n$n" || galera_start "$n" || true
		[ "$(gstatus "$n" wsrep_cluster_status)" = Primary ] ||
		    sql "$n" "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'" || true
	done
	rm -rf "$T"
}

# gstatus N VAR: a status variable of Galera node N.
gstatus() {
	sh "$MDB" sql "$GDIR/n$1" -N -B -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '$2'" 2>/dev/null
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

# ---- Receiver nodes behind HAProxy (tests/tools/octonode.sh) ----------

# cluster_up: receiver nodes r1 and r2 in $C, each the whole pipeline
# on its own spool, db-load and agent-auth through the Galera server
# list (r1 from node 1, r2 from node 2), tentacle-recv taking the PROXY
# header from 127.0.0.1 only; HAProxy on 127.0.0.1:$HP in front of both.
# R1HOSTS and R2HOSTS override the lists.
cluster_up() {
	C=$W/c
	mkdir -p "$C"
	octonode_conf "$C" r1 "$GDIR/n1/octospool-db.conf" \
	    "${R1HOSTS:-127.0.0.1:${P[1]},127.0.0.1:${P[2]},127.0.0.1:${P[3]}}"
	octonode_conf "$C" r2 "$GDIR/n1/octospool-db.conf" \
	    "${R2HOSTS:-127.0.0.1:${P[2]},127.0.0.1:${P[3]},127.0.0.1:${P[1]}}"
	octonode_start "$C" r1 127.0.0.1
	octonode_start "$C" r2 127.0.0.1
	HP=$("$BIN/tt-wire" --freeport)
	haproxy_start "$C" "$HP" "$(octonode_port "$C" r1)" "$(octonode_port "$C" r2)"
	# Both backends up (rise 2, every 200 ms).
	sleep 0.6
}

# warm_up: the first round (the agents' first contact) straight to r1,
# loaded: the agents exist before the load, so that the fault tests count
# the load alone.  (A new agent's first files at two nodes at once: its
# own test below.)
warm_up() {
	agent_files "$W/f0" 0 1
	sender "$W/f0.list" "$W/ok" "$(octonode_port "$C" r1)" 127.0.0.3
	wait_loaded 4 60
}

# nloaded: files loaded (node 1's view).
nloaded() {
	sql 1 "SELECT COUNT(*) FROM octo_loaded_file"
}

# wait_loaded N SECONDS: until N files are loaded.
wait_loaded() {
	local end=$(($(date +%s) + $2))
	while [ "$(nloaded)" -lt "$1" ]; do
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "# only $(nloaded) of $1 loaded after $2 s" >&3
			for n in r1 r2; do
				echo "# $n queued $(octonode_queued "$C" "$n") rejected $(octonode_rejected "$C" "$n")" >&3
				tail -n 3 "$C/$n/db-load.log" "$C/$n/agent-auth.log" | sed 's/^/# /' >&3
				cat "$C/$n/spool"/*/reject/*.reason 2>/dev/null | sed 's/^/# /' >&3
			done
			return 1
		fi
		sleep 0.2
	done
}

# all_acked_loaded OK: every name tentacle-send reported sent is the
# original name of a loaded item.
all_acked_loaded() {
	sql 1 "SELECT item FROM octo_loaded_file" > "$W/items"
	local miss=0 f
	while read -r f; do
		grep -qF ".$f" "$W/items" || { echo "# not loaded: $f" >&3; miss=$((miss + 1)); }
	done < <(sort -u "$1")
	[ "$miss" -eq 0 ]
}

# same_everywhere: every Galera node holds the same loaded files and
# history rows, none twice.
same_everywhere() {
	local n
	for n in 1 2 3; do
		sql "$n" "SELECT COUNT(*), COUNT(DISTINCT sha256), (SELECT COUNT(*) FROM tagente_datos), (SELECT COUNT(*) FROM tagente_datos_string), (SELECT COUNT(*) FROM tagente) FROM octo_loaded_file"
	done | sort -u > "$W/same"
	[ "$(wc -l < "$W/same")" -eq 1 ] || { sed 's/^/# /' "$W/same" >&3; return 1; }
	run sql 2 "SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) d"
	assert_output 0
}

# drained: both nodes' queues empty, nothing quarantined.
drained() {
	[ "$(octonode_queued "$C" r1)" -eq 0 ] && [ "$(octonode_queued "$C" r2)" -eq 0 ] &&
	    [ "$(octonode_rejected "$C" r1)" -eq 0 ] && [ "$(octonode_rejected "$C" r2)" -eq 0 ]
}

# clean_logs: no sanitizer report, no crash in any node's log.
clean_logs() {
	sanitizer_clean "$C"/r[12]/*.log "$C/haproxy.log"
}

@test "Galera over TLS: replication and IST between the nodes with each node's certificate, the clients over TLS" {
	read -r -a gp < "$GDIR/ports"
	for n in 1 2 3; do
		run sql "$n" "SELECT @@wsrep_provider_options"
		assert_output --partial "socket.ssl = YES"
		assert_output --partial "socket.ssl_cert = $GDIR/gtls/node$n.crt"
		# The group connections and IST are TLS.
		grep -q "listening at ssl://127.0.0.1:${gp[n - 1]}$" "$GDIR/n$n/mariadbd.log"
		grep -Eq 'connection established to [0-9a-f-]+ ssl://127\.0\.0\.1:' "$GDIR/n$n/mariadbd.log"
		[ "$(grep -cE 'connection established to [0-9a-f-]+ tcp://' "$GDIR/n$n/mariadbd.log")" -eq 0 ]
	done
	grep -q 'IST receiver using ssl' "$GDIR/n2/mariadbd.log"
	# A node's group port speaks only TLS: a plain client gets nothing.
	run "$BIN/tt-wire" -a 127.0.0.1 -p "${gp[0]}" -t 1000 'send:GET / HTTP/1.0\n\n' 'expect:HTTP'
	assert_failure
	# db-load's account: TLS required, and used.
	run sh "$MDB" sql "$GDIR/n2" octo_db_load -N -B -e "SHOW STATUS LIKE 'Ssl_version'"
	assert_output --regexp $'^Ssl_version\tTLSv1\\.[23]$'
}

@test "HAProxy (tcp, check, send-proxy-v2) before two receiver nodes, each the whole pipeline: real agent files over TLS with client certificates, loaded once; the audit keeps the agent's address" {
	command -v haproxy > /dev/null || skip "haproxy is not installed (tools/deps.sh installs it)"
	cluster_up
	warm_up
	per=$(sql 1 "SELECT COUNT(*) FROM tagente_datos")
	[ "$per" -gt 0 ]
	# Then 40 rounds (160 files) from two agents' hosts at once.
	agent_files "$W/f" 1 40
	split -n l/2 "$W/f.list" "$W/part."
	sender "$W/part.aa" "$W/ok" "$HP" &
	s1=$!
	sender "$W/part.ab" "$W/ok" "$HP" &
	s2=$!
	wait "$s1"
	wait "$s2"
	[ ! -s "$W/ok.failed" ]
	[ "$(sort -u "$W/ok" | wc -l)" -eq 164 ]
	wait_loaded 164 120
	all_acked_loaded "$W/ok"
	same_everywhere
	run sql 3 "SELECT COUNT(*), COUNT(DISTINCT node) FROM octo_loaded_file"
	assert_output "$(printf '164\t2')"
	# History grew with the rounds (how much depends on the order the
	# two nodes loaded them in: counters, changes), no row twice.
	[ "$(sql 3 "SELECT COUNT(*) FROM tagente_datos")" -gt $((10 * per)) ]
	run sql 3 "SELECT nombre FROM tagente ORDER BY nombre"
	assert_output "$(printf 'research-agent-01\nresearch-broker-01')"
	# HAProxy balanced: each node took files, none failed a check.
	n1=$(grep -c 'event=file.stored .* peer=127.0.0.2 ' "$C/r1/recv.log")
	n2=$(grep -c 'event=file.stored .* peer=127.0.0.2 ' "$C/r2/recv.log")
	[ "$((n1 + n2))" -eq 160 ]
	[ "$n1" -ge 40 ]
	[ "$n2" -ge 40 ]
	# The agent's address (127.0.0.2), not HAProxy's, in the log and in
	# each node's own sealed audit log; TLS with its certificate.
	[ "$(grep 'event=file.stored ' "$C"/r[12]/recv.log | grep -c ' peer=127.0.0.2 .* tls=TLSv1.3 subject="CN=research-agent-01"')" -eq 160 ]
	drained
	octonode_stop "$C" r1
	octonode_stop "$C" r2
	for n in r1 r2; do
		"$BIN/tt-auditevil" records "$C/$n/audit/log" > "$W/$n.records"
		grep '"action":"file.received","outcome":"stored"' "$W/$n.records" > "$W/$n.recv"
		[ "$(wc -l < "$W/$n.recv")" -eq "$(grep -c 'event=file.stored ' "$C/$n/recv.log")" ]
		[ "$(grep -cv '"peer":"127.0.0.[23]"' "$W/$n.recv")" -eq 0 ]
		[ "$(grep -c '"peer":"127.0.0.2"' "$W/$n.recv")" -eq "$(grep -c 'event=file.stored .* peer=127.0.0.2 ' "$C/$n/recv.log")" ]
		grep -q '"action":"agent.auth","outcome":"ok"' "$W/$n.records"
		"$BIN/audit-verify" -K "$C/$n/audit.vkey" "$C/$n/audit/log"
	done
	clean_logs
}

# load_bg FIRST COUNT: COUNT rounds from FIRST, two senders through
# HAProxy in the background (PIDs in SENDERS); the list in $W/f.list.
load_bg() {
	agent_files "$W/f" "$1" "$2"
	split -n l/2 "$W/f.list" "$W/part."
	sender "$W/part.aa" "$W/ok" "$HP" &
	SENDERS=$!
	sender "$W/part.ab" "$W/ok" "$HP" &
	SENDERS="$SENDERS $!"
}

# load_wait: the senders are done; every file was acknowledged.
load_wait() {
	local p
	for p in $SENDERS; do
		wait "$p"
	done
	[ ! -s "$W/ok.failed" ]
	[ "$(sort -u "$W/ok" | wc -l)" -eq "$(($(wc -l < "$W/f.list") + 4))" ]
}

# stored NODE: files its tentacle-recv stored so far.
stored() {
	grep -c 'event=file.stored ' "$C/$1/recv.log" || true
}

# until_true SECONDS 'SHELL TEST': until the test (evaluated anew each
# time) succeeds.
until_true() {
	local end=$(($(date +%s) + $1))
	shift
	until eval "$*"; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

@test "fault: a receiver node SIGKILLed under load: HAProxy moves the agents, nothing acknowledged is lost, its spool drains when it returns; loaded once" {
	command -v haproxy > /dev/null || skip "haproxy is not installed (tools/deps.sh installs it)"
	cluster_up
	warm_up
	load_bg 1 60
	# r1's drains die first, so that what r1 acknowledges from then on
	# waits in its spool; then its tentacle-recv.
	until_true 30 '[ "$(stored r1)" -ge 12 ]'
	octonode_kill "$C" r1 KILL xml-validate agent-auth db-load audit-sign
	before=$(stored r1)
	until_true 30 '[ "$(stored r1)" -ge $((before + 10)) ]'
	octonode_kill "$C" r1 KILL recv
	load_wait
	# HAProxy saw it go, and sent the rest to r2.
	grep -q 'receivers/r1 is DOWN' "$C/haproxy.log"
	pending=$(octonode_queued "$C" r1)
	echo "# r1 stored $(stored r1) files, $pending waiting in its spool when killed" >&3
	[ "$pending" -ge 10 ]
	total=$(sort -u "$W/ok" | wc -l)
	# Everything else is loaded; r1's items wait for r1.
	until_true 60 '[ "$(nloaded)" -ge $((total - pending)) ]'
	[ "$(nloaded)" -lt "$total" ]
	# r1 returns: its spool drains.
	octonode_start "$C" r1 127.0.0.1
	wait_loaded "$total" 60
	until_true 30 drained
	all_acked_loaded "$W/ok"
	[ "$(nloaded)" -eq "$total" ]
	same_everywhere
	[ "$(sql 1 'SELECT COUNT(*) FROM tagente')" -eq 2 ]
	clean_logs
}

@test "fault: a Galera node SIGKILLed under load and brought back: db-load fails over, the node rejoins by IST; rows identical on every node, loaded once" {
	command -v haproxy > /dev/null || skip "haproxy is not installed (tools/deps.sh installs it)"
	cluster_up
	warm_up
	load_bg 1 60
	until_true 30 '[ "$(nloaded)" -ge 40 ]'
	# Node 2: the first server of r2's list.
	pid=$(cat "$GDIR/n2/mariadbd.pid")
	kill -KILL "$pid"
	killed=$(date +%s)
	wait_gone "$pid"
	load_wait
	total=$(sort -u "$W/ok" | wc -l)
	wait_loaded "$total" 90
	# r2 (node 2 first in its list) went on loading through node 3.
	[ "$(sql 3 "SELECT COUNT(*) FROM octo_loaded_file WHERE node = 'r2' AND loaded_at >= $killed")" -gt 0 ]
	# Back as after any crash (what Debian's galera_recovery does for
	# the unit): its position recovered from InnoDB (--wsrep-recover),
	# then started at that position: it takes the missing writesets by
	# IST from a donor, no full state transfer.
	pos=$(galera_recover 2)
	[ -n "$pos" ]
	[ "${pos##*:}" -ge 0 ]
	off=$(wc -c < "$GDIR/n2/mariadbd.log")
	GALERA_START_POSITION=$pos galera_start 2
	tail -c +"$off" "$GDIR/n2/mariadbd.log" > "$W/n2.rejoin"
	# Only the writesets after its position (not 0-...), by IST; the
	# rsync script only bypasses (no data copied).
	grep -Eq "Prepared IST receiver for $((${pos##*:} + 1))-[0-9]+, listening at: ssl://" "$W/n2.rejoin"
	grep -q 'rsync IST completed on joiner' "$W/n2.rejoin"
	[ "$(grep -c 'rsync SST completed on joiner' "$W/n2.rejoin")" -eq 0 ]
	grep -q 'IST received' "$W/n2.rejoin"
	until_true 30 drained
	all_acked_loaded "$W/ok"
	[ "$(sql 2 'SELECT COUNT(*) FROM octo_loaded_file')" -eq "$total" ]
	same_everywhere
	clean_logs
}

@test "fault: a Galera node partitioned (gmcast.isolate) under load: non-Primary, it refuses writes, db-load fails over; healed, it catches up, nothing loaded twice" {
	command -v haproxy > /dev/null || skip "haproxy is not installed (tools/deps.sh installs it)"
	# Both receiver nodes write through node 3 first.
	R1HOSTS="127.0.0.1:${P[3]},127.0.0.1:${P[1]},127.0.0.1:${P[2]}" \
	R2HOSTS="127.0.0.1:${P[3]},127.0.0.1:${P[2]},127.0.0.1:${P[1]}" cluster_up
	warm_up
	load_bg 1 50
	until_true 30 '[ "$(nloaded)" -ge 30 ]'
	sql 3 "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'"
	until_true 30 '[ "$(gstatus 3 wsrep_cluster_status)" = non-Primary ]'
	until_true 30 '[ "$(gstatus 1 wsrep_cluster_size)" -eq 2 ]'
	# The isolated node refuses writes (and reads).
	run sql 3 "INSERT INTO octo_schema (component, version) VALUES ('partition-test', 1)"
	assert_failure
	assert_output --partial "WSREP has not yet prepared node for application use"
	load_wait
	total=$(sort -u "$W/ok" | wc -l)
	wait_loaded "$total" 90
	# Node 3 did not take the load meanwhile.
	[ "$(sql 1 "SELECT COUNT(*) FROM octo_schema WHERE component = 'partition-test'")" -eq 0 ]
	# Healed: Primary again, synced, the same rows.
	sql 3 "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'"
	# Seconds on a quiet machine (the test takes ~25 s); one CI run with the ASan pass beside
	# it took over 60 s: wait up to 180 s and show the node if not.
	if ! until_true 180 '[ "$(gstatus 3 wsrep_local_state_comment)" = Synced ]'; then
		for v in wsrep_cluster_status wsrep_local_state_comment wsrep_cluster_size wsrep_ready; do
			echo "node 3 $v: $(gstatus 3 $v)"
		done
		tail -30 "$GDIR/n3/mariadbd.log"
		false
	fi
	[ "$(gstatus 3 wsrep_cluster_size)" -eq 3 ]
	[ "$(sql 3 'SELECT COUNT(*) FROM octo_loaded_file')" -eq "$total" ]
	# The agents send the whole load again: nothing is loaded twice.
	: > "$W/ok2"
	sender "$W/f.list" "$W/ok2" "$HP"
	until_true 60 drained
	sleep 1
	[ "$(nloaded)" -eq "$total" ]
	all_acked_loaded "$W/ok"
	same_everywhere
	clean_logs
}

# both FILE1 FILE2: FILE1 to r1 and FILE2 to r2 at the same moment, over
# TLS with the client certificate; both sent.
both() {
	local pids=() k f
	for k in 1 2; do
		if [ "$k" -eq 1 ]; then f=$1; else f=$2; fi
		"$BIN/tentacle-send" --bind 127.0.0.3 -a 127.0.0.1 -p "$(octonode_port "$C" "r$k")" \
		    -e "$PKI/client.crt" -k "$PKI/client.key" -f "$PKI/ca.crt" "$f" &
		pids+=($!)
	done
	wait "${pids[0]}" && wait "${pids[1]}"
}

@test "the same file sent to both receiver nodes at once: loaded once" {
	cluster_up
	warm_up
	agent_files "$W/d" 500 5
	for f in $(cat "$W/d.list"); do
		both "$f" "$f"
	done
	wait_loaded 24 60
	until_true 30 drained
	sleep 0.5
	[ "$(nloaded)" -eq 24 ]
	# Each node stored all 20; between them 20 were dropped as duplicates.
	[ "$(stored r1)" -eq 24 ]
	[ "$(stored r2)" -eq 20 ]
	dups=$(grep -ho 'event=drain.done stage=db-load .* duplicates=[0-9]*' "$C"/r[12]/db-load.log |
	    sed 's/.*duplicates=//' | awk '{ s += $1 } END { print s + 0 }')
	[ "$dups" -eq 20 ]
	same_everywhere
	clean_logs
}

@test "a new agent's first files at both receiver nodes at once: one agent each (octo_agent_name: the second creation fails certification, its batch runs again and finds the agent)" {
	cluster_up
	mkdir -p "$W/n"
	day=$(date -u -d '-1 day' +%Y/%m/%d)
	src=$BATS_TEST_DIRNAME/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
	for i in $(seq 1 12); do
		for k in 1 2; do
			sed -e "s/agent_name='research-agent-01'/agent_name='fresh-$i'/" \
			    -e "s#2026/11/27 21:5#$day 0$k:5#g" "$src" > "$W/n/fresh$i.$k.data"
		done
		both "$W/n/fresh$i.1.data" "$W/n/fresh$i.2.data"
	done
	wait_loaded 24 90
	until_true 30 drained
	[ "$(nloaded)" -eq 24 ]
	# None twice, on any Galera node.
	for n in 1 2 3; do
		run sql "$n" "SELECT COUNT(*), COUNT(DISTINCT nombre) FROM tagente WHERE nombre LIKE 'fresh-%'"
		assert_output "$(printf '12\t12')"
	done
	run sql 2 "SELECT COUNT(*) FROM octo_agent_name n JOIN tagente a USING (id_agente) WHERE a.nombre LIKE 'fresh-%'"
	if [ "$output" != 12 ]; then
		sql 2 "SELECT n.*, a.nombre FROM octo_agent_name n LEFT JOIN tagente a USING (id_agente); SELECT id_agente, nombre FROM tagente" | sed 's/^/# /' >&3
	fi
	assert_output 12
	echo "# batches run again after a conflict: $(cat "$C"/r[12]/db-load.log | grep -c 'event=db.conflict.retry'), of them for a name claimed since the batch began: $(cat "$C"/r[12]/db-load.log | grep -c 'event=agent.claimed')" >&3
	same_everywhere
	clean_logs
}

# agent_conf MODE PRIMARY_PORT SECONDARY_PORT: a pandora_agent.conf (the
# real unix agent's keys) in $W/agent, one data file of the agent in
# its temporal directory $W/agent/tmp.
agent_conf() {
	local opts="--bind 127.0.0.3 -e $PKI/client.crt -k $PKI/client.key -f $PKI/ca.crt -r 1 -t 1"
	mkdir -p "$W/agent/tmp"
	cat > "$W/agent/pandora_agent.conf" <<EOT
# Base config file for Pandora FMS agents (the keys of a real one)
server_ip 	127.0.0.1
server_path 	/var/spool/pandora/data_in
temporal /tmp
agent_name research-agent-01
group Servers
transfer_mode tentacle
server_port $2
server_opts $opts
secondary_mode $1
secondary_server_ip 127.0.0.1
secondary_server_path /var/spool/pandora/data_in
secondary_server_port $3
secondary_transfer_mode tentacle
secondary_server_opts $opts
EOT
	agent_files "$W/af" 600 1
	cp "$W/af"/238cd44ae5e05cc2dd832a79a3f5ddab.17958165320600.data "$W/agent/tmp/"
	ID=238cd44ae5e05cc2dd832a79a3f5ddab.17958165320600.data
}

# agent_up MODE: the receiver nodes, the agents known, ports p1 and p2,
# the agent configured with MODE, r1 its primary and r2 its secondary.
agent_up() {
	cluster_up
	warm_up
	p1=$(octonode_port "$C" r1)
	p2=$(octonode_port "$C" r2)
	agent_conf "$1" "$p1" "$p2"
}

# agent: one run of the agent's sending (tests/tools/pandora-agent-send.sh).
agent() {
	TENTACLE=$BIN/tentacle-send sh "$BATS_TEST_DIRNAME/tools/pandora-agent-send.sh" \
	    "$W/agent/pandora_agent.conf" "$W/agent/tmp"
}

@test "agent secondary_mode on_error (the unix agent's keys): the primary node down, the file goes to the secondary, loaded once" {
	agent_up on_error
	# The primary is down.
	octonode_kill "$C" r1 TERM recv
	run agent
	assert_success
	assert_line --regexp "^send server=127\.0\.0\.1:$p1 file=$ID rc=[1-9][0-9]*$"
	assert_line "send server=127.0.0.1:$p2 file=$ID rc=0"
	# Sent: gone from the agent's temporal directory.
	[ ! -e "$W/agent/tmp/$ID" ]
	grep -q "event=file.stored .*name=\"$ID\" .*peer=127.0.0.3 " "$C/r2/recv.log"
	wait_loaded 5 30
	until_true 30 drained
	run sql 3 "SELECT node FROM octo_loaded_file WHERE item LIKE '%.$ID'"
	assert_output r2
	# Both up again: the next file goes to the primary only.
	octonode_recv "$C" r1 127.0.0.1
	p1=$(octonode_port "$C" r1)
	agent_conf on_error "$p1" "$p2"
	rm -f "$W/agent/tmp/$ID"
	agent_files "$W/af2" 601 1
	ID=238cd44ae5e05cc2dd832a79a3f5ddab.17958165320601.data
	cp "$W/af2/$ID" "$W/agent/tmp/"
	run agent
	assert_success
	assert_output "send server=127.0.0.1:$p1 file=$ID rc=0"
	wait_loaded 6 30
	[ "$(nloaded)" -eq 6 ]
	clean_logs
}

@test "agent secondary_mode always (the unix agent's keys): both nodes get the file, loaded once; a node down: buffered for it, sent when it returns" {
	agent_up always
	run agent
	assert_success
	assert_line "send server=127.0.0.1:$p1 file=$ID rc=0"
	assert_line "send server=127.0.0.1:$p2 file=$ID rc=0"
	grep -q "event=file.stored .*name=\"$ID\" " "$C/r1/recv.log"
	grep -q "event=file.stored .*name=\"$ID\" " "$C/r2/recv.log"
	wait_loaded 5 30
	until_true 30 drained
	sleep 0.5
	[ "$(nloaded)" -eq 5 ]
	run sql 2 "SELECT COUNT(*) FROM octo_loaded_file WHERE item LIKE '%.$ID'"
	assert_output 1
	# The secondary down: the agent keeps a copy for it (temporal/
	# secondary) and counts the file as sent; it goes out on the next
	# run once the secondary is back, and is not loaded again.
	octonode_kill "$C" r2 TERM recv
	agent_files "$W/af2" 601 1
	ID=238cd44ae5e05cc2dd832a79a3f5ddab.17958165320601.data
	cp "$W/af2/$ID" "$W/agent/tmp/"
	run agent
	assert_success
	assert_line "send server=127.0.0.1:$p1 file=$ID rc=0"
	assert_line --regexp "^send server=127\.0\.0\.1:$p2 file=$ID rc=[1-9][0-9]*$"
	[ -f "$W/agent/tmp/secondary/$ID" ]
	octonode_recv "$C" r2 127.0.0.1
	p2=$(octonode_port "$C" r2)
	id2=$ID
	agent_conf always "$p1" "$p2"
	ID=$id2
	rm -f "$W/agent/tmp/"*.data
	run agent
	assert_success
	assert_output "send server=127.0.0.1:$p2 file=$ID rc=0"
	[ ! -e "$W/agent/tmp/secondary/$ID" ]
	wait_loaded 6 30
	until_true 30 drained
	sleep 0.5
	[ "$(nloaded)" -eq 6 ]
	clean_logs
}

# cdnode NAME GALERA_NODE OTHER...: an octospool node's conf-dist in
# "cluster db" through Galera node GALERA_NODE, trusting the other nodes'
# keys; its own signing key ($W/NAME.keys).
cdnode() {
	local n=$1 g=$2 o keys=""
	shift 2
	mk_spool "$W/$n"
	mkdir -p "$W/$n.keys"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$W/$n.keys"
	for o in "$@"; do
		keys="$keys $W/$o.keys/sign.pub"
	done
	{
		echo "spool_dir $W/$n"
		echo "idle_exit 0"
		sed "s/^host 127.0.0.1$/host 127.0.0.1:${P[g]}/" "$GDIR/n1/octospool-db.conf"
		echo "[conf-dist]"
		echo "user $RUN_USER"
		echo "sign_key $W/$n.keys/sign.key"
		echo "sign_pubkey $W/$n.keys/sign.pub"
		echo "upload_producer $RUN_USER"
		echo "recv_pubkey none"
		echo "acl_groups Servers=root,$(id -gn)"
		echo "cluster db"
		echo "cluster_pubkeys$keys"
		echo "server_name $n"
		echo "db_user octo_conf_dist"
		echo "db_password_file $GDIR/n1/secrets/octo_conf_dist.pw"
	} > "$W/$n.cd.conf"
	"$BIN/conf-dist" -c "$W/$n.cd.conf" keygen > /dev/null
}

# agentconf FILE AGENT TAG: a small agent configuration.
agentconf() {
	printf 'server_ip 127.0.0.1\nagent_name %s\ngroup Servers\ninterval 300\nremote_config 1\n# %s\n' "$2" "$3" > "$1"
	chmod 0644 "$1"
}

@test "remote configuration through Galera: published on one node through one Galera node, served by the others through others; two nodes publishing for one agent at once end with the same newest version everywhere" {
	cdnode A 1 B C
	cdnode B 2 A C
	cdnode C 3 A B
	K=$(printf %s web01 | md5sum | cut -c1-32)
	agentconf "$W/v0.conf" web01 v0
	run "$BIN/conf-dist" -c "$W/A.cd.conf" submit web01 "$W/v0.conf"
	assert_success
	for n in B C; do
		run "$BIN/conf-dist" -c "$W/$n.cd.conf" -d sync
		assert_success
		cmp "$W/v0.conf" "$W/$n/conf-dist/out/conf/$K.conf"
	done
	# A and B publish for web01 at the same moment, five times, through
	# different Galera nodes: the head rows serialise them (one waits,
	# or fails certification and runs again), none is lost.
	for i in 1 2 3 4 5; do
		agentconf "$W/a$i.conf" web01 "a$i"
		agentconf "$W/b$i.conf" web01 "b$i"
		"$BIN/conf-dist" -c "$W/A.cd.conf" -d submit web01 "$W/a$i.conf" > "$W/a$i.out" 2>&1 &
		pa=$!
		"$BIN/conf-dist" -c "$W/B.cd.conf" -d submit web01 "$W/b$i.conf" > "$W/b$i.out" 2>&1 &
		pb=$!
		wait "$pa" || { cat "$W/a$i.out"; false; }
		wait "$pb" || { cat "$W/b$i.out"; false; }
	done
	cat "$W"/[ab]*.out | grep -c "event=cluster.retry" | sed 's/^/# certification conflicts or lock waits run again: /' >&3 || true
	for n in 1 2 3; do
		sql "$n" "SELECT COUNT(*), COUNT(DISTINCT serial) FROM octo_conf_file WHERE dir = 'conf' AND name = '$K.conf'"
	done | sort -u > "$W/counts"
	assert_equal "$(cat "$W/counts")" "$(printf '11\t11')"
	for n in A B C; do
		run "$BIN/conf-dist" -c "$W/$n.cd.conf" -d sync
		assert_success
	done
	# Every node serves the newest version the cluster holds, and its
	# md5 describes it.
	head=$(sql 2 "SELECT serial FROM octo_conf_head WHERE dir = 'conf' AND name = '$K.conf'")
	for n in A B C; do
		assert_equal "$(sed -n 's/^Serial: //p' "$W/$n/conf-dist/out/conf/$K.conf.sig")" "$head"
		cmp "$W/A/conf-dist/out/conf/$K.conf" "$W/$n/conf-dist/out/conf/$K.conf"
		assert_equal "$(cat "$W/$n/conf-dist/out/md5/$K.md5")" "$(md5sum < "$W/$n/conf-dist/out/conf/$K.conf" | cut -c1-32)"
		run "$BIN/conf-dist" -c "$W/$n.cd.conf" verify -a web01 "$W/$n/conf-dist/out/conf/$K.conf" "$W/$n/conf-dist/out/md5/$K.md5"
		assert_success
	done
}
