#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/regex.sh: what string thresholds (str_warning, str_critical) cost
# db-load per file, for the worst agent files we could construct and a
# big benign one, each within db-load's limits (2,000,000 bytes,
# module_cap 1,000 modules, values up to 1 MiB, patterns up to 1,024
# bytes): CPU ms of compiling and matching per file, median and maximum
# over RUNS rounds, by
#   PCRE2    lib/pandora_re.c under a file's budget (regex_budget, 40 ms)
#   old      the hand-written matcher it replaced, built from git
#            (BENCH_OLD_REV, the last commit that had it), one round,
#            stopped after BENCH_OLD_CAP seconds of one file
# and for each, the same file with every pattern replaced by "ERROR".
# Asserts the goal of issue 12: no file costs the PCRE2 engine more
# than 50 ms (exit 1 otherwise).  Method and results: doc/BENCHMARKS.md.
#
#   sh bench/regex.sh            RUNS=5 BENCH_OLD=1 BENCH_OLD_CAP=60
#   BENCH_REGEX_DIR=dir          also write the generated files there
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/bench/.build
RUNS=${RUNS:-5}
OLD_REV=${BENCH_OLD_REV:-92128df0880bb4d3f6e77e741c84664624a00728}
mkdir -p "$OUT/old"

make -s build/release/libocto.a
PKGS="openssl libbsd-overlay zlib libxml-2.0 libmariadb libpcre2-8"
CC=${CC:-cc}
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Wformat=2 -Wshadow -Werror
    -D_GNU_SOURCE -DLIBBSD_OPENBSD_VIS $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lcrypto -lssl -lm -pthread"

# The old matcher: lib/pandora.c of OLD_REV, every symbol it defines
# renamed old_*, so that it links beside today's library.
old=
if [ "${BENCH_OLD:-1}" = 1 ] && git cat-file -e "$OLD_REV:lib/pandora.c" \
    2>/dev/null; then
	git show "$OLD_REV:lib/pandora.c" > "$OUT/old/pandora.c"
	git show "$OLD_REV:lib/pandora.h" > "$OUT/old/pandora.h"
	# shellcheck disable=SC2086
	$CC $CFLAGS -I"$OUT/old" -Ilib -c -o "$OUT/old/pandora.o" \
	    "$OUT/old/pandora.c"
	nm --defined-only -g "$OUT/old/pandora.o" |
	    awk '{ print $3, "old_" $3 }' > "$OUT/old/syms"
	objcopy --redefine-syms="$OUT/old/syms" "$OUT/old/pandora.o" \
	    "$OUT/old/old.o"
	old=$OUT/old/old.o
else
	echo "bench: no old matcher ($OLD_REV not in git): PCRE2 only" >&2
	old=$OUT/old/none.o
	printf '%s\n' 'struct old_re;' \
	    'struct old_re *old_pandora_re_compile(const char *p, unsigned long l, const char **w) { (void)p; (void)l; (void)w; return 0; }' \
	    'int old_pandora_re_match(const struct old_re *r, const char *s, unsigned long l, unsigned long m) { (void)r; (void)s; (void)l; (void)m; return 0; }' \
	    'void old_pandora_re_free(struct old_re *r) { (void)r; }' \
	    > "$OUT/old/none.c"
	$CC -c -o "$old" "$OUT/old/none.c"
fi
# shellcheck disable=SC2086
$CC $CFLAGS -Ilib -o "$OUT/regex" bench/regex.c "$old" \
    build/release/libocto.a $LIBS

echo "## bench/regex.sh"
echo
echo "- $(nproc) CPUs: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo |
    head -1); $(uname -sr); PCRE2 $(pkg-config --modversion libpcre2-8)"
echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $RUNS rounds; CPU ms (CLOCK_THREAD_CPUTIME_ID) of compiling and"
echo "  matching per file, median (max)"
echo
flags="-r $RUNS -c ${BENCH_OLD_CAP:-60}"
[ "$old" = "$OUT/old/old.o" ] && flags="$flags -o"
[ -n "${BENCH_REGEX_DIR:-}" ] && flags="$flags -w $BENCH_REGEX_DIR"
# shellcheck disable=SC2086
"$OUT/regex" $flags
