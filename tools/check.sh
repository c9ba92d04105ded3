#!/bin/sh
# SPDX-License-Identifier: ISC
# make check: unit tests and bats suites on the release build and, at the
# same time, on an ASan+UBSan build.  Ends with "N passed, N failed".
# --quick: release build only.
set -u
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
pass=0
fail=0
failed_names=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# count_tap NAME: read TAP on stdin, add ok/not ok lines to the totals.
count_tap() {
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"ok "*) pass=$((pass + 1)) ;;
		"not ok "*)
			fail=$((fail + 1))
			failed_names="$failed_names
  $1: ${line#not ok }" ;;
		esac
	done
}

# run_units BINDIR: each unit test prints "name: N passed, M failed".
run_units() {
	for t in "$1"/unit/test_*; do
		[ -x "$t" ] || continue
		if "$t" >"$log" 2>&1; then
			echo "ok - unit $(basename "$t") ($1)"
			pass=$((pass + 1))
		else
			cat "$log"
			echo "not ok - unit $(basename "$t") ($1)"
			fail=$((fail + 1))
			failed_names="$failed_names
  unit $(basename "$t") ($1)"
		fi
	done
}

# run_bats BINDIR LABEL
run_bats() {
	tmp=$(mktemp)
	OCTO_BIN="$(pwd)/$1" bats --tap -T tests/*.bats >"$tmp" 2>&1
	count_tap "bats $2" <"$tmp"
	rm -f "$tmp"
}

# static NAME CMD...: one counted check that needs no build.
static() {
	name=$1
	shift
	if "$@" >"$log" 2>&1; then
		echo "ok - $name"
		pass=$((pass + 1))
	else
		cat "$log"
		echo "not ok - $name"
		fail=$((fail + 1))
		failed_names="$failed_names
  $name"
	fi
}

# Static checks: the manual pages, and every source file's licence line.
run_static() {
	static "mandoc -Tlint doc/*" mandoc -Tlint -Wwarning doc/*.[1-8]
	static "SPDX line in every source file (tools/spdx.sh)" \
	    sh tools/spdx.sh check
}

# One counted check: every libFuzzer harness for 30 s, when clang is here.
run_fuzz() {
	if ! command -v clang >/dev/null 2>&1; then
		echo "ok - fuzz # SKIP clang not installed"
		return
	fi
	if make -s fuzz FUZZ_TIME=30 >"$log" 2>&1; then
		cat "$log"
		echo "ok - fuzz (make fuzz, 30 s per harness)"
		pass=$((pass + 1))
	else
		tail -60 "$log"
		echo "not ok - fuzz (make fuzz)"
		fail=$((fail + 1))
		failed_names="$failed_names
  fuzz"
	fi
}

echo "== build (release)"
if ! make -s -j2 all units >"$log" 2>&1; then
	cat "$log"
	echo "not ok - build (release)"
	echo "0 passed, 1 failed"
	exit 1
fi
run_static
echo "== unit tests (release)"
run_units bin
if [ "$quick" -eq 1 ]; then
	echo "== bats (release)"
	run_bats bin release
else
	# The ASan+UBSan pass (its build, unit tests and suites) runs beside
	# the release pass, on the other core: each suite has its own
	# directories, server ports and MariaDB, so the two never meet, and
	# make check takes about the time of the longer one.  Its output is
	# counted when it is done.
	asan_out=$(mktemp)
	trap 'rm -f "$log" "$asan_out"' EXIT
	(
		if ! make -s -j2 BUILD=asan all units 2>&1; then
			echo "not ok - build (asan)"
			exit 0
		fi
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		echo "== unit tests (asan)"
		for t in build/asan/bin/unit/test_*; do
			[ -x "$t" ] || continue
			if "$t" >"$asan_out.unit" 2>&1; then
				echo "ok - unit $(basename "$t") (build/asan/bin)"
			else
				cat "$asan_out.unit"
				echo "not ok - unit $(basename "$t") (build/asan/bin)"
			fi
		done
		rm -f "$asan_out.unit"
		echo "== bats (asan)"
		OCTO_BIN="$(pwd)/build/asan/bin" bats --tap -T tests/*.bats 2>&1
	) >"$asan_out" 2>&1 3>&- &
	asan_pid=$!
	echo "== bats (release)"
	run_bats bin release
	echo "== fuzz"
	run_fuzz
	wait "$asan_pid"
	echo "== build, unit tests and bats (asan+ubsan)"
	count_tap asan <"$asan_out"
fi
if [ -n "$failed_names" ]; then
	echo "failed:$failed_names"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
