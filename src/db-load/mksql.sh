#!/bin/sh
# SPDX-License-Identifier: ISC
# Regenerate octo_sql.c from etc/sql/octo.sql and etc/sql/grants.sql.in:
# db-load --init runs the embedded copies, and tests/db-load.bats checks
# that they did not drift ("db-load --print-init-sql" must print
# etc/sql/octo.sql byte for byte).
#   sh src/db-load/mksql.sh > src/db-load/octo_sql.c
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
embed() {
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/^/    "/' \
	    -e 's/$/\\n"/' "$1"
	printf '    ;\n'
}
printf '/* SPDX-License-Identifier: ISC */\n'
printf '/* Generated from etc/sql/octo.sql and etc/sql/grants.sql.in by\n'
printf ' * src/db-load/mksql.sh: do not edit. */\n'
printf '#include "dbload.h"\n\n'
printf 'const char dl_octo_sql[] =\n'
embed "$top/etc/sql/octo.sql"
printf '\nconst char dl_grants_sql[] =\n'
embed "$top/etc/sql/grants.sql.in"
