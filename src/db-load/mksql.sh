#!/bin/sh
# Regenerate octo_sql.c from etc/sql/octo.sql: db-load --init runs the
# embedded copy, and tests/db-load.bats checks that it did not drift
# ("db-load --print-init-sql" must print etc/sql/octo.sql byte for byte).
#   sh src/db-load/mksql.sh > src/db-load/octo_sql.c
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
printf '/* Generated from etc/sql/octo.sql by src/db-load/mksql.sh: do not edit. */\n'
printf '#include "dbload.h"\n\n'
printf 'const char dl_octo_sql[] =\n'
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/^/    "/' -e 's/$/\\n"/' \
    "$top/etc/sql/octo.sql"
printf '    ;\n'
