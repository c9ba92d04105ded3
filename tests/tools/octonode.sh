# SPDX-License-Identifier: ISC
# octonode.sh: receiver nodes and HAProxy for tests/cluster.bats and
# bench/cluster.sh, each node the whole pipeline on its own local spool
# (doc/SCALING.md): tentacle-recv (TLS, client certificates required,
# PROXY protocol from the balancer only) and the lingering drains
# xml-validate, agent-auth, db-load and audit-sign, every one started by
# PID and stopped by PID.  Sourced (bash); the caller sets:
#   BIN        the binaries
#   RUN_USER   the service user (nobody as root), RUN_GROUP its group
#   PKI        tools/mkcerts.sh output (server.*, ca.crt)
#   KEYS       the stamp keys (tentacle-recv.*, agent-auth.*; mk_keys)
#   OCTO_TOP   the source tree (tools/mkspool.sh)
#
# A node's files are in DIR/NAME/: spool/, NAME.conf, logs, pids, port.
# The drains run under a small supervisor (a loop that starts the drain
# again when it exits, as the .path unit and Restart= do when deployed):
# a drain lingers idle_exit seconds for more items, exits 75 when the
# database is away, and is started again.

# octonode_conf DIR NAME DBCONF HOSTS: the node's configuration; the
# database sections of DBCONF (tools/mariadb.sh's octospool-db.conf) with
# db host HOSTS (a server list).
octonode_conf() {
	local d=$1/$2
	mkdir -p "$d/audit/log" "$d/audit/keys"
	sh "$OCTO_TOP/tools/mkspool.sh" "$d/spool" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$RUN_USER:$RUN_GROUP" "$d/spool" "$d/audit"
	fi
	{
		echo "spool_dir $d/spool"
		echo "idle_exit ${OCTONODE_IDLE:-3}"
		echo "poll_interval 200"
		sed -e "s/^host 127.0.0.1$/host $4/" \
		    -e 's/^retry_time [0-9]*$/retry_time 2/' "$3"
		printf '[xml-validate]\nuser %s\nproducer %s\nbatch 64\n' \
		    "$RUN_USER" "$RUN_USER"
		printf '[agent-auth]\nuser %s\nproducer %s\nrecv_pubkey %s\nstamp_key %s\nbatch 64\n' \
		    "$RUN_USER" "$RUN_USER" "$KEYS/tentacle-recv.pub" \
		    "$KEYS/agent-auth.key"
		printf '[db-load]\nuser %s\nproducer %s\nauth_pubkey %s\nbatch 64\nserver_name %s\n' \
		    "$RUN_USER" "$RUN_USER" "$KEYS/agent-auth.pub" "$2"
		printf '[audit-sign]\nuser %s\nlog_dir %s\nkey_dir %s\nepoch 60\nproducers %s root\n' \
		    "$RUN_USER" "$d/audit/log" "$d/audit/keys" "$RUN_USER"
	} > "$d/$2.conf"
	grep -q "^host $4$" "$d/$2.conf" || return 1
	# The node's own audit key (each node keeps its own signed log).
	"$BIN/audit-sign" -c "$d/$2.conf" --keygen "$2.octo.test" \
	    > "$d/audit.vkey" 2>> "$d/audit-sign.log"
}

# octonode_recv DIR NAME PROXY_FROM: start the node's tentacle-recv on a
# free port (DIR/NAME/port), PID in DIR/NAME/recv.pid.
octonode_recv() {
	local d=$1/$2 user=() pid
	[ "$(id -u)" -eq 0 ] && user=(--user "$RUN_USER")
	rm -f "$d/port"
	"$BIN/tentacle-recv" -a 127.0.0.1 -p 0 --port-file "$d/port" \
	    "${user[@]}" --stamp-key "$KEYS/tentacle-recv.key" \
	    --spool "$d/spool" -e "$PKI/server.crt" -k "$PKI/server.key" \
	    -f "$PKI/ca.crt" --client-cert require --proxy-from "$3" \
	    --max-per-source 64 -v 2>> "$d/recv.log" 3>&- &
	pid=$!
	echo "$pid" > "$d/recv.pid"
	for _ in $(seq 1 200); do
		[ -s "$d/port" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tail -5 "$d/recv.log" >&2
	return 1
}

# octonode_drains DIR NAME: the four drains, each under its supervisor.
octonode_drains() {
	local d=$1/$2 t
	rm -f "$d/stop"
	for t in xml-validate agent-auth db-load audit-sign; do
		(
			while [ ! -e "$d/stop" ]; do
				"$BIN/$t" -c "$d/$2.conf" -d 2>> "$d/$t.log" 3>&- &
				echo $! > "$d/$t.pid"
				wait $! || echo "exit=$? $(date +%s)" >> "$d/$t.exits"
				[ -e "$d/stop" ] || sleep 0.2
			done
		) 3>&- &
		echo $! > "$d/$t.sup"
	done
}

# octonode_start DIR NAME PROXY_FROM: the whole node.
octonode_start() {
	octonode_recv "$@" && octonode_drains "$1" "$2"
}

# octonode_port DIR NAME: the port its tentacle-recv listens on.
octonode_port() {
	cat "$1/$2/port"
}

# octonode_kill DIR NAME SIGNAL [WHAT...]: signal the node's processes
# (recv, the drains' supervisors then the drains), by PID; WHAT default
# all of them.  Waits until each is gone.
octonode_kill() {
	local d=$1/$2 sig=$3 w p
	shift 3
	[ $# -gt 0 ] || set -- recv xml-validate agent-auth db-load audit-sign
	for w in "$@"; do
		if [ "$w" != recv ] && [ -s "$d/$w.sup" ]; then
			p=$(cat "$d/$w.sup")
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
			rm -f "$d/$w.sup"
		fi
		[ -s "$d/$w.pid" ] || continue
		p=$(cat "$d/$w.pid")
		kill "-$sig" "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		rm -f "$d/$w.pid"
	done
}

# octonode_stop DIR NAME: stop the node cleanly (SIGTERM by PID; the
# supervisors end with their drain).
octonode_stop() {
	local d=$1/$2 t p
	[ -d "$d" ] || return 0
	: > "$d/stop"
	for t in recv xml-validate agent-auth db-load audit-sign; do
		if [ -s "$d/$t.pid" ]; then
			kill "$(cat "$d/$t.pid")" 2>/dev/null || true
		fi
	done
	for t in xml-validate agent-auth db-load audit-sign; do
		if [ -s "$d/$t.sup" ]; then
			p=$(cat "$d/$t.sup")
			# A drain started just before the stop file: its pid.
			for _ in $(seq 1 100); do
				kill -0 "$p" 2>/dev/null || break
				if [ -s "$d/$t.pid" ]; then
					kill "$(cat "$d/$t.pid")" 2>/dev/null || true
				fi
				sleep 0.05
			done
			wait "$p" 2>/dev/null || true
			rm -f "$d/$t.sup"
		fi
	done
	if [ -s "$d/recv.pid" ]; then
		wait "$(cat "$d/recv.pid")" 2>/dev/null || true
		rm -f "$d/recv.pid"
	fi
	return 0
}

# octonode_queued DIR NAME: items still in the node's queues.
octonode_queued() {
	find "$1/$2/spool"/{xml-validate,agent-auth,db-load}/{new,cur} \
	    -type f 2>/dev/null | wc -l
}

# octonode_rejected DIR NAME: items the node quarantined.
octonode_rejected() {
	find "$1/$2/spool"/{xml-validate,agent-auth,db-load,audit-sign}/reject \
	    -type f ! -name '*.reason' 2>/dev/null | wc -l
}

# agent_files DIR FIRST COUNT: COUNT rounds of the four real files of
# the Servers group (tests/data/samples), round r with every timestamp
# moved to its own 10 minutes within the last days (inside xml-validate's
# window) and its own file name, as the agents would send them; the
# list in DIR.list.
agent_files() {
	local d=$1 r f b e day hm
	mkdir -p "$d"
	for ((r = $2; r < $2 + $3; r++)); do
		day=$(date -u -d "-$((1 + r / 144)) day" +%Y/%m/%d)
		hm=$(printf '%02d:%d' $(((r % 144) / 6)) $((r % 6)))
		for f in "$OCTO_TOP"/tests/data/samples/*.data; do
			b=$(basename "$f")
			grep -q "group='Servers'" "$f" || continue
			e=${b#*.}
			sed "s#2026/11/27 21:5#$day $hm#g" "$f" \
			    > "$d/${b%%.*}.${e%.data}$(printf '%04d' "$r").data"
		done
	done
	find "$d" -name '*.data' | sort > "$d.list"
}

# sender LIST OK PORT [BIND]: tentacle-send over TLS with the client
# certificate, one connection per file, as an agent: a file that fails
# is sent again (up to 100 times); the names it reported sent go to OK,
# its errors to OK.err, the retries to OK.retry, the files given up on
# to OK.failed.
sender() {
	local f i
	while read -r f; do
		for i in $(seq 1 100); do
			if "$BIN/tentacle-send" --bind "${4:-127.0.0.2}" -a 127.0.0.1 \
			    -p "$3" -e "$PKI/client.crt" -k "$PKI/client.key" \
			    -f "$PKI/ca.crt" -r 1 -t 2 "$f" 2>> "$2.err"; then
				basename "$f" >> "$2"
				continue 2
			fi
			echo "$(basename "$f") try=$i" >> "$2.retry"
			sleep 0.2
		done
		echo "$f" >> "$2.failed"
	done < "$1"
}

# haproxy_start DIR PORT NODEPORT...: HAProxy in TCP mode on 127.0.0.1:PORT
# with health checks every 200 ms and send-proxy-v2 to each node
# (DIR/haproxy.cfg, PID in DIR/haproxy.pid).
haproxy_start() {
	local dir=$1 port=$2 i=0 p
	shift 2
	{
		cat <<EOT
global
	maxconn 500
defaults
	mode tcp
	retries 3
	option redispatch
	timeout connect 1s
	timeout client 10s
	timeout server 10s
	timeout check 1s
frontend tentacle
	bind 127.0.0.1:$port
	default_backend receivers
backend receivers
	balance roundrobin
EOT
		for p in "$@"; do
			i=$((i + 1))
			printf '\tserver r%d 127.0.0.1:%s send-proxy-v2 check inter 200ms fall 1 rise 2\n' "$i" "$p"
		done
	} > "$dir/haproxy.cfg"
	haproxy -c -q -f "$dir/haproxy.cfg" || return 1
	haproxy -db -f "$dir/haproxy.cfg" >> "$dir/haproxy.log" 2>&1 3>&- &
	echo $! > "$dir/haproxy.pid"
	for _ in $(seq 1 100); do
		ss -Htln "sport = :$port" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# haproxy_stop DIR: by PID.
haproxy_stop() {
	local p
	[ -s "$1/haproxy.pid" ] || return 0
	p=$(cat "$1/haproxy.pid")
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	rm -f "$1/haproxy.pid"
}
