#!/bin/sh
# SPDX-License-Identifier: ISC
# agent-auth's drain rate next to xml-validate's on the same queue, in
# the same run.  A private MariaDB (tools/mariadb.sh, stopped by PID at
# the end, also on failure), 10 groups G00..G09 each with its own
# scrypt-hashed password (agent-auth passwd), AGENTS registered agents
# spread over them, and FILES agent files of MODULES modules
# (tools/gen-agents.sh), each carrying its group's password.  Every
# round, on a fresh copy of the same files:
#   xml-validate  drains spool/xml-validate into spool/agent-auth (the
#                 baseline: the previous stage on the same files and
#                 file system, durable hand-off included)
#   agent-auth    drains spool/agent-auth into spool/db-load: every file
#                 authenticated (registry lookup cached per agent, scrypt
#                 once per distinct group password per run), audit on
#   warm-up       agent-auth on one file per group: process start, DB
#                 connection and the 10 scrypt runs a run pays once;
#                 "steady" is FILES / (agent-auth - warm-up)
#
#   sh bench/agent-auth.sh [FILES]     (default 10000)
#
# Environment: RUNS (rounds, default 3; medians reported), BENCH_AGENTS
# (500), BENCH_MODULES (10), BENCH_TMPDIR (default /tmp), OCTO_BIN
# (default bin/).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FILES=${1:-10000}
RUNS=${RUNS:-3}
AGENTS=${BENCH_AGENTS:-500}
MODS=${BENCH_MODULES:-10}
GROUPS_N=10
BIN=${OCTO_BIN:-$ROOT/bin}
TMP=${BENCH_TMPDIR:-/tmp}
START_T=1795800000
export TZ=UTC

log() {
	printf '%s\n' "$*" >&2
}

[ -n "${OCTO_BIN:-}" ] || make -s bin/agent-auth bin/xml-validate

. bench/workdir.sh
bench_workdir aa-bench
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_db_start
sh tools/mkspool.sh "$W/spool"
CONF=$W/octospool.conf
# xml-validate's clock: the last file's time (rounds of AGENTS files).
# shellcheck disable=SC2017
{
	echo "spool_dir $W/spool"
	echo "idle_exit 0"
	cat "$DB/octospool-db.conf"
	printf "[xml-validate]\nuser %s\nproducer %s\nnow %s\n" "$RUN_USER" \
	    "$RUN_USER" $((START_T + (FILES + AGENTS - 1) / AGENTS * 300))
	printf '[agent-auth]\nuser %s\nproducer %s\nrecv_pubkey none\n' \
	    "$RUN_USER" "$RUN_USER"
	printf 'stamp_key %s\n' "$W/agent-auth.key"
	printf 'verified_key %s\n' "$W/spool/agent-auth/verified.key"
} > "$CONF"
(umask 077 && openssl genpkey -algorithm ED25519 -out "$W/agent-auth.key" 2>/dev/null)
[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$W/agent-auth.key"
sql() {
	sh tools/mariadb.sh sql "$DB" -N -B -e "$1" pandora
}

# Groups and their passwords (the KDF runs here, once per group).
g=0
while [ "$g" -lt "$GROUPS_N" ]; do
	"$BIN/agent-auth" -c "$CONF" group-add "G0$g" 2>/dev/null
	printf 'pw-%s-bench secret\n' "$g" |
	    "$BIN/agent-auth" -c "$CONF" passwd "G0$g" 2>/dev/null
	g=$((g + 1))
done
# The agents, registered: agent i in group G0(i % 10).
sql "TRUNCATE tagente"
awk -v n="$AGENTS" -v g="$GROUPS_N" 'BEGIN {
	printf "INSERT INTO tagente (nombre, alias, id_grupo) VALUES "
	for (i = 0; i < n; i++)
		printf "%s(\x27gen-agent-%05d\x27, \x27gen-agent-%05d\x27, " \
		    "(SELECT id_grupo FROM tgrupo WHERE nombre = \x27G0%d\x27))", \
		    i ? ", " : "", i, i, i % g
}' > "$W/agents.sql"
sql "$(cat "$W/agents.sql")"
[ "$(sql "SELECT COUNT(*) FROM tagente")" -eq "$AGENTS" ]

# The files, each with its agent's group and that group's password.
sh tools/gen-agents.sh "$W/master" "$FILES" "$AGENTS" "$MODS" "$START_T"
# shellcheck disable=SC2016
find "$W/master" -type f -print0 | xargs -0 perl -pi -e \
    'if (/agent_name=.gen-agent-(\d+)/) { my $g = $1 % '"$GROUPS_N"';
    s/group=.Servers./group=\x27G0$g\x27 group_password=\x27pw-$g-bench secret\x27/ }'
# One file per group for the warm-up run.
mkdir "$W/warm"
for f in $(find "$W/master" -type f | sort | head -n "$GROUPS_N"); do
	cp "$f" "$W/warm/"
done
size=$(du -sk "$W/master" | cut -f1)
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool"

now() {
	date +%s.%N
}
# drain TOOL: one run of TOOL over its queue; prints its seconds.
drain() {
	t0=$(now)
	"$BIN/$1" -c "$CONF" -d 2>> "$W/$1.log"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
fill() {	# fill SRC QUEUE
	cp "$W/$1"/* "$W/spool/$2/new/"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool/$2/new"
}
clear_out() {
	find "$W/spool/db-load/new" "$W/spool/audit-sign/new" -type f -delete
}

log "agent-auth bench: $FILES files ($size KiB, $MODS modules) from $AGENTS agents in $GROUPS_N groups, $RUNS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'round\txml-validate/s\tagent-auth/s\twarm-up.s\tsteady/s\tauth%%xv\n' > "$W/results"
for r in $(seq 1 "$RUNS"); do
	clear_out
	fill master xml-validate
	xv=$(drain xml-validate)
	n=$(find "$W/spool/agent-auth/new" -type f | wc -l)
	[ "$n" -eq "$FILES" ] || {
		log "xml-validate passed $n of $FILES"
		find "$W/spool/xml-validate/reject" -name '*.reason' |
		    head -1 | xargs cat >&2
		exit 1
	}
	sync
	aa=$(drain agent-auth)
	n=$(find "$W/spool/db-load/new" -type f | wc -l)
	[ "$n" -eq "$FILES" ] || {
		log "agent-auth passed $n of $FILES"
		tail -5 "$W/agent-auth.log" >&2
		exit 1
	}
	clear_out
	fill warm agent-auth
	wu=$(drain agent-auth)
	[ "$(find "$W/spool/db-load/new" -type f | wc -l)" -eq "$GROUPS_N" ]
	awk -v r="$r" -v f="$FILES" -v x="$xv" -v a="$aa" -v w="$wu" 'BEGIN {
	    s = a > w ? f / (a - w) : 0
	    printf "%d\t%.0f\t%.0f\t%.3f\t%.0f\t%.0f%%\n", r, f / x, f / a, w, s,
		100 * x / a }' >> "$W/results"
	log "round $r: $(tail -1 "$W/results")"
done
grep "event=drain.done.* seen=$FILES " "$W/agent-auth.log" | tail -1 |
    sed 's/^/last full agent-auth run: /' >&2
column -t -s "$(printf '\t')" "$W/results"
awk -F'\t' 'NR > 1 { for (i = 2; i <= 5; i++) v[i][NR] = $i }
    END {
	split("xml-validate agent-auth warm-up steady", name, " ")
	split("files/s files/s s files/s", unit, " ")
	for (i = 2; i <= 5; i++) {
		m = 0
		for (k in v[i]) a[++m] = v[i][k]
		asort(a)
		printf "median %s: %s %s\n", name[i - 1], a[int((m + 1) / 2)], unit[i - 1]
		delete a
	}
    }' "$W/results"
