#!/bin/bash
# SPDX-License-Identifier: ISC
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
#   BENCH_TESTS    which tests to run (default all): any of
#                  raw a c e b d f (raw = the baselines, always wise)
#   BENCH_PERL_SERVER  path of the stock tentacle_server (Perl): if set,
#                  also run the one-connection-per-file test against it
#   OCTO_BIN       binaries (default bin/), e.g. a prototype build
#
# Small-file directories are kept until the end of the run: on ext4
# without a journal, creating a file skips every inode freed in the last
# minutes, so deleting thousands of files mid-run slows later creates.
#
# Every server is started on 127.0.0.1 port 0 with --port-file, as the
# service user (nobody when run as root), and stopped by PID.  A/B runs of
# prototype builds: bench/compare.sh.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
SUM=$OUT/summary.md

START=$(date +%s)
log "bench: work dir $W ($(df -PT "$W" | awk 'NR == 2 { print $2 }'))"
for r in $(seq 1 "$ROUNDS"); do
	log "bench: round $r of $ROUNDS"
	# Small files, one writer / one client.
	if want raw; then
		raw_durable "$r" raw.durable1 durable 1
	fi
	if want a; then
		small "$r" a.plain octo plain --flood "$N" --separate \
		    --name-suffix .data
		small "$r" a.tls octo tls --flood "$N" --separate \
		    --name-suffix .data
	fi
	if want c; then
		small "$r" c.session octo plain --flood "$N" \
		    --name-suffix .data
	fi
	if want e; then
		small "$r" e.stock stock plain --flood "$N" --separate \
		    --name-suffix .data
	fi
	if want raw; then
		raw_durable "$r" raw.durables durables 1
		# Eight writers.
		raw_durable "$r" raw.durable8 durable "$PAR"
	fi
	if want b; then
		small "$r" b.plain8 octo plain --flood $((N / PAR)) \
		    --parallel "$PAR" --separate --name-suffix .data
		small "$r" b.tls8 octo tls --flood $((N / PAR)) \
		    --parallel "$PAR" --separate --name-suffix .data
	fi
	# Loopback and TLS limits, then the big file.
	if want raw; then
		d=$(fresh_dir "raw.$r.stream")
		record "$r" raw.tcp "$(kv rate "$("$RAW" tcp "$BIG")")"
		record "$r" raw.tcpfile "$(kv rate "$("$RAW" tcp "$BIG" "$d")")"
		record "$r" raw.tls "$(kv rate "$("$RAW" tls "$BIG" "$CERT" \
		    "$KEY")")"
		record "$r" raw.tlsfile "$(kv rate "$("$RAW" tls "$BIG" \
		    "$CERT" "$KEY" "$d")")"
		line=$("$RAW" tls-hs "$HS" "$CERT" "$KEY")
		record "$r" raw.tlshs "$(kv rate "$line")"
		record "$r" raw.tlshs.cpu "$(kv server_cpu_ms "$line")"
	fi
	if want d; then
		big "$r" d.big.plain plain
		big "$r" d.big.tls tls
	fi
done

# f. The real sender, one process per file (what agents do), by hyperfine.
if want f; then
	log "bench: tentacle-send, one process per file (hyperfine)"
	mk_spool spool.send
	start_recv --spool "$SPOOL"
	head -c "$SIZE" /dev/zero | tr '\0' 'A' > "$W/agent_1.data"
	if ! hyperfine -N --style none --warmup 5 --runs 200 \
	    --export-json "$W/hf.json" \
	    "$BIN/tentacle-send -a 127.0.0.1 -p $PORT $W/agent_1.data" \
	    >/dev/null 2>"$W/hf.err"; then
		cat "$W/hf.err" >&2
		exit 1
	fi
	stop_recv
	mean=$(tr ',' '\n' < "$W/hf.json" | sed -n 's/^ *"mean": *//p' |
	    head -1)
	record 1 f.send "$(awk -v m="$mean" 'BEGIN { printf "%.1f", 1 / m }')"
fi

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
	awk -F '\t' -v n="$N" -v big="$BIG" -f bench/summary.awk "$RES"
} > "$SUM"
cat "$SUM"
echo
echo "bench: raw samples in bench/.build/results.tsv, this table in bench/.build/summary.md"

# The stage benchmarks (BENCH_ALL=0 to skip) at their default sizes:
# each takes under two minutes here (doc/BENCHMARKS.md).
if [ "${BENCH_ALL:-1}" = 1 ]; then
	for b in xml-validate.sh db-load.sh audit.sh agent-auth.sh regex.sh \
	    status.sh; do
		echo
		echo "bench: bench/$b"
		# Each with the shell its first line names.
		shell="sh"
		head -1 "$ROOT/bench/$b" | grep -q bash && shell="bash"
		RUNS=${BENCH_STAGE_RUNS:-3} "$shell" "$ROOT/bench/$b" ||
		    echo "bench: bench/$b failed"
	done
fi
