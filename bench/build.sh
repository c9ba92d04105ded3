#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/build.sh HELPER...: build the benchmarks' helper programs into
# bench/.build/HELPER when their source is newer, with the Makefile's
# warning flags:
#   raw     bench/raw.c     the raw limits (disk, loopback, TLS)
#   e2e     bench/e2e.c     make bench-e2e's clients, raw TLS server, units
#   db-raw  bench/db-raw.c  the raw database client (lib/db, so it needs
#                           build/release/libocto.a: make)
# raw and e2e share bench/util.h.
set -eu
cd "$(dirname "$0")/.."
OUT=bench/.build
mkdir -p "$OUT"
CC=${CC:-cc}
WARN="-std=gnu11 -O2 -Wall -Wextra -Wformat=2 -Wshadow -Werror -pthread -D_GNU_SOURCE"
for h in "$@"; do
	src=bench/$h.c
	[ -f "$src" ] || { echo "build.sh: no $src" >&2; exit 64; }
	if [ -x "$OUT/$h" ] &&
	    [ -z "$(find "$src" bench/util.h -newer "$OUT/$h")" ] &&
	    { [ "$h" != db-raw ] ||
	    [ -z "$(find build/release/libocto.a -newer "$OUT/$h")" ]; }; then
		continue
	fi
	case $h in
	db-raw)
		# shellcheck disable=SC2046
		$CC $WARN -Ilib -DLIBBSD_OPENBSD_VIS \
		    $(pkg-config --cflags libbsd-overlay libmariadb) \
		    -o "$OUT/$h" "$src" build/release/libocto.a \
		    $(pkg-config --libs openssl libbsd-overlay zlib libxml-2.0 libmariadb) \
		    -lssl -lcrypto ;;
	*)
		# shellcheck disable=SC2046
		$CC $WARN $(pkg-config --cflags openssl 2>/dev/null) \
		    -o "$OUT/$h" "$src" -lssl -lcrypto ;;
	esac
done
