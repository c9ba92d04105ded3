#!/bin/sh
# SPDX-License-Identifier: ISC
# db-load's throughput next to the raw rate of the same database, in the
# same run: a private MariaDB (tools/mariadb.sh, durable InnoDB defaults:
# innodb_flush_log_at_trx_commit=1, doublewrite on; only the buffer pool
# is bigger than the test instance's), a full queue of FILES generated
# agent files of MODULES modules (tools/gen-agents.sh), drained by one
# db-load run over TCP with TLS, as deployed.
#
#   sh bench/db-load.sh [FILES]        (default 10000)
#
# Each round measures, interleaved:
#   raw.insert  multi-row INSERTs of MODULES rows into tagente_datos, one
#               per "file", COMMIT every BATCH statements (the raw rate of
#               storing that many values: no logic, no status)
#   cold        db-load on an empty database: agents and modules created
#   warm        db-load on the next FILES files of the same agents
#   raw.same    per "file" the writes db-load makes in steady state, with
#               no logic: the digest INSERT, a MODULES-row INSERT into
#               tagente_datos, a MODULES-row upsert of tagente_estado and
#               the tagente UPDATE, COMMIT every BATCH files
# and prints module values per second, the ratios, and db-load's per-file
# time (p50/p99 of the handler) from its log.
#
# With BENCH_AUTH=1 every file carries agent-auth's stamped decision
# (Auth-Agent, Auth-Group 2, Auth-Create yes) and db-load checks it
# (auth_pubkey), as deployed: the batch's agents are then read in one
# query (db-load(8), idle_exit).  Without it, bare files: each file
# looks its agent up.
#
# Environment: RUNS (rounds, default 3), BENCH_MODULES (25), BENCH_AGENTS
# (100), BENCH_BATCH (files per COMMIT, default 1024 as db-load's),
# BENCH_TMPDIR (where the database and spool go; default /tmp),
# BENCH_DB_OPTS (extra mariadbd options, default a 1 GiB buffer pool),
# OCTO_BIN (binaries, default bin/).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FILES=${1:-10000}
RUNS=${RUNS:-3}
MODS=${BENCH_MODULES:-25}
AGENTS=${BENCH_AGENTS:-100}
BATCH=${BENCH_BATCH:-1024}
BIN=${OCTO_BIN:-$ROOT/bin}
TMP=${BENCH_TMPDIR:-/tmp}
OUT=$ROOT/bench/.build
mkdir -p "$OUT"
export TZ=UTC

log() {
	printf '%s\n' "$*" >&2
}

AUTH=${BENCH_AUTH:-0}
make -s bin/db-load bin/tt-wire bin/tt-stamp build/release/libocto.a

# The raw client (bench/db-raw.c): the same lib/db connection (TCP,
# TLS, verified), no logic, prepared multi-row statements.
sh bench/build.sh db-raw

. bench/workdir.sh
bench_workdir bench
trap bench_cleanup EXIT INT TERM
bench_db_start "${BENCH_DB_OPTS:---innodb-buffer-pool-size=1G}"
sh tools/mkspool.sh "$W/spool"
[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/spool"
CONF=$W/octospool.conf
{
	echo "spool_dir $W/spool"
	echo "idle_exit 0"
	cat "$DB/octospool-db.conf"
	printf '[db-load]\nuser %s\nproducer %s\n' "$RUN_USER" "$RUN_USER"
	if [ "$AUTH" = 1 ]; then
		printf 'auth_pubkey %s\n' "$W/agent-auth.pub"
	else
		# Bare agent files: no decision of agent-auth, the
		# configuration decides (auth_pubkey none).
		printf 'auth_pubkey none\n'
	fi
	printf 'allow_create yes\nbatch %s\n' "$BATCH"
} > "$CONF"
if [ "$AUTH" = 1 ]; then
	openssl genpkey -algorithm ED25519 -out "$W/agent-auth.key" 2>/dev/null
	openssl pkey -in "$W/agent-auth.key" -pubout -out "$W/agent-auth.pub" 2>/dev/null
	chmod 0644 "$W/agent-auth.pub"
fi
sql() {
	sh tools/mariadb.sh sql "$DB" -N -B -e "$1"
}

# load SET: drain a generated set; prints "seconds values/s p50 p99".
load() {
	mv "$W/$1"/* "$W/spool/db-load/new/"
	"$BIN/db-load" -c "$CONF" -d 2> "$W/load.log"
	grep 'event=drain.done' "$W/load.log" | sed -n \
	    's/.* values=\([0-9]*\) ms=\([0-9]*\) .*file_ms_p50=\([0-9.]*\) file_ms_p99=\([0-9.]*\) .*/\1 \2 \3 \4/p' |
	    awk '{ printf "%.3f %.0f %s %s\n", $2 / 1000, $1 * 1000 / $2, $3, $4 }'
}

# gen SET START: the set's files, made once (kept in SET.0, copied for
# each round); with BENCH_AUTH=1 each with agent-auth's stamped decision.
gen() {
	if [ ! -d "$W/$1.0" ]; then
		sh tools/gen-agents.sh "$W/$1.0" "$FILES" "$AGENTS" "$MODS" "$2"
		if [ "$AUTH" = 1 ]; then
			for f in "$W/$1.0"/*; do
				a=$(sed -n "s/.*agent_name='\([^']*\)'.*/\1/p" "$f" | head -1)
				{
					printf 'Octospool-Envelope: 1\nOriginal-Name: %s\n' "${f##*/}"
					printf 'Peer: 192.0.2.7 41000\nReceived: 2026-11-27T21:00:00.000000Z\n'
					printf 'Auth: none\nAuth-Agent: %s\nAuth-Group: 2\nAuth-Create: yes\n' "$a"
					printf 'Sha256: %064d\n\n' 0
					cat "$f"
				} | bin/tt-stamp -s "$W/agent-auth.key" agent-auth > "$f.s"
				mv "$f.s" "$f"
			done
		fi
	fi
	rm -rf "$W/$1"
	cp -r "$W/$1.0" "$W/$1"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$W/$1"
}

log "db-load bench: $FILES files x $MODS modules, $AGENTS agents, batch $BATCH, auth $AUTH, $RUNS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'round\traw.insert/s\tcold/s\twarm/s\traw.same/s\tcold%%raw\twarm%%raw\twarm%%same\tp50ms\tp99ms\n' > "$W/results"
for r in $(seq 1 "$RUNS"); do
	sql "TRUNCATE tagente; TRUNCATE tagente_modulo; TRUNCATE tagente_estado;
	    TRUNCATE tagente_datos; TRUNCATE tagente_datos_string;
	    TRUNCATE tagente_datos_inc; TRUNCATE tevento; TRUNCATE octo_loaded_file;
	    TRUNCATE octo_agent_name"
	gen cold 1795000000
	gen warm $((1795000000 + (FILES / AGENTS) * 300))
	set -- $("$OUT/db-raw" "$CONF" insert "$FILES" "$MODS" "$BATCH" $((r * 10)))
	raw=$2
	set -- $(load cold)
	cold=$2
	set -- $(load warm)
	warm=$2 p50=$3 p99=$4
	set -- $("$OUT/db-raw" "$CONF" same "$FILES" "$MODS" "$BATCH" $((r * 10 + 1)))
	same=$2
	awk -v r="$r" -v a="$raw" -v c="$cold" -v w="$warm" -v s="$same" \
	    -v p="$p50" -v q="$p99" 'BEGIN { printf "%d\t%d\t%d\t%d\t%d\t%.0f%%\t%.0f%%\t%.0f%%\t%s\t%s\n",
	    r, a, c, w, s, 100 * c / a, 100 * w / a, 100 * w / s, p, q }' >> "$W/results"
	log "round $r: $(tail -1 "$W/results")"
done
column -t -s "$(printf '\t')" "$W/results"
# Medians.
awk -F'\t' 'NR > 1 { for (i = 2; i <= 5; i++) v[i][NR] = $i; n++ }
    END {
	split("raw.insert cold warm raw.same", name, " ")
	for (i = 2; i <= 5; i++) {
		m = 0
		for (k in v[i]) a[++m] = v[i][k]
		asort(a)
		printf "median %s: %d values/s\n", name[i - 1], a[int((m + 1) / 2)]
		delete a
	}
    }' "$W/results"
