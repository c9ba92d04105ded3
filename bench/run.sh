#!/bin/sh
# make bench: tentacle-recv's throughput and CPU next to the raw limits of
# this machine (durable writes, loopback TCP, TLS), all measured in this
# run, on the filesystem that holds the spool, interleaved, several rounds.
# Report: medians and per-round ratios (see doc/BENCHMARKS.md).
#
# Environment:
#   BENCH_ROUNDS   rounds (default 3); each measures everything once
#   BENCH_FILES    small files per test (default 2000)
#   BENCH_BIG      bytes in the big-file test (default 200000000)
#   BENCH_TMPDIR   where the spool and the raw directories go (default
#                  $TMPDIR or /tmp): the filesystem under test
#   BENCH_PERL_SERVER  path of the stock tentacle_server (Perl): if set,
#                  also run the one-connection-per-file test against it
#   OCTO_BIN       binaries (default bin/)
#
# Every server is started on 127.0.0.1 port 0 with --port-file, as the
# service user (nobody when run as root), and stopped by PID.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${OCTO_BIN:-$ROOT/bin}
OUT=$ROOT/bench/.build
ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_FILES:-2000}
BIG=${BENCH_BIG:-200000000}
SIZE=2048
PAR=8
HS=1000
TMPBASE=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}

mkdir -p "$OUT"

# The raw helper, built with the Makefile's warning flags.
CC=${CC:-cc}
if [ ! -x "$OUT/raw" ] || [ bench/raw.c -nt "$OUT/raw" ]; then
	# shellcheck disable=SC2046
	$CC -std=gnu11 -O2 -Wall -Wextra -Wformat=2 -Wshadow -Werror -pthread \
	    -D_GNU_SOURCE $(pkg-config --cflags openssl 2>/dev/null) \
	    -o "$OUT/raw" bench/raw.c -pthread -lssl -lcrypto
fi
RAW=$OUT/raw
for b in tentacle-recv tt-wire tentacle-send; do
	[ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing: run make" >&2; exit 1; }
done

if [ "$(id -u)" -eq 0 ]; then
	RUN_USER=nobody
	RUN_GROUP=$(id -gn nobody)
else
	RUN_USER=$(id -un)
	RUN_GROUP=$(id -gn)
fi

W=$(mktemp -d "$TMPBASE/octo-bench.XXXXXX")
chmod 0755 "$W"
RECV_PID=
PERL_PID=
cleanup() {
	[ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null && \
	    wait "$RECV_PID" 2>/dev/null
	[ -n "$PERL_PID" ] && kill "$PERL_PID" 2>/dev/null && \
	    wait "$PERL_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$OUT/results.tsv
SUM=$OUT/summary.md
: > "$RES"
TCK=$(getconf CLK_TCK)

log() { printf '%s\n' "$*" >&2; }

# record ROUND METRIC VALUE
record() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RES"
	printf '  %-22s %s\n' "$2" "$3" >&2
}

# kv KEY LINE: the value of KEY=... in a raw output line.
kv() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# The test PKI (the server key readable by the service group).
sh tools/mkcerts.sh "$W/pki" >/dev/null
chmod 0755 "$W/pki"
[ "$(id -u)" -eq 0 ] && chgrp "$RUN_GROUP" "$W/pki"/*.key
CERT=$W/pki/server.crt
KEY=$W/pki/server.key

# fresh_dir NAME: an empty directory for one measurement.
fresh_dir() {
	rm -rf "${W:?}/$1"
	mkdir -p "$W/$1"
	chmod 0755 "$W/$1"
	echo "$W/$1"
}

# mk_spool: a fresh octospool spool owned by the service user, in $SPOOL.
mk_spool() {
	SPOOL=$(fresh_dir spool)
	sh tools/mkspool.sh "$SPOOL"
	[ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER:$RUN_GROUP" "$SPOOL"
	return 0
}

# start_recv ARGS...: tentacle-recv on 127.0.0.1, port 0; sets PORT.
start_recv() {
	rm -f "$W/port"
	if [ "$(id -u)" -eq 0 ]; then
		set -- --user "$RUN_USER" "$@"
	fi
	"$BIN/tentacle-recv" -a 127.0.0.1 -p 0 --port-file "$W/port" "$@" \
	    2>>"$W/recv.log" &
	RECV_PID=$!
	i=0
	while [ ! -s "$W/port" ]; do
		if ! kill -0 "$RECV_PID" 2>/dev/null || [ $i -ge 200 ]; then
			log "bench: tentacle-recv did not start:"
			tail -5 "$W/recv.log" >&2
			exit 1
		fi
		i=$((i + 1))
		sleep 0.05
	done
	PORT=$(cat "$W/port")
}

stop_recv() {
	kill "$RECV_PID"
	wait "$RECV_PID" 2>/dev/null || true
	RECV_PID=
}

# cpu_ticks PID: utime + stime of the whole process (all threads, also
# the finished ones), in clock ticks.
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# status_kib PID FIELD: VmRSS or VmHWM in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# flood ARGS...: tt-wire --flood against $PORT; sets RATE (files/s) and
# MBS (MB/s) from its --stats line.
flood() {
	if ! "$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" -t 60000 --stats \
	    "$@" >/dev/null 2>"$W/flood.err"; then
		log "bench: tt-wire $*:"
		cat "$W/flood.err" >&2
		tail -5 "$W/recv.log" >&2
		exit 1
	fi
	RATE=$(sed -n 's/.* \([0-9.]*\) files\/s, \([0-9.]*\) MB\/s$/\1/p' \
	    "$W/flood.err")
	MBS=$(sed -n 's/.* \([0-9.]*\) files\/s, \([0-9.]*\) MB\/s$/\2/p' \
	    "$W/flood.err")
}

# expect_files DIR N: the test really stored N files.
expect_files() {
	got=$(find "$1" -mindepth 1 -maxdepth 1 -type f | wc -l)
	if [ "$got" -ne "$2" ]; then
		log "bench: $1 holds $got files, want $2"
		exit 1
	fi
}

# small ROUND METRIC LAYOUT TLS? FLOOD-ARGS...: N x 2 KiB against a fresh
# server; records files/s and server CPU per connection (or per file).
small() {
	r=$1 metric=$2 layout=$3 tls=$4
	shift 4
	mk_spool
	if [ "$layout" = stock ]; then
		args="-s $SPOOL/xml-validate/new"
	else
		args="--spool $SPOOL"
	fi
	tlsargs=
	[ "$tls" = tls ] && tlsargs="-e $CERT -k $KEY"
	# shellcheck disable=SC2086
	start_recv $args $tlsargs
	c0=$(cpu_ticks "$RECV_PID")
	if [ "$tls" = tls ]; then
		flood --tls "$@"
	else
		flood "$@"
	fi
	c1=$(cpu_ticks "$RECV_PID")
	stop_recv
	expect_files "$SPOOL/xml-validate/new" "$N"
	[ "$layout" = octo ] && expect_files "$SPOOL/audit-sign/new" "$N"
	record "$r" "$metric" "$RATE"
	# CPU per file: per connection with --separate.
	record "$r" "$metric.cpu" "$(awk -v c="$((c1 - c0))" -v t="$TCK" \
	    -v n="$N" 'BEGIN { printf "%.3f", c * 1000 / t / n }')"
	rm -rf "$SPOOL"
}

# big ROUND METRIC TLS?: one $BIG-byte file; MB/s and RSS growth.
big() {
	r=$1 metric=$2 tls=$3
	mk_spool
	tlsargs=
	[ "$tls" = tls ] && tlsargs="-e $CERT -k $KEY"
	# shellcheck disable=SC2086
	start_recv --spool "$SPOOL" -m $((BIG + 1)) $tlsargs
	rss0=$(status_kib "$RECV_PID" VmRSS)
	if [ "$tls" = tls ]; then
		flood --tls --flood 1 --size "$BIG" --name-suffix .data
	else
		flood --flood 1 --size "$BIG" --name-suffix .data
	fi
	hwm=$(status_kib "$RECV_PID" VmHWM)
	stop_recv
	expect_files "$SPOOL/xml-validate/new" 1
	f=$(find "$SPOOL/xml-validate/new" -type f)
	sz=$(stat -c %s "$f")
	if [ "$sz" -lt "$BIG" ]; then
		log "bench: big file is $sz bytes"
		exit 1
	fi
	record "$r" "$metric" "$MBS"
	record "$r" "$metric.rss" "$(awk -v a="$rss0" -v b="$hwm" \
	    'BEGIN { printf "%.1f", (b - a) / 1024 }')"
	rm -rf "$SPOOL"
}

# raw_durable ROUND METRIC MODE WRITERS
raw_durable() {
	d=$(fresh_dir raw)
	line=$("$RAW" "$3" "$d" "$N" "$4" "$SIZE")
	record "$1" "$2" "$(kv rate "$line")"
	record "$1" "$2.cpu" "$(kv cpu_ms "$line")"
	rm -rf "$d"
}

machine() {
	fs=$(df -PT "$W" | awk 'NR == 2 { print $2 " on " $1 " (" $7 ")" }')
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' \
	    /proc/meminfo)
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	mopt=$(awk -v d="$(df -P "$W" | awk 'NR == 2 { print $6 }')" \
	    '$2 == d { print $4 }' /proc/mounts | tail -1)
	echo "- CPUs: $(nproc) ($cpu)"
	echo "- memory: $mem"
	echo "- filesystem under test: $fs, mount options $mopt"
	echo "- kernel: $(uname -sr)"
	echo "- OpenSSL: $(openssl version | cut -d' ' -f1-2)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds, $N files of $SIZE bytes, big file $BIG bytes"
}

START=$(date +%s)
log "bench: work dir $W ($(df -PT "$W" | awk 'NR == 2 { print $2 }'))"
for r in $(seq 1 "$ROUNDS"); do
	log "bench: round $r of $ROUNDS"
	# Small files, one writer / one client.
	raw_durable "$r" raw.durable1 durable 1
	small "$r" a.plain octo plain --flood "$N" --separate \
	    --name-suffix .data
	small "$r" a.tls octo tls --flood "$N" --separate --name-suffix .data
	small "$r" c.session octo plain --flood "$N" --name-suffix .data
	small "$r" e.stock stock plain --flood "$N" --separate \
	    --name-suffix .data
	raw_durable "$r" raw.durable2 durable2 1
	# Eight writers / eight clients.
	raw_durable "$r" raw.durable8 durable "$PAR"
	small "$r" b.plain8 octo plain --flood $((N / PAR)) --parallel "$PAR" \
	    --separate --name-suffix .data
	small "$r" b.tls8 octo tls --flood $((N / PAR)) --parallel "$PAR" \
	    --separate --name-suffix .data
	# Loopback and TLS limits, then the big file.
	d=$(fresh_dir raw)
	record "$r" raw.tcp "$(kv rate "$("$RAW" tcp "$BIG")")"
	record "$r" raw.tcpfile "$(kv rate "$("$RAW" tcp "$BIG" "$d")")"
	record "$r" raw.tls "$(kv rate "$("$RAW" tls "$BIG" "$CERT" "$KEY")")"
	record "$r" raw.tlsfile "$(kv rate "$("$RAW" tls "$BIG" "$CERT" \
	    "$KEY" "$d")")"
	line=$("$RAW" tls-hs "$HS" "$CERT" "$KEY")
	record "$r" raw.tlshs "$(kv rate "$line")"
	record "$r" raw.tlshs.cpu "$(kv server_cpu_ms "$line")"
	rm -rf "$d"
	big "$r" d.big.plain plain
	big "$r" d.big.tls tls
done

# f. The real sender, one process per file (what agents do), by hyperfine.
log "bench: tentacle-send, one process per file (hyperfine)"
mk_spool
start_recv --spool "$SPOOL"
head -c "$SIZE" /dev/zero | tr '\0' 'A' > "$W/agent_1.data"
hyperfine -N --style none --warmup 5 --runs 200 \
    --export-json "$W/hf.json" \
    "$BIN/tentacle-send -a 127.0.0.1 -p $PORT $W/agent_1.data" >/dev/null
stop_recv
mean=$(tr ',' '\n' < "$W/hf.json" | sed -n 's/^ *"mean": *//p' | head -1)
record 1 f.send "$(awk -v m="$mean" 'BEGIN { printf "%.1f", 1 / m }')"

# Optional: the stock Perl server, one connection per file (no fsync).
if [ -n "${BENCH_PERL_SERVER:-}" ]; then
	log "bench: stock Perl tentacle_server ($BENCH_PERL_SERVER)"
	d=$(fresh_dir perl)
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$d"
	PORT=$("$BIN/tt-wire" --freeport)
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid "$RUN_USER" --regid "$RUN_GROUP" \
		    --clear-groups perl "$BENCH_PERL_SERVER" -a 127.0.0.1 \
		    -p "$PORT" -s "$d" 2>>"$W/perl.log" &
	else
		perl "$BENCH_PERL_SERVER" -a 127.0.0.1 -p "$PORT" -s "$d" \
		    2>>"$W/perl.log" &
	fi
	PERL_PID=$!
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" -r 5000 'send:QUIT\n' \
	    expectclose >/dev/null 2>&1 || true
	RECV_PID=$PERL_PID
	c0=$(cpu_ticks "$PERL_PID")
	flood --flood "$N" --separate --name-suffix .data
	c1=$(cpu_ticks "$PERL_PID")
	RECV_PID=
	kill "$PERL_PID"
	wait "$PERL_PID" 2>/dev/null || true
	PERL_PID=
	expect_files "$d" "$N"
	record 1 perl.plain "$RATE"
	record 1 perl.plain.cpu "$(awk -v c="$((c1 - c0))" -v t="$TCK" \
	    -v n="$N" 'BEGIN { printf "%.3f", c * 1000 / t / n }')"
fi

# Summary: medians over the rounds; ratios per round, then their median.
{
	echo "## octospool make bench"
	echo
	machine
	echo "- wall time: $(($(date +%s) - START)) s"
	echo
	awk -F '\t' -f bench/summary.awk "$RES"
} > "$SUM"
cat "$SUM"
echo
echo "bench: raw samples in bench/.build/results.tsv, this table in bench/.build/summary.md"
