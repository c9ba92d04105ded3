# SPDX-License-Identifier: ISC
# Shared bats helpers: temp dirs, the test PKI, starting and stopping
# tentacle-recv on 127.0.0.1 with a random free port, stopped by PID.
BIN=${OCTO_BIN:-$BATS_TEST_DIRNAME/../bin}
TOOLS=$BATS_TEST_DIRNAME/../tools
DATA=$BATS_TEST_DIRNAME/data
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

# Root in CI: the server must drop to an unprivileged user.
if [ "$(id -u)" -eq 0 ]; then
	RUN_USER=nobody
	RUN_GROUP=nogroup
else
	RUN_USER=$(id -un)
	RUN_GROUP=$(id -gn)
fi

# mk_tmp: a fresh directory T that the service user can traverse.
mk_tmp() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/octo.XXXXXX")
	chmod 0755 "$T"
	: > "$T/empty.conf"
}

# mk_spool DIR: the spool tree, owned by the service user.
mk_spool() {
	sh "$TOOLS/mkspool.sh" "$1"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$RUN_USER:$RUN_GROUP" "$1"
	fi
}

# mk_certs DIR: the test PKI (cached per test file).
mk_certs() {
	sh "$TOOLS/mkcerts.sh" "$1" >/dev/null
	chmod 0755 "$1"
	if [ "$(id -u)" -eq 0 ]; then
		chgrp "$RUN_GROUP" "$1"/*.key
	fi
}

# mk_keys: the stamp keys of tentacle-recv and agent-auth (Ed25519 PEM,
# private 0600 for the service user), made once per test file; sets KEYS
# and RECV_STAMP (the tentacle-recv option that names its key).
mk_keys() {
	KEYS=${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/keys
	RECV_STAMP=(--stamp-key "$KEYS/tentacle-recv.key")
	mkdir -p "$KEYS"
	for k in tentacle-recv agent-auth; do
		[ -s "$KEYS/$k.pub" ] && continue
		(umask 077 && openssl genpkey -algorithm ED25519 \
		    -out "$KEYS/$k.key" 2>/dev/null) || return 1
		openssl pkey -in "$KEYS/$k.key" -pubout -out "$KEYS/$k.pub" \
		    2>/dev/null || return 1
		chmod 0644 "$KEYS/$k.pub"
		[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$KEYS/$k.key"
	done
	chmod 0755 "$KEYS"
	# bats makes its temporary directories 0700: let the service user
	# through to the public keys (as /etc/octospool/keys is 0755).
	local d=$KEYS
	while d=$(dirname "$d") && [ "$d" != / ] && [ "$d" != /tmp ]; do
		chmod o+x "$d"
	done
}

# keys_conf: the configuration lines that let the stages believe each
# other's stamps and take the test user's items (one user runs all).
keys_conf() {
	mk_keys
	printf '[xml-validate]\nproducer %s\n' "$RUN_USER"
	printf '[agent-auth]\nproducer %s\nrecv_pubkey %s\nstamp_key %s\n' \
	    "$RUN_USER" "$KEYS/tentacle-recv.pub" "$KEYS/agent-auth.key"
	printf '[db-load]\nproducer %s\nauth_pubkey %s\n' "$RUN_USER" \
	    "$KEYS/agent-auth.pub"
	printf '[conf-dist]\nupload_producer %s\nrecv_pubkey %s\n' \
	    "$RUN_USER" "$KEYS/tentacle-recv.pub"
}

# start_recv ARGS...: run tentacle-recv on a free port; sets PORT, RECV_PID.
start_recv() {
	rm -f "$T/port"
	local user=()
	[ "$(id -u)" -eq 0 ] && user=(--user "$RUN_USER")
	mk_keys
	# RECV_WRAP: a command to run it under (strace); RECV_PID is then
	# that command's.
	${RECV_WRAP[@]+"${RECV_WRAP[@]}"} "$BIN/tentacle-recv" -a 127.0.0.1 -p 0 --port-file "$T/port" \
	    "${user[@]}" "${RECV_STAMP[@]}" "$@" 2>>"$T/recv.log" 3>&- &
	RECV_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$T/port" ] && break
		if ! kill -0 "$RECV_PID" 2>/dev/null; then
			cat "$T/recv.log" >&2
			return 1
		fi
		sleep 0.05
	done
	PORT=$(cat "$T/port")
	[ -n "$PORT" ]
}

# stop_recv: SIGTERM by PID, wait, and fail on sanitizer reports.
stop_recv() {
	if [ -n "${RECV_PID:-}" ]; then
		kill "$RECV_PID" 2>/dev/null || true
		wait "$RECV_PID" 2>/dev/null || true
		RECV_PID=
	fi
	if [ -f "$T/recv.log" ] && grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/recv.log" >&2; then
		return 1
	fi
}

# segments_handed_on SPOOL: wait (up to 5 s) until no audit segment is left
# in SPOOL/audit-sign/tmp.  tentacle-recv and the drains make their
# events durable in their open segment (lib/auditseg) before they
# acknowledge or hand on what they describe, and rename it into
# audit-sign/new when it idles for 200 ms (at the latest at 500 ms, and
# at exit).
segments_handed_on() {
	local i
	for i in $(seq 1 100); do
		ls "$1"/audit-sign/tmp/*.seg >/dev/null 2>&1 || return 0
		sleep 0.05
	done
	echo "an audit segment is still in $1/audit-sign/tmp after 5 s" >&2
	return 1
}

# wire STEPS...: the raw client against the running server.
wire() {
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" "$@"
}

# count FILES...: how many of the globbed paths exist.
count() {
	local n=0
	for f in "$@"; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# body FILE: the item body after the envelope's blank line.
body() {
	sed '1,/^$/d' "$1"
}

# db_start_file TAG: the suite's private MariaDB (tools/mariadb.sh) in a
# new DBDIR, exported for the tests; its secrets readable by the service
# user (nobody when run as root).  For setup_file.
db_start_file() {
	DBDIR=$(mktemp -d "/tmp/octo-$1.XXXXXX")
	export DBDIR
	if ! OCTO_DB_GROUP=$RUN_GROUP sh "$TOOLS/mariadb.sh" start "$DBDIR" \
	    > "$BATS_FILE_TMPDIR/start.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/start.log" >&2
		sh "$TOOLS/mariadb.sh" stop "$DBDIR" || true
		return 1
	fi
}

# db_stop_file: stop it (by PID) and remove DBDIR.  For teardown_file.
db_stop_file() {
	if [ -n "${DBDIR:-}" ] && [ -d "$DBDIR" ]; then
		sh "$TOOLS/mariadb.sh" stop "$DBDIR" || true
		rm -rf "$DBDIR"
	fi
}

# db_locking: how many transactions of the private MariaDB hold row locks.
db_locking() {
	sh "$TOOLS/mariadb.sh" sql "$DBDIR" -N -B -e 'SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_locked > 0'
}

# db_hold_rows WHERE: another session of the private MariaDB (DBDIR)
# locks tagente's rows WHERE (FOR UPDATE) and keeps them until
# db_release_rows kills it: no race with a slow client start under load
# or ASan.  Returns once the server shows the lock.  DB_HOLDER: its PID.
db_hold_rows() {
	sh "$TOOLS/mariadb.sh" sql "$DBDIR" -e "START TRANSACTION; SELECT id_agente FROM tagente WHERE $1 FOR UPDATE; SELECT SLEEP(60) AS octo_hold; ROLLBACK" \
	    >/dev/null 2>&1 3>&- &
	DB_HOLDER=$!
	for _ in $(seq 1 200); do
		[ "$(db_locking)" -ge 1 ] && return 0
		sleep 0.05
	done
	echo "db_hold_rows: no lock after 10 s" >&2
	return 1
}

# db_release_rows: end db_hold_rows's session on the server (its locks
# go with it) and reap its client.
db_release_rows() {
	local id
	id=$(sh "$TOOLS/mariadb.sh" sql "$DBDIR" -N -B -e "SELECT id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(60) AS octo_hold%' LIMIT 1")
	[ -z "$id" ] || sh "$TOOLS/mariadb.sh" sql "$DBDIR" -e "KILL $id" >/dev/null 2>&1 || true
	wait "$DB_HOLDER" || true
}

# pause_file DIR: a PIPELINE_PAUSE_FILE path in DIR, a directory the
# drain's user (RUN_USER) may create it in.
pause_file() {
	mkdir -p "$1"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$1"
	echo "$1/pause"
}

# wait_pause FILE PID: until the drain PID stops at its pause point (it
# creates FILE), at most 20 s; 1 if it exited or did not stop.
wait_pause() {
	for _ in $(seq 1 2000); do
		[ -e "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

# feed SRC QUEUE N: the next N names of the array "files" (from index k)
# moved from SRC into QUEUE/new; k moves on.
feed() {
	local f
	for f in "${files[@]:k:$3}"; do
		mv "$1/$f" "$2/new/$f"
	done
	k=$((k + $3))
}

# wait_gone PID: until process PID has exited (a zombie counts), at most
# 5 s; 1 if it still runs.
wait_gone() {
	for _ in $(seq 1 100); do
		! kill -0 "$1" 2>/dev/null && return 0
		[ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ] && return 0
		sleep 0.05
	done
	return 1
}

# arrive FILE NAME: FILE into the queue as NAME for a running drain,
# written and owned before it appears.
arrive() {
	cp "$1" "$Q/tmp/$2"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$Q/tmp/$2"
	mv "$Q/tmp/$2" "$Q/new/$2"
}
