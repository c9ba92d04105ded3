#!/bin/bash
# SPDX-License-Identifier: ISC
# A/B comparison of tentacle-recv builds (or OCTO_PROTO settings of a
# prototype build) on one test, interleaved round by round with the raw
# baseline, so that a noisy machine hits every variant alike:
#
#   bash bench/compare.sh TEST LABEL=BINDIR[:PROTO] ...
#
# TEST: a (2000 x 2 KiB, one connection per file, plain), atls (the same
# with TLS 1.3), c (one session), b (8 clients, plain), d (one big file,
# plain), dtls (big, TLS).  BINDIR holds the tentacle-recv to measure;
# PROTO is put in OCTO_PROTO for it.  The variant order rotates every
# round.  BENCH_ROUNDS (default 5), BENCH_FILES and BENCH_BIG apply.
#
# Example (doc/BENCHMARKS.md, "Prototypes"):
#   bash bench/compare.sh a main=bin proto=/tmp/benchwork/bin:par,tmpfile
set -eu
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
RES=$(cd "$(dirname "$0")" && pwd)/.build/compare.tsv
mkdir -p "$(dirname "$RES")"
[ $# -ge 2 ] || { echo "usage: compare.sh TEST LABEL=BINDIR[:PROTO] ..." >&2;
    exit 64; }
TEST=$1
shift
VARIANTS=$*
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

case $TEST in
a|atls|c|b|d|dtls) ;;
*) echo "compare: unknown test $TEST" >&2; exit 64 ;;
esac

# variant K: the K-th LABEL=BINDIR[:PROTO] (from 1).  $VARIANTS is split
# on purpose (labels and paths hold no blanks).
# shellcheck disable=SC2086
variant() {
	printf '%s\n' $VARIANTS | sed -n "$1p"
}
# shellcheck disable=SC2086
NV=$(printf '%s\n' $VARIANTS | wc -l)

for r in $(seq 1 "$ROUNDS"); do
	log "compare: round $r of $ROUNDS"
	case $TEST in
	a|atls|c) raw_durable "$r" raw durable 1 ;;
	b) raw_durable "$r" raw durable "$PAR" ;;
	d) record "$r" raw "$(kv rate "$("$RAW" tcp "$BIG")")"
	   d=$(fresh_dir "raw.$r")
	   record "$r" rawfile "$(kv rate "$("$RAW" tcp "$BIG" "$d")")" ;;
	dtls) record "$r" raw "$(kv rate "$("$RAW" tls "$BIG" "$CERT" "$KEY")")"
	   d=$(fresh_dir "raw.$r")
	   record "$r" rawfile "$(kv rate "$("$RAW" tls "$BIG" "$CERT" \
	       "$KEY" "$d")")" ;;
	esac
	for i in $(seq 0 $((NV - 1))); do
		v=$(variant $(((i + r - 1) % NV + 1)))
		label=${v%%=*}
		spec=${v#*=}
		dir=${spec%%:*}
		OCTO_PROTO=
		case $spec in *:*) OCTO_PROTO=${spec#*:} ;; esac
		export OCTO_PROTO
		case $dir in /*) ;; *) dir=$ROOT/$dir ;; esac
		# shellcheck disable=SC2034  # used by start_recv in lib.sh
		RECV_BIN=$dir/tentacle-recv
		case $TEST in
		a) small "$r" "$label" octo plain --flood "$N" --separate \
		       --name-suffix .data ;;
		atls) small "$r" "$label" octo tls --flood "$N" --separate \
		       --name-suffix .data ;;
		c) small "$r" "$label" octo plain --flood "$N" \
		       --name-suffix .data ;;
		b) small "$r" "$label" octo plain --flood $((N / PAR)) \
		       --parallel "$PAR" --separate --name-suffix .data ;;
		d) big "$r" "$label" plain ;;
		dtls) big "$r" "$label" tls ;;
		esac
	done
done
unset OCTO_PROTO

# Per variant: median figure, median per-round ratio to the raw baseline
# and to the first variant, median server CPU per file or RSS growth.
first=$(variant 1)
# shellcheck disable=SC2086
awk -F '\t' -v first="${first%%=*}" -v vars="$(printf '%s\n' $VARIANTS |
    sed 's/=.*//' | tr '\n' ' ')" -v test="$TEST" '
function med(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n == 0 ? "" : n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function mratio(num, den,    a, n, r) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((r, num) in v && (r, den) in v && v[r, den] > 0)
			a[++n] = v[r, num] / v[r, den]
	return med(a, n)
}
function mval(m,    a, n, r) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((r, m) in v)
			a[++n] = v[r, m]
	return med(a, n)
}
{ v[$1, $2] = $3; if ($1 > maxr) maxr = $1 }
END {
	big = test ~ /^d/
	printf "| %s | median | vs raw | %s | vs %s | %s | writes/file | flushes/file |\n", test, \
	    big ? "vs raw+file+fsync" : "", first, big ? "RSS growth MiB" : \
	    "server CPU ms/file"
	print "|---|---|---|---|---|---|---|---|"
	printf "| raw | %.1f | | | | %s | %s | %s |\n", mval("raw"), \
	    big ? "" : sprintf("%.3f", mval("raw.cpu")), mval("raw.wio"), \
	    mval("raw.flush")
	if (big)
		printf "| raw+file+fsync | %.1f | | | | | | |\n", mval("rawfile")
	nv = split(vars, name, " ")
	for (k = 1; k <= nv; k++) {
		m = name[k]
		printf "| %s | %.1f | %.0f%% | %s | %.0f%% | %s | %s | %s |\n", m, \
		    mval(m), mratio(m, "raw") * 100, big ? \
		    sprintf("%.0f%%", mratio(m, "rawfile") * 100) : "", \
		    mratio(m, first) * 100, big ? mval(m ".rss") : \
		    sprintf("%.3f", mval(m ".cpu")), mval(m ".wio"), \
		    mval(m ".flush")
	}
}' "$RES"
