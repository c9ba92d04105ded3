#!/bin/bash
# SPDX-License-Identifier: ISC
# make bench-e2e: the whole pipeline as deployed, against the ceiling
# computed from raw rates measured in the same command.
#
# octospool is installed as an administrator installs it (make install,
# octospool-setup) into a private mount namespace, as tests/deploy.bats
# does (its set-up is copied here, not shared: that file stays as it is).
# Every stage runs as its unit declares (tt-unitrun reads the installed
# unit files); the path units are emulated by `e2e units`
# (bench/e2e.c): it starts a stage's unit whenever the stage's queue
# new/ is not empty and the stage does not run (DirectoryNotEmpty=), and
# accounts the CPU and memory of every process it started.  The private
# MariaDB runs on the host side, on 127.0.0.1, as in deploy.bats.
#
# Agents: E2E_AGENTS agents in E2E_GROUPS groups, each group with its
# password (agent-auth passwd), self-creation on and client certificates
# required (certreq: the certificate's CN must be the agent's name); one
# certificate per agent.  Files from tools/gen-agents.sh (E2E_MODULES
# modules).  E2E_CLIENTS client processes, each running tentacle-send
# once per file (one TLS connection per file, as agents do); an agent's
# files all go through one client, in order.
#
# Phases, in this order:
#   alone      tentacle-recv alone as its unit starts it, the raw TLS
#              phase's clients and files (its items removed after)
#   raw        the raw rates (bench/raw.c, e2e tlsraw, bench/db-raw.c)
#   warm-up    one file per agent (the agents and modules are created)
#   saturated  E2E_FILES files, the clients sending back to back
#   raw again  the TLS exchange (e2e tlsraw) once more: the ceiling
#              takes it with the first, before and after
#   paced      E2E_RATE files/s for E2E_PACED_SECS seconds
# Then every item is checked (each file loaded once, no duplicate rows,
# no reject) and the summary goes to bench/.build/e2e-summary.md and
# standard output.  Exit 1 on loss, duplicate or failure.
#
# Root only.  Environment (defaults: 3-4 minutes on 2 vCPUs):
#   E2E_AGENTS (200), E2E_GROUPS (10), E2E_MODULES (25),
#   E2E_FILES (8000), E2E_CLIENTS (8), E2E_RATE (10),
#   E2E_PACED_SECS (60), E2E_RAW_FILES (1000, raw TLS exchange),
#   E2E_RAW_BATCH (32, raw hand-off batch), E2E_RAW_DISK (2000 items
#   per raw disk test), E2E_RAW_DB (5000 files for the raw INSERTs),
#   E2E_TMPDIR (/tmp),
#   E2E_KEEP=1 (keep the work directory).
# The per-item data stay in bench/.build/e2e-run/ (send logs, trace,
# snapshots, the stages' logs).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
BIN=$TOP/bin
OUT=$TOP/bench/.build
R=$OUT/e2e-run
AGENTS=${E2E_AGENTS:-200}
GROUPS_N=${E2E_GROUPS:-10}
MODULES=${E2E_MODULES:-25}
FILES=${E2E_FILES:-8000}
CLIENTS=${E2E_CLIENTS:-8}
RATE=${E2E_RATE:-10}
PACED_SECS=${E2E_PACED_SECS:-60}
RAW_FILES=${E2E_RAW_FILES:-1000}
RAW_BATCH=${E2E_RAW_BATCH:-32}
RAW_DISK=${E2E_RAW_DISK:-2000}
RAW_DB=${E2E_RAW_DB:-5000}
TMPBASE=${E2E_TMPDIR:-/tmp}
PACED=$((RATE * PACED_SECS))
TOTAL=$((AGENTS + FILES + PACED))
MDB=$TOP/tools/mariadb.sh
UNITS=/usr/local/lib/systemd/system
CONF=/etc/octospool/octospool.conf
export TZ=UTC

log() {
	printf 'e2e: %s\n' "$*" >&2
}
die() {
	log "$*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "installs users and runs units: root only"
for c in systemd-sysusers systemd-tmpfiles nsenter unshare gawk ss \
    mariadbd openssl perl; do
	command -v "$c" >/dev/null || die "$c is missing"
done
[ "$((AGENTS % CLIENTS))" -eq 0 ] ||
    die "E2E_AGENTS ($AGENTS) must be a multiple of E2E_CLIENTS ($CLIENTS)"
sh bench/build.sh raw e2e db-raw
E2E=$OUT/e2e

DW=$(mktemp -d "$TMPBASE/octo-e2e.XXXXXX")
chmod 0755 "$DW"
rm -rf "$R"
mkdir -p "$R/logs"
UNITS_PID=
RAW_PID=
SEND_PID=
cleanup() {
	local rc=$?
	for p in $SEND_PID $RAW_PID $UNITS_PID; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -d "$DW/db" ] && sh "$MDB" stop "$DW/db" >/dev/null 2>&1 || true
	umount "$DW/ns/mnt" 2>/dev/null || true
	umount "$DW/ns" 2>/dev/null || true
	if [ -n "${E2E_KEEP:-}" ]; then
		log "work directory kept: $DW"
	else
		rm -rf "$DW"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ns CMD...: run in the deployment's mount namespace.
ns() {
	nsenter --mount="$DW/ns/mnt" -- "$@"
}
sql() {
	sh "$MDB" sql "$DW/db" -N -B -e "$1" pandora
}
# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
TCK=$(getconf CLK_TCK)
# child_cpu: user + system seconds of this shell's finished children, in
# CCPU (as bench/lib.sh; call it in this shell, not in $(...)).
child_cpu() {
	times > "$DW/times"
	CCPU=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m");
	    printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$DW/times")
}
START=$(date +%s)

# ---- The deployment (as tests/deploy.bats's setup_file) -------------
log "work dir $DW; installing into a private mount namespace"
mkdir -p "$DW/ns"
mount -t tmpfs -o size=1m,mode=0700 octo-e2e-ns "$DW/ns"
mount --make-private "$DW/ns"
touch "$DW/ns/mnt"
unshare --mount="$DW/ns/mnt" --propagation private true
cp -a /etc "$DW/etc"
mkdir -p "$DW/usr-local" "$DW/var-spool" "$DW/var-lib"
ns mount --bind "$DW/etc" /etc
# /run too: systemd-tmpfiles makes agent-auth's key directory there.
mkdir -p "$DW/run"
ns mount --bind "$DW/run" /run
ns mount --bind "$DW/usr-local" /usr/local
ns mount --bind "$DW/var-spool" /var/spool
ns mount --bind "$DW/var-lib" /var/lib
# Only /usr/local is private here: every install path is named on the
# command line, which beats the environment (perf(1), for one, exports
# PREFIX=/usr to what it runs) and a parent make's MAKEFLAGS.
ns make -s -C "$TOP" install PREFIX=/usr/local SBINDIR=/usr/local/sbin \
    BINDIR=/usr/local/bin MANDIR=/usr/local/share/man SYSCONFDIR=/etc \
    DESTDIR= CONFFILE=no > "$R/logs/install.log" 2>&1
ns /usr/local/sbin/octospool-setup > "$R/logs/setup.log" 2>&1
SPOOL=$DW/var-spool/octospool

log "starting a private MariaDB"
sh "$MDB" start "$DW/db" > "$R/logs/db.log" 2>&1
# shellcheck disable=SC1091
. "$DW/db/env"

log "PKI: the server, the agents' CA, $AGENTS agent certificates"
sh tools/mkcerts.sh "$DW/pki" > /dev/null
mkdir -p "$DW/pki/agents"
for a in $(seq 0 $((AGENTS - 1))); do
	name=$(printf 'gen-agent-%05d' "$a")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$DW/pki/agents/$name.key" \
	    -out "$DW/pki/agents/$name.crt" -subj "/CN=$name" -days 30 \
	    -CA "$DW/pki/ca.crt" -CAkey "$DW/pki/ca.key" \
	    -addext extendedKeyUsage=clientAuth \
	    -addext basicConstraints=critical,CA:FALSE 2>/dev/null
done
sh tests/tools/site-files.sh "$DW"
# The installed sample with this site's values; idle_exit and every
# other setting as shipped (the drains linger 30 s).
PORT=$("$BIN/tt-wire" --freeport)
ns sed -i -E \
    -e "s/^addresses .*/addresses 127.0.0.1/" \
    -e "s/^port 41121$/port $PORT/" \
    -e "s/^host db.example.com$/host 127.0.0.1/" \
    -e "s/^port 3306$/port $MYSQL_PORT/" \
    -e "s|^#ssl_cert /etc/octospool/tls/db-client.crt|ssl_cert /etc/octospool/tls/db-client.crt|" \
    -e "s|^#ssl_key /etc/octospool/tls/db-client.key|ssl_key /etc/octospool/tls/db-client.key|" \
    "$CONF"
if [ "$CLIENTS" -gt 16 ]; then
	ns sed -i -E "s/^max_per_source 16$/max_per_source $CLIENTS/" "$CONF"
fi

log "$GROUPS_N groups: password, self-creation, client certificates required"
for g in $(seq 0 $((GROUPS_N - 1))); do
	G=$(printf 'G%02d' "$g")
	ns /usr/local/sbin/agent-auth -c "$CONF" group-add "$G" 2>>"$R/logs/admin.log"
	printf 'pw-%s-e2e secret\n' "$g" |
	    ns /usr/local/sbin/agent-auth -c "$CONF" passwd "$G" 2>>"$R/logs/admin.log"
	ns /usr/local/sbin/agent-auth -c "$CONF" selfcreate "$G" on 2>>"$R/logs/admin.log"
	ns /usr/local/sbin/agent-auth -c "$CONF" certreq "$G" on 2>>"$R/logs/admin.log"
done

# ---- The agent files and the clients' lists --------------------------
# File i belongs to agent i % AGENTS, timestamped START + (i / AGENTS) *
# 300, the last one an hour ago (inside xml-validate's window); agent a
# is in group a % GROUPS and sends through client a % CLIENTS.
log "generating $TOTAL agent files ($MODULES modules each)"
rounds=$(((TOTAL + AGENTS - 1) / AGENTS))
T0=$(($(date +%s) - 3600 - rounds * 300))
sh tools/gen-agents.sh "$DW/files" "$TOTAL" "$AGENTS" "$MODULES" "$T0"
# shellcheck disable=SC2016
find "$DW/files" -type f -print0 | xargs -0 perl -pi -e \
    'if (/agent_name=.gen-agent-(\d+)/) { my $g = $1 % '"$GROUPS_N"';
    s/group=.Servers./sprintf("group=\x27G%02d\x27 group_password=\x27pw-%d-e2e secret\x27", $g, $g)/e }'
SIZE=$(find "$DW/files" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s / NR }')
# Name: <T0>.<i % 10^6>_<i>_00000000.<agent>.<time>.data
find "$DW/files" -type f -printf '%f\n' | awk -F_ -v d="$DW/files" \
    -v p="$DW/pki/agents" -v c="$CLIENTS" -v na="$AGENTS" -v f="$FILES" '
	{
		i = $2 + 0
		a = i % na
		split($3, part, ".")
		agent = part[2]
		line[i] = sprintf("%d\t%s/%s\t%s/%s.crt\t%s/%s.key", a % c, d,
		    $0, p, agent, p, agent)
	}
	END {
		for (i = 0; i < NR; i++) {
			if (i < na)
				out = "warm"
			else if (i < na + f)
				out = "sat"
			else
				out = "paced"
			print line[i] > (d "/../" out ".list")
		}
	}'
head -n "$RAW_FILES" "$DW/sat.list" > "$DW/raw.list"
SENDER=("$BIN/tentacle-send" -a 127.0.0.1 -f "$DW/pki/ca.crt")

MARIADB_PID=$(cat "$DW/db/mariadbd.pid")

# clients PHASE LIST RATE PORT: the clients; records their summary line.
clients() {
	mkdir -p "$R/$1"
	"$E2E" send "$2" "$R/$1" "$3" -- "${SENDER[@]}" -p "$4" \
	    > "$R/$1/summary" &
	SEND_PID=$!
	wait "$SEND_PID" || die "$1: a client failed: $(sort -u "$R/$1/send.err" | head -3)"
	SEND_PID=
	cat "$R/$1/summary" >&2
}
# record PHASE KEY VALUE: one result, for the report.
record() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$R/results.tsv"
}
: > "$R/results.tsv"

# wait_listen: until tentacle-recv listens on $PORT.
wait_listen() {
	for _ in $(seq 1 200); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		kill -0 "$UNITS_PID" 2>/dev/null || die "e2e units died: $(tail -3 "$R/logs/units.log")"
		sleep 0.05
	done
	ss -ltn "sport = :$PORT" | grep -q LISTEN ||
	    die "tentacle-recv does not listen: $(tail -5 "$R/logs/tentacle-recv.log")"
}

# ---- tentacle-recv alone, as its unit starts it -----------------------
# The same clients and files as the minimal TLS server below (raw.list),
# no stage running (db-load's queue stays empty, so its path unit never
# starts).  Its items are removed afterwards, so that the pipeline starts
# from an empty queue; its audit events stay queued and are sealed by the
# pipeline's audit-sign like any other.
dirty=$(awk '$1 == "Dirty:" { print $2 }' /proc/meminfo)
sync
record raw alone.quiesce "dirty_kb=$dirty"
log "tentacle-recv alone: $RAW_FILES files, $CLIENTS clients, as its unit starts it"
mkdir -p "$R/alone"
"$E2E" units -a -d "$DW/ns/mnt" "$BIN/tt-unitrun" "$UNITS" "$SPOOL" \
    "$R/logs" "$R/alone" "$MARIADB_PID" tentacle-recv db-load \
    2>>"$R/logs/units.log" &
UNITS_PID=$!
wait_listen
clients alone "$DW/raw.list" 0 "$PORT"
kill "$UNITS_PID"
wait "$UNITS_PID" || die "e2e units (alone) failed: $(tail -3 "$R/logs/units.log")"
UNITS_PID=
find "$SPOOL/xml-validate/new" -type f -delete

# ---- The pipeline: tentacle-recv and the path units ------------------
log "starting tentacle-recv and the path units (e2e units)"
"$E2E" units -a -d "$DW/ns/mnt" "$BIN/tt-unitrun" "$UNITS" "$SPOOL" \
    "$R/logs" "$R" "$MARIADB_PID" tentacle-recv xml-validate agent-auth \
    db-load audit-sign 2>>"$R/logs/units.log" &
UNITS_PID=$!
wait_listen

# snapshot NAME: the units' accounting now, into $R/snap.NAME.
SNAPS=0
snapshot() {
	SNAPS=$((SNAPS + 1))
	kill -USR1 "$UNITS_PID"
	for _ in $(seq 1 500); do
		[ -f "$R/snap.$SNAPS" ] && break
		sleep 0.01
	done
	[ -f "$R/snap.$SNAPS" ] || die "no snapshot from e2e units"
	mv "$R/snap.$SNAPS" "$R/snap.$1"
}
# loaded: items through db-load's COMMIT, and refused ones, so far.
loaded() {
	awk -F'\t' '$2 == "db" || ($2 ~ /^rej:/ && $3 !~ /\.reason$/) { n++ }
	    END { print n + 0 }' "$R/trace.tsv"
}
# wait_loaded N SECONDS: until N items are through, or fail.
wait_loaded() {
	local end=$(($(date +%s) + $2))
	while [ "$(loaded)" -lt "$1" ]; do
		[ "$(date +%s)" -lt "$end" ] ||
		    die "only $(loaded) of $1 items through after $2 s"
		kill -0 "$UNITS_PID" 2>/dev/null || die "e2e units died"
		sleep 0.2
	done
}

# quiesce KEY: wait (at most 60 s) until the pipeline is as idle as it
# can be, so that both TLS measurements find the same machine:
# audit-sign has sealed what is queued (the alone phase's events before
# the first, the saturated phase's before the second) and mariadbd is
# done flushing (under 5% of a CPU for half a second).  The wait is
# recorded as KEY.quiesce.
quiesce() {
	local t0 end a b dirty
	t0=$(date +%s%N)
	end=$(($(date +%s) + 60))
	# What the set-up wrote (files, certificates, the database) is
	# written back now, not under the measurement.
	dirty=$(awk '$1 == "Dirty:" { print $2 }' /proc/meminfo)
	sync
	while [ -n "$(find "$SPOOL/audit-sign/new" -type f | head -1)" ] ||
	    [ -n "$(find "$SPOOL/audit-sign/tmp" -name '*.seg' | head -1)" ]; do
		[ "$(date +%s)" -lt "$end" ] || break
		sleep 0.2
	done
	while [ "$(date +%s)" -lt "$end" ]; do
		a=$(cpu_ticks "$MARIADB_PID")
		sleep 0.5
		b=$(cpu_ticks "$MARIADB_PID")
		[ $((b - a)) -gt $((TCK / 40)) ] || break
	done
	record raw "$1.quiesce" "secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') dirty_kb=$dirty"
}

# ---- Raw rates, same machine, same file system, same clients ---------
# tlsraw NAME KEY: the minimal TLS server and the raw clients, recorded
# as KEY.clients and KEY.server, once the pipeline is idle (quiesce).
# Run before the saturated phase and again after it (tls, tls2): the
# ceiling takes both, so that a host that gets faster or slower
# meanwhile moves the ceiling as it moves the pipeline
# (doc/BENCHMARKS.md, "The ceiling").
tlsraw() {
	quiesce "$2"
	log "raw: the TLS + Tentacle exchange, $RAW_FILES files, $CLIENTS clients (e2e tlsraw, $1)"
	rm -f "$DW/rawport"
	"$E2E" tlsraw "$DW/pki/server.crt" "$DW/pki/server.key" "$DW/pki/ca.crt" \
	    "$DW/rawport" > "$R/$1.out" 2>>"$R/logs/tlsraw.log" &
	RAW_PID=$!
	for _ in $(seq 1 100); do
		[ -s "$DW/rawport" ] && break
		sleep 0.05
	done
	clients "$1" "$DW/raw.list" 0 "$(cat "$DW/rawport")"
	kill "$RAW_PID"
	wait "$RAW_PID" || true
	RAW_PID=
	record raw "$2.clients" "$(cat "$R/$1/summary")"
	record raw "$2.server" "$(cat "$R/$1.out")"
}
tlsraw raw tls
record raw recv.alone "$(cat "$R/alone/summary")"

log "raw: durable writes and hand-offs on the spool's file system ($SIZE-byte items)"
mkdir "$DW/raw"
# The raw durable write (one file per file): the least a durable receiver
# does; tentacle-recv's own work (item + event appended to a segment,
# one syncfs per round) costs less on this file system (raw durables).
record raw durable1 "$("$OUT/raw" durable "$DW/raw" "$RAW_DISK" "$CLIENTS" "$SIZE")"
rm -rf "$DW/raw" && mkdir "$DW/raw"
record raw handoff "$("$OUT/raw" handoff "$DW/raw" "$RAW_DISK" "$RAW_BATCH" "$SIZE")"
rm -rf "$DW/raw" && mkdir "$DW/raw"
record raw handoff.noout "$("$OUT/raw" handoff "$DW/raw" "$RAW_DISK" "$RAW_BATCH" "$SIZE" noout)"
rm -rf "$DW/raw"

log "raw: $MODULES-row INSERTs into a copy of tagente_datos (db-raw, db-load's account)"
dbhost=$(sql "SELECT Host FROM mysql.user WHERE User = 'octo_db_load' LIMIT 1")
sql "CREATE DATABASE bench_raw; CREATE TABLE bench_raw.tagente_datos LIKE pandora.tagente_datos;
    GRANT INSERT ON bench_raw.tagente_datos TO 'octo_db_load'@'$dbhost'"
{
	sed 's/^name pandora$/name bench_raw/' "$DW/db/octospool-db.conf"
} > "$DW/raw-db.conf"
grep -q '^name bench_raw$' "$DW/raw-db.conf" || die "no [db] name in $DW/db/octospool-db.conf"
m0=$(cpu_ticks "$MARIADB_PID")
child_cpu
c0=$CCPU
line=$("$OUT/db-raw" "$DW/raw-db.conf" insert "$RAW_DB" "$MODULES" 1024 1)
child_cpu
c1=$CCPU
m1=$(cpu_ticks "$MARIADB_PID")
record raw db.insert "secs=${line% *} values_per_s=${line#* } files=$RAW_DB $(awk -v a="$m0" -v b="$m1" -v t="$TCK" -v c0="$c0" -v c1="$c1" -v n="$RAW_DB" 'BEGIN {
    printf "mariadbd_cpu_ms=%.3f client_cpu_ms=%.3f", (b - a) * 1000 / t / n, (c1 - c0) * 1000 / n }')"
sql "DROP DATABASE bench_raw"

# ---- Warm-up: every agent's first file creates it --------------------
log "warm-up: one file per agent ($AGENTS)"
clients warm "$DW/warm.list" 0 "$PORT"
wait_loaded "$AGENTS" 300
[ "$(sql "SELECT COUNT(*) FROM tagente")" -eq "$AGENTS" ] ||
    die "warm-up: $(sql "SELECT COUNT(*) FROM tagente") agents, want $AGENTS"

# ---- Saturated -------------------------------------------------------
log "saturated: $FILES files, $CLIENTS clients back to back"
snapshot sat0
clients sat "$DW/sat.list" 0 "$PORT"
wait_loaded $((AGENTS + FILES)) 900
snapshot sat1
record sat sat.clients "$(cat "$R/sat/summary")"
tlsraw raw2 tls2

# ---- Paced -----------------------------------------------------------
log "paced: $RATE files/s for $PACED_SECS s ($PACED files)"
snapshot paced0
clients paced "$DW/paced.list" "$RATE" "$PORT"
wait_loaded "$TOTAL" 300
snapshot paced1

# ---- Stop, then check every item -------------------------------------
# audit-sign seals what is left (its path unit starts it while events
# wait), then every unit stops.
end=$(($(date +%s) + 120))
# (the open event segments go to new/ after 200 ms idle.)
while [ -n "$(find "$SPOOL/audit-sign/new" -type f | head -1)" ] ||
    [ -n "$(find "$SPOOL/audit-sign/tmp" -name '*.seg' | head -1)" ]; do
	[ "$(date +%s)" -lt "$end" ] || die "audit events still queued after 120 s"
	sleep 0.2
done
log "stopping the units"
kill "$UNITS_PID"
wait "$UNITS_PID" || die "e2e units failed: $(tail -3 "$R/logs/units.log")"
UNITS_PID=
[ -f "$R/snap.final" ] || die "no final snapshot"

# What a start costs, now that no unit runs: the sandbox of a unit
# (tt-unitrun -x ... /bin/true) and a whole audit-sign run on an empty
# queue (it does not linger: its path unit starts it for every burst).
log "the cost of a unit start"
# One start on an empty queue and its one pass: the drain that lingers
# (idle_exit) would add its idle wait to each of the 20 runs.
ns sed -i -E 's/^idle_exit [0-9]+$/idle_exit 0/' "$CONF"
record start sandbox "$(ns "$E2E" cpu 20 -- "$BIN/tt-unitrun" -x \
    "$UNITS/audit-sign.service" -- /bin/true)"
record start audit-sign "$(ns "$E2E" cpu 20 -- "$BIN/tt-unitrun" \
    "$UNITS/audit-sign.service" 2>>"$R/logs/audit-sign.log")"
record start audit-log "bytes=$(du -sb "$DW/var-lib/octospool/audit/log" | cut -f1)"

log "checking every item"
sql "SELECT item FROM octo_loaded_file" > "$R/db-items"
for t in tagente_datos tagente_datos_string tagente_datos_inc; do
	printf '%s\t%s\t%s\n' "$t" \
	    "$(sql "SELECT COUNT(*) FROM $t")" \
	    "$(sql "SELECT COUNT(*) FROM (SELECT 1 FROM $t GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) d")"
done > "$R/db-rows"
grep -h 'event=drain.done' "$R/logs/db-load.log" > "$R/db-load.done" || true
for q in xml-validate agent-auth db-load audit-sign; do
	printf '%s\t%s\n' "$q" "$(find "$SPOOL/$q/reject" "$SPOOL/$q/new" \
	    "$SPOOL/$q/cur" -type f ! -name '*.reason' | wc -l)"
done > "$R/left"

# ---- Report ------------------------------------------------------------
{
	echo "## octospool make bench-e2e"
	echo
	echo "- CPUs: $(nproc) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))"
	echo "- memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- file system of the spool and the database: $(df -PT "$DW" | awk 'NR == 2 { print $2 " on " $1 }')"
	echo "- kernel: $(uname -sr); $(openssl version | cut -d' ' -f1-2); $(mariadbd --version | sed 's/.*Ver \([^ ]*\).*/MariaDB \1/')"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), wall time $(($(date +%s) - START)) s"
	echo "- $AGENTS agents in $GROUPS_N groups, $MODULES modules per file ($SIZE bytes on average), $CLIENTS clients (tentacle-send, one TLS connection per file, client certificates), saturated $FILES files, paced $RATE files/s for $PACED_SECS s"
	echo
	gawk -v agents="$AGENTS" -v files="$FILES" -v paced="$PACED" \
	    -v modules="$MODULES" -v clients="$CLIENTS" -v rate="$RATE" \
	    -v rawbatch="$RAW_BATCH" -v ncpu="$(nproc)" -v dir="$R" \
	    -f bench/e2e-report.awk
} > "$OUT/e2e-summary.md"
rc=0
grep -q '^\*\*check failed' "$OUT/e2e-summary.md" && rc=1
cat "$OUT/e2e-summary.md"
echo
echo "e2e: this table in bench/.build/e2e-summary.md, the data in bench/.build/e2e-run/"
exit "$rc"
