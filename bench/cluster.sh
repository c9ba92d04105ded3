#!/bin/bash
# SPDX-License-Identifier: ISC
# make bench-cluster: the receiver tier with two nodes against one, in
# one run, as a ratio (doc/SCALING.md, doc/BENCHMARKS.md).
#
# Each node is the whole pipeline on its own spool (tests/tools/
# octonode.sh, as tests/cluster.bats runs it: tentacle-recv with TLS and
# client certificates, PROXY protocol from HAProxy, the drains
# lingering), behind HAProxy in TCP mode with send-proxy-v2 and health
# checks; both nodes load into one private MariaDB (tools/mariadb.sh,
# TLS): the ratio is about the receiver tier, not the database.
#
# Phases, in this order, each from the first send to the last COMMIT:
#   warm-up  one round of the real agent files (tests/data/samples, the
#            Servers group) straight to node 1: the agents exist
#   one      BC_ROUNDS rounds through HAProxy with node 1 only
#   two      BC_ROUNDS other rounds through HAProxy with nodes 1 and 2
# BC_CLIENTS client processes (each one tentacle-send per file, as
# agents send) share the list.  Every file is checked loaded once.
#
# The machine has 2 CPUs: two nodes on it share the same CPUs, so the
# ratio measures what a second node costs (HAProxy, a second set of
# drains, two loaders on one database), not a speed-up: on separate
# machines each node brings its own CPUs.
#
# Environment: BC_ROUNDS (100 rounds = 400 files per phase), BC_CLIENTS
# (4), BC_TMPDIR (/tmp), BC_KEEP=1 keeps the work directory.  Root or
# not (as root the stages run as nobody).  Output: one line per phase
# and the ratio, also in bench/.build/cluster-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OCTO_TOP=$(pwd)
BIN=${OCTO_BIN:-$OCTO_TOP/bin}
OUT=$OCTO_TOP/bench/.build
ROUNDS=${BC_ROUNDS:-100}
CLIENTS=${BC_CLIENTS:-4}
MDB=$OCTO_TOP/tools/mariadb.sh
TMP=${BC_TMPDIR:-/tmp}
export TZ=UTC
# shellcheck source=workdir.sh
. bench/workdir.sh
# shellcheck source=../tests/tools/octonode.sh
. "$OCTO_TOP/tests/tools/octonode.sh"

log() {
	printf 'bench-cluster: %s\n' "$*" >&2
}
die() {
	log "$*"
	exit 1
}
for c in haproxy mariadbd openssl ss; do
	command -v "$c" > /dev/null || die "$c is missing (tools/deps.sh)"
done
mkdir -p "$OUT"
bench_workdir bench-cluster
C=$W/c
mkdir -p "$C"
cleanup() {
	local rc=$?
	haproxy_stop "$C"
	octonode_stop "$C" r1
	octonode_stop "$C" r2
	[ -d "$W/db" ] && sh "$MDB" stop "$W/db" > /dev/null 2>&1 || true
	if [ -n "${BC_KEEP:-}" ]; then
		log "work directory kept: $W"
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() {
	sh "$MDB" sql "$W/db" -N -B -e "$1" pandora
}
now_ms() {
	date +%s%3N
}

log "work dir $W: MariaDB, PKI, stamp keys"
bench_db_start > "$W/db.log" 2>&1 ||
    die "MariaDB did not start: $(tail -3 "$W/db.log")"
PKI=$W/pki
sh tools/mkcerts.sh "$PKI" > /dev/null
chmod 0755 "$PKI"
[ "$(id -u)" -ne 0 ] || chgrp "$RUN_GROUP" "$PKI"/*.key
KEYS=$W/keys
mkdir -p "$KEYS"
for k in tentacle-recv agent-auth; do
	(umask 077 && openssl genpkey -algorithm ED25519 -out "$KEYS/$k.key" 2>/dev/null)
	openssl pkey -in "$KEYS/$k.key" -pubout -out "$KEYS/$k.pub" 2>/dev/null
	chmod 0644 "$KEYS/$k.pub"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$KEYS/$k.key"
done
chmod 0755 "$KEYS"
DBPORT=$(sed -n "s/^MYSQL_PORT='\([0-9]*\)'$/\1/p" "$W/db/env")
for n in r1 r2; do
	octonode_conf "$C" "$n" "$W/db/octospool-db.conf" "127.0.0.1:$DBPORT"
done
printf 's3cretPw\n' | "$BIN/agent-auth" -c "$C/r1/r1.conf" passwd Servers 2>> "$W/admin.log"
"$BIN/agent-auth" -c "$C/r1/r1.conf" selfcreate Servers on 2>> "$W/admin.log"

log "files: $ROUNDS rounds (4 real agent files each) per phase"
agent_files "$W/f0" 0 1
agent_files "$W/f1" 1 "$ROUNDS"
agent_files "$W/f2" $((1 + ROUNDS)) "$ROUNDS"
per=$(wc -l < "$W/f1.list")

octonode_start "$C" r1 127.0.0.1
octonode_start "$C" r2 127.0.0.1
P1=$(octonode_port "$C" r1)
P2=$(octonode_port "$C" r2)

loaded() {
	sql "SELECT COUNT(*) FROM octo_loaded_file"
}
# wait_loaded N: until N files are loaded (at most 600 s).
wait_loaded() {
	local end=$(($(date +%s) + 600))
	while [ "$(loaded)" -lt "$1" ]; do
		[ "$(date +%s)" -lt "$end" ] || die "only $(loaded) of $1 loaded"
		sleep 0.05
	done
}
# phase NAME LIST PORT EXPECT: the clients send LIST through PORT; the
# rate from the first send to the last COMMIT.
phase() {
	local t0 t1 i pids=()
	rm -f "$W/part".*
	split -n "l/$CLIENTS" "$2" "$W/part."
	t0=$(now_ms)
	for i in "$W"/part.*; do
		sender "$i" "$W/ok.$1" "$3" &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ ! -s "$W/ok.$1.failed" ] || die "$1: files not sent: $(head -3 "$W/ok.$1.failed")"
	wait_loaded "$4"
	t1=$(now_ms)
	awk -v n="$(wc -l < "$2")" -v ms=$((t1 - t0)) -v p="$1" \
	    -v r="$(sort -u "$W/ok.$1" | wc -l)" 'BEGIN {
	    printf "%s\t%d\t%d\t%.1f\t%d\n", p, n, ms, n * 1000 / ms, r }' \
	    >> "$W/phases"
}

log "warm-up: the agents' first contact, straight to node 1"
: > "$W/phases"
phase warm "$W/f0.list" "$P1" 4
HP=$("$BIN/tt-wire" --freeport)
haproxy_start "$C" "$HP" "$P1"
sleep 0.5
log "one node: $per files, $CLIENTS clients through HAProxy"
phase one "$W/f1.list" "$HP" $((4 + per))
haproxy_stop "$C"
haproxy_start "$C" "$HP" "$P1" "$P2"
sleep 0.6
log "two nodes: $per files, $CLIENTS clients through HAProxy"
phase two "$W/f2.list" "$HP" $((4 + 2 * per))

# Checks: every file once, none rejected, both nodes took files.
total=$((4 + 2 * per))
[ "$(loaded)" -eq "$total" ] || die "loaded $(loaded), want $total"
[ "$(octonode_rejected "$C" r1)" -eq 0 ] && [ "$(octonode_rejected "$C" r2)" -eq 0 ] ||
    die "items rejected"
[ "$(sql "SELECT COUNT(*) FROM (SELECT 1 FROM tagente_datos GROUP BY id_agente_modulo, utimestamp HAVING COUNT(*) > 1) d")" -eq 0 ] ||
    die "history rows twice"
n2=$(sql "SELECT COUNT(*) FROM octo_loaded_file WHERE node = 'r2'")
[ "$n2" -gt 0 ] || die "node 2 loaded nothing"
{
	echo "bench-cluster $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "$CLIENTS clients, one TLS connection per file (client certificates), real agent files ($(awk '{ s += $5 } END { printf "%d", s / NR }' < <(xargs ls -l < "$W/f1.list")) bytes on average)"
	awk -F'\t' '{ printf "%-6s %5d files %7d ms %7.1f files/s\n", $1, $2, $3, $4; r[$1] = $4 }
	    END { printf "ratio two/one: %.2f\n", r["two"] / r["one"] }' "$W/phases"
	echo "node 2 loaded $n2 of the $per files of phase two; every file once"
} | tee "$OUT/cluster-summary.txt"
