#!/bin/sh
# SPDX-License-Identifier: ISC
# A private MariaDB for tests and the demo (never the system one).
#
#   mariadb.sh start DIR    install into DIR the first time, then start;
#                           later starts reuse DIR (data, TLS, passwords)
#   mariadb.sh stop DIR     stop by PID: SIGTERM, wait, then SIGKILL
#   mariadb.sh status DIR   exit 0 if it runs
#   mariadb.sh sql DIR [ACCOUNT] [mariadb options] [-e SQL]
#                           the client: as ACCOUNT (octo_db_load, ...) over
#                           TCP with TLS, or as the administrator over the
#                           unix socket (unix_socket authentication)
#
# What DIR holds after a start (see doc/DATABASE.md):
#   data/  tmp/            the server's files
#   tls/                   ca.{crt,key}, server.{crt,key}, client.{crt,key}
#   secrets/<account>.pw   random passwords (0640), <account>.cnf client
#                          option files for "sql"
#   mysqld.sock            unix socket; the TCP port is on 127.0.0.1 only
#   mariadbd.pid           the server's PID (written by this script)
#   mariadbd.log           the server's error log
#   env                    shell-sourceable MYSQL_* variables
#   octospool-db.conf      [db] settings and one section per tool
#
# Environment: OCTO_DB_NAME (database, default pandora), OCTO_DB_PORT (fixed
# port instead of a free one), OCTO_DB_GROUP (group that may read secrets/
# and the client key, for tools that run as another user), OCTO_DB_OPTS
# (extra mariadbd options), OCTO_DB_SERVER_USER (the server's user when
# run as root, default mysql), OCTO_SQL_DIR (default etc/sql), OCTO_BIN
# (where tt-wire is, for a free port), OCTO_PANDORA_SCHEMA (a Pandora
# pandoradb.sql to create the tables from, instead of etc/sql's minimal
# ones; with OCTO_DB_OPTS="--sql-mode=" the server runs as Pandora's
# installer sets it up).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
sqldir=${OCTO_SQL_DIR:-$top/etc/sql}
bindir=${OCTO_BIN:-$top/bin}
dbname=${OCTO_DB_NAME:-pandora}
accounts="octo_admin octo_db_load octo_agent_auth octo_audit_export octo_db_purge octo_conf_dist octo_status"
case $dbname in
''|*[!A-Za-z0-9_]*) echo "mariadb.sh: OCTO_DB_NAME: letters, digits, _" >&2
	exit 64 ;;
esac

die() {
	echo "mariadb.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: mariadb.sh start|stop|status DIR" >&2
	echo "       mariadb.sh sql DIR [ACCOUNT] [mariadb args...]" >&2
	exit 64
}

find_prog() {
	for p in "$@"; do
		for d in /usr/sbin /usr/bin /sbin /bin /usr/local/sbin \
		    /usr/local/bin; do
			[ -x "$d/$p" ] && { echo "$d/$p"; return 0; }
		done
	done
	return 1
}

# now: seconds since the epoch with fractions, for timings.
now() {
	date +%s.%N
}

# setdir DIR: absolute, harmless path; the socket path must fit sun_path.
setdir() {
	case $1 in
	*[!A-Za-z0-9._/+-]*) die "$1: use a path of letters, digits and ._/+-" ;;
	/*) D=$1 ;;
	*) D=$(pwd)/$1 ;;
	esac
	D=${D%/}
	[ -n "$D" ] || die "not /"
	[ ${#D} -le 90 ] || die "$D: path too long for a unix socket"
	SOCK=$D/mysqld.sock
	PIDFILE=$D/mariadbd.pid
}

# alive PID: the process runs and is our server (not a reused PID).
alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	[ -r "/proc/$1/cmdline" ] || return 0
	tr '\0' '\n' < "/proc/$1/cmdline" | grep -qx -- "--datadir=$D/data"
}

readpid() {
	pid=
	[ -f "$PIDFILE" ] && pid=$(cat "$PIDFILE" 2>/dev/null || true)
	case $pid in *[!0-9]*) pid= ;; esac
}

# admin ARGS...: the client as the administrator over the socket.
admin() {
	"$client" --no-defaults --socket="$SOCK" --user="$adminuser" \
	    --default-character-set=utf8mb4 "$@"
}

# freeport: a TCP port free on 127.0.0.1 right now.
freeport() {
	if [ -x "$bindir/tt-wire" ] && p=$("$bindir/tt-wire" --freeport \
	    -a 127.0.0.1 2>/dev/null); then
		echo "$p"
		return
	fi
	# No tt-wire: random ports until one is not listening.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom) % 30000 + 20000 ))
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

mkcert() { # name subject ext
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1.key" 2>/dev/null
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	printf '%s\n' "$3" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
	    -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1.crt" \
	    2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

# mktls: CA, server certificate for 127.0.0.1/localhost, client certificate.
mktls() {
	mkdir -p "$D/tls"
	(
		cd "$D/tls"
		umask 077
		openssl genpkey -algorithm EC -pkeyopt \
		    ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
		openssl req -x509 -new -key ca.key -days 3650 \
		    -subj "/CN=octospool private MariaDB CA $(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign \
		    -out ca.crt 2>/dev/null
		mkcert server localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
		mkcert client octospool-db-client "extendedKeyUsage=clientAuth"
		rm -f ca.srl
		chmod 0644 ca.crt server.crt client.crt
		chmod 0600 ca.key server.key
		chmod 0640 client.key
	) || die "openssl failed"
	chmod 0755 "$D/tls"
	if [ -n "$srvgroup" ]; then
		chown "$srvuser" "$D/tls/server.key"
	fi
	if [ -n "${OCTO_DB_GROUP:-}" ]; then
		chgrp "$OCTO_DB_GROUP" "$D/tls/client.key"
	fi
}

# mksecrets: one random password per account (hex: safe in SQL quotes).
mksecrets() {
	mkdir -p "$D/secrets"
	chmod 0750 "$D/secrets"
	[ -n "${OCTO_DB_GROUP:-}" ] && chgrp "$OCTO_DB_GROUP" "$D/secrets"
	for a in $accounts; do
		(umask 037; openssl rand -hex 24 > "$D/secrets/$a.pw")
		chmod 0640 "$D/secrets/$a.pw"
		[ -n "${OCTO_DB_GROUP:-}" ] && chgrp "$OCTO_DB_GROUP" \
		    "$D/secrets/$a.pw"
	done
	return 0
}

# grants HOST REQUIRE: grants.sql.in, each role's block with its account
# and the password read by awk from its file (never on a command line),
# fed to the client on stdin.
grants() {
	awk -v db="$dbname" -v host="$1" -v req="$2" -v dir="$D/secrets" '
	function pw(name,   f, v) {
		f = dir "/" name ".pw"
		if ((getline v < f) <= 0) { print "no password in " f > "/dev/stderr"; exit 1 }
		close(f)
		return v
	}
	BEGIN {
		acct["admin"] = "octo_admin"
		acct["db-load"] = "octo_db_load"
		acct["agent-auth"] = "octo_agent_auth"
		acct["audit-export"] = "octo_audit_export"
		acct["db-purge"] = "octo_db_purge"
		acct["conf-dist"] = "octo_conf_dist"
		acct["status"] = "octo_status"
	}
	/^-- role: / { role = $3; next }
	/^--/ { next }
	role != "" {
		u = acct[role]
		gsub(/@DB@/, db); gsub(/@HOST@/, host); gsub(/@REQUIRE@/, req)
		gsub(/@USER@/, u); gsub(/@PW@/, pw(u))
		print
	}' "$sqldir/grants.sql.in" | admin "$dbname"
}

# mkschema: database, Pandora tables (octospool's minimal ones, or
# OCTO_PANDORA_SCHEMA: a Pandora pandoradb.sql), octo_* tables, accounts.
mkschema() {
	admin -e "CREATE DATABASE IF NOT EXISTS \`$dbname\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
	if [ -n "${OCTO_PANDORA_SCHEMA:-}" ]; then
		# As Pandora's installer runs it: sql_mode "" (zero dates).
		{ echo "SET SESSION sql_mode = '';"; cat "$OCTO_PANDORA_SCHEMA"; } |
		    admin "$dbname"
	else
		admin "$dbname" < "$sqldir/pandora-min.sql"
	fi
	admin "$dbname" < "$sqldir/octo.sql"
	grants 127.0.0.1 SSL
	grants localhost NONE
}

# writeconf: env, octospool-db.conf and the client option files.
writeconf() {
	cat > "$D/env.tmp" <<EOF
# Generated by tools/mariadb.sh; source it: . $D/env
MYSQL_HOST='127.0.0.1'
MYSQL_PORT='$port'
MYSQL_SOCKET='$SOCK'
MYSQL_DATABASE='$dbname'
MYSQL_CA='$D/tls/ca.crt'
MYSQL_CLIENT_CERT='$D/tls/client.crt'
MYSQL_CLIENT_KEY='$D/tls/client.key'
MYSQL_PID='$pid'
MYSQL_ADMIN_USER='$adminuser'
MYSQL_SECRETS='$D/secrets'
OCTO_DB_DIR='$D'
OCTO_DB_CONF='$D/octospool-db.conf'
EOF
	mv "$D/env.tmp" "$D/env"
	{
		cat <<EOF
# Generated by tools/mariadb.sh for the private MariaDB in $D.
# [db] is shared by every tool; a tool's section overrides any key with
# db_<key>.  See doc/DATABASE.md.
[db]
host 127.0.0.1
port $port
socket $SOCK
protocol tcp
name $dbname
ssl_ca $D/tls/ca.crt
ssl_cert $D/tls/client.crt
ssl_key $D/tls/client.key
connect_timeout 5
read_timeout 30
write_timeout 30
lock_wait_timeout 10
retry_time 30

[db-load]
db_user octo_db_load
db_password_file $D/secrets/octo_db_load.pw

[agent-auth]
db_user octo_agent_auth
db_password_file $D/secrets/octo_agent_auth.pw

[audit-export]
db_user octo_audit_export
db_password_file $D/secrets/octo_audit_export.pw

[db-purge]
db_user octo_db_purge
db_password_file $D/secrets/octo_db_purge.pw

# The administrator account for "db-load --init".
[db-admin]
db_user octo_admin
db_password_file $D/secrets/octo_admin.pw
EOF
	} > "$D/octospool-db.conf.tmp"
	chmod 0644 "$D/octospool-db.conf.tmp"
	mv "$D/octospool-db.conf.tmp" "$D/octospool-db.conf"
	for a in $accounts; do
		(
			umask 077
			{
				echo "[client]"
				echo "user=$a"
				printf 'password='
				cat "$D/secrets/$a.pw"
				echo "host=127.0.0.1"
				echo "port=$port"
				echo "protocol=tcp"
				echo "ssl-ca=$D/tls/ca.crt"
				echo "ssl-verify-server-cert"
				echo "database=$dbname"
				echo "default-character-set=utf8mb4"
			} > "$D/secrets/$a.cnf"
		)
	done
}

# launch: start mariadbd on $port in the background; sets pid.
launch() {
	# shellcheck disable=SC2086
	"$mariadbd" --no-defaults --user="$srvuser" \
	    --datadir="$D/data" --tmpdir="$D/tmp" \
	    --socket="$SOCK" --port="$port" --bind-address=127.0.0.1 \
	    --skip-name-resolve --pid-file="$D/data/mariadbd.pid" \
	    --log-error="$D/mariadbd.log" \
	    --ssl-ca="$D/tls/ca.crt" --ssl-cert="$D/tls/server.crt" \
	    --ssl-key="$D/tls/server.key" --require-secure-transport=ON \
	    --tls-version=TLSv1.2,TLSv1.3 \
	    --character-set-server=utf8mb4 \
	    --collation-server=utf8mb4_general_ci \
	    --local-infile=0 --secure-file-priv="$D/tmp" \
	    --max-connections=200 \
	    --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
	    --innodb-buffer-pool-dump-at-shutdown=OFF \
	    --innodb-buffer-pool-load-at-startup=OFF \
	    ${OCTO_DB_OPTS:-} \
	    </dev/null >>"$D/mariadbd.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- \
	    8>&- 9>&- &
	pid=$!
	echo "$pid" > "$PIDFILE"
}

# waitready: 0 ready, 1 died, 2 died on a busy port; bounded by 30 s.
waitready() {
	end=$(( $(date +%s) + 30 ))
	while [ "$(date +%s)" -le "$end" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			rm -f "$PIDFILE"
			if tail -n 20 "$D/mariadbd.log" | grep -q \
			    -e 'Address already in use' -e 'Bind on TCP/IP port'
			then
				return 2
			fi
			return 1
		fi
		if "$admintool" --no-defaults --socket="$SOCK" \
		    --user="$adminuser" --connect-timeout=1 ping \
		    >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	stop_server
	die "mariadbd not ready after 30 s; see $D/mariadbd.log"
}

stop_server() {
	readpid
	if [ -z "$pid" ]; then
		return 0
	fi
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while alive "$pid" && [ $i -lt 300 ]; do	# 30 s
			sleep 0.1
			i=$((i + 1))
		done
		if alive "$pid"; then
			echo "mariadb.sh: pid $pid ignored SIGTERM; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
				sleep 0.1
				i=$((i + 1))
			done
		fi
	fi
	rm -f "$PIDFILE"
	kill -0 "$pid" 2>/dev/null && alive "$pid" &&
	    die "pid $pid still runs"
	return 0
}

cmd_start() {
	t0=$(now)
	readpid
	if [ -n "$pid" ] && alive "$pid"; then
		die "already running (pid $pid)"
	fi
	mariadbd=$(find_prog mariadbd mysqld) || die "mariadbd not found"
	installdb=$(find_prog mariadb-install-db mysql_install_db) ||
	    die "mariadb-install-db not found"
	command -v openssl >/dev/null || die "openssl not found"
	# Only a new, empty or earlier mariadb.sh directory: start changes
	# the directory's group and mode.
	if [ -d "$D" ] && [ ! -f "$D/.octospool-mariadb" ] &&
	    [ -n "$(ls -A "$D")" ]; then
		die "$D is not empty and was not made by mariadb.sh"
	fi
	mkdir -p "$D"
	: > "$D/.octospool-mariadb"
	srvgroup=
	if [ "$(id -u)" -eq 0 ]; then
		srvuser=${OCTO_DB_SERVER_USER:-mysql}
		id "$srvuser" >/dev/null 2>&1 || die "no user $srvuser"
		srvgroup=$(id -gn "$srvuser")
		# The server creates its socket here; others may traverse.
		chgrp "$srvgroup" "$D"
		chmod 0775 "$D"
	else
		srvuser=$(id -un)
		chmod 0755 "$D"
	fi
	mkdir -p "$D/tmp"
	[ -n "$srvgroup" ] && chown "$srvuser" "$D/tmp"
	chmod 0700 "$D/tmp"
	fresh=0
	if [ ! -d "$D/data/mysql" ]; then
		fresh=1
		rm -rf "$D/data"
		[ -f "$D/tls/server.key" ] || mktls
		[ -f "$D/secrets/octo_db_load.pw" ] || mksecrets
		# unix_socket: the OS user running this is the administrator.
		# Its own tmpdir: the bootstrap server's temporary tables
		# in a shared /tmp can be removed by another server starting.
		"$installdb" --no-defaults --datadir="$D/data" \
		    --tmpdir="$D/tmp" \
		    --user="$srvuser" --auth-root-authentication-method=socket \
		    --skip-test-db --skip-name-resolve \
		    --innodb-log-file-size=48M \
		    >"$D/install.log" 2>&1 ||
		    { cat "$D/install.log" >&2; die "mariadb-install-db failed"; }
	fi
	port=
	if [ -n "${OCTO_DB_PORT:-}" ]; then
		port=$OCTO_DB_PORT
	elif [ -f "$D/env" ]; then
		port=$(sed -n "s/^MYSQL_PORT='\([0-9]*\)'$/\1/p" "$D/env")
	fi
	[ -n "$port" ] || port=$(freeport)
	tries=0
	while :; do
		launch
		rc=0
		waitready || rc=$?
		[ $rc -eq 0 ] && break
		tries=$((tries + 1))
		if [ $rc -eq 2 ] && [ -z "${OCTO_DB_PORT:-}" ] && [ $tries -lt 5 ]
		then
			port=$(freeport)	# someone took it: another one
			continue
		fi
		tail -n 20 "$D/mariadbd.log" >&2
		die "mariadbd did not start; see $D/mariadbd.log"
	done
	if [ $fresh -eq 1 ]; then
		mkschema || { stop_server; die "loading the schema failed"; }
	fi
	writeconf
	t1=$(now)
	echo "mariadb.sh: ready pid=$pid port=$port socket=$SOCK" \
	    "($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s)"
}

# Derived names for the commands that need them.
client=$(find_prog mariadb mysql || echo mariadb)
admintool=$(find_prog mariadb-admin mysqladmin || echo mariadb-admin)
adminuser=$(id -un)

[ $# -ge 2 ] || usage
cmd=$1
setdir "$2"
shift 2
case $cmd in
start)
	[ $# -eq 0 ] || usage
	cmd_start
	;;
stop)
	[ $# -eq 0 ] || usage
	stop_server
	;;
status)
	readpid
	[ -n "$pid" ] && alive "$pid"
	;;
sql)
	if [ $# -ge 1 ] && [ -f "$D/secrets/$1.cnf" ]; then
		a=$1
		shift
		exec "$client" --defaults-file="$D/secrets/$a.cnf" "$@"
	fi
	case ${1:-} in
	octo_*) die "no account $1 in $D/secrets" ;;
	esac
	exec "$client" --no-defaults --socket="$SOCK" --user="$adminuser" \
	    --default-character-set=utf8mb4 --database="$dbname" "$@"
	;;
*)
	usage
	;;
esac
