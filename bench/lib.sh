# SPDX-License-Identifier: ISC
# bench/lib.sh: what bench/run.sh and bench/compare.sh share: the raw
# helper, the work directory, the test PKI, starting and stopping
# tentacle-recv by PID, and one function per measurement.  Sourced, not
# run.  The caller may preset the BENCH_* variables, OCTO_BIN, RECV_BIN
# (the tentacle-recv to measure; tt-wire always comes from OCTO_BIN) and
# RES (where record() appends "round<TAB>metric<TAB>value").
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
TESTS=${BENCH_TESTS:-raw a c e b d f}
TMPBASE=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}

mkdir -p "$OUT"

# The raw helper, built with the Makefile's warning flags.
sh bench/build.sh raw
RAW=$OUT/raw
RECV_BIN=${RECV_BIN:-$BIN/tentacle-recv}
WIRE=$BIN/tt-wire
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
	for p in $RECV_PID $PERL_PID; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The block device under $W: its write and flush requests per file tell
# where the time goes better than the clock on a shared machine (other
# users' I/O shows up too, but little).
BLK=
dev=$(df -P "$W" | awk 'NR == 2 { print $1 }')
dev=$(readlink -f "$dev" 2>/dev/null || echo "$dev")
if [ -r "/sys/class/block/${dev##*/}/stat" ]; then
	BLK=/sys/class/block/${dev##*/}/stat
fi
io_count() {
	if [ -n "$BLK" ]; then
		awk '{ print $5, $16 }' "$BLK"
	else
		echo "0 0"
	fi
}

# io_record ROUND METRIC "W0 F0" "W1 F1" FILES: write and flush requests
# per file.
io_record() {
	[ -n "$BLK" ] || return 0
	record "$1" "$2.wio" "$(echo "$3 $4" | awk -v n="$5" \
	    '{ printf "%.2f", ($3 - $1) / n }')"
	record "$1" "$2.flush" "$(echo "$3 $4" | awk -v n="$5" \
	    '{ printf "%.2f", ($4 - $2) / n }')"
}

RES=${RES:-$OUT/results.tsv}
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
# The envelope stamp key (a tentacle-recv that knows --stamp-key needs
# one in the octospool layout; an older build to compare with does not).
(umask 077 && openssl genpkey -algorithm ED25519 -out "$W/pki/stamp.key" 2>/dev/null)
[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$W/pki/stamp.key"
STAMP=()
"$RECV_BIN" -h 2>/dev/null | grep -q -- --stamp-key && STAMP=(--stamp-key "$W/pki/stamp.key")

# want TEST: is TEST in BENCH_TESTS?
want() {
	case " $TESTS " in *" $1 "*) return 0 ;; esac
	return 1
}

# fresh_dir NAME: a new, empty directory for one measurement.
fresh_dir() {
	mkdir "$W/$1"
	chmod 0755 "$W/$1"
	echo "$W/$1"
}

# mk_spool NAME: a fresh octospool spool owned by the service user, in
# $SPOOL.
mk_spool() {
	SPOOL=$(fresh_dir "$1")
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
	"$RECV_BIN" -a 127.0.0.1 -p 0 --port-file "$W/port" "${STAMP[@]}" "$@" \
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

# child_cpu: user + system seconds of this shell's finished children
# (the clients: tt-wire reaps its --parallel workers itself).
# Call it in the current shell: `times` in $(...) would see the subshell.
child_cpu() {
	times > "$W/times"
	CCPU=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m");
	    printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$W/times")
}

# status_kib PID FIELD: VmRSS or VmHWM in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# flood ARGS...: tt-wire --flood against $PORT; sets RATE (files/s) and
# MBS (MB/s) from its --stats line.
flood() {
	if ! "$WIRE" -a 127.0.0.1 -p "$PORT" -t 60000 --stats \
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

# expect_events DIR N: N audit events (one JSON line each) in DIR's files;
# a producer may write several events per file.
expect_events() {
	got=$(find "$1" -mindepth 1 -maxdepth 1 -type f -exec cat {} + |
	    wc -l)
	if [ "$got" -ne "$2" ]; then
		log "bench: $1 holds $got events, want $2"
		exit 1
	fi
}

# small ROUND METRIC LAYOUT TLS? FLOOD-ARGS...: N x 2 KiB against a fresh
# server; records files/s and server CPU per connection (or per file).
small() {
	r=$1 metric=$2 layout=$3 tls=$4
	shift 4
	mk_spool "spool.$r.$metric"
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
	child_cpu
	cc0=$CCPU
	io0=$(io_count)
	if [ "$tls" = tls ]; then
		flood --tls "$@"
	else
		flood "$@"
	fi
	io1=$(io_count)
	child_cpu
	cc1=$CCPU
	c1=$(cpu_ticks "$RECV_PID")
	stop_recv
	expect_files "$SPOOL/xml-validate/new" "$N"
	[ "$layout" = octo ] && expect_events "$SPOOL/audit-sign/new" "$N"
	record "$r" "$metric" "$RATE"
	# CPU per file: per connection with --separate.
	record "$r" "$metric.cpu" "$(awk -v c="$((c1 - c0))" -v t="$TCK" \
	    -v n="$N" 'BEGIN { printf "%.3f", c * 1000 / t / n }')"
	record "$r" "$metric.ccpu" "$(awk -v a="$cc0" -v b="$cc1" -v n="$N" \
	    'BEGIN { printf "%.3f", (b - a) * 1000 / n }')"
	io_record "$r" "$metric" "$io0" "$io1" "$N"
}

# big ROUND METRIC TLS?: one $BIG-byte file; MB/s and RSS growth.
big() {
	r=$1 metric=$2 tls=$3
	mk_spool "spool.$r.$metric"
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
	rm -f "$f"
}

# raw_durable ROUND METRIC MODE WRITERS
raw_durable() {
	d=$(fresh_dir "raw.$1.$2")
	io0=$(io_count)
	line=$("$RAW" "$3" "$d" "$N" "$4" "$SIZE")
	io1=$(io_count)
	record "$1" "$2" "$(kv rate "$line")"
	record "$1" "$2.cpu" "$(kv cpu_ms "$line")"
	io_record "$1" "$2" "$io0" "$io1" "$N"
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

